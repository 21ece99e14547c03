/**
 * `deno task train`: the whole DeViSE pipeline on CIFAR-100 — visual pretraining (or `--visual`),
 * feature extraction, word vectors, the hinge-rank projection, evaluation against the softmax
 * baseline, and `report.md` / `report.html`. The preset holds every default; each flag below
 * overrides one setting. The stages are read top to bottom in `lib/pipeline/train.ts`.
 *
 * ```sh
 * deno task train --data-dir ../shared/data
 * deno task train --data-dir ../shared/data --preset quick --json
 * deno task train --data-dir ../shared/data --visual data/runs/resnet20-cpu --vectors glove-6b-50d
 * ```
 * @module
 */
import { commonFlags, type FlagSpec, parseFlags } from "../lib/cli/args.ts";
import { runTask } from "../lib/cli/run.ts";
import { resolveDataDir } from "../lib/data/cifar.ts";
import { LOSS_KINDS } from "../lib/devise/loss.ts";
import { parseDuration } from "../lib/pipeline/budget.ts";
import { PRESET_NAMES } from "../lib/pipeline/presets.ts";
import { train } from "../lib/pipeline/train.ts";
import { FEATURE_LAYERS } from "../lib/vision/models.ts";

/** The flags of `deno task train` (no default = the preset's value). */
export const spec = {
  dataDir: {
    type: "string",
    default: "",
    help: "folder with cifar-100-binary/ (else $DEVISE_DATA_DIR, else data/, where CIFAR is " +
      "downloaded on the first run)",
  },
  preset: {
    type: "string",
    choices: PRESET_NAMES,
    help: "budget: quick (smoke, minutes), cpu (2-core CPU), paper (ResNet-110, GPU); " +
      "default paper on a GPU backend, else cpu",
  },
  visual: {
    type: "string",
    default: "",
    path: "dir",
    help: "reuse this visual checkpoint (a pretrain run folder) instead of pretraining",
  },
  epochs: {
    type: "number",
    integer: true,
    min: 1,
    max: 10_000,
    help: "visual model epochs (preset; fixes the epochs instead of --budget)",
  },
  budget: {
    type: "string",
    help: "wall-time budget of the whole run, e.g. 2h, 90m, 1h30m (0 = off): the visual " +
      "model's epochs are sized to fit it on this machine (preset: cpu 2h)",
  },
  vectors: {
    type: "string",
    help: "word vectors: skipgram (ours), glove-6b-50d, googlenews, freebase, A+B, a file " +
      "(.bin/.txt/.zip[#member]) or a URL (preset)",
  },
  retrofit: {
    type: "string",
    choices: ["none", "wordnet"],
    help: "retrofit the vectors to WordNet (preset)",
  },
  vectorsUrl: { type: "string", default: "", help: "download URL for googlenews/freebase" },
  layers: {
    type: "list",
    choices: FEATURE_LAYERS,
    minItems: 1,
    help: "feature layers to train DeViSE on and compare (preset)",
  },
  loss: { type: "string", choices: LOSS_KINDS, help: "DeViSE loss (preset)" },
  margin: {
    type: "number",
    min: 0,
    exclusiveMin: true,
    help: "hinge margin (Frome et al.: 0.1; preset)",
  },
  dropout: {
    type: "number",
    min: 0,
    max: 1,
    exclusiveMax: true,
    help: "dropout on the image features (preset)",
  },
  weightDecay: { type: "number", min: 0, help: "L2 penalty on M (preset)" },
  vocabNegatives: {
    type: "number",
    integer: true,
    min: 0,
    max: 100_000,
    help:
      "DeViSE: words of the whole vocabulary sampled per batch as extra wrong labels (preset: " +
      "cpu 64, else 0)",
  },
  deviseEpochs: { type: "number", integer: true, min: 1, help: "DeViSE epochs (preset)" },
  deviseLr: {
    type: "number",
    min: 0,
    exclusiveMin: true,
    help: "DeViSE learning rate (preset)",
  },
  finetuneEpochs: {
    type: "number",
    integer: true,
    min: 0,
    max: 10_000,
    help: "fine-tune the visual model through M for N epochs after DeViSE (0 = off; preset)",
  },
  finetuneLr: {
    type: "number",
    min: 0,
    exclusiveMin: true,
    help: "peak learning rate of the visual layers while fine-tuning (preset)",
  },
  finetuneMapLr: {
    type: "number",
    min: 0,
    exclusiveMin: true,
    help: "Adam learning rate of the map M while fine-tuning (preset)",
  },
  finetuneVocabNegatives: {
    type: "number",
    integer: true,
    min: 0,
    max: 100_000,
    help: "fine-tuning: vocabulary words per batch as extra wrong labels (preset 0)",
  },
  workDir: {
    type: "string",
    default: "data/pipeline",
    path: "writable-dir",
    help: "reusable stage artifacts (checkpoints, features, DeViSE models)",
  },
  ...commonFlags("train"),
} as const satisfies FlagSpec;

async function main(): Promise<void> {
  const flags = parseFlags(spec, Deno.args, {
    task: "train",
    summary: "Run the DeViSE pipeline end to end on CIFAR-100 and write report.md/report.html.",
    examples: [
      "deno task train --data-dir ../shared/data",
      "deno task train --data-dir ../shared/data --preset quick --json",
      "deno task train --data-dir ../shared/data --visual data/runs/resnet20-cpu",
      "deno task train --data-dir ../shared/data --vectors glove-6b-50d --retrofit wordnet",
    ],
  });
  await train({
    preset: flags.preset,
    overrides: {
      visual: { epochs: flags.epochs },
      budgetMinutes: flags.epochs !== undefined
        ? 0
        : flags.budget !== undefined
        ? parseDuration(flags.budget) / 60
        : undefined,
      layers: flags.layers,
      vectors: flags.vectors,
      word2vec: { retrofit: flags.retrofit },
      finetune: {
        epochs: flags.finetuneEpochs,
        lrVisual: flags.finetuneLr,
        mapLr: flags.finetuneMapLr,
        vocabNegatives: flags.finetuneVocabNegatives,
      },
      devise: {
        loss: flags.loss,
        margin: flags.margin,
        dropout: flags.dropout,
        weightDecay: flags.weightDecay,
        epochs: flags.deviseEpochs,
        lr: flags.deviseLr,
        vocabNegatives: flags.vocabNegatives,
      },
    },
    dataDir: resolveDataDir(flags.dataDir),
    // A newcomer's first run fetches CIFAR into data/; a folder given is used as it is.
    downloadMissing: !flags.dataDir && !Deno.env.get("DEVISE_DATA_DIR"),
    visual: flags.visual,
    vectorsUrl: flags.vectorsUrl || undefined,
    workDir: flags.workDir,
    seed: flags.seed,
    backend: flags.backend,
    out: flags.out,
    json: flags.json,
    quiet: flags.quiet,
  });
}

if (import.meta.main) await runTask(main);
