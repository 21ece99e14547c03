/**
 * `deno task devise`: train the DeViSE projection from extracted visual features
 * (`deno task extract`: `<features>/cifar100-{train,test}.<layer>.f32`) to label word vectors,
 * with labels from the CIFAR-100 records; evaluate hit@k / superclass metrics on the test split
 * next to the softmax baseline (when `cifar100-test.probs.f32` exists), save the model and a
 * report. With `--ablate` run a one-factor-at-a-time grid and write ablation.md / ablation.json.
 *
 * @example
 * ```sh
 * deno task devise --features data/features --data-dir /work/shared/data --vectors data/vectors/w2v.bin
 * deno task devise --features data/features --vectors a.bin --ablate layer,loss,dropout,vectors --ablate-vectors b.txt
 * ```
 * @module
 */
import { type FlagSpec, parseFlags, UsageError } from "../lib/cli/args.ts";
import { runTask, startRun } from "../lib/cli/run.ts";
import { BACKEND_NAMES, type BackendName, selectBackend } from "../lib/backend/select.ts";
import { resolveDataDir } from "../lib/data/cifar.ts";
import {
  type CifarLabels,
  deviseFeaturePath,
  type DeviseLabelVectors,
  type DeviseSplit,
  loadCifarLabels,
  loadDeviseSplit,
  loadLabelVectors,
  loadSoftmaxScores,
} from "../lib/devise/data.ts";
import { LOSS_KINDS, type LossKind } from "../lib/devise/loss.ts";
import {
  fineToCoarseMap,
  hierarchicalPrecisionAtK,
  hitAtK,
  superclassErrorRate,
} from "../lib/devise/metrics.ts";
import { evaluateDevise, saveDeviseModel, trainDevise } from "../lib/devise/train.ts";
import {
  ABLATION_FACTORS,
  type AblationFactor,
  type AblationSetting,
  runAblation,
  writeAblation,
} from "../lib/devise/ablate.ts";
import { type ResultRow, writeReport } from "../lib/report/report.ts";
import { FEATURE_LAYERS } from "../lib/vision/models.ts";

const spec = {
  features: {
    type: "string",
    default: "data/features",
    help: "features folder written by `deno task extract` (<dataset>-<split>.<kind>.f32)",
  },
  dataDir: {
    type: "string",
    default: "",
    help: "CIFAR folder the features were extracted from (labels); env DEVISE_DATA_DIR, else data",
  },
  layer: { type: "string", default: "gap", choices: FEATURE_LAYERS, help: "feature layer" },
  layers: {
    type: "list",
    default: [...FEATURE_LAYERS],
    help: "layers compared by --ablate layer (missing ones are skipped)",
  },
  vectors: { type: "string", default: "", help: "word vectors (word2vec .bin or .txt), required" },
  ablateVectors: {
    type: "list",
    default: [],
    help: "more word-vector files compared with --vectors by --ablate vectors",
  },
  loss: { type: "string", default: "hinge", choices: LOSS_KINDS, help: "loss" },
  margin: { type: "number", default: 0.1, help: "hinge margin" },
  lambda: { type: "number", default: 1, help: "Euclidean term weight (hinge-euclid)" },
  dropout: { type: "number", default: 0, help: "dropout rate on input features" },
  dropouts: {
    type: "list",
    default: ["0", "0.25", "0.5"],
    help: "rates compared by --ablate dropout",
  },
  weightDecay: { type: "number", default: 0, help: "L2 penalty on M" },
  standardize: { type: "boolean", default: true, help: "standardise features (train mean/std)" },
  firstViolation: { type: "boolean", default: false, help: "paper's first-violation sampling" },
  epochs: { type: "number", default: 10, help: "passes over the training features" },
  batchSize: { type: "number", default: 256, help: "minibatch size" },
  lr: { type: "number", default: 1e-3, help: "learning rate" },
  optimizer: { type: "string", default: "adam", choices: ["adam", "sgd"], help: "optimizer" },
  seed: { type: "number", default: 0, help: "random seed" },
  backend: { type: "string", default: "auto", choices: BACKEND_NAMES, help: "tfjs backend" },
  ablate: { type: "list", default: [], help: `factors to ablate (${ABLATION_FACTORS.join(",")})` },
  json: { type: "boolean", default: false, help: "print final metrics as JSON on stdout" },
  out: { type: "string", default: "", help: "run folder (default data/runs/devise-<time>)" },
} as const satisfies FlagSpec;

/** hit@1/2/5/10, superclass-consistent error rate and hP@k of n×C scores. */
function _metrics(scores: Float32Array, test: CifarLabels, fineToCoarse: Int32Array | null) {
  const C = test.labelNames.length, ks = [1, 2, 5, 10];
  const out: Omit<ResultRow, "model"> = { hit: hitAtK(scores, test.labels, C, ks) };
  if (fineToCoarse) {
    out.superclassErrorRate = superclassErrorRate(scores, test.labels, C, fineToCoarse).rate;
    out.hierarchicalPrecision = hierarchicalPrecisionAtK(scores, test.labels, C, fineToCoarse, ks);
  }
  return out;
}

async function _exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

function _flags() {
  const flags = parseFlags(spec, Deno.args, {
    task: "devise",
    summary: "Train the DeViSE linear map from visual features to label word vectors.",
    examples: [
      "deno task devise --features data/features --data-dir /work/shared/data --vectors w2v.bin",
      "deno task devise --vectors a.bin --ablate layer,loss,dropout,vectors --ablate-vectors b.txt",
    ],
  });
  if (!flags.vectors) throw new UsageError("--vectors is required (word2vec .bin or .txt)");
  const unknown = flags.ablate.filter((f) => !(ABLATION_FACTORS as readonly string[]).includes(f));
  if (unknown.length) throw new UsageError(`--ablate: unknown factor(s) ${unknown.join(", ")}`);
  const badLayers = flags.layers.filter((l) => !(FEATURE_LAYERS as readonly string[]).includes(l));
  if (badLayers.length) {
    throw new UsageError(`--layers: unknown layer(s) ${badLayers} (${FEATURE_LAYERS.join("|")})`);
  }
  if (flags.ablate.includes("vectors") && flags.ablateVectors.length === 0) {
    throw new UsageError("--ablate vectors needs --ablate-vectors a.bin,b.txt to compare");
  }
  const dropouts = flags.dropouts.map(Number);
  if (dropouts.some((r) => !(r >= 0 && r < 1))) {
    throw new UsageError("--dropouts must be rates in [0, 1)");
  }
  if (!(flags.dropout >= 0 && flags.dropout < 1)) {
    throw new UsageError("--dropout must be in [0, 1)");
  }
  return { ...flags, dropouts };
}

async function main() {
  const flags = _flags();
  const dataDir = resolveDataDir(flags.dataDir);
  const run = await startRun("devise", flags.out, { ...flags, dataDir });
  const { tf, backend, reason } = await selectBackend(flags.backend as BackendName, {
    allowSlow: true,
    log: run.log,
  });
  await run.updateConfig({ backend, backendReason: reason });

  const trainLabels = await loadCifarLabels(dataDir, "cifar100", "train");
  const testLabels = await loadCifarLabels(dataDir, "cifar100", "test");
  const classes = trainLabels.labelNames;
  const fineToCoarse = trainLabels.coarseLabels
    ? fineToCoarseMap(trainLabels.labels, trainLabels.coarseLabels, classes.length)
    : null;

  // One layer in memory at a time: act/bn train features are 50000×4096 floats (800 MB).
  let cached: { layer: string; train: DeviseSplit; test: DeviseSplit } | null = null;
  const loadLayer = async (layer: string) => {
    if (cached?.layer !== layer) {
      cached = null;
      const train = await loadDeviseSplit(flags.features, trainLabels, layer);
      const test = await loadDeviseSplit(flags.features, testLabels, layer);
      if (train.d !== test.d) {
        throw new Error(`${train.path} has ${train.d} columns but ${test.path} has ${test.d}`);
      }
      run.log(`features [${layer}]: train ${train.n}×${train.d}, test ${test.n}×${test.d}`);
      cached = { layer, train, test };
    }
    return cached;
  };
  const vectorCache = new Map<string, DeviseLabelVectors>();
  const loadVectors = async (path: string) => {
    if (!vectorCache.has(path)) {
      const v = await loadLabelVectors(path, classes);
      const notExact = v.rules.filter((r) => r.rule !== "exact");
      run.log(
        `vectors ${path}: ${v.dims}-D; ${classes.length - notExact.length} labels exact` +
          (notExact.length
            ? `, ${notExact.map((r) => `${r.label}→${r.tokens.join("+")}`).join(" ")}`
            : ""),
      );
      vectorCache.set(path, v);
    }
    return vectorCache.get(path)!;
  };

  const trainOne = async (setting: AblationSetting) => {
    const { train, test } = await loadLayer(setting.layer);
    const vectors = await loadVectors(setting.vectors);
    const t0 = performance.now();
    const result = await trainDevise(tf, {
      trainFeatures: train.features,
      trainLabels: trainLabels.labels,
      testFeatures: test.features,
      testLabels: testLabels.labels,
      labelVectors: vectors.T,
      dims: vectors.dims,
      loss: setting.loss,
      margin: flags.margin,
      lambda: flags.lambda,
      dropout: setting.dropout,
      weightDecay: flags.weightDecay,
      standardize: flags.standardize,
      firstViolation: flags.firstViolation,
      epochs: flags.epochs,
      batchSize: flags.batchSize,
      lr: flags.lr,
      optimizer: flags.optimizer as "adam" | "sgd",
      seed: flags.seed,
      onEpoch: (s) =>
        run.log(
          `epoch ${s.epoch}: train loss ${s.trainLoss.toFixed(4)} hit@1 ${
            s.trainHit1.toFixed(3)
          } | test loss ${s.testLoss.toFixed(4)} hit@1 ${s.testHit1.toFixed(3)} (${
            s.seconds.toFixed(1)
          } s)`,
        ),
    });
    const seconds = (performance.now() - t0) / 1000;
    const { scores } = evaluateDevise(
      tf,
      result.model,
      test.features,
      testLabels.labels,
      vectors.T,
    );
    return { result, metrics: _metrics(scores, testLabels, fineToCoarse), seconds, train, vectors };
  };

  const base: AblationSetting = {
    layer: flags.layer,
    vectors: flags.vectors,
    loss: flags.loss as LossKind,
    dropout: flags.dropout,
  };
  const softmax = await loadSoftmaxScores(flags.features, testLabels);
  const softmaxRow: ResultRow | null = softmax
    ? { model: "softmax (visual model)", ..._metrics(softmax.features, testLabels, fineToCoarse) }
    : null;
  if (!softmaxRow) {
    run.log(`no ${deviseFeaturePath(flags.features, testLabels, "probs")}: no softmax baseline`);
  }

  if (flags.ablate.length) {
    const notes: string[] = [];
    const layers: string[] = [];
    for (const layer of flags.ablate.includes("layer") ? flags.layers : []) {
      const paths = [trainLabels, testLabels].map((d) =>
        deviseFeaturePath(flags.features, d, layer)
      );
      const missing = [];
      for (const p of paths) if (!await _exists(p)) missing.push(p);
      if (missing.length) {
        notes.push(`layer ${layer} skipped: ${missing.join(", ")} not found`);
        run.log(`note: ${notes.at(-1)}`);
      } else layers.push(layer);
    }
    if (softmaxRow) {
      notes.push(
        `softmax baseline (same visual model): hit@1 ${
          (softmaxRow.hit["1"] * 100).toFixed(1)
        }%, hit@5 ${(softmaxRow.hit["5"] * 100).toFixed(1)}%, superclass-consistent errors ${
          ((softmaxRow.superclassErrorRate ?? NaN) * 100).toFixed(1)
        }%`,
      );
    }
    const result = await runAblation({
      factors: flags.ablate as AblationFactor[],
      base,
      values: {
        layer: layers,
        vectors: [...new Set([flags.vectors, ...flags.ablateVectors])],
        loss: [...LOSS_KINDS],
        dropout: flags.dropouts,
      },
      log: run.log,
      runOne: async (setting) => {
        const { metrics, seconds } = await trainOne(setting);
        return { ...metrics, seconds };
      },
    });
    const paths = await writeAblation(run.dir, result, base, notes);
    run.log(`wrote ${paths.markdown}`);
    await run.finish({ ablation: result.rows, base, softmax: softmaxRow, notes }, flags.json);
    return;
  }

  const { result, metrics, train, vectors } = await trainOne(base);
  const modelPath = `${run.dir}/model.f32`;
  await saveDeviseModel(modelPath, result.model, {
    features: train.sha256,
    dataset: trainLabels.sha256,
    vectors: vectors.path,
  });
  const results: ResultRow[] = [
    ...(softmaxRow ? [softmaxRow] : []),
    { model: `DeViSE (${base.layer}, ${base.loss})`, ...metrics },
  ];
  const epochs = result.curves.map((c) => c.epoch);
  const series = (key: "Loss" | "Hit1") =>
    (["train", "test"] as const).map((split) => ({
      name: split,
      points: result.curves.map((c, i) => [epochs[i], c[`${split}${key}`]] as [number, number]),
    }));
  await writeReport(run.dir, {
    title: "DeViSE",
    config: run.config,
    results,
    curves: [
      { title: "loss", xLabel: "epoch", yLabel: "loss", series: series("Loss") },
      { title: "hit@1", xLabel: "epoch", yLabel: "hit@1", series: series("Hit1") },
    ],
    notes: [
      "End-to-end fine-tuning of the visual model through M is not done (frozen features).",
      softmaxRow
        ? "The softmax row scores the same visual model's own classifier on the test split."
        : `No softmax baseline: ${
          deviseFeaturePath(flags.features, testLabels, "probs")
        } not found.`,
    ],
  });
  run.log(
    `test hit@1 ${(metrics.hit["1"] * 100).toFixed(1)}%, hit@5 ${
      (metrics.hit["5"] * 100).toFixed(1)
    }%` + (softmaxRow ? ` (softmax hit@1 ${(softmaxRow.hit["1"] * 100).toFixed(1)}%)` : ""),
  );
  // metrics.json belongs to finish (writeReport does not write it).
  await run.finish({
    ...metrics,
    softmax: softmaxRow,
    results,
    model: modelPath,
    backend,
    curves: result.curves,
    labelRules: vectors.rules.filter((r) => r.rule !== "exact"),
    epochSecondsMedian: result.epochSeconds.toSorted((a, b) =>
      a - b
    )[result.epochSeconds.length >> 1],
  }, flags.json);
}

if (import.meta.main) runTask(main);
