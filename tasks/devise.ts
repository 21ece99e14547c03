/**
 * `deno task devise`: train the DeViSE projection from extracted visual features
 * (`deno task extract`: `<features>/cifar100-{train,test}.<layer>.f32`) to label word vectors,
 * evaluate it next to the softmax baseline, save the model and a report; with `--ablate`, a
 * one-factor-at-a-time grid written as ablation.md / ablation.json. The flow is
 * `lib/pipeline/devise.ts`.
 *
 * ```sh
 * deno task devise --features data/features --data-dir ../shared/data --vectors data/vectors/w2v.bin
 * deno task devise --features data/features --vectors a.bin --ablate layer,loss,dropout
 * ```
 * @module
 */
import { commonFlags, type FlagSpec, parseFlags } from "../lib/cli/args.ts";
import { runTask } from "../lib/cli/run.ts";
import { resolveDataDir } from "../lib/data/cifar.ts";
import { ABLATION_FACTORS } from "../lib/devise/ablate.ts";
import { LOSS_KINDS } from "../lib/devise/loss.ts";
import { DEFAULT_DEVISE_CONFIG as D } from "../lib/devise/train.ts";
import { devise } from "../lib/pipeline/devise.ts";
import { FEATURE_LAYERS } from "../lib/vision/models.ts";

/** The flags of `deno task devise`. */
export const spec = {
  features: {
    type: "string",
    default: "data/features",
    path: "dir",
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
    choices: FEATURE_LAYERS,
    help: "layers compared by --ablate layer (missing ones are skipped)",
  },
  vectors: {
    type: "string",
    default: "",
    required: true,
    help: "word vectors: a .bin/.txt/.zip file, glove-6b-50d, skipgram, a URL, A+B (required)",
  },
  ablateVectors: {
    type: "list",
    default: [],
    help: "more word-vector sets compared with --vectors by --ablate vectors",
  },
  loss: { type: "string", default: D.loss, choices: LOSS_KINDS, help: "loss" },
  margin: { type: "number", default: D.margin, min: 0, exclusiveMin: true, help: "hinge margin" },
  lambda: { type: "number", default: D.lambda, min: 0, help: "Euclidean term weight" },
  dropout: {
    type: "number",
    default: D.dropout,
    min: 0,
    max: 1,
    exclusiveMax: true,
    help: "dropout rate on input features",
  },
  dropouts: {
    type: "list",
    default: ["0", "0.25", "0.5"],
    numbers: { min: 0, max: 1, exclusiveMax: true },
    help: "rates compared by --ablate dropout",
  },
  weightDecay: { type: "number", default: D.weightDecay, min: 0, help: "L2 penalty on M" },
  standardize: { type: "boolean", default: D.standardize, help: "standardise features" },
  firstViolation: {
    type: "boolean",
    default: D.firstViolation,
    help: "paper's first-violation sampling",
  },
  epochs: {
    type: "number",
    default: D.epochs,
    integer: true,
    min: 1,
    max: 10_000,
    help: "passes over the training features",
  },
  batchSize: {
    type: "number",
    default: D.batchSize,
    integer: true,
    min: 1,
    max: 1 << 20,
    help: "minibatch size",
  },
  lr: { type: "number", default: D.lr, min: 0, exclusiveMin: true, help: "learning rate" },
  optimizer: { type: "string", default: D.optimizer, choices: ["adam", "sgd"], help: "optimizer" },
  ablate: { type: "list", default: [], choices: ABLATION_FACTORS, help: "factors to ablate" },
  ...commonFlags("devise", { seed: 0 }),
} as const satisfies FlagSpec;

async function main() {
  const flags = parseFlags(spec, Deno.args, {
    task: "devise",
    summary: "Train the DeViSE linear map from visual features to label word vectors.",
    examples: [
      "deno task devise --features data/features --data-dir /work/shared/data --vectors w2v.bin",
      "deno task devise --vectors a.bin --ablate layer,loss,dropout,vectors --ablate-vectors b.txt",
    ],
  });
  await devise({
    ...flags,
    dataDir: resolveDataDir(flags.dataDir),
    config: {
      loss: flags.loss,
      margin: flags.margin,
      lambda: flags.lambda,
      dropout: flags.dropout,
      weightDecay: flags.weightDecay,
      standardize: flags.standardize,
      firstViolation: flags.firstViolation,
      epochs: flags.epochs,
      batchSize: flags.batchSize,
      lr: flags.lr,
      optimizer: flags.optimizer,
      seed: flags.seed,
    },
    dropouts: flags.dropouts.map(Number),
  });
}

if (import.meta.main) await runTask(main);
