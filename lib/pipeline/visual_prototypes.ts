/**
 * Visual prototypes (Shigeto et al. 2015) from a train run's features: each CIFAR-100 class's
 * mean training feature of a layer, and a ridge map from the CIFAR-100 label vectors to them,
 * with λ chosen on CIFAR-100 classes held out of the fit. `zeroshot` scores CIFAR-10 (or a
 * user's folder) and the whole vocabulary with the maps; `predict` a user's label list.
 *
 * @example
 * ```ts
 * const fitted = await fitVisualPrototypes(cfg, featureDir, source, c100Test, run);
 * const scores = prototypeScores(features, fitted.maps["visual prototypes"], predicted);
 * ```
 * @module
 */
import type { Run } from "../cli/run.ts";
import { type CifarLabels, loadCifarLabels, loadDeviseSplit } from "../devise/data.ts";
import { CifarDataError } from "../data/cifar.ts";
import { InputError } from "../io/errors.ts";
import { takeRows } from "../io/rows.ts";
import { labelVectors } from "../text/labels.ts";
import type { WordVectors } from "../text/vectors.ts";
import type { FeatureLayer } from "../vision/models.ts";
import type { TrainRun } from "./runs.ts";
import {
  classMeans,
  fitPrototypeMap,
  MAX_WHITENED_DIM,
  predictPrototypes,
  type PrototypeMap,
  prototypeScores,
  ridgeLambdaByHeldOutClasses,
  withinClassWhitening,
} from "../zeroshot/prototypes.ts";

/** How one variant of the visual prototypes set its λ. */
export interface PrototypeFit {
  lambda: number;
  /** Held-out-class accuracy of each candidate λ (absent when λ was given). */
  byLambda?: { lambda: number; meanAccuracy: number }[];
  /** Held-out-class accuracy at that λ, self-trained (`selfTrain`; absent when λ was given). */
  selfTrainedAccuracy?: number;
}

/** The fitted maps and how each set its λ, by variant (row name). */
export interface FittedPrototypes {
  maps: Record<string, PrototypeMap>;
  fit: Record<string, PrototypeFit>;
}

/** The visual prototypes' scores of the target images, with the maps behind them. */
export interface VisualPrototypes extends FittedPrototypes {
  /** `n * C` cosines of the centred target features with the predicted prototypes. */
  scores: Record<string, Float32Array>;
}

/** What the fit reads: the data folder (CIFAR-100 labels), the layer, λ (0 = chosen), the seed. */
export interface PrototypeConfig {
  dataDir: string;
  layer: FeatureLayer;
  prototypeLambda: number;
  seed: number;
  /** Fit the whitened variant too, where the layer is narrow enough (default true). */
  whitened?: boolean;
  /** Also self-train the held-out classes' scores (`selfTrainedAccuracy`). */
  selfTrain?: boolean;
}

/** Folds of CIFAR-100 classes λ is cross-validated over (10 classes held out in each). */
const PROTOTYPE_FOLDS = 10;

/**
 * The maps of "visual prototypes", and, for layers up to `MAX_WHITENED_DIM` wide, "whitened
 * visual prototypes" (the cosine after the seen classes' within-class whitening), fit on the
 * layer's CIFAR-100 training features in `featureDir` and the source label vectors (one row per
 * CIFAR-100 class). λ is `cfg.prototypeLambda`, or (0) each variant's best of `PROTOTYPE_LAMBDAS`
 * when held-out CIFAR-100 classes are predicted from the rest (their `c100Test` images): no target
 * image or label is read.
 *
 * @example
 * ```ts
 * const { maps } = await fitVisualPrototypes(cfg, dir, { data, dim: 150 }, c100Test, run);
 * ```
 */
export async function fitVisualPrototypes(
  cfg: PrototypeConfig,
  featureDir: string,
  source: { data: Float32Array; dim: number },
  c100Test: CifarLabels,
  run: Run,
): Promise<FittedPrototypes> {
  const trainLabels = await loadCifarLabels(cfg.dataDir, "cifar100", "train");
  const train = await loadDeviseSplit(featureDir, trainLabels, cfg.layer);
  const F = train.features.length / trainLabels.count;
  // Classes without training images (a user's partial copy, a test fixture) get no prototype.
  const { classes, means: prototypes } = classMeans(train.features, F, trainLabels.labels, 100);
  if (classes.length < 4) {
    throw new InputError(
      `${featureDir}: CIFAR-100 training images of ${classes.length} classes; visual prototypes ` +
        `need 4 or more (or --no-prototypes)`,
    );
  }
  const sourceVectors = takeRows(source.data, source.dim, classes);
  const variants: [string, Float32Array | undefined][] = [["visual prototypes", undefined]];
  const whitened = cfg.whitened ?? true;
  if (whitened && F <= MAX_WHITENED_DIM) {
    variants.push([
      "whitened visual prototypes",
      withinClassWhitening(train.features, F, trainLabels.labels, 100),
    ]);
  } else if (whitened) {
    run.log(`visual prototypes: ${F}-D features are not whitened (${MAX_WHITENED_DIM} at most)`);
  }
  const test = cfg.prototypeLambda === 0
    ? await loadDeviseSplit(featureDir, c100Test, cfg.layer)
    : undefined;
  // Held-out folds score CIFAR-100 test images, labelled by their class's prototype row.
  const row = new Map(classes.map((c, k) => [c, k]));
  const testRows = c100Test.labels.map((y) => row.get(y) ?? -1);
  const folds = Math.min(PROTOTYPE_FOLDS, Math.floor(classes.length / 2));
  const out: FittedPrototypes = { maps: {}, fit: {} };
  for (const [name, whitening] of variants) {
    let fit: PrototypeFit = { lambda: cfg.prototypeLambda };
    if (test) {
      fit = ridgeLambdaByHeldOutClasses({
        labelVectors: sourceVectors,
        wordDim: source.dim,
        prototypes,
        featureDim: F,
        features: test.features,
        labels: testRows,
        whitening,
      }, { folds, seed: cfg.seed, selfTrain: cfg.selfTrain });
      run.log(
        `${name} (${cfg.layer}, ${F}-D): λ ${fit.lambda}, chosen on held-out CIFAR-100 classes ` +
          `(${folds} folds, mean per-class accuracy among each fold's classes: ` +
          fit.byLambda!.map((r) => `λ ${r.lambda} ${(100 * r.meanAccuracy).toFixed(1)}%`)
            .join(", ") +
          ")",
      );
      if (fit.selfTrainedAccuracy !== undefined) {
        run.log(
          `${name}, self-trained, on the same held-out classes at λ ${fit.lambda}: ` +
            `${(100 * fit.selfTrainedAccuracy).toFixed(1)}%`,
        );
      }
    }
    out.maps[name] = fitPrototypeMap(
      sourceVectors,
      source.dim,
      prototypes,
      F,
      fit.lambda,
      whitening,
    );
    out.fit[name] = fit;
  }
  return out;
}

/**
 * {@link fitVisualPrototypes}, then the target images scored by cosine with the prototypes each
 * map predicts from the target label vectors.
 *
 * @example
 * ```ts
 * const { scores } = await visualPrototypes(cfg, dir, source, targetVecs, set.features, c100, run);
 * scores["visual prototypes"]; // n * C
 * ```
 */
export async function visualPrototypes(
  cfg: PrototypeConfig,
  featureDir: string,
  source: { data: Float32Array; dim: number },
  targetVectors: Float32Array,
  targetFeatures: Float32Array,
  c100Test: CifarLabels,
  run: Run,
): Promise<VisualPrototypes> {
  const fitted = await fitVisualPrototypes(cfg, featureDir, source, c100Test, run);
  const scores = Object.fromEntries(
    Object.entries(fitted.maps).map((
      [name, map],
    ) => [name, prototypeScores(targetFeatures, map, predictPrototypes(map, targetVectors))]),
  );
  return { ...fitted, scores };
}

/**
 * The plain "visual prototypes" map of a train run's layer, for a task that scores a user's
 * labels or words with it (`predict`, `search`): λ chosen on held-out CIFAR-100 classes, seed 1.
 * Undefined, with a log line that says why, when `dataDir` has no CIFAR-100 (its labels are
 * part of the fit); other errors are thrown.
 *
 * @example
 * ```ts
 * const map = await runPrototypeMap(trained, "gap", words, "../shared/data", run);
 * ```
 */
export async function runPrototypeMap(
  trained: TrainRun,
  layer: FeatureLayer,
  words: WordVectors,
  dataDir: string,
  run: Run,
): Promise<PrototypeMap | undefined> {
  let c100Test;
  try {
    c100Test = await loadCifarLabels(dataDir, "cifar100", "test");
  } catch (e) {
    if (!(e instanceof CifarDataError && e.kind === "missing")) throw e;
    run.log(`visual prototypes: skipped (their fit reads CIFAR-100's labels): ${e.message}`);
    return undefined;
  }
  const source = labelVectors(words, trained.metrics.classes);
  const cfg = { dataDir, layer, prototypeLambda: 0, seed: 1, whitened: false };
  const featureDir = trained.metrics.featureDir;
  const fitted = await fitVisualPrototypes(
    cfg,
    featureDir,
    { data: source.data, dim: words.dim },
    c100Test,
    run,
  );
  return fitted.maps["visual prototypes"];
}
