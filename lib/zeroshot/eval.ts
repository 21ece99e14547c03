/**
 * Zero-shot classification: nearest-label prediction by cosine (with an optional CSLS hubness
 * penalty), per-class accuracy and confusion matrices, ConSE (Norouzi et al. 2014), and the
 * label-mapping ceiling of a visual model. Full-vocabulary hit@k lives in `vocab.ts`, the
 * seen/unseen split in `gzsl.ts`.
 *
 * @example
 * ```ts
 * const pred = nearestLabel(embedded, dim, labelVecs.data);
 * const report = classificationReport(labels, pred, 10);
 * const svg = confusionSvg(report, CIFAR10_NAMES, "CIFAR-10 zero-shot");
 * ```
 * @module
 */
import { heatmapSvg } from "../report/svg.ts";
import { meanOfDefined } from "../io/stats.ts";

/** Accuracy figures for one labelled prediction set. */
export interface ClassificationReport {
  /** Predicted class per example. */
  predictions: Int32Array;
  /** `confusion[true][predicted]` counts. */
  confusion: number[][];
  /** Accuracy per true class (NaN for classes with no examples). */
  perClassAccuracy: number[];
  /** Mean of the per-class accuracies over classes with examples. */
  meanAccuracy: number;
  /** Fraction of all examples correct. */
  accuracy: number;
}

/**
 * For each embedded row (`n * dim`), the index of the label vector (`C * dim`) with the highest
 * cosine, less `penalty[label]` when given (see {@link cslsPenalty}). `candidates` restricts the
 * choice (ids into the full label list). All-zero label rows (labels without a vector) are never
 * predicted.
 *
 * @example
 * ```ts
 * nearestLabel(new Float32Array([1, 0]), 2, new Float32Array([0, 1, 1, 0])); // [1]
 * ```
 */
export function nearestLabel(
  embedded: Float32Array,
  dim: number,
  labelVectors: Float32Array,
  candidates?: readonly number[],
  penalty?: Float32Array,
): Int32Array {
  const numLabels = labelVectors.length / dim;
  const ids = candidates ?? Array.from({ length: numLabels }, (_, i) => i);
  const inv = ids.map((c) => _invNorm(labelVectors, c, dim));
  const n = embedded.length / dim;
  const out = new Int32Array(n).fill(-1);
  for (let i = 0; i < n; i++) {
    // Without a penalty the query's norm cannot change the argmax, so it is skipped.
    const invQuery = penalty ? _invNorm(embedded, i, dim) : 1;
    let best = -Infinity;
    for (let c = 0; c < ids.length; c++) {
      if (inv[c] === 0) continue;
      let dot = 0;
      const lo = ids[c] * dim, eo = i * dim;
      for (let j = 0; j < dim; j++) dot += embedded[eo + j] * labelVectors[lo + j];
      const score = dot * inv[c] * invQuery - (penalty ? penalty[ids[c]] : 0);
      if (score > best) {
        best = score;
        out[i] = ids[c];
      }
    }
  }
  return out;
}

/**
 * Hubness penalty in the spirit of CSLS (Conneau et al. 2018), from label vectors alone: for each
 * target label, `weight` times the mean cosine to its `k` nearest source labels (the labels the
 * visual model was trained on). Target labels that sit close to many training labels ("hubs")
 * attract predictions of every kind; subtracting the penalty from the cosine evens that out.
 * `weight = 0.5` is CSLS's `2·cos − r` rescaled; no image and no target label is used.
 *
 * @example
 * ```ts
 * const penalty = cslsPenalty(cifar10Vecs, cifar100Vecs, 100, 10, 1);
 * nearestLabel(embedded, 100, cifar10Vecs, undefined, penalty);
 * ```
 */
export function cslsPenalty(
  targets: Float32Array,
  sources: Float32Array,
  dim: number,
  k: number,
  weight = 1,
): Float32Array {
  const numTargets = targets.length / dim, numSources = sources.length / dim;
  if (!Number.isInteger(k) || k < 1 || k > numSources) {
    throw new Error(`CSLS k must be 1..${numSources} (source labels), got ${k}`);
  }
  const sourceInv = Array.from({ length: numSources }, (_, s) => _invNorm(sources, s, dim));
  const out = new Float32Array(numTargets);
  for (let t = 0; t < numTargets; t++) {
    const tInv = _invNorm(targets, t, dim);
    const cos = new Float64Array(numSources);
    for (let s = 0; s < numSources; s++) {
      let dot = 0;
      for (let j = 0; j < dim; j++) dot += targets[t * dim + j] * sources[s * dim + j];
      cos[s] = dot * tInv * sourceInv[s];
    }
    cos.sort();
    let sum = 0;
    for (let r = numSources - k; r < numSources; r++) sum += cos[r];
    out[t] = (weight * sum) / k;
  }
  return out;
}

/**
 * Cosine of every embedded row (`n * dim`) with every label vector (`C * dim`): `n * C` scores,
 * row-major (0 against an all-zero label row).
 *
 * @example
 * ```ts
 * labelCosines(new Float32Array([1, 0]), 2, new Float32Array([0, 1, 2, 0])); // [0, 1]
 * ```
 */
export function labelCosines(
  embedded: Float32Array,
  dim: number,
  labelVectors: Float32Array,
): Float32Array {
  const n = embedded.length / dim, C = labelVectors.length / dim;
  const inv = Array.from({ length: C }, (_, c) => _invNorm(labelVectors, c, dim));
  const out = new Float32Array(n * C);
  for (let i = 0; i < n; i++) {
    const invQuery = _invNorm(embedded, i, dim);
    for (let c = 0; c < C; c++) {
      let dot = 0;
      for (let j = 0; j < dim; j++) dot += embedded[i * dim + j] * labelVectors[c * dim + j];
      out[i * C + c] = dot * inv[c] * invQuery;
    }
  }
  return out;
}

/**
 * The class of highest combined score per row, the score sets (each `n * C`, e.g. the label
 * cosines of two maps) first standardised per row (mean 0, standard deviation 1 over the `C`
 * classes) so that neither set wins by its scale alone: DeViSE's cosines to the labels are a
 * tenth of ConSE's. No weight to tune: every set counts the same.
 *
 * @example
 * ```ts
 * // The first set ranks class 0 first, the second class 1, further ahead of its rest.
 * ensembleArgmax([Float32Array.of(0.12, 0.1, 0.08), Float32Array.of(0.2, 0.9, 0.1)], 1, 3); // [1]
 * ```
 */
export function ensembleArgmax(
  scoreSets: readonly Float32Array[],
  n: number,
  C: number,
): Int32Array {
  for (const s of scoreSets) {
    if (s.length !== n * C) throw new Error(`ensembleArgmax: ${s.length} scores are not ${n}×${C}`);
  }
  const standardized = scoreSets.map((s) => standardizedRows(s, n, C));
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0, bestSum = -Infinity;
    for (let c = 0; c < C; c++) {
      let sum = 0;
      for (const z of standardized) sum += z[i * C + c];
      if (sum > bestSum) [best, bestSum] = [c, sum];
    }
    out[i] = best;
  }
  return out;
}

/**
 * `scores` (`n * C`) standardised per row: mean 0 and standard deviation 1 over the `C` classes
 * (a constant row becomes all zeros).
 *
 * @example
 * ```ts
 * standardizedRows(Float32Array.of(1, 3), 1, 2); // [-1, 1]
 * ```
 */
export function standardizedRows(scores: Float32Array, n: number, C: number): Float32Array {
  const out = new Float32Array(n * C);
  for (let i = 0; i < n; i++) {
    let mean = 0, sq = 0;
    for (let c = 0; c < C; c++) mean += scores[i * C + c];
    mean /= C;
    for (let c = 0; c < C; c++) sq += (scores[i * C + c] - mean) ** 2;
    const inv = sq > 0 ? 1 / Math.sqrt(sq / C) : 0;
    for (let c = 0; c < C; c++) out[i * C + c] = (scores[i * C + c] - mean) * inv;
  }
  return out;
}

/**
 * Transductive prediction under a known class prior: every class receives its share of the `n`
 * examples (`n / C`, the first `n mod C` classes one more), and within that constraint the total
 * score is as high as it can be made. Solved in the dual: each class gets a price, each example
 * takes the class of highest `score − price`, and each price in turn is set so that exactly its
 * share of examples prefers it (Gauss–Seidel over the classes, until every class has its share:
 * then the assignment is optimal; or `maxSweeps`). No parameter; it uses all test examples at
 * once and the assumption that classes are equally large (true of CIFAR-10's test set), so its
 * accuracy is not an inductive zero-shot result.
 *
 * @example
 * ```ts
 * // Both rows prefer class 0; balanced, the row with the larger margin keeps it.
 * balancedAssignment(Float32Array.of(0.9, 0.1, 0.8, 0.6), 2, 2); // [0, 1]
 * ```
 */
export function balancedAssignment(
  scores: Float32Array,
  n: number,
  C: number,
  maxSweeps = 200,
): Int32Array {
  if (!(C >= 1) || scores.length !== n * C) {
    throw new Error(`balancedAssignment: ${scores.length} scores are not ${n} rows of ${C}`);
  }
  const share = (c: number) => Math.floor(n / C) + (c < n % C ? 1 : 0);
  const price = new Float64Array(C);
  const pick = new Int32Array(n);
  const margin = new Float64Array(n);
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    for (let c = 0; c < C; c++) {
      // How much more than its best alternative each example gains from class c.
      for (let i = 0; i < n; i++) {
        let other = -Infinity;
        for (let k = 0; k < C; k++) {
          if (k !== c) other = Math.max(other, scores[i * C + k] - price[k]);
        }
        margin[i] = scores[i * C + c] - other;
      }
      const sorted = Float64Array.from(margin).sort().reverse();
      const q = share(c);
      // Between the q-th and (q+1)-th largest margin: exactly q examples prefer c.
      const hi = q > 0 ? sorted[q - 1] : sorted[0] + 1;
      const lo = q < n ? sorted[q] : sorted[n - 1] - 1;
      price[c] = (hi + lo) / 2;
    }
    const counts = new Int32Array(C);
    for (let i = 0; i < n; i++) {
      let best = 0, bestScore = -Infinity;
      for (let k = 0; k < C; k++) {
        const v = scores[i * C + k] - price[k];
        if (v > bestScore) [best, bestScore] = [k, v];
      }
      pick[i] = best;
      counts[best]++;
    }
    // Every example at its best class under the prices and every class at its share: optimal.
    if (counts.every((m, c) => m === share(c))) break;
  }
  return pick;
}

// 1/‖row‖ of row `r` (0 for an all-zero row).
function _invNorm(rows: Float32Array, r: number, dim: number): number {
  let s = 0;
  for (let j = 0; j < dim; j++) s += rows[r * dim + j] ** 2;
  return s > 0 ? 1 / Math.sqrt(s) : 0;
}

/**
 * Confusion matrix, per-class and mean accuracy of `predictions` against `labels`.
 *
 * @example
 * ```ts
 * classificationReport(Int32Array.of(0, 0, 1), Int32Array.of(0, 1, 1), 2).meanAccuracy; // 0.75
 * ```
 */
export function classificationReport(
  labels: Int32Array,
  predictions: Int32Array,
  numClasses: number,
): ClassificationReport {
  if (labels.length !== predictions.length) {
    throw new Error(`${labels.length} labels but ${predictions.length} predictions`);
  }
  const confusion = Array.from({ length: numClasses }, () => new Array(numClasses).fill(0));
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i], p = predictions[i];
    if (y < 0 || y >= numClasses) {
      throw new Error(`label ${y} at example ${i} outside 0..${numClasses - 1}`);
    }
    if (p >= 0 && p < numClasses) confusion[y][p]++;
    if (p === y) correct++;
  }
  const perClassAccuracy = confusion.map((row, c) => {
    const total = row.reduce((a, b) => a + b, 0) + _unplaced(labels, predictions, c, numClasses);
    return total === 0 ? NaN : row[c] / total;
  });
  return {
    predictions,
    confusion,
    perClassAccuracy,
    meanAccuracy: meanOfDefined(perClassAccuracy),
    accuracy: labels.length === 0 ? NaN : correct / labels.length,
  };
}

/**
 * The confusion matrix as an SVG heatmap (rows = true class, columns = predicted).
 *
 * @example
 * ```ts
 * await Deno.writeTextFile("confusion.svg", confusionSvg(report, names, "zero-shot"));
 * ```
 */
export function confusionSvg(
  report: ClassificationReport,
  classNames: readonly string[],
  title: string,
): string {
  return heatmapSvg({
    title,
    rowLabels: [...classNames],
    colLabels: [...classNames],
    values: report.confusion,
  });
}

/**
 * ConSE embeddings: for each row of softmax `probs` (`n * C`), the convex combination of the
 * label vectors of its top-`T` classes, `sum_t p_t s(y_t) / sum_t p_t` (`n * dim`).
 *
 * @example
 * ```ts
 * const emb = conseEmbed(probs, 100, cifar100Vecs, 300, 10);
 * const pred = nearestLabel(emb, 300, cifar10Vecs);
 * ```
 */
export function conseEmbed(
  probs: Float32Array,
  numClasses: number,
  labelVectors: Float32Array,
  dim: number,
  topT = 10,
): Float32Array {
  if (labelVectors.length !== numClasses * dim) {
    throw new Error(`label vectors hold ${labelVectors.length} values, want ${numClasses}x${dim}`);
  }
  const n = probs.length / numClasses;
  const out = new Float32Array(n * dim);
  const t = Math.min(topT, numClasses);
  for (let i = 0; i < n; i++) {
    const row = probs.subarray(i * numClasses, (i + 1) * numClasses);
    const top = Array.from(row.keys()).sort((a, b) => row[b] - row[a] || a - b).slice(0, t);
    let z = 0;
    for (const c of top) {
      z += row[c];
      for (let j = 0; j < dim; j++) out[i * dim + j] += row[c] * labelVectors[c * dim + j];
    }
    if (z > 0) { for (let j = 0; j < dim; j++) out[i * dim + j] /= z; }
  }
  return out;
}

/**
 * DeViSE's own label weights for ConSE: per row of embeddings `e` (`n * dim`), the softmax of its
 * scores against the C label vectors at temperature τ, `p_j ∝ exp(t_j·e / τ)` (`n * C`).
 * DeViSE's hinge loss only ranks the labels, so e itself lies far from them (GloVe `gap` map of the
 * cpu model: mean cosine 0.079 to the true label, 0.473 to the nearest of 400,000 words);
 * mixing the label vectors with these weights (`conseEmbed`) puts it back among them.
 *
 * @example
 * ```ts
 * const p = deviseLabelProbs(deviseEmb, 300, cifar100Vecs, 0.1);
 * const emb = conseEmbed(p, 100, cifar100Vecs, 300, 10);
 * ```
 */
export function deviseLabelProbs(
  embedded: Float32Array,
  dim: number,
  labelVectors: Float32Array,
  temperature: number,
): Float32Array {
  const C = labelVectors.length / dim, n = embedded.length / dim;
  if (!Number.isInteger(C) || !Number.isInteger(n)) {
    throw new Error(
      `deviseLabelProbs: ${embedded.length} / ${labelVectors.length} values, dim ${dim}`,
    );
  }
  if (!(temperature > 0)) throw new Error(`deviseLabelProbs: temperature ${temperature} ≤ 0`);
  const out = new Float32Array(n * C);
  const s = new Float64Array(C);
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let c = 0; c < C; c++) {
      let dot = 0;
      for (let j = 0; j < dim; j++) dot += embedded[i * dim + j] * labelVectors[c * dim + j];
      s[c] = dot / temperature;
      if (s[c] > max) max = s[c];
    }
    let z = 0;
    for (let c = 0; c < C; c++) z += s[c] = Math.exp(s[c] - max);
    for (let c = 0; c < C; c++) out[i * C + c] = s[c] / z;
  }
  return out;
}

// Examples of class c whose prediction fell outside the class range (e.g. -1): still misses.
function _unplaced(labels: Int32Array, predictions: Int32Array, c: number, numClasses: number) {
  let n = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === c && (predictions[i] < 0 || predictions[i] >= numClasses)) n++;
  }
  return n;
}
