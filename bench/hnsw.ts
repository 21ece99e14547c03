/**
 * HNSW benchmark: seeded synthetic unit vectors (uniform on the sphere: the hard case; and a
 * gaussian mixture, which has the local structure of word vectors), measuring for the project's
 * index (`lib/zeroshot/index.ts`, hnswlib-node): build seconds (single thread unless --shards),
 * index bytes, and per ef the recall@10 against exact search and single-threaded queries/s
 * (median of --repeats passes). Peers in the same run: the project's exact brute force
 * (`exactTopKBatch`, queries/s on a sample) and hnswlib's Python binding (same M, efC, data,
 * queries; single-threaded build unless --peer-threads).
 *
 * Ground truth for all queries comes from hnswlib's `BruteforceSearch` (a C++ linear scan),
 * cross-checked against the project's exact search on the sampled queries.
 * Queries are held-out draws from the same generator (not rows of the index).
 *
 * ```sh
 * deno run -A bench/hnsw.ts --n 1000000 --kinds clustered,uniform     # writes data/bench/hnsw.json
 * deno run -A bench/hnsw.ts --n 100000 --ef 50,100,200,400            # writes hnsw-n100000.json
 * ```
 * @module
 */
import { join } from "node:path";
import { parseFlags } from "../lib/cli/args.ts";
import { Progress } from "../lib/cli/progress.ts";
import { runTask } from "../lib/cli/run.ts";
import { writeJsonAtomic } from "../lib/io/artifact.ts";
import { loadHnswlib } from "../lib/backend/hnswlib.ts";
import { buildIndex, searchIndex, writeIndex } from "../lib/zeroshot/index.ts";
import { exactTopKBatch, type Neighbors, recallAtK } from "../lib/zeroshot/exact.ts";
import { syntheticVectors } from "../lib/zeroshot/synthetic.ts";
import { median } from "../lib/io/stats.ts";

const spec = {
  n: { type: "number", default: 1_000_000, help: "vectors in the index" },
  dim: { type: "number", default: 300, help: "dimensions" },
  kinds: { type: "list", default: ["clustered", "uniform"], help: "data sets: clustered|uniform" },
  clusters: { type: "number", default: 1000, help: "mixture components for 'clustered'" },
  m: { type: "number", default: 16, help: "HNSW M" },
  efConstruction: { type: "number", default: 200, help: "HNSW efConstruction" },
  ef: { type: "list", default: ["50", "100", "200", "400", "800"], help: "search ef sweep" },
  shards: { type: "number", default: 1, help: "build shards in parallel Workers" },
  queries: { type: "number", default: 1000, help: "recall/throughput queries" },
  exactQueries: { type: "number", default: 20, help: "queries timed on the JS exact search" },
  repeats: { type: "number", default: 3, help: "timed passes per ef (median reported)" },
  peer: { type: "boolean", default: true, help: "run hnswlib's Python binding as peer" },
  peerThreads: { type: "number", default: 1, help: "build threads for the Python peer" },
  seed: { type: "number", default: 1, help: "data seed" },
  out: { type: "string", default: "", help: "output JSON (default data/bench/hnsw[-n<N>].json)" },
} as const;

const TARGET_RECALL = 0.98;
const TARGET_QPS = 2000;

async function main() {
  const flags = parseFlags(spec, Deno.args, {
    task: "bench hnsw",
    summary: "Benchmark the HNSW index on synthetic vectors against exact search and hnswlib (py).",
    examples: ["deno run -A bench/hnsw.ts --n 100000 --kinds clustered"],
  });
  const out = flags.out ||
    join("data", "bench", flags.n === 1_000_000 ? "hnsw.json" : `hnsw-n${flags.n}.json`);
  const efs = flags.ef.map(Number);
  const results = [];
  for (const kind of flags.kinds) {
    if (kind !== "clustered" && kind !== "uniform") throw new Error(`unknown kind '${kind}'`);
    results.push(await _benchKind(kind, flags, efs));
    await writeJsonAtomic(out, _report(flags, results)); // partial results survive a kill
  }
  console.error(`wrote ${out}`);
}

async function _benchKind(
  kind: "clustered" | "uniform",
  flags: ReturnType<typeof parseFlags<typeof spec>>,
  efs: number[],
) {
  const { n, dim } = flags;
  const log = (s: string) => console.error(`[${kind} ${n}x${dim}] ${s}`);
  let t = performance.now();
  // Generate n + queries rows in one stream and hold the last ones out as queries.
  const all = syntheticVectors(n + flags.queries, dim, {
    seed: flags.seed,
    clusters: kind === "clustered" ? flags.clusters : 0,
  });
  const vectors = { dim, data: all.data.subarray(0, n * dim) };
  const queries = all.data.slice(n * dim);
  log(`generated in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  const truth = await _bruteforceTruth(vectors, queries, 10, log);
  const sample = Math.min(flags.exactQueries, flags.queries);
  t = performance.now();
  const exact = exactTopKBatch(vectors, queries.subarray(0, sample * dim), 10);
  const exactQps = sample / ((performance.now() - t) / 1000);
  const agree = recallAtK(truth.slice(0, sample), exact.map((e) => e.ids), 10);
  log(`JS exact: ${exactQps.toFixed(1)} q/s, agreement with C++ brute force ${agree}`);

  const bar = new Progress(`build ${kind}`, n, { unit: "vec" });
  const index = await buildIndex(vectors, {
    m: flags.m,
    efConstruction: flags.efConstruction,
    shards: flags.shards,
    onProgress: (done) => bar.tick(done - bar.count),
  });
  bar.done();
  log(`built in ${index.buildSeconds.toFixed(1)} s (${(n / index.buildSeconds).toFixed(0)} vec/s)`);
  const tmp = await Deno.makeTempDir({ prefix: "devise-bench-hnsw-" });
  try {
    const indexBytes = await writeIndex(index, join(tmp, "index.bin"), `synthetic:${kind}`);
    const sweep = efs.map((ef) => {
      const qps: number[] = [];
      let found: number[][] = [];
      for (let r = 0; r < flags.repeats; r++) {
        found = [];
        const startMs = performance.now();
        for (let q = 0; q < flags.queries; q++) {
          found.push(searchIndex(index, queries.subarray(q * dim, (q + 1) * dim), 10, ef).ids);
        }
        qps.push(flags.queries / ((performance.now() - startMs) / 1000));
      }
      const row = { ef, recallAt10: recallAtK(truth, found, 10), queriesPerSecond: median(qps) };
      log(
        `ef ${ef}: recall@10 ${row.recallAt10.toFixed(4)}, ${row.queriesPerSecond.toFixed(0)} q/s`,
      );
      return row;
    });
    const chosen = sweep.find((s) => s.recallAt10 >= TARGET_RECALL) ?? null;
    const peer = flags.peer
      ? await _pythonPeer(tmp, vectors, queries, truth, flags, efs, log)
      : null;
    return {
      kind,
      n,
      dim,
      clusters: kind === "clustered" ? flags.clusters : 0,
      m: flags.m,
      efConstruction: flags.efConstruction,
      shards: index.shards.length,
      buildSeconds: index.buildSeconds,
      indexBytes,
      sweep,
      chosenEf: chosen?.ef ?? null,
      meetsTargets: chosen !== null && chosen.queriesPerSecond >= TARGET_QPS,
      exactJs: { queriesPerSecond: exactQps, sampledQueries: sample, agreementAt10: agree },
      peer,
    };
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

// Exact top-k with hnswlib's C++ linear scan (much faster than JS for 1000 x 1M x 300).
async function _bruteforceTruth(
  vectors: { dim: number; data: Float32Array },
  queries: Float32Array,
  k: number,
  log: (s: string) => void,
): Promise<Neighbors[]> {
  const t = performance.now();
  const hnswlib = await loadHnswlib();
  const { dim, data } = vectors;
  const n = data.length / dim;
  const brute = new hnswlib.BruteforceSearch("cosine", dim);
  brute.initIndex(n);
  const row: number[] = new Array(dim).fill(0);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < dim; j++) row[j] = data[i * dim + j];
    brute.addPoint(row, i);
  }
  const truth: Neighbors[] = [];
  for (let q = 0; q < queries.length / dim; q++) {
    for (let j = 0; j < dim; j++) row[j] = queries[q * dim + j];
    const r = brute.searchKnn(row, k);
    truth.push({ ids: r.neighbors, distances: r.distances });
  }
  log(`ground truth (C++ brute force) in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  return truth;
}

async function _pythonPeer(
  tmp: string,
  vectors: { dim: number; data: Float32Array },
  queries: Float32Array,
  truth: Neighbors[],
  flags: ReturnType<typeof parseFlags<typeof spec>>,
  efs: number[],
  log: (s: string) => void,
) {
  const files = {
    data: join(tmp, "data.f32"),
    queries: join(tmp, "q.f32"),
    truth: join(tmp, "t.i32"),
  };
  await Deno.writeFile(
    files.data,
    new Uint8Array(vectors.data.buffer, vectors.data.byteOffset, vectors.data.byteLength),
  );
  await Deno.writeFile(
    files.queries,
    new Uint8Array(queries.buffer, queries.byteOffset, queries.byteLength),
  );
  const ids = new Int32Array(truth.flatMap((t) => t.ids));
  await Deno.writeFile(files.truth, new Uint8Array(ids.buffer));
  const script = new URL("./peers/hnswlib_py.py", import.meta.url).pathname;
  const args = [
    script,
    "--data",
    files.data,
    "--queries",
    files.queries,
    "--truth",
    files.truth,
    "--dim",
    String(vectors.dim),
    "--m",
    String(flags.m),
    "--ef-construction",
    String(flags.efConstruction),
    "--ef",
    efs.join(","),
    "--threads",
    String(flags.peerThreads),
  ];
  try {
    const r = await new Deno.Command("python3", { args, stdout: "piped", stderr: "piped" })
      .output();
    await Deno.remove(files.data);
    if (!r.success) {
      const why = new TextDecoder().decode(r.stderr).trim().split("\n").slice(-3).join(" ");
      log(`python peer failed: ${why}`);
      return { error: why };
    }
    const peer = JSON.parse(new TextDecoder().decode(r.stdout));
    log(
      `python peer: build ${peer.buildSeconds.toFixed(1)} s; ` +
        peer.sweep.map((s: { ef: number; recallAt10: number; queriesPerSecond: number }) =>
          `ef ${s.ef}: ${s.recallAt10.toFixed(4)} @ ${s.queriesPerSecond.toFixed(0)} q/s`
        ).join(", "),
    );
    return peer;
  } catch (err) {
    log(`python peer not run: ${(err as Error).message}`);
    return { error: (err as Error).message };
  }
}

function _report(flags: Record<string, unknown>, results: unknown[]) {
  return {
    bench: "hnsw",
    date: new Date().toISOString(),
    deno: Deno.version.deno,
    cpus: navigator.hardwareConcurrency,
    loadAverage: Deno.loadavg(),
    targets: { recallAt10: TARGET_RECALL, queriesPerSecond: TARGET_QPS },
    flags,
    queries: "held-out draws from the same generator; truth = C++ brute force (cosine)",
    results,
  };
}

if (import.meta.main) runTask(main);
