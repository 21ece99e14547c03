/**
 * Feature extraction from a trained visual model: the activations of a named layer (`gap` 64-D,
 * `act` / `bn` 8x8x64 flattened in HWC order) plus the CIFAR-100 logits and softmax
 * probabilities (DeViSE's softmax baseline and ConSE need them), computed batch by batch so only
 * one batch is ever on the tensor side. Saved as float32 (or float16) files with sidecars.
 *
 * @example
 * ```ts
 * const out = extractFeatures(model, test, "gap", { batchSize: 256, mean, std });
 * out.features.length; // 10000 * 64
 * await writeFeatures("data/features/cifar100-test.gap.f32", out.features, [10000, 64], meta);
 * const back = await readFeatures("data/features/cifar100-test.gap.f32");
 * ```
 * @module
 */
import * as tfjs from "@tensorflow/tfjs";
import type { TF } from "../backend/select.ts";
import { batchIndices, normalizeBatch } from "../data/augment.ts";
import { join } from "node:path";
import { type CifarDataset, type CifarSplitName, loadCifar } from "../data/cifar.ts";
import {
  ArtifactError,
  artifactIsCurrent,
  readArtifact,
  type Sidecar,
  writeArtifact,
} from "../io/artifact.ts";
import { float16ToFloat32, float32ToFloat16 } from "../io/float16.ts";
import type { LoadedCheckpoint } from "./checkpoint.ts";
import type { FeatureLayer } from "./models.ts";
import { batchToInput, type ImageSplit } from "./train.ts";

/** Sidecar format of feature files. */
export const FEATURES_FORMAT = "devise-features";
/** Its version. */
export const FEATURES_VERSION = 1;

/** What {@link extractFeatures} returns: row-major `[count, dim]` and `[count, classes]`. */
export interface ExtractedFeatures {
  features: Float32Array;
  dim: number;
  logits: Float32Array;
  probs: Float32Array;
  numClasses: number;
  count: number;
}

/**
 * Runs `model` over `split` (no augmentation) and returns the `layer` activations, logits and
 * softmax probabilities. `tf` defaults to the plain tfjs namespace (same engine as tfjs-node).
 *
 * @example
 * ```ts
 * const { features, dim } = extractFeatures(model, split, "act", { batchSize: 128, mean, std, tf });
 * dim; // 4096
 * ```
 */
export function extractFeatures(
  model: tfjs.LayersModel,
  split: ImageSplit,
  layer: FeatureLayer | "logits",
  options: { batchSize: number; mean: number[]; std: number[]; tf?: TF },
): ExtractedFeatures {
  const tf = options.tf ?? tfjs;
  const target = model.getLayer(layer).output as tfjs.SymbolicTensor;
  const logitsOut = model.getLayer("logits").output as tfjs.SymbolicTensor;
  const sub = tf.model({ inputs: model.inputs, outputs: [target, logitsOut] });
  const dim = (target.shape.slice(1) as number[]).reduce((a, b) => a * b, 1);
  const numClasses = logitsOut.shape[1] as number;
  const size = model.inputs[0].shape[1] as number;
  const features = new Float32Array(split.count * dim);
  const logits = new Float32Array(split.count * numClasses);
  const probs = new Float32Array(split.count * numClasses);
  const buf = new Float32Array(options.batchSize * 3072);
  let row = 0;
  for (const idx of batchIndices(split.count, options.batchSize, null)) {
    normalizeBatch(split.images, idx, buf, options.mean, options.std, null);
    tf.tidy(() => {
      const [f, z] = sub.predict(batchToInput(tf, buf, idx.length, size)) as tfjs.Tensor[];
      features.set(f.dataSync() as Float32Array, row * dim);
      logits.set(z.dataSync() as Float32Array, row * numClasses);
      probs.set(tf.softmax(z).dataSync() as Float32Array, row * numClasses);
    });
    row += idx.length;
  }
  return { features, dim, logits, probs, numClasses, count: split.count };
}

/** The splits {@link extractAll} writes. */
export const EXTRACT_SPLITS: readonly [CifarDataset, CifarSplitName][] = [
  ["cifar100", "train"],
  ["cifar100", "test"],
  ["cifar10", "test"],
];

/**
 * Path of one extracted matrix: `<dir>/<dataset>-<split>.<kind>.f32` where kind is the layer,
 * `logits` or `probs`.
 *
 * @example
 * ```ts
 * featurePath("data/features", "cifar10", "test", "gap"); // data/features/cifar10-test.gap.f32
 * ```
 */
export function featurePath(dir: string, dataset: string, split: string, kind: string): string {
  return join(dir, `${dataset}-${split}.${kind}.f32`);
}

/**
 * Extracts `layer` features, logits and probabilities for CIFAR-100 train/test and CIFAR-10 test
 * into `outDir`, skipping files whose sidecar already records the same model and dataset.
 * `float16` applies to the layer features (logits/probs stay float32). Returns the paths.
 *
 * @example
 * ```ts
 * await extractAll(tf, ckpt, model, "/work/shared/data", "gap", "data/features", { batchSize: 256 });
 * ```
 */
export async function extractAll(
  tf: TF,
  ckpt: LoadedCheckpoint,
  model: tfjs.LayersModel,
  dataDir: string,
  layer: FeatureLayer,
  outDir: string,
  options: { batchSize: number; float16?: boolean; log?: (line: string) => void },
): Promise<{ paths: string[]; images: number; seconds: number }> {
  const log = options.log ?? (() => {});
  const { mean, std } = ckpt.state.normalization;
  const paths: string[] = [];
  let images = 0, seconds = 0;
  for (const [dataset, split] of EXTRACT_SPLITS) {
    const data = await loadCifar(dataDir, dataset, split);
    const sources = { model: ckpt.weights.sha256, dataset: data.sha256, mean, std };
    const kinds = [layer, "logits", "probs"];
    const targets = kinds.map((k) => featurePath(outDir, dataset, split, k));
    const current = await Promise.all(
      targets.map((p) => artifactIsCurrent(p, FEATURES_FORMAT, FEATURES_VERSION, sources)),
    );
    paths.push(...targets);
    if (current.every(Boolean)) {
      log(`${dataset} ${split}: up to date`);
      continue;
    }
    const t0 = performance.now();
    const out = extractFeatures(model, data, layer, {
      batchSize: options.batchSize,
      mean,
      std,
      tf,
    });
    const s = (performance.now() - t0) / 1000;
    images += data.count;
    seconds += s;
    const meta = { dataset, split, count: data.count, checkpoint: ckpt.dir, sources };
    await writeFeatures(targets[0], out.features, [out.count, out.dim], { ...meta, layer }, {
      float16: options.float16,
    });
    await writeFeatures(targets[1], out.logits, [out.count, out.numClasses], {
      ...meta,
      layer: "logits",
    });
    await writeFeatures(targets[2], out.probs, [out.count, out.numClasses], {
      ...meta,
      layer: "probs",
    });
    log(
      `${dataset} ${split}: ${data.count} images, ${layer} ${out.dim}-D, ${
        (data.count / s).toFixed(0)
      } img/s`,
    );
  }
  return { paths, images, seconds };
}

/**
 * Writes a `[rows, cols]` matrix as float32 (or float16 with `float16`) plus its sidecar;
 * `meta` lands in the sidecar (layer, dataset, split, sources: model and dataset checksums).
 *
 * @example
 * ```ts
 * await writeFeatures(path, features, [n, 64], { layer: "gap", sources: { model, dataset } });
 * ```
 */
export async function writeFeatures(
  path: string,
  values: Float32Array,
  shape: [number, number],
  meta: Record<string, unknown> & { sources: Record<string, unknown> },
  options: { float16?: boolean } = {},
): Promise<Sidecar> {
  if (values.length !== shape[0] * shape[1]) {
    throw new Error(`writeFeatures: ${values.length} values do not fill shape [${shape}]`);
  }
  const bytes = options.float16
    ? new Uint8Array(float32ToFloat16(values).buffer)
    : new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  return await writeArtifact(path, bytes, {
    ...meta,
    format: FEATURES_FORMAT,
    version: FEATURES_VERSION,
    shape,
    dtype: options.float16 ? "float16" : "float32",
  });
}

/**
 * Reads a feature file written by {@link writeFeatures}, validating sidecar format, checksum,
 * dtype and that the byte length matches the shape. float16 files come back as float32.
 *
 * @example
 * ```ts
 * const { data, shape, sidecar } = await readFeatures("data/features/cifar10-test.gap.f32");
 * ```
 */
export async function readFeatures(
  path: string,
): Promise<{ data: Float32Array; shape: [number, number]; sidecar: Sidecar }> {
  const { data, sidecar } = await readArtifact(path, FEATURES_FORMAT, FEATURES_VERSION);
  const shape = sidecar.shape as [number, number];
  if (!Array.isArray(shape) || shape.length !== 2 || !shape.every((d) => Number.isInteger(d))) {
    throw new ArtifactError(
      `${path}.json: 'shape' must be [rows, cols], got ${JSON.stringify(shape)}`,
    );
  }
  const width = sidecar.dtype === "float16" ? 2 : sidecar.dtype === "float32" ? 4 : 0;
  if (!width) throw new ArtifactError(`${path}.json: unknown dtype '${sidecar.dtype}'`);
  if (data.byteLength !== shape[0] * shape[1] * width) {
    throw new ArtifactError(
      `${path}: ${data.byteLength} bytes, shape [${shape}] of ${sidecar.dtype} needs ${
        shape[0] * shape[1] * width
      }`,
    );
  }
  const aligned = data.slice().buffer;
  const values = width === 2
    ? float16ToFloat32(new Uint16Array(aligned))
    : new Float32Array(aligned);
  return { data: values, shape, sidecar };
}
