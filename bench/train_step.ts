/**
 * Training-step throughput (images/s) of ResNet-20 and ResNet-110 (CIFAR-100 head) at batch
 * 128 on the selected tfjs backend: the median of several timed SGD steps (forward, backward,
 * weight decay, momentum update) after warm-up. Runs the same model in Python TF-Keras
 * (bench/peers/keras_train.py, from the venv in data/venv/ when present) and reports the ratio.
 *
 * Feature extraction (forward only) is measured too, through the pipeline's own
 * `extractFeatures` (uint8 images → normalised batches → `gap`, `act`, logits, softmax; batch
 * 256) against Keras `model.predict` of the same network with the same weights (ours, exported;
 * the peer checks its logits against ours), and against our own training images/s.
 * Writes data/bench/train_step.json.
 *
 * ```sh
 * deno run -A bench/train_step.ts                      # auto backend, depths 20 and 110
 * deno run -A bench/train_step.ts --depths 20 --steps 3 --backend cpu --batch-size 8
 * ```
 * @module
 */
import { join } from "node:path";
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
import { buildModel } from "../lib/vision/models.ts";
import { extractFeatures } from "../lib/vision/extract.ts";
import { Rng } from "../lib/io/rng.ts";
import { median } from "../lib/io/stats.ts";

const spec = {
  depths: { type: "list", default: ["20", "110"], help: "ResNet depths" },
  batchSize: { type: "number", default: 128, help: "images per step" },
  steps: { type: "number", default: 5, help: "timed steps (median reported)" },
  warmup: { type: "number", default: 2, help: "untimed steps first" },
  backend: { type: "string", default: "auto", choices: BACKEND_NAMES, help: "tfjs backend" },
  python: {
    type: "string",
    default: "",
    help: "python for the Keras peer (default data/venv/bin/python)",
  },
  noPeer: { type: "boolean", default: false, help: "skip the Keras peer" },
  extractImages: {
    type: "number",
    default: 2560,
    integer: true,
    min: 0,
    help: "images per timed extraction pass (0 = skip extraction)",
  },
  extractBatch: { type: "number", default: 256, integer: true, min: 1, help: "extraction batch" },
  out: { type: "string", default: "data/bench/train_step.json", help: "result file" },
} as const satisfies FlagSpec;

/** Seconds per step for one depth (same step as lib/vision/train.ts). */
function timeSteps(tf: TF, depth: number, batch: number, warmup: number, steps: number): number[] {
  const s = resnetTrainingStep(tf, depth, batch);
  const times: number[] = [];
  for (let i = 0; i < warmup + steps; i++) {
    const t0 = performance.now();
    const loss = s.step();
    loss.dataSync(); // wait for the step to finish
    loss.dispose();
    if (i >= warmup) times.push((performance.now() - t0) / 1000);
  }
  s.dispose();
  return times;
}

// CIFAR-100 channel statistics in [0, 1] units (lib/data/augment.ts normalizationLut).
const _MEAN = [0.507, 0.487, 0.441], _STD = [0.267, 0.256, 0.276];

/**
 * Extraction images/s of ResNet-`depth` through the pipeline's `extractFeatures` (median of
 * `passes`), and what the peer needs to run the same network: the weights in order, the images,
 * and our logits of the first batch.
 */
function timeExtract(tf: TF, depth: number, images: number, batch: number, passes: number) {
  const model = buildModel(tf, { arch: "resnet", depth, numClasses: 100, seed: 1 });
  const rng = new Rng(11);
  const split = {
    count: images,
    images: Uint8Array.from({ length: images * 3072 }, () => Math.floor(rng.next() * 256)),
    labels: new Int32Array(images),
  };
  const options = { batchSize: batch, mean: _MEAN, std: _STD, tf };
  const warm = { ...split, count: Math.min(images, batch) };
  extractFeatures(model, warm, ["gap", "act"], options);
  const times: number[] = [];
  let logits = new Float32Array();
  for (let p = 0; p < passes; p++) {
    const t0 = performance.now();
    const out = extractFeatures(model, split, ["gap", "act"], options);
    times.push((performance.now() - t0) / 1000);
    logits = out.logits.slice(0, Math.min(images, batch) * 100);
  }
  // Layer by layer (batch norm: gamma, beta, moving mean, moving variance), as Keras orders them.
  const weights = model.layers.flatMap((l) => l.getWeights()).map((w) => ({
    shape: w.shape,
    data: w.dataSync() as Float32Array,
  }));
  model.dispose();
  return { imagesPerSecond: images / median(times), times, weights, images: split.images, logits };
}

/** Writes the extraction inputs the Keras peer reads from `--predict-dir`. */
async function writePeerInputs(
  dir: string,
  depth: number,
  e: ReturnType<typeof timeExtract>,
): Promise<void> {
  const weightsFile = join(dir, `weights-${depth}.f32`);
  const total = e.weights.reduce((n, w) => n + w.data.length, 0);
  const all = new Float32Array(total);
  let off = 0;
  for (const w of e.weights) all.set(w.data, off), off += w.data.length;
  await Deno.writeFile(weightsFile, new Uint8Array(all.buffer));
  await Deno.writeTextFile(
    join(dir, `weights-${depth}.json`),
    JSON.stringify(e.weights.map((w) => w.shape)),
  );
  await Deno.writeFile(join(dir, "images.u8"), e.images);
  await Deno.writeFile(join(dir, `logits-${depth}.f32`), new Uint8Array(e.logits.buffer));
}

/** Runs the Keras peer; returns its parsed JSON or an error note. */
async function runPeer(
  python: string,
  depths: number[],
  flags: { batchSize: number; steps: number; warmup: number },
  extra: string[] = [],
) {
  const script = join(import.meta.dirname ?? "bench", "peers", "keras_train.py");
  try {
    const out = await new Deno.Command(python, {
      args: [
        script,
        "--depths",
        depths.join(","),
        "--batch-size",
        String(flags.batchSize),
        "--steps",
        String(flags.steps),
        "--warmup",
        String(flags.warmup),
        ...extra,
      ],
      stdout: "piped",
      stderr: "piped",
      env: { TF_CPP_MIN_LOG_LEVEL: "2" },
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ?? "";
    if (!out.success) {
      return {
        error: new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" | "),
      };
    }
    return JSON.parse(text);
  } catch (err) {
    return { error: `${python}: ${(err as Error).message}` };
  }
}

async function main(): Promise<void> {
  const flags = parseFlags(spec, Deno.args, {
    task: "bench train_step",
    summary: "ResNet training-step img/s on the tfjs backend vs Python TF-Keras.",
  });
  const { tf, backend, reason } = await selectBackend(flags.backend as BackendName, {
    allowSlow: true,
    log: (l) => console.error(l),
  });
  const depths = flags.depths.map(Number);
  const results: Record<string, unknown>[] = [];
  for (const depth of depths) {
    const times = timeSteps(tf, depth, flags.batchSize, flags.warmup, flags.steps);
    const secondsPerStep = median(times);
    const row = { depth, secondsPerStep, imagesPerSecond: flags.batchSize / secondsPerStep, times };
    console.error(
      `tfjs ${backend} resnet-${depth}: ${
        row.imagesPerSecond.toFixed(1)
      } img/s (median of ${times.length})`,
    );
    results.push(row);
  }
  // Extraction: ours, then (below) the peer on the same weights and images.
  const extract: Record<string, unknown>[] = [];
  const peerDir = await Deno.makeTempDir({ prefix: "devise-bench-extract-" });
  const peerExtra: string[] = [];
  if (flags.extractImages > 0) {
    for (const depth of depths) {
      const e = timeExtract(tf, depth, flags.extractImages, flags.extractBatch, flags.steps);
      const train = results.find((r) => r.depth === depth)!.imagesPerSecond as number;
      extract.push({
        depth,
        images: flags.extractImages,
        batch: flags.extractBatch,
        imagesPerSecond: e.imagesPerSecond,
        times: e.times,
        overTrainingImagesPerSecond: e.imagesPerSecond / train,
      });
      console.error(
        `tfjs ${backend} resnet-${depth} extraction: ${e.imagesPerSecond.toFixed(0)} img/s ` +
          `(${(e.imagesPerSecond / train).toFixed(1)}× its training img/s)`,
      );
      await writePeerInputs(peerDir, depth, e);
    }
    peerExtra.push(
      ...["--predict-dir", peerDir],
      ...["--predict-images", String(flags.extractImages)],
      ...["--predict-batch", String(flags.extractBatch)],
    );
  }
  const python = flags.python || "data/venv/bin/python";
  const peer = flags.noPeer ? { skipped: true } : await runPeer(python, depths, flags, peerExtra);
  await Deno.remove(peerDir, { recursive: true }).catch(() => {});
  for (const row of extract) {
    const p = (peer.extract as { depth: number; imagesPerSecond: number }[] | undefined)
      ?.find((r) => r.depth === row.depth);
    if (!p) continue;
    Object.assign(row, {
      keras: p,
      ratioTfjsOverKeras: (row.imagesPerSecond as number) / p.imagesPerSecond,
    });
    console.error(
      `keras resnet-${row.depth} predict: ${p.imagesPerSecond.toFixed(0)} img/s; tfjs/keras = ${
        (row.ratioTfjsOverKeras as number).toFixed(2)
      }`,
    );
  }
  if (peer.results) {
    for (const row of results) {
      const p = (peer.results as { depth: number; imagesPerSecond: number }[]).find((r) =>
        r.depth === row.depth
      );
      if (p) {
        row.kerasImagesPerSecond = p.imagesPerSecond;
        row.ratioTfjsOverKeras = (row.imagesPerSecond as number) / p.imagesPerSecond;
        console.error(
          `keras resnet-${row.depth}: ${p.imagesPerSecond.toFixed(1)} img/s; tfjs/keras = ${
            (row.ratioTfjsOverKeras as number).toFixed(2)
          }`,
        );
      }
    }
  } else if (peer.error) console.error(`keras peer: ${peer.error}`);
  const report = {
    bench: "train_step",
    date: new Date().toISOString(),
    backend,
    backendReason: reason,
    tfjs: tfjsVersions(tf),
    batchSize: flags.batchSize,
    steps: flags.steps,
    warmup: flags.warmup,
    cpus: navigator.hardwareConcurrency,
    results,
    extract,
    peer,
  };
  await writeJsonAtomic(flags.out, report);
  console.log(JSON.stringify(report));
}

if (import.meta.main) await main();
