/**
 * Row selection on row-major matrices stored as flat typed arrays (features, label vectors,
 * CIFAR images).
 *
 * @example
 * ```ts
 * takeRows(new Float32Array([1, 2, 3, 4, 5, 6]), 2, [2, 0]); // Float32Array [5, 6, 1, 2]
 * ```
 * @module
 */

/**
 * The rows `rows` (in that order, repeats allowed) of a row-major matrix `width` wide, copied into
 * a new array of the same type.
 *
 * @example
 * ```ts
 * const seenVectors = takeRows(labelData, D, seenIds); // label vectors of the seen classes
 * const kept = takeRows(split.images, 3072, keep); // CIFAR images, 3072 bytes each
 * ```
 */
export function takeRows(data: Float32Array, width: number, rows: ArrayLike<number>): Float32Array;
export function takeRows(data: Uint8Array, width: number, rows: ArrayLike<number>): Uint8Array;
export function takeRows(
  data: Float32Array | Uint8Array,
  width: number,
  rows: ArrayLike<number>,
): Float32Array | Uint8Array {
  const size = rows.length * width;
  const out = data instanceof Float32Array ? new Float32Array(size) : new Uint8Array(size);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    out.set(data.subarray(r * width, (r + 1) * width), i * width);
  }
  return out;
}
