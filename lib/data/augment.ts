/**
 * Batch preparation for training: per-channel normalisation of NHWC uint8 images into a float32
 * batch, optionally with the standard CIFAR augmentation (4-pixel pad, random 32x32 crop, random
 * horizontal flip), all seeded through {@link Rng} so runs are reproducible.
 *
 * Padding is zero *in normalised space*, i.e. the pad pixels equal the per-channel mean image
 * (not black). That is the usual choice for normalise-then-pad pipelines and keeps the pad from
 * looking like a strong edge to the network.
 *
 * @example
 * ```ts
 * const rng = new Rng(0);
 * const { mean, std } = channelStats(train.images);
 * const out = new Float32Array(128 * 32 * 32 * 3);
 * for (const idx of batchIndices(train.count, 128, rng)) {
 *   normalizeBatch(train.images, idx, out, mean, std, { rng });
 * }
 * ```
 * @module
 */
import type { Rng } from "../io/rng.ts";

const _SIDE = 32;
const _ROW = _SIDE * 3;
const _IMAGE = _SIDE * _ROW;
/** Pad pixels on each side for the random crop. */
export const PAD_PIXELS = 4;

/**
 * A 256x3 lookup table: `lut[v * 3 + c] = (v / 255 - mean[c]) / std[c]`.
 *
 * @example
 * ```ts
 * const lut = normalizationLut([0.5, 0.5, 0.5], [0.25, 0.25, 0.25]);
 * lut[255 * 3]; // ≈ 2
 * ```
 */
export function normalizationLut(mean: readonly number[], std: readonly number[]): Float32Array {
  if (mean.length !== 3 || std.length !== 3) {
    throw new Error(`normalizationLut: need 3 means and 3 stds, got ${mean.length}/${std.length}`);
  }
  if (std.some((s) => !(s > 0))) throw new Error(`normalizationLut: std must be > 0, got ${std}`);
  const lut = new Float32Array(256 * 3);
  for (let v = 0; v < 256; v++) {
    for (let c = 0; c < 3; c++) lut[v * 3 + c] = (v / 255 - mean[c]) / std[c];
  }
  return lut;
}

/**
 * A copy of NHWC 32x32x3 `images` with every image mirrored left-right (the flip of the training
 * augmentation, without the crop): test-time augmentation averages a model's outputs on both.
 *
 * @example
 * ```ts
 * const mirrored = flipImagesHorizontally(split.images);
 * mirrored[0] === split.images[31 * 3]; // the first pixel comes from the last column
 * ```
 */
export function flipImagesHorizontally(images: Uint8Array): Uint8Array {
  if (images.length % _IMAGE !== 0) {
    throw new Error(`flipImagesHorizontally: ${images.length} bytes are not 32x32x3 images`);
  }
  const out = new Uint8Array(images.length);
  for (let row = 0; row < images.length; row += _ROW) {
    for (let x = 0; x < _SIDE; x++) {
      const s = row + (_SIDE - 1 - x) * 3, o = row + x * 3;
      out[o] = images[s];
      out[o + 1] = images[s + 1];
      out[o + 2] = images[s + 2];
    }
  }
  return out;
}

/**
 * Writes `indices.length` normalised images (NHWC float32) into `out`. With `augment`, each
 * image is shifted by a random crop of its 4-pixel zero-padded version (offsets 0..8 in the 40x40
 * padded frame, i.e. shifts of -4..4) and flipped left-right with probability 1/2. Per image the
 * rng draws, in order: crop row, crop column, flip.
 *
 * @example
 * ```ts
 * const out = new Float32Array(2 * 3072);
 * normalizeBatch(images, new Int32Array([7, 3]), out, mean, std, null); // exact normalisation
 * normalizeBatch(images, new Int32Array([7, 3]), out, mean, std, { rng: new Rng(1) });
 * ```
 */
export function normalizeBatch(
  images: Uint8Array,
  indices: Int32Array,
  out: Float32Array,
  mean: readonly number[],
  std: readonly number[],
  augment: { rng: Rng } | null,
): void {
  const count = images.length / _IMAGE;
  if (!Number.isInteger(count)) {
    throw new Error(`normalizeBatch: ${images.length} image bytes is not a multiple of ${_IMAGE}`);
  }
  if (out.length < indices.length * _IMAGE) {
    throw new Error(
      `normalizeBatch: out holds ${out.length} floats, need ${indices.length * _IMAGE}`,
    );
  }
  const lut = normalizationLut(mean, std);
  for (let b = 0; b < indices.length; b++) {
    const index = indices[b];
    if (index < 0 || index >= count) {
      throw new RangeError(`normalizeBatch: index ${index} at ${b} outside [0, ${count})`);
    }
    const src = index * _IMAGE;
    const dst = b * _IMAGE;
    if (augment === null) {
      for (let i = 0; i < _IMAGE; i += 3) {
        out[dst + i] = lut[images[src + i] * 3];
        out[dst + i + 1] = lut[images[src + i + 1] * 3 + 1];
        out[dst + i + 2] = lut[images[src + i + 2] * 3 + 2];
      }
      continue;
    }
    const rng = augment.rng;
    const dy = rng.int(2 * PAD_PIXELS + 1) - PAD_PIXELS;
    const dx = rng.int(2 * PAD_PIXELS + 1) - PAD_PIXELS;
    const flip = rng.next() < 0.5;
    _cropFlip(images, src, out, dst, dy, dx, flip, lut);
  }
}

/** out(y, x) = src(y + dy, flip ? 31 - x + dx : x + dx), zero where that falls outside. */
function _cropFlip(
  images: Uint8Array,
  src: number,
  out: Float32Array,
  dst: number,
  dy: number,
  dx: number,
  flip: boolean,
  lut: Float32Array,
): void {
  // Output columns whose source column is inside the image: [x0, x1).
  const x0 = flip ? Math.max(0, dx) : Math.max(0, -dx);
  const x1 = flip ? Math.min(_SIDE, _SIDE + dx) : Math.min(_SIDE, _SIDE - dx);
  for (let y = 0; y < _SIDE; y++) {
    const rowOut = dst + y * _ROW;
    const sy = y + dy;
    if (sy < 0 || sy >= _SIDE) {
      out.fill(0, rowOut, rowOut + _ROW);
      continue;
    }
    if (x0 > 0) out.fill(0, rowOut, rowOut + x0 * 3);
    if (x1 < _SIDE) out.fill(0, rowOut + x1 * 3, rowOut + _ROW);
    const rowIn = src + sy * _ROW;
    if (flip) {
      // Source column for output x is 31 - x + dx; step backwards through the source row.
      let s = rowIn + (_SIDE - 1 - x0 + dx) * 3;
      for (let o = rowOut + x0 * 3, end = rowOut + x1 * 3; o < end; o += 3, s -= 3) {
        out[o] = lut[images[s] * 3];
        out[o + 1] = lut[images[s + 1] * 3 + 1];
        out[o + 2] = lut[images[s + 2] * 3 + 2];
      }
    } else {
      let s = rowIn + (x0 + dx) * 3;
      for (let o = rowOut + x0 * 3, end = rowOut + x1 * 3; o < end; o += 3, s += 3) {
        out[o] = lut[images[s] * 3];
        out[o + 1] = lut[images[s + 1] * 3 + 1];
        out[o + 2] = lut[images[s + 2] * 3 + 2];
      }
    }
  }
}

/**
 * Yields the batches of one epoch as index arrays: a fresh permutation from `rng` (or `0..count-1`
 * in order when `rng` is null), cut into `batchSize` pieces; the last batch is shorter unless
 * `dropLast`. Each yielded array is a view into the epoch permutation; copy it to keep it.
 *
 * @example
 * ```ts
 * for (const idx of batchIndices(50_000, 128, rng)) console.log(idx.length); // 128 ... 80
 * ```
 */
export function* batchIndices(
  count: number,
  batchSize: number,
  rng: Rng | null,
  options: { dropLast?: boolean } = {},
): Generator<Int32Array> {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`batchIndices: batchSize must be a positive integer, got ${batchSize}`);
  }
  if (!Number.isInteger(count) || count < 0) {
    throw new RangeError(`batchIndices: count must be a non-negative integer, got ${count}`);
  }
  const order = rng ? rng.permutation(count) : Int32Array.from({ length: count }, (_, i) => i);
  for (let start = 0; start < count; start += batchSize) {
    const end = Math.min(count, start + batchSize);
    if (options.dropLast && end - start < batchSize) return;
    yield order.subarray(start, end);
  }
}
