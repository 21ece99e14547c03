/**
 * ResNet training-step throughput (images/s) on a tfjs backend that can only be read
 * asynchronously, chiefly `webgpu` (tfjs's WebGPU backend on Deno's navigator.gpu,
 * lib/backend/webgpu.ts): the step of bench/train_step.ts and lib/vision/train.ts (forward,
 * softmax cross-entropy, backward, weight decay 5e-4 on kernels, SGD momentum 0.9) on the
 * project's `buildModel` ResNet with a 100-class head and CIFAR-shaped synthetic data, the loss
 * read with `await data()` at the end of each step. Median of the timed steps after warm-up.
 * Prints one JSON line; bench/gpu.sh runs it next to the PyTorch peer.
 *
 * ```sh
 * deno run -A bench/gpu_train_step.ts --depths 110 --batch-size 128
 * deno run -A bench/gpu_train_step.ts --depths 20 --batch-size 8 --steps 3 --warmup 1
 * ```
 * @module
 */
import { parseFlags } from "../lib/cli/args.ts";
import type { FlagSpec } from "../lib/cli/args.ts";
import {
  BACKEND_NAMES,
  type BackendName,
  selectBackend,
  type TF,
  tfjsVersions,
} from "../lib/backend/select.ts";
import { writeJsonAtomic } from "../lib/io/artifact.ts";
import { resnetTrainingStep } from "./resnet_step.ts";
import { trainableParamCount } from "../lib/vision/models.ts";
import { median } from "../lib/io/stats.ts";

const spec = {
  depths: {
    type: "list",
    default: ["20", "110"],
    numbers: { integer: true, min: 8 },
    help: "ResNet depths (6n+2)",
  },
  batchSize: { type: "number", default: 128, integer: true, min: 1, help: "images per step" },
  steps: { type: "number", default: 5, integer: true, min: 1, help: "timed steps (median)" },
  warmup: { type: "number", default: 2, integer: true, min: 0, help: "untimed steps first" },
  backend: { type: "string", default: "webgpu", choices: BACKEND_NAMES, help: "tfjs backend" },
  out: { type: "string", default: "", help: "also write the JSON here" },
} as const satisfies FlagSpec;

/** Seconds per step for one depth, and the loss of every step. */
async function timeSteps(
  tf: TF,
  depth: number,
  batch: number,
  warmup: number,
  steps: number,
): Promise<{ times: number[]; losses: number[]; params: number; firstStepSeconds: number }> {
  const s = resnetTrainingStep(tf, depth, batch);
  const times: number[] = [], losses: number[] = [];
  let firstStepSeconds = 0;
  for (let i = 0; i < warmup + steps; i++) {
    const t0 = performance.now();
    const loss = s.step();
    losses.push((await loss.data())[0]); // waits for the step to finish on the device
    loss.dispose();
    const seconds = (performance.now() - t0) / 1000;
    if (i === 0) firstStepSeconds = seconds;
    if (i >= warmup) times.push(seconds);
  }
  const params = trainableParamCount(s.model);
  s.dispose();
  return { times, losses, params, firstStepSeconds };
}

async function main(): Promise<void> {
  const flags = parseFlags(spec, Deno.args, {
    task: "bench gpu_train_step",
    summary: "ResNet training-step img/s on an async-read tfjs backend (webgpu).",
  });
  const { tf, backend, reason } = await selectBackend(flags.backend as BackendName, {
    allowSlow: true,
    log: (l) => console.error(l),
  });
  const results: Record<string, unknown>[] = [];
  for (const depth of flags.depths.map(Number)) {
    const r = await timeSteps(tf, depth, flags.batchSize, flags.warmup, flags.steps);
    const secondsPerStep = median(r.times);
    const imagesPerSecond = flags.batchSize / secondsPerStep;
    console.error(
      `tfjs ${backend} resnet-${depth}: ${imagesPerSecond.toFixed(1)} img/s (median of ` +
        `${r.times.length}; first step ${r.firstStepSeconds.toFixed(1)}s)`,
    );
    results.push({ depth, secondsPerStep, imagesPerSecond, ...r });
  }
  const report = {
    bench: "gpu_train_step",
    date: new Date().toISOString(),
    backend,
    backendReason: reason,
    tfjs: tfjsVersions(tf),
    deno: Deno.version.deno,
    batchSize: flags.batchSize,
    steps: flags.steps,
    warmup: flags.warmup,
    results,
  };
  if (flags.out) await writeJsonAtomic(flags.out, report);
  console.log(JSON.stringify(report));
}

if (import.meta.main) await main();
