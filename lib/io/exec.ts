/**
 * Running the external tools setup needs (node-gyp, pip, python3): find them on PATH and run
 * them with their output captured, failing with the command and the tail of what it printed.
 *
 * @example
 * ```ts
 * which("python3"); // "/usr/bin/python3" or null
 * const out = await runCommand("python3", ["--version"]);
 * ```
 * @module
 */
import { UnavailableError } from "./errors.ts";
import { join } from "node:path";
import { statOrNullSync } from "./fs.ts";

/** Thrown when a command cannot be started or exits non-zero; `output` holds what it printed. */
export class CommandError extends UnavailableError {
  override name = "CommandError";
  constructor(message: string, readonly output = "") {
    super(message);
  }
}

/**
 * Absolute path of an executable named `name` on PATH, or null.
 *
 * @example
 * ```ts
 * which("node"); // "/usr/bin/node"
 * ```
 */
export function which(name: string): string | null {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (!dir) continue;
    const path = join(dir, name);
    const info = statOrNullSync(path);
    if (info?.isFile && ((info.mode ?? 0o111) & 0o111)) return path;
  }
  return null;
}

/** Options for {@link runCommand}. */
export interface RunCommandOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Lines of output quoted in the error (default 20). */
  tailLines?: number;
  /** Said after the failure line, e.g. what the command needs installed. */
  hint?: string;
}

/**
 * Runs `cmd args` to completion and returns stdout followed by stderr. Throws
 * {@link CommandError} when it cannot start or exits non-zero.
 *
 * @example
 * ```ts
 * await runCommand("python3", ["-m", "pip", "--version"]);
 * ```
 */
export async function runCommand(
  cmd: string,
  args: string[],
  options: RunCommandOptions = {},
): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, {
      args,
      cwd: options.cwd,
      env: options.env,
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (err) {
    throw new CommandError(`cannot run '${cmd}': ${(err as Error).message}`);
  }
  const decoder = new TextDecoder();
  const text = decoder.decode(out.stdout) + decoder.decode(out.stderr);
  if (!out.success) {
    const tail = text.trim().split("\n").slice(-(options.tailLines ?? 20)).join("\n");
    throw new CommandError(
      `'${cmd} ${args.join(" ")}' failed${options.cwd ? ` in ${options.cwd}` : ""} (exit ` +
        `${out.code})${options.hint ? `; ${options.hint}` : ""}\n${tail}`,
      text,
    );
  }
  return text;
}
