/**
 * `deno task predict PATH...`: your own images (files, folders, or an ImageFolder tree) labelled
 * by a trained DeViSE model and by ConSE, top-k labels with cosine scores, from any label set.
 * The flow is `lib/pipeline/predict.ts`.
 *
 * ```sh
 * deno task predict photo.jpg --labels cat,lynx,fox,hot_air_balloon
 * deno task predict pets/ --labels vocab --k 10 --json
 * ```
 * @module
 */
import { LABEL_NEIGHBOURS_FLAG } from "../lib/pipeline/label_expansion.ts";
import { commonFlags, type FlagSpec, parseFlags } from "../lib/cli/args.ts";
import { runTask } from "../lib/cli/run.ts";
import { resolveDataDir } from "../lib/data/cifar.ts";
import { IMAGE_FITS } from "../lib/images/decode.ts";
import { predict } from "../lib/pipeline/predict.ts";
import { PRESET_NAMES } from "../lib/pipeline/presets.ts";
import { FEATURE_LAYERS } from "../lib/vision/models.ts";

/** The flags of `deno task predict`. */
export const spec = {
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
  labels: {
    type: "string",
    default: "cifar100",
    help: "cifar100, cifar10, vocab (every word, via the HNSW index; DeViSE with the labels' " +
      "shared component restored), a file with one label per line, or a comma list such as " +
      "cat,lynx,fox,hot_air_balloon",
  },
  k: { type: "number", default: 5, integer: true, min: 1, max: 100, help: "labels per image" },
  fit: {
    type: "string",
    default: "crop",
    choices: IMAGE_FITS,
    help: "how a non-square image becomes square: centre crop (as CIFAR), pad, or squash",
  },
  conseT: {
    type: "number",
    default: 10,
    integer: true,
    min: 1,
    max: 100,
    help: "ConSE: top-T CIFAR-100 labels mixed",
  },
  indexDir: {
    type: "string",
    default: "data/index",
    path: "writable-dir",
    help: "where the vocabulary index is kept (--labels vocab)",
  },
  cacheDir: {
    type: "string",
    default: "data/cache/images",
    path: "writable-dir",
    help: "where image features are cached (empty: no cache)",
  },
  prototypes: {
    type: "boolean",
    default: true,
    help: "with a label list: visual prototypes' top labels too (each label's word vector mapped " +
      "into the layer's feature space, fit on the run's CIFAR-100 features; needs CIFAR-100 " +
      "under --data-dir)",
  },
  labelNeighbours: {
    ...LABEL_NEIGHBOURS_FLAG,
    help: "with a label list: DeViSE's top labels also among the labels averaged with their k " +
      "nearest words (0 = k chosen on held-out CIFAR-100 classes as zeroshot does, needs " +
      "CIFAR-100 under --data-dir; -1 = off)",
  },
  dataDir: {
    type: "string",
    default: "",
    help: "folder with cifar-100-binary/, for --prototypes and --label-neighbours (else " +
      "$DEVISE_DATA_DIR, else data)",
  },
  selfTrain: {
    type: "boolean",
    default: false,
    help: "with a label list: also label the images together, by k-means over their features " +
      "seeded by DeViSE's and the prototypes' labels (transductive: for a folder of images of " +
      "those labels)",
  },
  ...commonFlags("predict"),
} as const satisfies FlagSpec;

async function main(): Promise<void> {
  const flags = parseFlags(spec, Deno.args, {
    task: "predict",
    summary: "Zero-shot labels for your own images from a trained DeViSE model (and ConSE).",
    positionals: { name: "PATH", help: "image files, folders, or one ImageFolder tree", min: 1 },
    examples: [
      "deno task predict photo.jpg --labels cat,lynx,fox,hot_air_balloon",
      "deno task predict pets/ --labels vocab --k 10 --json",
      "deno task predict a.jpg b.png --labels cifar10 --from data/runs/train-x",
      "deno task predict pets/ --labels cat,dog,horse --data-dir ../shared/data",
    ],
  });
  await predict({ ...flags, paths: flags._, dataDir: resolveDataDir(flags.dataDir) });
}

if (import.meta.main) await runTask(main);
