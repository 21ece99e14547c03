/**
 * Zero-shot in the visual space (Shigeto et al. 2015, "Ridge regression, hubness, and zero-shot
 * learning"): instead of mapping images into word space (DeViSE), map word vectors into image
 * feature space. Each seen class has a prototype, the mean feature of its training images; kernel
 * ridge regression from the (unit) label vectors to the centred prototypes predicts a prototype
 * for any label with a vector, and an image takes the label whose predicted prototype has the
 * highest cosine with its centred feature. Mapping into the higher-dimensional, non-word space is
 * what the paper found to reduce hubness. One parameter, the ridge λ, chosen on CIFAR-100 classes
 * held out of the fit ({@link ridgeLambdaByHeldOutClasses}): no target image or label is read.
 * Optionally the cosine is taken after whitening by the seen classes' shared within-class
 * covariance ({@link withinClassWhitening}), which turns nearest prototype into the angle of a
 * Gaussian (LDA) classifier whose class means are predicted from words (cf. Verma & Rai 2017).
 *
 * @example
 * ```ts
 * const protos = classMeans(trainFeatures, F, trainLabels, 100);
 * const map = fitPrototypeMap(c100Vectors, D, protos, F, 1);
 * const scores = prototypeScores(testFeatures, map, predictPrototypes(map, c10Vectors));
 * ```
 * @module
 */
import { type ClassificationReport, classificationReport, ensembleArgmax } from "./eval.ts";
import { Rng } from "../io/rng.ts";
import { selfTrainedArgmax } from "./self_training.ts";
import { takeRows } from "../io/rows.ts";
import { normalizeRows } from "../text/vectors.ts";

/**
 * The mean feature row (`dim` wide) of each class that has rows: `classes` (ascending) and their
 * means, `classes.length * dim`.
 *
 * @example
 * ```ts
 * classMeans(Float32Array.of(1, 3, 7), 1, Int32Array.of(0, 0, 2), 3); // { classes: [0, 2], means: [2, 7] }
 * ```
 */
export function classMeans(
  features: Float32Array,
  dim: number,
  labels: Int32Array,
  numClasses: number,
): { classes: number[]; means: Float32Array } {
  if (features.length !== labels.length * dim) {
    throw new Error(
      `classMeans: ${features.length} values are not ${labels.length} rows of ${dim}`,
    );
  }
  const sum = new Float64Array(numClasses * dim), count = new Float64Array(numClasses);
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (!(y >= 0 && y < numClasses)) {
      throw new Error(`classMeans: label ${y} outside 0..${numClasses - 1}`);
    }
    count[y]++;
    for (let j = 0; j < dim; j++) sum[y * dim + j] += features[i * dim + j];
  }
  const classes = [...count.keys()].filter((c) => count[c] > 0);
  const means = new Float32Array(classes.length * dim);
  classes.forEach((c, k) => {
    for (let j = 0; j < dim; j++) means[k * dim + j] = sum[c * dim + j] / count[c];
  });
  return { classes, means };
}

/** A fitted map from label vectors to (centred) visual prototypes. */
export interface PrototypeMap {
  /** Unit-normalised source label vectors, `C * wordDim`. */
  sources: Float32Array;
  wordDim: number;
  /** `(K + λI)⁻¹ (U − center)`, `C * featureDim`: the dual coefficients. */
  coefficients: Float32Array;
  featureDim: number;
  /** Mean of the source prototypes; scores compare features centred on it. */
  center: Float32Array;
  lambda: number;
  /** `featureDim²` lower-triangular `L⁻¹` ({@link withinClassWhitening}) applied before the cosine. */
  whitening?: Float32Array;
}

/**
 * Kernel ridge regression (linear kernel on unit label vectors) from the `C` source label vectors
 * to their `C` prototypes, centred on the prototypes' mean: the primal ridge map `B = Tᵀ(TTᵀ +
 * λI)⁻¹U`, kept in its dual form since `C` (100) is smaller than the feature width.
 *
 * @example
 * ```ts
 * const map = fitPrototypeMap(labelVecs, 150, prototypes, 64, 1);
 * ```
 */
export function fitPrototypeMap(
  labelVectors: Float32Array,
  wordDim: number,
  prototypes: Float32Array,
  featureDim: number,
  lambda: number,
  whitening?: Float32Array,
): PrototypeMap {
  const C = labelVectors.length / wordDim;
  if (!Number.isInteger(C) || prototypes.length !== C * featureDim) {
    throw new Error(
      `fitPrototypeMap: ${labelVectors.length / wordDim} label vectors but ` +
        `${prototypes.length / featureDim} prototypes`,
    );
  }
  if (!(lambda > 0)) throw new Error(`fitPrototypeMap: λ must be > 0, got ${lambda}`);
  const sources = _unitRows(labelVectors, wordDim);
  const center = new Float32Array(featureDim);
  for (let c = 0; c < C; c++) {
    for (let j = 0; j < featureDim; j++) center[j] += prototypes[c * featureDim + j] / C;
  }
  const gram = new Float64Array(C * C);
  for (let a = 0; a < C; a++) {
    for (let b = 0; b <= a; b++) {
      const k = _dot(sources, a, sources, b, wordDim);
      gram[a * C + b] = gram[b * C + a] = k + (a === b ? lambda : 0);
    }
  }
  const rhs = new Float64Array(C * featureDim);
  for (let c = 0; c < C; c++) {
    for (let j = 0; j < featureDim; j++) {
      rhs[c * featureDim + j] = prototypes[c * featureDim + j] - center[j];
    }
  }
  const coefficients = Float32Array.from(_choleskySolve(gram, C, rhs, featureDim));
  if (whitening && whitening.length !== featureDim * featureDim) {
    throw new Error(`fitPrototypeMap: whitening is not ${featureDim}×${featureDim}`);
  }
  return { sources, wordDim, coefficients, featureDim, center, lambda, whitening };
}

/**
 * The centred prototypes the map predicts for `targets` (`T * wordDim` label vectors, any norm):
 * `T * featureDim`.
 *
 * @example
 * ```ts
 * const predicted = predictPrototypes(map, cifar10Vectors); // 10 * featureDim
 * ```
 */
export function predictPrototypes(map: PrototypeMap, targets: Float32Array): Float32Array {
  const { wordDim, featureDim, sources, coefficients } = map;
  const unit = _unitRows(targets, wordDim);
  const T = unit.length / wordDim, C = sources.length / wordDim;
  const out = new Float32Array(T * featureDim);
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < C; c++) {
      const k = _dot(unit, t, sources, c, wordDim);
      for (let j = 0; j < featureDim; j++) {
        out[t * featureDim + j] += k * coefficients[c * featureDim + j];
      }
    }
  }
  return out;
}

/**
 * Cosine of each feature row, centred on `map.center`, with each predicted (centred) prototype
 * (both whitened first when the map has a whitening): `n * T` scores, row-major, as
 * {@link ensembleArgmax} takes them.
 *
 * @example
 * ```ts
 * const scores = prototypeScores(features, map, predictPrototypes(map, targets));
 * ```
 */
export function prototypeScores(
  features: Float32Array,
  map: PrototypeMap,
  predicted: Float32Array,
): Float32Array {
  const F = map.featureDim;
  if (features.length % F) throw new Error(`prototypeScores: features are not rows of ${F}`);
  const n = features.length / F, T = predicted.length / F;
  const W = map.whitening;
  const protos = _unitRows(W ? _lowerTimesRows(W, predicted, F) : predicted, F);
  const out = new Float32Array(n * T);
  const centred = new Float32Array(F);
  const whitened = new Float32Array(F);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < F; j++) centred[j] = features[i * F + j] - map.center[j];
    const row = W ? _lowerTimesRows(W, centred, F, whitened) : centred;
    let sq = 0;
    for (let j = 0; j < F; j++) sq += row[j] * row[j];
    const inv = sq > 0 ? 1 / Math.sqrt(sq) : 0;
    for (let t = 0; t < T; t++) {
      let dot = 0;
      for (let j = 0; j < F; j++) dot += row[j] * protos[t * F + j];
      out[i * T + t] = dot * inv;
    }
  }
  return out;
}

/**
 * The span of a map's predicted prototypes, for searching many words at once: every predicted
 * prototype is a combination of the `C` coefficient rows, so it lies in their span (rank at most
 * `min(C, featureDim)`). Coordinates in an orthonormal basis of that span keep each prototype's
 * norm and its dot product with any feature, so the cosine of a word's coordinates
 * ({@link prototypeWordRows}) with an image's ({@link prototypeFeatureRows}) ranks words exactly as
 * {@link prototypeScores} does, in `rank` dimensions instead of `featureDim` (100, not 4,096, for
 * `act`): an HNSW index over a 400,000-word vocabulary's prototypes fits in memory.
 */
export interface PrototypeSpace {
  /** Orthonormal rows spanning the (whitened) coefficient rows, `rank * featureDim`. */
  basis: Float32Array;
  rank: number;
  /** Each (whitened) coefficient row in that basis, `C * rank`. */
  coordinates: Float32Array;
}

/**
 * The {@link PrototypeSpace} of a map: modified Gram–Schmidt (two passes, in float64) over its
 * coefficient rows, whitened first when the map whitens; directions with under 1e-6 of the
 * largest row's norm are dropped.
 *
 * @example
 * ```ts
 * const space = prototypeSpace(map);
 * const words = prototypeWordRows(map, space, vocabularyVectors); // N * space.rank
 * const images = prototypeFeatureRows(map, space, features); // n * space.rank
 * ```
 */
export function prototypeSpace(map: PrototypeMap): PrototypeSpace {
  const F = map.featureDim, C = map.coefficients.length / F;
  const rows = map.whitening
    ? _lowerTimesRows(map.whitening, map.coefficients, F)
    : map.coefficients;
  let largest = 0;
  for (let c = 0; c < C; c++) largest = Math.max(largest, Math.sqrt(_dot(rows, c, rows, c, F)));
  const basis: Float64Array[] = [];
  for (let c = 0; c < C && basis.length < F; c++) {
    const v = Float64Array.from(rows.subarray(c * F, (c + 1) * F));
    for (let pass = 0; pass < 2; pass++) {
      for (const b of basis) {
        let d = 0;
        for (let j = 0; j < F; j++) d += v[j] * b[j];
        for (let j = 0; j < F; j++) v[j] -= d * b[j];
      }
    }
    let norm = 0;
    for (let j = 0; j < F; j++) norm += v[j] * v[j];
    norm = Math.sqrt(norm);
    if (!(norm > 1e-6 * largest)) continue;
    for (let j = 0; j < F; j++) v[j] /= norm;
    basis.push(v);
  }
  const rank = basis.length;
  const flat = new Float32Array(rank * F);
  basis.forEach((b, r) => flat.set(b, r * F));
  return { basis: flat, rank, coordinates: _timesBasis(rows, F, flat, rank) };
}

/**
 * Each word's predicted prototype in a {@link PrototypeSpace}: `T * rank`, from `T * wordDim`
 * vectors of any norm (a zero vector gives a zero row). Rows are not normalised.
 *
 * @example
 * ```ts
 * const rows = prototypeWordRows(map, prototypeSpace(map), words.data);
 * ```
 */
export function prototypeWordRows(
  map: PrototypeMap,
  space: PrototypeSpace,
  vectors: Float32Array,
): Float32Array {
  const { wordDim: D, sources } = map, { rank: r, coordinates } = space;
  if (vectors.length % D) throw new Error(`prototypeWordRows: vectors are not rows of ${D}`);
  const T = vectors.length / D, C = sources.length / D;
  const unit = normalizeRows(vectors.slice(), D);
  const out = new Float32Array(T * r);
  const k = new Float64Array(C), acc = new Float64Array(r);
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < C; c++) k[c] = _dot(unit, t, sources, c, D);
    acc.fill(0);
    for (let c = 0; c < C; c++) {
      const kc = k[c], o = c * r;
      for (let j = 0; j < r; j++) acc[j] += kc * coordinates[o + j];
    }
    out.set(acc, t * r);
  }
  return out;
}

/**
 * Image features in a {@link PrototypeSpace}: each row centred on `map.center`, whitened when the
 * map whitens, and projected on the basis: `n * rank`, not normalised.
 *
 * @example
 * ```ts
 * const queries = prototypeFeatureRows(map, prototypeSpace(map), set.features);
 * ```
 */
export function prototypeFeatureRows(
  map: PrototypeMap,
  space: PrototypeSpace,
  features: Float32Array,
): Float32Array {
  const F = map.featureDim;
  if (features.length % F) throw new Error(`prototypeFeatureRows: features are not rows of ${F}`);
  const centred = features.slice();
  for (let i = 0; i < centred.length; i++) centred[i] -= map.center[i % F];
  const rows = map.whitening ? _lowerTimesRows(map.whitening, centred, F) : centred;
  return _timesBasis(rows, F, space.basis, space.rank);
}

/** Rows of `dim` times the transposed basis (`rank * dim`): `n * rank`. */
function _timesBasis(rows: Float32Array, dim: number, basis: Float32Array, rank: number) {
  const n = rows.length / dim, out = new Float32Array(n * rank);
  for (let i = 0; i < n; i++) {
    for (let b = 0; b < rank; b++) out[i * rank + b] = _dot(rows, i, basis, b, dim);
  }
  return out;
}

/** Widest features {@link withinClassWhitening} takes: its cost grows as rows × width². */
export const MAX_WHITENED_DIM = 256;

/**
 * `L⁻¹` for the shared within-class covariance `Σ = L Lᵀ` of labelled feature rows (each row less
 * its class mean), shrunk toward its mean variance, `(1 − shrinkage)·Σ + shrinkage·(tr Σ / F)·I`,
 * so that it stays invertible for wide or collinear features: multiplying centred features by it
 * whitens them.
 *
 * @example
 * ```ts
 * const W = withinClassWhitening(trainFeatures, 64, trainLabels, 100);
 * const map = fitPrototypeMap(labelVecs, D, prototypes, 64, 1, W);
 * ```
 */
export function withinClassWhitening(
  features: Float32Array,
  dim: number,
  labels: Int32Array,
  numClasses: number,
  shrinkage = 0.1,
): Float32Array {
  if (dim > MAX_WHITENED_DIM) {
    throw new Error(`withinClassWhitening: ${dim}-D features, at most ${MAX_WHITENED_DIM}`);
  }
  if (!(shrinkage > 0 && shrinkage <= 1)) throw new Error(`shrinkage must be in (0, 1]`);
  const { classes, means } = classMeans(features, dim, labels, numClasses);
  const row = new Map(classes.map((c, k) => [c, k]));
  const cov = new Float64Array(dim * dim), d = new Float64Array(dim);
  for (let i = 0; i < labels.length; i++) {
    const m = row.get(labels[i])! * dim;
    for (let j = 0; j < dim; j++) d[j] = features[i * dim + j] - means[m + j];
    for (let a = 0; a < dim; a++) {
      const da = d[a];
      for (let b = 0; b <= a; b++) cov[a * dim + b] += da * d[b];
    }
  }
  let trace = 0;
  for (let a = 0; a < dim; a++) trace += cov[a * dim + a] / labels.length;
  for (let a = 0; a < dim; a++) {
    for (let b = 0; b <= a; b++) {
      const v = (1 - shrinkage) * cov[a * dim + b] / labels.length +
        (a === b ? (shrinkage * trace) / dim : 0);
      cov[a * dim + b] = cov[b * dim + a] = v;
    }
  }
  return Float32Array.from(_lowerInverse(_cholesky(cov, dim), dim));
}

/** Inputs of {@link ridgeLambdaByHeldOutClasses}: seen-class data only. */
export interface HeldOutClassData {
  /** Source label vectors, `C * wordDim`. */
  labelVectors: Float32Array;
  wordDim: number;
  /** Per-class mean training feature, `C * featureDim` ({@link classMeans}). */
  prototypes: Float32Array;
  featureDim: number;
  /**
   * Images scored for the held-out classes (e.g. CIFAR-100 test) and their labels as row indices
   * of `prototypes` (others, e.g. -1, are skipped).
   */
  features: Float32Array;
  labels: Int32Array;
  /** Scores taken after this whitening ({@link withinClassWhitening}). */
  whitening?: Float32Array;
}

/** The candidate λ values: from near-interpolation to similarity-weighted averaging. */
export const PROTOTYPE_LAMBDAS = [0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30] as const;

/**
 * Chooses λ by cross-validation over classes: the `C` source classes are split (seeded) into
 * `folds` groups; each group in turn is held out of the fit, its prototypes predicted from its
 * label vectors, and its images classified among the group's labels (mean per-class accuracy).
 * The λ with the best mean over folds wins (the smaller on a tie); a fold without images of its
 * classes is left out. With `selfTrain`, each fold's images are also classified at the chosen λ
 * by {@link selfTrainedArgmax} seeded by those scores (`selfTrainedAccuracy`, the mean over
 * folds): a check of the transductive refinement on classes the map never saw, though the visual
 * model did.
 *
 * @example
 * ```ts
 * const { lambda } = ridgeLambdaByHeldOutClasses(data, { folds: 10, seed: 1 });
 * ```
 */
export function ridgeLambdaByHeldOutClasses(
  data: HeldOutClassData,
  options: { folds: number; seed: number; lambdas?: readonly number[]; selfTrain?: boolean },
): {
  lambda: number;
  byLambda: { lambda: number; meanAccuracy: number }[];
  selfTrainedAccuracy?: number;
} {
  const { wordDim: D, featureDim: F } = data;
  const C = data.labelVectors.length / D;
  const { folds } = options;
  if (!Number.isInteger(folds) || folds < 2 || C / folds < 2) {
    throw new Error(`ridgeLambdaByHeldOutClasses: ${folds} folds of ${C} classes`);
  }
  const order = new Rng(options.seed).permutation(C);
  const heldOut = Array.from({ length: folds }, (_, f) => {
    const held = [...order].filter((_, r) => r % folds === f);
    const kept = [...order].filter((_, r) => r % folds !== f);
    const heldIndex = new Map(held.map((c, k) => [c, k]));
    const rows = [...data.labels.keys()].filter((i) => heldIndex.has(data.labels[i]));
    return {
      features: takeRows(data.features, F, rows),
      labels: Int32Array.from(rows, (i) => heldIndex.get(data.labels[i])!),
      keptVectors: takeRows(data.labelVectors, D, kept),
      keptPrototypes: takeRows(data.prototypes, F, kept),
      heldVectors: takeRows(data.labelVectors, D, held),
    };
  }).filter((fold) => fold.labels.length > 0);
  if (!heldOut.length) {
    throw new Error("ridgeLambdaByHeldOutClasses: no images of any held-out class");
  }
  const fitFold = (fold: (typeof heldOut)[number], lambda: number) => {
    const map = fitPrototypeMap(
      fold.keptVectors,
      D,
      fold.keptPrototypes,
      F,
      lambda,
      data.whitening,
    );
    return { map, predicted: predictPrototypes(map, fold.heldVectors) };
  };
  const lambdas = options.lambdas ?? PROTOTYPE_LAMBDAS;
  const total = lambdas.map((lambda) =>
    heldOut.reduce((sum, fold) => {
      const { map, predicted } = fitFold(fold, lambda);
      return sum + prototypeReport(fold.features, fold.labels, map, predicted).meanAccuracy;
    }, 0)
  );
  let best = 0;
  for (let l = 1; l < lambdas.length; l++) if (total[l] > total[best]) best = l;
  const out = {
    lambda: lambdas[best],
    byLambda: lambdas.map((lambda, l) => ({ lambda, meanAccuracy: total[l] / heldOut.length })),
  };
  if (!options.selfTrain) return out;
  const selfTrained = heldOut.reduce((sum, fold) => {
    const { map, predicted } = fitFold(fold, lambdas[best]);
    const T = predicted.length / F;
    const pick = selfTrainedArgmax(
      fold.features,
      F,
      prototypeScores(fold.features, map, predicted),
      T,
    );
    return sum + classificationReport(fold.labels, pick, T).meanAccuracy;
  }, 0);
  return { ...out, selfTrainedAccuracy: selfTrained / heldOut.length };
}

/**
 * The classification report of nearest predicted prototype.
 *
 * @example
 * ```ts
 * prototypeReport(features, labels, map, predictPrototypes(map, targets)).meanAccuracy;
 * ```
 */
export function prototypeReport(
  features: Float32Array,
  labels: Int32Array,
  map: PrototypeMap,
  predicted: Float32Array,
): ClassificationReport {
  const T = predicted.length / map.featureDim;
  const scores = prototypeScores(features, map, predicted);
  return classificationReport(labels, ensembleArgmax([scores], labels.length, T), T);
}

/** A unit-norm copy; a zero row is refused, since it has no direction to predict from. */
function _unitRows(data: Float32Array, dim: number): Float32Array {
  const out = normalizeRows(data.slice(), dim);
  for (let r = 0; r < out.length / dim; r++) {
    if (_dot(out, r, out, r, dim) === 0) {
      throw new Error(`row ${r} is all zeros (a label without a vector?)`);
    }
  }
  return out;
}

function _dot(a: Float32Array, i: number, b: Float32Array, k: number, dim: number): number {
  let s = 0;
  for (let j = 0; j < dim; j++) s += a[i * dim + j] * b[k * dim + j];
  return s;
}

/** `v` (rows of `n`) times the lower-triangular `n * n` matrix `L`: `L vᵢ` for each row. */
function _lowerTimesRows(
  L: Float32Array,
  v: Float32Array,
  n: number,
  out = new Float32Array(v.length),
): Float32Array {
  for (let r = 0; r < v.length / n; r++) {
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let k = 0; k <= i; k++) s += L[i * n + k] * v[r * n + k];
      out[r * n + i] = s;
    }
  }
  return out;
}

/** The lower-triangular `L` with `L Lᵀ = A` for symmetric positive-definite `A` (`n * n`). */
function _cholesky(a: Float64Array, n: number): Float64Array {
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j];
      for (let k = 0; k < j; k++) s -= L[i * n + k] * L[j * n + k];
      if (i === j) {
        if (!(s > 0)) {
          throw new Error("matrix is not positive definite (λ or shrinkage too small?)");
        }
        L[i * n + i] = Math.sqrt(s);
      } else L[i * n + j] = s / L[j * n + j];
    }
  }
  return L;
}

/** The inverse of a lower-triangular `n * n` matrix (itself lower-triangular). */
function _lowerInverse(L: Float64Array, n: number): Float64Array {
  const inv = new Float64Array(n * n);
  for (let c = 0; c < n; c++) {
    inv[c * n + c] = 1 / L[c * n + c];
    for (let i = c + 1; i < n; i++) {
      let s = 0;
      for (let k = c; k < i; k++) s -= L[i * n + k] * inv[k * n + c];
      inv[i * n + c] = s / L[i * n + i];
    }
  }
  return inv;
}

/** Solves `A X = B` for symmetric positive-definite `A` (`n * n`), `B` `n * m`, by Cholesky. */
function _choleskySolve(a: Float64Array, n: number, b: Float64Array, m: number): Float64Array {
  const L = _cholesky(a, n);
  const x = Float64Array.from(b);
  for (let c = 0; c < m; c++) {
    for (let i = 0; i < n; i++) { // L y = b
      let s = x[i * m + c];
      for (let k = 0; k < i; k++) s -= L[i * n + k] * x[k * m + c];
      x[i * m + c] = s / L[i * n + i];
    }
    for (let i = n - 1; i >= 0; i--) { // Lᵀ x = y
      let s = x[i * m + c];
      for (let k = i + 1; k < n; k++) s -= L[k * n + i] * x[k * m + c];
      x[i * m + c] = s / L[i * n + i];
    }
  }
  return x;
}
