/**
 * `deno task zeroshot`: CIFAR-10 labels for CIFAR-10 images from a DeViSE model that never saw
 * CIFAR-10 (10-way, DeViSE vs ConSE), the whole vocabulary searched through HNSW (`--vocab full`),
 * and an optional seen/unseen split inside CIFAR-100 (`--unseen K`). Reads what `deno task train`
 * produced (the latest train run, or `--from`). Stages in `lib/pipeline/zeroshot.ts`.
 *
 * ```sh
 * deno task zeroshot --vocab full --data-dir ../shared/data
 * deno task zeroshot --vocab full --data-dir ../shared/data --preset quick --json
 * deno task zeroshot --unseen 20 --data-dir ../shared/data
 * ```
 * @module
 */
import { LABEL_NEIGHBOURS_FLAG } from "../lib/pipeline/label_expansion.ts";
import { commonFlags, type FlagSpec, parseFlags } from "../lib/cli/args.ts";
import { VOCAB_INDEX_PARAMS } from "../lib/zeroshot/index.ts";
import { runTask } from "../lib/cli/run.ts";
import { resolveDataDir } from "../lib/data/cifar.ts";
import { PRESET_NAMES } from "../lib/pipeline/presets.ts";
import { zeroshot } from "../lib/pipeline/zeroshot.ts";
import { FEATURE_LAYERS } from "../lib/vision/models.ts";
import { IMAGE_FITS } from "../lib/images/decode.ts";
import { parseCandidateSet } from "../lib/zeroshot/candidates.ts";

/** The flags of `deno task zeroshot`. */
export const spec = {
  dataDir: {
    type: "string",
    default: "",
    help: "folder with cifar-10-binary/ and cifar-100-binary/ (else $DEVISE_DATA_DIR, else data)",
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
  images: {
    type: "string",
    path: "dir",
    help: "an ImageFolder tree (DIR/<class>/*.jpg) to score instead of CIFAR-10 test; its " +
      "folder names are the label set",
  },
  fit: {
    type: "string",
    default: "crop",
    choices: IMAGE_FITS,
    help: "with --images: how a non-square image becomes square",
  },
  cacheDir: {
    type: "string",
    default: "data/cache/images",
    path: "writable-dir",
    help: "with --images: where the folder's features are cached",
  },
  layer: {
    type: "string",
    choices: FEATURE_LAYERS,
    help: "feature layer of the DeViSE model (default: the run's last)",
  },
  finetuned: {
    type: "boolean",
    default: false,
    help: "use the run's fine-tuned model (train --finetune-epochs): its map and its own features",
  },
  vocab: {
    type: "string",
    default: "10",
    choices: ["10", "full"],
    help: "10: the CIFAR-10 labels only; full: also every word of the vocabulary via HNSW",
  },
  candidates: {
    type: "list",
    default: ["all"],
    help: "with --vocab full: candidate sets, each searched (all, nouns = WordNet nouns, " +
      "objects = nouns under physical object, topN = the N most frequent words)",
  },
  imageCslsK: {
    type: "number",
    default: 10,
    integer: true,
    min: 0,
    max: 1000,
    help: 'CSLS from images: "DeViSE + CSLS (images)" (10-way) and, with --vocab full, ' +
      '"DeViSE + CSLS" rows; each label or word penalised by its mean cosine to its k nearest ' +
      "CIFAR-100 training-image embeddings (0 = off)",
  },
  k: {
    type: "number",
    default: 20,
    integer: true,
    min: 1,
    max: 100,
    help: "words per image for full-vocabulary hit@k",
  },
  m: {
    type: "number",
    default: VOCAB_INDEX_PARAMS.m,
    integer: true,
    min: 2,
    max: 256,
    help: "HNSW graph degree M",
  },
  efConstruction: {
    type: "number",
    default: VOCAB_INDEX_PARAMS.efConstruction,
    integer: true,
    min: 1,
    max: 10_000,
    help: "HNSW build candidate list",
  },
  indexDir: {
    type: "string",
    default: "data/index",
    path: "writable-dir",
    help: "where the vocabulary index is kept",
  },
  ef: {
    type: "number",
    default: 0,
    integer: true,
    min: 0,
    max: 100_000,
    help: "HNSW search candidate list (0 = smallest of 50..3200 reaching --target-recall)",
  },
  targetRecall: {
    type: "number",
    default: 0.95,
    min: 0,
    max: 1,
    exclusiveMin: true,
    help: "recall@10 of image queries vs exact search that --ef 0 aims for",
  },
  conseT: {
    type: "number",
    default: 10,
    integer: true,
    min: 1,
    max: 100,
    help: "ConSE: top-T CIFAR-100 labels mixed",
  },
  deviseTemperature: {
    type: "number",
    default: 0.1,
    min: 0,
    help:
      '"ConSE (DeViSE scores)" rows: ConSE weighted by softmax(DeViSE label scores / τ) (0 = off)',
  },
  cslsK: {
    type: "number",
    default: 10,
    integer: true,
    min: 0,
    max: 100,
    help: 'CSLS hubness penalty over the k nearest training labels ("+ CSLS" rows; 0 = off)',
  },
  cslsWeight: { type: "number", default: 1, min: 0, help: "CSLS penalty weight (0.5 = 2·cos − r)" },
  prototypes: {
    type: "boolean",
    default: true,
    help: '"visual prototypes" rows: the label vectors mapped into the layer\'s feature space ' +
      "by ridge regression on the CIFAR-100 class means (Shigeto et al. 2015), alone and with " +
      "DeViSE and ConSE (reads the layer's CIFAR-100 features)",
  },
  prototypeLambda: {
    type: "number",
    default: 0,
    min: 0,
    help: "the prototypes' ridge λ (0 = chosen on held-out CIFAR-100 classes, 10 folds)",
  },
  labelNeighbours: {
    ...LABEL_NEIGHBOURS_FLAG,
    help: '"DeViSE + label neighbours" row: each candidate label\'s vector averaged with its k ' +
      "nearest vocabulary words (0 = k, DeViSE's epochs and seed maps averaged chosen together " +
      "on held-out CIFAR-100 classes, 3 folds, each retraining DeViSE with 5 seeds; the fit and " +
      "the seed maps kept beside the map; -1 = no such row)",
  },
  balanced: {
    type: "boolean",
    default: false,
    help: '", balanced" rows: each class gets an equal share of the CIFAR-10 test images ' +
      "(transductive: uses the known class sizes; measured 0.5-2.6 points under plain DeViSE)",
  },
  selfTrain: {
    type: "boolean",
    default: false,
    help: '", self-trained" rows: DeViSE, ConSE and visual prototypes refined by k-means ' +
      "over the test images' features, seeded by their predictions (transductive)",
  },
  unseen: {
    type: "number",
    default: 0,
    integer: true,
    min: 0,
    max: 99,
    help: "hold out K CIFAR-100 classes from DeViSE (seeded; 0 = skip); a visual model from " +
      "`pretrain --unseen K` with the same --seed never saw them either",
  },
  unseenNames: { type: "list", default: [], help: "hold out these CIFAR-100 classes instead" },
  tta: {
    type: "string",
    default: "none",
    choices: ["none", "flip"],
    help: "test-time augmentation: flip averages each image's features and softmax with its " +
      "mirror image's (one more forward pass)",
  },
  showImages: {
    type: "number",
    default: 10,
    integer: true,
    min: 0,
    max: 1000,
    help: "test images shown with their top-10 words",
  },
  ...commonFlags("zeroshot"),
} as const satisfies FlagSpec;

async function main(): Promise<void> {
  const flags = parseFlags(spec, Deno.args, {
    task: "zeroshot",
    summary: "Zero-shot CIFAR-10 (10-way and full vocabulary) with a CIFAR-100 DeViSE model.",
    examples: [
      "deno task zeroshot --vocab full --data-dir ../shared/data",
      "deno task zeroshot --vocab full --data-dir ../shared/data --preset quick --json",
      "deno task zeroshot --unseen 20 --data-dir ../shared/data",
    ],
  });
  for (const c of flags.candidates) parseCandidateSet(c);
  await zeroshot({
    ...flags,
    dataDir: resolveDataDir(flags.dataDir),
  });
}

if (import.meta.main) await runTask(main);
