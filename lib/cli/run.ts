/**
 * The run folder every task writes: `config.json` (resolved settings, versions, git commit, pid),
 * `log.txt`, and `metrics.json` (`status` ok, failed or interrupted). Human output goes to stderr;
 * `--json` prints the final metrics as one JSON object on stdout. {@link runTask} maps errors to
 * exit codes and one-line messages, and a run that fails or is interrupted says so at the end of
 * its log and in its `metrics.json`, so no failed run looks finished.
 *
 * @example
 * ```ts
 * await runTask(async () => {
 *   const run = await startRun("pretrain", "", { epochs: 3 });
 *   run.log("epoch 1 top-1 0.31");
 *   await run.finish({ top1: 0.31 }, false);
 * });
 * ```
 * @module
 */
import { join } from "node:path";
import { writeJsonAtomic } from "../io/artifact.ts";
import { EXIT_CODES, exitCodeOf } from "../io/errors.ts";
import { exists } from "../io/fs.ts";
import { addInterruptHook, removeInterruptHook } from "../io/interrupt.ts";

/** Format tag of a run's `metrics.json`. */
export const RUN_METRICS_FORMAT = "devise-run";
/** Its version. */
export const RUN_METRICS_VERSION = 1;

/** How a run ended (absent while it runs). */
export type RunStatus = "ok" | "failed" | "interrupted";

/** An open run directory. */
export interface Run {
  /** Path of the run directory. */
  dir: string;
  /** The config written to `config.json`. */
  config: Record<string, unknown>;
  /** Logs a line to stderr (unless quiet) and to `log.txt`. */
  log(line: string): void;
  /** Writes a line to `log.txt` only (progress lines, which stderr shows as a bar). */
  logFileOnly(line: string): void;
  /** Whether stderr output is silenced (`--quiet`). */
  quiet: boolean;
  /** Seconds since the run started. */
  elapsedSeconds(): number;
  /** Writes `metrics.json` (status ok), prints it to stdout when `json`, and closes the log. */
  finish(metrics: Record<string, unknown>, json: boolean): Promise<void>;
}

/** `2026-11-28T15-20-01` for run folder names. */
export function timestamp(date = new Date()): string {
  return date.toISOString().slice(0, 19).replace(/:/g, "-");
}

/**
 * Where run folders go by default: `$DEVISE_RUNS_DIR`, else `data/runs` (the test runner points
 * it at a temporary folder, so no test leaves a run in the checkout).
 *
 * @example
 * ```ts
 * runsDir(); // "data/runs"
 * ```
 */
export function runsDir(): string {
  return Deno.env.get("DEVISE_RUNS_DIR") || join("data", "runs");
}

/** Versions recorded in every config. */
export function runtimeVersions(): Record<string, string> {
  return { deno: Deno.version.deno, v8: Deno.version.v8, typescript: Deno.version.typescript };
}

/**
 * The git commit of the checkout this code runs from and whether its tracked files differ from
 * it (null outside a git checkout or without git), so a number can be tied to the code.
 *
 * @example
 * ```ts
 * gitState(); // { commit: "116b4db…", dirty: false }
 * ```
 */
export function gitState(): { commit: string; dirty: boolean } | null {
  const root = new URL("../..", import.meta.url).pathname;
  const git = (args: string[]) => {
    try {
      const out = new Deno.Command("git", { args, cwd: root, stdout: "piped", stderr: "null" })
        .outputSync();
      return out.success ? new TextDecoder().decode(out.stdout).trim() : null;
    } catch {
      return null; // no git on this machine
    }
  };
  const commit = git(["rev-parse", "HEAD"]);
  if (!commit) return null;
  const status = git(["status", "--porcelain", "--untracked-files=no"]);
  return { commit, dirty: status !== null && status !== "" };
}

let _active: { dir: string; task: string; logFile: Deno.FsFile; startMs: number } | null = null;

/**
 * Creates the run directory (default `<runsDir()>/<task>-<timestamp>`) and writes `config.json`
 * once: `task`, start time, the exact command, versions, git state, pid, then `config`.
 *
 * @example
 * ```ts
 * const run = await startRun("zeroshot", flags.out, { from, layer }, { quiet: flags.quiet });
 * ```
 */
export async function startRun(
  task: string,
  out: string,
  config: Record<string, unknown>,
  options: { quiet?: boolean; keepConfig?: boolean } = {},
): Promise<Run> {
  const dir = out || join(runsDir(), `${task}-${timestamp()}`);
  await Deno.mkdir(dir, { recursive: true });
  // A finished run's metrics stay readable when the folder is reused: this run writes its own.
  if (await exists(join(dir, "metrics.json"))) {
    await Deno.rename(join(dir, "metrics.json"), join(dir, "metrics.previous.json"));
  }
  // A resumed run keeps the config it started with; each resume is recorded beside it.
  const configFile = options.keepConfig && await exists(join(dir, "config.json"))
    ? `config.resume-${timestamp()}.json`
    : "config.json";
  const fullConfig: Record<string, unknown> = {
    task,
    startedAt: new Date().toISOString(),
    command: ["deno", "task", task, ...Deno.args].join(" "),
    versions: runtimeVersions(),
    git: gitState(),
    pid: Deno.pid,
    ...config,
  };
  await writeJsonAtomic(join(dir, configFile), fullConfig);
  const logFile = await Deno.open(join(dir, "log.txt"), { create: true, append: true });
  const encoder = new TextEncoder();
  const quiet = options.quiet ?? false;
  const startMs = performance.now();
  _active = { dir, task, logFile, startMs };
  const onInterrupt = () => _endActive("interrupted", "interrupted (SIGINT/SIGTERM)");
  addInterruptHook(onInterrupt, { passive: true });
  const writeLine = (line: string) => logFile.writeSync(encoder.encode(line + "\n"));
  return {
    dir,
    config: fullConfig,
    quiet,
    log(line: string) {
      if (!quiet) console.error(line);
      writeLine(line);
    },
    logFileOnly: writeLine,
    elapsedSeconds: () => (performance.now() - startMs) / 1000,
    async finish(metrics, json) {
      const full = {
        format: RUN_METRICS_FORMAT,
        version: RUN_METRICS_VERSION,
        task,
        status: "ok" as RunStatus,
        finishedAt: new Date().toISOString(),
        wallSeconds: (performance.now() - startMs) / 1000,
        ...metrics,
      };
      await writeJsonAtomic(join(dir, "metrics.json"), full);
      removeInterruptHook(onInterrupt);
      logFile.close();
      _active = null;
      if (json) console.log(JSON.stringify(full));
    },
  };
}

/** Ends the open run (if any) with `status`: the log's last line and a `metrics.json`. */
function _endActive(status: RunStatus, message: string, exitCode?: number): void {
  const active = _active;
  if (!active) return;
  _active = null;
  try {
    active.logFile.writeSync(new TextEncoder().encode(`${status}: ${message}\n`));
    active.logFile.close();
  } catch { /* the log is already closed */ }
  const metrics = {
    format: RUN_METRICS_FORMAT,
    version: RUN_METRICS_VERSION,
    task: active.task,
    status,
    error: message,
    exitCode: exitCode ?? (status === "interrupted" ? EXIT_CODES.interrupted : EXIT_CODES.failure),
    finishedAt: new Date().toISOString(),
    wallSeconds: (performance.now() - active.startMs) / 1000,
  };
  try {
    Deno.writeTextFileSync(
      join(active.dir, "metrics.json"),
      JSON.stringify(metrics, null, 2) + "\n",
    );
  } catch { /* the folder is gone or read-only: the stderr line still tells */ }
}

/**
 * Runs a task's `main`, mapping errors to exit codes (see lib/io/errors.ts): a one-line
 * `error: message` on stderr (the stack with `DEVISE_DEBUG=1`); an open run gets the error as the
 * last line of its `log.txt` and `status: "failed"` in its `metrics.json`.
 *
 * @example
 * ```ts
 * if (import.meta.main) await runTask(main);
 * ```
 */
export async function runTask(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    if (Deno.env.get("DEVISE_DEBUG")) console.error(e.stack);
    const code = exitCodeOf(e);
    console.error(`error: ${e.message}`);
    _endActive("failed", e.message, code);
    Deno.exit(code);
  }
}
