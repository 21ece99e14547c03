/**
 * `deno task pretrain`: trains the visual model (ResNet-20 by default) on CIFAR-100 with a
 * checkpoint every epoch; `--resume` continues a killed run with the same result curve.
 *
 * ```sh
 * deno task pretrain --data-dir /work/shared/data --epochs 30 --out data/runs/resnet20
 * deno task pretrain --data-dir /work/shared/data --limit 5000 --epochs 1 --json
 * deno task pretrain --data-dir /work/shared/data --unseen 20 --out data/runs/resnet20-unseen20
 * ```
 * @module
 */
import { parseFlags } from "../lib/cli/args.ts";
import type { FlagSpec } from "../lib/cli/args.ts";
import { runTask, startRun } from "../lib/cli/run.ts";
import {
  BACKEND_NAMES,
  type BackendName,
  selectBackend,
  tfjsVersions,
} from "../lib/backend/select.ts";
import { channelStats, loadCifar, resolveDataDir } from "../lib/data/cifar.ts";
import { type Arch, ARCHS, buildModel, trainableParamCount } from "../lib/vision/models.ts";
import {
  DEFAULT_TRAIN_CONFIG as D,
  type Schedule,
  SCHEDULES,
  trainVision,
  withoutClasses,
} from "../lib/vision/train.ts";
import { chooseUnseen } from "../lib/zeroshot/gzsl.ts";

/** `--limit` at or below this counts as a smoke run, which may use the slow cpu backend. */
const SMOKE_LIMIT = 5000;

const spec = {
  dataDir: {
    type: "string",
    default: "",
    help: "folder with cifar-100-binary/ (else $DEVISE_DATA_DIR, else data)",
  },
  arch: { type: "string", default: "resnet", choices: ARCHS, help: "network" },
  depth: { type: "number", default: 20, help: "6n+2 layers: 20, 32, 44, 56, 110" },
  width: { type: "number", default: 1, help: "channel multiplier (1 = 16/32/64)" },
  inputSize: {
    type: "number",
    default: 32,
    help: "model input side; <32 average-pools the images (tiny smoke/test models)",
  },
  epochs: { type: "number", default: D.epochs, help: "passes over the training set" },
  batchSize: { type: "number", default: D.batchSize, help: "images per SGD step" },
  lr: { type: "number", default: D.lr, help: "peak learning rate" },
  momentum: { type: "number", default: D.momentum, help: "SGD momentum" },
  nesterov: { type: "boolean", default: false, help: "Nesterov momentum" },
  weightDecay: {
    type: "number",
    default: D.weightDecay,
    help: "L2 on conv/dense kernels, added to the gradient",
  },
  schedule: {
    type: "string",
    default: D.schedule,
    choices: SCHEDULES,
    help: "learning-rate schedule",
  },
  warmupEpochs: { type: "number", default: 0, help: "linear warm-up epochs (step, cosine)" },
  labelSmoothing: { type: "number", default: 0, help: "label smoothing epsilon" },
  init: {
    type: "string",
    default: "",
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
    help: "train on the first N images of a seeded shuffle (0 = all)",
  },
  unseen: {
    type: "number",
    default: 0,
    help: "hold out K classes from training and testing: the seeded choice of " +
      "`zeroshot --unseen K` with the same --seed (0 = none)",
  },
  unseenNames: { type: "list", default: [], help: "hold out these classes instead of --unseen" },
  seed: { type: "number", default: 1, help: "seed for init, data order, augmentation, --unseen" },
  backend: { type: "string", default: "auto", choices: BACKEND_NAMES, help: "tfjs backend" },
  resume: { type: "boolean", default: false, help: "continue from <out>/checkpoints/last.json" },
  out: { type: "string", default: "", help: "run folder (default data/runs/pretrain-<timestamp>)" },
  json: { type: "boolean", default: false, help: "print final metrics as JSON on stdout" },
  quiet: { type: "boolean", default: false, help: "no progress bar or log lines on stderr" },
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
  if (flags.resume && !flags.out) throw new Error("--resume needs --out <run folder> to resume");
  const wallStart = performance.now();
  const run = await startRun("pretrain", flags.out, { flags }, { quiet: flags.quiet });
  const allowSlow = flags.limit > 0 && flags.limit <= SMOKE_LIMIT;
  const { tf, backend, reason } = await selectBackend(flags.backend as BackendName, {
    allowSlow,
    log: run.log,
  });
  await run.updateConfig({ backend, backendReason: reason, tfjs: tfjsVersions(tf) });

  const dataDir = resolveDataDir(flags.dataDir);
  const train = await loadCifar(dataDir, "cifar100", "train");
  const test = await loadCifar(dataDir, "cifar100", "test");
  const excludeClasses = flags.unseen > 0 || flags.unseenNames.length
    ? chooseUnseen(train.labelNames.length, flags.unseen, {
      seed: flags.seed,
      named: flags.unseenNames,
      names: train.labelNames,
    })
    : [];
  // Held-out classes stay out of the input statistics too.
  const { mean, std } = channelStats(withoutClasses(train, excludeClasses).images);
  const config = {
    ...D,
    model: {
      arch: flags.arch as Arch,
      depth: flags.depth,
      numClasses: train.labelNames.length,
      width: flags.width,
      inputSize: flags.inputSize,
    },
    epochs: flags.epochs,
    batchSize: flags.batchSize,
    lr: flags.lr,
    momentum: flags.momentum,
    nesterov: flags.nesterov,
    weightDecay: flags.weightDecay,
    schedule: flags.schedule as Schedule,
    warmupEpochs: flags.warmupEpochs,
    labelSmoothing: flags.labelSmoothing,
    seed: flags.seed,
    limit: flags.limit,
    augment: flags.augment,
    init: flags.init,
    excludeClasses,
  };
  const params = trainableParamCount(buildModel(tf, config.model));
  await run.updateConfig({
    train: config,
    data: { dataDir, train: train.sha256, test: test.sha256, mean, std },
  });
  run.log(
    `${flags.arch}-${flags.depth} (${params} trainable params), ${config.epochs} epochs, batch ` +
      `${config.batchSize}, backend ${backend}` +
      (excludeClasses.length
        ? `; held out: ${excludeClasses.map((c) => train.labelNames[c]).join(", ")}`
        : ""),
  );
  const result = await trainVision(tf, { train, test, mean, std }, config, {
    outDir: run.dir,
    resume: flags.resume,
    log: run.log,
    quiet: flags.quiet,
  });
  const last = result.curve.at(-1);
  await run.finish({
    top1: last?.testTop1 ?? null,
    top5: last?.testTop5 ?? null,
    testLoss: last?.testLoss ?? null,
    bestTop1: result.bestTop1,
    bestEpoch: result.bestEpoch,
    epochs: last?.epoch ?? 0,
    resumedFrom: result.resumedFrom,
    backend,
    imagesPerSecond: result.imagesPerSecond,
    trainableParams: params,
    wallSeconds: (performance.now() - wallStart) / 1000,
    checkpoints: `${run.dir}/checkpoints`,
  }, flags.json);
}

if (import.meta.main) await runTask(main);
