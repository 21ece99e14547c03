/**
 * The paper's last step: the visual model's layers fine-tuned together with the map M under the
 * hinge rank loss (Frome et al. 2013, §3.3). The network up to the DeViSE layer, the feature
 * standardisation of the trained map (kept fixed), then M: image → embedding, scored against the
 * label vectors as in DeViSE training. The visual layers train with SGD + momentum at 0.001 on a
 * cosine schedule (on the cpu preset's converged ResNet-20, 0.01 cost 4.2 points of hit@1 and
 * 0.001 gained 1.1), M with Adam as in DeViSE training (at a tenth of
 * its rate). M cannot share the visual layers' SGD: its gradient scales with the
 * feature width, and one step of SGD at 0.01 on a 4096-D map multiplied the hinge loss by 10⁷ on
 * real CIFAR features. Batch norm runs in training mode and images are augmented as in
 * pretraining. A checkpoint every epoch (model, both optimizers, M, RNG, curve) lets a killed run
 * resume to the same curve, bit for bit.
 *
 * @example
 * ```ts
 * const result = await finetuneDevise(tf, { checkpoint, devise, layer: "act", labelVectors,
 *   train, test }, { ...DEFAULT_FINETUNE_CONFIG, epochs: 2 }, { outDir: "data/pipeline/ft" });
 * result.devise; // the fine-tuned map (same standardisation)
 * ```
 * @module
 */
import { join } from "node:path";
import type * as tfjs from "@tensorflow/tfjs";
import type { TF } from "../backend/select.ts";
import { Progress, type ProgressSink } from "../cli/progress.ts";
import { batchIndices, normalizeBatch } from "../data/augment.ts";
import { assertFiniteLoss, UsageError } from "../io/errors.ts";
import { Rng } from "../io/rng.ts";
import {
  extraTensors,
  loadCheckpoint,
  type LoadedCheckpoint,
  restoreInto,
  saveCheckpoint,
  type TrainState,
} from "../vision/checkpoint.ts";
import { batchToInput, type ImageSplit } from "../vision/input.ts";
import { buildModel, type FeatureLayer } from "../vision/models.ts";
import { learningRateAt, subsetSplit } from "../vision/train.ts";
import { deviseLossTf } from "./loss.ts";
import { type DeviseModel, sampleVocabNegatives } from "./train.ts";

/** Fine-tuning hyper-parameters (everything that shapes the curve). */
export interface FinetuneConfig {
  epochs: number;
  batchSize: number;
  /** Peak learning rate of the visual layers (SGD + momentum, cosine decay to 0). */
  lrVisual: number;
  /** Adam learning rate of M (constant: tfjs's Adam has no schedule). */
  mapLr: number;
  momentum: number;
  nesterov: boolean;
  /** L2 on the visual layers' kernels, added to the gradient (as in pretraining). */
  weightDecay: number;
  /** Pad-crop + flip augmentation. */
  augment: boolean;
  /** Train on the first N images of a seeded shuffle (0 = all). */
  limit: number;
  /**
   * Words of the whole vocabulary drawn per batch as extra wrong labels, as in DeViSE training
   * (0 = the training labels only). Needs `negativeVectors`.
   */
  vocabNegatives: number;
  seed: number;
}

/** Defaults: the visual layers at 0.001 (0.01 knocks a converged model off: see the module doc). */
export const DEFAULT_FINETUNE_CONFIG: FinetuneConfig = {
  epochs: 3,
  batchSize: 128,
  lrVisual: 0.001,
  mapLr: 3e-5,
  momentum: 0.9,
  nesterov: true,
  weightDecay: 5e-4,
  augment: true,
  limit: 0,
  vocabNegatives: 0,
  seed: 1,
};

/** What fine-tuning starts from. */
export interface FinetuneInputs {
  /** The pretrained visual model. */
  checkpoint: LoadedCheckpoint;
  /** The trained map M of `layer`'s features (its standardisation is kept). */
  devise: DeviseModel;
  layer: FeatureLayer;
  /** C×D unit label vectors. */
  labelVectors: Float32Array;
  train: ImageSplit;
  test: ImageSplit;
  /** V×D unit rows the `vocabNegatives` are drawn from (e.g. every word vector). */
  negativeVectors?: Float32Array;
}

/** One epoch of the fine-tuning curve. */
export interface FinetuneEpoch {
  epoch: number;
  lr: number;
  trainLoss: number;
  testHit1: number;
  seconds: number;
  imagesPerSecond: number;
  [key: string]: number;
}

/** What {@link finetuneDevise} returns. */
export interface FinetuneResult {
  /** The fine-tuned visual model (the caller disposes it). */
  model: tfjs.LayersModel;
  /** The last epoch's checkpoint. */
  checkpoint: LoadedCheckpoint;
  /** The fine-tuned map, with the original standardisation. */
  devise: DeviseModel;
  curve: FinetuneEpoch[];
  resumedFrom: number;
}

/**
 * `config` as fine-tuning keys (checkpoints, the pipeline's folders) record it: `vocabNegatives`
 * only when used, so keys made before the setting existed still match.
 *
 * @example
 * ```ts
 * "vocabNegatives" in finetuneKeyConfig(DEFAULT_FINETUNE_CONFIG); // false
 * ```
 */
export function finetuneKeyConfig(config: FinetuneConfig): Partial<FinetuneConfig> {
  const { vocabNegatives, ...rest } = config;
  return vocabNegatives ? config : rest;
}

/**
 * Fine-tunes the visual model and M together (see the module doc), resuming from
 * `<outDir>/checkpoints/last.json` when `resume` and it was made with the same config and start.
 *
 * @example
 * ```ts
 * await finetuneDevise(tf, inputs, config, { outDir, resume: true, run });
 * ```
 */
export async function finetuneDevise(
  tf: TF,
  inputs: FinetuneInputs,
  config: FinetuneConfig,
  options: {
    outDir: string;
    resume?: boolean;
    run?: ProgressSink;
    log?: (line: string) => void;
    /** Stop after this many epochs of this call (tests); the schedule still spans `epochs`. */
    stopAfterEpochs?: number;
  },
): Promise<FinetuneResult> {
  const log = options.log ?? options.run?.log ?? (() => {});
  const { devise, layer } = inputs;
  const spec = inputs.checkpoint.state.modelSpec;
  const model = buildModel(tf, spec);
  const sub = tf.model({
    inputs: model.inputs,
    outputs: model.getLayer(layer).output as tfjs.SymbolicTensor,
  });
  const d = (sub.outputs[0].shape.slice(1) as number[]).reduce((a, b) => a * b, 1);
  if (d !== devise.d) {
    throw new UsageError(
      `the ${layer} features of ${spec.arch}-${spec.depth} have ${d} values, the DeViSE map ` +
        `expects ${devise.d} (a map of another layer or architecture)`,
    );
  }
  const D = devise.dims, C = inputs.labelVectors.length / D;
  const negatives = config.vocabNegatives;
  if (negatives > 0 && !inputs.negativeVectors) {
    throw new Error("finetuneDevise: vocabNegatives needs negativeVectors");
  }
  const root = join(options.outDir, "checkpoints");
  // The key: what shapes the curve, and what it starts from.
  const key = JSON.stringify({
    config: finetuneKeyConfig(config),
    layer,
    from: inputs.checkpoint.weights.sha256,
    d,
    D,
  });
  const optimizer = tf.train.momentum(config.lrVisual, config.momentum, config.nesterov);
  const mapAdam = _adamState(tf, [d, D]);
  const M = tf.tidy(() => tf.variable(tf.tensor2d(devise.M, [d, D]), true, "finetune_M"));
  const T = tf.tensor2d(inputs.labelVectors, [C, D]);
  const mean = devise.mean ? tf.tensor2d(devise.mean, [1, d]) : null;
  const std = devise.std ? tf.tensor2d(safeStd(devise.std), [1, d]) : null;
  // Everything after the variables' creation releases them on a throw (a refused resume too).
  try {
    let rng = new Rng(config.seed);
    let curve: FinetuneEpoch[] = [];
    let startEpoch = 0;
    const prior = options.resume ? await loadCheckpoint(root, "last") : null;
    if (prior) {
      const saved = JSON.stringify((prior.state.config as { key?: unknown }).key);
      if (saved !== JSON.stringify(key)) {
        throw new UsageError(
          `${prior.dir}: a fine-tuning checkpoint of another config, model or start (delete ` +
            `${options.outDir} to start over)\n  saved: ${saved}\n  now:   ${JSON.stringify(key)}`,
        );
      }
      await restoreInto(tf, prior, model, optimizer);
      const extra = extraTensors(tf, prior);
      M.assign(extra.M as tfjs.Tensor2D);
      mapAdam.m.assign(extra.M_adam_m as tfjs.Tensor2D);
      mapAdam.v.assign(extra.M_adam_v as tfjs.Tensor2D);
      tf.dispose(Object.values(extra));
      rng = Rng.fromState(prior.state.rngState);
      curve = prior.state.curve as FinetuneEpoch[];
      startEpoch = prior.state.epoch;
      log(`fine-tuning resumed from ${prior.dir} (epoch ${startEpoch}/${config.epochs})`);
    } else {
      await restoreInto(tf, inputs.checkpoint, model);
    }
    const train = subsetSplit(inputs.train, config.limit, config.seed);
    const vars = sub.trainableWeights.map((w) => w.read() as tfjs.Variable);
    const decays = sub.trainableWeights.map((w) => w.originalName.endsWith("kernel"));
    const { mean: pixMean, std: pixStd } = inputs.checkpoint.state.normalization;
    const dropLast = train.count > config.batchSize;
    const stepsPerEpoch = dropLast
      ? Math.floor(train.count / config.batchSize)
      : Math.ceil(train.count / config.batchSize);
    const totalSteps = stepsPerEpoch * config.epochs;
    const size = model.inputs[0].shape[1] as number;
    const buf = new Float32Array(config.batchSize * 3072);
    const devCfg = devise.config;
    const lastEpoch = Math.min(config.epochs, startEpoch + (options.stopAfterEpochs ?? Infinity));
    let last: LoadedCheckpoint | null = prior;
    for (let epoch = startEpoch + 1; epoch <= lastEpoch; epoch++) {
      const bar = new Progress(
        `fine-tune ${epoch}/${config.epochs}`,
        stepsPerEpoch * config.batchSize,
        {
          unit: "img",
          run: options.run,
        },
      );
      const t0 = performance.now();
      let lossSum = 0, seen = 0, step = (epoch - 1) * stepsPerEpoch, lr = config.lrVisual;
      for (const idx of batchIndices(train.count, config.batchSize, rng, { dropLast })) {
        normalizeBatch(train.images, idx, buf, pixMean, pixStd, config.augment ? { rng } : null);
        lr = learningRateAt("cosine", config.lrVisual, step++, totalSteps, 0);
        optimizer.setLearningRate(lr);
        const labels = Int32Array.from(idx, (i) => train.labels[i]);
        const dropSeed = rng.int(2 ** 31);
        const extra = sampleVocabNegatives(rng, inputs.negativeVectors, D, negatives);
        const loss = tf.tidy(() => {
          const y = tf.tensor1d(labels, "int32");
          const x = batchToInput(tf, buf, idx.length, size);
          const { value, grads } = tf.variableGrads(() => {
            const f = tf.reshape(sub.apply(x, { training: true }) as tfjs.Tensor, [idx.length, d]);
            const z = mean && std ? tf.div(tf.sub(f, mean), std) : f;
            const zd = devCfg.dropout > 0 ? tf.dropout(z, devCfg.dropout, undefined, dropSeed) : z;
            let l = deviseLossTf(tf, {
              kind: devCfg.loss,
              margin: devCfg.margin,
              lambda: devCfg.lambda,
              embeddings: tf.matMul(zd, M) as tfjs.Tensor2D,
              labels: y,
              labelVectors: T,
              extraNegatives: extra ? tf.tensor2d(extra, [negatives, D]) : undefined,
            });
            if (devCfg.weightDecay > 0) {
              l = tf.add(l, tf.mul(0.5 * devCfg.weightDecay, tf.sum(tf.square(M))));
            }
            return l as tfjs.Scalar;
          }, [...vars, M]);
          optimizer.applyGradients(vars.map((v, i) => ({
            name: v.name,
            tensor: decays[i] && config.weightDecay > 0
              ? tf.add(grads[v.name], tf.mul(v, config.weightDecay))
              : grads[v.name],
          })));
          _adamStep(tf, M, grads[M.name], mapAdam, step, config.mapLr); // step: 1-based here
          return value.dataSync()[0];
        });
        assertFiniteLoss(
          loss,
          `fine-tuning epoch ${epoch}, step ${step}`,
          `lower --finetune-lr (now ${config.lrVisual})`,
        );
        lossSum += loss * idx.length;
        seen += idx.length;
        bar.tick(idx.length, `loss ${(lossSum / seen).toFixed(3)}`);
      }
      const seconds = (performance.now() - t0) / 1000;
      bar.done();
      const testHit1 = _hit1(tf, sub, d, inputs.test, pixMean, pixStd, { M, T, mean, std });
      const record: FinetuneEpoch = {
        epoch,
        lr,
        trainLoss: lossSum / Math.max(1, seen),
        testHit1,
        seconds,
        imagesPerSecond: seen / seconds,
      };
      curve.push(record);
      log(
        `fine-tune epoch ${epoch}/${config.epochs} lr ${lr.toPrecision(3)} train loss ` +
          `${record.trainLoss.toFixed(4)} | test hit@1 ${testHit1.toFixed(4)} | ` +
          `${record.imagesPerSecond.toFixed(1)} img/s ${seconds.toFixed(1)}s`,
      );
      const state: TrainState = {
        epoch,
        rngState: rng.state(),
        curve,
        config: { key, finetune: config, layer },
        modelSpec: spec,
        bestTop1: Math.max(testHit1, ...curve.map((c) => c.testHit1)),
        bestEpoch: epoch,
        normalization: inputs.checkpoint.state.normalization,
      };
      await saveCheckpoint(root, {
        model,
        optimizer,
        state,
        extra: [
          { name: "M", tensor: M },
          { name: "M_adam_m", tensor: mapAdam.m },
          { name: "M_adam_v", tensor: mapAdam.v },
        ],
      });
      last = await loadCheckpoint(root, "last");
    }
    if (!last) last = await loadCheckpoint(root, "last");
    if (!last) throw new Error(`fine-tuning wrote no checkpoint under ${root}`);
    return {
      model,
      checkpoint: last,
      devise: { ...devise, M: (await M.data()) as Float32Array },
      curve,
      resumedFrom: startEpoch,
    };
  } finally {
    tf.dispose([M, T, ...(mean ? [mean] : []), ...(std ? [std] : [])]);
    optimizer.dispose();
    tf.dispose([mapAdam.m, mapAdam.v]);
  }
}

const ADAM_BETA1 = 0.9, ADAM_BETA2 = 0.999, ADAM_EPSILON = 1e-7; // tfjs's and Keras' defaults

/** Adam's moment estimates of one variable. */
interface AdamState {
  m: tfjs.Variable;
  v: tfjs.Variable;
}

function _adamState(tf: TF, shape: [number, number]): AdamState {
  return tf.tidy(() => ({ // tidy: the zeros, not the variables
    m: tf.variable(tf.zeros(shape), false, "finetune_M_adam_m"),
    v: tf.variable(tf.zeros(shape), false, "finetune_M_adam_v"),
  }));
}

/**
 * Adam step number `t` (1-based) of `x`. Written out rather than `tf.train.adam`, whose
 * restored state recomputes β^t with a float32 pow and so does not resume bit for bit; here the
 * bias corrections come from the step count in float64.
 */
function _adamStep(tf: TF, x: tfjs.Variable, g: tfjs.Tensor, s: AdamState, t: number, lr: number) {
  s.m.assign(tf.add(tf.mul(s.m, ADAM_BETA1), tf.mul(g, 1 - ADAM_BETA1)));
  s.v.assign(tf.add(tf.mul(s.v, ADAM_BETA2), tf.mul(tf.square(g), 1 - ADAM_BETA2)));
  const mHat = tf.div(s.m, 1 - ADAM_BETA1 ** t);
  const vHat = tf.div(s.v, 1 - ADAM_BETA2 ** t);
  x.assign(tf.sub(x, tf.mul(lr, tf.div(mHat, tf.add(tf.sqrt(vHat), ADAM_EPSILON)))));
}

/**
 * The standardisation's std with near-constant columns floored at 1% of the mean std. Units that
 * were dead in every training image (std ~1e-6) wake up once the visual layers move, and dividing
 * by their std would blow the embeddings up; M never learned from those columns anyway.
 *
 * @example
 * ```ts
 * safeStd(new Float32Array([1, 1e-6])); // [1, 0.005000…]
 * ```
 */
export function safeStd(std: Float32Array): Float32Array {
  const floor = 0.01 * std.reduce((a, b) => a + b, 0) / Math.max(1, std.length);
  return std.map((s) => Math.max(s, floor));
}

/** hit@1 of the fine-tuned image → label mapping on a split (inference mode). */
function _hit1(
  tf: TF,
  sub: tfjs.LayersModel,
  d: number,
  split: ImageSplit,
  pixMean: number[],
  pixStd: number[],
  t: { M: tfjs.Tensor; T: tfjs.Tensor; mean: tfjs.Tensor | null; std: tfjs.Tensor | null },
): number {
  const size = sub.inputs[0].shape[1] as number;
  const buf = new Float32Array(256 * 3072);
  let hits = 0;
  for (const idx of batchIndices(split.count, 256, null)) {
    normalizeBatch(split.images, idx, buf, pixMean, pixStd, null);
    const pred = tf.tidy(() => {
      const f = tf.reshape(sub.apply(batchToInput(tf, buf, idx.length, size)) as tfjs.Tensor, [
        idx.length,
        d,
      ]);
      const z = t.mean && t.std ? tf.div(tf.sub(f, t.mean), t.std) : f;
      return tf.argMax(tf.matMul(tf.matMul(z, t.M), t.T, false, true), 1).dataSync();
    });
    idx.forEach((i, r) => {
      if (pred[r] === split.labels[i]) hits++;
    });
  }
  return hits / Math.max(1, split.count);
}
