/**
 * `deno task train`: the whole DeViSE pipeline on CIFAR-100 — visual pretraining (or `--visual`),
 * feature extraction, word vectors, the hinge-rank projection, evaluation against the softmax
 * baseline, and `report.md` / `report.html`. Stages reuse valid artifacts, so a re-run is fast.
 * The stages are read top to bottom in `lib/pipeline/train.ts`.
 *
 * ```sh
 * deno task train --data-dir ../shared/data
 * deno task train --data-dir ../shared/data --preset quick --json
 * deno task train --data-dir ../shared/data --visual data/runs/resnet20-cpu --vectors googlenews
 * ```
 * @module
 */
import { type FlagSpec, parseFlags, UsageError } from "../lib/cli/args.ts";
import { runTask, startRun } from "../lib/cli/run.ts";
import { formatSeconds } from "../lib/cli/progress.ts";
import {
  BACKEND_NAMES,
  type BackendName,
  selectBackend,
  tfjsVersions,
} from "../lib/backend/select.ts";
import { findCifarFolder, resolveDataDir } from "../lib/data/cifar.ts";
import { DEFAULT_DEVISE_CONFIG as DD, type DeviseConfig } from "../lib/devise/train.ts";
import { LOSS_KINDS, type LossKind } from "../lib/devise/loss.ts";
import { defaultPreset, PRESET_NAMES, type PresetName, PRESETS } from "../lib/pipeline/presets.ts";
import { runTrainPipeline } from "../lib/pipeline/train.ts";
import { FEATURE_LAYERS, type FeatureLayer } from "../lib/vision/models.ts";

const spec = {
  dataDir: {
    type: "string",
    default: "",
    help: "folder with cifar-100-binary/ (else $DEVISE_DATA_DIR, else data)",
  },
  preset: {
    type: "string",
    default: "",
    choices: ["", ...PRESET_NAMES],
    help: "budget: quick (smoke, <10 min), cpu (~2 h, 2 cores), paper (ResNet-110, GPU); " +
      "default paper on a GPU backend, else cpu",
  },
  visual: {
    type: "string",
    default: "",
    help: "reuse this visual checkpoint (a pretrain run folder) instead of pretraining",
  },
  vectors: {
    type: "string",
    default: "skipgram",
    help: "word vectors: skipgram (ours, offline), googlenews, freebase, a file, or a URL",
  },
  vectorsUrl: { type: "string", default: "", help: "download URL for googlenews/freebase" },
  layers: {
    type: "list",
    default: [],
    help: `feature layers to compare (${FEATURE_LAYERS.join(",")}); default from the preset`,
  },
  loss: {
    type: "string",
    default: DD.loss,
    choices: LOSS_KINDS,
    help: "DeViSE loss",
  },
  margin: { type: "number", default: DD.margin, help: "hinge margin (Frome et al.: 0.1)" },
  dropout: { type: "number", default: -1, help: "dropout on the image features (-1 = preset)" },
  weightDecay: { type: "number", default: -1, help: "L2 penalty on M (-1 = preset)" },
  deviseEpochs: { type: "number", default: 0, help: "DeViSE epochs (0 = preset)" },
  deviseLr: { type: "number", default: 0, help: "DeViSE learning rate (0 = preset)" },
  seed: { type: "number", default: 1, help: "seed for every stage" },
  backend: { type: "string", default: "auto", choices: BACKEND_NAMES, help: "tfjs backend" },
  workDir: {
    type: "string",
    default: "data/pipeline",
    help: "reusable stage artifacts (checkpoints, features, DeViSE models)",
  },
  out: { type: "string", default: "", help: "run folder (default data/runs/train-<timestamp>)" },
  json: { type: "boolean", default: false, help: "print the final metrics as JSON on stdout" },
  quiet: { type: "boolean", default: false, help: "no log lines on stderr" },
} as const satisfies FlagSpec;

async function main(): Promise<void> {
  const flags = parseFlags(spec, Deno.args, {
    task: "train",
    summary: "Run the DeViSE pipeline end to end on CIFAR-100 and write report.md/report.html.",
    examples: [
      "deno task train --data-dir ../shared/data",
      "deno task train --data-dir ../shared/data --preset quick --json",
      "deno task train --data-dir ../shared/data --visual data/runs/resnet20-cpu",
    ],
  });
  for (const layer of flags.layers) {
    if (!(FEATURE_LAYERS as readonly string[]).includes(layer)) {
      throw new UsageError(`--layers: '${layer}' is not one of ${FEATURE_LAYERS.join(",")}`);
    }
  }
  const dataDir = resolveDataDir(flags.dataDir);
  // Fail before loading TensorFlow when the data is not there.
  await findCifarFolder(dataDir, "cifar100").catch((err) => {
    throw new Error(
      `${(err as Error).message}\nPoint --data-dir (or DEVISE_DATA_DIR) at a folder holding ` +
        "cifar-100-binary/, or fetch it with `deno task download --dataset cifar100`.",
    );
  });
  const run = await startRun("train", flags.out, { flags }, { quiet: flags.quiet });
  // A full pipeline never silently falls back to pure JS; quick may, when asked explicitly.
  const { tf, backend, reason } = await selectBackend(flags.backend as BackendName, {
    allowSlow: false,
    log: run.log,
  });
  const presetName = (flags.preset || defaultPreset(backend)) as PresetName;
  const preset = structuredClone(PRESETS[presetName]);
  if (flags.layers.length) preset.layers = flags.layers as FeatureLayer[];
  const devise: DeviseConfig = {
    ...DD,
    loss: flags.loss as LossKind,
    margin: flags.margin,
    dropout: flags.dropout >= 0 ? flags.dropout : preset.devise.dropout,
    weightDecay: flags.weightDecay >= 0 ? flags.weightDecay : preset.devise.weightDecay,
    epochs: flags.deviseEpochs || preset.devise.epochs,
    batchSize: preset.devise.batchSize,
    lr: flags.deviseLr || preset.devise.lr,
    seed: flags.seed,
  };
  run.log(
    `preset ${presetName}${flags.preset ? "" : ` (default on backend ${backend})`}: ` +
      `ResNet-${preset.visual.depth}, ${preset.visual.epochs} epochs` +
      (flags.visual ? ` (skipped: --visual ${flags.visual})` : "") +
      `; layers ${preset.layers.join(",")}; vectors ${flags.vectors}; ETA about ${
        formatSeconds(preset.etaMinutes * 60)
      } when nothing is cached`,
  );
  await run.updateConfig({
    backend,
    backendReason: reason,
    tfjs: tfjsVersions(tf),
    preset: presetName,
    settings: preset,
    devise,
  });
  const metrics = await runTrainPipeline(tf, backend, {
    preset: presetName,
    settings: preset,
    dataDir,
    visual: flags.visual,
    vectors: {
      source: flags.vectors,
      dim: preset.word2vec.dim,
      epochs: preset.word2vec.epochs,
      retrofit: preset.word2vec.retrofit,
      dataDir,
      url: flags.vectorsUrl || undefined,
    },
    workDir: flags.workDir,
    devise,
    seed: flags.seed,
  }, run);
  if (!flags.quiet) {
    console.error("\nmodel                          hit@1   hit@2   hit@5  hit@10  superclass-err");
    for (const r of metrics.results) {
      const pct = (x: number | undefined) => `${(100 * (x ?? NaN)).toFixed(1)}%`.padStart(7);
      console.error(
        `${r.model.padEnd(30)} ${pct(r.hit["1"])} ${pct(r.hit["2"])} ${pct(r.hit["5"])} ${
          pct(r.hit["10"])
        }   ${pct(r.superclassErrorRate)}`,
      );
    }
    console.error(`\nreport: ${metrics.report}`);
  }
  await run.finish(metrics as unknown as Record<string, unknown>, flags.json);
}

if (import.meta.main) await runTask(main);
