/**
 * Choosing k of label expansion (lib/zeroshot/label_expansion.ts) on held-out CIFAR-100 classes:
 * for each fold, DeViSE is retrained without the fold's classes (the run's settings), and the
 * fold's CIFAR-100 test images are scored among the fold's labels, expanded with every k of
 * {@link LABEL_NEIGHBOUR_GRID} and label weight of {@link LABEL_WEIGHT_GRID}; the pair with the best
 * mean per-class accuracy over the folds wins.
 * No CIFAR-10 image or label is read. The fit is kept beside the DeViSE map
 * (`<model>.label-expansion.json`, keyed by the map, the features, the vectors and the folds):
 * for `act` the folds retrain a 4,096-D map three times.
 *
 * @example
 * ```ts
 * const fit = await fitLabelExpansion(tf, cfg, inputs, run);
 * fit.k; // e.g. 50
 * ```
 * @module
 */
import type { Run } from "../cli/run.ts";
import type { TF } from "../backend/select.ts";
import {
  type CifarLabels,
  deviseFeaturePath,
  loadCifarLabels,
  loadDeviseSplit,
} from "../devise/data.ts";
import { FEATURES_FORMAT, FEATURES_VERSION } from "../vision/extract.ts";
import { DEVISE_MODEL_FORMAT, DEVISE_MODEL_VERSION, embed } from "../devise/train.ts";
import type { DeviseModel } from "../devise/train.ts";
import { vocabNegativePool } from "../devise/train.ts";
import {
  ArtifactError,
  artifactIsCurrent,
  readArtifact,
  readSidecar,
  writeArtifact,
} from "../io/artifact.ts";
import { InputError } from "../io/errors.ts";
import { Rng } from "../io/rng.ts";
import { takeRows } from "../io/rows.ts";
import { type LabelVectors, labelVectors } from "../text/labels.ts";
import type { WordVectors } from "../text/vectors.ts";
import { classificationReport, nearestLabel } from "../zeroshot/eval.ts";
import {
  expandedLabelVectors,
  labelExpansionName,
  labelNeighbours,
  type LabelWeight,
} from "../zeroshot/label_expansion.ts";
import { trainDeviseOnRows } from "./zeroshot_unseen.ts";

/** The neighbour counts tried (0: the label alone). */
export const LABEL_NEIGHBOUR_GRID = [0, 1, 2, 5, 10, 20, 50, 100, 200] as const;
/**
 * The label weights tried with each k ≥ 2 (lib/zeroshot/label_expansion.ts `LabelWeight`; for
 * k ≤ 1 both are the same). Added before it was measured on any CIFAR-10 image (README,
 * eighteenth session): chosen with k on the held-out folds, never on the target set.
 */
export const LABEL_WEIGHT_GRID = ["equal", 0.5] as const satisfies readonly LabelWeight[];
/**
 * The `--label-neighbours` flag's domain, shared by `zeroshot` and `predict` (each adds its help):
 * 0 = k chosen on held-out classes, −1 = off, at most the grid's largest k.
 *
 * @example
 * ```ts
 * const spec = { labelNeighbours: { ...LABEL_NEIGHBOURS_FLAG, help: "…" } };
 * ```
 */
export const LABEL_NEIGHBOURS_FLAG = {
  type: "number",
  default: 0,
  integer: true,
  min: -1,
  max: LABEL_NEIGHBOUR_GRID.at(-1)!,
} as const;
/** Held-out folds of CIFAR-100 classes (each retrains DeViSE once). */
export const LABEL_EXPANSION_FOLDS = 3;
/** Classes per fold: as many as CIFAR-10 has labels. */
export const LABEL_EXPANSION_FOLD_CLASSES = 10;
/** Format of the kept fit, and its version. */
export const LABEL_EXPANSION_FORMAT = "devise-label-expansion";
/** Version of {@link LABEL_EXPANSION_FORMAT}. */
export const LABEL_EXPANSION_VERSION = 3; // 2: competing labels' words left out; 3: label weight

/** The chosen k and label weight and, when chosen on held-out classes, the evidence. */
export interface LabelExpansionFit {
  k: number;
  labelWeight: LabelWeight;
  /**
   * Mean per-class accuracy among each fold's classes, averaged over folds, for each k and label
   * weight tried.
   */
  byK?: { k: number; labelWeight: LabelWeight; meanAccuracy: number }[];
  /** The held-out CIFAR-100 classes of each fold. */
  folds?: string[][];
  /** True when the fit was read from its kept file. */
  reused?: boolean;
}

/** What {@link fitLabelExpansion} reads. */
export interface LabelExpansionInputs {
  /** The run's CIFAR-100 feature folder. */
  featureDir: string;
  model: DeviseModel;
  modelPath: string;
  words: WordVectors;
  /** sha256 of the vectors file (part of the kept fit's key). */
  vectorsSha256: string;
  /** The CIFAR-100 label vectors. */
  source: LabelVectors;
  /** CIFAR-100 test labels; needed only to choose k (`labelNeighbours` 0). */
  c100Test?: CifarLabels;
}

/**
 * k for label expansion: `labelNeighbours` itself when above 0, else chosen on held-out CIFAR-100
 * classes (see the module doc), reused from `<model>.label-expansion.json` when current.
 *
 * @example
 * ```ts
 * const { k, byK } = await fitLabelExpansion(tf, { dataDir, layer: "gap", seed: 0,
 *   labelNeighbours: 0 }, inputs, run);
 * ```
 */
export async function fitLabelExpansion(
  tf: TF,
  cfg: { dataDir: string; layer: string; seed: number; labelNeighbours: number },
  inputs: LabelExpansionInputs,
  run: Run,
): Promise<LabelExpansionFit> {
  if (cfg.labelNeighbours > 0) return { k: cfg.labelNeighbours, labelWeight: "equal" };
  const { words, source, model, c100Test } = inputs;
  if (!c100Test) throw new Error("fitLabelExpansion: choosing k needs the CIFAR-100 test labels");
  const trainLabels = await loadCifarLabels(cfg.dataDir, "cifar100", "train");
  const folds = _folds(trainLabels.labels, c100Test.labels, cfg.seed);
  // The features' checksums from their sidecars: a kept fit is reused without reading the
  // features (800 MB for `act`).
  const featuresSha256 = async (split: CifarLabels) =>
    (await readSidecar(
      deviseFeaturePath(inputs.featureDir, split, cfg.layer),
      FEATURES_FORMAT,
      FEATURES_VERSION,
    )).sha256;
  const sources = {
    model: (await readSidecar(inputs.modelPath, DEVISE_MODEL_FORMAT, DEVISE_MODEL_VERSION)).sha256,
    train: await featuresSha256(trainLabels),
    test: await featuresSha256(c100Test),
    vectors: inputs.vectorsSha256,
    folds,
    grid: LABEL_NEIGHBOUR_GRID,
    labelWeights: LABEL_WEIGHT_GRID,
  };
  const cache = `${inputs.modelPath}.label-expansion.json`;
  if (await artifactIsCurrent(cache, LABEL_EXPANSION_FORMAT, LABEL_EXPANSION_VERSION, sources)) {
    try {
      const { data } = await readArtifact(cache, LABEL_EXPANSION_FORMAT, LABEL_EXPANSION_VERSION);
      return { ...JSON.parse(new TextDecoder().decode(data)) as LabelExpansionFit, reused: true };
    } catch (err) {
      if (!(err instanceof ArtifactError || err instanceof SyntaxError)) throw err;
    }
  }

  const train = await loadDeviseSplit(inputs.featureDir, trainLabels, cfg.layer);
  const test = await loadDeviseSplit(inputs.featureDir, c100Test, cfg.layer);
  const D = words.dim;
  const vocabulary = words.data.length / D;
  const ks = LABEL_NEIGHBOUR_GRID.filter((k) => k <= vocabulary - 10);
  const maxK = ks.at(-1)!;
  // Smaller k first, then "equal": ties go to the simpler rule (fewer words that are not the label).
  const grid = ks.flatMap((k) =>
    (k <= 1 ? ["equal" as const] : LABEL_WEIGHT_GRID).map((labelWeight) => ({ k, labelWeight }))
  );
  const deviseConfig = {
    ...model.config,
    negativeVectors: vocabNegativePool(words, model.config.vocabNegatives),
  };
  const totals = new Float64Array(grid.length);
  for (const [f, held] of folds.entries()) {
    const heldSet = new Set(held);
    const rows = [...trainLabels.labels.keys()].filter((i) => !heldSet.has(trainLabels.labels[i]));
    const foldModel = await trainDeviseOnRows(
      tf,
      deviseConfig,
      { data: train.features, shape: [train.n, train.d] },
      rows,
      trainLabels.labels,
      source.data,
      D,
      // A 4,096-D fold takes minutes: a line every few epochs.
      (e) => {
        if (e.epoch % 5 === 0) {
          run.log(
            `label expansion (${cfg.layer}), fold ${f + 1}/${folds.length}: epoch ${e.epoch}`,
          );
        }
      },
    );
    const testRows = [...c100Test.labels.keys()].filter((i) => heldSet.has(c100Test.labels[i]));
    const embedded = embed(tf, foldModel, takeRows(test.features, test.d, testRows));
    const labels = Int32Array.from(testRows, (i) => held.indexOf(c100Test.labels[i]));
    const heldLabels: LabelVectors = {
      data: takeRows(source.data, D, held),
      rules: held.map((c) => source.rules[c]),
      missing: [],
    };
    const near = labelNeighbours(words, heldLabels, maxK);
    const accuracies = grid.map(({ k, labelWeight }) => {
      const targets = expandedLabelVectors(words, heldLabels.data, near, k, labelWeight);
      return classificationReport(labels, nearestLabel(embedded, D, targets), held.length)
        .meanAccuracy;
    });
    accuracies.forEach((a, i) => totals[i] += a / folds.length);
    run.log(
      `label expansion (${cfg.layer}), fold ${f + 1}/${folds.length} ` +
        `(${held.map((c) => c100Test.labelNames[c]).join(", ")}): ` +
        grid.map((g, i) => `${labelExpansionName(g)} ${(100 * accuracies[i]).toFixed(1)}%`)
          .join(", "),
    );
  }
  let best = 0;
  for (let i = 1; i < grid.length; i++) if (totals[i] > totals[best]) best = i;
  const fit: LabelExpansionFit = {
    ...grid[best],
    byK: grid.map((g, i) => ({ ...g, meanAccuracy: totals[i] })),
    folds: folds.map((held) => held.map((c) => c100Test.labelNames[c])),
  };
  await writeArtifact(cache, new TextEncoder().encode(JSON.stringify(fit, null, 2) + "\n"), {
    format: LABEL_EXPANSION_FORMAT,
    version: LABEL_EXPANSION_VERSION,
    sources,
  });
  return fit;
}

/** Disjoint seeded folds of the classes with both training and test images. */
function _folds(trainLabels: Int32Array, testLabels: Int32Array, seed: number): number[][] {
  const inTrain = new Set(trainLabels), inTest = new Set(testLabels);
  const classes = [...new Rng(seed + 13).permutation(100)]
    .filter((c) => inTrain.has(c) && inTest.has(c));
  // Every fold leaves at least as many classes to train on as it holds out.
  const size = Math.min(LABEL_EXPANSION_FOLD_CLASSES, Math.floor(classes.length / 2));
  if (size < 2) {
    throw new InputError(
      `label expansion: CIFAR-100 images of ${classes.length} classes; choosing k needs 4 or ` +
        `more (or --label-neighbours N)`,
    );
  }
  const count = Math.min(LABEL_EXPANSION_FOLDS, Math.floor(classes.length / size) - 1);
  return Array.from({ length: count }, (_, f) => classes.slice(f * size, (f + 1) * size));
}

/** Target labels expanded by {@link expandTargetLabels}: the fit, the rows, each label's words. */
export interface ExpandedTargets {
  fit: LabelExpansionFit;
  /** One unit row per target label. */
  targets: Float32Array;
  /** Each target label's neighbour words, nearest first. */
  neighbours: Record<string, string[]>;
}

/**
 * `names` expanded with their k nearest words, k from {@link fitLabelExpansion}; logs the fit and
 * each label's first words.
 *
 * @example
 * ```ts
 * const { targets } = await expandTargetLabels(tf, cfg, inputs, ["cat", "dog"], run);
 * labelCosines(embedded, D, targets);
 * ```
 */
export async function expandTargetLabels(
  tf: TF,
  cfg: { dataDir: string; layer: string; seed: number; labelNeighbours: number },
  inputs: LabelExpansionInputs,
  names: string[],
  run: Run,
): Promise<ExpandedTargets> {
  const fit = await fitLabelExpansion(tf, cfg, inputs, run);
  if (fit.byK) {
    run.log(
      `label expansion (${cfg.layer}): ${labelExpansionName(fit)}, chosen on held-out CIFAR-100 ` +
        `classes (${fit.folds!.length} folds of ${fit.folds![0].length}` +
        `${fit.reused ? ", kept fit" : ""}; mean per-class accuracy: ` +
        fit.byK.map((r) => `${labelExpansionName(r)} ${(100 * r.meanAccuracy).toFixed(1)}%`)
          .join(", ") +
        ")",
    );
  }
  const { words } = inputs;
  const labels = labelVectors(words, names);
  const near = labelNeighbours(words, labels, fit.k);
  const neighbours = Object.fromEntries(
    names.map((name, c) => [name, near[c].map((w) => words.words[w])]),
  );
  run.log(
    `label neighbours (${labelExpansionName(fit)}): ` +
      Object.entries(neighbours).map(([n, ws]) =>
        `${n} ← ${ws.slice(0, 8).join(" ")}${ws.length > 8 ? " …" : ""}`
      ).join("; "),
  );
  const targets = expandedLabelVectors(words, labels.data, near, fit.k, fit.labelWeight);
  return { fit, targets, neighbours };
}
