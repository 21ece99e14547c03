/**
 * The visual model's training loop (not `model.fit`, so we own augmentation, checkpoints and
 * the RNG): SGD with momentum (optionally Nesterov), a per-step learning-rate schedule, label
 * smoothing, L2 weight decay on conv/dense kernels added to the gradient (PyTorch-style
 * `weight_decay`: g += wd * w), seeded data order and augmentation, per-epoch evaluation
 * (loss, top-1, top-5) and a checkpoint every epoch.
 *
 * @example
 * ```ts
 * const result = await trainVision(tf, data, { ...DEFAULT_TRAIN_CONFIG, epochs: 2 }, { outDir });
 * result.curve.at(-1)!.testTop1;
 * ```
 * @module
 */
import { join } from "node:path";
import type * as tfjs from "@tensorflow/tfjs";
import type { TF } from "../backend/select.ts";
import { batchIndices, normalizeBatch } from "../data/augment.ts";
import { assertFiniteLoss } from "../io/errors.ts";
import { Rng } from "../io/rng.ts";
import { takeRows } from "../io/rows.ts";
import { median } from "../io/stats.ts";
import { Progress, type ProgressSink } from "../cli/progress.ts";
import { buildModel, type ModelSpec } from "./models.ts";
import {
  loadCheckpoint,
  resolveCheckpoint,
  restoreInto,
  saveCheckpoint,
  type TrainState,
} from "./checkpoint.ts";
import { writeCurves } from "./curves.ts";
import { batchToInput, type ImageSplit } from "./input.ts";

export type { ImageSplit } from "./input.ts";

/** Learning-rate schedules. */
export const SCHEDULES = ["step", "onecycle", "cosine"] as const;

/** One of {@link SCHEDULES}. */
export type Schedule = typeof SCHEDULES[number];

/** Training hyper-parameters (everything that changes the result curve). */
export interface TrainConfig {
  model: ModelSpec;
  epochs: number;
  batchSize: number;
  lr: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
  schedule: Schedule;
  /** Linear warm-up epochs (cosine and step; onecycle has its own ramp). */
  warmupEpochs: number;
  labelSmoothing: number;
  seed: number;
  /** Train on the first N images of a seeded shuffle (0 = all). */
  limit: number;
  /** Pad-crop + flip augmentation. */
  augment: boolean;
  /**
   * Start from this checkpoint's weights (run folder, checkpoints/ or epoch folder; its `last`),
   * with a fresh optimizer and schedule: fine-tuning, or a second schedule on a finished run.
   */
  init?: string;
  /**
   * Class ids kept out of training and of the test evaluation, so that `zeroshot --unseen` can
   * hold out classes the visual model never saw (empty or absent: all classes).
   */
  excludeClasses?: number[];
}

/**
 * Defaults of `deno task pretrain`: ResNet-20 on CIFAR-100, SGD with momentum 0.9, batch 128, lr
 * 0.1 and He et al.'s step schedule (÷10 at 50% and 75% of training), shortened to 30 epochs
 * (He et al. train 164), with the weight decay of 5e-4 common for CIFAR-100 (theirs: 1e-4).
 */
export const DEFAULT_TRAIN_CONFIG: TrainConfig = {
  model: { arch: "resnet", depth: 20, numClasses: 100 },
  epochs: 30,
  batchSize: 128,
  lr: 0.1,
  momentum: 0.9,
  nesterov: false,
  weightDecay: 5e-4,
  schedule: "step",
  warmupEpochs: 0,
  labelSmoothing: 0,
  seed: 1,
  limit: 0,
  augment: true,
  init: "",
};

/** Train and test splits plus the normalisation stats (0..1 scale). */
export interface TrainData {
  train: ImageSplit;
  test: ImageSplit;
  mean: number[];
  std: number[];
}

/** Training images with the normalisation an epoch applies to them. */
export type TrainingImages = Pick<TrainData, "mean" | "std"> & { split: ImageSplit };

/** One epoch of the curve. */
export interface EpochRecord {
  epoch: number;
  lr: number;
  trainLoss: number;
  trainTop1: number;
  testLoss: number;
  testTop1: number;
  testTop5: number;
  seconds: number;
  imagesPerSecond: number;
  [key: string]: number;
}

/** Where and how {@link trainVision} reports. */
export interface TrainOptions {
  /** Run folder: checkpoints/, curves.json, loss.svg, accuracy.svg, tensorboard/. */
  outDir: string;
  /** Continue from `outDir/checkpoints/last.json` when present. */
  resume?: boolean;
  log?: (line: string) => void;
  quiet?: boolean;
  /** Stop after this many epochs of this call (tests); the schedule still spans `epochs`. */
  stopAfterEpochs?: number;
  /** The run whose log gets a progress line about once a minute within an epoch. */
  run?: ProgressSink;
  /** Called after each epoch's checkpoint (tests watch `tf.memory()` here). */
  onEpoch?: (record: EpochRecord) => void;
}

/** What {@link trainVision} returns. */
export interface TrainResult {
  model: tfjs.LayersModel;
  curve: EpochRecord[];
  bestTop1: number;
  bestEpoch: number;
  /** Training images per second over this call's epochs. */
  imagesPerSecond: number;
  /** Epoch the run resumed after (0 = fresh). */
  resumedFrom: number;
}

/**
 * Learning rate at step `step` of `totalSteps`. `step`: He et al. (lr, /10 at 50%, /100 at
 * 75%); `cosine`: half-cosine to 0; `onecycle`: cosine ramp lr/25 -> lr over the first 30%,
 * then cosine to lr/1e4 (PyTorch OneCycleLR defaults, no momentum cycling). Warm-up (step and
 * cosine) ramps linearly from lr/warmupSteps.
 *
 * @example
 * ```ts
 * learningRateAt("step", 0.1, 60, 100, 0); // 0.01
 * ```
 */
export function learningRateAt(
  schedule: Schedule,
  lr: number,
  step: number,
  totalSteps: number,
  warmupSteps: number,
): number {
  const t = step / Math.max(1, totalSteps);
  if (schedule === "onecycle") {
    const up = 0.3;
    const cos = (a: number, b: number, f: number) => b + (a - b) * (1 + Math.cos(Math.PI * f)) / 2;
    return t < up ? cos(lr / 25, lr, t / up) : cos(lr, lr / 25 / 1e4, (t - up) / (1 - up));
  }
  if (step < warmupSteps) return lr * (step + 1) / warmupSteps;
  if (schedule === "step") return t < 0.5 ? lr : t < 0.75 ? lr / 10 : lr / 100;
  const f = (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
  return lr * (1 + Math.cos(Math.PI * f)) / 2;
}

/**
 * Evaluates `model` on a split in batches: mean cross-entropy, top-1 and top-5 accuracy.
 *
 * @example
 * ```ts
 * const { loss, top1, top5 } = evaluate(tf, model, test, mean, std, 256);
 * ```
 */
export function evaluate(
  tf: TF,
  model: tfjs.LayersModel,
  split: ImageSplit,
  mean: number[],
  std: number[],
  batchSize = 256,
): { loss: number; top1: number; top5: number } {
  const numClasses = model.outputs[0].shape[1] as number;
  const k = Math.min(5, numClasses);
  const buf = new Float32Array(batchSize * 3072);
  let lossSum = 0, hit1 = 0, hit5 = 0;
  for (const idx of batchIndices(split.count, batchSize, null)) {
    normalizeBatch(split.images, idx, buf, mean, std, null);
    const labels = Int32Array.from(idx, (i) => split.labels[i]);
    const [l, h1, h5] = tf.tidy(() => {
      const logits = _forward(tf, model, buf, idx.length, false);
      const y = tf.tensor1d(labels, "int32");
      const ce = tf.losses.softmaxCrossEntropy(
        tf.oneHot(y, numClasses),
        logits,
        undefined,
        0,
        tf.Reduction.SUM,
      );
      const top = tf.topk(logits, k).indices;
      const inTop = tf.equal(top, y.expandDims(1)).cast("float32");
      const top1 = inTop.slice([0, 0], [-1, 1]).sum();
      return [ce, top1, inTop.sum()].map((t) => t.dataSync()[0]);
    });
    lossSum += l;
    hit1 += h1;
    hit5 += h5;
  }
  const n = Math.max(1, split.count);
  return { loss: lossSum / n, top1: hit1 / n, top5: hit5 / n };
}

/**
 * Trains (or resumes) a model; writes a checkpoint, curves.json and the SVG curves after every
 * epoch, and TensorBoard scalars when the backend provides `tf.node.summaryFileWriter`.
 *
 * @example
 * ```ts
 * await trainVision(tf, data, { ...DEFAULT_TRAIN_CONFIG, limit: 5000, epochs: 1 }, { outDir: "data/runs/smoke" });
 * ```
 */
export async function trainVision(
  tf: TF,
  data: TrainData,
  config: TrainConfig,
  options: TrainOptions,
): Promise<TrainResult> {
  const log = options.log ?? ((line: string) => console.error(line));
  const ckptRoot = join(options.outDir, "checkpoints");
  const modelSpec: ModelSpec = { ...config.model, seed: config.model.seed ?? config.seed };
  const model = buildModel(tf, modelSpec);
  const optimizer = tf.train.momentum(config.lr, config.momentum, config.nesterov);
  const excluded = config.excludeClasses ?? [];
  const train = subsetSplit(withoutClasses(data.train, excluded), config.limit, config.seed);
  const test = withoutClasses(data.test, excluded);
  log(
    `${train.count} training, ${test.count} test images` +
      (excluded.length ? ` (${excluded.length} classes held out)` : ""),
  );
  let rng = new Rng(config.seed);
  let curve: EpochRecord[] = [];
  let bestTop1 = -1, bestEpoch = 0, startEpoch = 0;
  const wantKey = configKey(config);

  if (options.resume) {
    const ckpt = await loadCheckpoint(ckptRoot, "last");
    if (ckpt) {
      const saved = configKey(ckpt.state.config as unknown as TrainConfig);
      if (saved !== wantKey) {
        throw new Error(
          `--resume: ${ckpt.dir} was trained with a different config\n  saved: ${saved}\n  now:   ${wantKey}`,
        );
      }
      // Build the optimizer's accumulators before overwriting them.
      await restoreInto(tf, ckpt, model, optimizer);
      rng = Rng.fromState(ckpt.state.rngState);
      curve = ckpt.state.curve as EpochRecord[];
      ({ bestTop1, bestEpoch } = ckpt.state);
      startEpoch = ckpt.state.epoch;
      log(`resumed from ${ckpt.dir} (epoch ${startEpoch}/${config.epochs})`);
    } else {
      log(`--resume: no checkpoint in ${ckptRoot}; starting fresh`);
    }
  }

  if (startEpoch === 0 && config.init) {
    const init = await resolveCheckpoint(config.init, "last");
    await restoreInto(tf, init, model); // weights only: the optimizer and schedule start afresh
    log(`initialised from ${init.dir} (epoch ${init.state.epoch}, top-1 ${init.state.bestTop1})`);
  }

  const vars = model.trainableWeights.map((w) => w.read() as tfjs.Variable);
  const decays = model.trainableWeights.map((w) => w.originalName.endsWith("kernel"));
  const dropLast = train.count > config.batchSize;
  const stepsPerEpoch = dropLast
    ? Math.floor(train.count / config.batchSize)
    : Math.ceil(train.count / config.batchSize);
  const totalSteps = stepsPerEpoch * config.epochs;
  const warmupSteps = Math.round(config.warmupEpochs * stepsPerEpoch);
  const numClasses = modelSpec.numClasses;
  const buf = new Float32Array(config.batchSize * 3072);
  const images: TrainingImages = { split: train, mean: data.mean, std: data.std };
  const writer = _summaryWriter(tf, join(options.outDir, "tensorboard"));
  let imagesSeen = 0, trainSeconds = 0;
  const lastEpoch = Math.min(config.epochs, startEpoch + (options.stopAfterEpochs ?? Infinity));

  for (let epoch = startEpoch + 1; epoch <= lastEpoch; epoch++) {
    const bar = new Progress(`epoch ${epoch}/${config.epochs}`, stepsPerEpoch * config.batchSize, {
      unit: "img",
      quiet: options.quiet,
      run: options.run,
    });
    const t0 = performance.now();
    let lossSum = 0, correct = 0, seen = 0, step = (epoch - 1) * stepsPerEpoch, lr = config.lr;
    for (const idx of batchIndices(train.count, config.batchSize, rng, { dropLast })) {
      const labels = _loadBatch(images, idx, buf, config.augment ? rng : null);
      lr = learningRateAt(config.schedule, config.lr, step++, totalSteps, warmupSteps);
      optimizer.setLearningRate(lr);
      const [loss, hits] = _trainStep(
        tf,
        model,
        optimizer,
        vars,
        decays,
        buf,
        labels,
        numClasses,
        config,
      );
      assertFiniteLoss(
        loss,
        `pretraining epoch ${epoch}, step ${step}`,
        `lower --lr (now ${config.lr}) or check the images`,
      );
      lossSum += loss * idx.length;
      correct += hits;
      seen += idx.length;
      bar.tick(idx.length, `loss ${(lossSum / seen).toFixed(3)}`);
    }
    const epochSeconds = (performance.now() - t0) / 1000;
    bar.done();
    imagesSeen += seen;
    trainSeconds += epochSeconds;
    const ev = evaluate(tf, model, test, data.mean, data.std);
    const record: EpochRecord = {
      epoch,
      lr,
      trainLoss: lossSum / Math.max(1, seen),
      trainTop1: correct / Math.max(1, seen),
      testLoss: ev.loss,
      testTop1: ev.top1,
      testTop5: ev.top5,
      seconds: epochSeconds,
      imagesPerSecond: seen / epochSeconds,
    };
    curve.push(record);
    const isBest = record.testTop1 > bestTop1;
    if (isBest) [bestTop1, bestEpoch] = [record.testTop1, epoch];
    log(
      `epoch ${epoch}/${config.epochs} lr ${lr.toPrecision(3)} train loss ${
        record.trainLoss.toFixed(4)
      } ` +
        `top-1 ${record.trainTop1.toFixed(4)} | test loss ${record.testLoss.toFixed(4)} ` +
        `top-1 ${record.testTop1.toFixed(4)} top-5 ${record.testTop5.toFixed(4)} | ` +
        `${record.imagesPerSecond.toFixed(1)} img/s ${epochSeconds.toFixed(1)}s`,
    );
    const state: TrainState = {
      epoch,
      rngState: rng.state(),
      curve,
      config: config as unknown as Record<string, unknown>,
      modelSpec,
      bestTop1,
      bestEpoch,
      normalization: { mean: data.mean, std: data.std },
    };
    await saveCheckpoint(ckptRoot, { model, optimizer, state }, { isBest });
    await writeCurves(options.outDir, curve);
    if (writer) {
      for (const key of ["trainLoss", "testLoss", "trainTop1", "testTop1", "testTop5", "lr"]) {
        writer.scalar(key, record[key], epoch);
      }
      writer.flush();
    }
    options.onEpoch?.(record);
  }
  return {
    model,
    curve,
    bestTop1,
    bestEpoch,
    imagesPerSecond: trainSeconds > 0 ? imagesSeen / trainSeconds : 0,
    resumedFrom: startEpoch,
  };
}

/**
 * Normalises (and, given an `rng`, augments) the images `idx` of `images.split` into `buf`, as an
 * epoch does; returns their labels.
 */
function _loadBatch(
  images: TrainingImages,
  idx: Int32Array,
  buf: Float32Array,
  augmentRng: Rng | null,
) {
  const { split, mean, std } = images;
  normalizeBatch(split.images, idx, buf, mean, std, augmentRng ? { rng: augmentRng } : null);
  return Int32Array.from(idx, (i) => split.labels[i]);
}

/** Epochs of shuffled batches, one after another, for as long as they are asked for. */
function* _endlessBatches(
  count: number,
  batchSize: number,
  rng: Rng,
): Generator<Int32Array, never> {
  for (;;) yield* batchIndices(count, batchSize, rng, { dropLast: count > batchSize });
}

/** One SGD step; returns [mean loss, correct count]. Disposes everything it creates. */
function _trainStep(
  tf: TF,
  model: tfjs.LayersModel,
  optimizer: tfjs.Optimizer,
  vars: tfjs.Variable[],
  decays: boolean[],
  buf: Float32Array,
  labels: Int32Array,
  numClasses: number,
  config: TrainConfig,
): [number, number] {
  return tf.tidy(() => {
    const y = tf.tensor1d(labels, "int32");
    const onehot = tf.oneHot(y, numClasses);
    let logits: tfjs.Tensor | null = null;
    const { value, grads } = tf.variableGrads(() => {
      logits = tf.keep(_forward(tf, model, buf, labels.length, true));
      return tf.losses.softmaxCrossEntropy(
        onehot,
        logits,
        undefined,
        config.labelSmoothing,
      ) as tfjs.Scalar;
    }, vars);
    const ordered = vars.map((v, i) => ({
      name: v.name,
      tensor: decays[i] && config.weightDecay > 0
        ? tf.add(grads[v.name], tf.mul(v, config.weightDecay))
        : grads[v.name],
    }));
    optimizer.applyGradients(ordered);
    const hits = tf.equal(tf.argMax(logits!, 1), y).sum();
    const out: [number, number] = [value.dataSync()[0], hits.dataSync()[0]];
    tf.dispose(logits!);
    return out;
  });
}

/** Logits for the first `n` images of a normalised 32x32 batch. */
function _forward(
  tf: TF,
  model: tfjs.LayersModel,
  buf: Float32Array,
  n: number,
  training: boolean,
): tfjs.Tensor2D {
  const x = batchToInput(tf, buf, n, model.inputs[0].shape[1] as number);
  return model.apply(x, { training }) as tfjs.Tensor2D;
}

/**
 * The images of `split` whose label is not one of `classes` (the split itself when none).
 *
 * @example
 * ```ts
 * withoutClasses(train, [3, 17]).count; // 49000 of CIFAR-100's 50000
 * ```
 */
export function withoutClasses(split: ImageSplit, classes: readonly number[]): ImageSplit {
  if (classes.length === 0) return split;
  const drop = new Set(classes);
  const keep = [...split.labels.keys()].filter((i) => !drop.has(split.labels[i]));
  return {
    count: keep.length,
    images: takeRows(split.images, 3072, keep),
    labels: Int32Array.from(keep, (i) => split.labels[i]),
  };
}

/**
 * The first `limit` images of a seeded shuffle (all when 0).
 *
 * @example
 * ```ts
 * subsetSplit(train, 5000, 1).count; // 5000
 * ```
 */
export function subsetSplit(split: ImageSplit, limit: number, seed: number): ImageSplit {
  if (!limit || limit >= split.count) return split;
  const order = new Rng(seed ^ 0x5bd1e995).permutation(split.count).subarray(0, limit);
  return {
    count: limit,
    images: takeRows(split.images, 3072, order),
    labels: Int32Array.from(order, (i) => split.labels[i]),
  };
}

/**
 * Stable JSON of the config fields that shape the curve (a resumed run must match it).
 *
 * @example
 * ```ts
 * configKey(saved) === configKey(now); // may this run resume that checkpoint?
 * ```
 */
export function configKey(c: TrainConfig): string {
  const { model, epochs, batchSize, lr, momentum, nesterov, weightDecay, schedule } = c;
  const { warmupEpochs, labelSmoothing, seed, limit, augment } = c;
  // Absent when unset, so that older checkpoints still match.
  const init = c.init ? { init: c.init } : {};
  const exclude = c.excludeClasses?.length ? { excludeClasses: c.excludeClasses } : {};
  return JSON.stringify({
    model: {
      arch: model.arch,
      depth: model.depth,
      numClasses: model.numClasses,
      width: model.width ?? 1,
      inputSize: model.inputSize ?? 32,
    },
    epochs,
    batchSize,
    lr,
    momentum,
    nesterov,
    weightDecay,
    schedule,
    warmupEpochs,
    labelSmoothing,
    seed,
    limit,
    augment,
    ...init,
    ...exclude,
  });
}

interface _SummaryWriter {
  scalar(name: string, value: number, step: number): void;
  flush(): void;
}

/** TensorBoard writer when the backend is tfjs-node (`tf.node` exists); otherwise null. */
function _summaryWriter(tf: TF, dir: string): _SummaryWriter | null {
  const node = (tf as unknown as { node?: { summaryFileWriter?: (d: string) => _SummaryWriter } })
    .node;
  if (!node?.summaryFileWriter) return null;
  try {
    return node.summaryFileWriter(dir);
  } catch {
    return null;
  }
}

/** What {@link measureTrainingSpeed} measured on this machine and backend. */
export interface TrainingSpeed {
  /** Median seconds of one SGD step at the config's batch size (after warm-up). */
  stepSeconds: number;
  /** Median seconds of one inference batch of `forwardBatch` images. */
  forwardSeconds: number;
  forwardBatch: number;
  /** Every timed step and forward batch. */
  steps: number[];
  forwards: number[];
}

/**
 * Times the real training step (the one {@link trainVision} runs: forward, backward, weight decay,
 * momentum update) and an inference batch on a throwaway model of `config.model`: the medians
 * after `warmup` untimed repetitions. With `data`, each step first normalises (and augments, as
 * `config.augment` says) a batch of those real images, as an epoch does; without, it reuses one
 * batch of random normalised images. Budgets and benchmarks use it.
 *
 * @example
 * ```ts
 * const speed = measureTrainingSpeed(tf, config, { steps: 8 });
 * 128 / speed.stepSeconds; // training images/s
 * measureTrainingSpeed(tf, config, { data: { split: train, mean, std } }); // the epoch's loop body
 * ```
 */
export function measureTrainingSpeed(
  tf: TF,
  config: TrainConfig,
  options: {
    warmup?: number;
    steps?: number;
    forwardBatch?: number;
    data?: TrainingImages;
  } = {},
): TrainingSpeed {
  const warmup = options.warmup ?? 2, n = options.steps ?? 8;
  const forwardBatch = options.forwardBatch ?? 256;
  if (options.data?.split.count === 0) {
    throw new Error("measureTrainingSpeed: the data has no images");
  }
  const model = buildModel(tf, { ...config.model, seed: config.model.seed ?? config.seed });
  const optimizer = tf.train.momentum(config.lr, config.momentum, config.nesterov);
  const vars = model.trainableWeights.map((w) => w.read() as tfjs.Variable);
  const decays = model.trainableWeights.map((w) => w.originalName.endsWith("kernel"));
  const rng = new Rng(config.seed);
  const size = Math.max(config.batchSize, forwardBatch);
  const buf = Float32Array.from({ length: size * 3072 }, () => rng.normal());
  let labels = Int32Array.from(
    { length: config.batchSize },
    (_, i) => i % config.model.numClasses,
  );
  const data = options.data;
  const batches = data ? _endlessBatches(data.split.count, config.batchSize, rng) : null;
  const time = (fn: () => void) => {
    const t0 = performance.now();
    fn();
    return (performance.now() - t0) / 1000;
  };
  const steps: number[] = [], forwards: number[] = [];
  try {
    for (let i = 0; i < warmup + n; i++) {
      const s = time(() => {
        if (data && batches) {
          labels = _loadBatch(data, batches.next().value, buf, config.augment ? rng : null);
        }
        _trainStep(
          tf,
          model,
          optimizer,
          vars,
          decays,
          buf,
          labels,
          config.model.numClasses,
          config,
        );
      });
      if (i >= warmup) steps.push(s);
    }
    for (let i = 0; i < warmup + Math.max(2, n >> 1); i++) {
      const s = time(() =>
        tf.tidy(() => {
          _forward(tf, model, buf, forwardBatch, false).dataSync();
        })
      );
      if (i >= warmup) forwards.push(s);
    }
  } finally {
    model.dispose();
    optimizer.dispose();
  }
  return {
    stepSeconds: median(steps),
    forwardSeconds: median(forwards),
    forwardBatch,
    steps,
    forwards,
  };
}
