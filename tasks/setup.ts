/**
 * Makes a fresh clone usable: installs the npm packages into the local `node_modules`, builds
 * hnswlib-node's addon (Deno will not run node-gyp by itself), builds tfjs-node's addon against a
 * libtensorflow taken from the PyPI `tensorflow-cpu` wheel (or `--libtensorflow DIR`), and reports
 * which tfjs backends load. Idempotent: a second run finishes in about a second.
 *
 * ```sh
 * deno task setup
 * deno task setup --libtensorflow /opt/libtensorflow   # bring your own (e.g. a CUDA 12 build)
 * deno task setup --if-needed --quiet                  # what `train` and `test` run first
 * ```
 * @module
 */
import { join } from "node:path";
import { type FlagSpec, parseFlags } from "../lib/cli/args.ts";
import { runTask } from "../lib/cli/run.ts";
import { writeJsonAtomic } from "../lib/io/artifact.ts";
import {
  probeTensorflowBackend,
  setupLibtensorflow,
  type TensorflowVariant,
} from "../lib/backend/libtensorflow.ts";
import { buildHnswlib } from "../lib/backend/hnswlib.ts";
import { defaultCacheDir } from "../lib/backend/cache.ts";

const spec = {
  libtensorflow: {
    type: "string",
    default: Deno.env.get("DEVISE_LIBTENSORFLOW") ?? "",
    help: "existing libtensorflow folder (lib/ + include/); env DEVISE_LIBTENSORFLOW",
  },
  variant: {
    type: "string",
    default: "cpu",
    choices: ["cpu", "gpu", "none"],
    help: "which tfjs-node addon to build: tfjs-node (cpu), tfjs-node-gpu (gpu), or none",
  },
  cacheDir: {
    type: "string",
    default: defaultCacheDir(),
    help: "where wheels and the unpacked libtensorflow live; env DEVISE_CACHE_DIR",
  },
  ifNeeded: { type: "boolean", default: false, help: "do nothing when setup is already done" },
  force: { type: "boolean", default: false, help: "rebuild the native addons" },
  json: { type: "boolean", default: false, help: "print the setup report as JSON on stdout" },
  quiet: { type: "boolean", default: false, help: "only print problems" },
} as const satisfies FlagSpec;

const STAMP_PATH = join("data", ".setup.json");
const STAMP_VERSION = 2; // 2: hnswlib-node built with -march=native

async function _lockHash(): Promise<string> {
  const { sha256Hex } = await import("../lib/io/artifact.ts");
  const parts = await Promise.all(
    ["deno.json", "deno.lock"].map((p) => Deno.readFile(p).catch(() => new Uint8Array())),
  );
  return await sha256Hex(new Uint8Array([...parts[0], ...parts[1]]));
}

async function main(): Promise<void> {
  const flags = parseFlags(spec, Deno.args, {
    task: "setup",
    summary: "Install npm packages, build the native addons (hnswlib-node, tfjs-node), " +
      "and report which tfjs backends are usable.",
    examples: ["deno task setup", "deno task setup --libtensorflow /opt/libtensorflow"],
  });
  const log = (line: string) => flags.quiet || console.error(line);
  const lockHash = await _lockHash();
  if (flags.ifNeeded && !flags.force) {
    try {
      const stamp = JSON.parse(await Deno.readTextFile(STAMP_PATH));
      if (stamp.version === STAMP_VERSION && stamp.lockHash === lockHash) {
        await Deno.stat("node_modules/.deno");
        return;
      }
    } catch { /* not set up yet */ }
  }
  const t0 = performance.now();

  log("setup: installing npm packages into node_modules (lifecycle scripts are not run)");
  const install = await new Deno.Command(Deno.execPath(), {
    args: ["install", "--quiet"],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!install.success) throw new Error("`deno install` failed (see above)");

  log("setup: building hnswlib-node's addon");
  const hnsw = await buildHnswlib({ log });
  log(`setup: hnswlib-node ${hnsw.built ? "built" : "already built"} (${hnsw.path})`);

  const report: Record<string, unknown> = { hnswlib: hnsw };
  const backends: Record<string, string> = { cpu: "usable (pure JS, slow)" };
  if (flags.variant !== "none") {
    const variant = flags.variant as TensorflowVariant;
    try {
      const tf = await setupLibtensorflow({
        cacheDir: flags.cacheDir,
        libtensorflowDir: flags.libtensorflow || undefined,
        variant,
        force: flags.force,
        log,
      });
      report.libtensorflow = tf;
      const probe = await probeTensorflowBackend({ variant });
      report.probe = probe;
      backends[variant === "gpu" ? "tensorflow-gpu" : "tensorflow"] = probe.ok
        ? `usable (libtensorflow ${probe.tensorflowVersion} from ${tf.source})`
        : `not usable: ${probe.error}`;
    } catch (err) {
      // The native backend is needed for real training, not for the test suite: report, go on.
      backends.tensorflow = `not usable: ${(err as Error).message}`;
    }
  }
  report.backends = backends;
  for (const [name, state] of Object.entries(backends)) log(`setup: backend ${name}: ${state}`);
  const seconds = (performance.now() - t0) / 1000;
  await writeJsonAtomic(STAMP_PATH, {
    version: STAMP_VERSION,
    lockHash,
    deno: Deno.version.deno,
    finishedAt: new Date().toISOString(),
    seconds,
    ...report,
  });
  log(`setup: done in ${seconds.toFixed(1)}s`);
  if (flags.json) console.log(JSON.stringify(report));
}

if (import.meta.main) await runTask(main);
