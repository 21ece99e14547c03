/**
 * Builds and loads the `hnswlib-node` native addon. Deno installs npm packages but does not run
 * node-gyp for a package that ships only a `binding.gyp`, so `deno task setup` calls
 * {@link buildHnswlib}, which compiles `build/Release/addon.node` inside the package folder with
 * the node-gyp bundled with npm (or a pinned one via `npx`) against the system Node headers.
 *
 * The build adds three methods to `HierarchicalNSW` (source: `native/hnsw_ext.h`):
 * `addPoints(Float32Array, firstLabel, numThreads)`, a multi-threaded insert of many rows like
 * hnswlib's Python `add_items`, `searchKnnFloat32(Float32Array, k)`, a search without a JS
 * Array copy, and `adviseHugePages()`, transparent huge pages for the index's memory. {@link addPointsParallel} and {@link searchKnnF32} use them, and fall back to the
 * stock one-point methods on an addon built before the extension existed.
 *
 * @example
 * ```ts
 * await buildHnswlib({ log: console.error }); // fast no-op once addon.node is up to date
 * const hnswlib = await loadHnswlib();
 * const index = new hnswlib.HierarchicalNSW("cosine", 300);
 * index.initIndex(data.length / 300, 32, 200, 100);
 * addPointsParallel(index, data, 300, 0, { threads: 2 });
 * const { neighbors } = searchKnnF32(index, data.subarray(0, 300), 10);
 * ```
 * @module
 */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type * as HnswlibTypes from "hnswlib-node";
import { writeFileAtomic } from "../io/artifact.ts";
import { runCommand, which } from "../io/exec.ts";
import { isFileSync, statOrNullSync } from "../io/fs.ts";

/** The `hnswlib-node` module (its CommonJS `module.exports`). */
export type Hnswlib = typeof HnswlibTypes;

/** An hnswlib-node HNSW index. */
export type HierarchicalNSW = HnswlibTypes.HierarchicalNSW;

/** What `searchKnn` returns: `neighbors` (labels) and `distances`, nearest first. */
export type SearchResult = HnswlibTypes.SearchResult;

/** The methods the devise build of the addon adds to `HierarchicalNSW` (see `native/hnsw_ext.h`). */
export interface HnswNativeExtension {
  /**
   * Inserts `data.length / dim` rows with labels `firstLabel..`, on `numThreads` threads (<= 0:
   * all cores). Synchronous. Throws (nothing inserted) on a row length that is not `dim`, empty
   * data, labels outside uint32, or more new points than `maxElements` leaves room for.
   */
  addPoints(data: Float32Array, firstLabel: number, numThreads?: number): void;
  /** `searchKnn` for a Float32Array query (read in place, not element by element). */
  searchKnnFloat32(
    query: Float32Array,
    k: number,
    filter?: (label: number) => boolean,
  ): SearchResult;
  /**
   * `madvise(MADV_HUGEPAGE)` over the index's level-0 block (every vector and its level-0 links):
   * the pages touched after it may be 2 MiB ones. Returns the bytes advised (0 off Linux).
   */
  adviseHugePages(): number;
}

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
    if (isFileSync(join(dir, "binding.gyp"))) return Deno.realPathSync(dir);
  }
  return null;
}

/**
 * Compiles the addon (with the devise extension patched in) unless `build/Release/addon.node`
 * exists with a build stamp (`devise-build.json`) of the same flags, CPU and patch
 * (idempotent; milliseconds when it does). Runs `deno install` first when `node_modules` lacks
 * the package. Throws with the tail of node-gyp's output when compilation fails.
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
    await runCommand(Deno.execPath(), ["install"], { cwd: root });
    dir = hnswlibPackageDir(root);
    if (!dir) throw new Error(`deno install did not create ${_PACKAGE} under ${root}/node_modules`);
  }
  const addon = join(dir, "build", "Release", "addon.node");
  const native = options.native ?? Deno.env.get("DEVISE_HNSW_NATIVE") !== "0";
  const patch = await _extensionPatch(dir);
  const stamp = {
    cxxflags: native ? _NATIVE_FLAGS : "",
    cpu: native ? _cpuSignature() : "any",
    patch: patch.digest,
  };
  const stampPath = join(dir, "build", "Release", "devise-build.json");
  if (
    !options.force && isFileSync(addon) && _readJson(stampPath) === JSON.stringify(stamp) &&
    _gypPatched(dir)
  ) {
    return { built: false, path: addon };
  }
  const node = which("node");
  if (!node) throw new Error("building hnswlib-node needs Node.js ('node' on PATH) for node-gyp");
  await _applyExtensionPatch(dir, patch);
  const gyp = _nodeGyp();
  const args = [...gyp.args, "rebuild"];
  const nodedir = _nodeDir(node);
  if (nodedir) args.push(`--nodedir=${nodedir}`);
  const env: Record<string, string> = native ? { CXXFLAGS: _NATIVE_FLAGS } : {};
  log(`compiling hnswlib-node addon in ${dir} (${gyp.cmd} ${args.join(" ")})`);
  const startMs = performance.now();
  await runCommand(gyp.cmd, args, {
    cwd: dir,
    env,
    tailLines: 25,
    hint: "it needs g++, make and python3",
  });
  if (!isFileSync(addon)) throw new Error(`node-gyp finished but ${addon} is missing`);
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

/**
 * True when the loaded addon has the devise extension (`addPoints`, `searchKnnFloat32`); false
 * for an addon built before it (then run `deno task setup --force`).
 *
 * @example
 * ```ts
 * if (!hasNativeExtension(index)) console.error("one-point inserts: rebuild hnswlib-node");
 * ```
 */
export function hasNativeExtension(
  hnsw: HierarchicalNSW,
): hnsw is HierarchicalNSW & HnswNativeExtension {
  const ext = hnsw as Partial<HnswNativeExtension>;
  return typeof ext.addPoints === "function" && typeof ext.searchKnnFloat32 === "function" &&
    typeof ext.adviseHugePages === "function";
}

/** Options for {@link addPointsParallel}. */
export interface AddPointsOptions {
  /** Insert threads (default: all cores, `navigator.hardwareConcurrency`). */
  threads?: number;
  /** Rows per native call; progress is reported between calls (default 10,000). */
  chunk?: number;
  /** Called with (rows inserted, total rows) after each chunk. */
  onProgress?: (done: number, total: number) => void;
  /** false: insert one point at a time with `addPoint`, as an addon without the extension does. */
  native?: boolean;
  /**
   * Advise transparent huge pages over the index's block before inserting (default true; native
   * path only). Random reads over a block of hundreds of MB miss the TLB with 4 KiB pages.
   */
  hugePages?: boolean;
}

/** What {@link addPointsParallel} did. */
export interface AddPointsResult {
  /** Rows inserted (or updated, for labels already present). */
  rows: number;
  /** Threads used (1 on the one-point path). */
  threads: number;
  /** Whether the native `addPoints` was used. */
  native: boolean;
  /** Bytes of the index advised for huge pages (0: not asked, or not Linux). */
  hugePageBytes: number;
  /** Wall seconds. */
  seconds: number;
}

/**
 * Inserts the rows of `data` (`dim` floats each) into `hnsw` with labels `firstLabel + i`, on
 * `threads` native threads like hnswlib's Python `add_items` (cosine rows are normalised as
 * `addPoint` does). Synchronous: it returns when every row is in. Without the native extension it
 * falls back to one `addPoint` per row. Throws before inserting anything on a dim mismatch, a
 * length that is not whole rows, empty data, or more new labels than `maxElements` allows; a
 * label already in the index is updated (hnswlib's `addPoint` semantics).
 *
 * @example
 * ```ts
 * const index = new hnswlib.HierarchicalNSW("cosine", 300);
 * index.initIndex(count, 32, 200, 100);
 * addPointsParallel(index, data, 300, 0, {
 *   threads: 2,
 *   onProgress: (done, total) => console.error(`${done}/${total}`),
 * });
 * ```
 */
export function addPointsParallel(
  hnsw: HierarchicalNSW,
  data: Float32Array,
  dim: number,
  firstLabel = 0,
  options: AddPointsOptions = {},
): AddPointsResult {
  const startMs = performance.now();
  if (dim !== hnsw.getNumDimensions()) {
    throw new Error(`addPointsParallel: dim ${dim}, but the index has ${hnsw.getNumDimensions()}`);
  }
  if (data.length === 0) throw new Error("addPointsParallel: no rows to add (empty data)");
  if (data.length % dim !== 0) {
    throw new Error(
      `addPointsParallel: ${data.length} floats is not a whole number of ${dim}-float rows`,
    );
  }
  const rows = data.length / dim;
  if (!Number.isInteger(firstLabel) || firstLabel < 0 || firstLabel + rows - 1 > 0xffffffff) {
    throw new Error(
      `addPointsParallel: labels ${firstLabel}..${firstLabel + rows - 1} must be integers ` +
        "in [0, 4294967295]",
    );
  }
  _checkRoom(hnsw, firstLabel, rows);
  const chunk = Math.max(1, Math.floor(options.chunk ?? 10_000));
  const ext = options.native !== false && hasNativeExtension(hnsw) ? hnsw : null;
  let threads = 1;
  let hugePageBytes = 0;
  if (ext) {
    threads = Math.max(1, Math.floor(options.threads ?? navigator.hardwareConcurrency ?? 1));
    if (options.hugePages !== false) hugePageBytes = ext.adviseHugePages();
    for (let r = 0; r < rows; r += chunk) {
      const n = Math.min(chunk, rows - r);
      ext.addPoints(data.subarray(r * dim, (r + n) * dim), firstLabel + r, threads);
      options.onProgress?.(r + n, rows);
    }
  } else {
    // hnswlib-node's addPoint reads a plain Array; one reused Array avoids an allocation per row.
    const row: number[] = new Array(dim).fill(0);
    for (let i = 0; i < rows; i++) {
      const off = i * dim;
      for (let j = 0; j < dim; j++) row[j] = data[off + j];
      hnsw.addPoint(row, firstLabel + i);
      if ((i + 1) % chunk === 0 || i + 1 === rows) options.onProgress?.(i + 1, rows);
    }
  }
  const seconds = (performance.now() - startMs) / 1000;
  return { rows, threads, native: ext !== null, hugePageBytes, seconds };
}

/**
 * `k` nearest labels to `query` (same result as `searchKnn`: `neighbors`, `distances`, nearest
 * first). A Float32Array query is read in place by the native `searchKnnFloat32`; other array
 * likes (or an addon without the extension) are copied into a JS Array for `searchKnn`.
 *
 * @example
 * ```ts
 * index.setEf(100);
 * const { neighbors, distances } = searchKnnF32(index, queries.subarray(0, 300), 10);
 * ```
 */
export function searchKnnF32(
  hnsw: HierarchicalNSW,
  query: Float32Array | ArrayLike<number>,
  k: number,
  filter?: (label: number) => boolean,
): SearchResult {
  if (query instanceof Float32Array && hasNativeExtension(hnsw)) {
    return filter ? hnsw.searchKnnFloat32(query, k, filter) : hnsw.searchKnnFloat32(query, k);
  }
  const q: number[] = new Array(query.length);
  for (let j = 0; j < query.length; j++) q[j] = query[j];
  return filter ? hnsw.searchKnn(q, k, filter) : hnsw.searchKnn(q, k);
}

// The whole range is checked up front so that a chunked insert never stops half-way for room.
function _checkRoom(hnsw: HierarchicalNSW, firstLabel: number, rows: number): void {
  const have = hnsw.getCurrentCount(), max = hnsw.getMaxElements();
  if (have + rows <= max) return;
  let fresh = rows;
  if (have > 0) {
    for (const label of hnsw.getIdsList()) {
      if (label >= firstLabel && label < firstLabel + rows) fresh--;
    }
  }
  if (have + fresh > max) {
    throw new Error(
      `addPointsParallel: ${fresh} new points do not fit: the index holds ${have} of ` +
        `maxElements ${max} (call resizeIndex first)`,
    );
  }
}

const _NATIVE_FLAGS = "-march=native -O3";
const _EXT_HEADER = "devise_hnsw_ext.h";
const _PATCHED_SOURCE = "devise_addon.cc";

/** The generated sources and their digest (the build stamp's `patch`). */
interface _Patch {
  header: string;
  source: string;
  digest: string;
}

// addon.cc plus three insertions: std headers, the extension inside the HierarchicalNSW class
// body (it needs the private index_/normalize_ members), and the two method registrations. Each
// anchor must occur exactly once, so a different hnswlib-node version fails loudly here.
async function _extensionPatch(dir: string): Promise<_Patch> {
  const header = await Deno.readTextFile(new URL("./native/hnsw_ext.h", import.meta.url));
  let source = await Deno.readTextFile(join(dir, "src", "addon.cc"));
  const edits: [string, string][] = [
    [
      '#include "hnswlib/hnswlib.h"\n',
      '#include "hnswlib/hnswlib.h"\n\n// devise: for ' + _EXT_HEADER + "\n#include <algorithm>\n" +
      "#include <atomic>\n#include <mutex>\n#include <queue>\n#include <system_error>\n" +
      "#include <thread>\n#include <sys/mman.h>\n#include <unistd.h>\n",
    ],
    [
      '      InstanceMethod("setEf", &HierarchicalNSW::setEf)\n',
      '      InstanceMethod("setEf", &HierarchicalNSW::setEf),\n' +
      '      InstanceMethod("addPoints", &HierarchicalNSW::addPoints),\n' +
      '      InstanceMethod("searchKnnFloat32", &HierarchicalNSW::searchKnnFloat32),\n' +
      '      InstanceMethod("adviseHugePages", &HierarchicalNSW::adviseHugePages)\n',
    ],
    [
      "  Napi::Value getIdsList(const Napi::CallbackInfo& info) {\n",
      `#include "${_EXT_HEADER}"\n\n  Napi::Value getIdsList(const Napi::CallbackInfo& info) {\n`,
    ],
  ];
  for (const [anchor, replacement] of edits) {
    const count = source.split(anchor).length - 1;
    if (count !== 1) {
      throw new Error(
        `cannot patch ${join(dir, "src", "addon.cc")}: expected one '${anchor.trim()}', ` +
          `found ${count} (not hnswlib-node 3.0.0?)`,
      );
    }
    source = source.replace(anchor, () => replacement);
  }
  source = `// Generated by devise lib/backend/hnswlib.ts from addon.cc; do not edit.\n${source}`;
  const bytes = new TextEncoder().encode(`${header}\0${source}`);
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const digest = Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("");
  return { header, source, digest };
}

// A reinstalled package has the stock binding.gyp again, so its addon lacks the extension.
function _gypPatched(dir: string): boolean {
  try {
    return Deno.readTextFileSync(join(dir, "binding.gyp")).includes(`"src/${_PATCHED_SOURCE}"`);
  } catch {
    return false;
  }
}

// Deno hard-links node_modules files to its global npm cache: addon.cc is never touched (the
// patched copy is a new file), and binding.gyp is replaced by a new file renamed over it.
async function _applyExtensionPatch(dir: string, patch: _Patch): Promise<void> {
  await writeFileAtomic(join(dir, "src", _EXT_HEADER), patch.header);
  await writeFileAtomic(join(dir, "src", _PATCHED_SOURCE), patch.source);
  const gypPath = join(dir, "binding.gyp");
  const gyp = await Deno.readTextFile(gypPath);
  if (gyp.includes(`"src/${_PATCHED_SOURCE}"`)) return;
  if (!gyp.includes('"src/addon.cc"')) {
    throw new Error(`cannot patch ${gypPath}: it does not list "src/addon.cc"`);
  }
  await writeFileAtomic(gypPath, gyp.replace('"src/addon.cc"', `"src/${_PATCHED_SOURCE}"`));
}

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

// npm bundles node-gyp; use it so no network is needed. Otherwise fetch a pinned one with npx.
function _nodeGyp(): { cmd: string; args: string[] } {
  const candidates = ["/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"];
  const npm = which("npm");
  if (npm) {
    const npmDir = dirname(dirname(Deno.realPathSync(npm))); // .../npm/bin/npm-cli.js -> .../npm
    candidates.unshift(join(npmDir, "node_modules", "node-gyp", "bin", "node-gyp.js"));
  }
  for (const path of candidates) if (isFileSync(path)) return { cmd: "node", args: [path] };
  return { cmd: "npx", args: ["--yes", `node-gyp@${NODE_GYP_PIN}`] };
}

// Use installed headers (Debian's nodejs puts them in /usr/include/node) instead of downloading.
function _nodeDir(node: string): string | null {
  const prefix = dirname(dirname(Deno.realPathSync(node)));
  for (const dir of [prefix, "/usr", "/usr/local"]) {
    if (statOrNullSync(join(dir, "include", "node", "node_api.h"))?.isFile) return dir;
  }
  return null;
}
