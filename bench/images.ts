/**
 * Images-in benchmark: decode + resize throughput (images/s) of `loadImagesStreaming` on 10,000
 * generated 32×32 JPEGs and on 200 generated 1024×768 JPEGs, next to Pillow doing the same
 * decode + centred crop + area average (`Image.BOX`) in the same run
 * (`bench/peers/images_pillow.py`, in `data/venv` from `bash bench/setup`), medians of several
 * runs; and our peak RSS (VmHWM, in a fresh process each) streaming a 10,000 vs a 20,000 image
 * folder, to show memory stays flat as the folder grows.
 *
 * Fixtures are generated once into `$DEVISE_CACHE_DIR/bench-images/` (photo-like content:
 * gradients, soft shapes, noise; deterministic) and reused. Writes `data/bench/images.json` with a
 * `summary` block (`adaptSummary` in bench/suite.ts reads it).
 *
 * @example
 * ```sh
 * deno run -A bench/images.ts                 # full: 10k + 200 images, 3 runs, peer, RSS
 * deno run -A bench/images.ts --quick         # 2,000 + 50 images
 * deno run -A bench/images.ts --sweep         # try concurrency × libvips threads, print a table
 * ```
 * @module
 */
import sharp from "sharp";
import { join } from "node:path";
import { defaultCacheDir } from "../lib/backend/cache.ts";
import { type FlagSpec, parseFlags } from "../lib/cli/args.ts";
import { runtimeVersions } from "../lib/cli/run.ts";
import { writeFileAtomic, writeJsonAtomic } from "../lib/io/artifact.ts";
import { readJsonOrNull } from "../lib/io/fs.ts";
import { Rng } from "../lib/io/rng.ts";
import { expandImageInputs, type ImageItem, loadImagesStreaming } from "../lib/images/folder.ts";
import { type NativeImageDecoder, tensorflowImageDecoder } from "../lib/images/native.ts";
import { selectBackend } from "../lib/backend/select.ts";
import { formatBytes } from "./suite.ts";
import { median } from "../lib/io/stats.ts";

const spec = {
  quick: { type: "boolean", default: false, help: "smaller workloads (2,000 + 50 images)" },
  runs: { type: "number", default: 3, integer: true, min: 1, help: "timed runs per workload" },
  small: { type: "number", default: 10_000, integer: true, min: 1, help: "32×32 JPEGs" },
  large: { type: "number", default: 200, integer: true, min: 1, help: "1024×768 JPEGs" },
  concurrency: { type: "number", integer: true, min: 1, help: "images in flight (default 4)" },
  threads: { type: "number", integer: true, min: 1, help: "libvips threads per image" },
  peer: { type: "boolean", default: true, help: "run the Pillow peer (--no-peer to skip)" },
  rss: { type: "boolean", default: true, help: "measure peak RSS on 10k vs 2×10k folders" },
  sweep: { type: "boolean", default: false, help: "only try concurrency × threads and print" },
  rssProbe: { type: "string", default: "", help: "(internal) stream DIR once, print VmHWM" },
  cache: { type: "string", default: "", help: "fixture folder (default: cache dir)" },
  python: { type: "string", default: "", help: "python with Pillow (default data/venv)" },
  out: { type: "string", default: "data/bench/images.json", help: "result file" },
} as const satisfies FlagSpec;

const SMALL_SIDE = 32;
const LARGE_WIDTH = 1024, LARGE_HEIGHT = 768;
const JPEG_QUALITY = 90;
const QUICK_SMALL = 2_000, QUICK_LARGE = 50;
const DEFAULT_CONCURRENCY = 4;
/** Fixture layout version: bump when the generator changes. */
const FIXTURE_VERSION = 1;
const FIXTURE_STAMP = ".complete.json";
const PEER_SCRIPT = new URL("./peers/images_pillow.py", import.meta.url).pathname;

/** A photo-like RGB image: two-colour gradient, a few soft discs, fine noise. */
function photoLike(rng: Rng, width: number, height: number): Uint8Array {
  const img = new Uint8Array(width * height * 3);
  const top = [rng.int(256), rng.int(256), rng.int(256)];
  const bottom = [rng.int(256), rng.int(256), rng.int(256)];
  const discs = Array.from({ length: 3 }, () => ({
    x: rng.next() * width,
    y: rng.next() * height,
    r: (0.1 + 0.3 * rng.next()) * Math.min(width, height),
    c: [rng.int(256), rng.int(256), rng.int(256)],
  }));
  const noise = 12;
  for (let y = 0; y < height; y++) {
    const t = y / height;
    for (let x = 0; x < width; x++) {
      let c = top.map((v, k) => v * (1 - t) + bottom[k] * t);
      for (const d of discs) {
        const a = Math.max(0, Math.min(1, (d.r - Math.hypot(x - d.x, y - d.y)) / 4));
        if (a > 0) c = c.map((v, k) => v * (1 - a) + d.c[k] * a);
      }
      const n = (rng.next() - 0.5) * noise;
      img.set(c.map((v) => Math.max(0, Math.min(255, Math.round(v + n)))), (y * width + x) * 3);
    }
  }
  return img;
}

/** A folder of `count` JPEGs of one size, generated once (a stamp file marks it complete). */
async function ensureFixtures(
  dir: string,
  count: number,
  width: number,
  height: number,
  seed: number,
  reuse?: { dir: string; count: number },
): Promise<string> {
  const stamp = { version: FIXTURE_VERSION, count, width, height, seed, quality: JPEG_QUALITY };
  const have = await readJsonOrNull(join(dir, FIXTURE_STAMP));
  if (JSON.stringify(have) === JSON.stringify(stamp)) return dir;
  console.error(`generating ${count} ${width}×${height} JPEGs in ${dir} (once)`);
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  const name = (i: number) => `img_${String(i).padStart(6, "0")}.jpg`;
  let start = 0;
  if (reuse) { // hard links: the first `reuse.count` files are the smaller folder's
    for (; start < reuse.count; start++) {
      await Deno.link(join(reuse.dir, name(start)), join(dir, name(start)));
    }
  }
  for (let i = start; i < count; i++) {
    const rng = new Rng(seed * 1_000_003 + i);
    const jpeg = await sharp(photoLike(rng, width, height), { raw: { width, height, channels: 3 } })
      .jpeg({ quality: JPEG_QUALITY })
      .toBuffer();
    await Deno.writeFile(join(dir, name(i)), jpeg);
  }
  await writeFileAtomic(join(dir, FIXTURE_STAMP), JSON.stringify(stamp));
  return dir;
}

/** Decodes every item once through the streaming loader; images/s. */
async function timeOurs(
  items: ImageItem[],
  concurrency: number,
  native: NativeImageDecoder | undefined,
): Promise<number> {
  const t0 = performance.now();
  let ok = 0;
  for await (const r of loadImagesStreaming(items, { size: SMALL_SIDE, native }, concurrency)) {
    if ("error" in r) throw r.error;
    ok += r.image[0] >= 0 ? 1 : 0;
  }
  return ok / ((performance.now() - t0) / 1000);
}

/** The 1-minute load average (shared machine: recorded next to the figures), or null. */
function loadAverage(): number | null {
  try {
    return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
  } catch {
    return null;
  }
}

/** VmHWM (peak resident set) of this process, bytes; falls back to the current RSS. */
function peakRss(): number {
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    const kib = Number(/VmHWM:\s+(\d+)\s+kB/.exec(status)?.[1]);
    if (kib > 0) return kib * 1024;
  } catch { /* not Linux */ }
  return Deno.memoryUsage().rss;
}

/** RSS samples taken while streaming: this many, evenly spaced over the items. */
const RSS_SAMPLES = 8;

/** Child process mode: stream DIR once and print {images, vmHwm, rssSamples} as JSON. */
async function rssProbe(dir: string, concurrency: number): Promise<void> {
  const { items } = await expandImageInputs([dir], { layout: "plain" });
  const native = tensorflowImageDecoder(
    (await selectBackend("tensorflow", { allowSlow: false })).tf,
  );
  const before = peakRss();
  const every = Math.max(1, Math.floor(items.length / RSS_SAMPLES));
  const rssSamples: number[] = [];
  let done = 0;
  const t0 = performance.now();
  for await (const r of loadImagesStreaming(items, { size: SMALL_SIDE, native }, concurrency)) {
    if ("error" in r) throw r.error;
    if (++done % every === 0) rssSamples.push(Deno.memoryUsage().rss);
  }
  const rate = done / ((performance.now() - t0) / 1000);
  console.log(
    JSON.stringify({ images: done, vmHwmBefore: before, vmHwm: peakRss(), rssSamples, rate }),
  );
}

async function measureRss(dir: string, concurrency: number, threads: number | undefined) {
  const args = ["run", "-A", new URL(import.meta.url).pathname, "--rss-probe", dir];
  args.push("--concurrency", String(concurrency));
  if (threads) args.push("--threads", String(threads));
  const res = await new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr: "inherit" })
    .output();
  if (!res.success) throw new Error(`rss probe of ${dir} failed`);
  return JSON.parse(new TextDecoder().decode(res.stdout)) as {
    images: number;
    vmHwmBefore: number;
    vmHwm: number;
    rssSamples: number[];
    rate: number;
  };
}

interface PeerResult {
  pillow: string;
  imagesPerSec: number[];
  imagesPerSecMedian: number;
  maxRssBytes: number;
  draft: boolean;
  processes: number;
}

async function runPeer(
  python: string,
  dir: string,
  runs: number,
  extra: string[] = [],
): Promise<PeerResult | { skipped: string }> {
  const args = [PEER_SCRIPT, "--folder", dir, "--runs", String(runs), ...extra];
  const res = await new Deno.Command(python, { args, stdout: "piped", stderr: "piped" }).output()
    .catch((err) => ({ success: false, stdout: new Uint8Array(), stderr: String(err) }));
  if (!res.success) {
    const why = typeof res.stderr === "string" ? res.stderr : new TextDecoder().decode(res.stderr);
    return { skipped: `Pillow peer failed: ${why.trim().split("\n").pop()}` };
  }
  return JSON.parse(new TextDecoder().decode(res.stdout));
}

async function findPython(flag: string): Promise<string | null> {
  const candidates = flag ? [flag] : ["data/venv/bin/python", "python3"];
  for (const python of candidates) {
    const probe = await new Deno.Command(python, {
      args: ["-c", "import PIL"],
      stdout: "null",
      stderr: "null",
    }).output().catch(() => null);
    if (probe?.success) return python;
  }
  return null;
}

async function main(): Promise<void> {
  const flags = parseFlags(spec, Deno.args, {
    task: "bench",
    summary: "Benchmark image decode + resize to 32×32 against Pillow (deno run bench/...).",
    examples: ["deno run -A bench/images.ts --quick"],
  });
  const concurrency = flags.concurrency ?? DEFAULT_CONCURRENCY;
  if (flags.threads) sharp.concurrency(flags.threads);
  if (flags.rssProbe) return await rssProbe(flags.rssProbe, concurrency);

  const smallCount = flags.quick ? QUICK_SMALL : flags.small;
  const largeCount = flags.quick ? QUICK_LARGE : flags.large;
  const cache = flags.cache || join(defaultCacheDir(), "bench-images");
  const smallDir = await ensureFixtures(
    join(cache, `small-${smallCount}`),
    smallCount,
    SMALL_SIDE,
    SMALL_SIDE,
    1,
  );
  const largeDir = await ensureFixtures(
    join(cache, `large-${largeCount}`),
    largeCount,
    LARGE_WIDTH,
    LARGE_HEIGHT,
    2,
  );
  const listT0 = performance.now();
  const small = (await expandImageInputs([smallDir])).items;
  const listSeconds = (performance.now() - listT0) / 1000;
  const large = (await expandImageInputs([largeDir])).items;

  if (flags.sweep) {
    console.log("| workload | concurrency | libvips threads | img/s (median) |");
    console.log("| --- | ---: | ---: | ---: |");
    for (const threads of [1, 2]) {
      sharp.concurrency(threads);
      for (const c of [1, 2, 4, 8]) {
        for (const [name, items] of [["32×32", small], ["1024×768", large]] as const) {
          const rates = [];
          for (let r = 0; r < flags.runs; r++) rates.push(await timeOurs(items, c, undefined));
          console.log(`| ${name} | ${c} | ${threads} | ${median(rates).toFixed(0)} |`);
        }
      }
    }
    return;
  }

  const loadAtStart = loadAverage();
  const python = flags.peer ? await findPython(flags.python) : null;
  const peerWhy = !flags.peer
    ? "skipped (--no-peer)"
    : python
    ? undefined
    : "no python with Pillow (run bash bench/setup: data/venv gets pillow)";
  const workloads = [
    { key: "small", name: `${smallCount} × 32×32 JPEG`, dir: smallDir, items: small },
    { key: "large", name: `${largeCount} × 1024×768 JPEG`, dir: largeDir, items: large },
  ];
  // The pipeline's decoders: TensorFlow's for files already at 32×32 (lib/images/native.ts),
  // sharp for the rest; "sharp only" is the same loader without the fast path.
  const { tf } = await selectBackend("tensorflow", { allowSlow: false });
  const native = tensorflowImageDecoder(tf);
  const results: Record<string, unknown>[] = [];
  for (const w of workloads) {
    await timeOurs(w.items.slice(0, 200), concurrency, native); // warm-up: JIT, libvips, cache
    const ours: number[] = [], oursSharpOnly: number[] = [];
    for (let r = 0; r < flags.runs; r++) {
      ours.push(await timeOurs(w.items, concurrency, native));
      if (w.key === "small") oursSharpOnly.push(await timeOurs(w.items, concurrency, undefined));
    }
    const peer = python ? await runPeer(python, w.dir, flags.runs) : { skipped: peerWhy! };
    const peerDraft = python && w.key === "large"
      ? await runPeer(python, w.dir, flags.runs, ["--draft"])
      : null;
    const peerPool = python ? await runPeer(python, w.dir, flags.runs, ["--processes", "2"]) : null;
    console.error(
      `${w.name}: ours ${median(ours).toFixed(0)} img/s (${ours.map((x) => x.toFixed(0))})` +
        (oursSharpOnly.length ? `, sharp only ${median(oursSharpOnly).toFixed(0)}` : "") +
        ("skipped" in peer
          ? `, peer ${peer.skipped}`
          : `, Pillow ${peer.imagesPerSecMedian.toFixed(0)}`) +
        (peerDraft && !("skipped" in peerDraft)
          ? `, Pillow+draft ${peerDraft.imagesPerSecMedian.toFixed(0)}`
          : "") +
        (peerPool && !("skipped" in peerPool)
          ? `, Pillow ×2 processes ${peerPool.imagesPerSecMedian.toFixed(0)}`
          : ""),
    );
    results.push({
      ...w,
      items: w.items.length,
      ours,
      oursSharpOnly,
      peer,
      peerDraft,
      peerPool,
    });
  }

  let rss: Record<string, unknown> | null = null;
  if (flags.rss) {
    const bigCount = 2 * smallCount;
    const bigDir = await ensureFixtures(
      join(cache, `small-${bigCount}`),
      bigCount,
      SMALL_SIDE,
      SMALL_SIDE,
      1,
      { dir: smallDir, count: smallCount },
    );
    const one = await measureRss(smallDir, concurrency, flags.threads);
    const two = await measureRss(bigDir, concurrency, flags.threads);
    rss = { [String(one.images)]: one, [String(two.images)]: two };
    const samples = (r: { rssSamples: number[] }) => r.rssSamples.map(formatBytes).join(" ");
    console.error(
      `peak RSS streaming: ${one.images} images ${formatBytes(one.vmHwm)}, ` +
        `${two.images} images ${formatBytes(two.vmHwm)}; RSS along the way: ` +
        `${samples(one)} | ${samples(two)}`,
    );
  }

  const peakText = (key: string, peer: unknown) => {
    const parts = [];
    if (rss && key === "small") {
      const [a, b] = Object.values(rss) as { images: number; vmHwm: number }[];
      parts.push(
        `ours ${formatBytes(a.vmHwm)} (${a.images}) / ${formatBytes(b.vmHwm)} (${b.images})`,
      );
    }
    const p = peer as { maxRssBytes?: number };
    if (p?.maxRssBytes) parts.push(`peer ${formatBytes(p.maxRssBytes)}`);
    return parts.join(" / ") || undefined;
  };
  const summary = [];
  for (
    const r of results as {
      key: string;
      name: string;
      ours: number[];
      oursSharpOnly: number[];
      peer: PeerResult | { skipped: string };
      peerDraft: PeerResult | { skipped: string } | null;
      peerPool: PeerResult | { skipped: string } | null;
    }[]
  ) {
    const row = (
      peer: PeerResult | { skipped: string },
      label: string,
      note: string,
      ourRates = r.ours,
    ) => {
      const ok = !("skipped" in peer);
      const ours = median(ourRates);
      return {
        measurement: `decode + crop + resize to 32×32, ${r.name} (${label})`,
        unit: "img/s",
        higherIsBetter: true,
        ours,
        peer: ok ? `Pillow ${peer.pillow}` : "Pillow",
        peerValue: ok ? peer.imagesPerSecMedian : null,
        ratio: ok ? ours / peer.imagesPerSecMedian : null,
        peakMemory: peakText(r.key, ok ? peer : null),
        note: ok ? note : `peer unavailable: ${peer.skipped}`,
      };
    };
    const ourSide = `ours: ${concurrency} in flight, libvips threads ${sharp.concurrency()}`;
    summary.push(row(r.peer, "Pillow 1 process", `${ourSide}; Pillow Image.BOX, full decode`));
    if (r.oursSharpOnly.length) {
      summary.push(
        row(
          r.peer,
          "ours sharp only vs Pillow 1 process",
          `${ourSide}; no TF fast path`,
          r.oursSharpOnly,
        ),
      );
    }
    if (r.peerDraft) {
      summary.push(row(r.peerDraft, "Pillow 1 process + draft", `${ourSide}; Pillow draft()`));
    }
    if (r.peerPool) {
      summary.push(row(r.peerPool, "Pillow 2 processes", `${ourSide}; Pillow multiprocessing`));
    }
  }
  const result = {
    bench: "images",
    date: new Date().toISOString(),
    versions: { ...runtimeVersions(), sharp: sharp.versions.sharp, vips: sharp.versions.vips },
    concurrency,
    libvipsThreads: sharp.concurrency(),
    cores: navigator.hardwareConcurrency,
    loadAverage: { start: loadAtStart, end: loadAverage() },
    runs: flags.runs,
    listSeconds,
    workloads: results,
    rss,
    summary,
  };
  await writeJsonAtomic(flags.out, result);
  for (const s of summary) {
    console.log(
      `${s.measurement}: ours ${s.ours.toFixed(0)} ${s.unit}, ${s.peer} ${
        s.peerValue?.toFixed(0) ?? "—"
      }, ratio ${s.ratio?.toFixed(2) ?? "—"}${s.peakMemory ? `, peak ${s.peakMemory}` : ""}`,
    );
  }
  console.error(`wrote ${flags.out}`);
}

if (import.meta.main) {
  await main();
}
