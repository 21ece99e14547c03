/**
 * Ceilings of zero-shot CIFAR-10 from a CIFAR-100 visual model. Both read the CIFAR-10 test labels,
 * so they are bounds, never results: how much of the 10-way task this visual model's predictions
 * carry at all, whatever the word vectors.
 *
 * @example
 * ```ts
 * labelMappingCeiling(cifar10Probs, 100, cifar10.labels, 10).report.meanAccuracy; // top-1 map
 * softmaxReadoutCeiling(cifar10Probs, 100, cifar10.labels, 10).meanAccuracy; // whole softmax
 * ```
 * @module
 */
import { type ClassificationReport, classificationReport } from "./eval.ts";
import { Rng } from "../io/rng.ts";

/**
 * A ceiling, not a result: the mean per-class accuracy of the best fixed map from source classes
 * (the visual model's top-1 softmax prediction) to target classes, where each source class goes to
 * the target class most of its images carry. It reads the target labels, so no zero-shot method
 * may use it; it shows how much any semantic mapping (ConSE with T = 1, whatever the vectors) can
 * get out of this visual model.
 *
 * @example
 * ```ts
 * const { mapping, report } = labelMappingCeiling(cifar10Probs, 100, cifar10.labels, 10);
 * report.meanAccuracy; // e.g. 0.486
 * ```
 */
export function labelMappingCeiling(
  probs: Float32Array,
  numSource: number,
  labels: Int32Array,
  numTarget: number,
): { mapping: Int32Array; report: ClassificationReport } {
  if (probs.length !== labels.length * numSource) {
    throw new Error(`${probs.length} probabilities are not ${labels.length} rows of ${numSource}`);
  }
  const top1 = new Int32Array(labels.length);
  const counts = new Float64Array(numSource * numTarget);
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let c = 1; c < numSource; c++) {
      if (probs[i * numSource + c] > probs[i * numSource + best]) best = c;
    }
    top1[i] = best;
    // Weight by 1/class size so the map maximises mean per-class (not overall) accuracy.
    counts[best * numTarget + labels[i]] += 1;
  }
  const classSize = new Float64Array(numTarget);
  for (const y of labels) classSize[y]++;
  const mapping = new Int32Array(numSource);
  for (let s = 0; s < numSource; s++) {
    let best = 0, bestScore = -1;
    for (let t = 0; t < numTarget; t++) {
      const score = classSize[t] ? counts[s * numTarget + t] / classSize[t] : 0;
      if (score > bestScore) [best, bestScore] = [t, score];
    }
    mapping[s] = best;
  }
  const report = classificationReport(labels, top1.map((s) => mapping[s]), numTarget);
  return { mapping, report };
}

/**
 * A ceiling for methods that read the whole softmax (ConSE mixes the top T): the mean per-class
 * accuracy of a linear readout (multinomial logistic regression on standardised log-probabilities,
 * class-balanced) fit on the target labels, with `folds`-fold cross-fitting so that no image is
 * scored by a readout that saw its label. Full-batch gradient descent with momentum; seeded folds.
 *
 * @example
 * ```ts
 * softmaxReadoutCeiling(cifar10Probs, 100, cifar10.labels, 10).meanAccuracy; // e.g. 0.58
 * ```
 */
export function softmaxReadoutCeiling(
  probs: Float32Array,
  numSource: number,
  labels: Int32Array,
  numTarget: number,
  options: { folds?: number; iterations?: number; learningRate?: number; seed?: number } = {},
): ClassificationReport {
  const { folds = 2, iterations = 300, learningRate = 0.5, seed = 0 } = options;
  const n = labels.length, d = numSource;
  if (probs.length !== n * d) throw new Error(`${probs.length} probabilities are not ${n}x${d}`);
  const x = new Float32Array(n * d);
  for (let i = 0; i < x.length; i++) x[i] = Math.log(probs[i] + 1e-6);
  const fold = new Int32Array(n);
  new Rng(seed).permutation(n).forEach((row, rank) => (fold[row] = rank % folds));
  const predictions = new Int32Array(n);
  for (let f = 0; f < folds; f++) {
    const fit = [...fold.keys()].filter((i) => fold[i] !== f);
    const { mean, invStd } = _columnStats(x, d, fit);
    const z = (i: number, j: number) => (x[i * d + j] - mean[j]) * invStd[j];
    const w = _fitSoftmaxRegression(fit, z, labels, d, numTarget, iterations, learningRate);
    for (let i = 0; i < n; i++) {
      if (fold[i] !== f) continue;
      let best = 0, bestScore = -Infinity;
      for (let t = 0; t < numTarget; t++) {
        let s = w[d * numTarget + t];
        for (let j = 0; j < d; j++) s += z(i, j) * w[j * numTarget + t];
        if (s > bestScore) [best, bestScore] = [t, s];
      }
      predictions[i] = best;
    }
  }
  return classificationReport(labels, predictions, numTarget);
}

// Per-column mean and 1/std over `rows` (1 where a column is constant).
function _columnStats(x: Float32Array, d: number, rows: number[]) {
  const mean = new Float64Array(d), invStd = new Float64Array(d);
  for (const i of rows) for (let j = 0; j < d; j++) mean[j] += x[i * d + j] / rows.length;
  for (const i of rows) for (let j = 0; j < d; j++) invStd[j] += (x[i * d + j] - mean[j]) ** 2;
  for (let j = 0; j < d; j++) {
    const sd = Math.sqrt(invStd[j] / rows.length);
    invStd[j] = sd > 0 ? 1 / sd : 1;
  }
  return { mean, invStd };
}

// Weights (d + 1 rows of k: the last row is the bias) of class-balanced softmax regression.
function _fitSoftmaxRegression(
  rows: number[],
  z: (i: number, j: number) => number,
  labels: Int32Array,
  d: number,
  k: number,
  iterations: number,
  learningRate: number,
): Float64Array {
  const classSize = new Float64Array(k);
  for (const i of rows) classSize[labels[i]]++;
  const present = classSize.filter((c) => c > 0).length;
  // Dense copy of the standardised rows: the loop below reads them `iterations` times.
  const xs = new Float64Array(rows.length * d);
  rows.forEach((i, r) => {
    for (let j = 0; j < d; j++) xs[r * d + j] = z(i, j);
  });
  const w = new Float64Array((d + 1) * k), velocity = new Float64Array(w.length);
  const grad = new Float64Array(w.length), p = new Float64Array(k);
  for (let it = 0; it < iterations; it++) {
    grad.fill(0);
    for (let r = 0; r < rows.length; r++) {
      const y = labels[rows[r]];
      let max = -Infinity;
      for (let t = 0; t < k; t++) {
        let s = w[d * k + t];
        for (let j = 0; j < d; j++) s += xs[r * d + j] * w[j * k + t];
        p[t] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let t = 0; t < k; t++) sum += p[t] = Math.exp(p[t] - max);
      const weight = 1 / (classSize[y] * present);
      for (let t = 0; t < k; t++) {
        const g = weight * (p[t] / sum - (t === y ? 1 : 0));
        for (let j = 0; j < d; j++) grad[j * k + t] += g * xs[r * d + j];
        grad[d * k + t] += g;
      }
    }
    for (let q = 0; q < w.length; q++) {
      velocity[q] = 0.9 * velocity[q] - learningRate * grad[q];
      w[q] += velocity[q];
    }
  }
  return w;
}
