/**
 * `deno task extract`: writes a trained visual model's features (`gap`, `act`, `bn`; several in
 * one pass) and its CIFAR-100 logits/probabilities for CIFAR-100 train/test and CIFAR-10 test,
 * as float32 files with sidecars. The flow is `lib/pipeline/extract.ts`.
 *
 * ```sh
 * deno task extract --checkpoint data/runs/resnet20 --layers gap,act,bn --data-dir /work/shared/data
 * ```
 * @module
 */
import { commonFlags, type FlagSpec, parseFlags } from "../lib/cli/args.ts";
import { runTask } from "../lib/cli/run.ts";
import { resolveDataDir } from "../lib/data/cifar.ts";
import { extract } from "../lib/pipeline/extract.ts";
import { FEATURE_LAYERS } from "../lib/vision/models.ts";

/** The flags of `deno task extract`. */
export const spec = {
  checkpoint: {
    type: "string",
    default: "",
    required: true,
    path: "dir",
    help: "run folder, checkpoints/ folder or epoch folder",
  },
  which: {
    type: "string",
    default: "best",
    choices: ["best", "last"],
    help: "checkpoint pointer to use",
  },
  layers: {
    type: "list",
    default: ["gap"],
    choices: FEATURE_LAYERS,
    minItems: 1,
    help: "layers to extract (one forward pass for all)",
  },
  dataDir: {
    type: "string",
    default: "",
    help: "folder with cifar-100-binary/ and cifar-10-binary/",
  },
  float16: {
    type: "boolean",
    default: false,
    help: "store layer features as float16 (halves the size)",
  },
  batchSize: {
    type: "number",
    default: 256,
    integer: true,
    min: 1,
    max: 65_536,
    help: "images per forward pass",
  },
  features: {
    type: "string",
    default: "",
    path: "writable-dir",
    help: "output folder (default <checkpoint run>/features)",
  },
  ...commonFlags("extract"),
} as const satisfies FlagSpec;

async function main(): Promise<void> {
  const flags = parseFlags(spec, Deno.args, {
    task: "extract",
    summary: "Extract visual features and CIFAR-100 softmax outputs from a trained checkpoint.",
    examples: [
      "deno task extract --checkpoint data/runs/resnet20 --layers gap,act --data-dir /work/shared/data",
      "deno task extract --checkpoint data/runs/resnet20 --layers act --float16",
    ],
  });
  await extract({ ...flags, dataDir: resolveDataDir(flags.dataDir) });
}

if (import.meta.main) await runTask(main);
