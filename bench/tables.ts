/**
 * The reference report's Table 2 (architectures) and Table 4 (feature layers) under one budget.
 *
 * ════ Table 2 ════ each `--archs` model is pretrained on CIFAR-100 by `deno task pretrain` with
 * the same epochs and schedule (one-cycle, Nesterov SGD, peak lr 0.1, batch 128, augmentation):
 * parameters, top-1, top-5, training images/s, wall time.
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

const spec = {
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

async function main() {
  const flags = parseFlags(spec, Deno.args, {
    task: "bench/tables.ts",
    summary: "Table 2 (architectures) and Table 4 (gap/act/bn features) of the report.",
    examples: [
      "deno run -A bench/tables.ts --data-dir ../shared/data --epochs 3 --out data/runs/tables",
    ],
  });
  const dataDir = flags.dataDir ? ["--data-dir", flags.dataDir] : [];
  const models = flags.archs.map(_parseArch);

  // ════ Table 2: every architecture under the same schedule ════
  const pretrained = [];
  for (const { arch, depth } of models) {
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
  const table2: Table = {
    title:
      `Table 2: CIFAR-100 test accuracy, ${flags.epochs} epochs each (one-cycle, peak lr ${flags.lr})`,
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
  console.error(markdownTable(table2));

  // ════ Table 4: DeViSE on gap / act / bn of the best models ════
  const best = [...pretrained]
    .sort((a, b) => (b.metrics.top1 as number) - (a.metrics.top1 as number))
    .slice(0, flags.table4Models);
  const table4: Table = {
    title: `Table 4: DeViSE by feature layer (${flags.vectors}, ${flags.deviseEpochs} epochs)`,
    columns: ["model", "layer", "hit@1", "hit@5", "superclass-consistent errors"],
    rows: [],
  };
  const deviseRuns = [];
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
    deviseRuns.push({ name, metrics: devise });
    const softmax = devise.softmax as
      | { hit: Record<string, number>; superclassErrorRate?: number }
      | null;
    if (softmax) {
      table4.rows.push([
        name,
        "softmax",
        softmax.hit["1"],
        softmax.hit["5"],
        softmax.superclassErrorRate ?? null,
      ]);
    }
    for (
      const row of devise.ablation as {
        setting: { layer: string };
        metrics: { hit: Record<string, number>; superclassErrorRate?: number };
      }[]
    ) {
      table4.rows.push([
        name,
        row.setting.layer,
        row.metrics.hit["1"],
        row.metrics.hit["5"],
        row.metrics.superclassErrorRate ?? null,
      ]);
    }
  }
  if (table4.rows.length) console.error(markdownTable(table4));

  const markdown = [table2, table4].filter((t) => t.rows.length)
    .map((t) => `## ${t.title}\n\n${markdownTable(t)}\n`).join("\n");
  await writeFileAtomic(join(flags.out, "tables.md"), markdown);
  await writeJsonAtomic(join(flags.out, "tables.json"), {
    format: "devise-tables",
    version: 1,
    flags,
    pretrained,
    devise: deviseRuns,
    tables: [table2, table4],
  });
  console.error(`wrote ${join(flags.out, "tables.md")}`);
}

if (import.meta.main) await runTask(main);
