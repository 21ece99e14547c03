/**
 * The run directory every task writes: `config.json` (resolved flags, versions, backend, seed),
 * `metrics.json`, and `log.txt`. Human output goes to stderr; `--json` prints the final metrics
 * as one JSON object on stdout.
 *
 * @example
 * ```ts
 * const run = await startRun("pretrain", flags.out, { ...flags });
 * run.log("epoch 1 top-1 0.31");
 * await run.finish({ top1: 0.31 }, flags.json);
 * ```
 * @module
 */
import { join } from "node:path";
import { writeJsonAtomic } from "../io/artifact.ts";
import { UsageError } from "./args.ts";

/** An open run directory. */
export interface Run {
  /** Absolute or relative path of the run directory. */
  dir: string;
  /** The config written to `config.json`. */
  config: Record<string, unknown>;
  /** Logs a line to stderr (unless quiet) and to `log.txt`. */
  log(line: string): void;
  /** Merges fields into `config.json` (e.g. the backend once it is known). */
  updateConfig(fields: Record<string, unknown>): Promise<void>;
  /** Writes `metrics.json`, prints it to stdout when `json`, and closes the log. */
  finish(metrics: Record<string, unknown>, json: boolean): Promise<void>;
}

/** `2026-11-28T15-20-01` for run folder names. */
export function timestamp(date = new Date()): string {
  return date.toISOString().slice(0, 19).replace(/:/g, "-");
}

/** Versions recorded in every config. */
export function runtimeVersions(): Record<string, string> {
  return { deno: Deno.version.deno, v8: Deno.version.v8, typescript: Deno.version.typescript };
}

/** Creates the run directory (default `data/runs/<task>-<timestamp>`) and writes `config.json`. */
export async function startRun(
  task: string,
  out: string,
  config: Record<string, unknown>,
  options: { quiet?: boolean } = {},
): Promise<Run> {
  const dir = out || join("data", "runs", `${task}-${timestamp()}`);
  await Deno.mkdir(dir, { recursive: true });
  const fullConfig: Record<string, unknown> = {
    task,
    startedAt: new Date().toISOString(),
    versions: runtimeVersions(),
    ...config,
  };
  await writeJsonAtomic(join(dir, "config.json"), fullConfig);
  const logFile = await Deno.open(join(dir, "log.txt"), { create: true, append: true });
  const encoder = new TextEncoder();
  return {
    dir,
    config: fullConfig,
    log(line: string) {
      if (!options.quiet) console.error(line);
      logFile.writeSync(encoder.encode(line + "\n"));
    },
    async updateConfig(fields) {
      Object.assign(fullConfig, fields);
      await writeJsonAtomic(join(dir, "config.json"), fullConfig);
    },
    async finish(metrics, json) {
      await writeJsonAtomic(join(dir, "metrics.json"), metrics);
      logFile.close();
      if (json) console.log(JSON.stringify(metrics));
    },
  };
}

/**
 * Runs a task's `main`, mapping errors to exit codes: usage errors exit 2 with the message, other
 * errors exit 1 with `error: message` (stack only with `DEVISE_DEBUG=1`).
 */
export async function runTask(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (err) {
    const e = err as Error;
    if (Deno.env.get("DEVISE_DEBUG")) console.error(e.stack);
    console.error(`error: ${e.message}`);
    Deno.exit(e instanceof UsageError ? 2 : 1);
  }
}

/** For tasks whose issue has not landed: says so and exits non-zero. */
export function notImplemented(task: string, issue: string): never {
  console.error(`deno task ${task}: not implemented yet (see ${issue})`);
  Deno.exit(3);
}
