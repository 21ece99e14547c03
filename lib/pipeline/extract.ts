/**
 * `deno task extract`: a trained checkpoint's features (`gap`, `act`, `bn`, any of them in one
 * pass) and its CIFAR-100 logits/probabilities for CIFAR-100 train/test and CIFAR-10 test, as
 * float32 (or float16) files with sidecars (shape, layer, model checksum, dataset sha256).
 *
 * ```sh
 * deno task extract --checkpoint data/runs/resnet20 --layers gap,act --data-dir ../shared/data
 * ```
 * @module
 */
import { startRunOnBackend } from "./task_run.ts";
import { join } from "node:path";
import { type BackendName } from "../backend/select.ts";
import { modelFromCheckpoint, resolveCheckpoint } from "../vision/checkpoint.ts";
import { extractAll } from "../vision/extract.ts";
import type { FeatureLayer } from "../vision/models.ts";

/** What `deno task extract` is asked to do. */
export interface ExtractRequest {
  checkpoint: string;
  which: "best" | "last";
  layers: FeatureLayer[];
  dataDir: string;
  float16: boolean;
  batchSize: number;
  /** Output folder (default `<checkpoint run>/features`). */
  features: string;
  backend: BackendName;
  out: string;
  json: boolean;
  quiet: boolean;
}

/**
 * The whole of `deno task extract`: loads the checkpoint (before any run folder is made),
 * extracts every requested layer in one pass per split, writes `metrics.json`.
 *
 * @example
 * ```ts
 * await extract({ checkpoint: "data/runs/resnet20", which: "best", layers: ["gap", "act"],
 *   dataDir: "../shared/data", float16: false, batchSize: 256, features: "", backend: "auto",
 *   out: "", json: false, quiet: false });
 * ```
 */
export async function extract(request: ExtractRequest): Promise<Record<string, unknown>> {
  const ckpt = await resolveCheckpoint(request.checkpoint, request.which);
  const featuresDir = request.features || join(request.checkpoint, "features");
  const { backend: _b, out: _o, json, quiet: _q, ...settings } = request;
  // Inference is ~3x cheaper than training; the cpu backend is slow but usable here.
  const { run, tf, backend } = await startRunOnBackend("extract", request, {
    ...settings,
    featuresDir,
    checkpointDir: ckpt.dir,
  }, { allowSlow: true });
  const model = await modelFromCheckpoint(tf, ckpt);
  run.log(
    `checkpoint ${ckpt.dir} (epoch ${ckpt.state.epoch}, model sha256 ${
      ckpt.weights.sha256.slice(0, 12)
    })`,
  );
  const done = await extractAll(tf, ckpt, model, request.dataDir, request.layers, featuresDir, {
    batchSize: request.batchSize,
    float16: request.float16,
    log: run.log,
    run,
  });
  model.dispose();
  const metrics = {
    layers: request.layers,
    featuresDir,
    files: done.paths,
    images: done.images,
    imagesPerSecond: done.seconds > 0 ? done.images / done.seconds : null,
    backend,
    modelSha256: ckpt.weights.sha256,
  };
  await run.finish(metrics, json);
  return metrics;
}
