/**
 * `deno task bench`: runs the benchmark scripts under bench/ (each next to its peer, medians of
 * several runs), each writing `data/bench/<name>.json`, then collects them into
 * `bench/results.json` and the markdown table `bench/results.md`. `--quick` uses reduced sizes
 * (under 5 minutes in all) and writes `data/bench/quick/` and `bench/results-quick.{json,md}`.
 * `--drills` runs the fault drills (tests/drills_test.ts) and prints how many ran and passed.
 *
 * @example
 * ```sh
 * deno task bench --quick
 * deno task bench --only data,w2v-parse --runs 5
 * deno task bench --only hnsw-1m           # the 1M × 300 index target (~25 min, not by default)
 * deno task bench --collect-only          # rebuild results.md from existing data/bench/*.json
 * deno task bench --drills
 * ```
 * @module
 */
import { join } from "node:path";
import { type FlagSpec, parseFlags, UsageError } from "../lib/cli/args.ts";
import { runTask } from "../lib/cli/run.ts";
import { writeFileAtomic, writeJsonAtomic } from "../lib/io/artifact.ts";
import {
  benchContext,
  BENCHES,
  benchOutPath,
  type BenchRecord,
  type BenchRow,
  machineInfo,
  resultsMarkdown,
} from "../bench/suite.ts";

const spec = {
  only: {
    type: "list",
    default: [],
    help: `benchmarks to run (${Object.keys(BENCHES).join(",")}; ` +
      `${Object.keys(BENCHES).filter((n) => BENCHES[n].optIn).join(",")} only when named)`,
  },
  quick: { type: "boolean", default: false, help: "reduced sizes (< 5 min); separate results" },
  runs: { type: "number", default: 0, help: "repetitions per script (0 = each script's default)" },
  dataDir: {
    type: "string",
    default: "",
    help: "CIFAR folder (else $DEVISE_DATA_DIR, data, ../shared/data)",
  },
  collectOnly: { type: "boolean", default: false, help: "run nothing; table from existing JSON" },
  drills: { type: "boolean", default: false, help: "run the fault drills and print the counts" },
  benchDir: { type: "string", default: "data/bench", help: "where the scripts write JSON" },
  results: { type: "string", default: "bench", help: "folder for results.json / results.md" },
  json: { type: "boolean", default: false, help: "print results.json on stdout" },
} as const satisfies FlagSpec;

async function _exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** flag, else $DEVISE_DATA_DIR, else data/ when it holds CIFAR-100, else ../shared/data. */
async function _dataDir(flag: string): Promise<string> {
  if (flag) return flag;
  const env = Deno.env.get("DEVISE_DATA_DIR");
  if (env) return env;
  if (await _exists("data/cifar-100-binary")) return "data";
  for (const dir of ["../shared/data", "/work/shared/data"]) {
    if (await _exists(join(dir, "cifar-100-binary"))) return dir;
  }
  return "";
}

/** Runs one script under GNU time; returns wall seconds, max RSS and the error if it failed. */
async function _runScript(
  script: string,
  args: string[],
): Promise<{ ok: boolean; seconds: number; maxRssBytes?: number; error?: string }> {
  const timeFile = await Deno.makeTempFile({ prefix: "bench-time-" });
  const haveTime = await _exists("/usr/bin/time");
  const cmd = [Deno.execPath(), "run", "-A", script, ...args];
  const t0 = performance.now();
  const child = new Deno.Command(haveTime ? "/usr/bin/time" : cmd[0], {
    args: haveTime ? ["-v", "-o", timeFile, ...cmd] : cmd.slice(1),
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // Pass the script's progress through, keeping the tail for the error message.
  let tail = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stderr) {
    await Deno.stderr.write(chunk);
    tail = (tail + decoder.decode(chunk, { stream: true })).slice(-2000);
  }
  const status = await child.status;
  const seconds = (performance.now() - t0) / 1000;
  const timeText = await Deno.readTextFile(timeFile).catch(() => "");
  await Deno.remove(timeFile).catch(() => {});
  const kb = /Maximum resident set size \(kbytes\): (\d+)/.exec(timeText)?.[1];
  const lastLines = tail.trim().split("\n").slice(-3).join(" | ");
  return {
    ok: status.success,
    seconds,
    maxRssBytes: kb ? Number(kb) * 1024 : undefined,
    error: status.success ? undefined : `exit ${status.code}: ${lastLines}`,
  };
}

/** Runs tests/drills_test.ts; prints and returns the counts. */
async function _drills(): Promise<Record<string, number>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", "tests/drills_test.ts"],
    stdout: "piped",
    stderr: "inherit",
    env: { NO_COLOR: "1" }, // plain summary line to parse
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  await Deno.stderr.write(new TextEncoder().encode(text));
  const num = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
  const passed = num(/\| (\d+) passed/), failed = num(/\| (\d+) failed/);
  const ignored = num(/\| (\d+) ignored/);
  const counts = { run: passed + failed, passed, failed, skipped: ignored };
  console.error(
    `drills: ${counts.run} run, ${passed} passed, ${failed} failed, ${ignored} skipped`,
  );
  if (!out.success && failed === 0) counts.failed = 1;
  return counts;
}

async function main(): Promise<void> {
  const flags = parseFlags(spec, Deno.args, {
    task: "bench",
    summary: "Run the benchmark suite against peers and write bench/results.{json,md}.",
    examples: [
      "deno task bench --quick",
      "deno task bench --only data,w2v-parse --runs 5",
      "deno task bench --collect-only",
      "deno task bench --drills",
    ],
  });
  if (flags.drills) {
    const counts = await _drills();
    if (flags.json) console.log(JSON.stringify({ drills: counts }));
    if (counts.failed > 0) Deno.exit(1);
    return;
  }
  const unknown = flags.only.filter((n) => !(n in BENCHES));
  if (unknown.length) {
    throw new UsageError(
      `--only: unknown benchmark(s) ${unknown.join(", ")}; known: ${
        Object.keys(BENCHES).join(", ")
      }`,
    );
  }
  if (flags.runs < 0 || !Number.isInteger(flags.runs)) {
    throw new UsageError(`--runs must be a whole number >= 0, got ${flags.runs}`);
  }
  const selected = flags.only.length
    ? flags.only
    : Object.keys(BENCHES).filter((name) => !BENCHES[name].optIn);
  const dataDir = await _dataDir(flags.dataDir);
  const machine = await machineInfo();
  const mode = flags.quick ? "quick" : "full";
  const benches: Record<string, BenchRecord> = {};
  const suffix = flags.quick ? "-quick" : "";
  const jsonPath = join(flags.results, `results${suffix}.json`);
  const mdPath = join(flags.results, `results${suffix}.md`);
  // Run facts (seconds, max RSS) of benches only collected now come from the previous results.
  const previous: Record<string, BenchRecord> =
    (await Deno.readTextFile(jsonPath).then(JSON.parse).catch(() => null))?.benches ?? {};
  const rows: BenchRow[] = [];
  for (const [name, def] of Object.entries(BENCHES)) {
    const out = benchOutPath(flags.benchDir, def, flags.quick);
    const record: BenchRecord = { status: "collected", file: out };
    if (selected.includes(name) && !flags.collectOnly) {
      if (!(await _exists(def.script))) {
        record.status = "missing";
        record.reason = `${def.script} does not exist yet`;
      } else {
        console.error(`\n== bench ${name}: ${def.script}`);
        await Deno.remove(out).catch(() => {}); // never collect a stale file as this run's
        const args = def.args({ quick: flags.quick, runs: flags.runs, dataDir, out });
        const r = await _runScript(def.script, args);
        Object.assign(record, { status: r.ok ? "ran" : "failed", seconds: r.seconds });
        if (r.maxRssBytes) record.maxRssBytes = r.maxRssBytes;
        if (r.error) record.reason = r.error;
        console.error(`== ${name}: ${r.ok ? "done" : "FAILED"} in ${r.seconds.toFixed(1)} s`);
      }
    }
    let json: Record<string, unknown> | null = null;
    if (record.status === "ran" || record.status === "collected") {
      try {
        json = JSON.parse(await Deno.readTextFile(out));
      } catch {
        if (record.status === "ran") {
          Object.assign(record, { status: "failed", reason: `${out} not written` });
        } else Object.assign(record, { status: "not run", reason: `no ${out}` });
      }
    }
    if (json) {
      Object.assign(record, benchContext(json));
      const before = previous[name];
      if (record.status === "collected" && before?.date && before.date === record.date) {
        for (const k of ["seconds", "maxRssBytes"] as const) {
          if (before[k] !== undefined) record[k] = before[k];
        }
      }
      rows.push(...def.adapt(json));
    } else {
      rows.push({
        bench: name,
        measurement: def.script,
        unit: "",
        higherIsBetter: true,
        ours: null,
        peer: null,
        peerValue: null,
        ratio: null,
        note: `${record.status}: ${record.reason ?? ""}`.slice(0, 200),
      });
    }
    benches[name] = record;
  }
  machine.loadAverageEnd = Deno.loadavg();
  const date = new Date().toISOString();
  const results = { date, mode, dataDir, machine, benches, rows };
  await writeJsonAtomic(jsonPath, results);
  const markdown = resultsMarkdown(results);
  await writeFileAtomic(mdPath, markdown);
  // Keep the generated files as `deno fmt` wants them (`deno task check` runs fmt --check).
  await new Deno.Command(Deno.execPath(), { args: ["fmt", "-q", jsonPath, mdPath] }).output();
  console.error(`\n${markdown}\nwrote ${jsonPath} and ${mdPath}`);
  if (flags.json) console.log(JSON.stringify(results));
  const failed = Object.entries(benches).filter(([, b]) => b.status === "failed");
  if (failed.length) {
    throw new Error(
      `benchmark(s) failed: ${failed.map(([n, b]) => `${n} (${b.reason})`).join("; ")}`,
    );
  }
}

if (import.meta.main) await runTask(main);
