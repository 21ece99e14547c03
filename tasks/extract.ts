/**
 * `deno task extract`: writes a trained visual model's features (`gap`, `act` or `bn`) and its
 * CIFAR-100 logits/probabilities for CIFAR-100 train/test and CIFAR-10 test, as float32 files
 * with sidecars (shape, layer, model checksum, dataset sha256).
 *
 * ```sh
 * deno task extract --checkpoint data/runs/resnet20 --layer gap --data-dir /work/shared/data
 * ```
 * @module
 */
import { join } from "node:path";
import { parseFlags } from "../lib/cli/args.ts";
import type { FlagSpec } from "../lib/cli/args.ts";
import { runTask, startRun } from "../lib/cli/run.ts";
import {
  BACKEND_NAMES,
  type BackendName,
  selectBackend,
  tfjsVersions,
} from "../lib/backend/select.ts";
import { resolveDataDir } from "../lib/data/cifar.ts";
import { modelFromCheckpoint, resolveCheckpoint } from "../lib/vision/checkpoint.ts";
import { extractAll } from "../lib/vision/extract.ts";
import { FEATURE_LAYERS, type FeatureLayer } from "../lib/vision/models.ts";

const spec = {
  checkpoint: {
    type: "string",
    default: "",
    help: "run folder, checkpoints/ folder or epoch folder",
  },
  which: {
    type: "string",
    default: "best",
    choices: ["best", "last"],
    help: "checkpoint pointer to use",
  },
  layer: { type: "string", default: "gap", choices: FEATURE_LAYERS, help: "layer to extract" },
  dataDir: {
    type: "string",
    default: "",
    help: "folder with cifar-100-binary/ and cifar-10-binary/",
  },
  float16: {
    type: "boolean",
    default: false,
    help: "store layer features as float16 (halves the size)",
  },
  batchSize: { type: "number", default: 256, help: "images per forward pass" },
  backend: { type: "string", default: "auto", choices: BACKEND_NAMES, help: "tfjs backend" },
  features: {
    type: "string",
    default: "",
    help: "output folder (default <checkpoint run>/features)",
  },
  out: {
    type: "string",
    default: "",
    help: "run folder for config/metrics (default data/runs/extract-<ts>)",
  },
  json: { type: "boolean", default: false, help: "print final metrics as JSON on stdout" },
  quiet: { type: "boolean", default: false, help: "no log lines on stderr" },
} as const satisfies FlagSpec;

async function main(): Promise<void> {
  const flags = parseFlags(spec, Deno.args, {
    task: "extract",
    summary: "Extract visual features and CIFAR-100 softmax outputs from a trained checkpoint.",
    examples: [
      "deno task extract --checkpoint data/runs/resnet20 --layer gap --data-dir /work/shared/data",
      "deno task extract --checkpoint data/runs/resnet20 --layer act --float16",
    ],
  });
  if (!flags.checkpoint) throw new Error("--checkpoint <run folder> is required");
  const ckpt = await resolveCheckpoint(flags.checkpoint, flags.which as "best" | "last");
  const featuresDir = flags.features || join(flags.checkpoint, "features");
  const run = await startRun("extract", flags.out, { flags }, { quiet: flags.quiet });
  // Inference is ~3x cheaper than training; the cpu backend is slow but usable here.
  const { tf, backend, reason } = await selectBackend(flags.backend as BackendName, {
    allowSlow: true,
    log: run.log,
  });
  await run.updateConfig({
    backend,
    backendReason: reason,
    tfjs: tfjsVersions(tf),
    checkpoint: ckpt.dir,
  });
  const model = await modelFromCheckpoint(tf, ckpt);
  run.log(
    `checkpoint ${ckpt.dir} (epoch ${ckpt.state.epoch}, model sha256 ${
      ckpt.weights.sha256.slice(0, 12)
    })`,
  );
  const done = await extractAll(
    tf,
    ckpt,
    model,
    resolveDataDir(flags.dataDir),
    flags.layer as FeatureLayer,
    featuresDir,
    { batchSize: flags.batchSize, float16: flags.float16, log: run.log },
  );
  await run.finish({
    layer: flags.layer,
    featuresDir,
    files: done.paths,
    images: done.images,
    imagesPerSecond: done.seconds > 0 ? done.images / done.seconds : null,
    backend,
    modelSha256: ckpt.weights.sha256,
  }, flags.json);
}

if (import.meta.main) await runTask(main);
