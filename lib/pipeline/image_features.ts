/**
 * Users' own images through a train run's visual model: the features of one layer and the
 * CIFAR-100 softmax of every readable image, with a 32×32 thumbnail each (what `predict`,
 * `zeroshot --images` and `search --images` score). Images are decoded and batched as they
 * stream in (lib/images), so a large folder never sits in memory; the features of a folder are
 * cached as artifacts keyed by the model, the layer, the fit and every file's size and mtime.
 *
 * @example
 * ```ts
 * const visual = await openVisualModel(tf, trained);
 * const set = await imageFeatures(tf, visual, await expandImageInputs(["pets/"]), {
 *   layer: "act", fit: "crop", cacheDir: "data/cache", run,
 * });
 * set.features.length / set.count; // 4096
 * ```
 * @module
 */
import { join } from "node:path";
import type * as tfjs from "@tensorflow/tfjs";
import type { TF } from "../backend/select.ts";
import { Progress, type ProgressSink } from "../cli/progress.ts";
import { artifactIsCurrent, readArtifact, sha256Hex, writeArtifact } from "../io/artifact.ts";
import { InputError } from "../io/errors.ts";
import { statOrNull } from "../io/fs.ts";
import { type ImageFit } from "../images/decode.ts";
import { type ImageInputs, type ImageItem, loadImagesStreaming } from "../images/folder.ts";
import { tensorflowImageDecoder } from "../images/native.ts";
import { flipImagesHorizontally } from "../data/augment.ts";
import {
  type LoadedCheckpoint,
  modelFromCheckpoint,
  resolveCheckpoint,
} from "../vision/checkpoint.ts";
import {
  extractFeatures,
  FEATURES_FORMAT,
  FEATURES_VERSION,
  readFeatures,
  writeFeatures,
} from "../vision/extract.ts";
import type { FeatureLayer } from "../vision/models.ts";
import type { TrainRun } from "./runs.ts";

/** A train run's visual model, loaded once. */
export interface VisualModel {
  ckpt: LoadedCheckpoint;
  model: tfjs.LayersModel;
}

/**
 * Loads the visual model a train run's features came from, checking it is the same model (its
 * weights' checksum names the feature folder); with `finetuned`, the run's fine-tuned model,
 * checked against the fine-tuned features in the same way.
 *
 * @example
 * ```ts
 * const { model, ckpt } = await openVisualModel(tf, await readTrainRun("data/runs/train-x"));
 * ```
 */
export async function openVisualModel(
  tf: TF,
  trained: TrainRun,
  finetuned?: { checkpoint: string; featureDir: string },
): Promise<VisualModel> {
  const { checkpoint, featureDir } = finetuned ??
    { checkpoint: trained.metrics.visual.checkpoint, featureDir: trained.metrics.featureDir };
  const ckpt = await resolveCheckpoint(checkpoint, "last");
  const want = featureDir.match(/features-([0-9a-f]{12})$/)?.[1];
  if (want && !ckpt.weights.sha256.startsWith(want)) {
    throw new InputError(
      `${ckpt.dir}: weights ${ckpt.weights.sha256.slice(0, 12)}… are not the model the run's ` +
        `features came from (${want}…): the checkpoint was trained further; re-run \`deno task ` +
        "train`",
    );
  }
  return { ckpt, model: await modelFromCheckpoint(tf, ckpt) };
}

/** Images that went through the visual model, in input order (unreadable ones left out). */
export interface ImageFeatureSet {
  count: number;
  /** The images read, with their labels when the input was an ImageFolder. */
  items: ImageItem[];
  classes?: string[];
  /** n×d features of `layer`. */
  features: Float32Array;
  /** n×100 CIFAR-100 probabilities. */
  probs: Float32Array;
  /** n 32×32×3 thumbnails (what the model saw). */
  images: Uint8Array;
  /** Files that could not be listed or read, one line each. */
  problems: { path: string; message: string }[];
  /** True when the features came from the cache. */
  cached: boolean;
}

/** Images per forward pass. */
const BATCH = 128;
/** Sidecar format of cached 32×32 RGB thumbnails (uint8, HWC). */
export const THUMBNAILS_FORMAT = "devise-thumbnails";
/** Its version. */
export const THUMBNAILS_VERSION = 1;

/**
 * Features, probabilities and thumbnails of every readable image in `inputs` (see the module
 * doc). With `cacheDir`, a folder seen before with the same model, layer and fit is read back.
 *
 * @example
 * ```ts
 * const set = await imageFeatures(tf, visual, inputs, { layer: "gap", fit: "crop", run });
 * ```
 */
export async function imageFeatures(
  tf: TF,
  visual: VisualModel,
  inputs: ImageInputs,
  options: { layer: FeatureLayer; fit: ImageFit; cacheDir?: string; run?: ProgressSink },
): Promise<ImageFeatureSet> {
  const key = options.cacheDir ? await _cacheKey(visual, inputs.items, options) : null;
  const paths = key && options.cacheDir
    ? {
      features: join(options.cacheDir, `images-${key}.${options.layer}.f32`),
      probs: join(options.cacheDir, `images-${key}.probs.f32`),
      thumbs: join(options.cacheDir, `images-${key}.thumbs.u8`),
    }
    : null;
  const sources = { key };
  const current = paths &&
    await artifactIsCurrent(paths.features, FEATURES_FORMAT, FEATURES_VERSION, sources) &&
    await artifactIsCurrent(paths.probs, FEATURES_FORMAT, FEATURES_VERSION, sources) &&
    await artifactIsCurrent(paths.thumbs, THUMBNAILS_FORMAT, THUMBNAILS_VERSION, sources);
  if (paths && current) {
    const thumbs = await readArtifact(paths.thumbs, THUMBNAILS_FORMAT, THUMBNAILS_VERSION);
    const kept = thumbs.sidecar.items as ImageItem[];
    return {
      count: kept.length,
      items: kept,
      classes: inputs.classes,
      features: (await readFeatures(paths.features)).data,
      probs: (await readFeatures(paths.probs)).data,
      images: thumbs.data,
      problems: _named([
        ...inputs.problems,
        ...(thumbs.sidecar.problems as ImageFeatureSet["problems"]),
      ]),
      cached: true,
    };
  }
  const { mean, std } = visual.ckpt.state.normalization;
  const kept: ImageItem[] = [];
  const problems: ImageFeatureSet["problems"] = [];
  const featureParts: Float32Array[] = [], probParts: Float32Array[] = [];
  const images = new Uint8Array(inputs.items.length * 3072);
  let batch = new Uint8Array(BATCH * 3072), inBatch = 0, dim = 0;
  const bar = new Progress("images", inputs.items.length, { unit: "img", run: options.run });
  const flush = () => {
    if (inBatch === 0) return;
    const out = extractFeatures(
      visual.model,
      {
        count: inBatch,
        images: batch.subarray(0, inBatch * 3072),
        labels: new Int32Array(inBatch),
      },
      [options.layer],
      { batchSize: BATCH, mean, std, tf },
    );
    dim = out.layers[options.layer]!.dim;
    featureParts.push(out.layers[options.layer]!.data);
    probParts.push(out.probs);
    inBatch = 0;
    batch = new Uint8Array(BATCH * 3072);
  };
  const native = tensorflowImageDecoder(tf);
  for await (const r of loadImagesStreaming(inputs.items, { fit: options.fit, native })) {
    bar.tick(1);
    if ("error" in r) {
      problems.push({ path: r.item.path, message: r.error.message });
      continue;
    }
    batch.set(r.image, inBatch * 3072);
    images.set(r.image, kept.length * 3072);
    kept.push(r.item);
    if (++inBatch === BATCH) flush();
  }
  flush();
  bar.done();
  const set: ImageFeatureSet = {
    count: kept.length,
    items: kept,
    classes: inputs.classes,
    features: _concat(featureParts),
    probs: _concat(probParts),
    images: images.slice(0, kept.length * 3072),
    problems: _named([...inputs.problems, ...problems]),
    cached: false,
  };
  if (paths && kept.length) {
    const meta = { sources, count: kept.length };
    await writeFeatures(paths.features, set.features, [kept.length, dim], {
      ...meta,
      layer: options.layer,
    });
    await writeFeatures(paths.probs, set.probs, [kept.length, 100], { ...meta, layer: "probs" });
    await writeArtifact(paths.thumbs, set.images, {
      format: THUMBNAILS_FORMAT,
      version: THUMBNAILS_VERSION,
      shape: [kept.length, 32, 32, 3],
      items: kept,
      problems,
      sources,
    });
  }
  return set;
}

/** Problems whose message names the file, as every line about one should. */
function _named(problems: ImageFeatureSet["problems"]): ImageFeatureSet["problems"] {
  return problems.map((p) => ({
    path: p.path,
    message: p.message.startsWith(p.path) ? p.message : `${p.path}: ${p.message}`,
  }));
}

function _concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The cache key: model weights, layer, fit, and every file's path, size and modification time. */
async function _cacheKey(
  visual: VisualModel,
  items: ImageItem[],
  options: { layer: string; fit: string },
): Promise<string> {
  const files = [];
  for (const item of items) {
    const info = await statOrNull(item.path);
    files.push([item.path, item.label ?? null, info?.size ?? -1, info?.mtime?.getTime() ?? 0]);
  }
  const text = JSON.stringify({
    model: visual.ckpt.weights.sha256,
    layer: options.layer,
    fit: options.fit,
    files,
  });
  return (await sha256Hex(new TextEncoder().encode(text))).slice(0, 16);
}

/**
 * Test-time augmentation: the features of `layers` and the CIFAR-100 softmax of the mirror image
 * of each of `images` (NHWC 32×32×3), through the run's `finetuned` model (checked against its
 * features, as {@link openVisualModel}) or, without it, the run's own. Averaged with the
 * unmirrored outputs by the caller.
 *
 * @example
 * ```ts
 * const m = await mirroredFeatures(tf, trained, set.images, ["gap"]);
 * m.layers.gap!.data.length; // count × 64
 * ```
 */
export async function mirroredFeatures(
  tf: TF,
  trained: TrainRun,
  images: Uint8Array,
  layers: readonly FeatureLayer[],
  options: { finetuned?: { checkpoint: string; featureDir: string }; run?: ProgressSink } = {},
) {
  const visual = await openVisualModel(tf, trained, options.finetuned);
  const { mean, std } = visual.ckpt.state.normalization;
  const count = images.length / 3072;
  const bar = new Progress("mirrored images", count, { unit: "img", run: options.run });
  try {
    const split = { count, images: flipImagesHorizontally(images), labels: new Int32Array(count) };
    return extractFeatures(visual.model, split, layers, {
      batchSize: BATCH,
      mean,
      std,
      tf,
      onBatch: (n) => bar.tick(n),
    });
  } finally {
    bar.done();
    visual.model.dispose();
  }
}
