/**
 * Makes a fresh clone usable (`deno task setup`): installs the npm packages into the local
 * `node_modules`, builds hnswlib-node's addon (Deno will not run node-gyp by itself), builds
 * tfjs-node's addon against a libtensorflow taken from the PyPI `tensorflow-cpu` wheel (or a
 * given folder), and reports which tfjs backends load. Idempotent: with `ifNeeded` and an
 * unchanged lock file it returns in milliseconds.
 *
 * @example
 * ```ts
 * await setup({ libtensorflow: "", variant: "cpu", cacheDir: defaultCacheDir(), ifNeeded: true,
 *   force: false, json: false, quiet: true });
 * ```
 * @module
 */
import { join } from "node:path";
import { sha256Hex, writeJsonAtomic } from "../io/artifact.ts";
import { runCommand } from "../io/exec.ts";
import { buildHnswlib } from "./hnswlib.ts";
import {
  probeTensorflowBackend,
  setupLibtensorflow,
  type TensorflowVariant,
} from "./libtensorflow.ts";

/** What `deno task setup` is asked to do. */
export interface SetupRequest {
  libtensorflow: string;
  variant: TensorflowVariant | "none";
  cacheDir: string;
  ifNeeded: boolean;
  force: boolean;
  json: boolean;
  quiet: boolean;
}

const STAMP_PATH = join("data", ".setup.json");
// 2: hnswlib-node built with -march=native; 3: its threaded addPoints; 4: adviseHugePages
const STAMP_VERSION = 4;

async function _lockHash(): Promise<string> {
  const parts = await Promise.all(
    ["deno.json", "deno.lock"].map((p) => Deno.readFile(p).catch(() => new Uint8Array())),
  );
  return await sha256Hex(new Uint8Array([...parts[0], ...parts[1]]));
}

/**
 * The whole of `deno task setup` (see the module doc).
 *
 * @example
 * ```ts
 * await setup({ ...request, force: true });
 * ```
 */
export async function setup(flags: SetupRequest): Promise<void> {
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
  await runCommand(Deno.execPath(), ["install", "--quiet"]);

  log("setup: building hnswlib-node's addon");
  const hnsw = await buildHnswlib({ log });
  log(`setup: hnswlib-node ${hnsw.built ? "built" : "already built"} (${hnsw.path})`);

  const report: Record<string, unknown> = { hnswlib: hnsw };
  const backends: Record<string, string> = { cpu: "usable (pure JS, slow)" };
  if (flags.variant !== "none") {
    const variant: TensorflowVariant = flags.variant;
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
