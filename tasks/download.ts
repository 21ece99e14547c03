/**
 * `deno task download`: fetch and unpack the official CIFAR binary archives (resumable, md5
 * checked, safe extraction), or with `--check` verify what is already in the data dir. The flow
 * is `lib/pipeline/download.ts`.
 *
 * @example
 * ```sh
 * deno task download --dataset cifar100
 * deno task download --data-dir /work/shared/data --check --json
 * ```
 * @module
 */
import { commonFlags, type FlagSpec, parseFlags } from "../lib/cli/args.ts";
import { runTask } from "../lib/cli/run.ts";
import { resolveDataDir } from "../lib/data/cifar.ts";
import { download } from "../lib/pipeline/download.ts";

/** The flags of `deno task download`. */
export const spec = {
  dataset: {
    type: "string",
    default: "",
    choices: ["", "cifar100", "cifar10"],
    help: "dataset; when empty: cifar100 for a download, every dataset found for --check",
  },
  dataDir: { type: "string", default: "", help: "data folder (else $DEVISE_DATA_DIR, else data)" },
  check: { type: "boolean", default: false, help: "no network: verify the data already there" },
  url: {
    type: "string",
    default: "",
    help: "archive URL (a mirror); the official md5 still applies",
  },
  md5: {
    type: "string",
    default: "",
    help: "expected md5 of the archive (default: the official one)",
  },
  keepArchive: { type: "boolean", default: false, help: "keep the .tar.gz after extracting" },
  exportImages: {
    type: "string",
    default: "",
    path: "writable-dir",
    help: "also write the test split as an ImageFolder tree of lossless PNGs (DIR/<class>/*.png)",
  },
  ...commonFlags("download"),
} as const satisfies FlagSpec;

async function main(): Promise<void> {
  const flags = parseFlags(spec, Deno.args, {
    task: "download",
    summary: "Download the official CIFAR binary archives, or verify local data with --check.",
    examples: [
      "deno task download --dataset cifar100",
      "deno task download --dataset cifar10 --data-dir /data/cifar",
      "deno task download --data-dir /work/shared/data --check --json",
    ],
  });
  await download({ ...flags, dataDir: resolveDataDir(flags.dataDir) });
}

if (import.meta.main) await runTask(main);
