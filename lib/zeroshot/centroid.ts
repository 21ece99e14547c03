/**
 * The component DeViSE's map cannot learn, put back before an open-vocabulary search.
 *
 * The hinge rank loss sees an image embedding `Mv` only through `(t_j − t_y)·Mv`, differences of
 * seen-label vectors. What the seen labels share (their centroid `c`, `|c|` 0.54–0.68 for GloVe
 * and ours) cancels in every difference, so M leaves the embedding's component along `c` unset,
 * near zero (`zeroshot` logs its mean cosine: 0.01–0.04 on CIFAR-10 so far). Common concrete
 * nouns carry that component and GloVe's rare tokens do not, so among 400,000 words the raw
 * embedding's neighbours are rare tokens. Restoring it gives each embedding the labels' own share
 * of `c` and keeps the part M did learn.
 *
 * @example
 * ```ts
 * const centroid = labelCentroid(source.data, D);
 * const queries = withLabelCentroid(deviseEmbedded, D, centroid);
 * ```
 * @module
 */
import { normalizeRows } from "../text/vectors.ts";

/** The seen labels' centroid: its unit direction and its length (the mean of unit rows). */
export interface LabelCentroid {
  /** Unit vector along the centroid, `D` values. */
  direction: Float32Array;
  /** The centroid's length: the unit labels' mean cosine to `direction`, in [0, 1]. */
  length: number;
}

/**
 * The centroid of the seen labels' vectors (`C * D`, each row normalised first).
 *
 * @example
 * ```ts
 * labelCentroid(Float32Array.of(1, 0, 0, 1), 2); // direction [0.707, 0.707], length 0.707
 * ```
 */
export function labelCentroid(labelData: Float32Array, D: number): LabelCentroid {
  const C = labelData.length / D;
  if (!Number.isInteger(C) || C === 0) {
    throw new Error(`labelCentroid: ${labelData.length} values are not rows of ${D}`);
  }
  const unit = normalizeRows(labelData.slice(), D);
  const sum = new Float64Array(D);
  for (let i = 0; i < C; i++) for (let j = 0; j < D; j++) sum[j] += unit[i * D + j];
  const norm = Math.hypot(...sum);
  if (norm === 0) throw new Error("labelCentroid: the label vectors sum to zero");
  return { direction: Float32Array.from(sum, (s) => s / norm), length: norm / C };
}

/**
 * Each embedding (`n * D`) as a unit vector whose cosine to the centroid is the centroid's length
 * (what an average seen label has) and whose remaining part points where the embedding's part
 * orthogonal to the centroid points: `q' = √(1 − |c|²)·unit(q − (q·ĉ)ĉ) + |c|·ĉ`. Nothing is
 * tuned. An embedding along the centroid alone becomes the centroid's direction.
 *
 * @example
 * ```ts
 * const c = { direction: Float32Array.of(0, 1), length: 0.6 };
 * withLabelCentroid(Float32Array.of(2, 0), 2, c); // [0.8, 0.6]
 * ```
 */
export function withLabelCentroid(
  embedded: Float32Array,
  D: number,
  centroid: LabelCentroid,
): Float32Array {
  const { direction: c, length } = centroid;
  if (c.length !== D) {
    throw new Error(`withLabelCentroid: centroid has ${c.length} values, not ${D}`);
  }
  const n = embedded.length / D;
  if (!Number.isInteger(n)) {
    throw new Error(`withLabelCentroid: ${embedded.length} values are not rows of ${D}`);
  }
  const rest = Math.sqrt(Math.max(0, 1 - length * length));
  const out = new Float32Array(embedded.length);
  for (let i = 0; i < n; i++) {
    const o = i * D;
    let along = 0;
    for (let j = 0; j < D; j++) along += embedded[o + j] * c[j];
    let n2 = 0, total = 0;
    for (let j = 0; j < D; j++) {
      n2 += (embedded[o + j] - along * c[j]) ** 2;
      total += embedded[o + j] ** 2;
    }
    // An orthogonal part at rounding level has no direction to keep.
    const has = n2 > 1e-10 * total;
    const scale = has ? rest / Math.sqrt(n2) : 0;
    const share = has ? length : 1;
    for (let j = 0; j < D; j++) {
      out[o + j] = (embedded[o + j] - along * c[j]) * scale + share * c[j];
    }
  }
  return out;
}

/**
 * The mean cosine of the rows of `embedded` (`n * D`) to a unit `direction`: how much of the
 * centroid's component the embeddings carry (near 0 for a DeViSE map, `length` for the labels).
 *
 * @example
 * ```ts
 * meanCosineTo(Float32Array.of(3, 0, 1, 1), 2, Float32Array.of(1, 0)); // (1 + 0.707) / 2
 * ```
 */
export function meanCosineTo(embedded: Float32Array, D: number, direction: Float32Array): number {
  const n = embedded.length / D;
  if (direction.length !== D) {
    throw new Error(`meanCosineTo: direction has ${direction.length} values, not ${D}`);
  }
  if (!Number.isInteger(n) || n === 0) {
    throw new Error(`meanCosineTo: ${embedded.length} values are not rows of ${D}`);
  }
  let sum = 0;
  for (let i = 0; i < n; i++) {
    let along = 0, norm = 0;
    for (let j = 0; j < D; j++) {
      along += embedded[i * D + j] * direction[j];
      norm += embedded[i * D + j] ** 2;
    }
    if (norm > 0) sum += along / Math.sqrt(norm);
  }
  return sum / n;
}
