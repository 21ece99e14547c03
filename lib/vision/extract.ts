/**
 * Feature extraction from a trained visual model: the activations of the named layers (`gap`
 * 64-D, `act` / `bn` 8x8x64 flattened in HWC order) plus the CIFAR-100 logits and softmax
 * probabilities (DeViSE's softmax baseline and ConSE need them), all from one forward pass per
 * batch (batch norm folded into the convolutions, ./folded.ts), so only one batch is ever on the
 * tensor side and each split is read and run once. Saved as float32 (or float16) files with
 * sidecars.
 *
 * @example
 * ```ts
 * const out = extractFeatures(model, test, ["gap"], { batchSize: 256, mean, std });
 * out.layers.gap!.data.length; // 10000 * 64
 * await writeFeatures("data/features/cifar100-test.gap.f32", out.layers.gap!.data, [10000, 64], meta);
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
import { batchToInput, type ImageSplit } from "./input.ts";
import { foldBatchNorm } from "./folded.ts";
import { Progress, type ProgressSink } from "../cli/progress.ts";

/** Sidecar format of feature files. */
export const FEATURES_FORMAT = "devise-features";
/** Its version. */
export const FEATURES_VERSION = 1;

/** One extracted matrix: row-major `[count, dim]`. */
export interface FeatureMatrix {
  data: Float32Array;
  dim: number;
}

/** What {@link extractFeatures} returns: every requested layer, logits and probabilities. */
export interface ExtractedFeatures {
  layers: Partial<Record<FeatureLayer, FeatureMatrix>>;
  logits: Float32Array;
  probs: Float32Array;
  numClasses: number;
  count: number;
}

/**
 * Runs `model` once over `split` (no augmentation) and returns the activations of every layer in
 * `layers`, the logits and the softmax probabilities, from one multi-output forward pass per
 * batch. `tf` defaults to the plain tfjs namespace (same engine as tfjs-node).
 *
 * @example
 * ```ts
 * const out = extractFeatures(model, split, ["gap", "act"], { batchSize: 128, mean, std, tf });
 * out.layers.act!.dim; // 4096
 * ```
 */
export function extractFeatures(
  model: tfjs.LayersModel,
  split: ImageSplit,
  layers: readonly FeatureLayer[],
  options: {
    batchSize: number;
    mean: number[];
    std: number[];
    tf?: TF;
    onBatch?: (images: number) => void;
  },
): ExtractedFeatures {
  const tf = options.tf ?? tfjs;
  const targets = layers.map((l) => model.getLayer(l).output as tfjs.SymbolicTensor);
  const logitsOut = model.getLayer("logits").output as tfjs.SymbolicTensor;
  const dims = targets.map((t) => (t.shape.slice(1) as number[]).reduce((a, b) => a * b, 1));
  const numClasses = logitsOut.shape[1] as number;
  const size = model.inputs[0].shape[1] as number;
  const out: ExtractedFeatures = {
    layers: Object.fromEntries(
      layers.map((l, i) => [l, { data: new Float32Array(split.count * dims[i]), dim: dims[i] }]),
    ),
    logits: new Float32Array(split.count * numClasses),
    probs: new Float32Array(split.count * numClasses),
    numClasses,
    count: split.count,
  };
  const folded = foldBatchNorm(tf, model, [...layers, "logits"]);
  const buf = new Float32Array(options.batchSize * 3072);
  let row = 0;
  try {
    for (const idx of batchIndices(split.count, options.batchSize, null)) {
      normalizeBatch(split.images, idx, buf, options.mean, options.std, null);
      tf.tidy(() => {
        // The whole batch in one call: tfjs's predict() would cut it into batches of 32, eight
        // times the kernel calls at batch 256 (~1.8x slower, bench/profile_step.ts --forward).
        const outputs = folded.predict(batchToInput(tf, buf, idx.length, size));
        layers.forEach((l, i) => {
          out.layers[l]!.data.set(outputs[i].dataSync() as Float32Array, row * dims[i]);
        });
        const z = outputs[layers.length];
        out.logits.set(z.dataSync() as Float32Array, row * numClasses);
        out.probs.set(tf.softmax(z).dataSync() as Float32Array, row * numClasses);
      });
      row += idx.length;
      options.onBatch?.(idx.length);
    }
  } finally {
    folded.dispose();
  }
  return out;
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
 * Extracts the `layers` features, logits and probabilities for CIFAR-100 train/test and CIFAR-10
 * test into `outDir`: each split is loaded and hashed once and goes through the model once, for
 * all layers together; a split whose files all have sidecars recording the same model and dataset
 * is skipped. `float16` applies to the layer features (logits/probs stay float32).
 *
 * @example
 * ```ts
 * await extractAll(tf, ckpt, model, "/work/shared/data", ["gap", "act"], "data/features", {
 *   batchSize: 256,
 * });
 * ```
 */
export async function extractAll(
  tf: TF,
  ckpt: LoadedCheckpoint,
  model: tfjs.LayersModel,
  dataDir: string,
  layers: readonly FeatureLayer[],
  outDir: string,
  options: {
    batchSize: number;
    float16?: boolean;
    log?: (line: string) => void;
    run?: ProgressSink;
  },
): Promise<{ paths: string[]; images: number; seconds: number }> {
  const log = options.log ?? (() => {});
  const { mean, std } = ckpt.state.normalization;
  const paths: string[] = [];
  let images = 0, seconds = 0;
  for (const [dataset, split] of EXTRACT_SPLITS) {
    const data = await loadCifar(dataDir, dataset, split);
    const sources = { model: ckpt.weights.sha256, dataset: data.sha256, mean, std };
    const kinds = [...layers, "logits", "probs"];
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
    const bar = new Progress(`extract ${dataset} ${split}`, data.count, {
      unit: "img",
      run: options.run,
    });
    const out = extractFeatures(model, data, layers, {
      batchSize: options.batchSize,
      mean,
      std,
      tf,
      onBatch: (n) => bar.tick(n),
    });
    bar.done();
    const s = (performance.now() - t0) / 1000;
    images += data.count;
    seconds += s;
    const meta = { dataset, split, count: data.count, checkpoint: ckpt.dir, sources };
    for (const layer of layers) {
      const m = out.layers[layer]!;
      await writeFeatures(featurePath(outDir, dataset, split, layer), m.data, [out.count, m.dim], {
        ...meta,
        layer,
      }, { float16: options.float16 });
    }
    for (const kind of ["logits", "probs"] as const) {
      await writeFeatures(featurePath(outDir, dataset, split, kind), out[kind], [
        out.count,
        out.numClasses,
      ], { ...meta, layer: kind });
    }
    log(
      `${dataset} ${split}: ${data.count} images, ` +
        layers.map((l) => `${l} ${out.layers[l]!.dim}-D`).join(", ") +
        `, ${(data.count / s).toFixed(0)} img/s`,
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
