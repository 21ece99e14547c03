/**
 * Builds and loads the `hnswlib-node` native addon. Deno installs npm packages but does not run
 * node-gyp for a package that ships only a `binding.gyp`, so `deno task setup` calls
 * {@link buildHnswlib}, which compiles `build/Release/addon.node` inside the package folder with
 * the node-gyp bundled with npm (or a pinned one via `npx`) against the system Node headers.
 *
 * @example
 * ```ts
 * await buildHnswlib({ log: console.error }); // fast no-op once addon.node exists
 * const hnswlib = await loadHnswlib();
 * const index = new hnswlib.HierarchicalNSW("cosine", 300);
 * ```
 * @module
 */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type * as HnswlibTypes from "hnswlib-node";

/** The `hnswlib-node` module (its CommonJS `module.exports`). */
export type Hnswlib = typeof HnswlibTypes;

/** node-gyp version fetched by `npx` when npm's bundled copy is not found. */
export const NODE_GYP_PIN = "10.2.0";

const _PACKAGE = "hnswlib-node@3.0.0";
const _ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Options for {@link buildHnswlib}. */
export interface BuildHnswlibOptions {
  /** Where progress lines go (default: nowhere). */
  log?: (line: string) => void;
  /** Rebuild even when `addon.node` exists. */
  force?: boolean;
  /**
   * Compile with `-march=native -O3` so hnswlib's AVX2/AVX-512 distance kernels are used (the
   * default; `DEVISE_HNSW_NATIVE=0` turns it off). Safe because the addon is built on the machine
   * that runs it: the build stamp records the CPU, and a different CPU triggers a rebuild.
   */
  native?: boolean;
  /** Project root holding `node_modules/` (default: this repository). */
  root?: string;
}

/**
 * The folder of the installed `hnswlib-node` package, or null when `node_modules` lacks it.
 *
 * @example
 * ```ts
 * hnswlibPackageDir(); // ".../node_modules/.deno/hnswlib-node@3.0.0/node_modules/hnswlib-node"
 * ```
 */
export function hnswlibPackageDir(root = _ROOT): string | null {
  const candidates = [
    join(root, "node_modules", ".deno", _PACKAGE, "node_modules", "hnswlib-node"),
    join(root, "node_modules", "hnswlib-node"),
  ];
  for (const dir of candidates) {
    try {
      if (Deno.statSync(join(dir, "binding.gyp")).isFile) return Deno.realPathSync(dir);
    } catch { /* try the next one */ }
  }
  return null;
}

/**
 * Compiles the addon unless `build/Release/addon.node` exists with a build stamp
 * (`devise-build.json`) of the same flags and CPU (idempotent; milliseconds when it does). Runs
 * `deno install` first when `node_modules` lacks the package. Throws with the tail of node-gyp's
 * output when compilation fails.
 *
 * @example
 * ```ts
 * const { built, path } = await buildHnswlib({ log: console.error });
 * ```
 */
export async function buildHnswlib(
  options: BuildHnswlibOptions = {},
): Promise<{ built: boolean; path: string }> {
  const log = options.log ?? (() => {});
  const root = options.root ?? _ROOT;
  let dir = hnswlibPackageDir(root);
  if (!dir) {
    log(`hnswlib-node not in ${join(root, "node_modules")}; running deno install`);
    await _exec(Deno.execPath(), ["install"], root);
    dir = hnswlibPackageDir(root);
    if (!dir) throw new Error(`deno install did not create ${_PACKAGE} under ${root}/node_modules`);
  }
  const addon = join(dir, "build", "Release", "addon.node");
  const native = options.native ?? Deno.env.get("DEVISE_HNSW_NATIVE") !== "0";
  const stamp = { cxxflags: native ? _NATIVE_FLAGS : "", cpu: native ? _cpuSignature() : "any" };
  const stampPath = join(dir, "build", "Release", "devise-build.json");
  if (!options.force && _isFile(addon) && _readJson(stampPath) === JSON.stringify(stamp)) {
    return { built: false, path: addon };
  }
  const node = _which("node");
  if (!node) throw new Error("building hnswlib-node needs Node.js ('node' on PATH) for node-gyp");
  const gyp = _nodeGyp();
  const args = [...gyp.args, "rebuild"];
  const nodedir = _nodeDir(node);
  if (nodedir) args.push(`--nodedir=${nodedir}`);
  const env: Record<string, string> = native ? { CXXFLAGS: _NATIVE_FLAGS } : {};
  log(`compiling hnswlib-node addon in ${dir} (${gyp.cmd} ${args.join(" ")})`);
  const startMs = performance.now();
  await _exec(gyp.cmd, args, dir, env);
  if (!_isFile(addon)) throw new Error(`node-gyp finished but ${addon} is missing`);
  Deno.writeTextFileSync(stampPath, JSON.stringify(stamp));
  log(`built ${addon} in ${((performance.now() - startMs) / 1000).toFixed(1)} s`);
  return { built: true, path: addon };
}

/**
 * Imports `hnswlib-node`, with a clear error when the native addon has not been compiled.
 *
 * @example
 * ```ts
 * const { HierarchicalNSW } = await loadHnswlib();
 * ```
 */
export async function loadHnswlib(): Promise<Hnswlib> {
  try {
    const mod = await import("hnswlib-node");
    return (mod.default ?? mod) as Hnswlib;
  } catch (err) {
    const message = (err as Error).message;
    if (/bindings file|addon\.node|Cannot find module|not a dependency/i.test(message)) {
      throw new Error(
        `the hnswlib-node native addon is not built (${message.split("\n")[0]}); ` +
          "run `deno task setup` to compile it",
      );
    }
    throw err;
  }
}

const _NATIVE_FLAGS = "-march=native -O3";

// What `-march=native` depends on: the CPU model and its feature flags (Linux), else the arch.
function _cpuSignature(): string {
  try {
    const info = Deno.readTextFileSync("/proc/cpuinfo");
    const first = (key: string) => info.match(new RegExp(`^${key}\\s*:\\s*(.*)$`, "m"))?.[1] ?? "";
    return `${first("model name")} | ${first("flags")}`;
  } catch {
    return `${Deno.build.os}-${Deno.build.arch}`;
  }
}

function _readJson(path: string): string | null {
  try {
    return JSON.stringify(JSON.parse(Deno.readTextFileSync(path)));
  } catch {
    return null;
  }
}

function _isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function _which(name: string): string | null {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir && _isFile(join(dir, name))) return join(dir, name);
  }
  return null;
}

// npm bundles node-gyp; use it so no network is needed. Otherwise fetch a pinned one with npx.
function _nodeGyp(): { cmd: string; args: string[] } {
  const candidates = ["/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"];
  const npm = _which("npm");
  if (npm) {
    const npmDir = dirname(dirname(Deno.realPathSync(npm))); // .../npm/bin/npm-cli.js -> .../npm
    candidates.unshift(join(npmDir, "node_modules", "node-gyp", "bin", "node-gyp.js"));
  }
  for (const path of candidates) if (_isFile(path)) return { cmd: "node", args: [path] };
  return { cmd: "npx", args: ["--yes", `node-gyp@${NODE_GYP_PIN}`] };
}

// Use installed headers (Debian's nodejs puts them in /usr/include/node) instead of downloading.
function _nodeDir(node: string): string | null {
  const prefix = dirname(dirname(Deno.realPathSync(node)));
  for (const dir of [prefix, "/usr", "/usr/local"]) {
    if (_isFile(join(dir, "include", "node", "node_api.h"))) return dir;
  }
  return null;
}

async function _exec(
  cmd: string,
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<void> {
  let output;
  try {
    output = await new Deno.Command(cmd, { args, cwd, env, stdout: "piped", stderr: "piped" })
      .output();
  } catch (err) {
    throw new Error(`could not run '${cmd}': ${(err as Error).message}`);
  }
  if (!output.success) {
    const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
    const tail = text.trim().split("\n").slice(-25).join("\n");
    throw new Error(
      `'${cmd} ${args.join(" ")}' failed in ${cwd} (exit ${output.code}); ` +
        `it needs g++, make and python3.\n${tail}`,
    );
  }
}
