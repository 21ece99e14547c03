/**
 * Flag parsing shared by every task: typed defaults, `--help` text generated from the spec,
 * and unknown flags rejected. Built on `node:util` `parseArgs` because JSR (`@std/cli`) is
 * not reachable from our machines.
 *
 * @example
 * ```ts
 * const spec = {
 *   epochs: { type: "number", default: 30, help: "passes over the training set" },
 *   json: { type: "boolean", default: false, help: "print final metrics as JSON on stdout" },
 * } as const satisfies FlagSpec;
 * const flags = parseFlags(spec, Deno.args, { task: "pretrain", summary: "Train the visual model." });
 * flags.epochs; // number
 * ```
 * @module
 */
import { parseArgs } from "node:util";

/** One flag: its type, default and help line. `multiple` collects repeated values into a list. */
export type FlagDef =
  | { type: "string"; default: string; help: string; short?: string; choices?: readonly string[] }
  | { type: "number"; default: number; help: string; short?: string }
  | { type: "boolean"; default: boolean; help: string; short?: string }
  | { type: "list"; default: readonly string[]; help: string; short?: string };

/** A task's flags by name (camelCase names become kebab-case flags). */
export type FlagSpec = Record<string, FlagDef>;

/** The parsed value type of a spec. */
export type Flags<S extends FlagSpec> = {
  [K in keyof S]: S[K]["type"] extends "number" ? number
    : S[K]["type"] extends "boolean" ? boolean
    : S[K]["type"] extends "list" ? string[]
    : string;
};

/** Thrown for a bad command line; tasks print the message and exit 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Describes a task for its `--help` page. */
export interface TaskInfo {
  /** Task name as in `deno task NAME`. */
  task: string;
  /** One line saying what the task does. */
  summary: string;
  /** Example command lines shown under the flags. */
  examples?: string[];
}

/** `epochSeconds` -> `epoch-seconds`. */
export function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
}

/** The `--help` text for a spec. */
export function helpText<S extends FlagSpec>(spec: S, info: TaskInfo): string {
  const rows = Object.entries(spec).map(([name, def]) => {
    const flag = `--${kebab(name)}${def.short ? `, -${def.short}` : ""}` +
      (def.type === "boolean" ? "" : ` <${def.type === "list" ? "a,b,.." : def.type}>`);
    const shown = def.type === "list" ? def.default.join(",") : String(def.default);
    const choices = def.type === "string" && def.choices ? ` (${def.choices.join("|")})` : "";
    return [flag, `${def.help}${choices} [default: ${shown === "" ? '""' : shown}]`];
  });
  const width = Math.max(...rows.map(([f]) => f.length), 10);
  const lines = [
    `deno task ${info.task} [flags]`,
    "",
    info.summary,
    "",
    "Flags:",
    ...rows.map(([f, h]) => `  ${f.padEnd(width)}  ${h}`),
    `  ${"--help, -h".padEnd(width)}  show this help`,
  ];
  if (info.examples?.length) lines.push("", "Examples:", ...info.examples.map((e) => `  ${e}`));
  return lines.join("\n");
}

/**
 * Parses `args` against `spec`. Prints help and exits 0 on `--help`; throws {@link UsageError}
 * on unknown flags, missing values, bad numbers or values outside `choices`.
 */
export function parseFlags<S extends FlagSpec>(
  spec: S,
  args: readonly string[],
  info: TaskInfo,
): Flags<S> {
  const options: Record<
    string,
    { type: "string" | "boolean"; short?: string; multiple?: boolean }
  > = { help: { type: "boolean", short: "h" } };
  for (const [name, def] of Object.entries(spec)) {
    options[kebab(name)] = {
      type: def.type === "boolean" ? "boolean" : "string",
      ...(def.short ? { short: def.short } : {}),
      ...(def.type === "list" ? { multiple: true } : {}),
    };
    if (def.type === "boolean") options[`no-${kebab(name)}`] = { type: "boolean" };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options, strict: true, allowPositionals: false });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\nRun 'deno task ${info.task} --help'.`);
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  if (values.help) {
    console.log(helpText(spec, info));
    Deno.exit(0);
  }
  const out: Record<string, unknown> = {};
  for (const [name, def] of Object.entries(spec)) {
    const raw = values[kebab(name)];
    if (def.type === "boolean") {
      out[name] = values[`no-${kebab(name)}`] ? false : raw === undefined ? def.default : raw;
    } else if (def.type === "list") {
      out[name] = raw === undefined
        ? [...def.default]
        : (raw as string[]).flatMap((s) => s.split(",")).filter((s) => s !== "");
    } else if (raw === undefined) {
      out[name] = def.default;
    } else if (def.type === "number") {
      const n = Number(raw);
      if (raw === "" || !Number.isFinite(n)) {
        throw new UsageError(`--${kebab(name)} expects a number, got '${raw}'`);
      }
      out[name] = n;
    } else {
      if (def.choices && !def.choices.includes(raw as string)) {
        throw new UsageError(
          `--${kebab(name)} must be one of ${def.choices.join("|")}, got '${raw}'`,
        );
      }
      out[name] = raw;
    }
  }
  return out as Flags<S>;
}
