/**
 * Picks the TensorFlow.js backend and returns the ONE `tf` namespace every model, optimizer and
 * tensor of the run must come from (so models and backend agree). `auto` tries the native
 * backends first (`@tensorflow/tfjs-node-gpu` when a CUDA GPU is visible, then
 * `@tensorflow/tfjs-node`); if neither loads it refuses, unless the caller allows the slow
 * pure-JS `cpu` backend (tests, tiny models, or `--backend cpu`). `webgpu` (only by name) runs
 * tfjs's WebGPU backend on Deno's `navigator.gpu` (lib/backend/webgpu.ts); it reads tensors
 * asynchronously only.
 *
 * @example
 * ```ts
 * const { tf, backend, reason } = await selectBackend("auto", { allowSlow: false, log: console.error });
 * const x = tf.zeros([2, 2]);
 * ```
 * @module
 */
import * as tfjs from "@tensorflow/tfjs";
import { installFastCpuKernels } from "./cpu_fast.ts";
import { UnavailableError } from "../io/errors.ts";
import type { BackendName } from "./names.ts";
import { useNativeBatchNorm, useNativeReluGrad } from "./native_grads.ts";
import { useWebGpu } from "./webgpu.ts";

/** The tfjs namespace type (tfjs-node re-exports all of it, plus `tf.node`). */
export type TF = typeof tfjs;

export { BACKEND_NAMES, type BackendName } from "./names.ts";

/** Result of {@link selectBackend}. */
export interface SelectedBackend {
  /** The namespace to use everywhere in this process. */
  tf: TF;
  /** tfjs backend name actually active (`tensorflow`, `cpu`, `webgpu`). */
  backend: string;
  /** Why this backend was chosen (and what failed before it). */
  reason: string;
}

/** Thrown when the requested backend cannot be used. */
export class BackendError extends UnavailableError {
  override name = "BackendError";
}

/**
 * The tfjs package versions (for `config.json`).
 *
 * @example
 * ```ts
 * tfjsVersions(tf)["tfjs-core"]; // "4.22.0"
 * ```
 */
export function tfjsVersions(tf: TF = tfjs): Record<string, string> {
  return { ...(tf.version as Record<string, string>) };
}

/**
 * True when a CUDA GPU looks visible (driver in /proc or a working `nvidia-smi -L`).
 *
 * @example
 * ```ts
 * if (await cudaGpuVisible()) console.error("trying tfjs-node-gpu");
 * ```
 */
export async function cudaGpuVisible(): Promise<boolean> {
  try {
    await Deno.stat("/proc/driver/nvidia/version");
    return true;
  } catch { /* no kernel driver file; try nvidia-smi */ }
  try {
    const out = await new Deno.Command("nvidia-smi", {
      args: ["-L"],
      stdout: "piped",
      stderr: "null",
    })
      .output();
    return out.success && new TextDecoder().decode(out.stdout).includes("GPU");
  } catch {
    return false;
  }
}

/**
 * Message for a full training run that would fall back to the pure-JS backend.
 *
 * @example
 * ```ts
 * console.error(slowBackendMessage(["@tensorflow/tfjs-node: addon not built"]));
 * ```
 */
export function slowBackendMessage(failures: string[]): string {
  return [
    "no native TensorFlow backend could be loaded:",
    ...failures.map((f) => `  - ${f}`),
    "The pure-JS 'cpu' backend trains ResNet-20 some 40-70x slower than libtensorflow (compare",
    "`deno run -A bench/train_step.ts --backend cpu` with the default): a full CIFAR-100 run",
    "would take days to weeks on a few cores.",
    "Pass '--backend cpu' to run anyway (fine for --limit smoke runs and tiny models), or",
    "make @tensorflow/tfjs-node load (see lib/backend/libtensorflow.ts).",
  ].join("\n");
}

/**
 * Selects and activates a backend. `allowSlow` permits `auto` to fall back to `cpu`; an explicit
 * `cpu` is always allowed. Native load failures are caught and listed in `reason` / the error.
 *
 * @example
 * ```ts
 * const { tf } = await selectBackend("cpu", { allowSlow: true });
 * ```
 */
export async function selectBackend(
  name: BackendName,
  options: { allowSlow: boolean; log?: (line: string) => void },
): Promise<SelectedBackend> {
  const log = options.log ?? (() => {});
  const failures: string[] = [];
  const tryNative = async (pkg: "gpu" | "cpu"): Promise<SelectedBackend | null> => {
    try {
      const tf = pkg === "gpu" ? await _importNodeGpu() : await _importNode();
      await tf.setBackend("tensorflow");
      await tf.ready();
      if (tf.getBackend() !== "tensorflow") throw new Error(`active backend is ${tf.getBackend()}`);
      if (Deno.env.get("DEVISE_NATIVE_GRADS") !== "0") { // 0: tfjs's own (A/B timing)
        useNativeReluGrad(tf);
        useNativeBatchNorm(tf);
      }
      const label = pkg === "gpu" ? "tensorflow-gpu" : "tensorflow";
      return { tf, backend: label, reason: `${label}: native libtensorflow loaded` };
    } catch (err) {
      const first = String((err as Error).message ?? err).split("\n")[0].slice(0, 300);
      failures.push(`@tensorflow/tfjs-node${pkg === "gpu" ? "-gpu" : ""}: ${first}`);
      return null;
    }
  };

  if (name === "tensorflow-gpu" || name === "auto") {
    if (name === "tensorflow-gpu" || await cudaGpuVisible()) {
      const got = await tryNative("gpu");
      if (got) return _announce(got, failures, log);
    } else {
      failures.push("@tensorflow/tfjs-node-gpu: skipped (no CUDA GPU visible)");
    }
    if (name === "tensorflow-gpu") throw new BackendError(failures.join("\n"));
  }
  if (name === "tensorflow" || name === "auto") {
    const got = await tryNative("cpu");
    if (got) return _announce(got, failures, log);
    if (name === "tensorflow") throw new BackendError(failures.join("\n"));
  }
  if (name === "webgpu") return _announce(await _useWebGpu(log), failures, log);
  if (name === "auto" && !options.allowSlow) throw new BackendError(slowBackendMessage(failures));
  return _announce(await useCpu(), failures, log);
}

/**
 * Activates the pure-JS `cpu` backend on the plain tfjs namespace (banner suppressed, fast
 * filter-gradient kernel installed). Tests use this directly.
 *
 * @example
 * ```ts
 * const { tf } = await useCpu();
 * ```
 */
export async function useCpu(): Promise<SelectedBackend> {
  await tfjs.setBackend("cpu");
  await tfjs.ready();
  // tfjs-backend-cpu prints a "Hi there, install tfjs-node" banner on its first tensor write;
  // mark it as already shown.
  const backend = tfjs.backend() as unknown as { firstUse?: boolean };
  if ("firstUse" in backend) backend.firstUse = false;
  const fast = installFastCpuKernels(tfjs);
  return {
    tf: tfjs,
    backend: "cpu",
    reason: `cpu: pure-JS backend${fast ? " (fast Conv2DBackpropFilter)" : ""}`,
  };
}

/** tfjs's `webgpu` backend on Deno's navigator.gpu (lib/backend/webgpu.ts). */
async function _useWebGpu(log: (line: string) => void): Promise<SelectedBackend> {
  try {
    const { adapter } = await useWebGpu(tfjs, { log });
    const kind = adapter.isFallbackAdapter ? "software adapter" : "adapter";
    return {
      tf: tfjs,
      backend: "webgpu",
      reason: `webgpu: ${kind} ${adapter.description || adapter.vendor || "(unnamed)"}`,
    };
  } catch (err) {
    throw new BackendError((err as Error).message);
  }
}

function _announce(
  chosen: SelectedBackend,
  failures: string[],
  log: (line: string) => void,
): SelectedBackend {
  const reason = failures.length ? `${chosen.reason} (${failures.join("; ")})` : chosen.reason;
  log(`backend: ${chosen.backend}${failures.length ? ` — tried: ${failures.join("; ")}` : ""}`);
  return { ...chosen, reason };
}

/** The namespace of a CommonJS tfjs-node module: its module.exports (which has `tf.node`). */
function _namespace(mod: Record<string, unknown>): TF {
  const def = mod.default as Record<string, unknown> | undefined;
  const ns = def && typeof def.tensor === "function" ? def : mod;
  if (typeof ns.tensor !== "function") throw new Error("module does not export the tfjs API");
  return ns as unknown as TF;
}

// TensorFlow's C++ info lines ("This TensorFlow binary is optimized ...") are noise on stderr;
// warnings and errors still show. Must be set before the library loads.
function _quietTensorflowLogs(): void {
  if (Deno.env.get("TF_CPP_MIN_LOG_LEVEL") === undefined) Deno.env.set("TF_CPP_MIN_LOG_LEVEL", "1");
}

async function _importNode(): Promise<TF> {
  _quietTensorflowLogs();
  // The addon is built against libtensorflow by `deno task setup` (lib/backend/libtensorflow.ts).
  return _namespace(await import("@tensorflow/tfjs-node"));
}

async function _importNodeGpu(): Promise<TF> {
  _quietTensorflowLogs();
  return _namespace(await import("@tensorflow/tfjs-node-gpu"));
}
