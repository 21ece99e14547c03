/**
 * Where a ResNet training step's time goes on tfjs's `webgpu` backend: the seconds of single
 * kernels at ResNet-20's shapes (convolution forward, backprop-input and backprop-filter for each
 * stage, batch 128), a dense matMul (the device's arithmetic rate through tfjs), the cost of one
 * tiny dispatch (per-kernel overhead), and `tf.profile` of one whole training step (kernel count
 * and, where the adapter has timestamp queries, GPU milliseconds by kernel), with the host time of
 * every WebGPU call in one step. `bench/gpu.sh --ops` runs it (in place of the training-step
 * bench); one JSON line on stdout, a table on stderr.
 *
 * ```sh
 * deno run -A bench/webgpu_ops.ts --batch-size 128
 * deno run -A bench/webgpu_ops.ts --batch-size 8 --reps 2   # software Vulkan smoke test
 * ```
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import { parseFlags } from "../lib/cli/args.ts";
import type { FlagSpec } from "../lib/cli/args.ts";
import { BACKEND_NAMES, type BackendName, selectBackend, type TF } from "../lib/backend/select.ts";
import { median } from "../lib/io/stats.ts";
import { resnetTrainingStep } from "./resnet_step.ts";
import { type KernelTally, tallyKernels } from "./kernel_tally.ts";

const spec = {
  batchSize: { type: "number", default: 128, integer: true, min: 1, help: "images per batch" },
  reps: { type: "number", default: 5, integer: true, min: 1, help: "kernels per timed trial" },
  trials: { type: "number", default: 3, integer: true, min: 1, help: "timed trials (median)" },
  matmul: { type: "number", default: 2048, integer: true, min: 16, help: "matMul size n (n×n)" },
  profile: { type: "boolean", default: true, help: "tf.profile one ResNet-20 training step" },
  backend: { type: "string", default: "webgpu", choices: BACKEND_NAMES, help: "tfjs backend" },
} as const satisfies FlagSpec;

/** ResNet-20's three stages at CIFAR size: spatial side and channels (3×3 convs, stride 1). */
const RESNET20_STAGES = [
  { side: 32, channels: 16, convs: 7 },
  { side: 16, channels: 32, convs: 6 },
  { side: 8, channels: 64, convs: 6 },
] as const;

/** WebGPU classes whose methods {@link countCalls} times (Deno's globals). */
const GPU_CLASSES = [
  "GPUDevice",
  "GPUQueue",
  "GPUCommandEncoder",
  "GPUComputePassEncoder",
  "GPUComputePipeline",
  "GPUBuffer",
] as const;

/**
 * Wraps every method of the WebGPU classes and the listed methods of `backend` with a counter and
 * a host-time sum (synchronous part only); `restore()` unwraps them. Where one step's host time
 * goes when the GPU is idle.
 */
function countCalls(backend: object, backendMethods: readonly string[]) {
  const stats = new Map<string, { count: number; ms: number }>();
  const undo: (() => void)[] = [];
  const wrap = (owner: Record<string, unknown>, key: string, label: string) => {
    const desc = Object.getOwnPropertyDescriptor(owner, key);
    if (!desc || typeof desc.value !== "function" || key === "constructor") return;
    const original = desc.value as (...a: unknown[]) => unknown;
    owner[key] = function (this: unknown, ...args: unknown[]) {
      const t0 = performance.now();
      try {
        return original.apply(this, args);
      } finally {
        const e = stats.get(label) ?? { count: 0, ms: 0 };
        e.count++;
        e.ms += performance.now() - t0;
        stats.set(label, e);
      }
    };
    undo.push(() => Object.defineProperty(owner, key, desc));
  };
  for (const name of GPU_CLASSES) {
    const proto =
      (globalThis as unknown as Record<string, { prototype?: Record<string, unknown> }>)[name]
        ?.prototype;
    if (proto) {
      for (const key of Object.getOwnPropertyNames(proto)) wrap(proto, key, `${name}.${key}`);
    }
  }
  const proto = Object.getPrototypeOf(backend) as Record<string, unknown>;
  for (const key of backendMethods) wrap(proto, key, `backend.${key}`);
  return { stats, restore: () => undo.reverse().forEach((f) => f()) };
}

/** Median seconds of one `launch()`, each trial `reps` launches then one awaited readback. */
async function secondsPerLaunch(
  tf: TF,
  launch: () => tfjs.Tensor,
  reps: number,
  trials: number,
): Promise<number> {
  const trial = async () => {
    const t0 = performance.now();
    let last: tfjs.Tensor | null = null;
    for (let i = 0; i < reps; i++) {
      last?.dispose();
      last = launch();
    }
    const probe = tf.tidy(() => tf.sum(last!));
    await probe.data(); // waits for every queued kernel
    tf.dispose([probe, last!]);
    return (performance.now() - t0) / 1000 / reps;
  };
  await trial(); // warm-up: shader compilation, buffer pool
  const times: number[] = [];
  for (let t = 0; t < trials; t++) times.push(await trial());
  return median(times);
}

async function main(): Promise<void> {
  const flags = parseFlags(spec, Deno.args, {
    task: "bench webgpu_ops",
    summary: "Per-kernel seconds of a ResNet-20 step on an async tfjs backend (webgpu).",
  });
  const { tf, backend, reason } = await selectBackend(flags.backend as BackendName, {
    allowSlow: true,
    log: (l) => console.error(l),
  });
  const { reps, trials } = flags;
  const B = flags.batchSize;
  const rows: Record<string, unknown>[] = [];
  const record = (op: string, seconds: number, extra: Record<string, unknown> = {}) => {
    rows.push({ op, seconds, ...extra });
    const rate = typeof extra.gflops === "number"
      ? ` (${((extra.gflops as number) / seconds).toFixed(1)} GFLOP/s)`
      : "";
    console.error(`${op.padEnd(44)} ${(seconds * 1000).toFixed(3).padStart(10)} ms${rate}`);
  };

  // --- per-dispatch overhead: a [1]-element add, chained so none can be skipped
  {
    let x: tfjs.Tensor = tf.scalar(0);
    const s = await secondsPerLaunch(
      tf,
      () => {
        const y = tf.add(x, 1);
        x = y.clone();
        return y;
      },
      200,
      trials,
    );
    x.dispose();
    // clone is webgpu's Identity kernel, a reference count and no dispatch: one dispatch a launch
    record("dispatch: add on 1 element", s, { note: "per dispatch" });
  }

  // --- dense arithmetic rate
  {
    const n = flags.matmul;
    const a = tf.randomNormal([n, n], 0, 1, "float32", 1);
    const b = tf.randomNormal([n, n], 0, 1, "float32", 2);
    const s = await secondsPerLaunch(tf, () => tf.matMul(a, b), reps, trials);
    record(`matMul ${n}x${n}x${n}`, s, { gflops: (2 * n ** 3) / 1e9 });
    tf.dispose([a, b]);
  }

  // --- the three convolution kernels of each stage
  const engine = tf.engine();
  let stepEstimate = 0;
  for (const { side, channels, convs } of RESNET20_STAGES) {
    const x = tf.randomNormal([B, side, side, channels], 0, 1, "float32", 3);
    const f = tf.randomNormal([3, 3, channels, channels], 0, 0.1, "float32", 4);
    const dy = tf.randomNormal([B, side, side, channels], 0, 1, "float32", 5);
    const conv = { strides: [1, 1], pad: "same", dataFormat: "NHWC", dilations: [1, 1] };
    const gflops = (2 * B * side * side * 9 * channels * channels) / 1e9;
    const shape = `${B}x${side}x${side}x${channels}`;
    const kernels = [
      ["Conv2D", () => engine.runKernel("Conv2D", { x, filter: f }, conv)],
      [
        "Conv2DBackpropInput",
        () =>
          engine.runKernel("Conv2DBackpropInput", { dy, filter: f }, {
            ...conv,
            inputShape: x.shape,
          }),
      ],
      [
        "Conv2DBackpropFilter",
        () =>
          engine.runKernel("Conv2DBackpropFilter", { x, dy }, {
            ...conv,
            filterShape: f.shape,
          }),
      ],
    ] as const;
    // The filter gradient as one matMul over 9 shifted views (im2col): what a GEMM-based
    // backprop-filter would cost; checked against the kernel below.
    const im2colFilterGrad = () =>
      tf.tidy(() => {
        const padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]);
        const views = [];
        for (let dr = 0; dr < 3; dr++) {
          for (let dc = 0; dc < 3; dc++) {
            views.push(tf.slice(padded, [0, dr, dc, 0], [B, side, side, channels]));
          }
        }
        const cols = tf.reshape(tf.stack(views, 3), [B * side * side, 9 * channels]);
        const g = tf.matMul(cols, tf.reshape(dy, [B * side * side, channels]), true, false);
        return tf.reshape(g, [3, 3, channels, channels]);
      });
    {
      const a = im2colFilterGrad();
      const b = engine.runKernel("Conv2DBackpropFilter", { x, dy }, {
        ...conv,
        filterShape: f.shape,
      }) as tfjs.Tensor;
      const err = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).div(tf.max(tf.abs(b))));
      const rel = (await err.data())[0];
      tf.dispose([a, b, err]);
      if (!(rel < 1e-4)) throw new Error(`im2col filter gradient differs: relative ${rel}`);
    }
    const im2colSeconds = await secondsPerLaunch(tf, im2colFilterGrad, reps, trials);
    record(`Conv2DBackpropFilter as im2col matMul ${shape}`, im2colSeconds, {
      gflops,
      kernel: "im2col",
      side,
      channels,
      convs,
    });
    for (const [name, launch] of kernels) {
      const s = await secondsPerLaunch(tf, launch as () => tfjs.Tensor, reps, trials);
      record(`${name} ${shape} 3x3`, s, { gflops, kernel: name, side, channels, convs });
      stepEstimate += s * convs;
    }
    tf.dispose([x, f, dy]);
  }
  console.error(`the 19 convolutions' three kernels: ${stepEstimate.toFixed(3)} s a step`);

  // --- one whole training step, by kernel
  let profile: Record<string, unknown> | null = null;
  if (flags.profile) {
    const s = resnetTrainingStep(tf, 20, B);
    await s.step().data(); // warm-up
    // Host or device: the seconds until step() returns (JS and the backend queueing kernels)
    // against the seconds until its loss can be read (the GPU done too).
    const phases: { enqueueSeconds: number; totalSeconds: number }[] = [];
    for (let i = 0; i < 2; i++) {
      const t0 = performance.now();
      const loss = s.step();
      const enqueueSeconds = (performance.now() - t0) / 1000;
      await loss.data();
      loss.dispose();
      phases.push({ enqueueSeconds, totalSeconds: (performance.now() - t0) / 1000 });
      console.error(
        `step: queued in ${enqueueSeconds.toFixed(3)} s, loss read after ` +
          `${phases.at(-1)!.totalSeconds.toFixed(3)} s`,
      );
    }
    const counted = countCalls(tf.backend(), [
      "runWebGPUProgram",
      "recordAndSubmit",
      "submitQueue",
      "uploadToGPU",
      "makeUniforms",
      "tensorToBinding",
      "disposeData",
    ]);
    const c0 = performance.now();
    const counting = s.step();
    await counting.data();
    counting.dispose();
    const countedSeconds = (performance.now() - c0) / 1000;
    counted.restore();
    const calls = [...counted.stats].map(([name, e]) => ({ name, ...e })).sort((a, b) =>
      b.ms - a.ms
    );
    console.error(
      `host calls of one step (${countedSeconds.toFixed(2)} s wall, deferred-submit batch ` +
        `${tf.env().get("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE")}):`,
    );
    for (const c of calls.slice(0, 16)) {
      console.error(`  ${c.name.padEnd(40)} ×${String(c.count).padStart(5)} ${c.ms.toFixed(1)} ms`);
    }
    const t0 = performance.now();
    const info = await tf.profile(async () => {
      const loss = s.step();
      await loss.data();
      return loss;
    });
    const wallSeconds = (performance.now() - t0) / 1000;
    const byName = new Map<string, KernelTally>();
    const { timed } = tallyKernels(info.kernels, byName);
    const slowest = info.kernels.filter((k) => typeof k.kernelTimeMs === "number")
      .map((k) => ({ name: k.name, ms: k.kernelTimeMs as number, inputShapes: k.inputShapes }));
    const kernels = [...byName].map(([name, e]) => ({ name, ...e })).sort((a, b) =>
      b.ms - a.ms || b.count - a.count
    );
    slowest.sort((a, b) => b.ms - a.ms).splice(8);
    profile = {
      wallSeconds,
      kernelCount: info.kernels.length,
      timed,
      phases,
      kernels,
      slowest,
      hostCalls: { seconds: countedSeconds, calls },
    };
    console.error(
      `tf.profile of one resnet-20 step: ${info.kernels.length} kernels, ${
        wallSeconds.toFixed(2)
      } s wall (profiled)${timed ? "" : "; no GPU timestamps"}`,
    );
    for (const k of kernels.slice(0, 12)) {
      console.error(`  ${k.name.padEnd(28)} ×${String(k.count).padStart(4)} ${k.ms.toFixed(1)} ms`);
    }
    for (const k of slowest) {
      console.error(`  slowest: ${k.name} ${JSON.stringify(k.inputShapes)} ${k.ms.toFixed(1)} ms`);
    }
    s.dispose();
  }
  console.log(JSON.stringify({
    bench: "webgpu_ops",
    date: new Date().toISOString(),
    backend,
    backendReason: reason,
    batchSize: B,
    reps,
    trials,
    rows,
    convolutionSecondsPerStep: stepEstimate,
    profile,
  }));
}

if (import.meta.main) await main();
