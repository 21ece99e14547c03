/**
 * Label expansion: a candidate label's vector is replaced by the mean of its own unit vector and
 * the unit vectors of its k nearest vocabulary words (query expansion in word space). A single
 * word's vector is a noisy estimate of where images of its class embed; its neighbours ("auto",
 * "car", "motor", … for `automobile`) average part of that noise out. Only the label names and the
 * vocabulary are read, no image; k is chosen on held-out CIFAR-100 classes
 * (lib/pipeline/label_expansion.ts), never on the target set.
 *
 * @example
 * ```ts
 * const near = labelNeighbours(words, labels, 50);
 * const expanded = expandedLabelVectors(words, labels.data, near, 20);
 * nearestLabel(deviseEmbedded, words.dim, expanded); // 10-way with expanded labels
 * ```
 * @module
 */
import type { LabelVectors } from "../text/labels.ts";
import type { WordVectors } from "../text/vectors.ts";
import { exactTopKBatch, normalizeRows } from "./exact.ts";

/**
 * The `maxK` nearest vocabulary rows (by cosine, nearest first) of every label, leaving out the
 * words any label of the set was made of (the word itself, or a phrase's parts): a label is not
 * expanded with itself, nor towards a competing candidate (`cat` with `dog`).
 *
 * @example
 * ```ts
 * const near = labelNeighbours(words, labelVectors(words, ["automobile"]), 3);
 * near[0].map((r) => words.words[r]); // ["auto", "car", "motor"] with our default vectors
 * ```
 */
export function labelNeighbours(
  words: Pick<WordVectors, "data" | "dim" | "index">,
  labels: Pick<LabelVectors, "data" | "rules">,
  maxK: number,
): number[][] {
  const { dim } = words;
  const count = words.data.length / dim;
  if (!Number.isInteger(maxK) || maxK < 0) {
    throw new RangeError(`labelNeighbours: maxK must be a whole number ≥ 0, got ${maxK}`);
  }
  if (labels.data.length !== labels.rules.length * dim) {
    throw new RangeError(
      `labelNeighbours: ${labels.data.length} label values are not ${labels.rules.length} ` +
        `rows of ${dim}`,
    );
  }
  const taken = new Set(labels.rules.flatMap((r) => r.tokens.map((t) => words.index.get(t)!)));
  if (maxK > count - taken.size) {
    throw new RangeError(
      `labelNeighbours: ${maxK} neighbours asked of a vocabulary of ${count} words`,
    );
  }
  const unit = { dim, data: normalizeRows(words.data.slice(), dim) };
  return exactTopKBatch(unit, labels.data, maxK, (_q, id) => taken.has(id)).map((n) => n.ids);
}

/**
 * How much of an expanded label is the label itself: `"equal"` makes it one of the k + 1 unit
 * vectors summed (its share falls as 1 / (k + 1)); a number w in (0, 1] keeps w for the label and
 * gives the neighbours' mean 1 − w, so many neighbours can average noise without drowning the
 * label's own identity.
 */
export type LabelWeight = "equal" | number;

/**
 * Each label's unit vector plus the unit vectors of its first `k` neighbours (from
 * {@link labelNeighbours}), weighed by `labelWeight` and normalised: one row per label. `k = 0`
 * returns the labels unchanged (as unit rows).
 *
 * @example
 * ```ts
 * const expanded = expandedLabelVectors(words, labels.data, labelNeighbours(words, labels, 20), 20);
 * const half = expandedLabelVectors(words, labels.data, labelNeighbours(words, labels, 20), 20, 0.5);
 * ```
 */
export function expandedLabelVectors(
  words: Pick<WordVectors, "data" | "dim">,
  labelData: Float32Array,
  neighbours: number[][],
  k: number,
  labelWeight: LabelWeight = "equal",
): Float32Array {
  const { dim } = words;
  const C = labelData.length / dim;
  if (labelWeight !== "equal" && !(labelWeight > 0 && labelWeight <= 1)) {
    throw new RangeError(`expandedLabelVectors: labelWeight must be in (0, 1], got ${labelWeight}`);
  }
  // Scale of each neighbour's unit vector against the label's unit vector.
  const neighbourScale = labelWeight === "equal" || k === 0
    ? 1
    : (1 - labelWeight) / (labelWeight * k);
  if (neighbours.length !== C) {
    throw new RangeError(
      `expandedLabelVectors: ${neighbours.length} neighbour lists for ${C} labels`,
    );
  }
  if (neighbours.some((n) => n.length < k)) {
    throw new RangeError(
      `expandedLabelVectors: k ${k} but only ${Math.min(...neighbours.map((n) => n.length))} ` +
        `neighbours found`,
    );
  }
  const out = normalizeRows(labelData.slice(), dim);
  for (let c = 0; c < C; c++) {
    const row = out.subarray(c * dim, (c + 1) * dim);
    for (const w of neighbours[c].slice(0, k)) {
      const v = words.data.subarray(w * dim, (w + 1) * dim);
      let norm = 0;
      for (let j = 0; j < dim; j++) norm += v[j] * v[j];
      const inv = norm > 0 ? neighbourScale / Math.sqrt(norm) : 0;
      for (let j = 0; j < dim; j++) row[j] += v[j] * inv;
    }
  }
  return normalizeRows(out, dim);
}

/**
 * `k 10` for equal weights, `k 10 w 0.5` for a fixed label weight: how fits are logged and reported.
 *
 * @example
 * ```ts
 * labelExpansionName({ k: 20, labelWeight: 0.5 }); // "k 20 w 0.5"
 * ```
 */
export function labelExpansionName(fit: { k: number; labelWeight?: LabelWeight }): string {
  const w = fit.labelWeight ?? "equal";
  return `k ${fit.k}${w === "equal" || fit.k === 0 ? "" : ` w ${w}`}`;
}

/**
 * `3 epochs × 5 maps`: a DeViSE map as label expansion's fit chooses it (epochs trained, maps of
 * consecutive seeds averaged).
 *
 * @example
 * ```ts
 * deviseMapName({ epochs: 5, maps: 1 }); // "5 epochs"
 * ```
 */
export function deviseMapName(m: { epochs: number; maps: number }): string {
  return `${m.epochs} epoch${m.epochs === 1 ? "" : "s"}${m.maps > 1 ? ` × ${m.maps} maps` : ""}`;
}

/**
 * `3 epochs × 5 maps, k 10`: a fit or candidate as logged and reported (the map part only when
 * it was chosen, i.e. when `epochs` is there).
 *
 * @example
 * ```ts
 * labelExpansionChoiceName({ epochs: 5, maps: 1, k: 20, labelWeight: "equal" }); // "5 epochs, k 20"
 * ```
 */
export function labelExpansionChoiceName(
  c: { k: number; labelWeight?: LabelWeight; epochs?: number; maps?: number },
): string {
  if (c.epochs === undefined) return labelExpansionName(c);
  return `${deviseMapName({ epochs: c.epochs, maps: c.maps ?? 1 })}, ${labelExpansionName(c)}`;
}

/**
 * The best label rule of each map (epochs, maps) among `grid`'s candidates, by `accuracies`
 * (parallel to `grid`): `20 epochs, k 10 47.8%; 5 epochs × 5 maps, k 20 48.1%; …`.
 *
 * @example
 * ```ts
 * bestLabelRulePerMap(fit.byK, fit.byK.map((r) => r.meanAccuracy));
 * ```
 */
export function bestLabelRulePerMap(
  grid: readonly { k: number; labelWeight?: LabelWeight; epochs: number; maps: number }[],
  accuracies: readonly number[],
): string {
  const best = new Map<string, number>();
  grid.forEach((g, i) => {
    const key = `${g.epochs}/${g.maps}`;
    const b = best.get(key);
    if (b === undefined || accuracies[i] > accuracies[b]) best.set(key, i);
  });
  return [...best.values()].map((i) =>
    `${labelExpansionChoiceName(grid[i])} ${(100 * accuracies[i]).toFixed(1)}%`
  ).join("; ");
}
