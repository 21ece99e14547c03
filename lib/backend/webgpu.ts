/**
 * Registers tfjs's `webgpu` backend on Deno's own WebGPU (`navigator.gpu`, wgpu over Vulkan).
 * `@tensorflow/tfjs-backend-webgpu` 4.22.0 registers every kernel ResNet training needs, but the
 * factory its `base.ts` registers fails under Deno: it asks for features as a nested array
 * (`[["bgra8unorm-storage"]]`, which Deno's WebIDL layer rejects) and reads `adapter.info` after
 * `requestDevice` (tfjs#8518). So this module requests the adapter and device itself, reads the
 * adapter info first, constructs `WebGPUBackend(device, info)` and registers that in place of the
 * package's factory.
 *
 * GPU tensors can only be read asynchronously under Deno (`await t.data()`): tfjs's
 * `dataSync`/`arraySync` on webgpu copy through a 2D `OffscreenCanvas` context, which Deno lacks.
 * The backend is patched so such a read fails with a message that says so.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * const gpu = await useWebGpu(tf); // throws UnavailableError when there is no adapter
 * console.error(gpu.adapter.description, gpu.adapter.isFallbackAdapter);
 * const y = tf.matMul(tf.ones([2, 3]), tf.ones([3, 2]));
 * console.log(await y.data()); // not y.dataSync()
 * ```
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import { UnavailableError } from "../io/errors.ts";

/** What the adapter says about itself (copied before `requestDevice`). */
export interface WebGpuAdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for a software adapter (lavapipe / llvmpipe, SwiftShader, WARP). */
  isFallbackAdapter: boolean;
}

/** Result of {@link useWebGpu}. */
export interface WebGpuBackend {
  /** The adapter the backend runs on. */
  adapter: WebGpuAdapterSummary;
  /** The device limits that were requested (the adapter's own maxima). */
  limits: Record<string, number>;
}

/** The limits tfjs's own factory raises to the adapter's maxima. */
const _LIMITS = [
  "maxComputeWorkgroupStorageSize",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupSizeX",
  "maxComputeInvocationsPerWorkgroup",
] as const;

let _registered: Promise<WebGpuBackend> | null = null;

/**
 * The first WebGPU adapter Deno offers, or null (no `navigator.gpu`, no Vulkan driver, ...).
 *
 * @example
 * ```ts
 * const adapter = await requestWebGpuAdapter();
 * if (!adapter) console.error("no WebGPU adapter");
 * ```
 */
export async function requestWebGpuAdapter(
  powerPreference: GPUPowerPreference = "high-performance",
): Promise<GPUAdapter | null> {
  const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
  if (!gpu) return null;
  try {
    return await gpu.requestAdapter({ powerPreference });
  } catch {
    return null;
  }
}

/**
 * Requests a device, registers tfjs's `webgpu` backend on it (once per process) and makes it the
 * active backend of `tf`. Throws {@link UnavailableError} when Deno has no adapter.
 *
 * @example
 * ```ts
 * const { adapter } = await useWebGpu(tf);
 * tf.getBackend(); // "webgpu"
 * ```
 */
export async function useWebGpu(
  tf: typeof tfjs,
  options: { log?: (line: string) => void } = {},
): Promise<WebGpuBackend> {
  _registered ??= _register(tf, options.log ?? (() => {}));
  let got: WebGpuBackend;
  try {
    got = await _registered;
  } catch (err) {
    _registered = null; // let a later call try again
    throw err;
  }
  if (!(await tf.setBackend("webgpu"))) {
    throw new UnavailableError("webgpu: backend failed to start");
  }
  await tf.ready();
  return got;
}

async function _register(tf: typeof tfjs, log: (line: string) => void): Promise<WebGpuBackend> {
  const adapter = await requestWebGpuAdapter();
  if (!adapter) {
    throw new UnavailableError(
      "webgpu: Deno found no WebGPU adapter (navigator.gpu.requestAdapter() gave null); install " +
        "a Vulkan driver (a GPU's, or mesa-vulkan-drivers for the software lavapipe) and check " +
        "`vulkaninfo --summary`, or use --backend tensorflow or cpu",
    );
  }
  // Read the info before requestDevice: Deno's adapter is consumed by it (tfjs#8518).
  const info = adapter.info;
  const summary: WebGpuAdapterSummary = {
    vendor: String(info.vendor ?? ""),
    architecture: String(info.architecture ?? ""),
    device: String(info.device ?? ""),
    description: String(info.description ?? ""),
    isFallbackAdapter: Boolean(
      (info as { isFallbackAdapter?: boolean }).isFallbackAdapter ??
        (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter,
    ),
  };
  const limits: Record<string, number> = {};
  for (const key of _LIMITS) limits[key] = adapter.limits[key];
  // A flat list (tfjs's factory nests 'bgra8unorm-storage' in an array of its own).
  const requiredFeatures = (["timestamp-query", "bgra8unorm-storage"] as GPUFeatureName[])
    .filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits: limits });
  device.lost.then((lost) => log(`webgpu: device lost (${lost.reason}): ${lost.message}`));
  let reported = 0;
  device.addEventListener("uncapturederror", (ev) => {
    if (reported++ < 3) log(`webgpu: ${(ev as GPUUncapturedErrorEvent).error.message}`);
  });

  // The package's CommonJS bundle uses the same tfjs-core instance as `tf`; importing it registers
  // its kernels and its own (Deno-incompatible) 'webgpu' factory, which is replaced here.
  const mod = await import("@tensorflow/tfjs-backend-webgpu");
  const ns = mod as unknown as { WebGPUBackend?: unknown; default?: { WebGPUBackend?: unknown } };
  const WebGPUBackend = (ns.WebGPUBackend ?? ns.default?.WebGPUBackend) as
    | (new (device: GPUDevice, info?: unknown) => tfjs.KernelBackend)
    | undefined;
  if (!WebGPUBackend) throw new UnavailableError("webgpu: the package exports no WebGPUBackend");
  if (tf.findBackendFactory("webgpu")) tf.removeBackend("webgpu");
  const ok = tf.registerBackend("webgpu", () => {
    const backend = new WebGPUBackend(device, summary);
    _clearSyncReadError(backend);
    _uploadWithWriteBuffer(backend);
    return backend;
  }, 0); // priority 0: never chosen unless asked for by name
  if (!ok) throw new UnavailableError("webgpu: registerBackend refused");
  if (!tf.getKernel("Conv2DBackpropFilter", "webgpu")) {
    throw new UnavailableError("webgpu: kernels are registered on another tfjs-core instance");
  }
  return { adapter: summary, limits };
}

/**
 * Uploads CPU values with `queue.writeBuffer` instead of a buffer mapped at creation. Under Deno on
 * NVIDIA's Vulkan driver each `getMappedRange` of such a buffer took 38 ms (H200, driver 580):
 * the 216 small uploads (scalars, constants) of one ResNet-20 step were 8.2 of its 8.5 s while the
 * GPU's kernels ran 1.0 s (bench/webgpu_ops.ts, README "Backends and GPUs"); `writeBuffer` calls
 * took 15 µs each there. Ordering is kept: a pooled buffer is never referenced by commands not yet
 * submitted (tfjs defers its release to the submit), and a write lands before the next submit,
 * which holds the commands that read it — as tfjs's own uniforms are written.
 */
function _uploadWithWriteBuffer(backend: tfjs.KernelBackend): void {
  type TensorData = {
    resource: unknown;
    values: ArrayLike<number> | null;
    dtype: string;
    shape: number[];
  };
  const b = backend as unknown as {
    tensorMap: { get(dataId: object): TensorData };
    bufferManager: { acquireBuffer(size: number, usage: number): GPUBuffer };
    queue: GPUQueue;
    uploadToGPU(dataId: object): void;
  };
  const original = b.uploadToGPU.bind(backend);
  b.uploadToGPU = (dataId: object) => {
    const t = b.tensorMap.get(dataId);
    const kind = t.dtype === "float32"
      ? Float32Array
      : t.dtype === "int32" || t.dtype === "bool"
      ? Int32Array
      : null;
    if (t.resource != null || t.values == null || kind == null) return original(dataId);
    const values = t.values instanceof kind ? t.values : kind.from(t.values);
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const buffer = b.bufferManager.acquireBuffer(values.byteLength, usage);
    if (values.byteLength > 0) {
      b.queue.writeBuffer(
        buffer,
        0,
        values.buffer as ArrayBuffer,
        values.byteOffset,
        values.byteLength,
      );
    }
    t.values = null; // as tfjs does: once uploaded, the values live on the GPU only
    t.resource = buffer;
  };
}

/** Makes `dataSync()` of a GPU tensor fail with a message naming the way out. */
function _clearSyncReadError(backend: tfjs.KernelBackend): void {
  const b = backend as unknown as {
    readSync(dataId: object): unknown;
    hasReadSyncWarned: boolean;
  };
  const readSync = b.readSync.bind(backend);
  b.hasReadSyncWarned = true; // its "sync reads are slow" warning would precede our error
  b.readSync = (dataId: object) => {
    try {
      return readSync(dataId);
    } catch (err) {
      throw new Error(
        "webgpu under Deno cannot read a GPU tensor synchronously (dataSync/arraySync/" +
          "bufferSync go through a 2D OffscreenCanvas, which Deno lacks): use " +
          `\`await tensor.data()\` instead (${(err as Error).message})`,
      );
    }
  };
}
