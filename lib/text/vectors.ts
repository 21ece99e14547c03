/**
 * In-memory word vectors: one contiguous row-major Float32Array plus a word → row map. Shared by
 * the word2vec reader/writer, the skip-gram trainer and the label-vector builder.
 *
 * @example
 * ```ts
 * const v = makeWordVectors(["cat", "dog"], 2, new Float32Array([1, 0, 0, 1]));
 * normalizeRows(v.data, v.dim);
 * vectorOf(v, "dog"); // Float32Array [0, 1] (a view into v.data)
 * ```
 * @module
 */
import { halfToFloat } from "../io/float16.ts";

/** Word vectors: `data` holds `words.length * dim` floats, row `i` belongs to `words[i]`. */
export interface WordVectors {
  /** Vocabulary in row order. */
  words: string[];
  /** Vector length. */
  dim: number;
  /** Row-major `words.length * dim` floats. */
  data: Float32Array;
  /** word → row. For duplicate words the first row wins. */
  index: Map<string, number>;
}

/**
 * Half-precision word vectors (IEEE binary16 bit patterns), for big vocabularies where memory
 * matters more than the last digits. Read rows with {@link rowOf}.
 */
export interface HalfWordVectors {
  /** Vocabulary in row order. */
  words: string[];
  /** Vector length. */
  dim: number;
  /** Row-major `words.length * dim` binary16 values. */
  half: Uint16Array;
  /** word → row. For duplicate words the first row wins. */
  index: Map<string, number>;
}

/**
 * Builds {@link WordVectors}, checking that `data` has exactly `words.length * dim` floats.
 *
 * @example
 * ```ts
 * const v = makeWordVectors(["a"], 3, new Float32Array(3));
 * v.index.get("a"); // 0
 * ```
 */
export function makeWordVectors(words: string[], dim: number, data: Float32Array): WordVectors {
  if (!Number.isInteger(dim) || dim <= 0) throw new RangeError(`dim must be a positive integer`);
  if (data.length !== words.length * dim) {
    throw new RangeError(
      `data has ${data.length} floats, expected ${words.length} words × ${dim} = ${
        words.length * dim
      }`,
    );
  }
  return { words, dim, data, index: buildIndex(words) };
}

/**
 * word → row map; the first occurrence of a duplicate word wins (as in gensim).
 *
 * @example
 * ```ts
 * buildIndex(["a", "b", "a"]).get("a"); // 0
 * ```
 */
export function buildIndex(words: string[]): Map<string, number> {
  // One hash lookup per word (set only); duplicates, if any, are fixed up by a reverse pass,
  // which keeps Map order and lets the first occurrence win.
  const index = new Map<string, number>();
  for (let i = 0; i < words.length; i++) index.set(words[i], i);
  if (index.size !== words.length) {
    for (let i = words.length - 1; i >= 0; i--) index.set(words[i], i);
  }
  return index;
}

/**
 * The vector of `word` as a subarray view into `v.data` (writes go through), or undefined.
 *
 * @example
 * ```ts
 * const v = makeWordVectors(["x"], 2, new Float32Array([3, 4]));
 * vectorOf(v, "x"); // Float32Array [3, 4]
 * vectorOf(v, "y"); // undefined
 * ```
 */
export function vectorOf(v: WordVectors, word: string): Float32Array | undefined {
  const row = v.index.get(word);
  return row === undefined ? undefined : v.data.subarray(row * v.dim, (row + 1) * v.dim);
}

/**
 * Scales every row of `data` (row length `dim`) to unit L2 norm in place; all-zero rows stay zero.
 *
 * @example
 * ```ts
 * const d = new Float32Array([3, 4, 0, 0]);
 * normalizeRows(d, 2); // d = [0.6, 0.8, 0, 0]
 * ```
 */
export function normalizeRows(data: Float32Array, dim: number): Float32Array {
  if (data.length % dim !== 0) {
    throw new RangeError(`data length ${data.length} is not a multiple of dim ${dim}`);
  }
  for (let off = 0; off < data.length; off += dim) {
    let sum = 0;
    for (let j = 0; j < dim; j++) sum += data[off + j] * data[off + j];
    if (sum === 0) continue;
    const scale = 1 / Math.sqrt(sum);
    for (let j = 0; j < dim; j++) data[off + j] *= scale;
  }
  return data;
}

/**
 * Row `row` as float32, for either precision. For {@link WordVectors} without `out` this is a
 * view; for {@link HalfWordVectors} the row is decoded into `out` (or a new array).
 *
 * @example
 * ```ts
 * const v = makeWordVectors(["x"], 2, new Float32Array([1, 2]));
 * rowOf(v, 0); // Float32Array [1, 2]
 * ```
 */
export function rowOf(
  v: WordVectors | HalfWordVectors,
  row: number,
  out?: Float32Array,
): Float32Array {
  if (row < 0 || row >= v.words.length) {
    throw new RangeError(`row ${row} out of range 0..${v.words.length - 1}`);
  }
  const start = row * v.dim;
  if ("data" in v) {
    const view = v.data.subarray(start, start + v.dim);
    if (!out) return view;
    out.set(view);
    return out;
  }
  const dst = out ?? new Float32Array(v.dim);
  for (let j = 0; j < v.dim; j++) dst[j] = halfToFloat(v.half[start + j]);
  return dst;
}
