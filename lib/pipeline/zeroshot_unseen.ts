/**
 * `deno task zeroshot --unseen K`: a seen/unseen split inside CIFAR-100. DeViSE is retrained
 * without the K held-out classes and ConSE mixes only seen labels; both are scored K-way on the
 * unseen classes and over all 100 (generalised zero-shot), plain and with calibrated stacking whose
 * γ is picked on a second split of the training classes, never on the test.
 *
 * ```sh
 * deno task pretrain --data-dir ../shared/data --unseen 20 --out data/runs/resnet20-unseen20
 * deno task train --data-dir ../shared/data --visual data/runs/resnet20-unseen20
 * deno task zeroshot --unseen 20 --data-dir ../shared/data --json
 * ```
 * @module
 */
import type { Run } from "../cli/run.ts";
import type { TF } from "../backend/select.ts";
import { type CifarSplit, loadCifar } from "../data/cifar.ts";
import { type DeviseConfig, embed, type EpochStats, trainDevise } from "../devise/train.ts";
import { Rng } from "../io/rng.ts";
import { takeRows } from "../io/rows.ts";
import type { Table } from "../report/report.ts";
import type { LineChartOptions } from "../report/svg.ts";
import { resolveCheckpoint } from "../vision/checkpoint.ts";
import { featurePath, readFeatures } from "../vision/extract.ts";
import { conseEmbed, cslsPenalty } from "../zeroshot/eval.ts";
import {
  calibrationGamma,
  chooseUnseen,
  generalizedZeroShot,
  seenUnseenCurve,
  unseenBoost,
  visualNeverSaw,
} from "../zeroshot/gzsl.ts";

/** The settings the seen/unseen split reads (a `ZeroShotConfig` fits). */
export interface SeenUnseenConfig {
  dataDir: string;
  layer: string;
  /** Hold out this many CIFAR-100 classes (seeded), or the `unseenNames`. */
  unseen: number;
  unseenNames: string[];
  conseT: number;
  cslsK: number;
  cslsWeight: number;
  seed: number;
}

/** One method's generalised zero-shot figures. */
export type SeenUnseenMethod = ReturnType<typeof generalizedZeroShot> & {
  ausuc: number;
  bestH: number;
  calibrated: { gamma: number; seen: number; unseen: number; harmonicMean: number };
};

/** The split's numbers in `metrics.json`: the held-out classes and each method's figures. */
export type SeenUnseenMetrics = { classes: string[]; visualNeverSaw: boolean } & {
  [method: string]: SeenUnseenMethod | string[] | boolean;
};

/** Generalised zero-shot inside CIFAR-100 for DeViSE (retrained on seen classes) and ConSE. */
export async function seenUnseenSplit(
  tf: TF,
  cfg: SeenUnseenConfig,
  run: Run,
  inputs: {
    /** `train`'s feature folder (CIFAR-100 train/test features and softmax outputs). */
    featureDir: string;
    /** Where the softmax outputs are, when not beside the features (a fine-tuned model's). */
    probsDir?: string;
    /** Settings of the DeViSE model being evaluated; the seen-only ones are trained alike. */
    deviseConfig: DeviseConfig;
    /** Unit vectors of every word, for `deviseConfig.vocabNegatives` (drawn as in training). */
    negativeVectors?: Float32Array;
    /** CIFAR-100 label vectors, 100 rows of `D`. */
    labelData: Float32Array;
    D: number;
    test: CifarSplit;
    /** The visual model's checkpoint, to tell whether it saw the unseen classes. */
    visualCheckpoint?: string;
  },
): Promise<{ metrics: SeenUnseenMetrics; table: Table; chart: LineChartOptions }> {
  const { featureDir: dir, labelData, D, test } = inputs;
  const deviseConfig = { ...inputs.deviseConfig, negativeVectors: inputs.negativeVectors };
  // 1. Which classes are unseen, and whether the visual model saw them.
  const { unseen, neverSeen } = await _chooseClasses(cfg, run, test, inputs.visualCheckpoint);
  const unseenSet = new Set(unseen);
  const seenIds = [...Array(100).keys()].filter((c) => !unseenSet.has(c));
  // 2. DeViSE retrained on the seen classes' training images; ConSE mixing seen labels only.
  const train = await loadCifar(cfg.dataDir, "cifar100", "train");
  const trainF = await readFeatures(featurePath(dir, "cifar100", "train", cfg.layer));
  const probsDir = inputs.probsDir ?? dir;
  const trainP = await readFeatures(featurePath(probsDir, "cifar100", "train", "probs"));
  const seenModel = await trainDeviseOnRows(
    tf,
    deviseConfig,
    trainF,
    [...train.labels.keys()].filter((i) => !unseenSet.has(train.labels[i])),
    train.labels,
    labelData,
    D,
    (s) => run.log(`   seen-only DeViSE epoch ${s.epoch}: loss ${s.trainLoss.toFixed(4)}`),
  );
  const testF = await readFeatures(featurePath(dir, "cifar100", "test", cfg.layer));
  const testP = await readFeatures(featurePath(probsDir, "cifar100", "test", "probs"));
  const embedded = {
    DeViSE: embed(tf, seenModel, testF.data),
    ConSE: _conseWithout(testP.data, unseen, labelData, D, cfg.conseT),
  };
  // CSLS against the seen labels only: the unseen ones were never trained on.
  const penalty = cfg.cslsK > 0
    ? cslsPenalty(labelData, takeRows(labelData, D, seenIds), D, cfg.cslsK, cfg.cslsWeight)
    : undefined;
  const variants = (name: string) =>
    penalty
      ? [[name, undefined], [`${name} + CSLS`, penalty]] as const
      : [[name, undefined]] as const;
  // 3. Calibrated stacking's γ from a validation split of the training classes.
  const gammas = await _validationGammas(tf, cfg, run, deviseConfig, {
    seenIds,
    trainF,
    trainP,
    labels: train.labels,
    labelData,
    D,
    variants,
  });
  // 4. Every method on the test images: K-way, generalised, calibrated, AUSUC.
  const methods: Record<string, SeenUnseenMethod> = {};
  const curves: LineChartOptions["series"] = [];
  for (const [method, e] of Object.entries(embedded)) {
    for (const [name, penalty] of variants(method)) {
      const scored = _scoreMethod(e, D, test.labels, labelData, unseen, gammas[name], penalty);
      methods[name] = scored.method;
      curves.push({ name, points: scored.curve });
      _logMethod(run, name, unseen.length, scored.method);
    }
  }
  return {
    metrics: {
      classes: unseen.map((c) => test.labelNames[c]),
      visualNeverSaw: neverSeen,
      ...methods,
    } as SeenUnseenMetrics,
    table: _table(methods, unseen.length, cfg.seed, neverSeen),
    chart: {
      title: "Seen–unseen accuracy as unseen scores are raised (calibrated stacking)",
      xLabel: "unseen accuracy (of 100)",
      yLabel: "seen accuracy (of 100)",
      series: curves,
    },
  };
}

/** The held-out classes (seeded or named) and whether the visual model was trained without them. */
async function _chooseClasses(
  cfg: SeenUnseenConfig,
  run: Run,
  test: CifarSplit,
  visualCheckpoint?: string,
): Promise<{ unseen: number[]; neverSeen: boolean }> {
  const visualExcluded = visualCheckpoint
    ? (await resolveCheckpoint(visualCheckpoint, "last")).state.config
      .excludeClasses as number[] | undefined
    : undefined;
  const unseen = chooseUnseen(100, cfg.unseen, {
    seed: cfg.seed,
    named: cfg.unseenNames,
    names: test.labelNames,
  });
  const neverSeen = visualNeverSaw(visualExcluded ?? [], unseen, test.labelNames);
  run.log(`unseen classes (${unseen.length}): ${unseen.map((c) => test.labelNames[c]).join(", ")}`);
  run.log(
    neverSeen
      ? "the visual model was trained without them (pretrain --unseen)"
      : "the visual model saw them (pretrain without --unseen): their features are privileged",
  );
  return { unseen, neverSeen };
}

/** One method's figures, and its seen–unseen curve thinned to a few hundred points. */
function _scoreMethod(
  e: Float32Array,
  D: number,
  labels: Int32Array,
  labelData: Float32Array,
  unseen: number[],
  gamma: number,
  penalty?: Float32Array,
): { method: SeenUnseenMethod; curve: [number, number][] } {
  const curve = seenUnseenCurve(e, D, labels, labelData, unseen, penalty);
  const boost = unseenBoost(100, unseen, gamma, penalty);
  const cal = generalizedZeroShot(e, D, labels, labelData, unseen, boost);
  // A few hundred points draw the curve; there is one per image that changes it.
  const step = Math.max(1, Math.ceil(curve.points.length / 300));
  const shown = curve.points.filter((_, i) => i % step === 0 || i === curve.points.length - 1);
  return {
    method: {
      ...generalizedZeroShot(e, D, labels, labelData, unseen, penalty),
      ausuc: curve.ausuc,
      bestH: curve.best.harmonicMean,
      calibrated: {
        gamma,
        seen: cal.seenAccuracy,
        unseen: cal.unseenAllAccuracy,
        harmonicMean: cal.harmonicMean,
      },
    },
    curve: shown.map((p) => [p.unseen, p.seen]),
  };
}

function _table(
  methods: Record<string, SeenUnseenMethod>,
  k: number,
  seed: number,
  neverSeen: boolean,
): Table {
  return {
    title: `Seen/unseen split of CIFAR-100 (${k} unseen classes, seed ${seed}; ` +
      `visual model ${neverSeen ? "never saw them" : "saw them"})`,
    columns: [
      "method",
      `${k}-way unseen`,
      "seen (of 100)",
      "unseen (of 100)",
      "harmonic mean",
      "H, γ from validation",
      "AUSUC",
      "best H (γ tuned on test)",
    ],
    rows: Object.entries(methods).map(([n, m]) => [
      n,
      m.unseenAccuracy,
      m.seenAccuracy,
      m.unseenAllAccuracy,
      m.harmonicMean,
      m.calibrated.harmonicMean,
      m.ausuc,
      m.bestH,
    ]),
  };
}

function _logMethod(run: Run, name: string, k: number, m: SeenUnseenMethod): void {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  run.log(
    `${name}: ${k}-way unseen ${pct(m.unseenAccuracy)}, seen ${pct(m.seenAccuracy)}, ` +
      `unseen-of-100 ${pct(m.unseenAllAccuracy)}, H ${pct(m.harmonicMean)}; γ ` +
      `${m.calibrated.gamma.toFixed(3)} from validation: seen ${pct(m.calibrated.seen)}, unseen ` +
      `${pct(m.calibrated.unseen)}, H ${pct(m.calibrated.harmonicMean)}; AUSUC ` +
      `${m.ausuc.toFixed(4)}, best H ${pct(m.bestH)} (γ tuned on test)`,
  );
}

/**
 * Calibrated stacking's gamma per method, chosen without test labels (Chao et al. 2016): the seen
 * classes are split again (same share held out, seed + 1), DeViSE is retrained on the pseudo-seen
 * ones minus a fifth of their images, and gamma is the best-H step of the seen–unseen curve over
 * those held-out images plus every image of the pseudo-unseen classes. These are training images,
 * which the visual model has fit, so their scores are sharper than the test's.
 */
async function _validationGammas(
  tf: TF,
  cfg: SeenUnseenConfig,
  run: Run,
  deviseConfig: SeenOnlyConfig,
  d: {
    seenIds: number[];
    trainF: { data: Float32Array; shape: number[] };
    trainP: { data: Float32Array };
    labels: Int32Array;
    labelData: Float32Array;
    D: number;
    variants: (name: string) => readonly (readonly [string, Float32Array | undefined])[];
  },
): Promise<Record<string, number>> {
  const { seenIds, labels, labelData, D } = d;
  const numUnseen = 100 - seenIds.length;
  const k = Math.max(1, Math.round((numUnseen * seenIds.length) / 100));
  const rng = new Rng(cfg.seed + 1);
  const pseudoUnseen = new Set(
    [...rng.permutation(seenIds.length).subarray(0, k)].map((i) => seenIds[i]),
  );
  const seen = new Set(seenIds);
  const fit: number[] = [], val: number[] = [];
  let pseudoSeenImages = 0;
  for (const i of rng.permutation(labels.length)) {
    const y = labels[i];
    if (!seen.has(y)) continue;
    if (pseudoUnseen.has(y) || pseudoSeenImages++ % 5 === 4) val.push(i);
    else fit.push(i);
  }
  run.log(
    `   validation split for γ: ${seenIds.length - k} pseudo-seen / ${k} pseudo-unseen classes, ` +
      `${fit.length} fit / ${val.length} held-out images`,
  );
  const model = await trainDeviseOnRows(
    tf,
    deviseConfig,
    d.trainF,
    fit,
    labels,
    labelData,
    D,
    (s) => run.log(`   validation DeViSE epoch ${s.epoch}: loss ${s.trainLoss.toFixed(4)}`),
  );
  // Validation candidates are the seen classes only, renumbered 0..seen-1.
  const local = new Map(seenIds.map((c, i) => [c, i]));
  const valLabels = Int32Array.from(val.map((i) => local.get(labels[i])!));
  const valVecs = takeRows(labelData, D, seenIds);
  const pseudoLocal = [...pseudoUnseen].map((c) => local.get(c)!);
  const pseudoSeenRows = takeRows(labelData, D, seenIds.filter((c) => !pseudoUnseen.has(c)));
  const dropped = [...Array(100).keys()].filter((c) => !local.has(c) || pseudoUnseen.has(c));
  const embedded: Record<string, Float32Array> = {
    DeViSE: embed(tf, model, takeRows(d.trainF.data, d.trainF.shape[1], val)),
    ConSE: _conseWithout(takeRows(d.trainP.data, 100, val), dropped, labelData, D, cfg.conseT),
  };
  const valPenalty = cfg.cslsK > 0
    ? cslsPenalty(valVecs, pseudoSeenRows, D, cfg.cslsK, cfg.cslsWeight)
    : undefined;
  const gammas: Record<string, number> = {};
  for (const [method, e] of Object.entries(embedded)) {
    for (const [name, pen] of d.variants(method)) {
      const curve = seenUnseenCurve(e, D, valLabels, valVecs, pseudoLocal, pen && valPenalty);
      gammas[name] = calibrationGamma(curve);
      run.log(
        `   ${name}: γ ${gammas[name].toFixed(3)} (validation best H ${
          (100 * curve.best.harmonicMean).toFixed(1)
        }%)`,
      );
    }
  }
  return gammas;
}

/** A DeViSE config with the words its vocabulary negatives are drawn from. */
export type SeenOnlyConfig = DeviseConfig & { negativeVectors?: Float32Array };

/**
 * DeViSE trained on the given rows of the training features (a seen-only or held-out-fold map),
 * with `deviseConfig`'s settings and vocabulary negatives.
 *
 * @example
 * ```ts
 * const model = await trainDeviseOnRows(tf, config, trainF, seenRows, labels, labelData, D, log);
 * ```
 */
export async function trainDeviseOnRows(
  tf: TF,
  deviseConfig: SeenOnlyConfig,
  features: { data: Float32Array; shape: number[] },
  rows: number[],
  labels: Int32Array,
  labelData: Float32Array,
  D: number,
  onEpoch: (s: EpochStats) => void,
  onEpochMap?: (epoch: number, M: Float32Array) => void,
) {
  const result = await trainDevise(tf, {
    ...deviseConfig,
    trainFeatures: takeRows(features.data, features.shape[1], rows),
    trainLabels: Int32Array.from(rows.map((r) => labels[r])),
    labelVectors: labelData,
    dims: D,
    onEpoch,
    onEpochMap,
  });
  return result.model;
}

// ConSE that may only mix the classes not in `dropped` (their softmax is zeroed; ConSE divides
// by the kept mass).
function _conseWithout(
  probs: Float32Array,
  dropped: readonly number[],
  labelData: Float32Array,
  D: number,
  topT: number,
): Float32Array {
  const kept = probs.slice();
  for (let i = 0; i < kept.length / 100; i++) for (const c of dropped) kept[i * 100 + c] = 0;
  return conseEmbed(kept, 100, labelData, D, topT);
}
