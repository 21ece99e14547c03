/**
 * The benchmark suite's runner (`deno task bench`): runs the scripts under bench/ (each next to
 * its peer, medians of several runs), each writing `data/bench/<name>.json`, then collects them
 * into `bench/results.json` and the markdown table `bench/results.md`. `quick` uses reduced sizes
 * and writes `data/bench/quick/` and `bench/results-quick.{json,md}`. `drills` runs the fault
 * drills (tests/drills_test.ts) and prints how many ran and passed.
 *
 * @example
 * ```ts
 * await runBenchSuite({ only: ["data"], quick: true, runs: 0, dataDir: "", collectOnly: false,
 *   drills: false, benchDir: "data/bench", results: "bench", json: false, setupPeers: false });
 * ```
 * @module
 */
import { join } from "node:path";
import { writeFileAtomic, writeJsonAtomic } from "../lib/io/artifact.ts";
import { exists } from "../lib/io/fs.ts";
import {
  benchContext,
  BENCHES,
  benchOutPath,
  type BenchRecord,
  type BenchRow,
  machineInfo,
  resultsMarkdown,
} from "./suite.ts";

/** What `deno task bench` is asked to do. */
export interface BenchRequest {
  only: string[];
  quick: boolean;
  runs: number;
  dataDir: string;
  collectOnly: boolean;
  drills: boolean;
  benchDir: string;
  results: string;
  json: boolean;
  /** Run `bash bench/setup` first when peers are missing. */
  setupPeers: boolean;
}

/** flag, else $DEVISE_DATA_DIR, else data/ when it holds CIFAR-100, else ../shared/data. */
async function _dataDir(flag: string): Promise<string> {
  if (flag) return flag;
  const env = Deno.env.get("DEVISE_DATA_DIR");
  if (env) return env;
  if (await exists("data/cifar-100-binary")) return "data";
  for (const dir of ["../shared/data", "/work/shared/data"]) {
    if (await exists(join(dir, "cifar-100-binary"))) return dir;
  }
  return "";
}

/** Runs one script under GNU time; returns wall seconds, max RSS and the error if it failed. */
async function _runScript(
  script: string,
  args: string[],
): Promise<{ ok: boolean; seconds: number; maxRssBytes?: number; error?: string }> {
  const timeFile = await Deno.makeTempFile({ prefix: "bench-time-" });
  const haveTime = await exists("/usr/bin/time");
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

/** What `bash bench/setup --check` says is missing (its "missing: ..." lines). */
async function _missingPeers(): Promise<string[]> {
  const out = await new Deno.Command("bash", {
    args: ["bench/setup", "--check"],
    stdout: "null",
    stderr: "piped",
  }).output().catch(() => null);
  if (!out) return ["bash (to run bench/setup --check)"];
  return [...new TextDecoder().decode(out.stderr).matchAll(/missing: (.+)/g)].map((m) => m[1]);
}

/**
 * Says which peers are missing and the one command that installs them, before anything runs (rows
 * against a missing peer read "peer unavailable"); with `setupPeers`, installs them.
 */
async function _checkPeers(setupPeers: boolean): Promise<void> {
  let missing = await _missingPeers();
  if (missing.length && setupPeers) {
    console.error(`installing missing peers (${missing.join(", ")}): bash bench/setup`);
    const status = await new Deno.Command("bash", { args: ["bench/setup"] }).spawn().status;
    if (!status.success) console.error(`bash bench/setup failed (exit ${status.code})`);
    missing = await _missingPeers();
  }
  if (missing.length) {
    console.error(
      `peers missing: ${missing.join("; ")}.\n` +
        "Their rows will say 'peer unavailable'. Install them with: bash bench/setup " +
        "(or: deno task bench --setup-peers).",
    );
  }
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

/**
 * Runs (or collects) the selected benchmarks and writes the results table; throws when any
 * benchmark failed.
 *
 * @example
 * ```ts
 * await runBenchSuite({ ...request, only: ["hnsw"] });
 * ```
 */
export async function runBenchSuite(flags: BenchRequest): Promise<void> {
  if (flags.drills) {
    const counts = await _drills();
    if (flags.json) console.log(JSON.stringify({ drills: counts }));
    if (counts.failed > 0) Deno.exit(1);
    return;
  }
  const selected = flags.only.length
    ? flags.only
    : Object.keys(BENCHES).filter((name) => !BENCHES[name].optIn);
  const dataDir = await _dataDir(flags.dataDir);
  if (!flags.collectOnly) await _checkPeers(flags.setupPeers);
  const machine = await machineInfo();
  const mode = flags.quick ? "quick" : "full";
  const benches: Record<string, BenchRecord> = {};
  const suffix = flags.quick ? "-quick" : "";
  const jsonPath = join(flags.results, `results${suffix}.json`);
  const mdPath = join(flags.results, `results${suffix}.md`);
  // Run facts (seconds, max RSS) of benches only collected now come from the previous results.
  const previousResults = await Deno.readTextFile(jsonPath).then(JSON.parse).catch(() => null);
  const previous: Record<string, BenchRecord> = previousResults?.benches ?? {};
  const previousRows: BenchRow[] = previousResults?.rows ?? [];
  const rows: BenchRow[] = [];
  for (const [name, def] of Object.entries(BENCHES)) {
    const out = benchOutPath(flags.benchDir, def, flags.quick);
    const record: BenchRecord = { status: "collected", file: out };
    if (selected.includes(name) && !flags.collectOnly) {
      if (!(await exists(def.script))) {
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
    const kept = previousRows.filter((row) => row.bench === name);
    if (!json && record.status === "not run" && previous[name]?.date && kept.length) {
      // A new machine has no data/bench/*.json: keep the committed table's rows (and their
      // date) rather than blanking every bench that was not run this time.
      Object.assign(record, previous[name], {
        status: "collected",
        reason: `no ${out}: rows kept from the previous ${jsonPath}`,
      });
      rows.push(...kept);
    } else if (json) {
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
