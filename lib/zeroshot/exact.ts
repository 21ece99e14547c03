/**
 * Exact (brute-force) cosine nearest neighbours over unit-normalised rows: the ground truth for
 * HNSW recall and the search used for small vocabularies. Distances are cosine distances
 * `1 - cos`, the same scale hnswlib's `cosine` space reports.
 *
 * @example
 * ```ts
 * normalizeRows(vectors.data, vectors.dim);
 * const { ids, distances } = exactTopK(vectors, query, 10);
 * ```
 * @module
 */
import { median } from "../io/stats.ts";
import { normalizeRows } from "../text/vectors.ts";

export { normalizeRows };

/** Row-major vectors: `data.length === count * dim`. `WordVectors` fits this shape. */
export interface VectorRows {
  /** Dimensions per row. */
  dim: number;
  /** `count * dim` float32 values, one row after another. */
  data: Float32Array;
}

/** k nearest rows, nearest first. */
export interface Neighbors {
  /** Row ids. */
  ids: number[];
  /** Cosine distances `1 - cos`, ascending. */
  distances: number[];
}

/**
 * Exact top-k by cosine for one query. `vectors` must be unit-normalised; the query need not be.
 * `exclude(id)` drops rows (e.g. the query's own row, or seen labels).
 *
 * @example
 * ```ts
 * const { ids } = exactTopK(vectors, vectors.data.subarray(0, vectors.dim), 10, (id) => id === 0);
 * ```
 */
export function exactTopK(
  vectors: VectorRows,
  query: ArrayLike<number>,
  k: number,
  exclude?: (id: number) => boolean,
): Neighbors {
  const q = Float32Array.from(query as ArrayLike<number>);
  return exactTopKBatch(vectors, q, k, exclude ? (_q, id) => exclude(id) : undefined)[0];
}

/**
 * Exact top-k for many queries (`queries`: `nq * dim`, row-major). Scans the rows once per block
 * of 4 queries so each row is read from memory once per block, not once per query.
 *
 * @example
 * ```ts
 * const truth = exactTopKBatch(vectors, queries, 10); // truth[q].ids
 * ```
 */
export function exactTopKBatch(
  vectors: VectorRows,
  queries: Float32Array,
  k: number,
  exclude?: (query: number, id: number) => boolean,
): Neighbors[] {
  const { dim, data } = vectors;
  if (queries.length % dim !== 0) {
    throw new Error(`queries hold ${queries.length} values, not a multiple of dim ${dim}`);
  }
  const nq = queries.length / dim;
  const count = data.length / dim;
  const kk = Math.min(k, count);
  const q = normalizeRows(queries.slice(), dim);
  const results: Neighbors[] = [];
  const block = 4;
  for (let q0 = 0; q0 < nq; q0 += block) {
    const nb = Math.min(block, nq - q0);
    const tops = Array.from({ length: nb }, () => new _TopK(kk));
    const o0 = q0 * dim, o1 = o0 + dim, o2 = o1 + dim, o3 = o2 + dim;
    for (let id = 0; id < count; id++) {
      const r = id * dim;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      if (nb === 4) {
        for (let j = 0; j < dim; j++) {
          const x = data[r + j];
          s0 += x * q[o0 + j];
          s1 += x * q[o1 + j];
          s2 += x * q[o2 + j];
          s3 += x * q[o3 + j];
        }
      } else {
        for (let j = 0; j < dim; j++) {
          const x = data[r + j];
          s0 += x * q[o0 + j];
          if (nb > 1) s1 += x * q[o1 + j];
          if (nb > 2) s2 += x * q[o2 + j];
        }
      }
      if (s0 > tops[0].worst) _offer(tops[0], q0, id, s0, exclude);
      if (nb > 1 && s1 > tops[1].worst) _offer(tops[1], q0 + 1, id, s1, exclude);
      if (nb > 2 && s2 > tops[2].worst) _offer(tops[2], q0 + 2, id, s2, exclude);
      if (nb > 3 && s3 > tops[3].worst) _offer(tops[3], q0 + 3, id, s3, exclude);
    }
    for (const top of tops) results.push(top.result());
  }
  return results;
}

/**
 * Fraction of the true top-k ids found in the approximate top-k, averaged over queries.
 *
 * @example
 * ```ts
 * recallAtK([{ ids: [1, 2], distances: [0, 0] }], [[2, 3]], 2); // 0.5
 * ```
 */
export function recallAtK(truth: Neighbors[], found: ArrayLike<number>[], k: number): number {
  if (truth.length !== found.length) {
    throw new Error(`recall: ${truth.length} ground-truth lists but ${found.length} results`);
  }
  let hits = 0, total = 0;
  for (let i = 0; i < truth.length; i++) {
    const want = new Set(truth[i].ids.slice(0, k));
    const got = Array.from(found[i]).slice(0, k);
    for (const id of got) if (want.has(id)) hits++;
    total += want.size;
  }
  return total === 0 ? 0 : hits / total;
}

function _offer(
  top: _TopK,
  query: number,
  id: number,
  sim: number,
  exclude?: (query: number, id: number) => boolean,
): void {
  if (!exclude || !exclude(query, id)) top.push(id, sim);
}

// A fixed-size list kept sorted by similarity, best first; `worst` is the admission threshold.
class _TopK {
  ids: number[] = [];
  sims: number[] = [];
  worst = -Infinity;
  constructor(readonly k: number) {}

  push(id: number, sim: number): void {
    if (this.k === 0) return;
    let i = this.ids.length;
    if (i === this.k) i--;
    while (i > 0 && this.sims[i - 1] < sim) {
      if (i < this.k) {
        this.ids[i] = this.ids[i - 1];
        this.sims[i] = this.sims[i - 1];
      }
      i--;
    }
    this.ids[i] = id;
    this.sims[i] = sim;
    if (this.ids.length === this.k) this.worst = this.sims[this.k - 1];
  }

  result(): Neighbors {
    return { ids: this.ids, distances: this.sims.map((s) => 1 - s) };
  }
}

/** What {@link measureSearch} measured. */
export interface SearchMeasurement {
  /** recall@k of the last pass against `truth`. */
  recall: number;
  /** Median over the passes of single-threaded queries per second. */
  queriesPerSecond: number;
  /** Queries per second of each pass. */
  passes: number[];
}

/**
 * The one loop that measures an approximate search: runs every query `passes` times (one thread,
 * timing each pass), and reports the recall@k of the result against exact ground truth and the
 * median queries/s.
 *
 * @example
 * ```ts
 * const truth = exactTopKBatch(rows, queries, 10);
 * const m = measureSearch((q) => searchIndex(index, q, 10, 100).ids, queries, dim, truth);
 * m.recall; // 0.97
 * ```
 */
export function measureSearch(
  search: (query: Float32Array) => ArrayLike<number>,
  queries: Float32Array,
  dim: number,
  truth: Neighbors[],
  options: { k?: number; passes?: number } = {},
): SearchMeasurement {
  const k = options.k ?? 10, n = queries.length / dim;
  if (n !== truth.length) throw new Error(`measureSearch: ${n} queries, ${truth.length} truths`);
  const passes: number[] = [];
  let found: ArrayLike<number>[] = [];
  for (let pass = 0; pass < Math.max(1, options.passes ?? 3); pass++) {
    found = [];
    const t0 = performance.now();
    for (let q = 0; q < n; q++) found.push(search(queries.subarray(q * dim, (q + 1) * dim)));
    passes.push(n / Math.max(1e-9, (performance.now() - t0) / 1000));
  }
  return { recall: recallAtK(truth, found, k), queriesPerSecond: median(passes), passes };
}
