/**
 * Data-layer benchmark: decode CIFAR-100 train (gunzip + validate + planar->NHWC), then batch
 * preparation throughput (normalise only, and normalise + pad/crop/flip) at batch 128, medians of
 * several runs, next to a numpy peer (bench/peers/data_numpy.py) run in the same invocation.
 * Writes data/bench/data.json.
 *
 * @example
 * ```sh
 * deno run -A bench/data.ts --data-dir /work/shared/data
 * ```
 * @module
 */
import { type FlagSpec, parseFlags } from "../lib/cli/args.ts";
import { runtimeVersions } from "../lib/cli/run.ts";
import { batchIndices, normalizeBatch } from "../lib/data/augment.ts";
import { channelStats, loadCifar, resolveDataDir } from "../lib/data/cifar.ts";
import { writeJsonAtomic } from "../lib/io/artifact.ts";
import { Rng } from "../lib/io/rng.ts";
import { median } from "../lib/io/stats.ts";

const spec = {
  dataDir: { type: "string", default: "", help: "data folder (else $DEVISE_DATA_DIR, else data)" },
  batch: { type: "number", default: 128, help: "images per batch" },
  images: { type: "number", default: 50000, help: "images per timed run (50000 = one epoch)" },
  runs: { type: "number", default: 5, help: "timed runs (the median is reported)" },
  decodeRuns: { type: "number", default: 3, help: "decode repetitions (median reported)" },
  peer: { type: "boolean", default: true, help: "also run the numpy peer (--no-peer to skip)" },
  out: { type: "string", default: "data/bench/data.json", help: "result file" },
} as const satisfies FlagSpec;

/** Images/s of preparing `count` images in batches, one value per run. */
function _throughput(
  images: Uint8Array,
  total: number,
  stats: { mean: number[]; std: number[] },
  flags: { batch: number; images: number; runs: number },
  augment: boolean,
): number[] {
  const out = new Float32Array(flags.batch * 3072);
  const rates: number[] = [];
  for (let r = 0; r < flags.runs; r++) {
    const rng = new Rng(1000 + r);
    let done = 0;
    const t0 = performance.now();
    for (const idx of batchIndices(total, flags.batch, rng)) {
      normalizeBatch(images, idx, out, stats.mean, stats.std, augment ? { rng } : null);
      done += idx.length;
      if (done >= flags.images) break;
    }
    rates.push(done / ((performance.now() - t0) / 1000));
  }
  return rates;
}

async function _numpyPeer(
  dataDir: string,
  flags: { batch: number; images: number; runs: number; decodeRuns: number },
) {
  const probe = await new Deno.Command("python3", { args: ["-c", "import numpy"], stderr: "null" })
    .output().catch(() => null);
  if (!probe?.success) return { skipped: "python3 with numpy not available" };
  const script = new URL("./peers/data_numpy.py", import.meta.url).pathname;
  const res = await new Deno.Command("python3", {
    args: [
      script,
      ...["--data-dir", dataDir, "--batch", String(flags.batch), "--images", String(flags.images)],
      ...["--runs", String(flags.runs), "--decode-runs", String(flags.decodeRuns)],
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!res.success) {
    return { skipped: `numpy peer failed: ${new TextDecoder().decode(res.stderr).trim()}` };
  }
  return JSON.parse(new TextDecoder().decode(res.stdout));
}

async function main(): Promise<void> {
  const flags = parseFlags(spec, Deno.args, {
    task: "bench",
    summary:
      "Benchmark CIFAR decode and batch normalise/augment throughput (deno run bench/data.ts).",
    examples: ["deno run -A bench/data.ts --data-dir /work/shared/data"],
  });
  const dataDir = resolveDataDir(flags.dataDir);
  const decodeSeconds: number[] = [];
  let train = null;
  for (let r = 0; r < flags.decodeRuns; r++) {
    train = null; // Let the previous copy go before decoding again.
    const t0 = performance.now();
    train = await loadCifar(dataDir, "cifar100", "train");
    decodeSeconds.push((performance.now() - t0) / 1000);
  }
  const split = train!;
  console.error(`decode: ${split.count} images, median ${median(decodeSeconds).toFixed(2)} s`);
  const stats = channelStats(split.images);
  const normalize = _throughput(split.images, split.count, stats, flags, false);
  const augment = _throughput(split.images, split.count, stats, flags, true);
  console.error(
    `deno: normalise ${median(normalize).toFixed(0)} img/s, ` +
      `normalise+augment ${median(augment).toFixed(0)} img/s`,
  );
  const peer = flags.peer ? await _numpyPeer(dataDir, flags) : { skipped: "--no-peer" };
  const result: Record<string, unknown> = {
    bench: "data",
    date: new Date().toISOString(),
    versions: runtimeVersions(),
    dataDir,
    sha256: split.sha256,
    images: split.count,
    batch: flags.batch,
    imagesPerRun: flags.images,
    runs: flags.runs,
    decodeSecondsMedian: median(decodeSeconds),
    decodeSeconds,
    normalizeImagesPerSecMedian: median(normalize),
    augmentImagesPerSecMedian: median(augment),
    normalizeImagesPerSec: normalize,
    augmentImagesPerSec: augment,
    peer,
  };
  if (!("skipped" in peer)) {
    const bestPeerAugment = Math.max(peer.augmentGatherImagesPerSec, peer.augmentLoopImagesPerSec);
    result.ratios = {
      decodeSpeedupVsNumpy: peer.decodeSecondsMedian / median(decodeSeconds),
      normalizeSpeedupVsNumpy: median(normalize) / peer.normalizeImagesPerSec,
      augmentSpeedupVsBestNumpy: median(augment) / bestPeerAugment,
    };
    console.error(
      `numpy ${peer.numpy}: decode ${peer.decodeSecondsMedian.toFixed(2)} s, normalise ${
        peer.normalizeImagesPerSec.toFixed(0)
      } img/s, augment ${bestPeerAugment.toFixed(0)} img/s (best of gather/loop)`,
    );
    console.error(`ratios (deno / numpy, >1 = deno faster): ${JSON.stringify(result.ratios)}`);
  } else console.error(`numpy peer skipped: ${peer.skipped}`);
  await writeJsonAtomic(flags.out, result);
  console.error(`wrote ${flags.out}`);
}

if (import.meta.main) {
  await main();
}
