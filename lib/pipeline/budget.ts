/**
 * A time budget for `deno task train` (`--budget 2h`, the `cpu` preset's default): instead of a
 * fixed epoch count, which fits one machine and not the next, the pipeline measures this
 * machine's training step, inference and DeViSE speed, and sizes the visual model's one-cycle
 * schedule so that all stages together end within the budget. The plan is saved in the visual
 * stage's folder, so a re-run (or `--resume` after a kill) keeps the same epochs.
 *
 * @example
 * ```ts
 * parseDuration("1h30m"); // 5400 seconds
 * const plan = planEpochs({ budgetSeconds: 7200, spentSeconds: 300, epochSeconds: 140,
 *   extractSeconds: 90, deviseSeconds: 160, otherSeconds: 20 });
 * plan.epochs; // 45
 * ```
 * @module
 */
import type { TF } from "../backend/select.ts";
import { trainDevise } from "../devise/train.ts";
import { UsageError } from "../io/errors.ts";
import { Rng } from "../io/rng.ts";
import { buildModel } from "../vision/models.ts";
import { measureTrainingSpeed, type TrainConfig, type TrainingImages } from "../vision/train.ts";
import type { DeviseSettings, TrainSettings } from "./presets.ts";

/**
 * Seconds in a duration written as `2h`, `90m`, `1h30m`, `45s` or a plain number of minutes.
 *
 * @example
 * ```ts
 * parseDuration("2h"); // 7200
 * ```
 */
export function parseDuration(text: string): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 60; // "0" turns the budget off
  const m = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(t);
  if (!m || t === "") {
    throw new UsageError(`--budget expects a duration such as 2h, 90m or 1h30m, got '${text}'`);
  }
  const seconds = Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
  if (!(seconds > 0)) throw new UsageError(`--budget must be longer than 0, got '${text}'`);
  return seconds;
}

/** Inputs of {@link planEpochs}: the budget, what is spent, and each remaining stage's cost. */
export interface PlanInputs {
  budgetSeconds: number;
  /** Wall time already spent by this run (data, vectors, calibration). */
  spentSeconds: number;
  /** One visual epoch: training steps, test evaluation and the checkpoint. */
  epochSeconds: number;
  /** Feature extraction of every layer over CIFAR-100 train/test and CIFAR-10 test. */
  extractSeconds: number;
  /** DeViSE training and evaluation over every layer. */
  deviseSeconds: number;
  /** Everything else (report, loading, writing). */
  otherSeconds: number;
  /** At least this many epochs, even past the budget (default 1). */
  minEpochs?: number;
}

/** The epochs chosen and the expected wall time of the whole run. */
export interface BudgetPlan extends PlanInputs {
  epochs: number;
  /** Expected seconds of the visual stage. */
  visualSeconds: number;
  /** Expected wall time of the whole run, from its start. */
  etaSeconds: number;
}

/**
 * The most whole epochs that fit what the budget leaves after the other stages.
 *
 * @example
 * ```ts
 * planEpochs({ budgetSeconds: 3600, spentSeconds: 0, epochSeconds: 100, extractSeconds: 50,
 *   deviseSeconds: 40, otherSeconds: 10 }).epochs; // 35
 * ```
 */
export function planEpochs(inputs: PlanInputs): BudgetPlan {
  const left = inputs.budgetSeconds - inputs.spentSeconds - inputs.extractSeconds -
    inputs.deviseSeconds - inputs.otherSeconds;
  const epochs = Math.max(inputs.minEpochs ?? 1, Math.floor(left / inputs.epochSeconds));
  const visualSeconds = epochs * inputs.epochSeconds;
  return {
    ...inputs,
    epochs,
    visualSeconds,
    etaSeconds: inputs.spentSeconds + visualSeconds + inputs.extractSeconds +
      inputs.deviseSeconds + inputs.otherSeconds,
  };
}

/** What {@link measureStageCosts} measured, per stage. */
export interface StageCosts {
  epochSeconds: number;
  extractSeconds: number;
  deviseSeconds: number;
  /** Fine-tuning epochs plus the extraction of the fine-tuned model's features. */
  finetuneSeconds: number;
  otherSeconds: number;
  /** Training images per second of the measured step. */
  trainImagesPerSecond: number;
  /** Inference images per second. */
  forwardImagesPerSecond: number;
}

/**
 * Measures what the remaining stages will cost on this machine: the visual model's real training
 * step (on `data`'s images when given) and inference (lib/vision/train.ts `measureTrainingSpeed`),
 * and DeViSE's real training loop on random features of each layer's width, scaled to the data
 * sizes.
 *
 * @example
 * ```ts
 * const costs = await measureStageCosts(tf, settings, visualConfig, { train: 50000, test: 10000,
 *   extract: 70000, labelDim: 100 });
 * ```
 */
export async function measureStageCosts(
  tf: TF,
  settings: TrainSettings,
  config: TrainConfig,
  counts: { train: number; test: number; extract: number; labelDim: number },
  data?: TrainingImages,
): Promise<StageCosts> {
  // Real images through the epoch's loop body, after 5 untimed steps: random images and 2 warm-up
  // steps read 276 img/s on a run whose epochs then ran at 313-356 (bench/calibration.ts).
  const speed = measureTrainingSpeed(tf, config, { warmup: 5, steps: 20, data });
  const stepsPerEpoch = Math.floor(counts.train / config.batchSize);
  const perImageForward = speed.forwardSeconds / speed.forwardBatch;
  // Each epoch also evaluates the test split and writes a checkpoint (about a second).
  const epochSeconds = stepsPerEpoch * speed.stepSeconds + counts.test * perImageForward + 1;
  // Extraction reads each split once; writing and hashing ~1 GB of features adds ~15 s.
  const extractSeconds = counts.extract * perImageForward * 1.1 + 15;
  const model = buildModel(tf, { ...config.model, seed: 1 });
  let deviseSeconds = 0;
  for (const layer of settings.layers) {
    const d = (model.getLayer(layer).outputShape as number[]).slice(1).reduce((a, b) => a * b, 1);
    const devise = { ...settings.devise, ...settings.deviseByLayer[layer] };
    deviseSeconds += await _deviseEpochSeconds(tf, devise, d, counts) * devise.epochs;
  }
  model.dispose();
  // A fine-tuning step is a training step of the layers up to the DeViSE layer, plus M.
  const ft = settings.finetune;
  const ftImages = ft.limit ? Math.min(ft.limit, counts.train) : counts.train;
  const finetuneSeconds = ft.epochs > 0
    ? ft.epochs * (Math.floor(ftImages / ft.batchSize) * speed.stepSeconds * ft.batchSize /
            config.batchSize + counts.test * perImageForward + 1) + extractSeconds
    : 0;
  return {
    epochSeconds,
    extractSeconds,
    deviseSeconds,
    finetuneSeconds,
    otherSeconds: 20,
    trainImagesPerSecond: config.batchSize / speed.stepSeconds,
    forwardImagesPerSecond: 1 / perImageForward,
  };
}

/**
 * One DeViSE epoch over `counts.train` rows of width `d`: the second of two epochs over a slice
 * of random rows (the first pays for setup), scaled to the data.
 */
async function _deviseEpochSeconds(
  tf: TF,
  devise: DeviseSettings,
  d: number,
  counts: { train: number; test: number; labelDim: number },
): Promise<number> {
  const rng = new Rng(1);
  const n = Math.min(counts.train, 10 * devise.batchSize);
  const C = 100, D = counts.labelDim;
  const random = (rows: number) => Float32Array.from({ length: rows * D }, () => rng.normal());
  const { epochSeconds } = await trainDevise(tf, {
    ...devise,
    // Vocabulary negatives cost a K×D matmul per batch: drawn from random words here.
    negativeVectors: devise.vocabNegatives ? random(1000) : undefined,
    epochs: 2,
    trainFeatures: Float32Array.from({ length: n * d }, () => rng.normal()),
    trainLabels: Int32Array.from({ length: n }, (_, i) => i % C),
    labelVectors: random(C),
    dims: D,
  });
  // The epoch's test evaluation is an inference pass: about a third of a training pass.
  return epochSeconds[1] * (counts.train + counts.test / 3) / n;
}
