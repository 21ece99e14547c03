/**
 * Transductive refinement of zero-shot scores by self-training in the image-feature space: the
 * test images' own clusters correct a semantic map's guesses. A method's predictions seed class
 * means of the (centred, unit) features, each image moves to its nearest mean, and the means are
 * re-estimated (k-means seeded by a zero-shot method, a common transductive step). It reads every
 * test image at once, so its accuracy is not an inductive zero-shot result; it reads no label.
 *
 * @example
 * ```ts
 * const pick = selfTrainedArgmax(features, 64, labelCosines(e, D, targets), 10);
 * ```
 * @module
 */
import { standardizedRows } from "./eval.ts";
import { normalizeRows } from "../text/vectors.ts";

/** Rounds of re-estimation at most (fewer when the assignment stops changing); not tuned. */
export const SELF_TRAINING_ROUNDS = 10;

/**
 * Self-trained prediction: spherical k-means over the centred unit features, seeded by the
 * scores. Each image starts at the class of its highest score (`n * C`, any scale); each round,
 * every class mean is the direction of the sum of its images' features, and every image moves to
 * the class of the nearest mean by cosine, until no image moves or after `rounds` rounds (0: the
 * highest score). A class no image starts at is seeded by the image whose standardised score
 * ranks it highest; one that loses its images keeps its last mean. `features` is `n * dim`.
 *
 * @example
 * ```ts
 * // Two tight clusters; the scores get the second image wrong, by a small margin.
 * const x = Float32Array.of(1, 0, 0.9, 0.1, 0, 1, 0.1, 0.9);
 * const s = Float32Array.of(0.9, 0.1, 0.45, 0.55, 0.1, 0.9, 0.4, 0.6);
 * selfTrainedArgmax(x, 2, s, 2); // [0, 0, 1, 1]
 * ```
 */
export function selfTrainedArgmax(
  features: Float32Array,
  dim: number,
  scores: Float32Array,
  C: number,
  rounds = SELF_TRAINING_ROUNDS,
): Int32Array {
  const n = features.length / dim;
  if (!Number.isInteger(n) || n < 1 || scores.length !== n * C) {
    throw new Error(
      `selfTrainedArgmax: ${features.length} features are not rows of ${dim} ` +
        `matching ${scores.length} scores of ${C} classes`,
    );
  }
  const x = _centredUnitRows(features, n, dim);
  let assigned = _rowArgmax(scores, n, C);
  const z = standardizedRows(scores, n, C);
  const means = new Float32Array(C * dim);
  for (let r = 0; r < rounds; r++) {
    const sums = new Float64Array(C * dim), counts = new Int32Array(C);
    for (let i = 0; i < n; i++) {
      const c = assigned[i];
      counts[c]++;
      for (let j = 0; j < dim; j++) sums[c * dim + j] += x[i * dim + j];
    }
    for (let c = 0; c < C; c++) {
      if (counts[c] === 0 && r === 0) {
        let seed = 0;
        for (let i = 1; i < n; i++) if (z[i * C + c] > z[seed * C + c]) seed = i;
        for (let j = 0; j < dim; j++) sums[c * dim + j] = x[seed * dim + j];
      } else if (counts[c] === 0) continue;
      means.set(
        normalizeRows(Float32Array.from(sums.subarray(c * dim, (c + 1) * dim)), dim),
        c * dim,
      );
    }
    const next = _rowArgmax(_dots(x, n, dim, means, C), n, C);
    const moved = next.some((c, i) => c !== assigned[i]);
    assigned = next;
    if (!moved) break;
  }
  return assigned;
}

function _rowArgmax(scores: Float32Array, n: number, C: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (scores[i * C + c] > scores[i * C + best]) best = c;
    out[i] = best;
  }
  return out;
}

// Rows less the mean row, scaled to unit length (all-zero rows stay zero).
function _centredUnitRows(rows: Float32Array, n: number, dim: number): Float32Array {
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) mean[j] += rows[i * dim + j] / n;
  return normalizeRows(rows.map((v, k) => v - mean[k % dim]), dim);
}

// n×C dot products of the rows of `x` with the rows of `means`.
function _dots(x: Float32Array, n: number, dim: number, means: Float32Array, C: number) {
  const out = new Float32Array(n * C);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < C; c++) {
      let dot = 0;
      for (let j = 0; j < dim; j++) dot += x[i * dim + j] * means[c * dim + j];
      out[i * C + c] = dot;
    }
  }
  return out;
}
