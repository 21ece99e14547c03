/**
 * `deno task word2vec`, top to bottom: our skip-gram vectors trained (or reused) on the offline
 * corpus, or any vectors given by `--vectors` (a file, a pretrained name, a URL, `A+B`);
 * optionally retrofitted to WordNet; then evaluated on word-similarity sets, CIFAR label coverage
 * and nearest neighbours.
 *
 * ```sh
 * deno task word2vec --threads 2 --json
 * deno task word2vec --vectors glove-6b-50d --retrofit wordnet --data-dir ../shared/data
 * ```
 * @module
 */
import { join } from "node:path";
import { type Run, startRun } from "../cli/run.ts";
import { readLabelNames } from "../data/cifar.ts";
import { CIFAR100_FINE_NAMES, CIFAR10_NAMES } from "../text/cifar_names.ts";
import { loadWordNet, type WordNet } from "../text/corpus.ts";
import { type LabelMapping, labelVectors } from "../text/labels.ts";
import {
  evaluateSimilarityFiles,
  findSimilarityFiles,
  nearest,
  type SimilarityResult,
} from "../text/similarity.ts";
import {
  retrofitFile,
  type SkipgramInputs,
  type SkipgramResult,
  type SkipgramSettings,
  trainOrReuseSkipgram,
} from "../text/trained_vectors.ts";
import type { WordVectors } from "../text/vectors.ts";
import { convertVectors, readVectors } from "../text/word2vec_io.ts";
import { resolveVectors } from "./vectors.ts";

/** What `deno task word2vec` is asked to do. */
export interface Word2vecRequest extends SkipgramInputs {
  settings: SkipgramSettings;
  /** Evaluate these vectors (a path or anything `--vectors` takes) instead of training. */
  vectors?: string;
  /** Word-similarity files (default: every file in `<dataDir>/word-sim`). */
  eval: string[];
  dataDir: string;
  /** Also write the vectors to this path (`.bin` or text). */
  convert?: string;
}

/** Label coverage of one dataset's class names. */
export interface LabelCoverage {
  labels: number;
  byRule: Record<string, number>;
  meanOfParts: string[];
  missing: string[];
}

/** `metrics.json` of a word2vec run. */
export interface Word2vecMetrics {
  vectors: string;
  reused?: boolean;
  training?: SkipgramResult["training"];
  vocabSize: number;
  dim: number;
  similarityBeforeRetrofit?: Record<string, SimilarityResult>;
  retrofitUpdatedWords?: number;
  similarity: Record<string, SimilarityResult>;
  labelCoverage: Record<"cifar100" | "cifar10", LabelCoverage>;
  nearest: Record<string, string[]>;
  converted?: { from: string; to: string; format: "bin" | "txt"; rows: number; dim: number };
}

const NEIGHBOUR_WORDS = ["cat", "truck", "ship", "airplane", "frog"];

/**
 * Trains (or reuses, or reads) vectors and evaluates them; the word2vec task's whole flow.
 *
 * @example
 * ```ts
 * const metrics = await runWord2vec({ settings: SKIPGRAM_SETTINGS, ...inputs, eval: [],
 *   dataDir: "../shared/data" }, run);
 * ```
 */
export async function runWord2vec(request: Word2vecRequest, run: Run): Promise<Word2vecMetrics> {
  const wordnet = _lazyWordNet();
  let path: string, vectors: WordVectors, before: WordVectors | undefined;
  let extra: Partial<Word2vecMetrics> = {};
  if (request.vectors) {
    path = (await resolveVectors({
      source: request.vectors,
      dim: request.settings.dim,
      epochs: request.settings.epochs,
      retrofit: "none",
      vectorsDir: request.vectorsDir,
    }, run)).path;
    vectors = await readVectors(path);
    run.log(`loaded ${path}: ${vectors.words.length} words × ${vectors.dim}`);
    if (request.retrofit === "wordnet") {
      before = vectors;
      const fitted = await retrofitFile(path, vectors, await wordnet(), run);
      ({ path, vectors } = fitted);
      extra = { retrofitUpdatedWords: fitted.updated };
    }
  } else {
    const result = await trainOrReuseSkipgram(request.settings, request, run, wordnet);
    ({ path, vectors } = result);
    if (request.retrofit === "wordnet") before = result.trained;
    extra = {
      reused: result.reused,
      training: result.training,
      retrofitUpdatedWords: result.retrofitUpdatedWords,
    };
  }
  const evalFiles = request.eval.length ? request.eval : await findSimilarityFiles([
    join(request.dataDir, "word-sim"),
    join("..", "shared", "data", "word-sim"),
  ]);
  const similarity = await evaluateSimilarityFiles(vectors, evalFiles);
  if (before) {
    extra.similarityBeforeRetrofit = await evaluateSimilarityFiles(before, evalFiles);
    run.log(`similarity before retrofit: ${_rhoLine(extra.similarityBeforeRetrofit)}`);
  }
  if (evalFiles.length) run.log(`similarity: ${_rhoLine(similarity)}`);
  else run.log("no word-similarity files found (pass --eval or --data-dir)");
  const labelCoverage = await cifarLabelCoverage(vectors, request.dataDir, run);
  const neighbours: Record<string, string[]> = {};
  for (const w of NEIGHBOUR_WORDS) {
    neighbours[w] = nearest(vectors, w, 5).map((n) => n.word);
    run.log(`nearest ${w}: ${neighbours[w].join(" ")}`);
  }
  let converted: Word2vecMetrics["converted"];
  if (request.convert) {
    const format = request.convert.endsWith(".bin") ? "bin" : "txt";
    const shape = await convertVectors(path, request.convert, format);
    converted = { from: path, to: request.convert, format, ...shape };
    run.log(`converted ${path} → ${request.convert} (${format})`);
  }
  return {
    vectors: path,
    ...extra,
    vocabSize: vectors.words.length,
    dim: vectors.dim,
    similarity,
    labelCoverage,
    nearest: neighbours,
    ...(converted ? { converted } : {}),
  };
}

/**
 * How the 100 CIFAR-100 and 10 CIFAR-10 class names find their vectors (exact, phrase, case,
 * mean of parts, missing), logged one line per dataset.
 *
 * @example
 * ```ts
 * const coverage = await cifarLabelCoverage(vectors, "../shared/data", run);
 * coverage.cifar100.missing; // []
 * ```
 */
export async function cifarLabelCoverage(
  vectors: WordVectors,
  dataDir: string,
  run: Run,
): Promise<Record<"cifar100" | "cifar10", LabelCoverage>> {
  const names = await _labelNames(dataDir);
  const coverage = {} as Record<"cifar100" | "cifar10", LabelCoverage>;
  for (const dataset of ["cifar100", "cifar10"] as const) {
    const labels = names[dataset];
    const lv = labelVectors(vectors, labels);
    const byRule: Record<string, number> = {};
    for (const r of lv.rules) byRule[r.rule] = (byRule[r.rule] ?? 0) + 1;
    const meanOfParts = lv.rules.filter((r: LabelMapping) => r.rule === "mean-of-parts").map((r) =>
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
  return coverage;
}

async function _labelNames(dataDir: string): Promise<{ cifar100: string[]; cifar10: string[] }> {
  // The label-name files when the data is there, else the official lists.
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

function _lazyWordNet(): () => Promise<WordNet> {
  let loading: Promise<WordNet> | undefined;
  return () => loading ??= loadWordNet();
}

/** `deno task word2vec`'s request plus where its run goes. */
export interface Word2vecCommand extends Word2vecRequest {
  out: string;
  json: boolean;
  quiet: boolean;
}

/**
 * The whole of `deno task word2vec`: opens the run folder, runs {@link runWord2vec} and writes
 * `metrics.json`.
 *
 * @example
 * ```ts
 * await word2vec({ ...request, out: "", json: true, quiet: false });
 * ```
 */
export async function word2vec(command: Word2vecCommand): Promise<Word2vecMetrics> {
  const { out, json, quiet, ...request } = command;
  const run = await startRun("word2vec", out, { ...request }, { quiet });
  const metrics = await runWord2vec(request, run);
  await run.finish({ ...metrics }, json);
  return metrics;
}
