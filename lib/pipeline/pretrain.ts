/**
 * `deno task pretrain`, top to bottom: the visual model (ResNet, plain or all-convolutional)
 * trained on CIFAR-100 with a checkpoint every epoch; `resume` continues a killed run with the
 * same result curve (and refuses a checkpoint of another config before touching the run folder);
 * `unseen` holds classes out of training, testing and the input statistics.
 *
 * ```sh
 * deno task pretrain --data-dir ../shared/data --epochs 30 --out data/runs/resnet20
 * deno task pretrain --data-dir ../shared/data --out data/runs/resnet20 --resume
 * ```
 * @module
 */
import { startRunOnBackend } from "./task_run.ts";
import { join } from "node:path";
import { type BackendName } from "../backend/select.ts";
import { channelStats, loadCifar } from "../data/cifar.ts";
import { UsageError } from "../io/errors.ts";
import { loadCheckpoint } from "../vision/checkpoint.ts";
import { buildModel, trainableParamCount } from "../vision/models.ts";
import { configKey, type TrainConfig, trainVision, withoutClasses } from "../vision/train.ts";
import { chooseUnseen } from "../zeroshot/gzsl.ts";

/** `limit` at or below this counts as a smoke run, which may use the slow cpu backend. */
export const SMOKE_LIMIT = 5000;

/** What `deno task pretrain` is asked to do. */
export interface PretrainRequest {
  dataDir: string;
  /** The training config; `excludeClasses` is filled from `unseen`/`unseenNames`. */
  config: Omit<TrainConfig, "excludeClasses">;
  unseen: number;
  unseenNames: string[];
  resume: boolean;
  backend: BackendName;
  out: string;
  json: boolean;
  quiet: boolean;
}

/** `metrics.json` of a pretrain run. */
export interface PretrainMetrics {
  top1: number | null;
  top5: number | null;
  testLoss: number | null;
  bestTop1: number;
  bestEpoch: number;
  epochs: number;
  resumedFrom: number;
  backend: string;
  imagesPerSecond: number;
  trainableParams: number;
  checkpoints: string;
}

/**
 * The whole of `deno task pretrain` (see the module doc).
 *
 * @example
 * ```ts
 * await pretrain({ dataDir: "../shared/data", config: { ...DEFAULT_TRAIN_CONFIG, epochs: 1 },
 *   unseen: 0, unseenNames: [], resume: false, backend: "auto", out: "", json: false,
 *   quiet: false });
 * ```
 */
export async function pretrain(request: PretrainRequest): Promise<PretrainMetrics> {
  if (request.resume && !request.out) {
    throw new UsageError("--resume needs --out <run folder> to resume");
  }
  const train = await loadCifar(request.dataDir, "cifar100", "train");
  const test = await loadCifar(request.dataDir, "cifar100", "test");
  const excludeClasses = request.unseen > 0 || request.unseenNames.length
    ? chooseUnseen(train.labelNames.length, request.unseen, {
      seed: request.config.seed,
      named: request.unseenNames,
      names: train.labelNames,
    })
    : [];
  const config: TrainConfig = {
    ...request.config,
    model: { ...request.config.model, numClasses: train.labelNames.length },
    excludeClasses,
  };
  if (request.resume) {
    // Refuse a different config before the run folder (and its config.json) is touched.
    const ckpt = await loadCheckpoint(join(request.out, "checkpoints"), "last");
    if (ckpt && configKey(ckpt.state.config as unknown as TrainConfig) !== configKey(config)) {
      throw new UsageError(
        `--resume: ${ckpt.dir} was trained with a different config\n  saved: ` +
          `${configKey(ckpt.state.config as unknown as TrainConfig)}\n  now:   ${
            configKey(config)
          }`,
      );
    }
  }
  const allowSlow = config.limit > 0 && config.limit <= SMOKE_LIMIT;
  // Held-out classes stay out of the input statistics too.
  const { mean, std } = channelStats(withoutClasses(train, excludeClasses).images);
  const { run, tf, backend } = await startRunOnBackend("pretrain", request, {
    train: config,
    data: { dataDir: request.dataDir, train: train.sha256, test: test.sha256, mean, std },
    resume: request.resume,
  }, { allowSlow, keepConfig: request.resume });
  const params = trainableParamCount(buildModel(tf, config.model));
  run.log(
    `${config.model.arch}-${config.model.depth} (${params} trainable params), ${config.epochs} ` +
      `epochs, batch ${config.batchSize}, backend ${backend}` +
      (excludeClasses.length
        ? `; held out: ${excludeClasses.map((c) => train.labelNames[c]).join(", ")}`
        : ""),
  );
  const result = await trainVision(tf, { train, test, mean, std }, config, {
    outDir: run.dir,
    resume: request.resume,
    log: run.log,
    quiet: request.quiet,
    run,
  });
  const last = result.curve.at(-1);
  const metrics: PretrainMetrics = {
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
    checkpoints: join(run.dir, "checkpoints"),
  };
  await run.finish({ ...metrics }, request.json);
  return metrics;
}
