/**
 * The reference report's tables, each from task runs: Table 2 (architectures), Table 3 (word
 * vectors) and Table 4 (feature layers).
 *
 * ════ Table 2 ════ each `--archs` model is pretrained on CIFAR-100 by `deno task pretrain` with
 * the same epochs and schedule (one-cycle, Nesterov SGD, peak lr 0.1, batch 128, augmentation):
 * parameters, top-1, top-5, training images/s, wall time.
 * ════ Table 3 ════ one visual model (`--visual`, e.g. the `cpu` preset's), the same DeViSE settings,
 * a row per vector set (`--vector-sets`): `deno task train --visual ... --vectors ... --retrofit ...
 * --finetune-epochs 0`, then `deno task zeroshot --vocab full` from that run and `deno task word2vec
 * --vectors ... --eval` for the word-similarity ρ: vocabulary size, WS-353 / RG-65 / MTurk-771 ρ,
 * CIFAR-100 DeViSE hit@1/hit@5 (`act`), superclass-consistent errors, 10-way CIFAR-10 means
 * (DeViSE, DeViSE + label neighbours, ConSE + CSLS), full-vocabulary hit@20 (unseen only;
 * DeViSE also with the labels' centroid restored).
 * ════ Table 4 ════ the best `--table4-models` of them (by top-1) get `gap`, `act` and `bn`
 * features (`deno task extract`, one pass) and a DeViSE map per layer (`deno task devise --ablate
 * layer`): hit@1, hit@5, superclass-consistent errors, next to the model's own softmax.
 *
 * Every step is a task run in its own folder under `--out`; a finished one is reused and an
 * interrupted pretraining continues with `--resume`, so the script can be stopped and run again.
 * Writes `<out>/tables.md` and `<out>/tables.json`.
 *
 * @example
 * ```sh
 * deno run -A bench/tables.ts --data-dir ../shared/data --epochs 3 --out data/runs/tables
 * deno run -A bench/tables.ts --tables 3 --visual data/pipeline/visual-<hash> --data-dir ../shared/data
 * deno run -A bench/tables.ts --data-dir ../shared/data --archs resnet-20,plain-32 --epochs 1 \
 *   --limit 5000 --devise-epochs 2 --out /tmp/tables-smoke      # minutes: a smoke run
 * ```
 * @module
 */
import { join } from "node:path";
import { type FlagSpec, parseFlags } from "../lib/cli/args.ts";
import { runTask } from "../lib/cli/run.ts";
import { InputError } from "../lib/io/errors.ts";
import { writeFileAtomic, writeJsonAtomic } from "../lib/io/artifact.ts";
import { readJsonOrNull } from "../lib/io/fs.ts";
import { markdownTable, type Table } from "../lib/report/report.ts";

/** Table 3's rows: `--vector-sets` names and the train flags each stands for. */
const VECTOR_SETS = {
  "skipgram": { label: "ours 100-D", vectors: "skipgram", retrofit: "none" },
  "skipgram-wordnet": {
    label: "ours 100-D, retrofitted",
    vectors: "skipgram",
    retrofit: "wordnet",
  },
  "glove": { label: "GloVe 6B 50-D", vectors: "glove-6b-50d", retrofit: "none" },
  "glove-wordnet": {
    label: "GloVe 6B 50-D, retrofitted",
    vectors: "glove-6b-50d",
    retrofit: "wordnet",
  },
  // The vectors of the skipgram-wordnet row (its file, known once it ran) + GloVe.
  "both": { label: "ours retrofitted + GloVe (unit halves)", vectors: "", retrofit: "none" },
} as const;

const spec = {
  tables: { type: "list", default: ["2", "4"], choices: ["2", "3", "4"], help: "tables to make" },
  dataDir: { type: "string", default: "", help: "folder with cifar-100-binary/" },
  archs: {
    type: "list",
    default: ["resnet-20", "resnet-56", "plain-32", "allconv-32"],
    help: "models as <arch>-<depth> (resnet, plain, allconv)",
  },
  epochs: { type: "number", default: 3, integer: true, min: 1, help: "epochs of every model" },
  lr: { type: "number", default: 0.1, min: 0, help: "peak learning rate of every model" },
  limit: { type: "number", default: 0, integer: true, min: 0, help: "training images (0 = all)" },
  table4Models: {
    type: "number",
    default: 2,
    integer: true,
    min: 0,
    help: "best models (by top-1) that get Table 4",
  },
  vectors: { type: "string", default: "glove-6b-50d", help: "word vectors of Table 4's DeViSE" },
  visual: {
    type: "string",
    default: "",
    help: "Table 3: the visual model (a pretrain run folder)",
  },
  vectorSets: {
    type: "list",
    default: Object.keys(VECTOR_SETS),
    choices: Object.keys(VECTOR_SETS),
    help: "Table 3's rows",
  },
  deviseEpochs: { type: "number", default: 10, integer: true, min: 1, help: "DeViSE epochs" },
  out: { type: "string", default: "data/runs/tables", help: "folder of the runs and the tables" },
} as const satisfies FlagSpec;

/** A task's run folder: reused when its metrics say it finished. */
async function _finished(dir: string): Promise<Record<string, unknown> | null> {
  const metrics = await readJsonOrNull(join(dir, "metrics.json")) as
    | Record<string, unknown>
    | null;
  return metrics?.status === "ok" ? metrics : null;
}

/** Runs `deno task <task>` with its progress on our stderr; returns its metrics.json. */
async function _task(task: string, args: string[], dir: string) {
  const done = await _finished(dir);
  if (done) {
    console.error(`── ${task} ${dir}: finished before, reused`);
    return done;
  }
  console.error(`── ${task} ${args.join(" ")}`);
  const status = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `tasks/${task}.ts`, ...args, "--out", dir],
    stdout: "inherit",
    stderr: "inherit",
  }).spawn().status;
  if (!status.success) throw new Error(`${task} failed (exit ${status.code}); see ${dir}/log.txt`);
  const metrics = await _finished(dir);
  if (!metrics) throw new Error(`${task} exited 0 but ${dir}/metrics.json is not "ok"`);
  return metrics;
}

function _parseArch(name: string): { arch: string; depth: number } {
  const m = /^(resnet|plain|allconv)-(\d+)$/.exec(name);
  if (!m) throw new InputError(`--archs: '${name}' is not <resnet|plain|allconv>-<depth>`);
  return { arch: m[1], depth: Number(m[2]) };
}

const _minutes = (s: number) =>
  `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s`;

type Flags = ReturnType<typeof _parse>;

function _parse() {
  return parseFlags(spec, Deno.args, {
    task: "bench/tables.ts",
    summary: "The report's Table 2 (architectures), 3 (word vectors) and 4 (gap/act/bn features).",
    examples: [
      "deno run -A bench/tables.ts --data-dir ../shared/data --epochs 3 --out data/runs/tables",
      "deno run -A bench/tables.ts --tables 3 --visual data/pipeline/visual-<hash>",
    ],
  });
}

// ════ Table 2: every architecture under the same schedule ════
async function _table2(flags: Flags, dataDir: string[]) {
  const pretrained = [];
  for (const { arch, depth } of flags.archs.map(_parseArch)) {
    const dir = join(flags.out, `pretrain-${arch}-${depth}`);
    const resume = await readJsonOrNull(join(dir, "checkpoints", "last.json"));
    const metrics = await _task("pretrain", [
      ...dataDir,
      ...["--arch", arch, "--depth", String(depth), "--epochs", String(flags.epochs)],
      ...["--lr", String(flags.lr), "--schedule", "onecycle", "--nesterov"],
      ...["--limit", String(flags.limit), "--quiet"],
      ...(resume ? ["--resume"] : []),
    ], dir);
    pretrained.push({ name: `${arch}-${depth}`, dir, metrics });
  }
  const table: Table = {
    title:
      `Table 2: CIFAR-100 test accuracy, ${flags.epochs} epochs each (one-cycle, peak lr ${flags.lr}` +
      `${flags.limit ? `, ${flags.limit} of the 50000 training images` : ""})`,
    columns: ["model", "parameters", "top-1", "top-5", "training images/s", "wall time"],
    rows: pretrained.map(({ name, metrics: m }) => [
      name,
      String(m.trainableParams),
      m.top1 as number,
      m.top5 as number,
      (m.imagesPerSecond as number).toFixed(0),
      _minutes(m.wallSeconds as number),
    ]),
  };
  return { table, pretrained };
}

type Hits = { hit: Record<string, number>; superclassErrorRate?: number };

// ════ Table 3: one visual model, a row per vector set ════
async function _table3(flags: Flags, dataDir: string[]) {
  if (!flags.visual) throw new InputError("--tables 3 needs --visual (a pretrain run folder)");
  const table: Table = {
    title: `Table 3: word vectors (visual model ${flags.visual}, DeViSE on act)`,
    columns: [
      "vectors",
      "words",
      "WS-353 ρ",
      "RG-65 ρ",
      "MTurk-771 ρ",
      "DeViSE hit@1",
      "DeViSE hit@5",
      "superclass-consistent errors",
      "10-way DeViSE",
      "10-way DeViSE + label neighbours",
      "10-way ConSE + CSLS",
      "vocab hit@20 DeViSE (unseen only)",
      "vocab hit@20 DeViSE + label centroid (unseen only)",
      "vocab hit@20 ConSE (unseen only)",
    ],
    rows: [],
  };
  const runs: Record<string, unknown>[] = [];
  let retrofittedOurs = "";
  for (const name of flags.vectorSets as (keyof typeof VECTOR_SETS)[]) {
    const set = VECTOR_SETS[name];
    const vectors = name === "both" ? `${retrofittedOurs}+glove-6b-50d` : set.vectors;
    if (name === "both" && !retrofittedOurs) {
      throw new InputError("--vector-sets both needs skipgram-wordnet before it");
    }
    const train = await _task("train", [
      ...dataDir,
      ...["--visual", flags.visual, "--vectors", vectors, "--retrofit", set.retrofit],
      ...["--layers", "act", "--finetune-epochs", "0", "--quiet"],
    ], join(flags.out, `train-${name}`));
    const info = train.vectors as { path: string; words: number };
    if (name === "skipgram-wordnet") retrofittedOurs = info.path;
    const zeroshot = await _task("zeroshot", [
      ...dataDir,
      ...["--from", join(flags.out, `train-${name}`), "--vocab", "full", "--quiet"],
    ], join(flags.out, `zeroshot-${name}`));
    const similarity = await _task("word2vec", [
      ...dataDir,
      ...["--vectors", info.path, "--quiet"],
    ], join(flags.out, `word2vec-eval-${name}`));
    runs.push({ name, train, zeroshot, similarity });
    const rho = (file: string) =>
      // Keyed by the set's file name, with or without its extension.
      (similarity.similarity as Record<string, { rho: number }>)[file]?.rho.toFixed(3) ??
        (similarity.similarity as Record<string, { rho: number }>)[`${file}.txt`]?.rho.toFixed(3) ??
        null;
    const devise = (train.results as ({ model: string } & Hits)[])
      .find((r) => /^DeViSE \(act/.test(r.model));
    const tenWay = zeroshot.tenWay as Record<string, { meanAccuracy: number }>;
    const full = zeroshot.fullVocab as Record<string, Record<string, number>>;
    table.rows.push([
      set.label,
      String(info.words),
      rho("EN-WS-353-ALL"),
      rho("EN-RG-65"),
      rho("EN-MTurk-771"),
      devise?.hit["1"] ?? null,
      devise?.hit["5"] ?? null,
      devise?.superclassErrorRate ?? null,
      tenWay.DeViSE.meanAccuracy,
      tenWay["DeViSE + label neighbours"]?.meanAccuracy ?? null,
      tenWay["ConSE + CSLS"].meanAccuracy,
      full["DeViSE, unseen only"]?.["20"] ?? null,
      full["DeViSE + label centroid, unseen only"]?.["20"] ?? null,
      full["ConSE, unseen only"]?.["20"] ?? null,
    ]);
  }
  return { table, runs };
}

// ════ Table 4: DeViSE on gap / act / bn of the best models ════
async function _table4(
  flags: Flags,
  dataDir: string[],
  pretrained: { name: string; dir: string; metrics: Record<string, unknown> }[],
) {
  const best = [...pretrained]
    .sort((a, b) => (b.metrics.top1 as number) - (a.metrics.top1 as number))
    .slice(0, flags.table4Models);
  const table: Table = {
    title: `Table 4: DeViSE by feature layer (${flags.vectors}, ${flags.deviseEpochs} epochs)`,
    columns: ["model", "layer", "hit@1", "hit@5", "superclass-consistent errors"],
    rows: [],
  };
  const runs = [];
  for (const { name, dir } of best) {
    const features = join(dir, "features");
    await _task("extract", [
      ...dataDir,
      ...["--checkpoint", dir, "--layers", "gap,act,bn", "--features", features, "--quiet"],
    ], join(flags.out, `extract-${name}`));
    const devise = await _task("devise", [
      ...dataDir,
      ...["--features", features, "--vectors", flags.vectors, "--ablate", "layer"],
      ...["--layers", "gap,act,bn", "--epochs", String(flags.deviseEpochs), "--quiet"],
    ], join(flags.out, `devise-${name}`));
    runs.push({ name, metrics: devise });
    const row = (layer: string, r: Hits) =>
      table.rows.push([name, layer, r.hit["1"], r.hit["5"], r.superclassErrorRate ?? null]);
    if (devise.softmax) row("softmax", devise.softmax as Hits);
    for (const r of devise.ablation as { setting: { layer: string }; metrics: Hits }[]) {
      row(r.setting.layer, r.metrics);
    }
  }
  return { table, runs };
}

async function main() {
  const flags = _parse();
  const dataDir = flags.dataDir ? ["--data-dir", flags.dataDir] : [];
  const tables: Table[] = [];
  const results: Record<string, unknown> = {};
  const want = new Set(flags.tables);
  if (want.has("2") || want.has("4")) {
    const t2 = await _table2(flags, dataDir);
    results.table2 = t2.pretrained;
    if (want.has("2")) tables.push(t2.table);
    if (want.has("4")) {
      const t4 = await _table4(flags, dataDir, t2.pretrained);
      results.table4 = t4.runs;
      tables.push(t4.table);
    }
  }
  if (want.has("3")) {
    const t3 = await _table3(flags, dataDir);
    results.table3 = t3.runs;
    tables.push(t3.table);
  }
  tables.sort((a, b) => (a.title ?? "").localeCompare(b.title ?? ""));
  const markdown = tables.map((t) => `## ${t.title}\n\n${markdownTable(t)}\n`).join("\n");
  console.error(markdown);
  await writeFileAtomic(join(flags.out, "tables.md"), markdown);
  await writeJsonAtomic(join(flags.out, "tables.json"), {
    format: "devise-tables",
    version: 1,
    flags,
    results,
    tables,
  });
  console.error(`wrote ${join(flags.out, "tables.md")}`);
}

if (import.meta.main) await runTask(main);
