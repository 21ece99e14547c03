/**
 * The HNSW index over the whole vocabulary (hnswlib-node, cosine space), persisted under
 * `data/index/` as `<vectors name>.hnsw-m<M>-ef<efC>.bin` plus a JSON sidecar (format `devise-hnsw`:
 * vectors checksum, M, efConstruction, seed, count, dim, the file's bytes and sha256).
 *
 * Rows go in through the addon's threaded `addPoints` (lib/backend/hnswlib.ts, hnswlib's own
 * parallel insert, as Python's `add_items`): one graph, built on every core. It replaced
 * independent shards in Workers, which built no faster and, searched at equal recall, answered
 * fewer queries per second (bench/hnsw.ts at 1M × 300). Queries pass their Float32Array straight
 * to the addon (`searchKnnF32`), without an Array copy.
 *
 * @example
 * ```ts
 * const path = indexPathFor("data/vectors.bin", { m: 16, efConstruction: 200 });
 * const { index } = await openOrBuildIndex(vectors, {
 *   path, source: `sha256:${await vectorsChecksum("data/vectors.bin")}`, log: console.error,
 * });
 * const { ids, distances } = searchIndex(index, query, 10, 100);
 * ```
 * @module
 */
import { basename, join } from "node:path";
import type { HierarchicalNSW } from "hnswlib-node";
import { addPointsParallel, loadHnswlib, searchKnnF32 } from "../backend/hnswlib.ts";
import {
  ArtifactError,
  parseSidecar,
  sha256File,
  sidecarPath,
  writeJsonAtomic,
  writeViaTemp,
} from "../io/artifact.ts";
import { statOrNull } from "../io/fs.ts";
import type { Neighbors, VectorRows } from "./exact.ts";

/** Sidecar format tag and version. */
export const INDEX_FORMAT = "devise-hnsw";
/** Bumped when the sidecar or file layout changes (2: one file, threaded build; 1 had shards). */
export const INDEX_VERSION = 2;

/** HNSW construction parameters. */
export interface IndexParams {
  /** Graph degree M (default 32). */
  m: number;
  /** Candidate list size while building (default 200). */
  efConstruction: number;
  /** Level-assignment seed (default 100). */
  seed: number;
}

/** A loaded or freshly built index. */
export interface HnswIndex extends IndexParams {
  /** Dimensions per vector. */
  dim: number;
  /** Number of indexed vectors (row ids 0..count-1 are the labels). */
  count: number;
  hnsw: HierarchicalNSW;
  /** Seconds spent building (0 when loaded from disk). */
  buildSeconds: number;
  /** Insert threads of the build (0 when loaded from disk). */
  threads: number;
  /** Bytes of the build's memory advised for huge pages (0 when loaded, or not Linux). */
  hugePageBytes: number;
}

/** Options for {@link buildIndex}. */
export interface BuildOptions extends Partial<IndexParams> {
  /**
   * Insert threads (default: every core from 50,000 rows up, else 1, so that small indexes are
   * the same on every run; a threaded build's graph depends on thread timing).
   */
  threads?: number;
  /** Called with (rows done, total rows) while building. */
  onProgress?: (done: number, total: number) => void;
  /** Transparent huge pages for the index's memory (default true; see `addPointsParallel`). */
  hugePages?: boolean;
}

const _DEFAULTS: IndexParams = { m: 32, efConstruction: 200, seed: 100 };

/**
 * The vocabulary index that `zeroshot --vocab full` and `predict` search with image embeddings.
 * GloVe's 400,000 × 50 with 1,000 DeViSE image queries (README, third session): M 48, efC 150
 * built in 102 s on 2 threads and reached recall@10 0.953 at ef 200 (1,528 queries/s), where
 * M 32, efC 200 took 153 s for 0.955 (1,503 queries/s).
 */
export const VOCAB_INDEX_PARAMS = { m: 48, efConstruction: 150 } as const;
const _THREADED_FROM_ROWS = 50_000;

/** Where indexes go unless told otherwise: under `data/`, never beside a user's vectors. */
export const INDEX_DIR = join("data", "index");

/**
 * Index file path for a vectors file: `<dir>/<vectors name>[.n<limit>].hnsw-m<M>-ef<efC>.bin`
 * (the sidecar records the vectors' checksum, so two files of the same name cannot be mixed up).
 *
 * @example
 * ```ts
 * indexPathFor("v.bin", { m: 16, efConstruction: 200 }); // "data/index/v.bin.hnsw-m16-ef200.bin"
 * ```
 */
export function indexPathFor(
  vectorsPath: string,
  params: { m: number; efConstruction: number; limit?: number },
  dir = INDEX_DIR,
): string {
  const limit = params.limit ? `.n${params.limit}` : "";
  return join(
    dir,
    `${basename(vectorsPath)}${limit}.hnsw-m${params.m}-ef${params.efConstruction}.bin`,
  );
}

/**
 * Builds an HNSW index over every row of `vectors` (in memory; see {@link writeIndex}).
 *
 * @example
 * ```ts
 * const index = await buildIndex(vectors, { m: 16, efConstruction: 200, threads: 2 });
 * ```
 */
export async function buildIndex(
  vectors: VectorRows,
  options: BuildOptions = {},
): Promise<HnswIndex> {
  const params: IndexParams = {
    m: options.m ?? _DEFAULTS.m,
    efConstruction: options.efConstruction ?? _DEFAULTS.efConstruction,
    seed: options.seed ?? _DEFAULTS.seed,
  };
  const { dim, data } = vectors;
  const count = data.length / dim;
  if (!Number.isInteger(count)) throw new Error(`vectors: ${data.length} values, dim ${dim}`);
  const hnswlib = await loadHnswlib();
  const hnsw = new hnswlib.HierarchicalNSW("cosine", dim);
  hnsw.initIndex(Math.max(1, count), params.m, params.efConstruction, params.seed);
  const threads = options.threads ??
    (count >= _THREADED_FROM_ROWS ? navigator.hardwareConcurrency : 1);
  const added = count === 0 ? { threads: 0, seconds: 0, hugePageBytes: 0 } : addPointsParallel(
    hnsw,
    data,
    dim,
    0,
    { threads, onProgress: options.onProgress, hugePages: options.hugePages },
  );
  const { seconds: buildSeconds, hugePageBytes } = added;
  return { ...params, dim, count, hnsw, buildSeconds, threads: added.threads, hugePageBytes };
}

/**
 * k nearest rows to `query` (cosine distance, nearest first), searched with `ef`.
 *
 * @example
 * ```ts
 * const { ids } = searchIndex(index, query, 10, 100);
 * ```
 */
export function searchIndex(
  index: HnswIndex,
  query: Float32Array | ArrayLike<number>,
  k: number,
  ef = 100,
): Neighbors {
  if (query.length !== index.dim) {
    throw new Error(`query has ${query.length} dims, index has ${index.dim}`);
  }
  const { hnsw, count } = index;
  if (hnsw.getEf() !== ef) hnsw.setEf(ef);
  const r = searchKnnF32(hnsw, query, Math.min(k, count));
  return { ids: r.neighbors, distances: r.distances };
}

/**
 * Writes the index file (temp path + rename) and then its sidecar, which records `source` (the
 * vectors checksum). Returns the bytes on disk.
 *
 * @example
 * ```ts
 * const bytes = await writeIndex(index, "v.bin.hnsw-m16-ef200.bin", "sha256:...");
 * ```
 */
export async function writeIndex(index: HnswIndex, path: string, source: string): Promise<number> {
  await Deno.remove(sidecarPath(path)).catch(() => {});
  let bytes = 0, sha256 = "";
  await writeViaTemp(path, async (tmp) => {
    index.hnsw.writeIndexSync(tmp);
    bytes = (await Deno.stat(tmp)).size;
    sha256 = await sha256File(tmp);
  });
  await writeJsonAtomic(sidecarPath(path), {
    format: INDEX_FORMAT,
    version: INDEX_VERSION,
    space: "cosine",
    m: index.m,
    efConstruction: index.efConstruction,
    seed: index.seed,
    count: index.count,
    dim: index.dim,
    bytes,
    sha256,
    buildSeconds: index.buildSeconds,
    threads: index.threads,
    sources: { vectors: source },
  });
  return bytes;
}

/** Options for {@link openOrBuildIndex}. */
export interface OpenOptions extends BuildOptions {
  /** Index file path (see {@link indexPathFor}). */
  path: string;
  /** Checksum of the vectors (see {@link vectorsSource}); a change forces a rebuild. */
  source: string;
  /** Hash the index files on open (default true; catches same-size corruption). */
  verify?: boolean;
  /** Where "reusing"/"rebuilding because ..." lines go. */
  log?: (line: string) => void;
}

/**
 * Reuses the index at `path` when its sidecar matches (format, version, M, efConstruction, count,
 * dim, vectors checksum, file sizes and sha256); otherwise logs why and rebuilds and writes it.
 *
 * @example
 * ```ts
 * const { index, reused, bytes } = await openOrBuildIndex(vectors, { path, source });
 * ```
 */
export async function openOrBuildIndex(
  vectors: VectorRows,
  options: OpenOptions,
): Promise<{ index: HnswIndex; reused: boolean; bytes: number; reason?: string }> {
  const log = options.log ?? (() => {});
  const m = options.m ?? _DEFAULTS.m;
  const efConstruction = options.efConstruction ?? _DEFAULTS.efConstruction;
  const count = vectors.data.length / vectors.dim;
  const want = { m, efConstruction, count, dim: vectors.dim, source: options.source };
  const checked = await _checkSidecar(options.path, want, options.verify ?? true);
  if (typeof checked !== "string") {
    try {
      const index = await _load(options.path, checked);
      log(`reusing ${options.path} (${count} vectors, M ${m}, efConstruction ${efConstruction})`);
      return { index, reused: true, bytes: checked.bytes };
    } catch (err) {
      log(`rebuilding ${options.path}: could not load it: ${(err as Error).message}`);
    }
  } else if (await statOrNull(options.path)) {
    log(`rebuilding ${options.path}: ${checked}`);
  } else {
    log(`building ${options.path} (first use of these vectors)`);
  }
  const index = await buildIndex(vectors, options);
  const bytes = await writeIndex(index, options.path, options.source);
  return {
    index,
    reused: false,
    bytes,
    reason: typeof checked === "string" ? checked : "load failed",
  };
}

interface _SidecarInfo {
  m: number;
  efConstruction: number;
  count: number;
  dim: number;
  seed: number;
  bytes: number;
  sha256: string;
}

// Returns the sidecar when it matches, else a reason string for the log.
async function _checkSidecar(
  path: string,
  want: { m: number; efConstruction: number; count: number; dim: number; source: string },
  verify: boolean,
): Promise<_SidecarInfo | string> {
  // deno-lint-ignore no-explicit-any
  let side: any;
  try {
    side = await parseSidecar(path, INDEX_FORMAT, INDEX_VERSION);
  } catch (err) {
    if (err instanceof ArtifactError) return err.message;
    throw err;
  }
  for (const key of ["m", "efConstruction", "count", "dim"] as const) {
    if (side[key] !== want[key]) return `sidecar ${key} ${side[key]} != wanted ${want[key]}`;
  }
  if (side.sources?.vectors !== want.source) {
    return `vectors changed (sidecar ${side.sources?.vectors}, now ${want.source})`;
  }
  const size = (await statOrNull(path))?.size;
  if (size === undefined) return `index file ${path} is missing`;
  if (size !== side.bytes) return `${path} has ${size} bytes, sidecar says ${side.bytes}`;
  if (verify && (await sha256File(path)) !== side.sha256) {
    return `${path} sha256 does not match its sidecar (corrupt)`;
  }
  return side as _SidecarInfo;
}

async function _load(path: string, side: _SidecarInfo): Promise<HnswIndex> {
  const hnswlib = await loadHnswlib();
  const hnsw = new hnswlib.HierarchicalNSW("cosine", side.dim);
  hnsw.readIndexSync(path);
  if (hnsw.getCurrentCount() !== side.count) {
    throw new Error(`${path} holds ${hnsw.getCurrentCount()} points, sidecar says ${side.count}`);
  }
  const { m, efConstruction, seed, dim, count } = side;
  return {
    m,
    efConstruction,
    seed,
    dim,
    count,
    hnsw,
    buildSeconds: 0,
    threads: 0,
    hugePageBytes: 0,
  };
}
