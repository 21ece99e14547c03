/**
 * `deno task search WORD...`: the images whose DeViSE embeddings lie nearest to each word's
 * vector (CIFAR-10 test, CIFAR-100 test, or your own folder), as an HTML grid and JSON. The flow
 * is `lib/pipeline/search.ts`.
 *
 * ```sh
 * deno task search cat boat --data-dir ../shared/data
 * deno task search dog --images my-photos/ --k 32
 * ```
 * @module
 */
import { commonFlags, type FlagSpec, parseFlags } from "../lib/cli/args.ts";
import { runTask } from "../lib/cli/run.ts";
import { resolveDataDir } from "../lib/data/cifar.ts";
import { IMAGE_FITS } from "../lib/images/decode.ts";
import { PRESET_NAMES } from "../lib/pipeline/presets.ts";
import { search } from "../lib/pipeline/search.ts";
import { FEATURE_LAYERS } from "../lib/vision/models.ts";

/** The flags of `deno task search`. */
export const spec = {
  images: {
    type: "string",
    default: "cifar10",
    help: "cifar10 (CIFAR-10 test), cifar100-test, or a folder of images (plain or ImageFolder)",
  },
  from: {
    type: "string",
    default: "",
    path: "dir",
    help: "a `deno task train` run folder (default: the latest one, of --preset if given)",
  },
  preset: {
    type: "string",
    choices: PRESET_NAMES,
    help: "pick the latest train run of this preset",
  },
  layer: {
    type: "string",
    choices: FEATURE_LAYERS,
    help: "feature layer of the DeViSE model (default: the run's last)",
  },
  k: { type: "number", default: 16, integer: true, min: 1, max: 1000, help: "images per word" },
  fit: { type: "string", default: "crop", choices: IMAGE_FITS, help: "square-making of images" },
  dataDir: {
    type: "string",
    default: "",
    help: "folder with cifar-10-binary/ and cifar-100-binary/ (else $DEVISE_DATA_DIR, else data)",
  },
  prototypes: {
    type: "boolean",
    default: true,
    help: "also search with visual prototypes (each word mapped into the layer's feature space, " +
      "fit on the run's CIFAR-100 features; needs CIFAR-100 under --data-dir)",
  },
  indexDir: {
    type: "string",
    default: "data/index",
    path: "writable-dir",
    help: "where the image index is kept",
  },
  cacheDir: {
    type: "string",
    default: "data/cache/images",
    path: "writable-dir",
    help: "where image features and embeddings are cached",
  },
  ...commonFlags("search"),
} as const satisfies FlagSpec;

async function main(): Promise<void> {
  const flags = parseFlags(spec, Deno.args, {
    task: "search",
    summary: "Word → image search: the images nearest to each word through DeViSE.",
    positionals: { name: "WORD", help: "words or phrases (hot_air_balloon, 'sea lion')", min: 1 },
    examples: [
      "deno task search cat boat --data-dir ../shared/data",
      "deno task search dog --images my-photos/ --k 32",
    ],
  });
  await search({ ...flags, words: flags._, dataDir: resolveDataDir(flags.dataDir) });
}

if (import.meta.main) await runTask(main);
