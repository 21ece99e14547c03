/**
 * Makes `@tensorflow/tfjs-node` (a Node-API addon) work under Deno without its install script,
 * which downloads libtensorflow 2.9.1 from Google storage (not reachable from our machines).
 * Instead the TensorFlow C library is taken from the PyPI wheel `tensorflow-cpu` (or a folder the
 * user gives), the addon is compiled against it with node-gyp, and two lines of the package's
 * JavaScript that call `util.isNullOrUndefined` (removed from Deno's `node:util`) are patched.
 * Python is used at setup time only (`pip download`, `zipfile`); nothing of it at run time.
 *
 * Why it works: the wheel's `tensorflow/libtensorflow_cc.so.2` exports the whole C and eager C API
 * (`TF_NewSession`, `TFE_NewContext`, `TFE_Execute`, ... versioned `@@tensorflow`) and needs only
 * `libtensorflow_framework.so.2` (which exports `TF_NewTensor`, `TF_TensorData`, ...) and system
 * libraries; the wheel also ships the C headers under `tensorflow/include/`. The C API of TF 2.21
 * is a superset of the 2.9 one the binding was written against.
 *
 * The plain-shell recipe this module automates (paths as in this project):
 *
 * ```sh
 * # 1. the wheel (273 MB) and the files we need from it (~820 MB unpacked)
 * pip download --no-deps --only-binary=:all: --python-version 3.11 \
 *   --platform manylinux_2_27_x86_64 tensorflow-cpu==2.21.0 -d data/cache/wheels
 * mkdir -p /tmp/x && cd /tmp/x && unzip -q data/cache/wheels/tensorflow_cpu-2.21.0-*.whl \
 *   'tensorflow/libtensorflow_*.so.2' 'tensorflow/include/tensorflow/c/*' \
 *   'tensorflow/include/tensorflow/core/platform/ctstring*' \
 *   'tensorflow/include/tsl/platform/ctstring*' 'tensorflow/include/xla/tsl/c/*'
 * D=data/cache/libtensorflow-2.21.0-cpu; mkdir -p $D/lib $D/include
 * mv tensorflow/libtensorflow_cc.so.2 tensorflow/libtensorflow_framework.so.2 $D/lib/
 * ln -s libtensorflow_cc.so.2 $D/lib/libtensorflow.so             # binding.gyp links -ltensorflow
 * ln -s libtensorflow_framework.so.2 $D/lib/libtensorflow_framework.so
 * cp -r tensorflow/include/{tensorflow,tsl,xla} $D/include/
 * # 2. point the package's deps/ at it and build the addon (Node-API 8, the highest of the
 * #    package's napi_versions [3..8] that both node (9) and Deno (10) support)
 * P=$(realpath node_modules/@tensorflow/tfjs-node)
 * ln -sfn $(realpath $D) $P/deps
 * cd $P && node /usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js rebuild \
 *   --nodedir=/usr --module_name=tfjs_binding --module_path=$P/lib/napi-v8 --napi_build_version=8
 * # -> lib/napi-v8/tfjs_binding.node, NEEDED libtensorflow_cc.so.2 + libtensorflow_framework.so.2,
 * #    RUNPATH $ORIGIN/../../deps/lib (so no LD_LIBRARY_PATH is needed)
 * # 3. Deno's node:util has no isNullOrUndefined (removed in Node 23; Deno reports node 26).
 * #    sed -i writes a new file and renames it, which matters: Deno hard-links node_modules files
 * #    to its global npm cache, so editing in place would patch every project's copy.
 * sed -i 's/util_1\.isNullOrUndefined/((v) => v == null)/g' \
 *   $P/dist/nodejs_kernel_backend.js $P/dist/kernels/TopK.js
 * # 4. check
 * deno eval 'import * as tf from "npm:@tensorflow/tfjs-node@4.22.0"; console.log(tf.getBackend())'
 * ```
 *
 * `@tensorflow/tfjs-node-gpu` has the identical binding; `variant: "gpu"` builds it against the
 * `tensorflow` wheel (CUDA-enabled, 572 MB). CUDA itself is not linked but dlopen'ed through the
 * RUNPATH `$ORIGIN/../nvidia/<lib>/lib`, i.e. the `nvidia-*-cu12` wheels unpacked next to `lib/`
 * (or `LD_LIBRARY_PATH`); without them it runs on the CPU.
 *
 * @example
 * ```ts
 * const done = await setupLibtensorflow({ cacheDir: "data/cache", log: console.error });
 * console.log(done.action); // "built" the first time, "cached" after
 * const probe = await probeTensorflowBackend();
 * console.log(probe.backend); // "tensorflow"
 * ```
 * @module
 */
import { dirname, join, resolve } from "node:path";
import { writeFileAtomic } from "../io/artifact.ts";
import { runCommand, which } from "../io/exec.ts";
import { exists, readJsonOrNull } from "../io/fs.ts";
import { pipDownload } from "../io/wheel.ts";

/** Which addon package to set up: `cpu` is `@tensorflow/tfjs-node`, `gpu` `-node-gpu`. */
export type TensorflowVariant = "cpu" | "gpu";

/** The TensorFlow wheel version fetched when no folder is given. */
export const DEFAULT_TENSORFLOW_VERSION = "2.21.0";

/** Options for {@link setupLibtensorflow}. */
export interface SetupLibtensorflowOptions {
  /** Folder holding the wheels and the unpacked libraries, e.g. `data/cache`. */
  cacheDir: string;
  /**
   * A ready libtensorflow folder with `lib/libtensorflow.so`, `lib/libtensorflow_framework.so`
   * and `include/tensorflow/c/c_api.h` (the layout of Google's libtensorflow tarballs and of the
   * folders this module unpacks). Defaults to env `DEVISE_LIBTENSORFLOW`, then the wheel.
   */
  libtensorflowDir?: string;
  /** Project root holding `node_modules/` (default: the working directory). */
  root?: string;
  /** `cpu` (default) or `gpu`. */
  variant?: TensorflowVariant;
  /** Wheel version when downloading (default {@link DEFAULT_TENSORFLOW_VERSION}). */
  tensorflowVersion?: string;
  /** For `gpu`: also fetch the `nvidia-*-cu12` wheels the TensorFlow wheel asks for (~3 GB). */
  withCuda?: boolean;
  /** Rebuild even when the stamp says everything is in place. */
  force?: boolean;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/** What {@link setupLibtensorflow} found or did. */
export interface LibtensorflowSetup {
  /** `cached`: stamp matched, nothing done; `built`: the addon was (re)built. */
  action: "cached" | "built";
  /** npm package set up, e.g. `@tensorflow/tfjs-node@4.22.0`. */
  package: string;
  /** Real path of the package folder inside `node_modules/.deno/`. */
  packageDir: string;
  /** The libtensorflow folder `deps/` points to. */
  libtensorflowDir: string;
  /** Where it came from: an option, env `DEVISE_LIBTENSORFLOW`, or a PyPI wheel. */
  source: "option" | "env" | "wheel";
  /** TensorFlow version of the library (from the wheel, or `unknown` for a given folder). */
  tensorflowVersion: string;
  /** Node-API version the addon was built for (its folder is `lib/napi-v<N>`). */
  napiBuildVersion: number;
  /** Path of the built `tfjs_binding.node`. */
  bindingPath: string;
  /** The tool that compiled it (`node-gyp` or a direct `c++` call). */
  builder: string;
  /** Seconds spent. */
  seconds: number;
}

/** Result of {@link probeTensorflowBackend}. */
export interface TensorflowProbe {
  /** True when the package loaded and a matmul ran on the `tensorflow` backend. */
  ok: boolean;
  /** `tf.getBackend()`, e.g. `tensorflow`. */
  backend?: string;
  /** `TF_Version()` of the loaded libtensorflow, e.g. `2.21.0`. */
  tensorflowVersion?: string;
  /** Node-API version the runtime reports. */
  napi?: string;
  /** The error (last stderr lines) when it did not load. */
  error?: string;
  /** Seconds the subprocess took. */
  seconds: number;
}

/** Stamp written next to the binding; a mismatch triggers a rebuild. */
interface _Stamp {
  stamp: 1;
  package: string;
  libtensorflowDir: string;
  libtensorflowBytes: number;
  tensorflowVersion: string;
  napiBuildVersion: number;
}

const _STAMP_NAME = "devise-libtensorflow.json";
const _MARKER_NAME = "libtensorflow.json";
/** Wheel members needed: the two libraries and the headers the binding's includes reach. */
const _WHEEL_MEMBERS = [
  "tensorflow/libtensorflow_cc.so.2",
  "tensorflow/libtensorflow_framework.so.2",
  "tensorflow/include/tensorflow/c/",
  "tensorflow/include/tensorflow/core/platform/ctstring",
  "tensorflow/include/tensorflow/tsl/platform/ctstring",
  "tensorflow/include/tsl/platform/ctstring",
  "tensorflow/include/xla/tsl/c/",
  "tensorflow/include/tensorflow/compiler/xla/tsl/c/",
];
/** Extracts zip members by prefix (argv: zip, out dir, prefixes...); streams, unlike adm-zip. */
const _PY_EXTRACT = `import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for n in z.namelist():
        if not n.endswith("/") and n.startswith(tuple(sys.argv[3:])):
            z.extract(n, sys.argv[2])`;

/**
 * Finds or fetches libtensorflow, builds the tfjs-node addon against it and patches the package
 * for Deno. Idempotent: when the stamp next to the binding matches, it returns in milliseconds.
 *
 * @example
 * ```ts
 * const r = await setupLibtensorflow({ cacheDir: "data/cache", log: (l) => console.error(l) });
 * // r.bindingPath: node_modules/.deno/@tensorflow+tfjs-node@4.22.0/.../lib/napi-v8/tfjs_binding.node
 * ```
 */
export async function setupLibtensorflow(
  options: SetupLibtensorflowOptions,
): Promise<LibtensorflowSetup> {
  const t0 = performance.now();
  const log = options.log ?? (() => {});
  const root = resolve(options.root ?? Deno.cwd());
  const variant = options.variant ?? "cpu";
  const packageName = variant === "gpu" ? "@tensorflow/tfjs-node-gpu" : "@tensorflow/tfjs-node";
  const link = join(root, "node_modules", packageName);
  let packageDir: string;
  try {
    packageDir = await Deno.realPath(link);
  } catch {
    throw new Error(`${link} not found: run \`deno install\` first`);
  }
  const pkg = JSON.parse(await Deno.readTextFile(join(packageDir, "package.json")));
  const packageId = `${packageName}@${pkg.version}`;
  const napiBuildVersion = _bestNapiVersion(pkg.binary?.napi_versions ?? [], process.versions.napi);
  const bindingPath = join(packageDir, "lib", `napi-v${napiBuildVersion}`, "tfjs_binding.node");

  const found = await _findLibtensorflow(options, variant, log);
  const libBytes = (await Deno.stat(join(found.dir, "lib", "libtensorflow.so"))).size;
  const stamp: _Stamp = {
    stamp: 1,
    package: packageId,
    libtensorflowDir: found.dir,
    libtensorflowBytes: libBytes,
    tensorflowVersion: found.version,
    napiBuildVersion,
  };
  const stampPath = join(packageDir, "lib", _STAMP_NAME);
  const result = {
    package: packageId,
    packageDir,
    libtensorflowDir: found.dir,
    source: found.source,
    tensorflowVersion: found.version,
    napiBuildVersion,
    bindingPath,
  };
  if (!options.force && await _stampMatches(stampPath, stamp, bindingPath, packageDir)) {
    const seconds = (performance.now() - t0) / 1000;
    return { action: "cached", ...result, builder: "none", seconds };
  }

  log(`libtensorflow: linking ${packageDir}/deps -> ${found.dir}`);
  await Deno.remove(join(packageDir, "deps"), { recursive: true }).catch(() => {});
  await Deno.symlink(found.dir, join(packageDir, "deps"));
  await Deno.remove(stampPath).catch(() => {});
  log(`libtensorflow: building ${packageId} addon (Node-API ${napiBuildVersion})`);
  const builder = await _buildBinding(packageDir, napiBuildVersion, bindingPath);
  const patched = await _patchForDeno(packageDir);
  if (patched.length) log(`libtensorflow: patched util.isNullOrUndefined in ${patched.join(", ")}`);
  await Deno.writeTextFile(stampPath, JSON.stringify(stamp, null, 2) + "\n");
  const seconds = (performance.now() - t0) / 1000;
  log(`libtensorflow: built ${bindingPath} with ${builder} in ${seconds.toFixed(1)}s`);
  return { action: "built", ...result, builder, seconds };
}

/**
 * Loads the tfjs-node package in a fresh `deno eval` (so a crash or a missing library cannot take
 * the caller down), runs a small matmul and reports the backend and the TensorFlow version.
 *
 * @example
 * ```ts
 * const p = await probeTensorflowBackend({ root: "." });
 * if (!p.ok) console.error(p.error);
 * ```
 */
export async function probeTensorflowBackend(
  options: { root?: string; variant?: TensorflowVariant; timeoutMs?: number } = {},
): Promise<TensorflowProbe> {
  const t0 = performance.now();
  const root = resolve(options.root ?? Deno.cwd());
  const name = options.variant === "gpu" ? "@tensorflow/tfjs-node-gpu" : "@tensorflow/tfjs-node";
  let version: string;
  try {
    const text = await Deno.readTextFile(join(root, "node_modules", name, "package.json"));
    version = JSON.parse(text).version;
  } catch {
    return { ok: false, error: `${name} is not installed under ${root}`, seconds: 0 };
  }
  const code = `const tf = await import("npm:${name}@${version}");
const a = tf.ones([64, 64]);
const sum = (await tf.matMul(a, a).sum().data())[0];
const be = tf.backend();
console.log(JSON.stringify({ backend: tf.getBackend(), sum, napi: process.versions.napi,
  tensorflowVersion: be.binding ? be.binding.TF_Version : undefined }));`;
  const env = { TF_CPP_MIN_LOG_LEVEL: Deno.env.get("TF_CPP_MIN_LOG_LEVEL") ?? "2" };
  const command = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", code],
    cwd: root,
    env,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(options.timeoutMs ?? 120_000),
  });
  const out = await command.output();
  const seconds = (performance.now() - t0) / 1000;
  const stdout = new TextDecoder().decode(out.stdout).trim().split("\n").pop() ?? "";
  if (out.success) {
    try {
      const r = JSON.parse(stdout);
      return {
        ok: r.backend === "tensorflow" && r.sum === 64 * 64 * 64,
        backend: r.backend,
        tensorflowVersion: r.tensorflowVersion,
        napi: r.napi,
        seconds,
      };
    } catch { /* fall through to the error report */ }
  }
  const stderr = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-8).join("\n");
  return { ok: false, error: stderr || stdout || `exit code ${out.code}`, seconds };
}

/** Highest of the package's Node-API versions the runtime supports (what node-pre-gyp picks). */
function _bestNapiVersion(versions: number[], runtime: string | undefined): number {
  const limit = Number(runtime ?? 0);
  const ok = versions.filter((v) => v <= limit);
  if (!ok.length) throw new Error(`no Node-API version in [${versions}] <= runtime's ${runtime}`);
  return Math.max(...ok);
}

/** Resolves the libtensorflow folder: option, then env, then the unpacked (or fetched) wheel. */
async function _findLibtensorflow(
  options: SetupLibtensorflowOptions,
  variant: TensorflowVariant,
  log: (line: string) => void,
): Promise<{ dir: string; source: LibtensorflowSetup["source"]; version: string }> {
  const given = options.libtensorflowDir ?? Deno.env.get("DEVISE_LIBTENSORFLOW");
  if (given) {
    const dir = await Deno.realPath(given).catch(() => resolve(given));
    await _checkLayout(dir);
    const marker = await _readJson(join(dir, _MARKER_NAME));
    const version = typeof marker?.tensorflowVersion === "string"
      ? marker.tensorflowVersion
      : "unknown";
    return { dir, source: options.libtensorflowDir ? "option" : "env", version };
  }
  const version = options.tensorflowVersion ?? DEFAULT_TENSORFLOW_VERSION;
  const cacheDir = resolve(options.cacheDir);
  const dir = join(cacheDir, `libtensorflow-${version}-${variant}`);
  const marker = await _readJson(join(dir, _MARKER_NAME));
  if (marker?.complete && (!options.withCuda || marker.cuda)) {
    return { dir, source: "wheel", version };
  }
  await _unpackWheel(cacheDir, dir, variant, version, options.withCuda ?? false, log);
  return { dir, source: "wheel", version };
}

/** Throws unless `dir` has the lib/ and include/ files the build needs. */
async function _checkLayout(dir: string): Promise<void> {
  for (const rel of ["lib/libtensorflow.so", "lib/libtensorflow_framework.so"]) {
    if (!await exists(join(dir, rel))) {
      throw new Error(
        `${dir} lacks ${rel} (need lib/libtensorflow.so, lib/libtensorflow_framework.so and ` +
          `include/tensorflow/c/c_api.h; for a wheel's libtensorflow_cc.so.2 add the symlink ` +
          `libtensorflow.so -> libtensorflow_cc.so.2)`,
      );
    }
  }
  if (!await exists(join(dir, "include/tensorflow/c/c_api.h"))) {
    throw new Error(`${dir} lacks include/tensorflow/c/c_api.h`);
  }
}

// Fixed tags: the library is the same for every Python, and TF skips new Pythons for a while.
function _wheelOptions(wheelsDir: string, log: (line: string) => void) {
  return {
    wheelsDir,
    platforms: ["manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"],
    log: (line: string) => log(`libtensorflow: ${line}`),
  };
}

/** `pip download`s the wheel (unless cached) and unpacks the libraries and headers into `dir`. */
async function _unpackWheel(
  cacheDir: string,
  dir: string,
  variant: TensorflowVariant,
  version: string,
  withCuda: boolean,
  log: (line: string) => void,
): Promise<void> {
  const project = variant === "gpu" ? "tensorflow" : "tensorflow-cpu";
  const wheelsDir = join(cacheDir, "wheels");
  const wheel = (await pipDownload(`${project}==${version}`, _wheelOptions(wheelsDir, log))).path;
  const tmp = `${dir}.tmp-${Deno.pid}`;
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  log(`libtensorflow: unpacking ${wheel}`);
  await runCommand("python3", ["-c", _PY_EXTRACT, wheel, tmp, ..._WHEEL_MEMBERS]);
  const tf = join(tmp, "tensorflow");
  await Deno.mkdir(join(tmp, "lib"));
  await Deno.mkdir(join(tmp, "include"));
  for (const so of ["libtensorflow_cc.so.2", "libtensorflow_framework.so.2"]) {
    await Deno.rename(join(tf, so), join(tmp, "lib", so));
  }
  await Deno.symlink("libtensorflow_cc.so.2", join(tmp, "lib", "libtensorflow.so"));
  await Deno.symlink(
    "libtensorflow_framework.so.2",
    join(tmp, "lib", "libtensorflow_framework.so"),
  );
  for await (const entry of Deno.readDir(join(tf, "include"))) {
    await Deno.rename(join(tf, "include", entry.name), join(tmp, "include", entry.name));
  }
  await Deno.remove(tf, { recursive: true });
  let cuda = false;
  if (variant === "gpu" && withCuda) {
    // The wheel's RUNPATH has $ORIGIN/../nvidia/<name>/lib: unpack the CUDA wheels beside lib/.
    const metadata = await runCommand("python3", [
      "-c",
      `import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\n` +
      `print(z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode())`,
      wheel,
    ]);
    const reqs = [...metadata.matchAll(/^Requires-Dist: (nvidia-[^;]+); extra == "and-cuda"/gm)]
      .map((m) => m[1].replace(/\s+/g, ""));
    for (const req of reqs) {
      const w = (await pipDownload(req, _wheelOptions(wheelsDir, log))).path;
      await runCommand("python3", ["-c", _PY_EXTRACT, w, tmp, "nvidia/"]);
    }
    cuda = true;
  }
  const marker = { complete: true, tensorflowVersion: version, wheel, variant, cuda };
  await Deno.writeTextFile(join(tmp, _MARKER_NAME), JSON.stringify(marker, null, 2) + "\n");
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.rename(tmp, dir);
}

/**
 * Compiles `binding/*.cc` into `bindingPath`: with node-gyp (the package's binding.gyp) when
 * node-gyp and Node headers are around, else with one direct `c++` call using the same flags.
 */
async function _buildBinding(
  packageDir: string,
  napiBuildVersion: number,
  bindingPath: string,
): Promise<string> {
  const nodedir = await _findNodeDir();
  if (!nodedir) {
    throw new Error(
      "Node-API headers (include/node/node_api.h) not found under /usr, /usr/local or node's " +
        "prefix; install nodejs headers (Debian: apt-get install libnode-dev) or set NODE_GYP_NODEDIR",
    );
  }
  const gyp = await _findNodeGyp();
  if (gyp) {
    await runCommand(gyp[0], [
      ...gyp.slice(1),
      "rebuild",
      `--nodedir=${nodedir}`,
      `--jobs=${navigator.hardwareConcurrency || 2}`,
      "--module_name=tfjs_binding",
      `--module_path=${dirname(bindingPath)}`,
      `--napi_build_version=${napiBuildVersion}`,
    ], { cwd: packageDir });
    await Deno.remove(join(packageDir, "build"), { recursive: true }).catch(() => {});
    return "node-gyp";
  }
  await Deno.mkdir(dirname(bindingPath), { recursive: true });
  const cxx = Deno.env.get("CXX") ?? "c++";
  await runCommand(cxx, [
    "-O3",
    "-std=c++17",
    "-fPIC",
    "-shared",
    `-DNAPI_VERSION=${napiBuildVersion}`,
    `-I${dirname(packageDir)}`,
    `-I${join(packageDir, "deps", "include")}`,
    `-I${join(nodedir, "include", "node")}`,
    join(packageDir, "binding", "tfjs_backend.cc"),
    join(packageDir, "binding", "tfjs_binding.cc"),
    "-o",
    bindingPath,
    `-L${join(packageDir, "deps", "lib")}`,
    "-ltensorflow",
    "-ltensorflow_framework",
    "-Wl,-rpath,$ORIGIN/../../deps/lib",
  ], { cwd: packageDir });
  return cxx;
}

/** A folder with `include/node/node_api.h` (for node-gyp's `--nodedir`), or undefined. */
async function _findNodeDir(): Promise<string | undefined> {
  const candidates = [Deno.env.get("NODE_GYP_NODEDIR"), "/usr", "/usr/local"];
  const node = which("node");
  if (node) candidates.push(dirname(dirname(await Deno.realPath(node))));
  for (const dir of candidates) {
    if (dir && await exists(join(dir, "include", "node", "node_api.h"))) return dir;
  }
  return undefined;
}

/**
 * The command line that runs node-gyp: env `NODE_GYP` (`none` forces the direct `c++` build),
 * `node-gyp` on PATH, or the copy bundled with npm.
 */
async function _findNodeGyp(): Promise<string[] | undefined> {
  const env = Deno.env.get("NODE_GYP");
  if (env === "none") return undefined;
  if (env) return env.split(" ");
  const onPath = which("node-gyp");
  if (onPath) return [onPath];
  const node = which("node");
  if (!node) return undefined;
  const prefix = dirname(dirname(await Deno.realPath(node)));
  const js = join(prefix, "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin");
  if (await exists(join(js, "node-gyp.js"))) return [node, join(js, "node-gyp.js")];
  return undefined;
}

/**
 * Replaces `util_1.isNullOrUndefined` (gone from Deno's node:util) in the package's dist/.
 * Without it every op taking a list attribute fails with "isNullOrUndefined is not a function".
 */
async function _patchForDeno(packageDir: string): Promise<string[]> {
  const patched: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for await (const e of Deno.readDir(dir)) {
      const path = join(dir, e.name);
      if (e.isDirectory) await walk(path);
      else if (e.name.endsWith(".js") && !e.name.endsWith("_test.js")) {
        const text = await Deno.readTextFile(path);
        if (!text.includes("util_1.isNullOrUndefined")) continue;
        // Deno hard-links node_modules files to its global npm cache: write a new file and rename
        // it over, so the cache (and other projects) keep the original.
        await writeFileAtomic(
          path,
          text.replaceAll("util_1.isNullOrUndefined", "((v) => v == null)"),
        );
        patched.push(path.slice(packageDir.length + 1));
      }
    }
  };
  await walk(join(packageDir, "dist"));
  return patched;
}

/** True when the stamp equals `want`, the binding exists and deps/ resolves, and dist is patched. */
async function _stampMatches(
  stampPath: string,
  want: _Stamp,
  bindingPath: string,
  packageDir: string,
): Promise<boolean> {
  const have = await _readJson(stampPath);
  if (!have || JSON.stringify(have) !== JSON.stringify(want)) return false;
  if (!await exists(bindingPath)) return false;
  if (!await exists(join(packageDir, "deps", "lib", "libtensorflow.so"))) return false;
  const backend = await Deno.readTextFile(join(packageDir, "dist", "nodejs_kernel_backend.js"));
  return !backend.includes("util_1.isNullOrUndefined");
}

async function _readJson(path: string): Promise<Record<string, unknown> | undefined> {
  const value = await readJsonOrNull(path).catch(() => null);
  return value && typeof value === "object" ? value as Record<string, unknown> : undefined;
}
