/**
 * Benchmark: parse a synthetic word2vec binary file (default 1M × 300, ~1.2 GB) with
 * `readWord2vecBinary` and with gensim's `KeyedVectors.load_word2vec_format` on the same file.
 * Each parse runs in its own process under `/usr/bin/time -v` (max RSS); MB/s uses the file size
 * and the median of `--runs` runs. Writes data/bench/word2vec_parse.json.
 *
 * @example
 * ```sh
 * deno run -A bench/word2vec_parse.ts --rows 1000000 --dim 300 --runs 3
 * deno run -A bench/word2vec_parse.ts --rows 20000 --dim 50 --runs 1 --no-peer
 * ```
 * @module
 */
import { join } from "node:path";
import { parseFlags } from "../lib/cli/args.ts";
import { runTask, runtimeVersions } from "../lib/cli/run.ts";
import { writeJsonAtomic } from "../lib/io/artifact.ts";
import { Rng } from "../lib/io/rng.ts";
import { readWord2vecBinary } from "../lib/text/word2vec_io.ts";
import { median } from "../lib/io/stats.ts";

const spec = {
  rows: { type: "number", default: 1_000_000, help: "rows in the synthetic file" },
  dim: { type: "number", default: 300, help: "vector length" },
  runs: { type: "number", default: 3, help: "parses per reader (median reported)" },
  peer: { type: "boolean", default: true, help: "also time gensim (/usr/bin/python3)" },
  keep: { type: "boolean", default: true, help: "keep the synthetic file cached in data/bench/" },
  child: { type: "string", default: "", help: "(internal) parse this file once, print JSON" },
  out: { type: "string", default: "data/bench/word2vec_parse.json", help: "result JSON" },
} as const;

/** Streams a Google-layout binary file of random words and gaussian-ish floats. */
async function _generate(path: string, rows: number, dim: number): Promise<void> {
  const rng = new Rng(1234);
  // A pool of normals, read at random offsets, keeps generation I/O-bound.
  const pool = new Float32Array(1 << 16);
  for (let i = 0; i < pool.length; i++) pool[i] = rng.normal() * 0.1;
  const poolBytes = new Uint8Array(pool.buffer);
  const tmp = `${path}.tmp-${Deno.pid}`;
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
  const buf = new Uint8Array(8 << 20);
  let used = 0;
  const flush = async () => {
    let off = 0;
    while (off < used) off += await file.write(buf.subarray(off, used));
    used = 0;
  };
  const enc = new TextEncoder();
  used += enc.encodeInto(`${rows} ${dim}\n`, buf).written;
  const rowBytes = 4 * dim;
  for (let row = 0; row < rows; row++) {
    if (used + rowBytes + 64 > buf.length) await flush();
    const letters = 2 + rng.int(10);
    for (let i = 0; i < letters; i++) buf[used++] = 0x61 + rng.int(26);
    used += enc.encodeInto(row.toString(36) + " ", buf.subarray(used)).written;
    const from = 4 * rng.int(pool.length - dim);
    buf.set(poolBytes.subarray(from, from + rowBytes), used);
    used += rowBytes;
    buf[used++] = 0x0a;
  }
  await flush();
  file.close();
  await Deno.rename(tmp, path);
}

/** Runs a command under /usr/bin/time -v; returns its stdout JSON and max RSS in bytes. */
async function _timed(
  cmd: string[],
): Promise<{ result: Record<string, number>; maxRss: number; cpuSeconds: number }> {
  const out = await new Deno.Command("/usr/bin/time", { args: ["-v", ...cmd] }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd.join(" ")} failed:\n${stderr}`);
  const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
  if (!m) throw new Error(`no max RSS in /usr/bin/time output:\n${stderr}`);
  const user = /User time \(seconds\): ([\d.]+)/.exec(stderr);
  const sys = /System time \(seconds\): ([\d.]+)/.exec(stderr);
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  return {
    result: JSON.parse(lines[lines.length - 1]),
    maxRss: Number(m[1]) * 1024,
    cpuSeconds: Number(user?.[1] ?? NaN) + Number(sys?.[1] ?? NaN),
  };
}

async function _child(path: string): Promise<void> {
  let sampled = Deno.memoryUsage().rss;
  const timer = setInterval(() => sampled = Math.max(sampled, Deno.memoryUsage().rss), 20);
  const start = performance.now();
  const v = await readWord2vecBinary(path);
  const seconds = (performance.now() - start) / 1000;
  clearInterval(timer);
  sampled = Math.max(sampled, Deno.memoryUsage().rss);
  console.log(JSON.stringify({ seconds, rows: v.words.length, dim: v.dim, sampledRss: sampled }));
}

async function main(): Promise<void> {
  const flags = parseFlags(spec, Deno.args, {
    task: "bench",
    summary: "Time word2vec binary parsing against gensim.",
    examples: ["deno run -A bench/word2vec_parse.ts --rows 1000000 --dim 300 --runs 3"],
  });
  if (flags.child) return await _child(flags.child);
  const path = join("data", "bench", `w2v_synthetic_${flags.rows}x${flags.dim}.bin`);
  await Deno.mkdir(join("data", "bench"), { recursive: true });
  const exists = await Deno.stat(path).then(() => true, () => false);
  if (!exists) {
    console.error(`generating ${path} ...`);
    await _generate(path, flags.rows, flags.dim);
  }
  const fileBytes = (await Deno.stat(path)).size;
  // Other jobs on a shared machine slow wall-clock numbers; record the load alongside them.
  const loadAtStart = Deno.loadavg();
  const vectorBytes = flags.rows * flags.dim * 4;
  const self = new URL(import.meta.url).pathname;
  const readers: Record<string, string[]> = {
    ours: [Deno.execPath(), "run", "-A", self, "--child", path],
  };
  if (flags.peer) readers.gensim = ["/usr/bin/python3", "bench/peers/gensim_load.py", path];
  const results: Record<string, unknown> = {};
  for (const [name, cmd] of Object.entries(readers)) {
    const seconds: number[] = [];
    const maxRss: number[] = [];
    const cpuSeconds: number[] = [];
    let extra: Record<string, number> = {};
    for (let r = 0; r < flags.runs; r++) {
      const { result, maxRss: rss, cpuSeconds: cpu } = await _timed(cmd);
      if (result.rows !== flags.rows || result.dim !== flags.dim) {
        throw new Error(
          `${name} read ${result.rows}×${result.dim}, expected ${flags.rows}×${flags.dim}`,
        );
      }
      seconds.push(result.seconds);
      maxRss.push(rss);
      cpuSeconds.push(cpu);
      extra = result;
      console.error(
        `${name} run ${r + 1}: ${result.seconds.toFixed(2)} s, ` +
          `${(fileBytes / 1e6 / result.seconds).toFixed(0)} MB/s, process CPU ${
            cpu.toFixed(2)
          } s, ` +
          `max RSS ${(rss / 2 ** 20).toFixed(0)} MiB`,
      );
    }
    const med = median(seconds);
    results[name] = {
      seconds,
      secondsMedian: med,
      mbPerSecMedian: fileBytes / 1e6 / med,
      // Whole-process user+sys (startup included): a load-independent view on a shared machine.
      processCpuSeconds: cpuSeconds,
      processCpuSecondsMedian: median(cpuSeconds),
      mbPerCpuSecMedian: fileBytes / 1e6 / median(cpuSeconds),
      maxRssBytes: maxRss,
      maxRssMedian: median(maxRss),
      peakMemoryRatio: median(maxRss) / vectorBytes,
      ...(name === "gensim" ? { gensim: extra.gensim } : {}),
    };
  }
  const ours = results.ours as { secondsMedian: number; maxRssMedian: number };
  const peer = results.gensim as { secondsMedian: number; maxRssMedian: number } | undefined;
  const report = {
    bench: "word2vec_parse",
    date: new Date().toISOString(),
    versions: runtimeVersions(),
    peerSource: flags.peer ? "Debian python3-gensim via /usr/bin/python3" : null,
    file: path,
    loadAverageAtStart: loadAtStart,
    loadAverageAtEnd: Deno.loadavg(),
    rows: flags.rows,
    dim: flags.dim,
    fileBytes,
    vectorBytes,
    runs: flags.runs,
    ...results,
    speedupVsGensim: peer ? peer.secondsMedian / ours.secondsMedian : null,
    memoryRatioVsGensim: peer ? ours.maxRssMedian / peer.maxRssMedian : null,
  };
  await writeJsonAtomic(flags.out, report);
  console.error(`wrote ${flags.out}`);
  console.log(JSON.stringify(report));
  if (!flags.keep) await Deno.remove(path);
}

if (import.meta.main) await runTask(main);
