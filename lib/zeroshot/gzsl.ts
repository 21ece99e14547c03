/**
 * Seen/unseen split inside one label set (generalised zero-shot): a seeded or named choice of
 * held-out classes, K-way accuracy on them, and seen/unseen accuracy over all classes with their
 * harmonic mean.
 *
 * @example
 * ```ts
 * const unseen = chooseUnseen(100, 20, { seed: 1 });
 * const g = generalizedZeroShot(embedded, 100, labels, cifar100Vecs, unseen);
 * ```
 * @module
 */
import { Rng } from "../io/rng.ts";
import { classificationReport, meanOfDefined, nearestLabel } from "./eval.ts";

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
