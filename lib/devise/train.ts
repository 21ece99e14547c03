/**
 * Trains the DeViSE projection: a linear map M (d×D) from frozen visual features to the word
 * vector space, with the losses of `loss.ts`, in tfjs (any backend: pass the `tf` namespace that
 * `selectBackend` returned). Prediction ranks all C labels by t_j·(vM).
 *
 * Features are optionally standardised per dimension (mean/std of the training set, applied per
 * batch so the big feature matrix is never copied) and dropped out during training.
 * End-to-end fine-tuning of the visual model through M (the paper's last stage) is not done.
 *
 * @example
 * ```ts
 * const { tf } = await selectBackend("auto", { allowSlow: true });
 * const result = await trainDevise(tf, { trainFeatures, trainLabels, testFeatures, testLabels,
 *   labelVectors, dims: 300, epochs: 10 });
 * await saveDeviseModel("data/devise/model.f32", result.model);
 * ```
 * @module
 */
import type * as tfType from "@tensorflow/tfjs";
import { readArtifact, type Sidecar, writeArtifact } from "../io/artifact.ts";
import { assertFiniteLoss } from "../io/errors.ts";
import { Rng } from "../io/rng.ts";
import { columnMeanStd } from "../io/stats.ts";
import { normalizeRows } from "../text/vectors.ts";
import { hitAtK } from "./metrics.ts";
import {
  deviseLossTf,
  firstViolationApplies,
  type LossConfig,
  type LossKind,
  violationKeys,
} from "./loss.ts";

/** Hyper-parameters of a DeViSE run (stored with the model). */
export interface DeviseConfig {
  loss: LossKind;
  margin: number;
  /** Euclidean term weight for `hinge-euclid`. */
  lambda: number;
  /** Dropout rate on input features during training. */
  dropout: number;
  /** L2 penalty 0.5·wd·||M||² added to the loss. */
  weightDecay: number;
  standardize: boolean;
  /** Paper's sampling: only the first violating wrong label (random order) counts. */
  firstViolation: boolean;
  epochs: number;
  batchSize: number;
  lr: number;
  optimizer: "adam" | "sgd";
  seed: number;
  /**
   * Words of the whole vocabulary sampled per batch as extra wrong labels (hinge only; 0 or
   * absent = only the training labels). Needs `negativeVectors`.
   */
  vocabNegatives?: number;
}

/** Defaults for {@link DeviseConfig}. */
export const DEFAULT_DEVISE_CONFIG: DeviseConfig = {
  loss: "hinge",
  margin: 0.1,
  lambda: 1,
  dropout: 0,
  weightDecay: 0,
  standardize: true,
  firstViolation: false,
  epochs: 10,
  batchSize: 256,
  lr: 1e-3,
  optimizer: "adam",
  seed: 0,
};

/** A trained DeViSE map plus what is needed to apply it. */
export interface DeviseModel {
  /** Row-major d×D. */
  M: Float32Array;
  /** Feature dimension. */
  d: number;
  /** Word vector dimension. */
  dims: number;
  /** Per-feature mean/std (length d) or null when not standardised. */
  mean: Float32Array | null;
  std: Float32Array | null;
  config: DeviseConfig;
}

/** One epoch's numbers. Test fields are NaN when no test set is given. */
export interface EpochStats {
  epoch: number;
  trainLoss: number;
  /** hit@1 over the training batches as seen (with dropout), not a separate pass. */
  trainHit1: number;
  testLoss: number;
  testHit1: number;
  seconds: number;
}

/** Inputs of {@link trainDevise}. */
export interface TrainDeviseInput extends Partial<DeviseConfig> {
  /** n×d row-major. */
  trainFeatures: Float32Array;
  trainLabels: Int32Array;
  testFeatures?: Float32Array;
  testLabels?: Int32Array;
  /** C×D row-major unit rows. */
  labelVectors: Float32Array;
  /** D. */
  dims: number;
  /** Called after every epoch (e.g. to log or draw progress). */
  onEpoch?: (stats: EpochStats) => void;
  /**
   * Called after every epoch with that epoch's map (row-major d×D, a fresh copy each epoch): with
   * Adam at a constant rate, the map after epoch E is the map a run of E epochs ends with.
   */
  onEpochMap?: (epoch: number, M: Float32Array) => void;
  /** Called after every batch with (batch index, batches per epoch). */
  onBatch?: (batch: number, batches: number) => void;
  /** V×D unit rows the `vocabNegatives` are sampled from (e.g. every word vector). */
  negativeVectors?: Float32Array;
  /** Take the hinge loss's gradient from tfjs's autodiff tape instead of its closed form. */
  tape?: boolean;
}

/** Result of {@link trainDevise}. */
export interface TrainDeviseResult {
  model: DeviseModel;
  curves: EpochStats[];
  epochSeconds: number[];
}

function _checkInputs(input: TrainDeviseInput): { d: number; classes: number } {
  const n = input.trainLabels.length;
  if (n === 0) throw new Error("trainDevise: empty training set");
  const d = input.trainFeatures.length / n;
  if (!Number.isInteger(d)) {
    throw new Error(
      `trainDevise: ${input.trainFeatures.length} train feature values for ${n} labels`,
    );
  }
  const classes = input.labelVectors.length / input.dims;
  if (!Number.isInteger(classes)) {
    throw new Error(
      `trainDevise: label vectors (${input.labelVectors.length}) not C×${input.dims}`,
    );
  }
  for (
    const [name, labels] of [["train", input.trainLabels], ["test", input.testLabels]] as const
  ) {
    if (!labels) continue;
    const bad = labels.findIndex((y) => !(y >= 0 && y < classes));
    if (bad >= 0) {
      throw new Error(
        `trainDevise: ${name} label ${labels[bad]} at row ${bad} not in [0, ${classes})`,
      );
    }
  }
  if (
    input.testFeatures && input.testLabels &&
    input.testFeatures.length !== input.testLabels.length * d
  ) {
    throw new Error(`trainDevise: test features are not ${input.testLabels.length}×${d}`);
  }
  return { d, classes };
}

/**
 * One Adam/SGD step of the plain hinge rank loss with its gradient in closed form: with
 * S = e·Tᵀ, sy = e·t_y and A the 0/1 matrix of violated margins (j ≠ y, margin − sy + S_j > 0),
 * ∂L/∂e = (A·T − rowsum(A)·t_y) / B and ∂L/∂M = xᵀ·∂L/∂e (+ wd·M); extra vocabulary negatives add
 * their own A. The same numbers as the autodiff tape (tests/devise_test.ts), without the tape.
 */
function _hingeStep(
  tf: typeof tfType,
  a: {
    buf: Float32Array;
    rows: number;
    d: number;
    D: number;
    labelsArr: Int32Array;
    meanT: tfType.Tensor | null;
    stdT: tfType.Tensor | null;
    M: tfType.Variable;
    T: tfType.Tensor2D;
    config: DeviseConfig;
    dropSeed: number;
    negatives?: Float32Array;
    optimizer: tfType.Optimizer;
  },
): { lossValue: tfType.Scalar; correct: tfType.Scalar } {
  return tf.tidy(() => {
    const { rows, D, config } = a;
    const x = _prep(tf, tf.tensor2d(a.buf.subarray(0, rows * a.d), [rows, a.d]), a.meanT, a.stdT);
    const xd = config.dropout > 0 ? tf.dropout(x, config.dropout, undefined, a.dropSeed) : x;
    const labels = tf.tensor1d(a.labelsArr, "int32");
    const e = tf.matMul(xd, a.M);
    const S = tf.matMul(e, a.T, false, true);
    const ty = tf.gather(a.T, labels);
    const sy = tf.sum(tf.mul(e, ty), 1, true);
    const wrong = tf.sub(1, tf.oneHot(labels, a.T.shape[0]));
    const margins = tf.mul(tf.add(tf.sub(S, sy), config.margin), wrong);
    const violated = tf.cast(tf.greater(margins, 0), "float32");
    let total = tf.sum(tf.relu(margins));
    let gE = tf.sub(tf.matMul(violated, a.T), tf.mul(tf.sum(violated, 1, true), ty));
    if (a.negatives) {
      const N = tf.tensor2d(a.negatives, [a.negatives.length / D, D]);
      const m = tf.add(tf.sub(tf.matMul(e, N, false, true), sy), config.margin);
      const v = tf.cast(tf.greater(m, 0), "float32");
      total = tf.add(total, tf.sum(tf.relu(m)));
      gE = tf.add(gE, tf.sub(tf.matMul(v, N), tf.mul(tf.sum(v, 1, true), ty)));
    }
    let grad = tf.matMul(xd, tf.div(gE, rows), true, false);
    let loss = tf.div(total, rows);
    if (config.weightDecay > 0) {
      grad = tf.add(grad, tf.mul(config.weightDecay, a.M));
      loss = tf.add(loss, tf.mul(0.5 * config.weightDecay, tf.sum(tf.square(a.M))));
    }
    a.optimizer.applyGradients([{ name: a.M.name, tensor: grad }]);
    const correct = tf.sum(tf.cast(tf.equal(tf.argMax(S, 1), labels), "int32"));
    return { lossValue: loss as tfType.Scalar, correct: correct as tfType.Scalar };
  });
}

/**
 * The unit rows vocabulary negatives are drawn from: every word of `words`, or undefined when
 * `count` draws none (the copy of a 400,000-word vocabulary is then skipped).
 *
 * @example
 * ```ts
 * trainDevise(tf, { ...config, negativeVectors: vocabNegativePool(words, config.vocabNegatives) });
 * ```
 */
export function vocabNegativePool(
  words: { data: Float32Array; dim: number },
  count: number | undefined,
): Float32Array | undefined {
  return count ? normalizeRows(words.data.slice(), words.dim) : undefined;
}

/**
 * `count` random rows of `vectors` (V×D), or undefined when there are none to draw: the vocabulary
 * negatives of one batch (DeViSE training and fine-tuning draw them alike).
 *
 * @example
 * ```ts
 * sampleVocabNegatives(new Rng(1), unitWordVectors, 50, 64)!.length; // 64 * 50
 * ```
 */
export function sampleVocabNegatives(
  rng: Rng,
  vectors: Float32Array | undefined,
  D: number,
  count: number | undefined,
): Float32Array | undefined {
  if (!count || !vectors) return undefined;
  const V = vectors.length / D;
  const out = new Float32Array(count * D);
  for (let i = 0; i < count; i++) {
    const r = rng.int(V);
    out.set(vectors.subarray(r * D, (r + 1) * D), i * D);
  }
  return out;
}

/** The loss part of a config, in `loss.ts` terms. */
function _lossConfig(c: DeviseConfig): LossConfig {
  return { kind: c.loss, margin: c.margin, lambda: c.lambda, firstViolation: c.firstViolation };
}

/** Copies the rows `idx[from..to)` of an n×d matrix into `out`. */
function _gatherRows(
  src: Float32Array,
  d: number,
  idx: Int32Array,
  from: number,
  to: number,
  out: Float32Array,
) {
  for (let r = from; r < to; r++) out.set(src.subarray(idx[r] * d, idx[r] * d + d), (r - from) * d);
}

/** Standardised batch tensor (or the raw one) — caller disposes inside a tidy. */
function _prep(
  tf: typeof tfType,
  x: tfType.Tensor2D,
  mean: tfType.Tensor | null,
  std: tfType.Tensor | null,
) {
  return mean && std ? tf.div(tf.sub(x, mean), std) as tfType.Tensor2D : x;
}

/**
 * Trains M with minibatch Adam/SGD. Deterministic for a given seed on a given backend.
 *
 * @example
 * ```ts
 * const { model, curves } = await trainDevise(tf, { trainFeatures, trainLabels, labelVectors,
 *   dims: 300, loss: "hinge", margin: 0.1, epochs: 5 });
 * ```
 */
export async function trainDevise(
  tf: typeof tfType,
  input: TrainDeviseInput,
): Promise<TrainDeviseResult> {
  const config: DeviseConfig = { ...DEFAULT_DEVISE_CONFIG };
  for (const key of Object.keys(DEFAULT_DEVISE_CONFIG) as (keyof DeviseConfig)[]) {
    if (input[key] !== undefined) (config as unknown as Record<string, unknown>)[key] = input[key];
  }
  if (input.vocabNegatives) {
    if (!input.negativeVectors) {
      throw new Error("trainDevise: vocabNegatives needs negativeVectors");
    }
    config.vocabNegatives = input.vocabNegatives;
  }
  const { d, classes } = _checkInputs(input);
  const D = input.dims;
  const n = input.trainLabels.length;
  const rng = new Rng(config.seed);
  const stats = config.standardize ? columnMeanStd(input.trainFeatures, d) : null;
  const meanT = stats ? tf.tensor2d(stats.mean, [1, d]) : null;
  const stdT = stats ? tf.tensor2d(stats.std, [1, d]) : null;
  const T = tf.tensor2d(input.labelVectors, [classes, D]);
  // ||e|| ≈ 1 at start for unit-variance inputs, so the margin is meaningful from step one.
  const init = new Float32Array(d * D);
  const scale = 1 / Math.sqrt(d * D);
  for (let i = 0; i < init.length; i++) init[i] = rng.normal() * scale;
  const M = tf.tidy(() => tf.variable(tf.tensor2d(init, [d, D]), true, "devise_M"));
  const optimizer = config.optimizer === "adam"
    ? tf.train.adam(config.lr)
    : tf.train.sgd(config.lr);
  const B = config.batchSize;
  const batches = Math.ceil(n / B);
  // The hinge rank loss has a closed-form gradient: two matrix products, no autodiff tape.
  const closedForm = config.loss === "hinge" && !config.firstViolation && !input.tape;
  const buf = new Float32Array(B * d);
  const curves: EpochStats[] = [];
  const epochSeconds: number[] = [];
  const model: DeviseModel = {
    M: init,
    d,
    dims: D,
    mean: stats?.mean ?? null,
    std: stats?.std ?? null,
    config,
  };
  try {
    for (let epoch = 1; epoch <= config.epochs; epoch++) {
      const t0 = performance.now();
      const order = rng.permutation(n);
      let lossSum = 0, hits = 0;
      for (let b = 0; b < batches; b++) {
        const from = b * B, to = Math.min(n, from + B), rows = to - from;
        _gatherRows(input.trainFeatures, d, order, from, to, buf);
        const labelsArr = new Int32Array(rows);
        for (let r = 0; r < rows; r++) labelsArr[r] = input.trainLabels[order[from + r]];
        // No keys where they are not read: the rng stream stays that of a run without the flag.
        const keys = firstViolationApplies(_lossConfig(config))
          ? violationKeys(rng, rows, classes)
          : undefined;
        const dropSeed = rng.int(2 ** 31);
        const negatives = sampleVocabNegatives(
          rng,
          input.negativeVectors,
          D,
          config.vocabNegatives,
        );
        const step = closedForm ? _hingeStep : null;
        const { lossValue, correct } = step
          ? step(tf, {
            buf,
            rows,
            d,
            D,
            labelsArr,
            meanT,
            stdT,
            M,
            T,
            config,
            dropSeed,
            negatives,
            optimizer,
          })
          : tf.tidy(() => {
            const x = _prep(tf, tf.tensor2d(buf.subarray(0, rows * d), [rows, d]), meanT, stdT);
            const xd = config.dropout > 0 ? tf.dropout(x, config.dropout, undefined, dropSeed) : x;
            const labels = tf.tensor1d(labelsArr, "int32");
            let predicted: tfType.Tensor | null = null;
            const { value, grads } = tf.variableGrads(() => {
              const e = tf.matMul(xd, M) as tfType.Tensor2D;
              predicted = tf.keep(tf.argMax(tf.matMul(e, T, false, true), 1));
              let loss = deviseLossTf(tf, {
                ..._lossConfig(config),
                embeddings: e,
                labels,
                labelVectors: T,
                keys,
                extraNegatives: negatives
                  ? tf.tensor2d(negatives, [negatives.length / D, D])
                  : undefined,
              });
              if (config.weightDecay > 0) {
                loss = tf.add(loss, tf.mul(0.5 * config.weightDecay, tf.sum(tf.square(M))));
              }
              return loss as tfType.Scalar;
            }, [M]);
            optimizer.applyGradients([{ name: M.name, tensor: grads[M.name] }]);
            const correct = tf.sum(tf.cast(tf.equal(predicted!, labels), "int32"));
            tf.dispose(predicted!);
            return { lossValue: value, correct };
          });
        const batchLoss = (await lossValue.data())[0];
        assertFiniteLoss(
          batchLoss,
          `DeViSE epoch ${epoch}, batch ${b + 1}`,
          `lower --devise-lr / --lr (now ${config.lr}) or check the features and vectors`,
        );
        lossSum += batchLoss * rows;
        hits += (await correct.data())[0];
        tf.dispose([lossValue, correct]);
        input.onBatch?.(b + 1, batches);
      }
      const seconds = (performance.now() - t0) / 1000;
      epochSeconds.push(seconds);
      model.M = (await M.data()) as Float32Array;
      input.onEpochMap?.(epoch, model.M);
      let testLoss = NaN, testHit1 = NaN;
      if (input.testFeatures && input.testLabels) {
        ({ loss: testLoss, hit1: testHit1 } = evaluateDevise(
          tf,
          model,
          input.testFeatures,
          input.testLabels,
          input.labelVectors,
        ));
      }
      const s: EpochStats = {
        epoch,
        trainLoss: lossSum / n,
        trainHit1: hits / n,
        testLoss,
        testHit1,
        seconds,
      };
      curves.push(s);
      input.onEpoch?.(s);
    }
    model.M = (await M.data()) as Float32Array;
    return { model, curves, epochSeconds };
  } finally {
    tf.dispose([M, T, ...(meanT ? [meanT] : []), ...(stdT ? [stdT] : [])]);
    optimizer.dispose();
  }
}

/**
 * Maps features through a model: n×D embeddings e = standardise(v)·M (batched). A few rows (one
 * user image, one query) are multiplied in plain JS: creating and reading back tensors costs more
 * than the product itself there (bench/e2e_zeroshot.ts, batch 1).
 *
 * @example
 * ```ts
 * const emb = embed(tf, model, testFeatures); // Float32Array n×300
 * ```
 */
export function embed(
  tf: typeof tfType,
  model: DeviseModel,
  features: Float32Array,
  batchSize = 1024,
): Float32Array {
  const n = features.length / model.d;
  if (!Number.isInteger(n)) {
    throw new Error(`embed: ${features.length} values are not rows of ${model.d}`);
  }
  if (n <= _JS_EMBED_MAX_ROWS) return embedRows(model, features);
  const out = new Float32Array(n * model.dims);
  tf.tidy(() => {
    const M = tf.tensor2d(model.M, [model.d, model.dims]);
    const mean = model.mean ? tf.tensor2d(model.mean, [1, model.d]) : null;
    const std = model.std ? tf.tensor2d(model.std, [1, model.d]) : null;
    for (let from = 0; from < n; from += batchSize) {
      const rows = Math.min(batchSize, n - from);
      tf.tidy(() => {
        const x = _prep(
          tf,
          tf.tensor2d(features.subarray(from * model.d, (from + rows) * model.d), [rows, model.d]),
          mean,
          std,
        );
        out.set(tf.matMul(x, M).dataSync() as Float32Array, from * model.dims);
      });
    }
  });
  return out;
}

/** Up to this many rows, {@link embed} skips tensors. */
const _JS_EMBED_MAX_ROWS = 8;

/**
 * {@link embed} without tensors: e = standardise(v)·M in plain JS, row by row (for a handful of
 * rows; M is read row-major, one contiguous row of D per feature, so the inner loop streams).
 *
 * @example
 * ```ts
 * const e = embedRows(model, feature); // Float32Array of model.dims
 * ```
 */
export function embedRows(model: DeviseModel, features: Float32Array): Float32Array {
  const { d, dims, M, mean, std } = model;
  const n = features.length / d;
  if (!Number.isInteger(n)) {
    throw new Error(`embedRows: ${features.length} values are not rows of ${d}`);
  }
  const out = new Float32Array(n * dims);
  const e = new Float64Array(dims); // summed in float64, rounded once
  for (let r = 0; r < n; r++) {
    e.fill(0);
    for (let i = 0; i < d; i++) {
      let v = features[r * d + i];
      if (mean && std) v = (v - mean[i]) / std[i];
      if (v === 0) continue;
      const row = i * dims;
      for (let j = 0; j < dims; j++) e[j] += v * M[row + j];
    }
    out.set(e, r * dims);
  }
  return out;
}

/**
 * Scores (n×C) of every label for every feature row: t_j·e.
 *
 * @example
 * ```ts
 * const scores = predictScores(tf, model, testFeatures, labelVectors);
 * hitAtK(scores, testLabels, 100);
 * ```
 */
export function predictScores(
  tf: typeof tfType,
  model: DeviseModel,
  features: Float32Array,
  labelVectors: Float32Array,
): Float32Array {
  const emb = embed(tf, model, features);
  const n = emb.length / model.dims, C = labelVectors.length / model.dims;
  return tf.tidy(() =>
    tf.matMul(
      tf.tensor2d(emb, [n, model.dims]),
      tf.tensor2d(labelVectors, [C, model.dims]),
      false,
      true,
    )
      .dataSync() as Float32Array
  );
}

/**
 * Full-set loss (all wrong labels, no sampling, no dropout) and hit@1 of a model.
 *
 * @example
 * ```ts
 * const { loss, hit1 } = evaluateDevise(tf, model, testFeatures, testLabels, labelVectors);
 * ```
 */
export function evaluateDevise(
  tf: typeof tfType,
  model: DeviseModel,
  features: Float32Array,
  labels: Int32Array,
  labelVectors: Float32Array,
): { loss: number; hit1: number; scores: Float32Array } {
  const emb = embed(tf, model, features);
  const n = labels.length, C = labelVectors.length / model.dims;
  return tf.tidy(() => {
    const e = tf.tensor2d(emb, [n, model.dims]);
    const T = tf.tensor2d(labelVectors, [C, model.dims]);
    const y = tf.tensor1d(labels, "int32");
    const loss = deviseLossTf(tf, {
      ..._lossConfig(model.config),
      firstViolation: false,
      embeddings: e,
      labels: y,
      labelVectors: T,
    })
      .dataSync()[0];
    const scores = tf.matMul(e, T, false, true);
    const scoreValues = scores.dataSync() as Float32Array;
    return { loss, hit1: hitAtK(scoreValues, labels, C, [1])["1"], scores: scoreValues };
  });
}

/** Artifact format tag of a saved DeViSE model. */
export const DEVISE_MODEL_FORMAT = "devise-model";
/** Version of {@link DEVISE_MODEL_FORMAT}. */
export const DEVISE_MODEL_VERSION = 1;

/**
 * Saves M (then mean and std when standardised) as one little-endian float32 artifact; the
 * sidecar carries d, dims and the config.
 *
 * @example
 * ```ts
 * await saveDeviseModel("data/runs/devise/model.f32", model, { features: "sha256..." });
 * ```
 */
export async function saveDeviseModel(
  path: string,
  model: DeviseModel,
  sources: Record<string, unknown> = {},
): Promise<Sidecar> {
  const parts = [model.M, ...(model.mean && model.std ? [model.mean, model.std] : [])];
  const all = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) {
    all.set(p, off);
    off += p.length;
  }
  return await writeArtifact(path, new Uint8Array(all.buffer), {
    format: DEVISE_MODEL_FORMAT,
    version: DEVISE_MODEL_VERSION,
    dtype: "float32",
    d: model.d,
    dims: model.dims,
    standardized: model.mean !== null,
    config: model.config,
    sources,
  });
}

/**
 * Loads a model written by {@link saveDeviseModel}, validating sidecar, checksum and size.
 *
 * @example
 * ```ts
 * const model = await loadDeviseModel("data/runs/devise/model.f32");
 * ```
 */
export async function loadDeviseModel(path: string): Promise<DeviseModel> {
  const { data, sidecar } = await readArtifact(path, DEVISE_MODEL_FORMAT, DEVISE_MODEL_VERSION);
  const d = sidecar.d as number, dims = sidecar.dims as number;
  const standardized = sidecar.standardized === true;
  const expected = (d * dims + (standardized ? 2 * d : 0)) * 4;
  if (!Number.isInteger(d) || !Number.isInteger(dims) || data.byteLength !== expected) {
    throw new Error(
      `${path}: ${data.byteLength} bytes, sidecar d=${d} dims=${dims} expects ${expected}`,
    );
  }
  const all = new Float32Array(
    data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength),
  );
  return {
    M: all.slice(0, d * dims),
    d,
    dims,
    mean: standardized ? all.slice(d * dims, d * dims + d) : null,
    std: standardized ? all.slice(d * dims + d) : null,
    config: { ...DEFAULT_DEVISE_CONFIG, ...(sidecar.config as Partial<DeviseConfig>) },
  };
}
