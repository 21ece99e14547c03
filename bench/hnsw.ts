/**
 * HNSW benchmark of the project's index (`buildIndex` / `searchIndex`, lib/zeroshot/index.ts) on
 * seeded synthetic unit vectors: uniform on the sphere (the hard case) and a gaussian mixture
 * (the local structure of word vectors). Per kind: one build on `--threads` threads (hnswlib's
 * native threaded `addPoints`), its seconds and index bytes, and per `--ef` the recall@10 against
 * exact search and single-threaded queries/s (median of --repeats passes). At the chosen ef (the
 * smallest reaching recall 0.98, else the largest) it also times `searchKnn` through a JS Array
 * copy (what the Float32Array path saves), with `--single` a one-thread build (the
 * threaded/single ratio), and with `--small-pages` a build without the huge-page advice.
 *
 * Peers in the same run: the project's exact brute force (`exactTopKBatch`, queries/s on a
 * sample) and hnswlib's Python binding (bench/peers/hnswlib_py.py: same M, efC, seed, data,
 * queries; `add_items` on `--peer-threads` threads, default `--threads`). Ground truth comes from
 * hnswlib's `BruteforceSearch` (a C++ linear scan), cross-checked against the exact search on the
 * sample. Queries are held-out draws from the same generator (not rows of the index). The JSON
 * has a `summary` block (rows for bench/suite.ts) and per kind the full sweep.
 *
 * ```sh
 * deno run -A bench/hnsw.ts --n 1000000 --kinds clustered          # writes data/bench/hnsw.json
 * deno run -A bench/hnsw.ts --n 100000 --ef 50,100,200,400 --single # writes hnsw-n100000.json
 * ```
 * @module
 */
import { join } from "node:path";
import { parseFlags } from "../lib/cli/args.ts";
import { Progress } from "../lib/cli/progress.ts";
import { runTask } from "../lib/cli/run.ts";
import { writeJsonAtomic } from "../lib/io/artifact.ts";
import { hasNativeExtension, loadHnswlib } from "../lib/backend/hnswlib.ts";
import { buildIndex, type HnswIndex, searchIndex, writeIndex } from "../lib/zeroshot/index.ts";
import { exactTopKBatch, type Neighbors, recallAtK } from "../lib/zeroshot/exact.ts";
import { syntheticVectors } from "../lib/zeroshot/synthetic.ts";
import { median } from "../lib/io/stats.ts";

const spec = {
  n: { type: "number", default: 1_000_000, integer: true, min: 1, help: "vectors in the index" },
  dim: { type: "number", default: 300, integer: true, min: 1, help: "dimensions" },
  kinds: {
    type: "list",
    default: ["clustered", "uniform"],
    choices: ["clustered", "uniform"],
    help: "data sets",
  },
  clusters: { type: "number", default: 1000, help: "mixture components for 'clustered'" },
  m: { type: "number", default: 32, help: "HNSW M" },
  efConstruction: { type: "number", default: 200, help: "HNSW efConstruction" },
  ef: { type: "list", default: ["50", "100", "200", "400", "800"], help: "search ef sweep" },
  threads: {
    type: "number",
    default: navigator.hardwareConcurrency,
    integer: true,
    min: 1,
    help: "buildIndex insert threads (the default is this machine's core count)",
  },
  single: { type: "boolean", default: false, help: "also build on one thread (threaded/single)" },
  smallPages: {
    type: "boolean",
    default: false,
    help: "also build without the huge-page advice (4 KiB pages): what huge pages save",
  },
  queries: { type: "number", default: 1000, help: "recall/throughput queries" },
  exactQueries: { type: "number", default: 20, help: "queries timed on the JS exact search" },
  repeats: { type: "number", default: 3, help: "timed passes per ef (median reported)" },
  peer: { type: "boolean", default: true, help: "run hnswlib's Python binding as peer" },
  peerThreads: {
    type: "number",
    help: "add_items threads for the Python peer (default --threads)",
  },
  seed: { type: "number", default: 1, help: "data seed" },
  out: { type: "string", default: "", help: "output JSON (default data/bench/hnsw[-n<N>].json)" },
} as const;

type _Flags = ReturnType<typeof parseFlags<typeof spec>>;
type _Log = (s: string) => void;
type _Vectors = { dim: number; data: Float32Array };

const TARGET_RECALL = 0.98;
const TARGET_QPS = 2000;
/** Level-assignment seed of every build (buildIndex's default; the Python peer's too). */
const INDEX_SEED = 100;

/** One ef of a sweep. */
interface SweepRow {
  ef: number;
  recallAt10: number;
  queriesPerSecond: number;
}

/** The Python peer's JSON (bench/peers/hnswlib_py.py), or why it did not run. */
type PeerResult =
  | { peer: string; buildThreads: number; buildSeconds: number; sweep: SweepRow[] }
  | { error: string };

/** One kind's measurements. */
interface KindResult {
  kind: string;
  n: number;
  dim: number;
  clusters: number;
  m: number;
  efConstruction: number;
  threads: number;
  buildSeconds: number;
  indexBytes: number;
  /** 1/5/15-minute load averages when the build finished (the cores are shared). */
  loadAverage: number[];
  sweep: SweepRow[];
  /** Smallest swept ef with recall@10 >= the target, else null. */
  chosenEf: number | null;
  meetsTargets: boolean;
  /** At the chosen ef (else the largest), timed back to back: `searchIndex` again, then
   * `searchKnn` through a JS Array copy. */
  arraySearch: { float32: SweepRow; array: SweepRow };
  /** --single: a threads=1 build, searched at the same ef. */
  single: { buildSeconds: number; loadAverage: number[]; at: SweepRow } | null;
  /** Bytes advised for huge pages, and the process's AnonHugePages after the build (Linux). */
  hugePages: { advisedBytes: number; anonHugeBytes: number | null };
  /** --small-pages: a build without the advice, searched at the same ef. */
  smallPages: { buildSeconds: number; anonHugeBytes: number | null; at: SweepRow } | null;
  exactJs: { queriesPerSecond: number; sampledQueries: number; agreementAt10: number };
  /** null: --no-peer. */
  peer: PeerResult | null;
}

async function main() {
  const flags = parseFlags(spec, Deno.args, {
    task: "bench hnsw",
    summary: "Benchmark the HNSW index on synthetic vectors against exact search and hnswlib (py).",
    examples: [
      "deno run -A bench/hnsw.ts --n 100000 --kinds clustered",
      "deno run -A bench/hnsw.ts --n 1000000 --kinds clustered --single",
    ],
  });
  const out = flags.out ||
    join("data", "bench", flags.n === 1_000_000 ? "hnsw.json" : `hnsw-n${flags.n}.json`);
  const efs = flags.ef.map(Number);
  const results: KindResult[] = [];
  for (const kind of flags.kinds) {
    results.push(await _benchKind(kind, flags, efs));
    await writeJsonAtomic(out, _report(flags, results)); // partial results survive a kill
  }
  console.error(`wrote ${out}`);
}

async function _benchKind(kind: string, flags: _Flags, efs: number[]): Promise<KindResult> {
  const { n, dim } = flags;
  const log = (s: string) => console.error(`[${kind} ${n}x${dim}] ${s}`);
  let t = performance.now();
  // Generate n + queries rows in one stream and hold the last ones out as queries.
  const clusters = kind === "clustered" ? flags.clusters : 0;
  const all = syntheticVectors(n + flags.queries, dim, { seed: flags.seed, clusters });
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

  const tmp = await Deno.makeTempDir({ prefix: "devise-bench-hnsw-" });
  try {
    const { index, loadAverage, anonHugeBytes } = await _build(
      kind,
      vectors,
      flags,
      flags.threads,
      log,
    );
    const indexBytes = await writeIndex(index, join(tmp, "index.bin"), "synthetic");
    const indexSearch = (ef: number) => (q: Float32Array) => searchIndex(index, q, 10, ef).ids;
    const sweep = _sweep(queries, dim, truth, flags, efs, indexSearch, log);
    const chosenEf = sweep.find((s) => s.recallAt10 >= TARGET_RECALL)?.ef ?? null;
    const chosen = sweep.find((s) => s.ef === chosenEf) ?? null;
    const ef = chosenEf ?? efs.at(-1)!;
    // What the Float32Array search saves: the same index, searched through a JS Array copy,
    // timed right after searchIndex again (the load on shared cores drifts within a run).
    const [float32] = _sweep(queries, dim, truth, flags, [ef], indexSearch, () => {});
    const row: number[] = new Array(dim).fill(0);
    const arraySearch = (e: number) => {
      if (index.hnsw.getEf() !== e) index.hnsw.setEf(e);
      return (q: Float32Array) => {
        for (let j = 0; j < dim; j++) row[j] = q[j];
        return index.hnsw.searchKnn(row, Math.min(10, n)).neighbors;
      };
    };
    const f32 = `searchIndex ${float32.queriesPerSecond.toFixed(0)} q/s`;
    const [array] = _sweep(
      queries,
      dim,
      truth,
      flags,
      [ef],
      arraySearch,
      (s) => log(`searchKnn, JS Array copy: ${s} (${f32})`),
    );
    let single: KindResult["single"] = null;
    if (flags.single && index.threads > 1) {
      const one = await _build(kind, vectors, flags, 1, log);
      const search = (e: number) => (q: Float32Array) => searchIndex(one.index, q, 10, e).ids;
      const [at] = _sweep(queries, dim, truth, flags, [ef], search, (s) => log(`1 thread: ${s}`));
      single = { buildSeconds: one.index.buildSeconds, loadAverage: one.loadAverage, at };
    }
    let smallPages: KindResult["smallPages"] = null;
    if (flags.smallPages) {
      const small = await _build(kind, vectors, flags, flags.threads, log, false);
      const search = (e: number) => (q: Float32Array) => searchIndex(small.index, q, 10, e).ids;
      const [at] = _sweep(queries, dim, truth, flags, [ef], search, (s) => log(`4 KiB: ${s}`));
      smallPages = {
        buildSeconds: small.index.buildSeconds,
        anonHugeBytes: small.anonHugeBytes,
        at,
      };
    }
    const peer = flags.peer
      ? await _pythonPeer(tmp, vectors, queries, truth, flags, efs, log)
      : null;
    return {
      kind,
      n,
      dim,
      clusters,
      m: flags.m,
      efConstruction: flags.efConstruction,
      threads: index.threads,
      buildSeconds: index.buildSeconds,
      indexBytes,
      loadAverage,
      sweep,
      chosenEf,
      meetsTargets: chosen !== null && chosen.queriesPerSecond >= TARGET_QPS,
      arraySearch: { float32, array },
      single,
      hugePages: { advisedBytes: index.hugePageBytes, anonHugeBytes },
      smallPages,
      exactJs: { queriesPerSecond: exactQps, sampledQueries: sample, agreementAt10: agree },
      peer,
    };
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

// The project's build: buildIndex on `threads` insert threads.
async function _build(
  kind: string,
  vectors: _Vectors,
  flags: _Flags,
  threads: number,
  log: _Log,
  hugePages = true,
) {
  const n = vectors.data.length / vectors.dim;
  const pages = hugePages ? "" : ", 4 KiB pages";
  const bar = new Progress(`build ${kind}, ${threads} thread(s)${pages}`, n, { unit: "vec" });
  const index: HnswIndex = await buildIndex(vectors, {
    m: flags.m,
    efConstruction: flags.efConstruction,
    seed: INDEX_SEED,
    threads,
    hugePages,
    onProgress: (done) => bar.tick(done - bar.count),
  });
  bar.done();
  const loadAverage = Deno.loadavg();
  const anonHugeBytes = _anonHugePageBytes();
  if (!hasNativeExtension(index.hnsw)) log("WARNING: the addon lacks addPoints: one-point inserts");
  const huge = anonHugeBytes === null ? "" : `; process AnonHugePages ${_mib(anonHugeBytes)} MiB`;
  log(
    `buildIndex (${index.threads} thread(s)${pages}): ${index.buildSeconds.toFixed(1)} s ` +
      `(${(n / index.buildSeconds).toFixed(0)} vec/s; advised ${
        _mib(index.hugePageBytes)
      } MiB${huge})`,
  );
  return { index, loadAverage, anonHugeBytes };
}

const _mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);

// The process's transparent huge pages in use (Linux /proc; null elsewhere).
function _anonHugePageBytes(): number | null {
  try {
    const text = Deno.readTextFileSync("/proc/self/smaps_rollup");
    const kb = /^AnonHugePages:\s+(\d+) kB$/m.exec(text)?.[1];
    return kb === undefined ? null : Number(kb) * 1024;
  } catch {
    return null;
  }
}

// Per ef: recall@10 of the last pass and the median q/s of --repeats single-threaded passes,
// after an untimed warm-up of 100 queries (the first ef would otherwise pay for a cold JIT).
function _sweep(
  queries: Float32Array,
  dim: number,
  truth: Neighbors[],
  flags: _Flags,
  efs: number[],
  searcher: (ef: number) => (query: Float32Array) => number[],
  log: _Log,
): SweepRow[] {
  return efs.map((ef) => {
    const search = searcher(ef);
    for (let q = 0; q < Math.min(100, flags.queries); q++) {
      search(queries.subarray(q * dim, (q + 1) * dim));
    }
    const qps: number[] = [];
    let found: number[][] = [];
    for (let r = 0; r < flags.repeats; r++) {
      found = [];
      const startMs = performance.now();
      for (let q = 0; q < flags.queries; q++) {
        found.push(search(queries.subarray(q * dim, (q + 1) * dim)));
      }
      qps.push(flags.queries / ((performance.now() - startMs) / 1000));
    }
    const row = { ef, recallAt10: recallAtK(truth, found, 10), queriesPerSecond: median(qps) };
    log(`ef ${ef}: recall@10 ${row.recallAt10.toFixed(4)}, ${row.queriesPerSecond.toFixed(0)} q/s`);
    return row;
  });
}

// Exact top-k with hnswlib's C++ linear scan (much faster than JS for 1000 x 1M x 300).
async function _bruteforceTruth(
  vectors: _Vectors,
  queries: Float32Array,
  k: number,
  log: _Log,
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
  vectors: _Vectors,
  queries: Float32Array,
  truth: Neighbors[],
  flags: _Flags,
  efs: number[],
  log: _Log,
): Promise<PeerResult> {
  const bytes = (a: Float32Array | Int32Array) =>
    new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const files = { data: join(tmp, "data.f32"), queries: join(tmp, "q.f32"), truth: join(tmp, "t") };
  await Deno.writeFile(files.data, bytes(vectors.data));
  await Deno.writeFile(files.queries, bytes(queries));
  await Deno.writeFile(files.truth, bytes(new Int32Array(truth.flatMap((t) => t.ids))));
  const args = [
    new URL("./peers/hnswlib_py.py", import.meta.url).pathname,
    ...["--data", files.data, "--queries", files.queries, "--truth", files.truth],
    ...["--dim", String(vectors.dim), "--m", String(flags.m)],
    ...["--ef-construction", String(flags.efConstruction), "--seed", String(INDEX_SEED)],
    ...["--ef", efs.join(","), "--threads", String(flags.peerThreads ?? flags.threads)],
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
    const peer = { ...JSON.parse(new TextDecoder().decode(r.stdout)), loadAverage: Deno.loadavg() };
    log(
      `python peer: build ${peer.buildSeconds.toFixed(1)} s (${peer.buildThreads} threads); ` +
        peer.sweep.map((s: SweepRow) =>
          `ef ${s.ef}: ${s.recallAt10.toFixed(4)} @ ${s.queriesPerSecond.toFixed(0)} q/s`
        ).join(", "),
    );
    return peer;
  } catch (err) {
    log(`python peer not run: ${(err as Error).message}`);
    return { error: (err as Error).message };
  }
}

/** A row of the `summary` block (the shape bench/suite.ts `adaptSummary` reads). */
interface SummaryRow {
  measurement: string;
  unit: string;
  higherIsBetter: boolean;
  ours: number | null;
  peer: string | null;
  peerValue: number | null;
  ratio: number | null;
  note?: string;
}

function _row(r: Omit<SummaryRow, "ratio">, speed = true): SummaryRow {
  const { ours, peerValue: p, higherIsBetter } = r;
  const ratio = !speed || ours === null || p === null || !(ours > 0) || !(p > 0)
    ? null
    : higherIsBetter
    ? ours / p
    : p / ours;
  return { ...r, ratio };
}

const _fmt = (x: number | null | undefined, digits = 4) =>
  typeof x === "number" && Number.isFinite(x) ? x.toFixed(digits) : "?";

/** The `summary` rows per kind: build and queries against the Python peer, then our own. */
function _summary(results: KindResult[]): SummaryRow[] {
  const rows: SummaryRow[] = [];
  for (const r of results) {
    const shape = `${r.kind} ${r.n}×${r.dim}, M ${r.m}, efC ${r.efConstruction}`;
    const peer = r.peer && !("error" in r.peer) ? r.peer : null;
    const why = r.peer && "error" in r.peer
      ? `peer unavailable: ${String(r.peer.error).slice(0, 120)}`
      : "";
    const peerName = r.peer === null ? "none (--no-peer)" : peer?.peer ?? "hnswlib (Python)";
    const ours = r.sweep.find((s) => s.ef === r.chosenEf) ?? r.sweep.at(-1)!;
    const theirs = peer?.sweep.find((s) => s.ef === ours.ef);
    const recalls = `recall@10 at ef ${ours.ef}: ours ${_fmt(ours.recallAt10)}, peer ` +
      _fmt(theirs?.recallAt10);
    const built = `buildIndex, ${r.threads} thread(s)`;
    rows.push(_row({
      measurement: `HNSW build, ${built} (${shape})`,
      unit: "s",
      higherIsBetter: false,
      ours: r.buildSeconds,
      peer: peer ? `${peerName} add_items, ${peer.buildThreads} thread(s)` : peerName,
      peerValue: peer?.buildSeconds ?? null,
      note: why ||
        `${recalls}; index ${(r.indexBytes / 2 ** 20).toFixed(0)} MiB; one build each (no median)`,
    }));
    rows.push(_row({
      measurement: `recall@10 at ef ${ours.ef} (${shape})`,
      unit: "recall",
      higherIsBetter: true,
      ours: ours.recallAt10,
      peer: peerName,
      peerValue: theirs?.recallAt10 ?? null,
      note: why || "quality, not speed: no ratio",
    }, false));
    rows.push(_row({
      measurement: `query top-10, ef ${ours.ef}, searchIndex (${shape})`,
      unit: "q/s",
      higherIsBetter: true,
      ours: ours.queriesPerSecond,
      peer: peerName,
      peerValue: theirs?.queriesPerSecond ?? null,
      note: why || `single-threaded queries; ${recalls}`,
    }));
    rows.push(_row({
      measurement: `query top-10, ef ${ours.ef}, Float32Array vs JS Array search (${shape})`,
      unit: "q/s",
      higherIsBetter: true,
      ours: r.arraySearch.float32.queriesPerSecond,
      peer: "our searchKnn via a JS Array copy",
      peerValue: r.arraySearch.array.queriesPerSecond,
      note: "same index, same queries, timed back to back",
    }));
    const targets = r.n < 1_000_000 ? "" : `; targets (recall ≥ ${TARGET_RECALL}, ≥ ` +
      `${TARGET_QPS} q/s) ${r.meetsTargets ? "met" : "not met"}`;
    rows.push(_row({
      measurement: `query top-10, ef ${ours.ef}, HNSW vs exact (${shape})`,
      unit: "q/s",
      higherIsBetter: true,
      ours: ours.queriesPerSecond,
      peer: "our exact search (JS brute force)",
      peerValue: r.exactJs.queriesPerSecond,
      note: `recall@10 ${_fmt(ours.recallAt10)}; exact: ${r.exactJs.sampledQueries} sampled ` +
        `queries${targets}`,
    }));
    if (r.smallPages) {
      const small = r.smallPages;
      const huge = r.hugePages.anonHugeBytes === null
        ? ""
        : `; AnonHugePages after the builds ${_mib(r.hugePages.anonHugeBytes)} / ` +
          `${_mib(small.anonHugeBytes ?? 0)} MiB`;
      rows.push(_row({
        measurement: `HNSW build, ${built}, huge pages vs 4 KiB pages (${shape})`,
        unit: "s",
        higherIsBetter: false,
        ours: r.buildSeconds,
        peer: "our buildIndex without the huge-page advice",
        peerValue: small.buildSeconds,
        note: `recall@10 at ef ${ours.ef}: ${_fmt(ours.recallAt10)} / ` +
          `${_fmt(small.at.recallAt10)}${huge}`,
      }));
      rows.push(_row({
        measurement: `query top-10, ef ${ours.ef}, huge pages vs 4 KiB pages (${shape})`,
        unit: "q/s",
        higherIsBetter: true,
        // The re-timed pass, not the sweep's: a sweep's first ef runs cold.
        ours: r.arraySearch.float32.queriesPerSecond,
        peer: "our index built without the huge-page advice",
        peerValue: small.at.queriesPerSecond,
        note: "each build searched right after it",
      }));
    }
    if (r.single) {
      rows.push(_row({
        measurement: `HNSW build, ${built} vs 1 thread (${shape})`,
        unit: "s",
        higherIsBetter: false,
        ours: r.buildSeconds,
        peer: "our buildIndex, 1 thread",
        peerValue: r.single.buildSeconds,
        note: `recall@10 at ef ${ours.ef}: ${r.threads} threads ${_fmt(ours.recallAt10)}, ` +
          `1 thread ${_fmt(r.single.at.recallAt10)}`,
      }));
    }
  }
  return rows;
}

function _report(flags: Record<string, unknown>, results: KindResult[]) {
  return {
    bench: "hnsw",
    date: new Date().toISOString(),
    deno: Deno.version.deno,
    cpus: navigator.hardwareConcurrency,
    loadAverage: Deno.loadavg(),
    targets: { recallAt10: TARGET_RECALL, queriesPerSecond: TARGET_QPS },
    flags,
    queries: "held-out draws from the same generator; truth = C++ brute force (cosine)",
    summary: _summary(results),
    results,
  };
}

if (import.meta.main) runTask(main);
