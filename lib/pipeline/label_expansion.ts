/**
 * Choosing label expansion (lib/zeroshot/label_expansion.ts) on held-out CIFAR-100 classes: for
 * each fold, DeViSE is retrained without the fold's classes (the run's settings; one map per seed
 * of {@link LABEL_EXPANSION_MAP_COUNTS}'s largest count, each snapshot at every epoch of
 * {@link LABEL_EXPANSION_EPOCH_GRID}), and the fold's CIFAR-100 test images are scored among the
 * fold's labels through every map (epochs, seeds averaged), expanded with every k of
 * {@link LABEL_NEIGHBOUR_GRID} and label weight of {@link LABEL_WEIGHT_GRID}; the candidate with
 * the best mean per-class accuracy over the folds wins. No CIFAR-10 image or label is read. The fit
 * is kept beside the DeViSE map (`<model>.label-expansion.json`, keyed by the map, the features,
 * the vectors, the folds and the grids), and so are the seed maps at the chosen epochs
 * (`<model>.label-expansion.maps.f32`): for `act` each map is 4,096-D.
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
  type DeviseSplit,
  loadCifarLabels,
  loadDeviseSplit,
} from "../devise/data.ts";
import {
  FEATURES_FORMAT,
  FEATURES_VERSION,
  readFeatures,
  writeFeatures,
} from "../vision/extract.ts";
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
  bestLabelRulePerMap,
  expandedLabelVectors,
  labelExpansionChoiceName,
  labelExpansionName,
  labelNeighbours,
  type LabelWeight,
} from "../zeroshot/label_expansion.ts";
import { type SeenOnlyConfig, trainDeviseOnRows } from "./zeroshot_unseen.ts";

/** The neighbour counts tried (0: the label alone). */
export const LABEL_NEIGHBOUR_GRID = [0, 1, 2, 5, 10, 20, 50, 100, 200] as const;
/**
 * The label weights tried with each k ≥ 2 (lib/zeroshot/label_expansion.ts `LabelWeight`; for
 * k ≤ 1 both are the same). Added before it was measured on any CIFAR-10 image (README,
 * eighteenth session): chosen with k on the held-out folds, never on the target set.
 */
export const LABEL_WEIGHT_GRID = ["equal", 0.5] as const satisfies readonly LabelWeight[];
/**
 * DeViSE epochs tried (at most the run's; its own count is always tried). Adam runs at a constant
 * rate, so a fold map's epoch-E snapshot is the map E epochs train: no map is trained twice.
 * Added before it was measured on any CIFAR-10 image (README, nineteenth session): the `act`
 * map's CIFAR-100 test loss rises after a few epochs while hit@1 creeps up, and a map that
 * over-fits the 100 labels' vectors may transfer worse.
 */
export const LABEL_EXPANSION_EPOCH_GRID = [1, 2, 3, 5, 10, 20] as const;
/**
 * How many maps of consecutive seeds are averaged (same features, same standardisation; the rank
 * loss is convex in M, so the mean map's loss is at most the maps' mean). Pre-registered with
 * {@link LABEL_EXPANSION_EPOCH_GRID}.
 */
export const LABEL_EXPANSION_MAP_COUNTS = [1, 5] as const;
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
/** Held-out folds of CIFAR-100 classes (each retrains DeViSE once per seed). */
export const LABEL_EXPANSION_FOLDS = 3;
/** Classes per fold: as many as CIFAR-10 has labels. */
export const LABEL_EXPANSION_FOLD_CLASSES = 10;
/** Format of the kept fit, and its version. */
export const LABEL_EXPANSION_FORMAT = "devise-label-expansion";
/** Version of {@link LABEL_EXPANSION_FORMAT}. */
export const LABEL_EXPANSION_VERSION = 4; // 2: competing labels' words left out; 3: label weight; 4: epochs, maps

/** One candidate of the fit: the map (epochs, maps averaged) and the label rule (k, weight). */
export interface LabelExpansionChoice {
  /** DeViSE epochs of the map (the run's own when not chosen on held-out classes). */
  epochs: number;
  /** Maps of consecutive seeds averaged (1: the seed's map alone). */
  maps: number;
  k: number;
  labelWeight: LabelWeight;
}

/** The chosen map and label rule and, when chosen on held-out classes, the evidence. */
export interface LabelExpansionFit extends LabelExpansionChoice {
  /**
   * Mean per-class accuracy among each fold's classes, averaged over folds, for each candidate
   * tried.
   */
  byK?: (LabelExpansionChoice & { meanAccuracy: number })[];
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
 * The map and k for label expansion: `labelNeighbours` itself when above 0 (with the run's map),
 * else both chosen on held-out CIFAR-100 classes (see the module doc), reused from
 * `<model>.label-expansion.json` when current.
 *
 * @example
 * ```ts
 * const { epochs, maps, k, byK } = await fitLabelExpansion(tf, { dataDir, layer: "gap", seed: 0,
 *   labelNeighbours: 0 }, inputs, run);
 * ```
 */
export async function fitLabelExpansion(
  tf: TF,
  cfg: { dataDir: string; layer: string; seed: number; labelNeighbours: number },
  inputs: LabelExpansionInputs,
  run: Run,
): Promise<LabelExpansionFit> {
  if (cfg.labelNeighbours > 0) return _givenK(inputs.model, cfg.labelNeighbours);
  return await _fit(tf, cfg, inputs, run, await _fitKey(cfg, inputs));
}

// A given k: the run's own map, nothing chosen.
function _givenK(model: DeviseModel, k: number): LabelExpansionFit {
  return { epochs: model.config.epochs, maps: 1, k, labelWeight: "equal" };
}

async function _fit(
  tf: TF,
  cfg: { layer: string },
  inputs: LabelExpansionInputs,
  run: Run,
  key: _FitKey,
): Promise<LabelExpansionFit> {
  const { words, source, model } = inputs;
  const runMap = { epochs: model.config.epochs, maps: 1 };
  const { trainLabels, c100Test, folds, sources } = key;
  const cache = `${inputs.modelPath}.label-expansion.json`;
  if (await artifactIsCurrent(cache, LABEL_EXPANSION_FORMAT, LABEL_EXPANSION_VERSION, sources)) {
    try {
      const { data } = await readArtifact(cache, LABEL_EXPANSION_FORMAT, LABEL_EXPANSION_VERSION);
      return { ...JSON.parse(new TextDecoder().decode(data)) as LabelExpansionFit, reused: true };
    } catch (err) {
      if (!(err instanceof ArtifactError || err instanceof SyntaxError)) throw err;
    }
  }

  const train = await key.trainSplit();
  const test = await loadDeviseSplit(inputs.featureDir, c100Test, cfg.layer);
  const D = words.dim;
  const vocabulary = words.data.length / D;
  const ks = LABEL_NEIGHBOUR_GRID.filter((k) => k <= vocabulary - 10);
  const maxK = ks.at(-1)!;
  // The run's own map first, then fewer epochs and fewer maps; within each, smaller k first, then
  // "equal": ties go to the earlier candidate (the run's map, the simpler rule).
  const mapGrid = _mapGrid(runMap.epochs);
  const labelGrid = ks.flatMap((k) =>
    (k <= 1 ? ["equal" as const] : LABEL_WEIGHT_GRID).map((labelWeight) => ({ k, labelWeight }))
  );
  const grid = mapGrid.flatMap((m) => labelGrid.map((l) => ({ ...m, ...l })));
  const seeds = Math.max(...mapGrid.map((m) => m.maps));
  const snapshotEpochs = new Set(mapGrid.map((m) => m.epochs));
  const deviseConfig = {
    ...model.config,
    negativeVectors: vocabNegativePool(words, model.config.vocabNegatives),
  };
  const totals = new Float64Array(grid.length);
  for (const [f, held] of folds.entries()) {
    const heldSet = new Set(held);
    const rows = [...trainLabels.labels.keys()].filter((i) => !heldSet.has(trainLabels.labels[i]));
    // maps[s].get(E): seed s's fold map after E epochs.
    const maps = Array.from({ length: seeds }, () => new Map<number, Float32Array>());
    const [foldModel] = await _seedMaps(
      tf,
      deviseConfig,
      train,
      rows,
      seeds,
      `label expansion (${cfg.layer}), fold ${f + 1}/${folds.length}`,
      inputs,
      run,
      (s, epoch, M) => {
        if (snapshotEpochs.has(epoch)) maps[s].set(epoch, M);
      },
    );
    const testRows = [...c100Test.labels.keys()].filter((i) => heldSet.has(c100Test.labels[i]));
    const testFeatures = takeRows(test.features, test.d, testRows);
    const labels = Int32Array.from(testRows, (i) => held.indexOf(c100Test.labels[i]));
    const heldLabels: LabelVectors = {
      data: takeRows(source.data, D, held),
      rules: held.map((c) => source.rules[c]),
      missing: [],
    };
    const near = labelNeighbours(words, heldLabels, maxK);
    const targets = labelGrid.map(({ k, labelWeight }) =>
      expandedLabelVectors(words, heldLabels.data, near, k, labelWeight)
    );
    const accuracies: number[] = [];
    for (const m of mapGrid) {
      const M = meanOfMaps(maps.slice(0, m.maps).map((byEpoch) => byEpoch.get(m.epochs)!));
      const embedded = embed(tf, { ...foldModel, M }, testFeatures);
      for (const t of targets) {
        accuracies.push(
          classificationReport(labels, nearestLabel(embedded, D, t), held.length).meanAccuracy,
        );
      }
    }
    accuracies.forEach((a, i) => totals[i] += a / folds.length);
    run.log(
      `label expansion (${cfg.layer}), fold ${f + 1}/${folds.length} ` +
        `(${held.map((c) => c100Test.labelNames[c]).join(", ")}), the best k of each map: ` +
        bestLabelRulePerMap(grid, accuracies),
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

/**
 * The maps of {@link LABEL_EXPANSION_MAP_COUNTS}'s largest count of consecutive seeds, each
 * trained on every CIFAR-100 training image for the fit's epochs: their mean is the map of the
 * "DeViSE + label neighbours" row when `fit.maps` > 1, and each alone shows the spread across
 * DeViSE seeds. Kept beside the run's map (`<model>.label-expansion.maps.f32`), keyed like the fit.
 *
 * @example
 * ```ts
 * const seedMaps = await labelExpansionSeedMaps(tf, cfg, inputs, fit, run);
 * embed(tf, seedMaps[0], features);
 * ```
 */
export async function labelExpansionSeedMaps(
  tf: TF,
  cfg: { dataDir: string; layer: string; seed: number },
  inputs: LabelExpansionInputs,
  fit: LabelExpansionChoice,
  run: Run,
): Promise<DeviseModel[]> {
  return await _keptSeedMaps(tf, cfg, inputs, fit, run, await _fitKey(cfg, inputs));
}

async function _keptSeedMaps(
  tf: TF,
  cfg: { layer: string },
  inputs: LabelExpansionInputs,
  fit: LabelExpansionChoice,
  run: Run,
  key: _FitKey,
): Promise<DeviseModel[]> {
  const { model, words } = inputs;
  const { trainLabels, sources: fitSources } = key;
  const seeds = Math.max(...LABEL_EXPANSION_MAP_COUNTS);
  const sources = { ...fitSources, mapEpochs: fit.epochs, seeds };
  const path = `${inputs.modelPath}.label-expansion.maps.f32`;
  const size = model.d * model.dims;
  const asModels = (data: Float32Array) =>
    Array.from({ length: seeds }, (_, s) => ({
      ...model,
      M: data.slice(s * size, (s + 1) * size),
      config: { ...model.config, epochs: fit.epochs, seed: model.config.seed + s },
    }));
  // One matrix of the seeds' maps stacked (seeds·d rows of D), checked like any feature file.
  if (await artifactIsCurrent(path, FEATURES_FORMAT, FEATURES_VERSION, sources)) {
    try {
      const { data, shape } = await readFeatures(path);
      if (shape[0] === seeds * model.d && shape[1] === model.dims) return asModels(data);
      run.log(`label expansion: ${path} is [${shape}], not [${seeds * model.d},${model.dims}]`);
    } catch (err) {
      if (!(err instanceof ArtifactError)) throw err;
      run.log(`label expansion: ${err.message}; training the seed maps again`);
    }
  }
  const train = await key.trainSplit();
  const deviseConfig = {
    ...model.config,
    epochs: fit.epochs,
    negativeVectors: vocabNegativePool(words, model.config.vocabNegatives),
  };
  const maps = await _seedMaps(
    tf,
    deviseConfig,
    train,
    [...trainLabels.labels.keys()],
    seeds,
    `label expansion (${cfg.layer}), ${fit.epochs} epochs`,
    inputs,
    run,
  );
  const data = new Float32Array(seeds * size);
  maps.forEach((m, s) => data.set(m.M, s * size));
  await writeFeatures(path, data, [seeds * model.d, model.dims], { sources, maps: seeds });
  return asModels(data);
}

/**
 * The element-wise mean of maps of one shape (one map: itself).
 *
 * @example
 * ```ts
 * meanOfMaps([Float32Array.of(1, 2), Float32Array.of(3, 4)]); // Float32Array [2, 3]
 * ```
 */
export function meanOfMaps(maps: Float32Array[]): Float32Array {
  if (maps.length === 0) throw new RangeError("meanOfMaps: no maps");
  if (maps.length === 1) return maps[0];
  const out = new Float32Array(maps[0].length);
  for (const m of maps) {
    if (m.length !== out.length) {
      throw new RangeError(`meanOfMaps: a map of ${m.length} values among maps of ${out.length}`);
    }
    for (let i = 0; i < out.length; i++) out[i] += m[i];
  }
  for (let i = 0; i < out.length; i++) out[i] /= maps.length;
  return out;
}

// The run's map first, then each epoch count of the grid (at most the run's) with each map count.
function _mapGrid(runEpochs: number): { epochs: number; maps: number }[] {
  const grid = [{ epochs: runEpochs, maps: 1 }];
  for (const epochs of LABEL_EXPANSION_EPOCH_GRID) {
    for (const maps of LABEL_EXPANSION_MAP_COUNTS) {
      if (epochs <= runEpochs && !(epochs === runEpochs && maps === 1)) {
        grid.push({ epochs, maps });
      }
    }
  }
  if (!LABEL_EXPANSION_EPOCH_GRID.some((e) => e === runEpochs)) {
    for (const maps of LABEL_EXPANSION_MAP_COUNTS) {
      if (maps > 1) grid.push({ epochs: runEpochs, maps });
    }
  }
  return grid;
}

// `seeds` DeViSE maps of consecutive seeds from the run's, on the given training rows; a line every
// 5 epochs (a 4,096-D map takes about a minute here).
async function _seedMaps(
  tf: TF,
  deviseConfig: SeenOnlyConfig,
  train: DeviseSplit,
  rows: number[],
  seeds: number,
  what: string,
  inputs: Pick<LabelExpansionInputs, "model" | "source" | "words">,
  run: Run,
  onEpochMap?: (seed: number, epoch: number, M: Float32Array) => void,
): Promise<DeviseModel[]> {
  const maps: DeviseModel[] = [];
  for (let s = 0; s < seeds; s++) {
    maps.push(
      await trainDeviseOnRows(
        tf,
        { ...deviseConfig, seed: inputs.model.config.seed + s },
        { data: train.features, shape: [train.n, train.d] },
        rows,
        train.data.labels,
        inputs.source.data,
        inputs.words.dim,
        (e) => {
          if (e.epoch % 5 === 0 || e.epoch === deviseConfig.epochs) {
            run.log(`${what}, seed map ${s + 1}/${seeds}: epoch ${e.epoch}/${deviseConfig.epochs}`);
          }
        },
        onEpochMap && ((epoch, M) => onEpochMap(s, epoch, M)),
      ),
    );
  }
  return maps;
}

/**
 * What keys a kept fit (and its seed maps): the run's map, features, vectors, folds and grids;
 * with the CIFAR-100 labels and a loader of the training features (read once, 800 MB for `act`).
 */
interface _FitKey {
  trainLabels: CifarLabels;
  c100Test: CifarLabels;
  folds: number[][];
  sources: Record<string, unknown>;
  trainSplit: () => Promise<DeviseSplit>;
}

async function _fitKey(
  cfg: { dataDir: string; layer: string; seed: number },
  inputs: LabelExpansionInputs,
): Promise<_FitKey> {
  const { c100Test } = inputs;
  if (!c100Test) throw new Error("label expansion: choosing k needs the CIFAR-100 test labels");
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
    epochs: LABEL_EXPANSION_EPOCH_GRID,
    maps: LABEL_EXPANSION_MAP_COUNTS,
  };
  let train: Promise<DeviseSplit> | undefined;
  const trainSplit = () => train ??= loadDeviseSplit(inputs.featureDir, trainLabels, cfg.layer);
  return { trainLabels, c100Test, folds, sources, trainSplit };
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
  /** The map the expanded labels are scored with: the run's, or the fit's epochs and maps. */
  model: DeviseModel;
  /** With `seedSpread`, when the fit was chosen: each seed's map at the fit's epochs. */
  seedModels?: DeviseModel[];
}

/**
 * `names` expanded with their k nearest words, k (and the map) from {@link fitLabelExpansion};
 * logs the fit and each label's first words. `seedSpread` also returns each seed's map at the
 * fit's epochs ({@link labelExpansionSeedMaps}; trained once, then kept).
 *
 * @example
 * ```ts
 * const { targets, model } = await expandTargetLabels(tf, cfg, inputs, ["cat", "dog"], run);
 * labelCosines(embed(tf, model, features), D, targets);
 * ```
 */
export async function expandTargetLabels(
  tf: TF,
  cfg: {
    dataDir: string;
    layer: string;
    seed: number;
    labelNeighbours: number;
    seedSpread?: boolean;
  },
  inputs: LabelExpansionInputs,
  names: string[],
  run: Run,
): Promise<ExpandedTargets> {
  // One key for the fit and its seed maps: the labels and features are read once.
  const key = cfg.labelNeighbours > 0 ? undefined : await _fitKey(cfg, inputs);
  const fit = key
    ? await _fit(tf, cfg, inputs, run, key)
    : _givenK(inputs.model, cfg.labelNeighbours);
  if (fit.byK) {
    const grid = fit.byK;
    run.log(
      `label expansion (${cfg.layer}): ${labelExpansionChoiceName(fit)}, chosen on held-out ` +
        `CIFAR-100 classes (${fit.folds!.length} folds of ${fit.folds![0].length}` +
        `${fit.reused ? ", kept fit" : ""}; mean per-class accuracy, the best k of each map: ` +
        bestLabelRulePerMap(grid, grid.map((r) => r.meanAccuracy)) + ")",
    );
  }
  const ownMap = fit.epochs === inputs.model.config.epochs && fit.maps === 1;
  const seedModels = key && fit.byK && (cfg.seedSpread || !ownMap)
    ? await _keptSeedMaps(tf, cfg, inputs, fit, run, key)
    : undefined;
  const model = ownMap ? inputs.model : {
    ...seedModels![0],
    M: meanOfMaps(seedModels!.slice(0, fit.maps).map((m) => m.M)),
  };
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
  return { fit, targets, neighbours, model, seedModels };
}
