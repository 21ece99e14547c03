/**
 * The benchmark suite behind `deno task bench`: which scripts exist, the flags each gets in full
 * and `--quick` mode, small adapters that turn each script's own JSON into uniform rows (our
 * figure, peer figure, speed ratio, peak memory), machine facts, and the markdown table.
 *
 * @example
 * ```ts
 * const json = JSON.parse(await Deno.readTextFile("data/bench/data.json"));
 * const rows = BENCHES.data.adapt(json); // [{ bench: "data", measurement: "decode ...", ... }]
 * console.log(resultsMarkdown({ date: "...", mode: "full", machine: await machineInfo(), rows }));
 * ```
 * @module
 */
import { join } from "node:path";

/** One measurement: ours next to a peer (or the reason the peer is missing). */
export interface BenchRow {
  /** Suite name of the benchmark (`data`, `train`, ...). */
  bench: string;
  /** What was measured, with the workload size. */
  measurement: string;
  /** Unit of `ours` and `peerValue`, e.g. `img/s`, `s/epoch`. */
  unit: string;
  /** Whether a larger figure is better (throughput) or smaller (seconds). */
  higherIsBetter: boolean;
  /** Our figure (median of runs), null when it was not measured. */
  ours: number | null;
  /** Peer name and version, e.g. `numpy 2.4.6`. */
  peer: string | null;
  /** The peer's figure, null when the peer is unavailable. */
  peerValue: number | null;
  /** Our speed over the peer's (>1: ours faster), null without both figures. */
  ratio: number | null;
  /** Peak memory, as text (e.g. `ours 1.39 GiB / peer 1.36 GiB`), when measured. */
  peakMemory?: string;
  /** Why the peer (or the measurement) is missing, or a caveat. */
  note?: string;
}

/** A benchmark script, its JSON file and how to read it. */
export interface BenchDef {
  /** Script path relative to the repository root. */
  script: string;
  /** JSON file name under the output folder (`data/bench/` or `data/bench/quick/`). */
  file: string;
  /** Flags for one invocation; `runs` is 0 when the script's default repetition count stays. */
  args(opts: { quick: boolean; runs: number; dataDir: string; out: string }): string[];
  /** Rows from the script's JSON. */
  adapt(json: Record<string, unknown>): BenchRow[];
  /** Too long for a default run: runs only when named in `--only`, collected when its JSON exists. */
  optIn?: boolean;
}

// deno-lint-ignore no-explicit-any
type Json = any;

/** ours/peer for throughput, peer/ours for seconds: >1 always means ours is faster. */
export function speedRatio(ours: number | null, peer: number | null, higherIsBetter: boolean) {
  if (ours === null || peer === null || !(ours > 0) || !(peer > 0)) return null;
  return higherIsBetter ? ours / peer : peer / ours;
}

/** A row with the ratio filled in. */
function _row(
  r: Omit<BenchRow, "ratio"> & { ratio?: number | null },
): BenchRow {
  const ratio = r.ratio !== undefined ? r.ratio : speedRatio(r.ours, r.peerValue, r.higherIsBetter);
  return { ...r, ratio }; // an explicit null (quality rows) stays null
}

/** A number to 3 significant digits (`?` when missing). */
function _sig(x: unknown): string {
  return typeof x === "number" ? x.toPrecision(3) : "?";
}

function _num(x: unknown): number | null {
  return typeof x === "number" && Number.isFinite(x) ? x : null;
}

/** `1.39 GiB`, `312 MiB`. */
export function formatBytes(bytes: number): string {
  return bytes >= 2 ** 30
    ? `${(bytes / 2 ** 30).toFixed(2)} GiB`
    : `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

function _runsFlag(runs: number, flag = "--runs"): string[] {
  return runs > 0 ? [flag, String(runs)] : [];
}

/** Rows from a script that already writes `summary: BenchRow[]` (new scripts do). */
export function adaptSummary(bench: string, json: Json): BenchRow[] {
  if (!Array.isArray(json?.summary)) {
    return [_row({
      bench,
      measurement: "(no summary block in the JSON)",
      unit: "",
      higherIsBetter: true,
      ours: null,
      peer: null,
      peerValue: null,
      note: "script output has no `summary`; add an adapter in bench/suite.ts",
    })];
  }
  return (json.summary as Partial<BenchRow>[]).map((r) =>
    _row({
      bench,
      measurement: String(r.measurement ?? "?"),
      unit: String(r.unit ?? ""),
      higherIsBetter: r.higherIsBetter ?? true,
      ours: _num(r.ours),
      peer: r.peer ?? null,
      peerValue: _num(r.peerValue),
      ratio: r.ratio,
      peakMemory: r.peakMemory,
      note: r.note,
    })
  );
}

function _adaptData(j: Json): BenchRow[] {
  const peer = j.peer ?? {};
  const skipped = "skipped" in peer ? String(peer.skipped) : undefined;
  const name = skipped ? "numpy" : `numpy ${peer.numpy}`;
  const size = `${j.imagesPerRun} img, batch ${j.batch}`;
  const bestAug = skipped
    ? null
    : Math.max(peer.augmentGatherImagesPerSec ?? 0, peer.augmentLoopImagesPerSec ?? 0);
  const common = { bench: "data", peer: name, note: skipped && `peer unavailable: ${skipped}` };
  return [
    _row({
      ...common,
      measurement: `CIFAR-100 train decode (${j.images} img)`,
      unit: "s",
      higherIsBetter: false,
      ours: _num(j.decodeSecondsMedian),
      peerValue: _num(peer.decodeSecondsMedian),
    }),
    _row({
      ...common,
      measurement: `batch normalise (${size})`,
      unit: "img/s",
      higherIsBetter: true,
      ours: _num(j.normalizeImagesPerSecMedian),
      peerValue: _num(peer.normalizeImagesPerSec),
    }),
    _row({
      ...common,
      measurement: `normalise + crop/flip augment (${size})`,
      unit: "img/s",
      higherIsBetter: true,
      ours: _num(j.augmentImagesPerSecMedian),
      peerValue: bestAug,
      note: common.note || "peer: best of numpy gather / loop",
    }),
  ];
}

function _adaptTrain(j: Json): BenchRow[] {
  const peer = j.peer ?? {};
  const why = peer.error ?? (peer.skipped ? "skipped (--no-peer)" : undefined);
  return (j.results ?? []).map((r: Json) =>
    _row({
      bench: "train",
      measurement: `ResNet-${r.depth} SGD step, batch ${j.batchSize} (tfjs ${j.backend})`,
      unit: "img/s",
      higherIsBetter: true,
      ours: _num(r.imagesPerSecond),
      peer: `TF-Keras ${peer.tensorflow ?? ""}`.trim(),
      peerValue: _num(r.kerasImagesPerSecond),
      note: why ? `peer unavailable: ${why}` : undefined,
    })
  ).concat((j.extract ?? []).map((e: Json) =>
    _row({
      bench: "train",
      measurement: `ResNet-${e.depth} feature extraction (gap, act, logits), batch ${e.batch}, ` +
        `${e.images} images (tfjs ${j.backend})`,
      unit: "img/s",
      higherIsBetter: true,
      ours: _num(e.imagesPerSecond),
      peer: `Keras predict ${peer.tensorflow ?? ""}, same weights`.trim(),
      peerValue: _num(e.keras?.imagesPerSecond),
      note: why
        ? `peer unavailable: ${why}`
        : `${_num(e.overTrainingImagesPerSecond)?.toFixed(1)}× ` +
          `our training img/s; logits vs Keras: max |diff| ${_sig(e.keras?.maxAbsLogitDiff)} ` +
          `of max |logit| ${_sig(e.keras?.maxAbsLogit)}`,
    })
  ));
}

function _adaptDevise(j: Json): BenchRow[] {
  const s = j.shape ?? {};
  const peer = j.peer ?? {};
  const why = peer.skipped;
  return [_row({
    bench: "devise",
    measurement:
      `DeViSE epoch ${s.n}×${s.d}→${s.dims}, ${s.classes} classes, batch ${s.batchSize} ` +
      `(tfjs ${j.tfjs?.backend})`,
    unit: "s/epoch",
    higherIsBetter: false,
    ours: _num(j.tfjs?.medianEpochSeconds),
    peer: why ? "PyTorch CPU" : `PyTorch ${peer.torch} CPU, ${peer.threads ?? "?"} thread(s)`,
    peerValue: _num(peer.medianEpochSeconds),
    note: why ? `peer unavailable: ${why}` : undefined,
  })];
}

function _adaptW2vParse(j: Json): BenchRow[] {
  const ours = j.ours ?? {}, g = j.gensim;
  const mem = [
    _num(ours.maxRssMedian) !== null ? `ours ${formatBytes(ours.maxRssMedian)}` : "",
    g && _num(g.maxRssMedian) !== null ? `peer ${formatBytes(g.maxRssMedian)}` : "",
  ].filter(Boolean).join(" / ");
  return [_row({
    bench: "w2v-parse",
    measurement: `word2vec binary parse ${j.rows}×${j.dim} (${(j.fileBytes / 1e6).toFixed(0)} MB)`,
    unit: "MB/s",
    higherIsBetter: true,
    ours: _num(ours.mbPerSecMedian),
    peer: g ? `gensim ${g.gensim ?? ""}`.trim() : "gensim",
    peerValue: g ? _num(g.mbPerSecMedian) : null,
    peakMemory: mem || undefined,
    note: g ? undefined : "peer unavailable: run without gensim (--no-peer)",
  })];
}

function _adaptSkipgram(j: Json): BenchRow[] {
  const h = j.hyperparameters ?? {};
  const median = j.median ?? {};
  const size = `${j.corpus?.tokens} tokens × ${h.epochs} ep, dim ${h.dim}, ${h.threads} thr`;
  const rows: BenchRow[] = [];
  for (const peer of ["gensim", "fasttext"]) {
    const why = j.unavailable?.[peer];
    const p = median[peer];
    rows.push(_row({
      bench: "skipgram",
      measurement: `skip-gram training (${size})`,
      unit: "words/s",
      higherIsBetter: true,
      ours: _num(median.ours?.wordsPerSecond),
      peer: peer === "gensim" ? "gensim Word2Vec" : "fastText (no subwords)",
      peerValue: p ? _num(p.wordsPerSecond) : null,
      note: why
        ? `peer unavailable: ${String(why).split("\n")[0].slice(0, 120)}`
        : p
        ? undefined
        : "peer not run",
    }));
  }
  const ws = "EN-WS-353-ALL";
  if (median.ours?.rho?.[ws] !== undefined) {
    rows.push(_row({
      bench: "skipgram",
      measurement: `WS-353 Spearman ρ (same run)`,
      unit: "ρ",
      higherIsBetter: true,
      ours: _num(median.ours.rho[ws]),
      peer: "gensim Word2Vec",
      peerValue: _num(median.gensim?.rho?.[ws]),
      ratio: null,
      note: (j.corpus?.tokens ?? 0) * (h.epochs ?? 0) < 5e6
        ? "quality, no ratio; too little training here for a meaningful ρ"
        : "quality, not speed: no ratio",
    }));
  }
  return rows;
}

function _adaptHnsw(j: Json, bench = "hnsw"): BenchRow[] {
  if (Array.isArray(j.summary)) return adaptSummary(bench, j);
  const rows: BenchRow[] = [];
  for (const r of j.results ?? []) {
    const shape = `${r.kind} ${r.n}×${r.dim}, M ${r.m}, efC ${r.efConstruction}`;
    const ranPeer = r.peer !== null && r.peer !== undefined; // null: --no-peer
    const peer = ranPeer && !r.peer.error ? r.peer : null;
    const why = r.peer?.error ? `peer unavailable: ${String(r.peer.error).slice(0, 120)}` : "";
    const peerName = peer?.peer ?? "hnswlib (Python)";
    const targets = r.meetsTargets === undefined || r.n < 1_000_000
      ? ""
      : `; targets (recall ≥ ${j.targets?.recallAt10}, ≥ ${j.targets?.queriesPerSecond} q/s) ` +
        (r.meetsTargets ? "met" : "not met");
    // The ef that reaches the recall target (else the largest), compared at the same ef; the
    // targets themselves are the issue's, set for the 1M set.
    const ours = (r.sweep ?? []).find((s: Json) => s.ef === r.chosenEf) ?? r.sweep?.at(-1);
    const theirs = peer?.sweep?.find((s: Json) => s.ef === ours?.ef);
    if (ours && ranPeer) {
      rows.push(_row({
        bench,
        measurement: `query top-10, ef ${ours.ef} (${shape})`,
        unit: "q/s",
        higherIsBetter: true,
        ours: _num(ours.queriesPerSecond),
        peer: peerName,
        peerValue: theirs ? _num(theirs.queriesPerSecond) : null,
        note: why ||
          `recall@10 ours ${ours.recallAt10?.toFixed(4)}, peer ${
            theirs?.recallAt10?.toFixed(4) ?? "?"
          }`,
      }));
    }
    if (ours) {
      rows.push(_row({
        bench,
        measurement: `query top-10, ef ${ours.ef} (${shape})`,
        unit: "q/s",
        higherIsBetter: true,
        ours: _num(ours.queriesPerSecond),
        peer: "our exact search (JS brute force)",
        peerValue: _num(r.exactJs?.queriesPerSecond),
        note: `recall@10 ${ours.recallAt10?.toFixed(4)}; exact: ${r.exactJs?.sampledQueries} ` +
          `sampled queries${targets}`,
      }));
    }
    rows.push(_row({
      bench,
      measurement: `build (${shape}, ${r.shards} shard(s))`,
      unit: "s",
      higherIsBetter: false,
      ours: _num(r.buildSeconds),
      peer: ranPeer ? peerName : "none (--no-peer)",
      peerValue: peer ? _num(peer.buildSeconds) : null,
      note: why ||
        `index ${formatBytes(r.indexBytes)}` +
          (ranPeer ? `, peer ${peer?.buildThreads ?? "?"} thread(s)` : ""),
    }));
  }
  return rows;
}

/** Every benchmark of the suite by name, in run order. */
export const BENCHES: Readonly<Record<string, BenchDef>> = {
  data: {
    script: "bench/data.ts",
    file: "data.json",
    args: ({ quick, runs, dataDir, out }) => [
      ...(dataDir ? ["--data-dir", dataDir] : []),
      ...(quick ? ["--images", "10000", "--runs", "3", "--decode-runs", "1"] : []),
      ..._runsFlag(runs),
      ...["--out", out],
    ],
    adapt: _adaptData,
  },
  train: {
    script: "bench/train_step.ts",
    file: "train_step.json",
    args: ({ quick, runs, out }) => [
      ...(quick
        ? ["--depths", "20", "--batch-size", "32", "--steps", "3", "--warmup", "1"]
          .concat(["--extract-images", "512"])
        : []),
      ..._runsFlag(runs, "--steps"),
      ...["--out", out],
    ],
    adapt: _adaptTrain,
  },
  devise: {
    script: "bench/devise_epoch.ts",
    file: "devise_epoch.json",
    args: ({ quick, runs, out }) => [
      ...(quick ? ["--n", "4096", "--d", "512", "--epochs", "3"] : []),
      ..._runsFlag(runs, "--epochs"),
      ...["--out", out],
    ],
    adapt: _adaptDevise,
  },
  "w2v-parse": {
    script: "bench/word2vec_parse.ts",
    file: "word2vec_parse.json",
    args: ({ quick, runs, out }) => [
      ...(quick ? ["--rows", "50000", "--dim", "300", "--runs", "3"] : []),
      ..._runsFlag(runs),
      ...["--out", out],
    ],
    adapt: _adaptW2vParse,
  },
  images: {
    script: "bench/images.ts",
    file: "images.json",
    args: ({ quick, runs, out }) => [
      ...(quick ? ["--quick", "--no-rss"] : []),
      ..._runsFlag(runs),
      ...["--out", out],
    ],
    adapt: (j) => adaptSummary("images", j),
  },
  skipgram: {
    script: "bench/skipgram.ts",
    file: "skipgram.json",
    args: ({ quick, runs, dataDir, out }) => [
      ...(dataDir ? ["--data-dir", dataDir] : []),
      ...(quick ? ["--quick", "--runs", "1", "--epochs", "1", "--dim", "50"] : []),
      ..._runsFlag(runs),
      ...["--out", out],
    ],
    adapt: _adaptSkipgram,
  },
  hnsw: {
    script: "bench/hnsw.ts",
    // 100k vectors in the suite: the script's own 1M default takes about an hour on 2 cores.
    file: "hnsw-n100000.json",
    args: ({ quick, runs, out }) => [
      ...(quick
        ? ["--n", "20000", "--kinds", "clustered", "--clusters", "200", "--ef", "50,100,200"]
        : ["--n", "100000"]),
      ...(quick ? ["--queries", "500", "--repeats", "3"] : []),
      ..._runsFlag(runs, "--repeats"),
      ...["--out", out],
    ],
    adapt: _adaptHnsw,
  },
  "hnsw-1m": {
    script: "bench/hnsw.ts",
    // The issue's target set: 1M × 300 clustered, single-threaded queries, against Python
    // hnswlib's add_items on as many threads, and our build once more without the huge-page
    // advice (~35 min with the peer, ~45 with the second build).
    file: "hnsw.json",
    optIn: true,
    args: ({ quick, runs, out }) => [
      ...(quick ? ["--n", "200000"] : ["--n", "1000000"]),
      ...["--kinds", "clustered", "--m", "32", "--small-pages"],
      ...["--ef", "40,50,60,80,100,120,150", "--queries", "1000", "--repeats", "5"],
      ..._runsFlag(runs, "--repeats"),
      ...["--out", out],
    ],
    adapt: (j) => _adaptHnsw(j, "hnsw-1m"),
  },
  e2e: {
    script: "bench/e2e_zeroshot.ts",
    file: "e2e_zeroshot.json",
    args: ({ quick, runs, out }) => [
      ...(quick ? ["--quick"] : []),
      ..._runsFlag(runs),
      ...["--out", out],
    ],
    adapt: (j) => adaptSummary("e2e", j),
  },
};

/** Facts about the machine a suite ran on. */
export interface MachineInfo {
  cores: number;
  cpuModel: string;
  memTotalBytes: number | null;
  loadAverageStart: number[];
  loadAverageEnd?: number[];
  os: string;
  versions: Record<string, string>;
}

/**
 * Cores, CPU model (from /proc/cpuinfo), memory, load average and runtime versions.
 *
 * @example
 * ```ts
 * const m = await machineInfo(); // { cores: 2, cpuModel: "Intel(R) Xeon(R) ...", ... }
 * ```
 */
export async function machineInfo(): Promise<MachineInfo> {
  const read = (p: string) => Deno.readTextFile(p).catch(() => "");
  const cpuinfo = await read("/proc/cpuinfo");
  const meminfo = await read("/proc/meminfo");
  const memKb = /MemTotal:\s+(\d+) kB/.exec(meminfo)?.[1];
  return {
    cores: navigator.hardwareConcurrency,
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown",
    memTotalBytes: memKb ? Number(memKb) * 1024 : null,
    loadAverageStart: Deno.loadavg(),
    os: `${Deno.build.os} ${Deno.osRelease()} ${Deno.build.arch}`,
    versions: { deno: Deno.version.deno, v8: Deno.version.v8, typescript: Deno.version.typescript },
  };
}

/** Per-benchmark context kept in results.json next to the rows. */
export interface BenchRecord {
  /** `ran` this invocation, `collected` from an earlier JSON, or `missing`/`failed`. */
  status: "ran" | "collected" | "missing" | "failed" | "not run";
  /** The JSON file read. */
  file: string;
  /** When the script wrote it. */
  date?: string;
  /** Wall seconds of the script this invocation. */
  seconds?: number;
  /** Max RSS of the whole bench process tree (GNU time), when measured. */
  maxRssBytes?: number;
  /** Backend the script reported (tfjs benches). */
  backend?: string;
  /** Load average the script recorded (shared machine), when it did. */
  loadAverage?: number[];
  /** Peer/library versions the script reported. */
  versions?: Record<string, unknown>;
  /** Error text or reason for `missing`/`failed`/`not run`. */
  reason?: string;
}

/** Backend and versions reported inside a bench JSON, whatever its shape. */
export function benchContext(
  j: Json,
): Pick<BenchRecord, "backend" | "versions" | "date" | "loadAverage"> {
  const versions: Record<string, unknown> = {};
  const take = (k: string, v: unknown) => v !== undefined && v !== null && (versions[k] = v);
  take("tfjs", j.tfjs?.tfjs ?? j.tfjs?.versions?.tfjs);
  take("numpy", j.peer?.numpy);
  take("tensorflow", j.peer?.tensorflow);
  take("torch", j.peer?.torch);
  take("gensim", j.gensim?.gensim);
  if (j.versions && typeof j.versions === "object") Object.assign(versions, j.versions);
  return {
    date: j.date,
    backend: j.backend ?? j.tfjs?.backend,
    loadAverage: j.loadAverageAtStart ?? j.loadAverage,
    versions: Object.keys(versions).length ? versions : undefined,
  };
}

function _fmt(x: number | null, unit = ""): string {
  if (x === null) return "—";
  const a = Math.abs(x);
  const s = a >= 1000
    ? Math.round(x).toLocaleString("en-US")
    : a >= 10
    ? x.toFixed(1)
    : a >= 0.01
    ? x.toFixed(3)
    : x.toPrecision(3);
  return unit ? `${s} ${unit}` : s;
}

/**
 * The markdown table (one row per measurement) plus a machine line and a ratio legend.
 *
 * @example
 * ```ts
 * await Deno.writeTextFile("bench/results.md", resultsMarkdown(results));
 * ```
 */
export function resultsMarkdown(r: {
  date: string;
  mode: string;
  machine: MachineInfo;
  rows: BenchRow[];
  benches: Record<string, BenchRecord>;
}): string {
  const m = r.machine;
  const load = (l?: number[]) => l ? l.map((x) => x.toFixed(2)).join(", ") : "?";
  const ran = Object.values(r.benches).some((b) => b.status === "ran");
  const lines = [
    `<!-- generated by \`deno task bench\`; do not edit -->`,
    `Benchmarks (${r.mode}), ${ran ? "run" : "collected from earlier runs"} ${
      r.date.slice(0, 16).replace("T", " ")
    } UTC — ${m.cores} cores, ` +
    `${m.cpuModel}, ${m.memTotalBytes ? formatBytes(m.memTotalBytes) : "? GiB"} RAM, ` +
    `Deno ${m.versions.deno}; load average (1, 5, 15 min) at start ${
      load(m.loadAverageStart)
    }, at end ${load(m.loadAverageEnd)}${ran ? "" : " of the collection"}.`,
    "",
    "| benchmark | measurement | ours | peer | peer figure | ratio | peak memory | notes |",
    "|---|---|---:|---|---:|---:|---|---|",
  ];
  for (const row of r.rows) {
    const b = r.benches[row.bench];
    const when = b?.status === "collected" && b.date
      ? ` (run ${b.date.slice(0, 16).replace("T", " ")})`
      : "";
    const peak = row.peakMemory ??
      (b?.maxRssBytes ? `run ≤ ${formatBytes(b.maxRssBytes)}` : "—");
    lines.push(
      `| ${row.bench}${when} | ${row.measurement} | ${_fmt(row.ours, row.unit)} | ${
        row.peer ?? "—"
      } | ${_fmt(row.peerValue, row.unit)} | ${
        row.ratio === null ? "—" : `${row.ratio.toFixed(2)}×`
      } | ${peak} | ${(row.note ?? "").replace(/\|/g, "/")} |`,
    );
  }
  lines.push(
    "",
    "ratio = our speed / peer speed (>1: ours faster; for seconds it is peer s / our s). " +
      "Figures are medians of the runs each script makes; peers run in the same invocation. " +
      "`run ≤` is the max RSS of the whole bench process tree (ours and peer) from GNU time.",
  );
  return lines.join("\n") + "\n";
}

/**
 * Where a bench's JSON goes: `data/bench/<file>` (full) or `data/bench/quick/<file>`.
 *
 * @example
 * ```ts
 * benchOutPath("data/bench", BENCHES.data, true); // "data/bench/quick/data.json"
 * ```
 */
export function benchOutPath(root: string, def: BenchDef, quick: boolean): string {
  return quick ? join(root, "quick", def.file) : join(root, def.file);
}
