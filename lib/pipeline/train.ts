/**
 * `deno task train`, top to bottom: data → visual model → features → word vectors → DeViSE →
 * evaluation → report. Every stage writes artifacts with sidecars under a work folder keyed by
 * its inputs, and skips itself when a valid artifact for the same inputs exists, so a re-run with
 * the same flags reuses everything and finishes in seconds.
 *
 * ```sh
 * deno task train --data-dir ../shared/data                    # cpu preset on a CPU backend
 * deno task train --data-dir ../shared/data --preset quick --json
 * deno task train --data-dir ../shared/data --visual data/runs/resnet20-cpu
 * ```
 * @module
 */
import { join } from "node:path";
import type { Run } from "../cli/run.ts";
import type { TF } from "../backend/select.ts";
import { channelStats, type CifarSplit, loadCifar } from "../data/cifar.ts";
import { artifactIsCurrent, readSidecar, sha256Hex } from "../io/artifact.ts";
import { Rng } from "../io/rng.ts";
import { modelFromCheckpoint, resolveCheckpoint } from "../vision/checkpoint.ts";
import {
  extractAll,
  featurePath,
  FEATURES_FORMAT,
  FEATURES_VERSION,
  readFeatures,
} from "../vision/extract.ts";
import type { FeatureLayer } from "../vision/models.ts";
import { DEFAULT_TRAIN_CONFIG, trainVision } from "../vision/train.ts";
import { labelVectors } from "../text/labels.ts";
import { readVectors } from "../text/word2vec_io.ts";
import {
  DEVISE_MODEL_FORMAT,
  DEVISE_MODEL_VERSION,
  type DeviseConfig,
  type DeviseModel,
  loadDeviseModel,
  predictScores,
  saveDeviseModel,
  trainDevise,
} from "../devise/train.ts";
import {
  fineToCoarseMap,
  hierarchicalPrecisionAtK,
  hitAtK,
  superclassErrorRate,
  topK,
} from "../devise/metrics.ts";
import { type ResultRow, writeReport } from "../report/report.ts";
import type { GridItem } from "../report/image_grid.ts";
import type { LineChartOptions } from "../report/svg.ts";
import type { Preset } from "./presets.ts";
import { resolveVectors, type VectorsChoice } from "./vectors.ts";

/** Resolved settings of one pipeline run. */
export interface PipelineConfig {
  preset: string;
  settings: Preset;
  dataDir: string;
  /** Reuse this checkpoint (run folder, checkpoint root or epoch folder) instead of pretraining. */
  visual: string;
  vectors: VectorsChoice;
  /** Where reusable stage artifacts live (default `data/pipeline`). */
  workDir: string;
  devise: DeviseConfig;
  seed: number;
}

/** What {@link runTrainPipeline} returns (also `metrics.json`). */
export interface PipelineMetrics {
  backend: string;
  preset: string;
  visual: { checkpoint: string; top1: number; top5: number; reused: boolean };
  vectors: { path: string; words: number; dim: number; missingLabels: string[] };
  /** Where the features and the DeViSE models are (read by `deno task zeroshot`). */
  featureDir: string;
  layers: FeatureLayer[];
  deviseModels: Record<string, string>;
  results: ResultRow[];
  stageSeconds: Record<string, number>;
  report: string;
}

const _KS = [1, 2, 5, 10];

/** Short stable key of a JSON-able value (names stage folders). */
async function _key(value: unknown): Promise<string> {
  return (await sha256Hex(new TextEncoder().encode(JSON.stringify(value)))).slice(0, 12);
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

  // 1. Data: CIFAR-100 for training and evaluation (CIFAR-10 is for `deno task zeroshot`).
  const { train, test } = await timed("data", async () => ({
    train: await loadCifar(cfg.dataDir, "cifar100", "train"),
    test: await loadCifar(cfg.dataDir, "cifar100", "test"),
  }));

  // 2. Word vectors and the 100 label vectors, first: a missing label should not wait for hours.
  const vectors = await timed("vectors", () => resolveVectors(cfg.vectors, run));
  const words = await readVectors(vectors.path);
  const labels = labelVectors(words, train.labelNames);
  if (labels.missing.length) {
    throw new Error(
      `${vectors.path}: no vector for labels ${labels.missing.join(", ")}; ` +
        "train more vectors (deno task word2vec) or pass --vectors",
    );
  }
  for (const r of labels.rules.filter((r) => r.rule === "mean-of-parts")) {
    run.log(`   label ${r.label}: mean of ${r.tokens.join(" + ")}`);
  }

  // 3. Visual model: reuse `--visual`, else pretrain (resumable) under a folder keyed by config.
  const v = cfg.settings.visual;
  const visualConfig = {
    ...DEFAULT_TRAIN_CONFIG,
    model: {
      arch: "resnet" as const,
      depth: v.depth,
      numClasses: 100,
      width: v.width ?? 1,
      inputSize: v.inputSize ?? 32,
    },
    epochs: v.epochs,
    batchSize: v.batchSize,
    lr: v.lr,
    schedule: v.schedule,
    weightDecay: v.weightDecay,
    nesterov: v.nesterov,
    limit: v.limit,
    seed: cfg.seed,
  };
  const visualDir = cfg.visual ||
    join(cfg.workDir, `visual-${await _key({ visualConfig, data: train.sha256 })}`);
  const visualReused = cfg.visual !== "";
  await timed("visual", async () => {
    if (visualReused) return;
    const { mean, std } = channelStats(train.images);
    await trainVision(tf, { train, test, mean, std }, visualConfig, {
      outDir: visualDir,
      resume: true,
      log: run.log,
    });
  });
  const ckpt = await resolveCheckpoint(visualDir, "last");
  const lastEpoch = ckpt.state.curve.at(-1) ?? {};
  run.log(
    `   visual: ${ckpt.dir} (epoch ${ckpt.state.epoch}, test top-1 ${lastEpoch.testTop1})`,
  );

  // 4. Features (and softmax probabilities) of every layer, keyed by the model's weights.
  const featureDir = join(cfg.workDir, `features-${ckpt.weights.sha256.slice(0, 12)}`);
  await timed("extract", async () => {
    const model = await modelFromCheckpoint(tf, ckpt);
    for (const layer of cfg.settings.layers) {
      await extractAll(tf, ckpt, model, cfg.dataDir, layer, featureDir, {
        batchSize: 256,
        log: (l) => run.log(`   ${layer}: ${l}`),
      });
    }
    model.dispose();
  });

  // 5. DeViSE per layer (skipped when a model for the same features/vectors/config exists).
  const probsTest = (await readFeatures(featurePath(featureDir, "cifar100", "test", "probs"))).data;
  const fineToCoarse = fineToCoarseMap(test.labels, test.coarseLabels!, 100);
  const results: ResultRow[] = [_row(`softmax (ResNet-${v.depth})`, probsTest, test, fineToCoarse)];
  const curves: LineChartOptions[] = [];
  const deviseScores: Record<string, Float32Array> = {};
  const deviseModels: Record<string, string> = {};
  await timed("devise", async () => {
    for (const layer of cfg.settings.layers) {
      const { model, path } = await _trainOrLoadDevise(
        tf,
        cfg,
        run,
        featureDir,
        { train, test },
        layer,
        labels.data,
        {
          words: vectors.sha256,
          dim: words.dim,
        },
        curves,
      );
      const testFeatures = await readFeatures(featurePath(featureDir, "cifar100", "test", layer));
      const scores = predictScores(tf, model, testFeatures.data, labels.data);
      deviseScores[layer] = scores;
      deviseModels[layer] = path;
      results.push(_row(`DeViSE (${layer}, ${model.d}-D)`, scores, test, fineToCoarse));
    }
  });

  // 6. Report: tables, curves, and a grid of test images with both models' top-5.
  const reportPaths = await timed("report", () =>
    writeReport(run.dir, {
      title: `DeViSE on CIFAR-100 — preset ${cfg.preset}`,
      config: { ...run.config, visualCheckpoint: ckpt.dir, vectors: vectors.path },
      results,
      curves,
      imageGrid: _grid(test, probsTest, deviseScores[cfg.settings.layers.at(-1)!], 12, cfg.seed),
      notes: [
        `Softmax and DeViSE share the visual model ${ckpt.dir} (test top-1 ${
          (100 * (lastEpoch.testTop1 ?? 0)).toFixed(1)
        }%).`,
        "Superclass-consistent errors: among top-1 mistakes, the fraction whose predicted class " +
        "shares the true CIFAR-100 superclass.",
        `Label vectors: ${vectors.path} (${words.words.length} words × ${words.dim}).`,
      ],
    }));
  return {
    backend,
    preset: cfg.preset,
    visual: {
      checkpoint: ckpt.dir,
      top1: lastEpoch.testTop1,
      top5: lastEpoch.testTop5,
      reused: visualReused,
    },
    vectors: {
      path: vectors.path,
      words: words.words.length,
      dim: words.dim,
      missingLabels: labels.missing,
    },
    featureDir,
    layers: cfg.settings.layers,
    deviseModels,
    results,
    stageSeconds: seconds,
    report: reportPaths.html,
  };
}

/** hit@k, superclass-consistent error rate and hierarchical precision of a score matrix. */
function _row(
  model: string,
  scores: Float32Array,
  test: CifarSplit,
  fineToCoarse: Int32Array,
): ResultRow {
  return {
    model,
    hit: hitAtK(scores, test.labels, 100, _KS),
    superclassErrorRate: superclassErrorRate(scores, test.labels, 100, fineToCoarse).rate,
    hierarchicalPrecision: hierarchicalPrecisionAtK(scores, test.labels, 100, fineToCoarse, _KS),
  };
}

async function _trainOrLoadDevise(
  tf: TF,
  cfg: PipelineConfig,
  run: Run,
  featureDir: string,
  splits: { train: CifarSplit; test: CifarSplit },
  layer: FeatureLayer,
  labelData: Float32Array,
  vectorSources: Record<string, unknown>,
  curves: LineChartOptions[],
): Promise<{ model: DeviseModel; path: string }> {
  const trainPath = featurePath(featureDir, "cifar100", "train", layer);
  const testPath = featurePath(featureDir, "cifar100", "test", layer);
  const sources = {
    trainFeatures: (await readSidecar(trainPath, FEATURES_FORMAT, FEATURES_VERSION)).sha256,
    vectors: vectorSources,
    config: cfg.devise,
  };
  const modelPath = join(cfg.workDir, `devise-${layer}-${await _key(sources)}.f32`);
  if (await artifactIsCurrent(modelPath, DEVISE_MODEL_FORMAT, DEVISE_MODEL_VERSION, sources)) {
    run.log(`   ${layer}: reusing ${modelPath}`);
    return { model: await loadDeviseModel(modelPath), path: modelPath };
  }
  const trainF = await readFeatures(trainPath);
  const testF = await readFeatures(testPath);
  const result = await trainDevise(tf, {
    ...cfg.devise,
    trainFeatures: trainF.data,
    trainLabels: splits.train.labels,
    testFeatures: testF.data,
    testLabels: splits.test.labels,
    labelVectors: labelData,
    dims: labelData.length / 100,
    onEpoch: (s) =>
      run.log(
        `   ${layer} epoch ${s.epoch}: train loss ${s.trainLoss.toFixed(4)} hit@1 ${
          s.trainHit1.toFixed(3)
        } | test loss ${s.testLoss.toFixed(4)} hit@1 ${s.testHit1.toFixed(3)} (${
          s.seconds.toFixed(1)
        } s)`,
      ),
  });
  await saveDeviseModel(modelPath, result.model, sources);
  curves.push({
    title: `DeViSE (${layer}) loss`,
    xLabel: "epoch",
    yLabel: "hinge rank loss",
    series: [
      { name: "train", points: result.curves.map((c) => [c.epoch, c.trainLoss]) },
      { name: "test", points: result.curves.map((c) => [c.epoch, c.testLoss]) },
    ],
  }, {
    title: `DeViSE (${layer}) hit@1`,
    xLabel: "epoch",
    yLabel: "hit@1",
    series: [
      { name: "train", points: result.curves.map((c) => [c.epoch, c.trainHit1]) },
      { name: "test", points: result.curves.map((c) => [c.epoch, c.testHit1]) },
    ],
  });
  return { model: result.model, path: modelPath };
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
