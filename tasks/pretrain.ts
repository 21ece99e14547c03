/**
 * `deno task pretrain`: trains the visual model (ResNet-20 by default) on CIFAR-100 with a
 * checkpoint every epoch; `--resume` continues a killed run with the same result curve. The flow
 * is `lib/pipeline/pretrain.ts`.
 *
 * ```sh
 * deno task pretrain --data-dir /work/shared/data --epochs 30 --out data/runs/resnet20
 * deno task pretrain --data-dir /work/shared/data --limit 5000 --epochs 1 --json
 * deno task pretrain --data-dir /work/shared/data --unseen 20 --out data/runs/resnet20-unseen20
 * ```
 * @module
 */
import { commonFlags, type FlagSpec, parseFlags } from "../lib/cli/args.ts";
import { runTask } from "../lib/cli/run.ts";
import { resolveDataDir } from "../lib/data/cifar.ts";
import { pretrain } from "../lib/pipeline/pretrain.ts";
import { ARCHS } from "../lib/vision/models.ts";
import { DEFAULT_TRAIN_CONFIG as D, SCHEDULES } from "../lib/vision/train.ts";

/** The flags of `deno task pretrain`. */
export const spec = {
  dataDir: {
    type: "string",
    default: "",
    help: "folder with cifar-100-binary/ (else $DEVISE_DATA_DIR, else data)",
  },
  arch: { type: "string", default: "resnet", choices: ARCHS, help: "network" },
  depth: {
    type: "number",
    default: 20,
    integer: true,
    min: 8,
    max: 1202,
    help: "6n+2 layers: 20, 32, 44, 56, 110",
  },
  width: {
    type: "number",
    default: 1,
    min: 0.0625,
    max: 16,
    help: "channel multiplier (1 = 16/32/64)",
  },
  inputSize: {
    type: "number",
    default: 32,
    integer: true,
    min: 1,
    max: 32,
    help: "model input side; <32 average-pools the images (tiny smoke/test models)",
  },
  epochs: {
    type: "number",
    default: D.epochs,
    integer: true,
    min: 1,
    max: 10_000,
    help: "passes over the training set",
  },
  batchSize: {
    type: "number",
    default: D.batchSize,
    integer: true,
    min: 1,
    max: 65_536,
    help: "images per SGD step",
  },
  lr: { type: "number", default: D.lr, min: 0, exclusiveMin: true, help: "peak learning rate" },
  momentum: {
    type: "number",
    default: D.momentum,
    min: 0,
    max: 1,
    exclusiveMax: true,
    help: "SGD momentum",
  },
  nesterov: { type: "boolean", default: false, help: "Nesterov momentum" },
  weightDecay: {
    type: "number",
    default: D.weightDecay,
    min: 0,
    help: "L2 on conv/dense kernels, added to the gradient",
  },
  schedule: { type: "string", default: D.schedule, choices: SCHEDULES, help: "lr schedule" },
  warmupEpochs: {
    type: "number",
    default: 0,
    min: 0,
    help: "linear warm-up epochs (step, cosine)",
  },
  labelSmoothing: {
    type: "number",
    default: 0,
    min: 0,
    max: 1,
    exclusiveMax: true,
    help: "label smoothing epsilon",
  },
  init: {
    type: "string",
    default: "",
    path: "dir",
    help: "start from this run/checkpoint's weights (fresh optimizer and schedule)",
  },
  augment: {
    type: "boolean",
    default: true,
    help: "pad-crop + flip augmentation (--no-augment to disable)",
  },
  limit: {
    type: "number",
    default: 0,
    integer: true,
    min: 0,
    help: "train on the first N images of a seeded shuffle (0 = all)",
  },
  unseen: {
    type: "number",
    default: 0,
    integer: true,
    min: 0,
    max: 99,
    help: "hold out K classes from training and testing: the seeded choice of " +
      "`zeroshot --unseen K` with the same --seed (0 = none)",
  },
  unseenNames: { type: "list", default: [], help: "hold out these classes instead of --unseen" },
  resume: { type: "boolean", default: false, help: "continue from <out>/checkpoints/last.json" },
  ...commonFlags("pretrain"),
} as const satisfies FlagSpec;

async function main(): Promise<void> {
  const flags = parseFlags(spec, Deno.args, {
    task: "pretrain",
    summary: "Train the CIFAR-100 visual model (ResNet/plain/all-conv) with per-epoch checkpoints.",
    examples: [
      "deno task pretrain --data-dir /work/shared/data --epochs 30 --out data/runs/resnet20",
      "deno task pretrain --data-dir /work/shared/data --out data/runs/resnet20 --resume",
      "deno task pretrain --data-dir /work/shared/data --limit 5000 --epochs 1 --backend cpu --json",
      "deno task pretrain --data-dir /work/shared/data --unseen 20 --epochs 10 --out data/runs/resnet20-unseen20",
      "deno task pretrain --data-dir /work/shared/data --init data/runs/resnet20 --epochs 8 --lr 0.08 --schedule onecycle --nesterov --out data/runs/resnet20-ft",
    ],
  });
  await pretrain({
    ...flags,
    dataDir: resolveDataDir(flags.dataDir),
    config: {
      ...D,
      model: {
        arch: flags.arch,
        depth: flags.depth,
        numClasses: 100,
        width: flags.width,
        inputSize: flags.inputSize,
      },
      epochs: flags.epochs,
      batchSize: flags.batchSize,
      lr: flags.lr,
      momentum: flags.momentum,
      nesterov: flags.nesterov,
      weightDecay: flags.weightDecay,
      schedule: flags.schedule,
      warmupEpochs: flags.warmupEpochs,
      labelSmoothing: flags.labelSmoothing,
      seed: flags.seed,
      limit: flags.limit,
      augment: flags.augment,
      init: flags.init,
    },
  });
}

if (import.meta.main) await runTask(main);
