/**
 * Flag parsing shared by every task: each flag's spec carries its type, default and domain
 * (integer, range, choices, a path that must exist or a folder that must be writable), and every
 * value is checked before any work starts, with the flag's name in the message. `--help` text is
 * generated from the spec; unknown flags are refused. A flag without a default is an override:
 * its value is `undefined` unless given (the `train` presets fill the rest). Built on `node:util`
 * `parseArgs`, because JSR (`@std/cli`) is not reachable from our machines.
 *
 * @example
 * ```ts
 * const spec = {
 *   epochs: { type: "number", default: 30, integer: true, min: 1, help: "passes over the data" },
 *   lr: { type: "number", min: 0, exclusiveMin: true, help: "learning rate (default: preset)" },
 *   loss: { type: "string", default: "hinge", choices: ["hinge", "cosine"], help: "loss" },
 *   ...commonFlags("pretrain"),
 * } as const satisfies FlagSpec;
 * const flags = parseFlags(spec, Deno.args, { task: "pretrain", summary: "Train the visual model." });
 * flags.epochs; // number
 * flags.lr; // number | undefined
 * flags.loss; // "hinge" | "cosine"
 * ```
 * @module
 */
import { parseArgs } from "node:util";
import { dirname, resolve } from "node:path";
import { BACKEND_NAMES } from "../backend/names.ts";
import { UsageError } from "../io/errors.ts";

export { UsageError } from "../io/errors.ts";

interface _Base {
  help: string;
  short?: string;
}

/** Numeric domain shared by number flags and number lists. */
export interface NumberDomain {
  /** Whole numbers only. */
  integer?: boolean;
  /** Lower bound (inclusive unless `exclusiveMin`). */
  min?: number;
  exclusiveMin?: boolean;
  /** Upper bound (inclusive unless `exclusiveMax`). */
  max?: number;
  exclusiveMax?: boolean;
}

/** What a path flag's value must be: an existing file, folder, either, or a writable folder. */
export type PathRule = "file" | "dir" | "exists" | "writable-dir";

/** A number flag. No `default`: the value is `undefined` unless given. */
export interface NumberFlag extends _Base, NumberDomain {
  type: "number";
  default?: number;
}

/** A string flag, optionally restricted to `choices` or checked as a path. */
export interface StringFlag extends _Base {
  type: "string";
  default?: string;
  choices?: readonly string[];
  /** Checked when the value is not empty (a URL is accepted as is when `allowUrl`). */
  path?: PathRule;
  allowUrl?: boolean;
  /** Refuse an empty value. */
  required?: boolean;
}

/** An on/off flag; `--no-NAME` turns it off. */
export interface BooleanFlag extends _Base {
  type: "boolean";
  default: boolean;
}

/** A comma-separated (or repeated) list, optionally of `choices` or of numbers in a domain. */
export interface ListFlag extends _Base {
  type: "list";
  default?: readonly string[];
  choices?: readonly string[];
  /** Items must be numbers in this domain (the value is still the list of strings). */
  numbers?: NumberDomain;
  /** Fewest items when given. */
  minItems?: number;
}

/** One flag. */
export type FlagDef = NumberFlag | StringFlag | BooleanFlag | ListFlag;

/** A task's flags by name (camelCase names become kebab-case flags). */
export type FlagSpec = Record<string, FlagDef>;

type _Value<D> = D extends { type: "number" } ? number
  : D extends { type: "boolean" } ? boolean
  : D extends { type: "list"; choices: readonly (infer C)[] } ? C[]
  : D extends { type: "list" } ? string[]
  : D extends { type: "string"; choices: readonly (infer C)[] } ? C
  : string;

/** The parsed value type of a spec: flags without a default may be `undefined`. */
export type Flags<S extends FlagSpec> = {
  [K in keyof S]: S[K] extends { default: unknown } ? _Value<S[K]> : _Value<S[K]> | undefined;
};

/** Positional arguments a task takes (e.g. image paths); none unless declared. */
export interface PositionalSpec {
  /** Shown in the usage line, e.g. `PATH`. */
  name: string;
  help: string;
  /** Fewest positionals required (default 0). */
  min?: number;
}

/** Describes a task for its `--help` page. */
export interface TaskInfo {
  /** Task name as in `deno task NAME`. */
  task: string;
  /** One line saying what the task does. */
  summary: string;
  /** Example command lines shown under the flags. */
  examples?: string[];
  /** Positional arguments (refused when absent). */
  positionals?: PositionalSpec;
}

/**
 * The flags every task shares, defined once: `--backend`, `--out`, `--json`, `--quiet`, `--seed`.
 *
 * @example
 * ```ts
 * const spec = { epochs: { type: "number", default: 1, help: "passes" }, ...commonFlags("demo") };
 * ```
 */
export function commonFlags(task: string, options: { seed?: number } = {}) {
  return {
    seed: {
      type: "number",
      default: options.seed ?? 1,
      integer: true,
      min: 0,
      help: "random seed",
    },
    backend: {
      type: "string",
      default: "auto",
      choices: BACKEND_NAMES,
      help: "tfjs backend",
    },
    out: {
      type: "string",
      default: "",
      help: `run folder (default data/runs/${task}-<timestamp>)`,
    },
    json: { type: "boolean", default: false, help: "print the final metrics as JSON on stdout" },
    quiet: { type: "boolean", default: false, help: "no progress or log lines on stderr" },
  } as const satisfies FlagSpec;
}

/** `epochSeconds` -> `epoch-seconds`. */
export function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
}

function _domainText(d: NumberDomain): string {
  const parts: string[] = [];
  if (d.integer) parts.push("integer");
  if (d.min !== undefined) parts.push(`${d.exclusiveMin ? ">" : ">="} ${d.min}`);
  if (d.max !== undefined) parts.push(`${d.exclusiveMax ? "<" : "<="} ${d.max}`);
  return parts.join(", ");
}

/** The `--help` text for a spec. */
export function helpText<S extends FlagSpec>(spec: S, info: TaskInfo): string {
  const rows = Object.entries(spec).map(([name, def]) => {
    const flag = `--${kebab(name)}${def.short ? `, -${def.short}` : ""}` +
      (def.type === "boolean" ? "" : ` <${def.type === "list" ? "a,b,.." : def.type}>`);
    const shown = def.default === undefined
      ? undefined
      : Array.isArray(def.default)
      ? def.default.join(",")
      : String(def.default);
    const extra: string[] = [];
    if ((def.type === "string" || def.type === "list") && def.choices) {
      extra.push(def.choices.filter((c) => c !== "").join("|"));
    }
    if (def.type === "number") {
      const d = _domainText(def);
      if (d) extra.push(d);
    }
    if (def.type === "list" && def.numbers) extra.push(`numbers ${_domainText(def.numbers)}`);
    if (def.type === "string" && def.path) {
      extra.push(`${def.path}${def.allowUrl ? " or URL" : ""}`);
    }
    const tail = shown === undefined ? "" : ` [default: ${shown === "" ? '""' : shown}]`;
    return [flag, `${def.help}${extra.length ? ` (${extra.join("; ")})` : ""}${tail}`];
  });
  const width = Math.max(...rows.map(([f]) => f.length), 10);
  const pos = info.positionals;
  const lines = [
    `deno task ${info.task} [flags]${pos ? ` ${pos.name}...` : ""}`,
    "",
    info.summary,
    "",
    ...(pos ? [`  ${pos.name.padEnd(width)}  ${pos.help}`, ""] : []),
    "Flags:",
    ...rows.map(([f, h]) => `  ${f.padEnd(width)}  ${h}`),
    `  ${"--help, -h".padEnd(width)}  show this help`,
  ];
  if (info.examples?.length) lines.push("", "Examples:", ...info.examples.map((e) => `  ${e}`));
  return lines.join("\n");
}

/** Why `n` is outside `d` (null when inside). */
export function numberProblem(n: number, d: NumberDomain): string | null {
  if (!Number.isFinite(n)) return "expects a finite number";
  if (d.integer && !Number.isInteger(n)) return "expects a whole number";
  if (d.min !== undefined && (d.exclusiveMin ? n <= d.min : n < d.min)) {
    return `must be ${d.exclusiveMin ? ">" : ">="} ${d.min}`;
  }
  if (d.max !== undefined && (d.exclusiveMax ? n >= d.max : n > d.max)) {
    return `must be ${d.exclusiveMax ? "<" : "<="} ${d.max}`;
  }
  return null;
}

function _parseNumber(flag: string, raw: string, d: NumberDomain): number {
  const n = raw.trim() === "" ? NaN : Number(raw);
  if (Number.isNaN(n)) throw new UsageError(`${flag} expects a number, got '${raw}'`);
  const problem = numberProblem(n, d);
  if (problem) throw new UsageError(`${flag} ${problem}, got '${raw}'`);
  return n;
}

function _checkPath(flag: string, value: string, rule: PathRule, allowUrl: boolean): void {
  if (allowUrl && /^https?:\/\//.test(value)) return;
  let info: Deno.FileInfo | null = null;
  try {
    info = Deno.statSync(value);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory)) {
      throw new UsageError(`${flag} ${value}: ${(err as Error).message}`);
    }
  }
  if (rule === "writable-dir") {
    // A folder that will be created is fine when its nearest existing parent is a folder.
    let probe = resolve(value);
    while (!info) {
      const parent = dirname(probe);
      if (parent === probe) break;
      probe = parent;
      try {
        info = Deno.statSync(probe);
      } catch { /* keep climbing */ }
    }
    if (info && !info.isDirectory) {
      throw new UsageError(`${flag} ${value}: ${probe} is a file, not a folder`);
    }
    return;
  }
  if (!info) {
    throw new UsageError(`${flag} ${value}: no such ${rule === "dir" ? "folder" : "file"}`);
  }
  if (rule === "file" && !info.isFile) throw new UsageError(`${flag} ${value}: not a file`);
  if (rule === "dir" && !info.isDirectory) throw new UsageError(`${flag} ${value}: not a folder`);
}

/**
 * Parses `args` against `spec`. Prints help and exits 0 on `--help`; throws {@link UsageError}
 * naming the flag for unknown flags, missing values, values outside their domain or `choices`,
 * and missing paths. Positionals are returned as `_` (refused unless `info.positionals`).
 *
 * @example
 * ```ts
 * const { epochs, _ } = parseFlags(spec, ["--epochs", "3", "a.jpg"], { ...info, positionals });
 * ```
 */
export function parseFlags<S extends FlagSpec>(
  spec: S,
  args: readonly string[],
  info: TaskInfo,
): Flags<S> & { _: string[] } {
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
    parsed = parseArgs({ args: [...args], options, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\nRun 'deno task ${info.task} --help'.`);
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  if (values.help) {
    console.log(helpText(spec, info));
    Deno.exit(0);
  }
  const positionals = parsed.positionals;
  if (!info.positionals && positionals.length) {
    throw new UsageError(
      `unexpected argument '${positionals[0]}' (flags start with --)\n` +
        `Run 'deno task ${info.task} --help'.`,
    );
  }
  if (info.positionals && positionals.length < (info.positionals.min ?? 0)) {
    throw new UsageError(
      `expected at least ${info.positionals.min} ${info.positionals.name} argument(s)\n` +
        `Run 'deno task ${info.task} --help'.`,
    );
  }
  const out: Record<string, unknown> = { _: positionals };
  for (const [name, def] of Object.entries(spec)) {
    const flag = `--${kebab(name)}`;
    const raw = values[kebab(name)];
    if (def.type === "boolean") {
      out[name] = values[`no-${kebab(name)}`] ? false : raw === undefined ? def.default : raw;
    } else if (def.type === "list") {
      if (raw === undefined) {
        out[name] = def.default === undefined ? undefined : [...def.default];
        continue;
      }
      const items = (raw as string[]).flatMap((s) => s.split(",")).map((s) => s.trim())
        .filter((s) => s !== "");
      if (def.choices) {
        const bad = items.filter((i) => !def.choices!.includes(i));
        if (bad.length) {
          throw new UsageError(
            `${flag}: '${bad.join(",")}' not one of ${def.choices.join("|")}`,
          );
        }
      }
      if (def.numbers) { for (const i of items) _parseNumber(flag, i, def.numbers); }
      if (def.minItems !== undefined && items.length < def.minItems) {
        throw new UsageError(`${flag} needs at least ${def.minItems} item(s)`);
      }
      out[name] = items;
    } else if (raw === undefined) {
      out[name] = def.default;
    } else if (def.type === "number") {
      out[name] = _parseNumber(flag, raw as string, def);
    } else {
      const value = raw as string;
      if (def.choices && !def.choices.includes(value)) {
        throw new UsageError(
          `${flag} must be one of ${def.choices.filter((c) => c !== "").join("|")}, got '${value}'`,
        );
      }
      if (def.path && value !== "") _checkPath(flag, value, def.path, def.allowUrl ?? false);
      out[name] = value;
    }
    if (def.type === "string" && def.required && !out[name]) {
      throw new UsageError(`${flag} is required (${def.help})`);
    }
  }
  return out as Flags<S> & { _: string[] };
}
