/**
 * Seeded synthetic vector sets and recall queries for the index benchmark and tests.
 *
 * - `uniform`: gaussian rows normalised onto the unit sphere. In high dimension every pair is
 *   nearly orthogonal and neighbours are barely nearer than non-neighbours: the hard case for HNSW.
 * - `clusters`: a gaussian mixture (random unit centres, per-point noise), normalised. It has the
 *   local structure of word vectors and is the easier, more realistic case.
 *
 * @example
 * ```ts
 * const set = syntheticVectors(10_000, 64, { seed: 1, clusters: 100 });
 * const queries = perturbedQueries(set, 1000, { seed: 2, noise: 0.5 });
 * ```
 * @module
 */
import { Rng } from "../io/rng.ts";
import { normalizeRows, type VectorRows } from "./exact.ts";

/** Options for {@link syntheticVectors}. */
export interface SyntheticOptions {
  /** Generator seed. */
  seed: number;
  /** Mixture components; 0 (default) means uniform on the sphere. */
  clusters?: number;
  /** Norm of the per-point noise around a centre (default 0.8, relative to unit centres). */
  spread?: number;
}

/**
 * `count` unit vectors of `dim` dimensions, deterministic for a seed.
 *
 * @example
 * ```ts
 * syntheticVectors(500, 16, { seed: 7 }).data.length; // 8000
 * ```
 */
export function syntheticVectors(
  count: number,
  dim: number,
  options: SyntheticOptions,
): VectorRows {
  const rng = new Rng(options.seed);
  const data = new Float32Array(count * dim);
  const clusters = options.clusters ?? 0;
  if (clusters > 0) {
    const centres = new Float32Array(clusters * dim);
    for (let i = 0; i < centres.length; i++) centres[i] = rng.normal();
    normalizeRows(centres, dim);
    const sigma = (options.spread ?? 0.8) / Math.sqrt(dim);
    for (let i = 0; i < count; i++) {
      const c = rng.int(clusters) * dim;
      for (let j = 0; j < dim; j++) data[i * dim + j] = centres[c + j] + sigma * rng.normal();
    }
  } else {
    for (let i = 0; i < data.length; i++) data[i] = rng.normal();
  }
  return { dim, data: normalizeRows(data, dim) };
}

/**
 * Recall queries: random rows (seeded) plus gaussian noise of total norm about `noise`,
 * renormalised. They sit near the data, like embedded images near label vectors, but are not
 * rows themselves, so no self-match has to be excluded. Returns `count * dim` values and the
 * source rows.
 *
 * @example
 * ```ts
 * const { queries, rows } = perturbedQueries(vectors, 1000, { seed: 1, noise: 0.5 });
 * ```
 */
export function perturbedQueries(
  vectors: VectorRows,
  count: number,
  options: { seed: number; noise?: number },
): { queries: Float32Array; rows: Int32Array } {
  const { dim, data } = vectors;
  const n = data.length / dim;
  const rng = new Rng(options.seed);
  const sigma = (options.noise ?? 0.5) / Math.sqrt(dim);
  const queries = new Float32Array(count * dim);
  const rows = new Int32Array(count);
  for (let q = 0; q < count; q++) {
    const r = rng.int(n);
    rows[q] = r;
    for (let j = 0; j < dim; j++) queries[q * dim + j] = data[r * dim + j] + sigma * rng.normal();
  }
  return { queries: normalizeRows(queries, dim), rows };
}
