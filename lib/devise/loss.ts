/**
 * DeViSE losses on the linear map M (d×D) from visual features v (d) to the text space
 * (e = vM, D). Label vectors T (C×D) are unit-normalised rows.
 *
 * - `hinge`: Frome et al.'s hinge rank loss, Σ_{j≠y} max(0, margin − t_y·e + t_j·e), summed
 *   over wrong labels and averaged over the batch. A term exactly equal to 0 (t_y·e − t_j·e ==
 *   margin) is not a violation and gives no gradient.
 * - `hinge-max`: only the hardest wrong label counts, max_{j≠y} max(0, margin − t_y·e + t_j·e)
 *   (VSE++'s "max of hinges", Faghri et al. 2018): the loss cares about rank 1 only, which is what
 *   hit@1 scores; the sum spends its gradient on every violator however far down.
 * - `hinge-euclid`: hinge + λ·||e − t_y||² (the reference report's extra Euclidean term).
 * - `cosine`: 1 − cos(e, t_y) (as in fast.ai's DeViSE notebook).
 *
 * `firstViolation` is the paper's cheaper sampling: wrong labels are visited in random order and
 * only the first violating one contributes. Random order is given as a key per (sample, label):
 * the violator with the smallest key is "first", so the pure-TS and tfjs versions agree exactly
 * when given the same keys.
 *
 * Two implementations: {@link deviseLossRef} (pure TypeScript, Float32Array, analytic gradient;
 * for tests and gradient checks) and {@link deviseLossTf} (tfjs ops, differentiable by
 * `tf.variableGrads`; for training speed).
 *
 * @example
 * ```ts
 * const { loss, grad } = deviseLossRef({ M, d, dims: D, features, labels, labelVectors: T,
 *   kind: "hinge", margin: 0.1 });
 * ```
 * @module
 */
import { normalizeRows } from "../text/vectors.ts";
export { normalizeRows };
import type * as tfType from "@tensorflow/tfjs";
import type { Rng } from "../io/rng.ts";

/** Which loss to train with. */
export type LossKind = "hinge" | "hinge-max" | "hinge-euclid" | "cosine";

/** All loss kinds, for flag choices. */
export const LOSS_KINDS: readonly LossKind[] = ["hinge", "hinge-max", "hinge-euclid", "cosine"];

/** Loss hyper-parameters shared by both implementations. */
export interface LossConfig {
  kind: LossKind;
  /** Hinge margin; default 0.1 (Frome et al.). */
  margin?: number;
  /** Weight of the Euclidean term for `hinge-euclid`; default 1. */
  lambda?: number;
  /** Only the first violating wrong label (in random key order) counts (not with `hinge-max`). */
  firstViolation?: boolean;
}

/** Inputs of {@link deviseLossRef}. */
export interface RefLossInput extends LossConfig {
  /** Row-major d×D map. */
  M: Float32Array;
  /** Feature dimension. */
  d: number;
  /** Text embedding dimension. */
  dims: number;
  /** Row-major n×d features. */
  features: Float32Array;
  /** n labels in [0, C). */
  labels: Int32Array;
  /** Row-major C×D unit label vectors. */
  labelVectors: Float32Array;
  /** n×C keys for `firstViolation` (smaller = visited first); drawn from `rng` if absent. */
  keys?: Float32Array;
  /** Used to draw `keys` when `firstViolation` is set and no keys are given. */
  rng?: Rng;
}

/**
 * Whether `firstViolation` applies: `hinge-max` already picks one violator, the hardest.
 *
 * @example
 * ```ts
 * firstViolationApplies({ kind: "hinge-max", margin: 0.1, firstViolation: true }); // false
 * ```
 */
export function firstViolationApplies(c: LossConfig): boolean {
  return c.firstViolation === true && c.kind !== "hinge-max";
}

/**
 * Draws n×C uniform keys for `firstViolation` from `rng` (one visiting order per sample).
 *
 * @example
 * ```ts
 * const keys = violationKeys(new Rng(1), 256, 100);
 * ```
 */
export function violationKeys(rng: Rng, n: number, classes: number): Float32Array {
  const keys = new Float32Array(n * classes);
  for (let i = 0; i < keys.length; i++) keys[i] = rng.next();
  return keys;
}

/**
 * Pure-TypeScript loss and its analytic gradient with respect to M (same layout as M).
 * Returns the batch-mean loss.
 *
 * @example
 * ```ts
 * const { loss, grad } = deviseLossRef({ M, d: 4, dims: 3, features, labels,
 *   labelVectors, kind: "hinge", margin: 0.1 });
 * ```
 */
export function deviseLossRef(input: RefLossInput): { loss: number; grad: Float32Array } {
  const { M, d, dims: D, features, labels, labelVectors: T } = input;
  const n = labels.length;
  const C = T.length / D;
  const margin = input.margin ?? 0.1;
  const lambda = input.lambda ?? 1;
  _checkShapes(M, d, D, features, n, T);
  let keys = input.keys;
  const firstViolation = firstViolationApplies(input);
  if (firstViolation && !keys) {
    if (!input.rng) throw new Error("deviseLossRef: firstViolation needs keys or an rng");
    keys = violationKeys(input.rng, n, C);
  }
  const grad = new Float32Array(d * D);
  const e = new Float64Array(D);
  const ge = new Float64Array(D); // dLoss_i / de
  const scores = new Float64Array(C);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const v = features.subarray(i * d, (i + 1) * d);
    const y = labels[i];
    if (!(y >= 0 && y < C)) {
      throw new Error(`deviseLossRef: label ${y} at row ${i} not in [0, ${C})`);
    }
    e.fill(0);
    for (let a = 0; a < d; a++) {
      const va = v[a];
      if (va === 0) continue;
      const row = a * D;
      for (let k = 0; k < D; k++) e[k] += va * M[row + k];
    }
    ge.fill(0);
    if (input.kind === "cosine") {
      let dot = 0, norm2 = 0;
      for (let k = 0; k < D; k++) {
        dot += e[k] * T[y * D + k];
        norm2 += e[k] * e[k];
      }
      const norm = Math.sqrt(norm2) + 1e-12;
      total += 1 - dot / norm;
      for (let k = 0; k < D; k++) {
        ge[k] = -(T[y * D + k] / norm - (dot * e[k]) / (norm * norm * norm));
      }
    } else {
      for (let j = 0; j < C; j++) {
        let s = 0;
        for (let k = 0; k < D; k++) s += T[j * D + k] * e[k];
        scores[j] = s;
      }
      let chosen = -1;
      let chosenKey = Infinity;
      const hardest = input.kind === "hinge-max";
      for (let j = 0; j < C; j++) {
        if (j === y) continue;
        const term = margin - scores[y] + scores[j];
        if (!(term > 0)) continue;
        if (hardest) {
          if (chosen < 0 || scores[j] > scores[chosen]) chosen = j;
        } else if (firstViolation) {
          const key = keys![i * C + j];
          if (key < chosenKey) [chosen, chosenKey] = [j, key];
        } else {
          total += term;
          for (let k = 0; k < D; k++) ge[k] += T[j * D + k] - T[y * D + k];
        }
      }
      if (chosen >= 0) {
        total += margin - scores[y] + scores[chosen];
        for (let k = 0; k < D; k++) ge[k] += T[chosen * D + k] - T[y * D + k];
      }
      if (input.kind === "hinge-euclid") {
        for (let k = 0; k < D; k++) {
          const diff = e[k] - T[y * D + k];
          total += lambda * diff * diff;
          ge[k] += 2 * lambda * diff;
        }
      }
    }
    for (let a = 0; a < d; a++) {
      const va = v[a];
      if (va === 0) continue;
      const row = a * D;
      for (let k = 0; k < D; k++) grad[row + k] += (va * ge[k]) / n;
    }
  }
  return { loss: total / n, grad };
}

function _checkShapes(
  M: Float32Array,
  d: number,
  D: number,
  features: Float32Array,
  n: number,
  T: Float32Array,
): void {
  if (M.length !== d * D) {
    throw new Error(`deviseLoss: M has ${M.length} values, expected ${d}×${D}`);
  }
  if (features.length !== n * d) {
    throw new Error(`deviseLoss: features have ${features.length} values, expected ${n}×${d}`);
  }
  if (T.length % D !== 0 || T.length === 0) {
    throw new Error(`deviseLoss: label vectors have ${T.length} values, not a multiple of ${D}`);
  }
}

/** Inputs of {@link deviseLossTf}; tensors are owned by the caller. */
export interface TfLossInput extends LossConfig {
  /** B×D image embeddings e = vM (already computed, so dropout etc. stay outside). */
  embeddings: tfType.Tensor2D;
  /** B int32 labels. */
  labels: tfType.Tensor1D;
  /** C×D unit label vectors. */
  labelVectors: tfType.Tensor2D;
  /** B×C keys for `firstViolation` (smaller = visited first). Required with it. */
  keys?: Float32Array;
  /**
   * K×D unit vectors of other words (e.g. sampled from the whole vocabulary): each is one more
   * wrong label of every image (hinge, hinge-max), so the map also learns to stay away from them.
   */
  extraNegatives?: tfType.Tensor2D;
}

/**
 * The same losses in tfjs ops (a scalar, batch mean). Differentiable with respect to anything
 * `embeddings` depends on. For `firstViolation` the chosen wrong label per sample is found on
 * the host (a B×C read) and enters as a constant mask, since argmin has no gradient.
 *
 * @example
 * ```ts
 * const { value, grads } = tf.variableGrads(() =>
 *   deviseLossTf(tf, { embeddings: tf.matMul(v, M), labels, labelVectors: T, kind: "hinge" }));
 * ```
 */
export function deviseLossTf(tf: typeof tfType, input: TfLossInput): tfType.Scalar {
  const margin = input.margin ?? 0.1;
  const lambda = input.lambda ?? 1;
  const { embeddings: e, labels, labelVectors: T } = input;
  return tf.tidy(() => {
    const C = T.shape[0];
    const ty = tf.gather(T, labels); // B×D
    if (input.kind === "cosine") {
      const dot = tf.sum(tf.mul(e, ty), 1);
      const norm = tf.add(tf.norm(e, "euclidean", 1), 1e-12);
      return tf.mean(tf.sub(1, tf.div(dot, norm))) as tfType.Scalar;
    }
    const scores = tf.matMul(e, T, false, true); // B×C
    const sy = tf.sum(tf.mul(e, ty), 1, true); // B×1
    const wrong = tf.sub(1, tf.oneHot(labels, C)); // constant mask, y excluded
    let terms = tf.mul(tf.relu(tf.add(tf.sub(scores, sy), margin)), wrong);
    if (firstViolationApplies(input)) {
      if (!input.keys) throw new Error("deviseLossTf: firstViolation needs keys");
      terms = tf.mul(terms, _firstViolationMask(tf, terms as tfType.Tensor2D, input.keys));
    }
    if (input.extraNegatives) {
      const extra = tf.matMul(e, input.extraNegatives, false, true); // B×K
      terms = tf.concat([terms, tf.relu(tf.add(tf.sub(extra, sy), margin))], 1);
    }
    const total = tf.sum(input.kind === "hinge-max" ? tf.max(terms, 1) : terms);
    let loss = tf.div(total, e.shape[0]);
    if (input.kind === "hinge-euclid") {
      loss = tf.add(loss, tf.mul(lambda, tf.mean(tf.sum(tf.square(tf.sub(e, ty)), 1))));
    }
    return loss as tfType.Scalar;
  });
}

/** One-hot B×C mask of the smallest-key violating label per row (all-zero row if none). */
function _firstViolationMask(
  tf: typeof tfType,
  terms: tfType.Tensor2D,
  keys: Float32Array,
): tfType.Tensor2D {
  const [B, C] = terms.shape;
  if (keys.length !== B * C) throw new Error(`deviseLossTf: keys need ${B}×${C} values`);
  const t = terms.dataSync();
  const mask = new Float32Array(B * C);
  for (let i = 0; i < B; i++) {
    let best = -1, bestKey = Infinity;
    for (let j = 0; j < C; j++) {
      if (t[i * C + j] > 0 && keys[i * C + j] < bestKey) [best, bestKey] = [j, keys[i * C + j]];
    }
    if (best >= 0) mask[i * C + best] = 1;
  }
  return tf.tensor2d(mask, [B, C]);
}

/**
 * Scores of every label for every embedding: n×C dot products e·t_j (row-major), used for
 * ranking. Pure TS.
 *
 * @example
 * ```ts
 * const scores = labelScores(embeddings, 300, labelVectors); // n×C
 * ```
 */
export function labelScores(
  embeddings: Float32Array,
  dims: number,
  labelVectors: Float32Array,
): Float32Array {
  const n = embeddings.length / dims;
  const C = labelVectors.length / dims;
  const out = new Float32Array(n * C);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < C; j++) {
      let s = 0;
      for (let k = 0; k < dims; k++) s += embeddings[i * dims + k] * labelVectors[j * dims + k];
      out[i * C + j] = s;
    }
  }
  return out;
}
