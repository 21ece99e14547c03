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
import { join } from "node:path";
import { type FlagSpec, parseFlags, UsageError } from "../lib/cli/args.ts";
import { runTask, startRun } from "../lib/cli/run.ts";
import { BACKEND_NAMES, type BackendName, selectBackend } from "../lib/backend/select.ts";
import { resolveDataDir } from "../lib/data/cifar.ts";
import { PRESET_NAMES } from "../lib/pipeline/presets.ts";
import { runZeroShot } from "../lib/pipeline/zeroshot.ts";

const spec = {
  dataDir: {
    type: "string",
    default: "",
    help: "folder with cifar-10-binary/ and cifar-100-binary/ (else $DEVISE_DATA_DIR, else data)",
  },
  from: {
    type: "string",
    default: "",
    help: "a `deno task train` run folder (default: the latest one, of --preset if given)",
  },
  preset: {
    type: "string",
    default: "",
    choices: ["", ...PRESET_NAMES],
    help: "pick the latest train run of this preset",
  },
  layer: { type: "string", default: "", help: "feature layer of the DeViSE model (default: last)" },
  vocab: {
    type: "string",
    default: "10",
    choices: ["10", "full"],
    help: "10: the CIFAR-10 labels only; full: also every word of the vocabulary via HNSW",
  },
  k: { type: "number", default: 20, help: "words per image for full-vocabulary hit@k" },
  m: { type: "number", default: 32, help: "HNSW graph degree M" },
  efConstruction: { type: "number", default: 200, help: "HNSW build candidate list" },
  ef: {
    type: "number",
    default: 0,
    help: "HNSW search candidate list (0 = smallest of 50..3200 reaching --target-recall)",
  },
  targetRecall: {
    type: "number",
    default: 0.95,
    help: "recall@10 of image queries vs exact search that --ef 0 aims for",
  },
  conseT: { type: "number", default: 10, help: "ConSE: top-T CIFAR-100 labels mixed" },
  cslsK: {
    type: "number",
    default: 10,
    help: 'CSLS hubness penalty over the k nearest training labels ("+ CSLS" rows; 0 = off)',
  },
  cslsWeight: { type: "number", default: 1, help: "CSLS penalty weight (0.5 = 2·cos − r)" },
  unseen: {
    type: "number",
    default: 0,
    help: "hold out K CIFAR-100 classes from DeViSE (seeded; 0 = skip); a visual model from " +
      "`pretrain --unseen K` with the same --seed never saw them either",
  },
  unseenNames: { type: "list", default: [], help: "hold out these CIFAR-100 classes instead" },
  images: { type: "number", default: 10, help: "test images shown with their top-10 words" },
  seed: { type: "number", default: 1, help: "seed for image and class choices" },
  backend: { type: "string", default: "auto", choices: BACKEND_NAMES, help: "tfjs backend" },
  out: { type: "string", default: "", help: "run folder (default data/runs/zeroshot-<timestamp>)" },
  json: { type: "boolean", default: false, help: "print the final metrics as JSON on stdout" },
  quiet: { type: "boolean", default: false, help: "no log lines on stderr" },
} as const satisfies FlagSpec;

/** The newest `data/runs/train-*` folder with a metrics.json (of `preset` when given). */
async function _latestTrainRun(preset: string): Promise<string> {
  const found: { dir: string; mtime: number }[] = [];
  const entries = await Array.fromAsync(Deno.readDir(join("data", "runs"))).catch(() => []);
  for (const e of entries) {
    if (!e.isDirectory) continue;
    const dir = join("data", "runs", e.name);
    try {
      const metrics = JSON.parse(await Deno.readTextFile(join(dir, "metrics.json")));
      if (metrics.deviseModels && (!preset || metrics.preset === preset)) {
        found.push({ dir, mtime: (await Deno.stat(join(dir, "metrics.json"))).mtime!.getTime() });
      }
    } catch { /* not a finished train run */ }
  }
  if (!found.length) {
    throw new Error(
      `no finished train run${preset ? ` of preset ${preset}` : ""} under data/runs; run ` +
        "`deno task train` first or pass --from RUN",
    );
  }
  return found.sort((a, b) => b.mtime - a.mtime)[0].dir;
}

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
  if (!(flags.k >= 1 && flags.k <= 100)) throw new UsageError(`--k must be 1..100, got ${flags.k}`);
  const from = flags.from || await _latestTrainRun(flags.preset);
  const trained = JSON.parse(await Deno.readTextFile(join(from, "metrics.json")));
  const layer = flags.layer || (trained.layers as string[]).at(-1)!;
  const run = await startRun("zeroshot", flags.out, { flags, from, layer }, {
    quiet: flags.quiet,
  });
  // Only matrix products of cached features: the pure-JS backend is acceptable here.
  const { tf, backend } = await selectBackend(flags.backend as BackendName, {
    allowSlow: true,
    log: run.log,
  });
  await run.updateConfig({ backend });
  const metrics = await runZeroShot(tf, {
    dataDir: resolveDataDir(flags.dataDir),
    from,
    layer,
    vocab: flags.vocab as "10" | "full",
    k: flags.k,
    m: flags.m,
    efConstruction: flags.efConstruction,
    ef: flags.ef,
    targetRecall: flags.targetRecall,
    conseT: flags.conseT,
    cslsK: flags.cslsK,
    cslsWeight: flags.cslsWeight,
    unseen: flags.unseen,
    unseenNames: flags.unseenNames,
    showImages: flags.images,
    seed: flags.seed,
  }, run);
  run.log(`report: ${metrics.report}`);
  await run.finish({ backend, from, ...metrics }, flags.json);
}

if (import.meta.main) await runTask(main);
