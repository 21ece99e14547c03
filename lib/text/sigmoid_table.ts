/**
 * word2vec.c's precomputed sigmoid: `EXP_TABLE_SIZE` steps over `[-MAX_EXP, MAX_EXP)`, shared by
 * the JS kernel (skipgram.ts) and the Wasm SIMD kernel (skipgram_simd.ts).
 *
 * @example
 * ```ts
 * sigmoidTable()[EXP_TABLE_SIZE / 2]; // ≈ 0.5
 * ```
 * @module
 */

/** Sigmoid table resolution and range, as in word2vec.c. */
export const EXP_TABLE_SIZE = 1000;
/** Dot products beyond ±MAX_EXP saturate the sigmoid. */
export const MAX_EXP = 6;

/**
 * Precomputed `sigmoid(x)` for `x` in `[-MAX_EXP, MAX_EXP)`, `EXP_TABLE_SIZE` steps.
 *
 * @example
 * ```ts
 * sigmoidTable()[EXP_TABLE_SIZE / 2]; // ≈ 0.5
 * ```
 */
export function sigmoidTable(): Float32Array {
  const t = new Float32Array(EXP_TABLE_SIZE);
  for (let i = 0; i < EXP_TABLE_SIZE; i++) {
    const e = Math.exp((i / EXP_TABLE_SIZE * 2 - 1) * MAX_EXP);
    t[i] = e / (e + 1);
  }
  return t;
}
