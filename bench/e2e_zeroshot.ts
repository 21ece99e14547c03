/**
 * End-to-end zero-shot latency per image: embed one feature row through a DeViSE map
 * (`embed` from lib/devise/train.ts on the tfjs backend) and search an HNSW index of the
 * vocabulary's word vectors (`buildIndex` / `searchIndex` from lib/zeroshot/index.ts, i.e.
 * hnswlib-node, cosine) for the k nearest labels. Synthetic features, M and a clustered synthetic
 * vocabulary, so the figure is pure compute. Also times the batched path (embed all images
 * at once, then search each) and checks recall@k of the HNSW answers against exact search.
 * The peer (bench/peers/zeroshot_py.py) does the same with numpy + Python hnswlib on the same
 * data in the same invocation. Writes data/bench/e2e_zeroshot.json with a `summary` block.
 *
 * @example
 * ```sh
 * deno run -A bench/e2e_zeroshot.ts                  # 1000 images, 50000-word vocabulary
 * deno run -A bench/e2e_zeroshot.ts --quick          # 200 images, 10000 words
 * ```
 * @module
 */
import { join } from "node:path";
import { type FlagSpec, parseFlags } from "../lib/cli/args.ts";
import { runTask, runtimeVersions } from "../lib/cli/run.ts";
import {
  BACKEND_NAMES,
  type BackendName,
  selectBackend,
  tfjsVersions,
} from "../lib/backend/select.ts";
import { DEFAULT_DEVISE_CONFIG, type DeviseModel, embed } from "../lib/devise/train.ts";
import { writeJsonAtomic } from "../lib/io/artifact.ts";
import { Rng } from "../lib/io/rng.ts";
import { exactTopKBatch, recallAtK } from "../lib/zeroshot/exact.ts";
import { buildIndex, searchIndex } from "../lib/zeroshot/index.ts";
import { syntheticVectors } from "../lib/zeroshot/synthetic.ts";
import { median, quantile } from "../lib/io/stats.ts";

const spec = {
  images: { type: "number", default: 1000, help: "query images per run" },
  d: { type: "number", default: 64, help: "feature dimension (ResNet-20 gap = 64)" },
  dims: { type: "number", default: 300, help: "word vector dimension" },
  vocab: { type: "number", default: 50000, help: "words in the index" },
  k: { type: "number", default: 5, help: "labels returned per image" },
  m: { type: "number", default: 16, help: "HNSW M" },
  efConstruction: { type: "number", default: 200, help: "HNSW efConstruction" },
  ef: { type: "number", default: 100, help: "HNSW ef at query time" },
  runs: { type: "number", default: 5, help: "timed passes over the images (median reported)" },
  quick: { type: "boolean", default: false, help: "200 images, 10000 words, 3 runs" },
  backend: { type: "string", default: "auto", choices: BACKEND_NAMES, help: "tfjs backend" },
  python: {
    type: "string",
    default: "python3",
    help: "python with numpy (+ hnswlib) for the peer",
  },
  peer: { type: "boolean", default: true, help: "run the Python peer (--no-peer skips)" },
  out: { type: "string", default: "data/bench/e2e_zeroshot.json", help: "result file" },
} as const satisfies FlagSpec;

async function _peer(
  python: string,
  file: string,
  shape: { images: number; d: number; dims: number; vocab: number },
  opts: { k: number; m: number; efConstruction: number; ef: number; runs: number },
) {
  const script = join(import.meta.dirname ?? "bench", "peers", "zeroshot_py.py");
  const args = [
    script,
    file,
    ...Object.entries({ ...shape, ...opts }).flatMap(([k, v]) => [
      `--${k.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase())}`,
      String(v),
    ]),
  ];
  try {
    const out = await new Deno.Command(python, { args, stdout: "piped", stderr: "piped" }).output();
    if (!out.success) {
      const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-2).join(" | ");
      return { skipped: `peer failed: ${err}` };
    }
    return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
  } catch (err) {
    return { skipped: `${python} not runnable: ${(err as Error).message}` };
  }
}

async function main(): Promise<void> {
  const f = parseFlags(spec, Deno.args, {
    task: "bench e2e_zeroshot",
    summary: "Zero-shot latency per image (DeViSE embed + HNSW label search) vs numpy + hnswlib.",
    examples: ["deno run -A bench/e2e_zeroshot.ts --quick"],
  });
  const images = f.quick ? 200 : f.images, vocab = f.quick ? 10000 : f.vocab;
  const runs = f.quick ? Math.min(f.runs, 3) : f.runs;
  let peakRss = Deno.memoryUsage().rss;
  const sample = setInterval(() => peakRss = Math.max(peakRss, Deno.memoryUsage().rss), 50);
  const { tf, backend, reason } = await selectBackend(f.backend as BackendName, {
    allowSlow: true,
    log: (l) => console.error(l),
  });
  const rng = new Rng(7);
  const features = Float32Array.from({ length: images * f.d }, () => rng.normal());
  const M = Float32Array.from({ length: f.d * f.dims }, () => rng.normal() * 0.1);
  // Word vectors with the local structure of real embeddings (a gaussian mixture, as in
  // bench/hnsw.ts); i.i.d. points on the sphere would be a worst case for HNSW recall.
  const words = syntheticVectors(vocab, f.dims, { seed: 7, clusters: 1000 }).data;
  const model: DeviseModel = {
    M,
    d: f.d,
    dims: f.dims,
    mean: null,
    std: null,
    config: DEFAULT_DEVISE_CONFIG,
  };

  // One insert thread, as the peer: the same seed then gives the same graph on both sides (a
  // threaded build inserts in another order, and its graph searches at another cost).
  const index = await buildIndex({ dim: f.dims, data: words }, {
    m: f.m,
    efConstruction: f.efConstruction,
    seed: 100,
    threads: 1,
  });
  const buildSeconds = index.buildSeconds;
  console.error(`HNSW index of ${vocab}×${f.dims}: built in ${buildSeconds.toFixed(1)} s`);

  // Warm-up: the first embed compiles kernels / allocates.
  embed(tf, model, features.subarray(0, f.d));
  const perImageMs: number[] = [], batchedMs: number[] = [];
  let found: number[][] = [];
  for (let r = 0; r < runs; r++) {
    const times: number[] = [];
    found = [];
    for (let i = 0; i < images; i++) {
      const s = performance.now();
      const e = embed(tf, model, features.subarray(i * f.d, (i + 1) * f.d));
      found.push(searchIndex(index, e, f.k, f.ef).ids);
      times.push(performance.now() - s);
    }
    perImageMs.push(median(times));
    // Batched: one embed call for all images (amortised) + the median single search.
    const s = performance.now();
    const all = embed(tf, model, features);
    const embedMsPerImage = (performance.now() - s) / images;
    const searchMs: number[] = [];
    for (let i = 0; i < images; i++) {
      const q = performance.now();
      searchIndex(index, all.subarray(i * f.dims, (i + 1) * f.dims), f.k, f.ef);
      searchMs.push(performance.now() - q);
    }
    batchedMs.push(embedMsPerImage + median(searchMs));
    console.error(
      `run ${r + 1}: per image ${perImageMs.at(-1)!.toFixed(3)} ms (median), ` +
        `batched ${batchedMs.at(-1)!.toFixed(3)} ms/image`,
    );
  }
  const emb = embed(tf, model, features);
  const truth = exactTopKBatch({ dim: f.dims, data: words }, emb, f.k);
  const recall = recallAtK(truth, found, f.k);
  clearInterval(sample);
  peakRss = Math.max(peakRss, Deno.memoryUsage().rss);

  let peer: Record<string, unknown> = { skipped: "--no-peer" };
  if (f.peer) {
    const tmp = await Deno.makeTempFile({ prefix: "e2e-zeroshot-", suffix: ".f32" });
    const all = new Float32Array(features.length + M.length + words.length);
    all.set(features);
    all.set(M, features.length);
    all.set(words, features.length + M.length);
    await Deno.writeFile(tmp, new Uint8Array(all.buffer));
    console.error(`running the Python peer (${f.python}) ...`);
    peer = await _peer(f.python, tmp, { images, d: f.d, dims: f.dims, vocab }, {
      k: f.k,
      m: f.m,
      efConstruction: f.efConstruction,
      ef: f.ef,
      runs,
    });
    await Deno.remove(tmp);
  }
  const ours = {
    perImageMsMedian: median(perImageMs),
    perImageMs,
    perImageMsP95LastRun: quantile(perImageMs, 0.95),
    batchedMsPerImageMedian: median(batchedMs),
    batchedMsPerImage: batchedMs,
    buildSeconds,
    recallAtK: recall,
    peakRssBytes: peakRss,
  };
  const p = peer as Record<string, number | undefined>;
  const peerName = "skipped" in peer ? "numpy + hnswlib (Python)" : `${p.name}`;
  const note = "skipped" in peer ? `peer unavailable: ${peer.skipped}` : undefined;
  const mem = (b: unknown) => typeof b === "number" ? `${(b / 2 ** 20).toFixed(0)} MiB` : "?";
  const peakMemory = `ours ${mem(peakRss)} / peer ${mem(p.maxRssBytes)}`;
  const shape = `${vocab} words × ${f.dims}, d ${f.d}, k ${f.k}, ef ${f.ef}`;
  const summary = [
    {
      measurement: `zero-shot per image, batch 1: embed + HNSW search (${shape})`,
      unit: "ms",
      higherIsBetter: false,
      ours: ours.perImageMsMedian,
      peer: peerName,
      peerValue: p.perImageMsMedian ?? null,
      peakMemory,
      note: note ??
        `recall@${f.k} vs exact: ours ${recall.toFixed(3)}, peer ${
          typeof p.recallAtK === "number" ? p.recallAtK.toFixed(3) : "?"
        }`,
    },
    {
      measurement: `zero-shot per image, batched embed of ${images} + search each`,
      unit: "ms",
      higherIsBetter: false,
      ours: ours.batchedMsPerImageMedian,
      peer: peerName,
      peerValue: p.batchedMsPerImageMedian ?? null,
      peakMemory,
      note,
    },
    {
      measurement: `HNSW build, M ${f.m}, efConstruction ${f.efConstruction} (${shape})`,
      unit: "s",
      higherIsBetter: false,
      ours: buildSeconds,
      peer: peerName,
      peerValue: p.buildSeconds ?? null,
      note: note ?? "one build (not a median); both single-threaded",
    },
  ];
  const report = {
    bench: "e2e_zeroshot",
    date: new Date().toISOString(),
    backend,
    backendReason: reason,
    versions: { ...runtimeVersions(), ...tfjsVersions(tf), "hnswlib-node": "3.0.0" },
    loadAverage: Deno.loadavg(),
    shape: { images, d: f.d, dims: f.dims, vocab, k: f.k, m: f.m, ef: f.ef },
    efConstruction: f.efConstruction,
    runs,
    ours,
    peer,
    summary,
  };
  await writeJsonAtomic(f.out, report);
  console.error(
    `ours: ${ours.perImageMsMedian.toFixed(3)} ms/image (batch 1), ` +
      `${ours.batchedMsPerImageMedian.toFixed(3)} ms/image batched, recall@${f.k} ${
        recall.toFixed(3)
      }; peer: ${
        "skipped" in peer
          ? peer.skipped
          : `${Number(p.perImageMsMedian).toFixed(3)} ms/image, ${
            Number(p.batchedMsPerImageMedian).toFixed(3)
          } batched`
      }`,
  );
  console.error(`wrote ${f.out}`);
}

if (import.meta.main) await runTask(main);
