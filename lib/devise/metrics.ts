/**
 * Ranking metrics over score matrices (n×C, row-major; higher = better), shared by DeViSE
 * (dot products with label vectors) and the softmax baseline (probabilities).
 *
 * - flat hit@k: the true label is among the k highest-scoring labels.
 * - superclass-consistent errors: among top-1 mistakes, the fraction whose predicted class has
 *   the true class's CIFAR-100 superclass ("semantically reasonable" errors).
 * - hierarchical precision@k (2-level hierarchy): for each image, the fraction of its top-k
 *   predictions whose superclass equals the true class's superclass, averaged over images. This
 *   follows the spirit of Frome et al.'s hierarchical precision@k — credit for predictions in
 *   the true label's semantic neighbourhood — with CIFAR-100's 20 superclasses as the only
 *   neighbourhood level (the paper used ImageNet's WordNet tree). With k ≤ 5 a perfect ranking
 *   scores 1 (each superclass has 5 fine classes); for k > 5 the maximum is 5/k.
 *
 * @example
 * ```ts
 * const hits = hitAtK(scores, labels, 100, [1, 2, 5, 10]); // { "1": 0.41, "2": 0.55, ... }
 * const errs = superclassErrorRate(scores, labels, 100, fineToCoarse);
 * ```
 * @module
 */

/**
 * Indices of the k highest scores in each row (descending; ties broken by lower index).
 *
 * @example
 * ```ts
 * topK(new Float32Array([0.1, 0.9, 0.5]), 3, 2); // Int32Array [1, 2]
 * ```
 */
export function topK(scores: Float32Array, classes: number, k: number): Int32Array {
  const n = scores.length / classes;
  if (!Number.isInteger(n)) {
    throw new Error(`topK: ${scores.length} scores not a multiple of ${classes}`);
  }
  const kk = Math.min(k, classes);
  const out = new Int32Array(n * kk);
  const best = new Int32Array(kk);
  for (let i = 0; i < n; i++) {
    const row = i * classes;
    let filled = 0;
    for (let j = 0; j < classes; j++) {
      const s = scores[row + j];
      // Insertion into a small sorted list: k ≤ 10 in practice, so this beats a sort.
      let pos = filled;
      while (pos > 0 && s > scores[row + best[pos - 1]]) pos--;
      if (pos >= kk) continue;
      for (let q = Math.min(filled, kk - 1); q > pos; q--) best[q] = best[q - 1];
      best[pos] = j;
      if (filled < kk) filled++;
    }
    out.set(best.subarray(0, kk), i * kk);
  }
  return out;
}

function _check(scores: Float32Array, labels: Int32Array, classes: number): number {
  const n = labels.length;
  if (scores.length !== n * classes) {
    throw new Error(`metrics: ${scores.length} scores, expected ${n} rows × ${classes} classes`);
  }
  return n;
}

/**
 * Flat hit@k for each k: the fraction of rows whose label is in the top k.
 *
 * @example
 * ```ts
 * hitAtK(scores, labels, 100, [1, 5]); // { "1": 0.4, "5": 0.7 }
 * ```
 */
export function hitAtK(
  scores: Float32Array,
  labels: Int32Array,
  classes: number,
  ks: readonly number[] = [1, 2, 5, 10],
): Record<string, number> {
  const n = _check(scores, labels, classes);
  const kMax = Math.min(Math.max(...ks), classes);
  const top = topK(scores, classes, kMax);
  const out: Record<string, number> = {};
  for (const k of ks) {
    let hits = 0;
    for (let i = 0; i < n; i++) {
      for (let r = 0; r < Math.min(k, kMax); r++) {
        if (top[i * kMax + r] === labels[i]) {
          hits++;
          break;
        }
      }
    }
    out[String(k)] = n ? hits / n : 0;
  }
  return out;
}

/**
 * The fine→coarse map from parallel fine and coarse label arrays (e.g. CIFAR-100's train split).
 * Throws if one fine label appears with two coarse labels.
 *
 * @example
 * ```ts
 * const fineToCoarse = fineToCoarseMap(split.labels, split.coarseLabels!, 100);
 * ```
 */
export function fineToCoarseMap(fine: Int32Array, coarse: Int32Array, classes: number): Int32Array {
  if (fine.length !== coarse.length) {
    throw new Error(`fineToCoarseMap: ${fine.length} fine vs ${coarse.length} coarse labels`);
  }
  const map = new Int32Array(classes).fill(-1);
  for (let i = 0; i < fine.length; i++) {
    const f = fine[i];
    if (map[f] !== -1 && map[f] !== coarse[i]) {
      throw new Error(
        `fineToCoarseMap: fine label ${f} has coarse ${map[f]} and ${coarse[i]} (row ${i})`,
      );
    }
    map[f] = coarse[i];
  }
  return map;
}

/**
 * Superclass-consistent error rate: of the top-1 mistakes, the fraction whose predicted class
 * shares the true class's superclass. `errors` is the number of mistakes (rate is 0 if none).
 *
 * @example
 * ```ts
 * const { rate, errors } = superclassErrorRate(scores, labels, 100, fineToCoarse);
 * ```
 */
export function superclassErrorRate(
  scores: Float32Array,
  labels: Int32Array,
  classes: number,
  fineToCoarse: Int32Array,
): { rate: number; errors: number; consistent: number } {
  const n = _check(scores, labels, classes);
  const top = topK(scores, classes, 1);
  let errors = 0, consistent = 0;
  for (let i = 0; i < n; i++) {
    if (top[i] === labels[i]) continue;
    errors++;
    if (fineToCoarse[top[i]] === fineToCoarse[labels[i]]) consistent++;
  }
  return { rate: errors ? consistent / errors : 0, errors, consistent };
}

/**
 * Hierarchical precision@k over a 2-level hierarchy (see the module doc for the definition).
 *
 * @example
 * ```ts
 * hierarchicalPrecisionAtK(scores, labels, 100, fineToCoarse, [1, 2, 5, 10]);
 * ```
 */
export function hierarchicalPrecisionAtK(
  scores: Float32Array,
  labels: Int32Array,
  classes: number,
  fineToCoarse: Int32Array,
  ks: readonly number[] = [1, 2, 5, 10],
): Record<string, number> {
  const n = _check(scores, labels, classes);
  const kMax = Math.min(Math.max(...ks), classes);
  const top = topK(scores, classes, kMax);
  const out: Record<string, number> = {};
  for (const k of ks) {
    const kk = Math.min(k, kMax);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const want = fineToCoarse[labels[i]];
      let same = 0;
      for (let r = 0; r < kk; r++) if (fineToCoarse[top[i * kMax + r]] === want) same++;
      sum += same / kk;
    }
    out[String(k)] = n ? sum / n : 0;
  }
  return out;
}

/** One model's ranking metrics (fractions in [0, 1]), a row of the results tables. */
export interface ResultRow {
  model: string;
  /** hit@k by k ("1", "2", "5", "10"); for softmax these are top-k accuracies. */
  hit: Record<string, number>;
  /** Fraction of top-1 errors within the true superclass. */
  superclassErrorRate?: number;
  /** Hierarchical precision@k by k. */
  hierarchicalPrecision?: Record<string, number>;
}

/** The k of the results tables' hit@k and hP@k. */
export const RESULT_KS = [1, 2, 5, 10];

/**
 * hit@1/2/5/10 of an n×C score matrix and, when a fine→coarse map is given, the
 * superclass-consistent error rate and hP@k: the row every results table prints.
 *
 * @example
 * ```ts
 * const row = resultRow("DeViSE (act)", scores, test.labels, 100, fineToCoarse);
 * row.hit["1"]; // 0.626
 * ```
 */
export function resultRow(
  model: string,
  scores: Float32Array,
  labels: Int32Array,
  classes: number,
  fineToCoarse?: Int32Array | null,
): ResultRow {
  const row: ResultRow = { model, hit: hitAtK(scores, labels, classes, RESULT_KS) };
  if (fineToCoarse) {
    row.superclassErrorRate = superclassErrorRate(scores, labels, classes, fineToCoarse).rate;
    row.hierarchicalPrecision = hierarchicalPrecisionAtK(
      scores,
      labels,
      classes,
      fineToCoarse,
      RESULT_KS,
    );
  }
  return row;
}
