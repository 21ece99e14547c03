/**
 * `deno task train`, top to bottom. {@link train} resolves the settings (a preset, with the
 * command line's overrides), picks the backend, opens the run folder, then
 * {@link runTrainPipeline} runs the stages:
 *
 * 1. data: CIFAR-100 train and test;
 * 2. vectors: word vectors and the 100 label vectors (first: a missing label should not wait for
 *    hours of training);
 * 3. visual: the visual model, pretrained (resumable) or reused with `--visual`;
 * 4. extract: features of every layer, logits and probabilities, one pass per split;
 * 5. devise: the map M per layer, with its evaluation next to the softmax baseline;
 * 6. report: tables, curves and a grid of test images.
 *
 * Every stage writes artifacts with sidecars under a work folder keyed by its inputs, and skips
 * itself when a valid artifact for the same inputs exists, so a re-run with the same flags reuses
 * everything and finishes in seconds.
 *
 * ```sh
 * deno task train --data-dir ../shared/data                    # cpu preset on a CPU backend
 * deno task train --data-dir ../shared/data --preset quick --json
 * deno task train --data-dir ../shared/data --visual data/runs/resnet20-cpu
 * ```
 * @module
 */
import { startRunOnBackend } from "./task_run.ts";
import { join } from "node:path";
import { type Run } from "../cli/run.ts";
import { formatSeconds } from "../cli/progress.ts";
import { type BackendName, type TF } from "../backend/select.ts";
import { channelStats, type CifarSplit, findCifarFolder, loadCifar } from "../data/cifar.ts";
import { artifactIsCurrent, readSidecar, sha256Hex, writeJsonAtomic } from "../io/artifact.ts";
import { readJsonOrNull } from "../io/fs.ts";
import { InputError } from "../io/errors.ts";
import { Rng } from "../io/rng.ts";
import {
  type LoadedCheckpoint,
  modelFromCheckpoint,
  resolveCheckpoint,
} from "../vision/checkpoint.ts";
import { extractAll } from "../vision/extract.ts";
import type { FeatureLayer } from "../vision/models.ts";
import { type TrainConfig, type TrainingImages, trainVision } from "../vision/train.ts";
import { type LabelVectors, labelVectors } from "../text/labels.ts";
import { readVectors } from "../text/word2vec_io.ts";
import type { WordVectors } from "../text/vectors.ts";
import {
  DEVISE_MODEL_FORMAT,
  DEVISE_MODEL_VERSION,
  type DeviseConfig,
  type DeviseModel,
  type EpochStats,
  loadDeviseModel,
  predictScores,
  saveDeviseModel,
  trainDevise,
  vocabNegativePool,
} from "../devise/train.ts";
import { loadDeviseSplit } from "../devise/data.ts";
import {
  type FinetuneConfig,
  finetuneDevise,
  finetuneKeyConfig,
  safeStd,
} from "../devise/finetune.ts";
import { fineToCoarseMap, type ResultRow, resultRow, topK } from "../devise/metrics.ts";
import type { GridItem } from "../report/image_grid.ts";
import { consoleResultsTable } from "../report/report.ts";
import { writeTrainReport } from "../report/train_report.ts";
import {
  defaultPreset,
  flattenSettings,
  type PresetName,
  resolveTrainSettings,
  type TrainOverrides,
  type TrainSettings,
  type VisualSettings,
} from "./presets.ts";
import type { TrainRunMetrics } from "./runs.ts";
import { resolveVectors } from "./vectors.ts";
import { ensureCifar } from "./download.ts";
import { type BudgetPlan, measureStageCosts, planEpochs } from "./budget.ts";

/** Resolved settings of one pipeline run. */
export interface PipelineConfig {
  /** Preset name (recorded; `settings` is what counts). */
  preset: string;
  settings: TrainSettings;
  dataDir: string;
  /** Reuse this checkpoint (run folder, checkpoint root or epoch folder) instead of pretraining. */
  visual: string;
  /** Where reusable stage artifacts live (default `data/pipeline`). */
  workDir: string;
  /** Overrides the download URL of `googlenews` / `freebase` vectors. */
  vectorsUrl?: string;
  seed: number;
}

/** What {@link runTrainPipeline} returns: the train run's metrics without the run envelope. */
export type PipelineMetrics = Omit<TrainRunMetrics, "format" | "version" | "task" | "status">;

/** What `deno task train` is asked to do. */
export interface TrainRequest {
  /** Preset (default: `paper` on a GPU backend, else `cpu`). */
  preset?: PresetName;
  /** Command-line overrides of the preset. */
  overrides: TrainOverrides;
  dataDir: string;
  /** Download CIFAR into `dataDir` when it is not there (the default data folder only). */
  downloadMissing?: boolean;
  visual: string;
  vectorsUrl?: string;
  workDir: string;
  seed: number;
  backend: BackendName;
  out: string;
  json: boolean;
  quiet: boolean;
}

/**
 * The whole of `deno task train`: checks the data, resolves the settings and the backend, opens
 * the run folder (its `config.json` holds the resolved settings, saved once), runs the stages,
 * prints the results table and the report path, and writes `metrics.json`.
 *
 * @example
 * ```ts
 * await train({ preset: "quick", overrides: {}, dataDir: "../shared/data", visual: "",
 *   workDir: "data/pipeline", seed: 1, backend: "auto", out: "", json: false, quiet: false });
 * ```
 */
export async function train(request: TrainRequest): Promise<PipelineMetrics> {
  // No data yet and no folder named: fetch CIFAR-100 (and CIFAR-10 test, for zeroshot) first.
  if (request.downloadMissing) {
    const stderr = {
      log: (l: string) => request.quiet || console.error(l),
      logFileOnly: () => {},
      quiet: request.quiet,
    };
    for (const dataset of ["cifar100", "cifar10"] as const) {
      await ensureCifar(request.dataDir, dataset, stderr);
    }
  }
  // Fail before loading TensorFlow when the data is not there.
  await findCifarFolder(request.dataDir, "cifar100").catch((err) => {
    throw new InputError(
      `${(err as Error).message}\nPoint --data-dir (or DEVISE_DATA_DIR) at a folder holding ` +
        "cifar-100-binary/, or fetch it with `deno task download --dataset cifar100`.",
    );
  });
  // A full pipeline never silently falls back to pure JS; the default preset follows the backend.
  let presetName: PresetName = request.preset ?? "cpu";
  let settings = resolveTrainSettings(presetName, request.overrides);
  const { run, tf, backend } = await startRunOnBackend("train", request, (backend) => {
    presetName = request.preset ?? defaultPreset(backend);
    settings = resolveTrainSettings(presetName, request.overrides);
    return {
      preset: presetName,
      presetIsDefault: request.preset === undefined,
      settings,
      dataDir: request.dataDir,
      visual: request.visual,
      workDir: request.workDir,
      seed: request.seed,
    };
  }, { allowSlow: false });
  run.log(
    `preset ${presetName}${request.preset ? "" : ` (default on backend ${backend})`}: ` +
      `${settings.visual.arch}-${settings.visual.depth}, ` +
      (request.visual
        ? `reused (--visual ${request.visual})`
        : settings.budgetMinutes
        ? `epochs sized to a ${formatSeconds(settings.budgetMinutes * 60)} budget (planned ` +
          "after the vectors stage)"
        : `${settings.visual.epochs} epochs`) +
      `; layers ${settings.layers.join(",")}; vectors ${settings.vectors}` +
      (settings.budgetMinutes && !request.visual
        ? ""
        : `; ETA about ${formatSeconds(settings.etaMinutes * 60)} when nothing is cached`),
  );
  for (const [key, value] of Object.entries(flattenSettings(settings))) {
    run.logFileOnly(`   ${key} = ${value}`);
  }
  const metrics = await runTrainPipeline(tf, backend, {
    preset: presetName,
    settings,
    dataDir: request.dataDir,
    visual: request.visual,
    workDir: request.workDir,
    vectorsUrl: request.vectorsUrl,
    seed: request.seed,
  }, run);
  run.log(`\n${consoleResultsTable(metrics.results)}\n\nreport: ${metrics.report}`);
  await run.finish({ ...metrics }, request.json);
  return metrics;
}

/** Runs every stage; `tf` is the namespace from `selectBackend`. */
export async function runTrainPipeline(
  tf: TF,
  backend: string,
  cfg: PipelineConfig,
  run: Run,
): Promise<PipelineMetrics> {
  const seconds: Record<string, number> = {};
  const timed = async <T>(stage: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    run.log(`── ${stage}`);
    const out = await fn();
    seconds[stage] = (performance.now() - t0) / 1000;
    run.log(`   ${stage} done in ${seconds[stage].toFixed(1)} s`);
    return out;
  };
  const s = cfg.settings;

  // 1. Data: CIFAR-100 for training and evaluation (CIFAR-10 is for `deno task zeroshot`).
  const { train, test } = await timed("data", async () => ({
    train: await loadCifar(cfg.dataDir, "cifar100", "train"),
    test: await loadCifar(cfg.dataDir, "cifar100", "test"),
  }));

  // 2. Word vectors and the 100 label vectors.
  const { vectors, words, labels } = await timed("vectors", async () => {
    const vectors = await resolveVectors({
      source: s.vectors,
      dim: s.word2vec.dim,
      epochs: s.word2vec.epochs,
      retrofit: s.word2vec.retrofit,
      url: cfg.vectorsUrl,
    }, run);
    const words = await readVectors(vectors.path);
    return { vectors, words, labels: _labelVectorsOrThrow(vectors.path, words, train, run) };
  });

  // 3. Visual model: reuse `--visual`, else pretrain (resumable) under a folder keyed by config;
  //    with a budget, the epochs are sized to fit it (and the plan kept in that folder).
  let visualConfig = visualTrainConfig(s.visual, train.labelNames.length, cfg.seed);
  const budget = cfg.visual ? 0 : s.budgetMinutes;
  const keyed = budget ? { ...visualConfig, epochs: `budget ${budget} min` } : visualConfig;
  const visualDir = cfg.visual ||
    join(cfg.workDir, `visual-${await _key({ visualConfig: keyed, data: train.sha256 })}`);
  let plan: BudgetPlan | undefined;
  // Only a visual model trained here needs them (the plan's calibration and the epochs).
  let stats: { mean: number[]; std: number[] } | undefined;
  const pixelStats = () => stats ??= channelStats(train.images);
  if (budget) {
    plan = await timed("plan", () =>
      budgetPlan(tf, s, visualConfig, visualDir, {
        budgetSeconds: budget * 60,
        spentSeconds: run.elapsedSeconds(),
        train: train.count,
        test: test.count,
        labelDim: words.dim,
        images: { split: train, ...pixelStats() },
      }, run));
    visualConfig = { ...visualConfig, epochs: plan.epochs };
  }
  await timed("visual", async () => {
    if (cfg.visual) return;
    await trainVision(tf, { train, test, ...pixelStats() }, visualConfig, {
      outDir: visualDir,
      resume: true,
      log: run.log,
      run,
    });
  });
  const ckpt = await resolveCheckpoint(visualDir, "last");
  const lastEpoch = ckpt.state.curve.at(-1) ?? {};
  run.log(
    `   visual: ${ckpt.dir} (epoch ${ckpt.state.epoch}, test top-1 ${lastEpoch.testTop1})`,
  );

  // 4. Features of every layer (and softmax probabilities), keyed by the model's weights.
  const featureDir = join(cfg.workDir, `features-${ckpt.weights.sha256.slice(0, 12)}`);
  await timed("extract", async () => {
    const model = await modelFromCheckpoint(tf, ckpt);
    await extractAll(tf, ckpt, model, cfg.dataDir, s.layers, featureDir, {
      batchSize: 256,
      log: (l) => run.log(`   ${l}`),
      run,
    });
    model.dispose();
  });

  // 5. DeViSE per layer (reused when a model for the same features/vectors/config exists).
  const probs = await loadDeviseSplit(featureDir, test, "probs");
  const fineToCoarse = fineToCoarseMap(test.labels, test.coarseLabels!, 100);
  const results: ResultRow[] = [
    resultRow(`softmax (ResNet-${s.visual.depth})`, probs.features, test.labels, 100, fineToCoarse),
  ];
  const devise = await timed("devise", () =>
    deviseStage(tf, {
      featureDir,
      train,
      test,
      labelVectors: labels.data,
      vectorsSha256: vectors.sha256,
      words,
      fineToCoarse,
      cfg,
      run,
    }));
  results.push(...devise.rows);
  const { curves, deviseModels } = devise;

  // 6. Fine-tuning: the visual model and M of the last layer together (the paper's last step).
  const finetuned = s.finetune.epochs > 0
    ? await timed("finetune", () =>
      finetuneStage(tf, {
        ckpt,
        layer: s.layers.at(-1)!,
        deviseModel: deviseModels[s.layers.at(-1)!]!,
        labelVectors: labels.data,
        train,
        test,
        words,
        cfg,
        run,
        fineToCoarse,
      }))
    : undefined;
  if (finetuned) results.push(finetuned.row);

  // 7. Report: tables, curves, and a grid of test images with both models' top-5.
  const report = await timed("report", () =>
    writeTrainReport(run.dir, {
      preset: cfg.preset,
      config: run.config,
      results,
      deviseCurves: curves,
      finetuneCurve: finetuned?.curve,
      imageGrid: _grid(test, probs.features, devise.scores[s.layers.at(-1)!]!, 12, cfg.seed),
      visualCheckpoint: ckpt.dir,
      visualTop1: lastEpoch.testTop1 ?? NaN,
      vectors: { path: vectors.path, words: words.words.length, dim: words.dim },
      labelRules: labels.rules.filter((r) => r.rule !== "exact"),
    }));
  return {
    backend,
    preset: cfg.preset,
    visual: {
      checkpoint: ckpt.dir,
      top1: lastEpoch.testTop1,
      top5: lastEpoch.testTop5,
      reused: cfg.visual !== "",
    },
    vectors: {
      path: vectors.path,
      sha256: vectors.sha256,
      words: words.words.length,
      dim: words.dim,
      labelRules: labels.rules.filter((r) => r.rule !== "exact"),
    },
    classes: train.labelNames,
    featureDir,
    layers: s.layers,
    deviseModels,
    results,
    stageSeconds: seconds,
    ...(plan ? { budgetPlan: plan } : {}),
    ...(finetuned ? { finetuned: finetuned.metrics } : {}),
    report: report.html,
  };
}

/** What {@link deviseStage} needs. */
export interface DeviseLayersInputs {
  featureDir: string;
  train: CifarSplit;
  test: CifarSplit;
  /** The 100 label vectors (rows in label order). */
  labelVectors: Float32Array;
  vectorsSha256: string;
  /** The whole vocabulary (for `devise.vocabNegatives`). */
  words: WordVectors;
  fineToCoarse: Int32Array;
  cfg: PipelineConfig;
  run: Run;
}

/**
 * DeViSE on every layer of `settings.layers`: trains M (or reuses the model for the same
 * features, vectors and config) and scores the test split; a result row per layer.
 *
 * @example
 * ```ts
 * const { rows, deviseModels } = await deviseStage(tf, { featureDir, train, test, ... });
 * ```
 */
export async function deviseStage(tf: TF, inputs: DeviseLayersInputs) {
  const { featureDir, train, test, cfg, run } = inputs;
  const s = cfg.settings;
  // vocabNegatives joins the config only when used, so models trained without it keep their keys.
  const { vocabNegatives, ...deviseSettings } = s.devise;
  const deviseConfig: DeviseConfig = {
    ...deviseSettings,
    seed: cfg.seed,
    ...(vocabNegatives ? { vocabNegatives } : {}),
  };
  const negativeVectors = vocabNegativePool(inputs.words, vocabNegatives);
  const rows: ResultRow[] = [];
  const curves: { layer: FeatureLayer; curve: EpochStats[] }[] = [];
  const scores: Partial<Record<FeatureLayer, Float32Array>> = {};
  const deviseModels: Partial<Record<FeatureLayer, string>> = {};
  for (const layer of s.layers) {
    const { model, path, curve } = await trainOrLoadDevise(tf, {
      featureDir,
      workDir: cfg.workDir,
      train,
      test,
      layer,
      labelVectors: inputs.labelVectors,
      vectorsSha256: inputs.vectorsSha256,
      config: { ...deviseConfig, ...s.deviseByLayer[layer] },
      negativeVectors,
      run,
    });
    if (curve) curves.push({ layer, curve });
    const testFeatures = await loadDeviseSplit(featureDir, test, layer);
    scores[layer] = predictScores(tf, model, testFeatures.features, inputs.labelVectors);
    deviseModels[layer] = path;
    rows.push(
      resultRow(
        `DeViSE (${layer}, ${model.d}-D)`,
        scores[layer],
        test.labels,
        100,
        inputs.fineToCoarse,
      ),
    );
  }
  return { rows, curves, scores, deviseModels };
}

/** What {@link finetuneStage} needs. */
export interface FinetuneStageInputs {
  ckpt: LoadedCheckpoint;
  layer: FeatureLayer;
  /** The trained DeViSE model file of `layer`. */
  deviseModel: string;
  labelVectors: Float32Array;
  train: CifarSplit;
  test: CifarSplit;
  /** The whole vocabulary (for `finetune.vocabNegatives`). */
  words: WordVectors;
  cfg: PipelineConfig;
  run: Run;
  fineToCoarse: Int32Array;
}

/**
 * The fine-tuning stage: the visual model and M trained together (resumable, under a folder keyed
 * by where it starts and its settings), the fine-tuned model's features extracted (they differ
 * from the pretrained model's), the fine-tuned map saved as a DeViSE model, and its results row.
 *
 * @example
 * ```ts
 * const { row, metrics } = await finetuneStage(tf, inputs);
 * row.model; // "DeViSE, fine-tuned (act)"
 * ```
 */
export async function finetuneStage(tf: TF, inputs: FinetuneStageInputs) {
  const { cfg, run, layer } = inputs;
  const f = cfg.settings.finetune;
  const config: FinetuneConfig = {
    epochs: f.epochs,
    batchSize: f.batchSize,
    lrVisual: f.lrVisual,
    mapLr: f.mapLr,
    momentum: f.momentum,
    nesterov: f.nesterov,
    weightDecay: f.weightDecay,
    augment: f.augment,
    limit: f.limit,
    vocabNegatives: f.vocabNegatives,
    seed: cfg.seed,
  };
  const deviseSidecar = await readSidecar(
    inputs.deviseModel,
    DEVISE_MODEL_FORMAT,
    DEVISE_MODEL_VERSION,
  );
  const deviseSha = String(deviseSidecar.sha256);
  const key = await _key({
    from: inputs.ckpt.weights.sha256,
    devise: deviseSha,
    config: finetuneKeyConfig(config),
    layer,
  });
  const outDir = join(cfg.workDir, `finetune-${layer}-${key}`);
  const devise = await loadDeviseModel(inputs.deviseModel);
  const result = await finetuneDevise(
    tf,
    {
      checkpoint: inputs.ckpt,
      devise,
      layer,
      labelVectors: inputs.labelVectors,
      train: inputs.train,
      test: inputs.test,
      negativeVectors: vocabNegativePool(inputs.words, config.vocabNegatives),
    },
    config,
    { outDir, resume: true, run },
  );
  const featureDir = join(cfg.workDir, `features-${result.checkpoint.weights.sha256.slice(0, 12)}`);
  await extractAll(tf, result.checkpoint, result.model, cfg.dataDir, [layer], featureDir, {
    batchSize: 256,
    log: (l) => run.log(`   fine-tuned ${l}`),
    run,
  });
  result.model.dispose();
  // The map as fine-tuning used it: its standardisation with near-constant columns floored.
  const tuned = { ...result.devise, std: result.devise.std ? safeStd(result.devise.std) : null };
  const modelPath = join(outDir, `devise-${layer}.f32`);
  await saveDeviseModel(modelPath, tuned, {
    finetuned: result.checkpoint.weights.sha256,
    from: deviseSha,
    vectors: deviseSidecar.sources?.vectors,
  });
  const testFeatures = await loadDeviseSplit(featureDir, inputs.test, layer);
  const scores = predictScores(tf, tuned, testFeatures.features, inputs.labelVectors);
  return {
    row: resultRow(
      `DeViSE, fine-tuned (${layer})`,
      scores,
      inputs.test.labels,
      100,
      inputs.fineToCoarse,
    ),
    curve: result.curve,
    metrics: {
      layer,
      checkpoint: result.checkpoint.dir,
      featureDir,
      deviseModel: modelPath,
      epochs: result.curve.length,
      curve: result.curve,
    },
  };
}

/** Sidecar-less JSON of the saved plan (format tag checked on reuse). */
export const BUDGET_PLAN_FORMAT = "devise-budget-plan";

/**
 * The budget's plan for the visual stage: reused from `<visualDir>/plan.json` when an earlier
 * run of the same settings made one (so re-runs and resumes keep the epochs), else measured on
 * this machine, saved, and logged with the expected end time.
 *
 * @example
 * ```ts
 * const plan = await budgetPlan(tf, settings, config, dir, { budgetSeconds: 7200,
 *   spentSeconds: run.elapsedSeconds(), train: 50000, test: 10000, labelDim: 100 }, run);
 * ```
 */
export async function budgetPlan(
  tf: TF,
  settings: TrainSettings,
  config: TrainConfig,
  visualDir: string,
  at: {
    budgetSeconds: number;
    spentSeconds: number;
    train: number;
    test: number;
    labelDim: number;
    /** The training images, to time the real loop body (else random images). */
    images?: TrainingImages;
  },
  run: Run,
): Promise<BudgetPlan> {
  const path = join(visualDir, "plan.json");
  const saved = await readJsonOrNull(path) as (BudgetPlan & { format?: string }) | null;
  if (saved?.format === BUDGET_PLAN_FORMAT && Number.isInteger(saved.epochs)) {
    run.log(`   budget plan reused from ${path}: ${saved.epochs} epochs`);
    return saved;
  }
  const costs = await measureStageCosts(tf, settings, config, {
    train: at.train,
    test: at.test,
    extract: at.train + 2 * at.test,
    labelDim: at.labelDim,
  }, at.images);
  const plan = planEpochs({
    budgetSeconds: at.budgetSeconds,
    spentSeconds: at.spentSeconds,
    epochSeconds: costs.epochSeconds,
    extractSeconds: costs.extractSeconds,
    deviseSeconds: costs.deviseSeconds,
    otherSeconds: costs.otherSeconds + costs.finetuneSeconds,
  });
  await writeJsonAtomic(path, { format: BUDGET_PLAN_FORMAT, ...plan, costs });
  const end = new Date(Date.now() + (plan.etaSeconds - at.spentSeconds) * 1000);
  run.log(
    `   budget ${formatSeconds(at.budgetSeconds)}: training runs at ` +
      `${costs.trainImagesPerSecond.toFixed(0)} img/s here, so ${plan.epochs} epochs of ` +
      `${formatSeconds(costs.epochSeconds)} (${formatSeconds(plan.visualSeconds)}), then extract ` +
      `~${formatSeconds(plan.extractSeconds)}, DeViSE ~${formatSeconds(plan.deviseSeconds)}` +
      (costs.finetuneSeconds ? `, fine-tuning ~${formatSeconds(costs.finetuneSeconds)}` : "") +
      "; " +
      `ETA ${formatSeconds(plan.etaSeconds)} for the whole run (ends about ` +
      `${end.toISOString().slice(11, 16)} UTC); --epochs N fixes the epochs instead`,
  );
  return plan;
}

/**
 * The visual model's training config from the settings (the key order is part of the stage
 * folder's name: keep it).
 *
 * @example
 * ```ts
 * visualTrainConfig(PRESETS.cpu.visual, 100, 1).epochs; // 10
 * ```
 */
export function visualTrainConfig(
  v: VisualSettings,
  numClasses: number,
  seed: number,
): TrainConfig {
  return {
    model: { arch: v.arch, depth: v.depth, numClasses, width: v.width, inputSize: v.inputSize },
    epochs: v.epochs,
    batchSize: v.batchSize,
    lr: v.lr,
    momentum: v.momentum,
    nesterov: v.nesterov,
    weightDecay: v.weightDecay,
    schedule: v.schedule,
    warmupEpochs: v.warmupEpochs,
    labelSmoothing: v.labelSmoothing,
    seed,
    limit: v.limit,
    augment: v.augment,
    init: "",
  };
}

/** Short stable key of a JSON-able value (names stage folders). */
async function _key(value: unknown): Promise<string> {
  return (await sha256Hex(new TextEncoder().encode(JSON.stringify(value)))).slice(0, 12);
}

function _labelVectorsOrThrow(
  path: string,
  words: WordVectors,
  train: CifarSplit,
  run: Run,
): LabelVectors {
  const labels = labelVectors(words, train.labelNames);
  if (labels.missing.length) {
    throw new InputError(
      `${path}: no vector for labels ${labels.missing.join(", ")}; ` +
        "train more vectors (deno task word2vec) or pass --vectors",
    );
  }
  for (const r of labels.rules.filter((r) => r.rule === "mean-of-parts")) {
    run.log(`   label ${r.label}: mean of ${r.tokens.join(" + ")}`);
  }
  return labels;
}

/** Inputs of {@link trainOrLoadDevise}. */
export interface DeviseStageInputs {
  featureDir: string;
  /** Where models are kept (`devise-<layer>-<key>.f32`). */
  workDir: string;
  train: CifarSplit;
  test: CifarSplit;
  layer: FeatureLayer;
  /** C×D unit label vectors. */
  labelVectors: Float32Array;
  /** Checksum of the vectors file the label vectors come from. */
  vectorsSha256: string;
  config: DeviseConfig;
  /** Unit vectors of every word, for `config.vocabNegatives`. */
  negativeVectors?: Float32Array;
  run: Run;
}

/**
 * The DeViSE model for one layer: reused when a model whose sidecar records the same training
 * features, vectors and config exists, else trained (features checked against the records'
 * count and dataset checksum) and saved. `curve` is the training curve when it was trained.
 *
 * @example
 * ```ts
 * const { model, path } = await trainOrLoadDevise(tf, { featureDir, workDir, train, test,
 *   layer: "act", labelVectors, vectorsSha256, config, run });
 * ```
 */
export async function trainOrLoadDevise(
  tf: TF,
  inputs: DeviseStageInputs,
): Promise<{ model: DeviseModel; path: string; curve?: EpochStats[] }> {
  const { layer, run } = inputs;
  const trainF = await loadDeviseSplit(inputs.featureDir, inputs.train, layer);
  const D = inputs.labelVectors.length / inputs.train.labelNames.length;
  const sources = {
    trainFeatures: trainF.sha256,
    vectors: { words: inputs.vectorsSha256, dim: D },
    config: inputs.config,
  };
  const path = join(inputs.workDir, `devise-${layer}-${await _key(sources)}.f32`);
  if (await artifactIsCurrent(path, DEVISE_MODEL_FORMAT, DEVISE_MODEL_VERSION, sources)) {
    run.log(`   ${layer}: reusing ${path}`);
    return { model: await loadDeviseModel(path), path };
  }
  const testF = await loadDeviseSplit(inputs.featureDir, inputs.test, layer);
  const result = await trainDevise(tf, {
    ...inputs.config,
    trainFeatures: trainF.features,
    trainLabels: inputs.train.labels,
    testFeatures: testF.features,
    testLabels: inputs.test.labels,
    labelVectors: inputs.labelVectors,
    dims: D,
    negativeVectors: inputs.negativeVectors,
    onEpoch: (e) =>
      run.log(
        `   ${layer} epoch ${e.epoch}: train loss ${e.trainLoss.toFixed(4)} hit@1 ${
          e.trainHit1.toFixed(3)
        } | test loss ${e.testLoss.toFixed(4)} hit@1 ${e.testHit1.toFixed(3)} (${
          e.seconds.toFixed(1)
        } s)`,
      ),
  });
  await saveDeviseModel(path, result.model, sources);
  return { model: result.model, path, curve: result.curves };
}

/** A seeded sample of test images with softmax and DeViSE top-5 labels. */
function _grid(
  test: CifarSplit,
  softmax: Float32Array,
  devise: Float32Array,
  count: number,
  seed: number,
): GridItem[] {
  const pick = new Rng(seed).permutation(test.count).subarray(0, count);
  const topSoftmax = topK(softmax, 100, 5), topDevise = topK(devise, 100, 5);
  return [...pick].map((i) => ({
    image: test.images.subarray(i * 3072, (i + 1) * 3072),
    trueLabel: test.labelNames[test.labels[i]],
    predictions: {
      softmax: [...topSoftmax.subarray(i * 5, i * 5 + 5)].map((c) => test.labelNames[c]),
      DeViSE: [...topDevise.subarray(i * 5, i * 5 + 5)].map((c) => test.labelNames[c]),
    },
  }));
}
