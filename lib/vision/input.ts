/**
 * The visual model's input: a batch of normalised 32×32 NHWC images as a tensor, average-pooled
 * down for tiny test models whose input side is smaller. Training, evaluation and feature
 * extraction all feed the model through here.
 *
 * @example
 * ```ts
 * normalizeBatch(split.images, idx, buf, mean, std, null);
 * const x = batchToInput(tf, buf, idx.length, 32); // [n, 32, 32, 3]
 * ```
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import type { TF } from "../backend/select.ts";

/** Images + labels of one split (a `CifarSplit` fits). */
export interface ImageSplit {
  count: number;
  /** NHWC uint8, 32x32x3 per image. */
  images: Uint8Array;
  labels: Int32Array;
}

/**
 * The model input for the first `n` normalised 32x32 images in `buf`; for tiny models with a
 * smaller input side the images are average-pooled down to it.
 *
 * @example
 * ```ts
 * const x = batchToInput(tf, buf, 128, 32); // [128, 32, 32, 3]
 * ```
 */
export function batchToInput(tf: TF, buf: Float32Array, n: number, size: number): tfjs.Tensor4D {
  const x = tf.tensor4d(buf.subarray(0, n * 3072), [n, 32, 32, 3]);
  if (size === 32) return x;
  if (32 % size !== 0) throw new Error(`inputSize ${size} must divide 32`);
  const pooled = tf.avgPool(x, 32 / size, 32 / size, "valid");
  x.dispose();
  return pooled;
}
