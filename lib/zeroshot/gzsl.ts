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
import { takeRows } from "../io/rows.ts";
import { meanOfDefined } from "../io/stats.ts";
import { classificationReport, nearestLabel } from "./eval.ts";

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
  const sub = takeRows(embedded, dim, rows);
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

/** One point of {@link seenUnseenCurve}: accuracies when unseen scores are raised by `gamma`. */
export interface SeenUnseenPoint {
  gamma: number;
  seen: number;
  unseen: number;
}

/**
 * The seen–unseen accuracy curve of calibrated stacking (Chao et al. 2016): every class is a
 * candidate, and the unseen classes' cosines are raised by `gamma` from −∞ (all predictions seen)
 * to +∞ (all unseen). Its area (AUSUC, in [0, 1]) measures generalised zero-shot without choosing
 * `gamma`; `best` is the point of highest harmonic mean, which picks `gamma` on the test labels
 * themselves and is therefore a ceiling, not a result. `penalty` is subtracted per label as in
 * {@link nearestLabel}.
 *
 * @example
 * ```ts
 * const { ausuc, best } = seenUnseenCurve(embedded, 100, labels, cifar100Vecs, unseen);
 * ```
 */
export function seenUnseenCurve(
  embedded: Float32Array,
  dim: number,
  labels: Int32Array,
  labelVectors: Float32Array,
  unseen: readonly number[],
  penalty?: Float32Array,
): { points: SeenUnseenPoint[]; ausuc: number; best: SeenUnseenPoint & { harmonicMean: number } } {
  const numClasses = labelVectors.length / dim;
  const isUnseen = new Uint8Array(numClasses);
  for (const c of unseen) isUnseen[c] = 1;
  const all = Array.from({ length: numClasses }, (_, c) => c);
  const seenIds = all.filter((c) => !isUnseen[c]), unseenIds = all.filter((c) => isUnseen[c]);
  const bestSeen = nearestLabel(embedded, dim, labelVectors, seenIds, penalty);
  const bestUnseen = nearestLabel(embedded, dim, labelVectors, unseenIds, penalty);
  const perClass = new Float64Array(numClasses);
  for (const y of labels) perClass[y]++;
  const groupSize = (ids: number[]) => ids.filter((c) => perClass[c] > 0).length;
  const seenClasses = groupSize(seenIds), unseenClasses = groupSize(unseenIds);
  // Image i switches from its best seen to its best unseen class once gamma passes
  // d_i = score(best seen) − score(best unseen); only correct switches move the curve.
  const events: { at: number; seen: number; unseen: number }[] = [];
  let seen = 0;
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    const gain = 1 / perClass[y];
    const seenHit = !isUnseen[y] && bestSeen[i] === y ? gain / seenClasses : 0;
    const unseenHit = isUnseen[y] && bestUnseen[i] === y ? gain / unseenClasses : 0;
    seen += seenHit;
    if (seenHit || unseenHit) {
      const at = _score(embedded, i, labelVectors, bestSeen[i], dim, penalty) -
        _score(embedded, i, labelVectors, bestUnseen[i], dim, penalty);
      events.push({ at, seen: -seenHit, unseen: unseenHit });
    }
  }
  events.sort((a, b) => a.at - b.at);
  const points: SeenUnseenPoint[] = [{ gamma: -Infinity, seen, unseen: 0 }];
  let unseenAcc = 0;
  for (let e = 0; e < events.length; e++) {
    seen += events[e].seen;
    unseenAcc += events[e].unseen;
    if (e + 1 < events.length && events[e + 1].at === events[e].at) continue; // ties: one step
    points.push({ gamma: events[e].at, seen: Math.max(0, seen), unseen: unseenAcc });
  }
  let ausuc = 0;
  for (let p = 1; p < points.length; p++) {
    const [a, b] = [points[p - 1], points[p]];
    ausuc += (b.unseen - a.unseen) * (a.seen + b.seen) / 2;
  }
  const best = points.map((p) => ({ ...p, harmonicMean: harmonicMean(p.seen, p.unseen) }))
    .reduce((a, b) => (b.harmonicMean > a.harmonicMean ? b : a));
  return { points, ausuc, best };
}

// Cosine of row i with label c, less its penalty (the score nearestLabel maximises).
function _score(
  embedded: Float32Array,
  i: number,
  labelVectors: Float32Array,
  c: number,
  dim: number,
  penalty?: Float32Array,
): number {
  let dot = 0, qq = 0, ll = 0;
  for (let j = 0; j < dim; j++) {
    const q = embedded[i * dim + j], l = labelVectors[c * dim + j];
    dot += q * l;
    qq += q * q;
    ll += l * l;
  }
  return (qq && ll ? dot / Math.sqrt(qq * ll) : 0) - (penalty ? penalty[c] : 0);
}

/**
 * The calibration `gamma` of calibrated stacking, chosen on a validation curve (Chao et al. 2016
 * pick it on held-out seen classes, never on the test): the middle of the step of
 * {@link seenUnseenCurve} with the highest harmonic mean, so that images on either edge of that
 * step fall the way the curve counted them.
 *
 * @example
 * ```ts
 * const gamma = calibrationGamma(seenUnseenCurve(valEmbedded, 100, valLabels, vecs, pseudoUnseen));
 * generalizedZeroShot(testEmbedded, 100, labels, vecs, unseen, unseenBoost(100, unseen, gamma));
 * ```
 */
export function calibrationGamma(curve: { points: SeenUnseenPoint[] }): number {
  const { points } = curve;
  let p = 0;
  for (let i = 1; i < points.length; i++) {
    const h = (q: SeenUnseenPoint) => harmonicMean(q.seen, q.unseen);
    if (h(points[i]) > h(points[p])) p = i;
  }
  // Step p holds for gamma in [points[p].gamma, points[p + 1].gamma); the ends are open.
  const lo = points[p].gamma, hi = points[p + 1]?.gamma ?? Infinity;
  if (lo === -Infinity) return Number.isFinite(hi) ? hi - 1e-3 : 0;
  if (hi === Infinity) return lo + 1e-3;
  return (lo + hi) / 2;
}

/**
 * A per-label penalty (as taken by {@link generalizedZeroShot} and `nearestLabel`) that raises the
 * `unseen` labels' scores by `gamma` on top of an optional `base` penalty (CSLS).
 *
 * @example
 * ```ts
 * unseenBoost(3, [2], 0.1); // Float32Array [0, 0, -0.1]
 * ```
 */
export function unseenBoost(
  numClasses: number,
  unseen: readonly number[],
  gamma: number,
  base?: Float32Array,
): Float32Array {
  const out = base ? Float32Array.from(base) : new Float32Array(numClasses);
  for (const c of unseen) out[c] -= gamma;
  return out;
}

/**
 * Whether a visual model trained without the classes `excluded` (its `pretrain --unseen`) never
 * saw the `unseen` classes: true when the two sets are equal, false when it held out nothing (it
 * saw every class, so unseen-class features are privileged); a different non-empty set throws,
 * since the experiment would then mix classes it saw and did not see.
 *
 * @example
 * ```ts
 * visualNeverSaw([3, 7], [7, 3], names); // true
 * visualNeverSaw([], [3, 7], names); // false
 * ```
 */
export function visualNeverSaw(
  excluded: readonly number[],
  unseen: readonly number[],
  names: readonly string[],
): boolean {
  if (excluded.length === 0) return false;
  const a = [...excluded].sort((x, y) => x - y), b = [...unseen].sort((x, y) => x - y);
  if (a.length === b.length && a.every((c, i) => c === b[i])) return true;
  const list = (ids: number[]) => ids.map((c) => names[c] ?? c).join(", ");
  throw new Error(
    `the visual model was trained without ${list(a)}, but the unseen classes are ${list(b)}: ` +
      "use the same --unseen K (or --unseen-names) and --seed as its pretrain run",
  );
}
