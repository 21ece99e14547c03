/**
 * Benchmark: our skip-gram vs gensim Word2Vec (sg=1) vs fastText skipgram (subwords off) on the
 * same tokenised corpus file (the default corpus dumped to `data/bench/corpus.txt`), the same
 * hyperparameters and thread count. Runs are interleaved (ours, gensim, fastText, repeat) with
 * seed `seed + run`; reports medians of words/s (corpus tokens × epochs / training seconds) and
 * Spearman ρ on every word-similarity file, plus our/gensim ratios. Writes
 * `data/bench/skipgram.json`.
 *
 * ```sh
 * apt-get install -y python3-gensim fasttext   # peers (Debian)
 * deno run -A bench/skipgram.ts --runs 3 --threads 2 --data-dir ../shared/data
 * ```
 * @module
 */
import { join } from "node:path";
import { type FlagSpec, parseFlags } from "../lib/cli/args.ts";
import { runTask } from "../lib/cli/run.ts";
import { resolveDataDir } from "../lib/data/cifar.ts";
import { sha256File, writeJsonAtomic } from "../lib/io/artifact.ts";
import { loadCorpus, writeCorpusText } from "../lib/text/corpus.ts";
import {
  evaluateSimilarityFiles,
  findSimilarityFiles,
  type SimilarityResult,
} from "../lib/text/similarity.ts";
import { trainSkipGram } from "../lib/text/skipgram.ts";
import type { WordVectors } from "../lib/text/vectors.ts";
import { readVectors } from "../lib/text/word2vec_io.ts";
import { median as medianOf } from "../lib/io/stats.ts";

const spec = {
  runs: { type: "number", default: 3, help: "interleaved runs per trainer (medians reported)" },
  dim: { type: "number", default: 100, help: "vector length" },
  window: { type: "number", default: 5, help: "max context distance" },
  negative: { type: "number", default: 5, help: "negative samples" },
  minCount: { type: "number", default: 5, help: "min word count" },
  sample: { type: "number", default: 1e-3, help: "subsampling threshold" },
  epochs: { type: "number", default: 5, help: "passes over the corpus" },
  alpha: { type: "number", default: 0.025, help: "starting learning rate" },
  threads: { type: "number", default: 2, help: "threads for every trainer" },
  seed: { type: "number", default: 1, help: "seed of run 0 (run i uses seed + i)" },
  peers: { type: "list", default: ["gensim", "fasttext"], help: "peers to run" },
  python: { type: "string", default: "/usr/bin/python3", help: "python with gensim" },
  dataDir: { type: "string", default: "", help: "folder with word-sim/" },
  quick: { type: "boolean", default: false, help: "only the first 1M corpus tokens (suite)" },
  out: { type: "string", default: "data/bench/skipgram.json", help: "result JSON" },
} as const satisfies FlagSpec;

type Trainer = "ours" | "gensim" | "fasttext";
interface RunResult {
  trainer: Trainer;
  run: number;
  seed: number;
  vocabSize: number;
  trainSeconds: number;
  wordsPerSecond: number;
  rho: Record<string, number>;
  coverage: Record<string, number>;
}

async function _command(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed:\n${new TextDecoder().decode(out.stderr).slice(-2000)}`,
    );
  }
  return text.trim().split("\n").at(-1)!;
}

function _summarise(sim: Record<string, SimilarityResult>) {
  const rho: Record<string, number> = {}, coverage: Record<string, number> = {};
  for (const [k, r] of Object.entries(sim)) (rho[k] = r.rho, coverage[k] = r.coverage);
  return { rho, coverage };
}

async function main(): Promise<void> {
  const f = parseFlags(spec, Deno.args, {
    task: "bench/skipgram",
    summary: "Our skip-gram vs gensim and fastText: words/s and word-similarity rho.",
    examples: ["deno run -A bench/skipgram.ts --runs 3 --threads 2 --data-dir ../shared/data"],
  });
  const corpusPath = join("data", "bench", f.quick ? "corpus-quick.txt" : "corpus.txt");
  const def = await loadCorpus({ defaultCorpus: true, files: [] });
  if (f.quick) {
    // --quick (deno task bench --quick): a 1M-token prefix of the corpus.
    let tokens = 0, keep = 0;
    while (keep < def.sentences.length && tokens < 1_000_000) {
      tokens += def.sentences[keep++].length;
    }
    def.sentences = def.sentences.slice(0, keep);
  }
  await writeCorpusText(corpusPath, def.sentences);
  // Ours reads the dump back exactly like the peers do (whitespace tokens, one sentence a line).
  const sentences = (await Deno.readTextFile(corpusPath)).split("\n")
    .map((line) => line.split(/\s+/).filter((t) => t !== "")).filter((s) => s.length > 0);
  const corpus = {
    sentences,
    tokens: sentences.reduce((n, s) => n + s.length, 0),
    sha256: await sha256File(corpusPath),
  };
  console.error(`corpus ${corpusPath}: ${corpus.tokens} tokens, ${corpus.sentences.length} lines`);
  const simFiles = await findSimilarityFiles([
    join(resolveDataDir(f.dataDir), "word-sim"),
    join("..", "shared", "data", "word-sim"),
  ]);
  const tmp = await Deno.makeTempDir({ prefix: "skipgram-bench-" });
  const evaluate = async (v: WordVectors) => _summarise(await evaluateSimilarityFiles(v, simFiles));
  const results: RunResult[] = [];
  const unavailable: Record<string, string> = {};
  const words = corpus.tokens * f.epochs;
  try {
    for (let run = 0; run < f.runs; run++) {
      const seed = f.seed + run;
      const ours = await trainSkipGram(corpus.sentences, {
        dim: f.dim,
        window: f.window,
        negative: f.negative,
        minCount: f.minCount,
        sample: f.sample,
        epochs: f.epochs,
        alpha: f.alpha,
        threads: f.threads,
        seed,
        quiet: true,
      });
      results.push({
        trainer: "ours",
        run,
        seed,
        vocabSize: ours.stats.vocabSize,
        trainSeconds: ours.stats.trainSeconds,
        wordsPerSecond: words / ours.stats.trainSeconds,
        ...(await evaluate(ours.vectors)),
      });
      for (const peer of f.peers as Trainer[]) {
        if (unavailable[peer]) continue;
        const vecPath = join(tmp, `${peer}-${run}`);
        let line: string;
        try {
          line = peer === "gensim"
            ? await _command(f.python, [
              "bench/peers/gensim_train.py",
              "--corpus",
              corpusPath,
              "--out",
              `${vecPath}.vec`,
              "--dim",
              `${f.dim}`,
              "--window",
              `${f.window}`,
              "--negative",
              `${f.negative}`,
              "--min-count",
              `${f.minCount}`,
              "--sample",
              `${f.sample}`,
              "--epochs",
              `${f.epochs}`,
              "--alpha",
              `${f.alpha}`,
              "--threads",
              `${f.threads}`,
              "--seed",
              `${seed}`,
            ])
            : await _command("bash", [
              "bench/peers/fasttext_train.sh",
              corpusPath,
              vecPath,
              `${f.dim}`,
              `${f.window}`,
              `${f.negative}`,
              `${f.minCount}`,
              `${f.sample}`,
              `${f.epochs}`,
              `${f.alpha}`,
              `${f.threads}`,
            ]);
        } catch (err) {
          unavailable[peer] = (err as Error).message.slice(0, 500);
          console.error(`${peer} unavailable: ${unavailable[peer]}`);
          continue;
        }
        const r = JSON.parse(line);
        results.push({
          trainer: peer,
          run,
          seed,
          vocabSize: r.vocabSize,
          trainSeconds: r.trainSeconds,
          wordsPerSecond: words / r.trainSeconds,
          ...(await evaluate(await readVectors(`${vecPath}.vec`))),
        });
      }
      for (const r of results.filter((x) => x.run === run)) {
        console.error(
          `run ${run} ${r.trainer}: ${Math.round(r.wordsPerSecond)} words/s, ` +
            `${r.trainSeconds.toFixed(1)} s, ρ ` +
            Object.entries(r.rho).map(([k, v]) => `${k}=${v.toFixed(3)}`).join(" "),
        );
      }
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
  const median: Record<
    string,
    { wordsPerSecond: number; trainSeconds: number; rho: Record<string, number> }
  > = {};
  for (const t of ["ours", "gensim", "fasttext"] as Trainer[]) {
    const rs = results.filter((r) => r.trainer === t);
    if (!rs.length) continue;
    const rho: Record<string, number> = {};
    for (const k of Object.keys(rs[0].rho)) rho[k] = medianOf(rs.map((r) => r.rho[k]));
    median[t] = {
      wordsPerSecond: medianOf(rs.map((r) => r.wordsPerSecond)),
      trainSeconds: medianOf(rs.map((r) => r.trainSeconds)),
      rho,
    };
  }
  const vsGensim = median.gensim
    ? {
      speedRatio: median.ours.wordsPerSecond / median.gensim.wordsPerSecond,
      rhoDiff: Object.fromEntries(
        Object.keys(median.ours.rho).map((k) => [k, median.ours.rho[k] - median.gensim.rho[k]]),
      ),
    }
    : null;
  const report = {
    bench: "skipgram",
    date: new Date().toISOString(),
    machine: { cores: navigator.hardwareConcurrency, deno: Deno.version.deno },
    corpus: { path: corpusPath, tokens: corpus.tokens, sha256: corpus.sha256 },
    hyperparameters: {
      dim: f.dim,
      window: f.window,
      negative: f.negative,
      minCount: f.minCount,
      sample: f.sample,
      epochs: f.epochs,
      alpha: f.alpha,
      threads: f.threads,
      seedBase: f.seed,
    },
    wordsPerSecondDefinition: "corpus tokens × epochs / training seconds (gensim: model.train " +
      "only; ours: training loop only; fastText: whole process incl. vocab and saving)",
    runs: results,
    median,
    vsGensim,
    targets: vsGensim
      ? {
        speedAtLeast0_8xGensim: vsGensim.speedRatio >= 0.8,
        ws353RhoWithin0_02: Math.abs(vsGensim.rhoDiff["EN-WS-353-ALL"] ?? NaN) <= 0.02,
      }
      : null,
    unavailable,
  };
  await writeJsonAtomic(f.out, report);
  console.error(`wrote ${f.out}`);
  console.log(JSON.stringify({ median, vsGensim, targets: report.targets }));
}

if (import.meta.main) runTask(main);
