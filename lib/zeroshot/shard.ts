/**
 * One HNSW shard: an hnswlib index over a block of rows whose labels are their global row ids.
 * Built in-process by `buildIndex`, or in a Worker (`shard_worker.ts`) for parallel shards; the
 * job a worker receives is {@link ShardJob}. Shared by both so neither imports the other.
 *
 * @example
 * ```ts
 * const hnsw = await buildShard(data, 300, 0, { m: 32, efConstruction: 200, seed: 100 });
 * ```
 * @module
 */
import type { HierarchicalNSW } from "hnswlib-node";
import { loadHnswlib } from "../backend/hnswlib.ts";

/** HNSW construction parameters. */
export interface IndexParams {
  /** Graph degree M (default 16). */
  m: number;
  /** Candidate list size while building (default 200). */
  efConstruction: number;
  /** Level-assignment seed (default 100); shard i uses seed + i. */
  seed: number;
}

/** What the main thread sends a shard worker. */
export interface ShardJob extends IndexParams {
  /** The shard's rows (`count * dim`). */
  data: Float32Array;
  /** Dimensions per row. */
  dim: number;
  /** Global id of the shard's first row (labels are global row ids). */
  offset: number;
  /** File to write the shard index to. */
  outPath: string;
}

/**
 * Builds one hnswlib index over `data` rows with labels `offset + i` (used in-process and by the
 * shard worker).
 *
 * @example
 * ```ts
 * const hnsw = await buildShard(data, 300, 0, { m: 16, efConstruction: 200, seed: 100 });
 * ```
 */
export async function buildShard(
  data: Float32Array,
  dim: number,
  offset: number,
  params: IndexParams,
  onProgress?: (done: number) => void,
): Promise<HierarchicalNSW> {
  const hnswlib = await loadHnswlib();
  const count = data.length / dim;
  const hnsw = new hnswlib.HierarchicalNSW("cosine", dim);
  hnsw.initIndex(Math.max(1, count), params.m, params.efConstruction, params.seed);
  const row: number[] = new Array(dim).fill(0);
  for (let i = 0; i < count; i++) {
    const off = i * dim;
    for (let j = 0; j < dim; j++) row[j] = data[off + j];
    hnsw.addPoint(row, offset + i);
    if (onProgress && ((i + 1) % 2000 === 0 || i + 1 === count)) onProgress(i + 1);
  }
  return hnsw;
}
