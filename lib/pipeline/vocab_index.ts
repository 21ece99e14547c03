/**
 * `deno task index`: builds (or reuses) the HNSW index over a whole vector file and reports its
 * figures: recall@10 against exact search, single-threaded queries/s, build seconds, index bytes.
 *
 * Recall queries are random rows (seeded) plus gaussian noise of norm `queryNoise`, renormalised:
 * points near the data, like embedded images near label vectors, that are not rows themselves
 * (so no self-match to exclude). Ground truth is the project's exact search.
 *
 * ```sh
 * deno task index --vectors glove-6b-50d
 * deno task index --synthetic 100000,300 --json
 * ```
 * @module
 */
import { Progress } from "../cli/progress.ts";
import { type Run, startRun } from "../cli/run.ts";
import { UsageError } from "../io/errors.ts";
import { readVectors, vectorsChecksum } from "../text/word2vec_io.ts";
import {
  exactTopKBatch,
  measureSearch,
  normalizeRows,
  type VectorRows,
} from "../zeroshot/exact.ts";
import { indexPathFor, openOrBuildIndex, searchIndex } from "../zeroshot/index.ts";
import { perturbedQueries, syntheticVectors } from "../zeroshot/synthetic.ts";
import { resolveVectors } from "./vectors.ts";

/** What `deno task index` is asked to do. */
export interface IndexRequest {
  /** Vectors (anything `--vectors` takes), or empty with `synthetic`. */
  vectors: string;
  /** `N,D`: seeded random unit vectors instead. */
  synthetic: string;
  clusters: number;
  limit: number;
  m: number;
  efConstruction: number;
  ef: number;
  /** Insert threads of the build (0 = auto: every core from 50,000 vectors up). */
  threads: number;
  queries: number;
  queryNoise: number;
  /** Where the index files go (`data/index/` by default; never beside a user's vectors). */
  indexDir: string;
  seed: number;
  out: string;
  json: boolean;
  quiet: boolean;
}

/** `metrics.json` of an index run. */
export interface IndexMetrics {
  indexPath: string;
  count: number;
  dim: number;
  m: number;
  efConstruction: number;
  ef: number;
  /** Insert threads of the build (0 when reused). */
  threads: number;
  reused: boolean;
  buildSeconds: number | null;
  indexBytes: number;
  queries: number;
  recallAt10: number;
  queriesPerSecond: number;
  exactQueriesPerSecond: number;
}

/**
 * Parses `--synthetic N,D`.
 *
 * @example
 * ```ts
 * parseSynthetic("1000,8"); // { n: 1000, d: 8 }
 * ```
 */
export function parseSynthetic(value: string): { n: number; d: number } {
  const [n, d, extra] = value.split(",").map(Number);
  if (!(Number.isInteger(n) && n > 0 && Number.isInteger(d) && d > 0) || extra !== undefined) {
    throw new UsageError(`--synthetic expects N,D (positive integers), got '${value}'`);
  }
  return { n, d };
}

/**
 * The whole of `deno task index` (see the module doc).
 *
 * @example
 * ```ts
 * await buildVocabIndex({ vectors: "", synthetic: "2000,16", clusters: 0, limit: 0, m: 16,
 *   efConstruction: 100, ef: 50, threads: 1, queries: 100, queryNoise: 0.5, indexDir: "data/index",
 *   seed: 1, out: "", json: true, quiet: true });
 * ```
 */
export async function buildVocabIndex(request: IndexRequest): Promise<IndexMetrics> {
  if (!request.vectors === !request.synthetic) {
    throw new UsageError("give exactly one of --vectors PATH or --synthetic N,D");
  }
  if (request.synthetic) parseSynthetic(request.synthetic);
  const { out, json, quiet, ...settings } = request;
  const run = await startRun("index", out, { ...settings }, { quiet });
  const { vectors, path, source } = await _loadVectors(request, run);
  const count = vectors.data.length / vectors.dim;
  const bar = new Progress("build index", count, { unit: "vec", run });
  const opened = await openOrBuildIndex(vectors, {
    path,
    source,
    m: request.m,
    efConstruction: request.efConstruction,
    seed: 100,
    threads: request.threads || undefined,
    log: run.log,
    onProgress: (done) => bar.tick(done - bar.count),
  });
  bar.done();
  const { index } = opened;

  const nq = Math.min(request.queries, count);
  const { queries } = perturbedQueries(vectors, nq, {
    seed: request.seed,
    noise: request.queryNoise,
  });
  const dim = vectors.dim;
  const exactBar = new Progress("exact truth", nq, { unit: "q", run });
  const truthStartMs = performance.now();
  const truth = [];
  for (let q0 = 0; q0 < nq; q0 += 20) {
    const q1 = Math.min(nq, q0 + 20);
    truth.push(...exactTopKBatch(vectors, queries.subarray(q0 * dim, q1 * dim), 10));
    exactBar.tick(q1 - q0);
  }
  exactBar.done();
  const exactQps = nq / ((performance.now() - truthStartMs) / 1000);
  const measured = measureSearch(
    (q) => searchIndex(index, q, 10, request.ef).ids,
    queries,
    dim,
    truth,
  );
  const metrics: IndexMetrics = {
    indexPath: path,
    count,
    dim,
    m: index.m,
    efConstruction: index.efConstruction,
    ef: request.ef,
    threads: index.threads,
    reused: opened.reused,
    buildSeconds: opened.reused ? null : index.buildSeconds,
    indexBytes: opened.bytes,
    queries: nq,
    recallAt10: measured.recall,
    queriesPerSecond: measured.queriesPerSecond,
    exactQueriesPerSecond: exactQps,
  };
  run.log(
    `recall@10 ${metrics.recallAt10.toFixed(4)} at ef ${request.ef}; ` +
      `${metrics.queriesPerSecond.toFixed(0)} q/s (exact ${exactQps.toFixed(1)} q/s); ` +
      `${opened.reused ? "reused" : `built in ${index.buildSeconds.toFixed(1)} s`}; ` +
      `${(opened.bytes / 2 ** 20).toFixed(1)} MiB`,
  );
  await run.finish({ ...metrics }, json);
  return metrics;
}

async function _loadVectors(
  request: IndexRequest,
  run: Run,
): Promise<{ vectors: VectorRows; path: string; source: string }> {
  const params = { m: request.m, efConstruction: request.efConstruction };
  if (request.synthetic) {
    const { n, d } = parseSynthetic(request.synthetic);
    const name = `synthetic-n${n}-d${d}-s${request.seed}-c${request.clusters}`;
    const vectors = syntheticVectors(n, d, { seed: request.seed, clusters: request.clusters });
    return {
      vectors,
      path: indexPathFor(name, params, request.indexDir),
      source: `synthetic:${n},${d},seed=${request.seed},clusters=${request.clusters}`,
    };
  }
  const file = (await resolveVectors({ source: request.vectors, dim: 100, epochs: 20 }, run)).path;
  const startMs = performance.now();
  const vectors = await readVectors(file, request.limit ? { limit: request.limit } : {});
  normalizeRows(vectors.data, vectors.dim);
  run.log(
    `read ${vectors.words.length} x ${vectors.dim} vectors from ${file} in ` +
      `${((performance.now() - startMs) / 1000).toFixed(1)} s`,
  );
  const limited = request.limit > 0 && vectors.words.length === request.limit;
  return {
    vectors,
    path: indexPathFor(
      file,
      { ...params, limit: limited ? request.limit : undefined },
      request.indexDir,
    ),
    source: `sha256:${await vectorsChecksum(file)}`,
  };
}
