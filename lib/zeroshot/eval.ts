/**
 * Zero-shot evaluation: nearest-label prediction by cosine, per-class accuracy and confusion
 * matrices, ConSE (Norouzi et al. 2014), full-vocabulary hit@k, and generalised zero-shot
 * (seen/unseen split, harmonic mean), and the label-mapping ceiling of a visual model.
 *
 * Hit rule for hit@k: a prediction is a hit when any of its top-k vocabulary words is one of
 * `labelEquivalents(trueLabel)` (the label, its `_`-joined phrase form, and its simple
 * singular/plural; see lib/text/labels.ts). The "unseen only" variant first removes from the
 * candidates every equivalent of the 100 CIFAR-100 training labels (except equivalents of the
 * true label itself, so a query is never denied its own answer), then takes the top k.
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
import { labelEquivalents } from "../text/labels.ts";
import { Rng } from "../io/rng.ts";
import type { Neighbors } from "./exact.ts";

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
 * A ceiling, not a result: the mean per-class accuracy of the best fixed map from source classes
 * (the visual model's top-1 softmax prediction) to target classes, where each source class goes to
 * the target class most of its images carry. It reads the target labels, so no zero-shot method
 * may use it; it shows how much any semantic mapping (ConSE with T = 1, whatever the vectors) can
 * get out of this visual model.
 *
 * @example
 * ```ts
 * const { mapping, report } = labelMappingCeiling(cifar10Probs, 100, cifar10.labels, 10);
 * report.meanAccuracy; // e.g. 0.48: zero-shot above that needs a better visual model
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
 * True when any of `words` is an equivalent of `trueLabel` (see the module doc's hit rule).
 *
 * @example
 * ```ts
 * isHit(["car", "trucks"], "truck"); // true
 * ```
 */
export function isHit(
  words: readonly string[],
  trueLabel: string,
  equivalents: (label: string) => string[] = labelEquivalents,
): boolean {
  const ok = new Set(equivalents(trueLabel));
  return words.some((w) => ok.has(w));
}

/**
 * Every equivalent of the given (seen) labels: the words the "unseen only" variant removes.
 *
 * @example
 * ```ts
 * seenWordSet(["apple"]).has("apples"); // true
 * ```
 */
export function seenWordSet(
  seenLabels: readonly string[],
  equivalents: (label: string) => string[] = labelEquivalents,
): Set<string> {
  return new Set(seenLabels.flatMap((l) => equivalents(l)));
}

/**
 * Top-k vocabulary words for one query via `search(query, k)` (HNSW or exact). With `exclude`,
 * those words are dropped (keeping equivalents of `trueLabel`) and the search repeated with a
 * larger k until k words remain or the vocabulary is exhausted.
 *
 * @example
 * ```ts
 * const words = topWords((q, k) => searchIndex(index, q, k, 100), vocab, query, 20);
 * ```
 */
export function topWords(
  search: (query: Float32Array, k: number) => Neighbors,
  vocabulary: readonly string[],
  query: Float32Array,
  k: number,
  exclude?: { words: Set<string>; trueLabel?: string; equivalents?: (l: string) => string[] },
): string[] {
  if (!exclude) return search(query, k).ids.map((id) => vocabulary[id]);
  const keep = new Set(
    exclude.trueLabel ? (exclude.equivalents ?? labelEquivalents)(exclude.trueLabel) : [],
  );
  for (let kq = k + 100;; kq *= 4) {
    const words = search(query, Math.min(kq, vocabulary.length)).ids
      .map((id) => vocabulary[id])
      .filter((w) => keep.has(w) || !exclude.words.has(w));
    if (words.length >= k || kq >= vocabulary.length) return words.slice(0, k);
  }
}

/**
 * hit@k for each k: the fraction of queries whose top-k words contain an equivalent of the true
 * label. `ranked[i]` must hold at least max(ks) words (fewer counts as misses beyond its length).
 *
 * @example
 * ```ts
 * hitAtK([["dog", "cats"]], ["cat"], [1, 2]); // { "1": 0, "2": 1 }
 * ```
 */
export function hitAtK(
  ranked: readonly string[][],
  trueLabels: readonly string[],
  ks: readonly number[] = [1, 2, 5, 10, 20],
  equivalents: (label: string) => string[] = labelEquivalents,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of ks) {
    let hits = 0;
    for (let i = 0; i < ranked.length; i++) {
      if (isHit(ranked[i].slice(0, k), trueLabels[i], equivalents)) hits++;
    }
    out[String(k)] = ranked.length === 0 ? NaN : hits / ranked.length;
  }
  return out;
}

/**
 * The held-out classes for `--unseen K`: a seeded choice of K of `numClasses` ids (sorted), or
 * the ids of `named` classes when given (unknown names throw).
 *
 * @example
 * ```ts
 * chooseUnseen(100, 20, { seed: 1 }); // 20 sorted class ids
 * chooseUnseen(100, 0, { named: ["apple"], names: CIFAR100_FINE_NAMES }); // [0]
 * ```
 */
export function chooseUnseen(
  numClasses: number,
  k: number,
  options: { seed?: number; named?: readonly string[]; names?: readonly string[] } = {},
): number[] {
  if (options.named && options.named.length > 0) {
    const names = options.names ?? [];
    return options.named.map((name) => {
      const id = names.indexOf(name);
      if (id < 0) throw new Error(`unseen class '${name}' is not a class name`);
      return id;
    }).sort((a, b) => a - b);
  }
  if (!Number.isInteger(k) || k < 1 || k >= numClasses) {
    throw new Error(`--unseen must be between 1 and ${numClasses - 1}, got ${k}`);
  }
  const perm = new Rng(options.seed ?? 0).permutation(numClasses);
  return Array.from(perm.subarray(0, k)).sort((a, b) => a - b);
}

/**
 * Generalised zero-shot figures over all classes: `unseenAccuracy` (K-way among unseen classes
 * only, on unseen-class examples), and with all classes as candidates the mean per-class accuracy
 * on seen and unseen classes and their harmonic mean. `penalty` (per label) is passed to
 * {@link nearestLabel} in both.
 *
 * @example
 * ```ts
 * const g = generalizedZeroShot(embedded, 300, labels, cifar100Vecs, unseen);
 * g.harmonicMean;
 * ```
 */
export function generalizedZeroShot(
  embedded: Float32Array,
  dim: number,
  labels: Int32Array,
  labelVectors: Float32Array,
  unseen: readonly number[],
  penalty?: Float32Array,
): {
  unseenAccuracy: number;
  seenAccuracy: number;
  unseenAllAccuracy: number;
  harmonicMean: number;
} {
  const numClasses = labelVectors.length / dim;
  const unseenSet = new Set(unseen);
  const rows = Array.from(labels.keys()).filter((i) => unseenSet.has(labels[i]));
  const sub = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => sub.set(embedded.subarray(r * dim, (r + 1) * dim), i * dim));
  const subLabels = Int32Array.from(rows.map((r) => labels[r]));
  const kWay = classificationReport(
    subLabels,
    nearestLabel(sub, dim, labelVectors, unseen, penalty),
    numClasses,
  );
  const all = classificationReport(
    labels,
    nearestLabel(embedded, dim, labelVectors, undefined, penalty),
    numClasses,
  );
  const pick = (want: boolean) =>
    meanOfDefined(all.perClassAccuracy.filter((_, c) => unseenSet.has(c) === want));
  const seenAccuracy = pick(false), unseenAllAccuracy = pick(true);
  return {
    unseenAccuracy: meanOfDefined(kWay.perClassAccuracy),
    seenAccuracy,
    unseenAllAccuracy,
    harmonicMean: harmonicMean(seenAccuracy, unseenAllAccuracy),
  };
}

/**
 * Harmonic mean `2ab / (a + b)` (0 when both are 0).
 *
 * @example
 * ```ts
 * harmonicMean(0.6, 0.2); // 0.3
 * ```
 */
export function harmonicMean(a: number, b: number): number {
  return a + b === 0 ? 0 : (2 * a * b) / (a + b);
}

/**
 * Mean of the finite values (NaN when none).
 *
 * @example
 * ```ts
 * meanOfDefined([1, NaN, 0]); // 0.5
 * ```
 */
export function meanOfDefined(xs: readonly number[]): number {
  const ok = xs.filter((x) => Number.isFinite(x));
  return ok.length === 0 ? NaN : ok.reduce((a, b) => a + b, 0) / ok.length;
}

// Examples of class c whose prediction fell outside the class range (e.g. -1): still misses.
function _unplaced(labels: Int32Array, predictions: Int32Array, c: number, numClasses: number) {
  let n = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === c && (predictions[i] < 0 || predictions[i] >= numClasses)) n++;
  }
  return n;
}
