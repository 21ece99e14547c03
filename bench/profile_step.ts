/**
 * Where the milliseconds of one training step go: the same ResNet SGD step as
 * bench/train_step.ts, run under `tf.profile`, with every kernel's time summed by kernel name
 * (kernel time = the backend's own execution of the op, here TensorFlow's eager `TFE_Execute`)
 * and the rest of the step's wall time attributed to JS (tape, gradient bookkeeping, dispatch,
 * tensor disposal). Prints the top kernels and writes JSON.
 *
 * ```sh
 * deno run -A bench/profile_step.ts --depth 20 --batch-size 128 --out data/bench/profile_step.json
 * deno run -A bench/profile_step.ts --forward predict --batch-size 256 --out data/bench/profile_predict.json
 * ```
 * @module
 */
import { type FlagSpec, parseFlags } from "../lib/cli/args.ts";
import { runTask } from "../lib/cli/run.ts";
import { BACKEND_NAMES, type BackendName, selectBackend } from "../lib/backend/select.ts";
import { writeJsonAtomic } from "../lib/io/artifact.ts";
import { resnetTrainingStep } from "./resnet_step.ts";
import { type KernelTally, tallyKernels } from "./kernel_tally.ts";
import { median } from "../lib/io/stats.ts";
import type { TF } from "../lib/backend/select.ts";
import type * as tfjs from "@tensorflow/tfjs";
import { buildModel } from "../lib/vision/models.ts";
import { foldBatchNorm } from "../lib/vision/folded.ts";

const spec = {
  depth: { type: "number", default: 20, integer: true, min: 8, help: "ResNet depth" },
  batchSize: { type: "number", default: 128, integer: true, min: 1, help: "images per step" },
  steps: { type: "number", default: 5, integer: true, min: 1, help: "profiled steps" },
  top: { type: "number", default: 15, integer: true, min: 1, help: "kernels listed" },
  backend: { type: "string", default: "auto", choices: BACKEND_NAMES, help: "tfjs backend" },
  forward: {
    type: "string",
    default: "",
    choices: ["", "extract", "predict"],
    help: "profile a forward pass instead of a step: extract = what extractFeatures runs (batch " +
      "norm folded, the whole batch), predict = tfjs's model.predict with its default batch of 32",
  },
  out: { type: "string", default: "data/bench/profile_step.json", help: "result file" },
} as const satisfies FlagSpec;

async function main(): Promise<void> {
  const flags = parseFlags(spec, Deno.args, {
    task: "bench profile_step",
    summary: "Kernel time vs JS time of one ResNet training step (tf.profile).",
  });
  const { tf, backend } = await selectBackend(flags.backend as BackendName, {
    allowSlow: true,
    log: (l) => console.error(l),
  });
  const s = flags.forward
    ? _forwardPass(tf, flags.depth, flags.batchSize, flags.forward as "extract" | "predict")
    : resnetTrainingStep(tf, flags.depth, flags.batchSize);
  const step = () => {
    const loss = s.step();
    loss.dataSync(); // wait for the step to finish
    loss.dispose();
  };
  step(); // warm-up
  step();
  const plain: number[] = [];
  for (let i = 0; i < flags.steps; i++) {
    const t0 = performance.now();
    step();
    plain.push(performance.now() - t0);
  }
  const byKernel = new Map<string, KernelTally>();
  const profiled: { wallMs: number; kernelMs: number; kernels: number }[] = [];
  for (let i = 0; i < flags.steps; i++) {
    const t0 = performance.now();
    const info = await tf.profile(step);
    const wallMs = performance.now() - t0;
    const { kernelMs } = tallyKernels(info.kernels, byKernel);
    profiled.push({ wallMs, kernelMs, kernels: info.kernels.length });
  }
  const stepMs = median(plain);
  const kernelMs = median(profiled.map((p) => p.kernelMs));
  const top = [...byKernel.entries()]
    .map(([name, e]) => ({
      name,
      callsPerStep: e.count / flags.steps,
      msPerStep: e.ms / flags.steps,
    }))
    .sort((a, b) => b.msPerStep - a.msPerStep);
  console.error(
    `resnet-${flags.depth} ${flags.forward || "training step"}, batch ${flags.batchSize}, ` +
      `backend ${backend}: ${stepMs.toFixed(1)} ms unprofiled (${
        (flags.batchSize / stepMs * 1000).toFixed(0)
      } img/s); under tf.profile ` +
      `${kernelMs.toFixed(1)} ms in ${profiled[0].kernels} kernels, the rest is JS and profiling`,
  );
  for (const k of top.slice(0, flags.top)) {
    console.error(
      `  ${k.name.padEnd(28)} ${k.msPerStep.toFixed(1).padStart(7)} ms/step  ` +
        `${k.callsPerStep.toFixed(0).padStart(4)} calls  ${
          (100 * k.msPerStep / kernelMs).toFixed(1).padStart(5)
        }% of kernel time`,
    );
  }
  await writeJsonAtomic(flags.out, {
    bench: "profile_step",
    forward: flags.forward || null,
    date: new Date().toISOString(),
    backend,
    depth: flags.depth,
    batchSize: flags.batchSize,
    stepMsMedian: stepMs,
    stepMs: plain,
    kernelMsMedian: kernelMs,
    profiled,
    kernels: top,
  });
  s.dispose();
}

// One forward pass of ResNet-`depth` to `gap`, `act` and the logits, as a "step" returning a
// tensor to wait on.
function _forwardPass(tf: TF, depth: number, batch: number, how: "extract" | "predict") {
  const model = buildModel(tf, { arch: "resnet", depth, numClasses: 100, seed: 1 });
  const names = ["gap", "act", "logits"];
  const x = tf.randomNormal([batch, 32, 32, 3], 0, 1, "float32", 1) as tfjs.Tensor4D;
  const folded = foldBatchNorm(tf, model, names);
  const sub = tf.model({
    inputs: model.inputs,
    outputs: names.map((n) => model.getLayer(n).output as tfjs.SymbolicTensor),
  });
  return {
    step: () =>
      tf.tidy(() => {
        const outs = how === "extract" ? folded.predict(x) : sub.predict(x) as tfjs.Tensor[];
        return tf.addN(outs.map((t) => tf.sum(t)));
      }),
    dispose: () => {
      folded.dispose();
      model.dispose();
      x.dispose();
    },
  };
}

if (import.meta.main) await runTask(main);
