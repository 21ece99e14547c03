/**
 * Minimal readers for DeViSE inputs, used until `lib/vision/extract.ts` (`readFeatures`) and the
 * label-vector builder land; swap them in there.
 *
 * Feature layout (a folder per extraction): `SPLIT.f32` (n×d float32, little-endian) with a JSON
 * sidecar holding at least `shape: [n, d]` (any `format`/`version`; checksum verified), labels in
 * `SPLIT.labels.i32` (int32, sidecar `shape: [n]`) or in the features sidecar as `labels`
 * (number[]), optional `SPLIT.coarse.i32` (CIFAR-100 superclasses), and optional `labelNames` /
 * `coarseNames` in the features sidecar. A layer `L` lives in `DIR/L/SPLIT.f32` or
 * `DIR/SPLIT-L.f32`.
 *
 * Label vectors: a float32 artifact (sidecar `shape: [V, D]` and `words: string[]`), or word2vec
 * text (`V D` header, then `word v1 … vD` per line).
 *
 * @example
 * ```ts
 * const train = await readFeatureSplit("data/features", "train", "gap");
 * const vectors = await readWordVectorFile("data/vectors/labels.f32");
 * const T = labelMatrix(vectors, train.labelNames!); // C×D unit rows
 * ```
 * @module
 */
import { join } from "node:path";
import { readArtifact, type Sidecar, writeArtifact } from "../io/artifact.ts";
import { normalizeRows } from "./loss.ts";

/** One split of extracted features. */
export interface FeatureSplit {
  /** n×d row-major. */
  features: Float32Array;
  n: number;
  d: number;
  labels: Int32Array;
  coarseLabels?: Int32Array;
  labelNames?: string[];
  coarseNames?: string[];
  /** The features file read. */
  path: string;
  sha256?: string;
}

async function _exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function _rawSidecar(path: string): Promise<Sidecar> {
  let text: string;
  try {
    text = await Deno.readTextFile(`${path}.json`);
  } catch {
    throw new Error(`${path}: missing sidecar ${path}.json`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}.json: not valid JSON: ${(err as Error).message}`);
  }
}

/** Reads a typed array artifact whose sidecar has `shape`; checks shape × element size = bytes. */
async function _readTyped<T extends Float32Array | Int32Array>(
  path: string,
  make: (buf: ArrayBuffer) => T,
): Promise<{ array: T; shape: number[]; sidecar: Sidecar }> {
  const raw = await _rawSidecar(path);
  const shape = raw.shape as number[] | undefined;
  if (!Array.isArray(shape) || !shape.every((s) => Number.isInteger(s) && s >= 0)) {
    throw new Error(
      `${path}.json: expected 'shape' as a list of integers, got ${JSON.stringify(shape)}`,
    );
  }
  const { data, sidecar } = await readArtifact(path, raw.format, raw.version);
  const count = shape.reduce((a, b) => a * b, 1);
  if (data.byteLength !== count * 4) {
    throw new Error(
      `${path}: ${data.byteLength} bytes, shape ${JSON.stringify(shape)} needs ${count * 4}`,
    );
  }
  const array = make(
    data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer,
  );
  return { array, shape, sidecar };
}

/**
 * Reads `SPLIT` features (and labels) from a features folder, optionally of one layer.
 *
 * @example
 * ```ts
 * const test = await readFeatureSplit("data/features", "test");
 * ```
 */
export async function readFeatureSplit(
  dir: string,
  split: string,
  layer = "",
): Promise<FeatureSplit> {
  const candidates = layer
    ? [join(dir, layer, `${split}.f32`), join(dir, `${split}-${layer}.f32`)]
    : [
      join(dir, `${split}.f32`),
    ];
  let path = "";
  for (const c of candidates) {
    if (await _exists(c)) {
      path = c;
      break;
    }
  }
  if (!path) throw new Error(`features not found: tried ${candidates.join(", ")}`);
  const { array: features, shape, sidecar } = await _readTyped(path, (b) => new Float32Array(b));
  if (shape.length !== 2) {
    throw new Error(`${path}: expected a 2-D shape [n, d], got ${JSON.stringify(shape)}`);
  }
  const [n, d] = shape;
  const base = path.replace(/\.f32$/, "");
  let labels: Int32Array;
  if (await _exists(`${base}.labels.i32`)) {
    labels = (await _readTyped(`${base}.labels.i32`, (b) => new Int32Array(b))).array;
  } else if (Array.isArray(sidecar.labels)) {
    labels = Int32Array.from(sidecar.labels as number[]);
  } else {
    throw new Error(`${path}: no labels (${base}.labels.i32 missing and sidecar has no 'labels')`);
  }
  if (labels.length !== n) {
    throw new Error(`${base}: ${labels.length} labels for ${n} feature rows`);
  }
  const coarseLabels = (await _exists(`${base}.coarse.i32`))
    ? (await _readTyped(`${base}.coarse.i32`, (b) => new Int32Array(b))).array
    : undefined;
  if (coarseLabels && coarseLabels.length !== n) {
    throw new Error(`${base}.coarse.i32: ${coarseLabels.length} coarse labels for ${n} rows`);
  }
  return {
    features,
    n,
    d,
    labels,
    coarseLabels,
    labelNames: sidecar.labelNames as string[] | undefined,
    coarseNames: sidecar.coarseNames as string[] | undefined,
    path,
    sha256: sidecar.sha256,
  };
}

/**
 * Writes a split in the layout {@link readFeatureSplit} reads (for tests, benches and until
 * the extract task writes its own).
 *
 * @example
 * ```ts
 * await writeFeatureSplit(dir, "train", { features, n, d, labels, labelNames });
 * ```
 */
export async function writeFeatureSplit(
  dir: string,
  split: string,
  s: Omit<FeatureSplit, "path" | "sha256">,
): Promise<string> {
  const path = join(dir, `${split}.f32`);
  const bytes = (a: Float32Array | Int32Array) =>
    new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  await writeArtifact(path, bytes(s.features), {
    format: "devise-features",
    version: 1,
    dtype: "float32",
    shape: [s.n, s.d],
    labelNames: s.labelNames,
    coarseNames: s.coarseNames,
  });
  const meta = { format: "devise-labels", version: 1, dtype: "int32" };
  await writeArtifact(join(dir, `${split}.labels.i32`), bytes(s.labels), { ...meta, shape: [s.n] });
  if (s.coarseLabels) {
    await writeArtifact(join(dir, `${split}.coarse.i32`), bytes(s.coarseLabels), {
      ...meta,
      shape: [s.n],
    });
  }
  return path;
}

/** Word vectors as read from a file. */
export interface WordVectorFile {
  words: string[];
  dims: number;
  /** words.length × dims row-major. */
  data: Float32Array;
}

/**
 * Reads word vectors: a float32 artifact with sidecar `{shape, words}` or word2vec text.
 *
 * @example
 * ```ts
 * const v = await readWordVectorFile("vectors.txt");
 * ```
 */
export async function readWordVectorFile(path: string): Promise<WordVectorFile> {
  if (await _exists(`${path}.json`)) {
    const { array, shape, sidecar } = await _readTyped(path, (b) => new Float32Array(b));
    const words = (sidecar.words ?? sidecar.labels) as string[] | undefined;
    if (shape.length !== 2 || !Array.isArray(words) || words.length !== shape[0]) {
      throw new Error(`${path}.json: expected shape [V, D] and 'words' with V entries`);
    }
    return { words, dims: shape[1], data: array };
  }
  const lines = (await Deno.readTextFile(path)).split("\n").filter((l) => l.trim() !== "");
  const header = lines[0]?.trim().split(/\s+/).map(Number) ?? [];
  if (header.length !== 2 || !header.every(Number.isInteger)) {
    throw new Error(
      `${path}:1: expected a word2vec text header 'COUNT DIMS', got '${lines[0]?.slice(0, 40)}'`,
    );
  }
  const [count, dims] = header;
  if (lines.length - 1 !== count) {
    throw new Error(`${path}: header says ${count} words, found ${lines.length - 1}`);
  }
  const data = new Float32Array(count * dims);
  const words: string[] = [];
  for (let i = 0; i < count; i++) {
    const parts = lines[i + 1].trim().split(/\s+/);
    if (parts.length !== dims + 1) {
      throw new Error(
        `${path}:${i + 2}: expected a word and ${dims} numbers, got ${parts.length - 1} numbers`,
      );
    }
    words.push(parts[0]);
    for (let k = 0; k < dims; k++) {
      const x = Number(parts[k + 1]);
      if (!Number.isFinite(x)) {
        throw new Error(`${path}:${i + 2}: '${parts[k + 1]}' is not a number`);
      }
      data[i * dims + k] = x;
    }
  }
  return { words, dims, data };
}

/**
 * The C×D unit label matrix for class names: the exact word if present, else the mean of the
 * parts of a multi-word name (`maple_tree` -> maple, tree). Throws listing names with no vector.
 *
 * @example
 * ```ts
 * const T = labelMatrix(vectors, ["apple", "maple_tree"]);
 * ```
 */
export function labelMatrix(vectors: WordVectorFile, names: string[]): Float32Array {
  const index = new Map<string, number>();
  vectors.words.forEach((w, i) => index.has(w) || index.set(w, i));
  const D = vectors.dims;
  const out = new Float32Array(names.length * D);
  const missing: string[] = [];
  names.forEach((name, c) => {
    const whole = index.get(name) ?? index.get(name.toLowerCase());
    const rows = whole !== undefined
      ? [whole]
      : name.toLowerCase().split(/[_\s-]+/).map((p) => index.get(p));
    if (rows.length === 0 || rows.some((r) => r === undefined)) {
      missing.push(name);
      return;
    }
    for (const r of rows as number[]) {
      for (let k = 0; k < D; k++) out[c * D + k] += vectors.data[r * D + k] / rows.length;
    }
  });
  if (missing.length) {
    throw new Error(
      `no word vector for ${missing.length} label(s): ${missing.slice(0, 10).join(", ")}`,
    );
  }
  return normalizeRows(out, D);
}
