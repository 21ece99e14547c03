/**
 * `deno task setup`: makes a fresh clone usable — npm packages, the hnswlib-node and tfjs-node
 * addons (against the libtensorflow of the PyPI `tensorflow-cpu` wheel, or `--libtensorflow`),
 * and a report of the usable backends. The flow is `lib/backend/setup.ts`.
 *
 * ```sh
 * deno task setup
 * deno task setup --libtensorflow /opt/libtensorflow   # bring your own (e.g. a CUDA 12 build)
 * deno task setup --if-needed --quiet                  # what `train` and `test` run first
 * ```
 * @module
 */
import { type FlagSpec, parseFlags } from "../lib/cli/args.ts";
import { runTask } from "../lib/cli/run.ts";
import { defaultCacheDir } from "../lib/backend/cache.ts";
import { setup } from "../lib/backend/setup.ts";

/** The flags of `deno task setup`. */
export const spec = {
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

async function main(): Promise<void> {
  const flags = parseFlags(spec, Deno.args, {
    task: "setup",
    summary: "Install npm packages, build the native addons (hnswlib-node, tfjs-node), " +
      "and report which tfjs backends are usable.",
    examples: ["deno task setup", "deno task setup --libtensorflow /opt/libtensorflow"],
  });
  await setup(flags);
}

if (import.meta.main) await runTask(main);
