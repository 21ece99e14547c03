/**
 * `deno task devise`: train the DeViSE projection from extracted visual features to label word
 * vectors, evaluate hit@k / superclass metrics on the test split, save the model and a report;
 * with `--ablate` run a one-factor-at-a-time grid and write ablation.md / ablation.json.
 *
 * @example
 * ```sh
 * deno task devise --features data/features --vectors data/vectors/labels.f32 --epochs 10
 * deno task devise --features data/features --vectors a.f32,b.f32 --ablate layer,vectors,loss,dropout --layers gap,act,bn
 * ```
 * @module
 */
import { basename } from "node:path";
import { type FlagSpec, parseFlags, UsageError } from "../lib/cli/args.ts";
import { runTask, startRun } from "../lib/cli/run.ts";
import { BACKEND_NAMES, type BackendName, selectBackend } from "../lib/backend/select.ts";
import {
  type FeatureSplit,
  labelMatrix,
  readFeatureSplit,
  readWordVectorFile,
} from "../lib/devise/data.ts";
import { LOSS_KINDS, type LossKind } from "../lib/devise/loss.ts";
import {
  fineToCoarseMap,
  hierarchicalPrecisionAtK,
  hitAtK,
  superclassErrorRate,
} from "../lib/devise/metrics.ts";
import {
  evaluateDevise,
  saveDeviseModel,
  trainDevise,
  type TrainDeviseResult,
} from "../lib/devise/train.ts";
import {
  ABLATION_FACTORS,
  type AblationFactor,
  type AblationMetrics,
  type AblationSetting,
  runAblation,
  writeAblation,
} from "../lib/devise/ablate.ts";
import { writeReport } from "../lib/report/report.ts";

const spec = {
  features: {
    type: "string",
    default: "data/features",
    help: "features folder (train/test .f32 + labels)",
  },
  layer: {
    type: "string",
    default: "",
    help: "feature layer subfolder/suffix (empty: DIR/train.f32)",
  },
  layers: {
    type: "list",
    default: ["gap", "act", "bn"],
    help: "layers compared by --ablate layer",
  },
  vectors: {
    type: "list",
    default: [],
    help: "label word vectors (first is the base; more for --ablate vectors)",
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

/** Test-split metrics of a trained model. */
function _evaluate(
  tf: Parameters<typeof trainDevise>[0],
  result: TrainDeviseResult,
  train: FeatureSplit,
  test: FeatureSplit,
  T: Float32Array,
): Omit<AblationMetrics, "seconds"> {
  const C = T.length / result.model.dims;
  const { scores } = evaluateDevise(tf, result.model, test.features, test.labels, T);
  const out: Omit<AblationMetrics, "seconds"> = {
    hit: hitAtK(scores, test.labels, C, [1, 2, 5, 10]),
  };
  if (train.coarseLabels) {
    const map = fineToCoarseMap(train.labels, train.coarseLabels, C);
    out.superclassErrorRate = superclassErrorRate(scores, test.labels, C, map).rate;
    out.hierarchicalPrecision = hierarchicalPrecisionAtK(scores, test.labels, C, map, [
      1,
      2,
      5,
      10,
    ]);
  }
  return out;
}

async function main() {
  const flags = parseFlags(spec, Deno.args, {
    task: "devise",
    summary: "Train the DeViSE linear map from visual features to label word vectors.",
    examples: [
      "deno task devise --features data/features --vectors data/vectors/labels.f32 --epochs 10",
      "deno task devise --features data/features --vectors a.f32,b.f32 --ablate loss,dropout,vectors",
    ],
  });
  if (flags.vectors.length === 0) {
    throw new UsageError("--vectors is required (label word vectors file)");
  }
  const unknown = flags.ablate.filter((f) => !(ABLATION_FACTORS as readonly string[]).includes(f));
  if (unknown.length) throw new UsageError(`--ablate: unknown factor(s) ${unknown.join(", ")}`);
  const dropouts = flags.dropouts.map(Number);
  if (dropouts.some((r) => !(r >= 0 && r < 1))) {
    throw new UsageError("--dropouts must be rates in [0, 1)");
  }
  if (!(flags.dropout >= 0 && flags.dropout < 1)) {
    throw new UsageError("--dropout must be in [0, 1)");
  }

  const run = await startRun("devise", flags.out, { ...flags });
  const { tf, backend, reason } = await selectBackend(flags.backend as BackendName, {
    allowSlow: true,
    log: run.log,
  });
  await run.updateConfig({ backend, backendReason: reason });

  const splits = new Map<string, { train: FeatureSplit; test: FeatureSplit }>();
  const loadLayer = async (layer: string) => {
    if (!splits.has(layer)) {
      const train = await readFeatureSplit(flags.features, "train", layer);
      const test = await readFeatureSplit(flags.features, "test", layer);
      if (train.d !== test.d) {
        throw new Error(`${train.path} has d=${train.d} but ${test.path} has d=${test.d}`);
      }
      run.log(`features${layer ? ` [${layer}]` : ""}: train ${train.n}×${train.d}, test ${test.n}`);
      splits.set(layer, { train, test });
    }
    return splits.get(layer)!;
  };
  const vectorNames = new Map<string, string>();
  for (const path of flags.vectors) vectorNames.set(basename(path), path);
  const labelVectors = async (name: string, classNames: string[]) => {
    const v = await readWordVectorFile(vectorNames.get(name) ?? name);
    return { T: labelMatrix(v, classNames), dims: v.dims };
  };
  const classNamesOf = (s: FeatureSplit) => {
    if (!s.labelNames) {
      throw new Error(`${s.path}.json: no 'labelNames' to look up word vectors for`);
    }
    return s.labelNames;
  };

  const trainOne = async (setting: AblationSetting) => {
    const { train, test } = await loadLayer(setting.layer);
    const { T, dims } = await labelVectors(setting.vectors, classNamesOf(train));
    const result = await trainDevise(tf, {
      trainFeatures: train.features,
      trainLabels: train.labels,
      testFeatures: test.features,
      testLabels: test.labels,
      labelVectors: T,
      dims,
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
          } | ` +
            `test loss ${s.testLoss.toFixed(4)} hit@1 ${s.testHit1.toFixed(3)} (${
              s.seconds.toFixed(1)
            } s)`,
        ),
    });
    return { result, metrics: _evaluate(tf, result, train, test, T), train };
  };

  const base: AblationSetting = {
    layer: flags.layer,
    vectors: basename(flags.vectors[0]),
    loss: flags.loss as LossKind,
    dropout: flags.dropout,
  };
  if (flags.ablate.length) {
    const result = await runAblation({
      factors: flags.ablate as AblationFactor[],
      base,
      values: {
        layer: flags.layers,
        vectors: [...vectorNames.keys()],
        loss: [...LOSS_KINDS],
        dropout: dropouts,
      },
      log: run.log,
      runOne: async (setting) => {
        const t0 = performance.now();
        const { metrics } = await trainOne(setting);
        return { ...metrics, seconds: (performance.now() - t0) / 1000 };
      },
    });
    const paths = await writeAblation(run.dir, result, base);
    run.log(`wrote ${paths.markdown}`);
    await run.finish({ ablation: result.rows, base }, flags.json);
    return;
  }

  const { result, metrics, train } = await trainOne(base);
  const modelPath = `${run.dir}/model.f32`;
  await saveDeviseModel(modelPath, result.model, {
    features: train.sha256,
    vectors: flags.vectors[0],
  });
  const epochs = result.curves.map((c) => c.epoch);
  await writeReport(run.dir, {
    title: "DeViSE",
    config: run.config,
    results: [{ model: `DeViSE (${base.loss})`, ...metrics }],
    curves: [
      {
        title: "loss",
        xLabel: "epoch",
        yLabel: "loss",
        series: [
          { name: "train", points: result.curves.map((c, i) => [epochs[i], c.trainLoss]) },
          { name: "test", points: result.curves.map((c, i) => [epochs[i], c.testLoss]) },
        ],
      },
      {
        title: "hit@1",
        xLabel: "epoch",
        yLabel: "hit@1",
        series: [
          { name: "train", points: result.curves.map((c, i) => [epochs[i], c.trainHit1]) },
          { name: "test", points: result.curves.map((c, i) => [epochs[i], c.testHit1]) },
        ],
      },
    ],
    notes: ["End-to-end fine-tuning of the visual model through M is not done (frozen features)."],
  });
  const summary = {
    ...metrics,
    model: modelPath,
    backend,
    curves: result.curves,
    epochSecondsMedian:
      result.epochSeconds.toSorted((a, b) => a - b)[result.epochSeconds.length >> 1],
  };
  run.log(
    `test hit@1 ${(metrics.hit["1"] * 100).toFixed(1)}%, hit@5 ${
      (metrics.hit["5"] * 100).toFixed(1)
    }%`,
  );
  // writeReport already wrote metrics.json with the report data; finish overwrites it with the
  // task's summary, which includes the same results.
  await run.finish(summary, flags.json);
}

if (import.meta.main) runTask(main);
