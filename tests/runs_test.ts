import assert from "node:assert/strict";
import { join } from "node:path";
import { startRun } from "../lib/cli/run.ts";
import { writeJsonAtomic } from "../lib/io/artifact.ts";
import { listRuns, runsTable, selectRuns } from "../lib/pipeline/runs_table.ts";

/** A runs folder with what real tasks leave: finished, failed, still running, abandoned. */
async function fixtureRuns(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "devise-runs-" });
  const curve = (top1: number[]) =>
    top1.map((t, i) => ({ epoch: i + 1, trainLoss: 4 - i, testTop1: t, testTop5: t + 0.2 }));
  for (
    const [name, top1] of [["pretrain-a", [0.1, 0.3]], ["pretrain-b", [0.2, 0.25, 0.4]]] as const
  ) {
    const run = await startRun("pretrain", join(dir, name), { epochs: top1.length }, {
      quiet: true,
    });
    await writeJsonAtomic(join(run.dir, "curves.json"), curve([...top1]));
    await run.finish({ top1: top1.at(-1), top5: 0.6 }, false);
  }
  // A train run whose visual model is pretrain-b's: its curves are pretrain-b's, drawn once.
  const train = await startRun("train", join(dir, "train-x"), { preset: "quick" }, { quiet: true });
  await train.finish({
    preset: "quick",
    visual: { checkpoint: join(dir, "pretrain-b", "checkpoints", "epoch-0003") },
    results: [
      { model: "softmax (visual model)", hit: { "1": 0.4 } },
      { model: "DeViSE (act, hinge)", hit: { "1": 0.35 } },
      { model: "DeViSE (gap, hinge)", hit: { "1": 0.31 } },
    ],
  }, false);
  const failed = join(dir, "zeroshot-failed");
  await Deno.mkdir(failed);
  await writeJsonAtomic(join(failed, "config.json"), { task: "zeroshot", pid: 1 });
  await writeJsonAtomic(join(failed, "metrics.json"), {
    format: "devise-run",
    status: "failed",
    error: "features missing",
  });
  const running = join(dir, "extract-running");
  await Deno.mkdir(running);
  await writeJsonAtomic(join(running, "config.json"), { task: "extract", pid: Deno.pid });
  const gone = join(dir, "extract-gone");
  await Deno.mkdir(gone);
  // No process has this pid (above Linux's pid_max).
  await writeJsonAtomic(join(gone, "config.json"), { task: "extract", pid: 4_194_305 });
  // bench/tables.ts: a folder of runs, read one level down; an empty folder stays a row.
  const nested = await startRun("pretrain", join(dir, "tables", "pretrain-c"), {}, { quiet: true });
  await nested.finish({ top1: 0.2 }, false);
  await Deno.mkdir(join(dir, "empty"));
  return dir;
}

Deno.test("runs: every run folder is a row with its status; failed runs are listed, not hidden", async () => {
  const dir = await fixtureRuns();
  const rows = await listRuns(dir);
  const status = Object.fromEntries(rows.map((r) => [r.name, r.status]));
  assert.deepEqual(status, {
    "pretrain-a": "ok",
    "pretrain-b": "ok",
    "train-x": "ok",
    "zeroshot-failed": "failed",
    "extract-running": "running",
    "extract-gone": "unfinished",
    "tables/pretrain-c": "ok",
    "empty": "unfinished",
  });
  assert.equal(rows.find((r) => r.name === "tables/pretrain-c")!.softmaxHit1, 0.2);
  const train = rows.find((r) => r.name === "train-x")!;
  assert.equal(train.softmaxHit1, 0.4);
  assert.equal(train.deviseHit1, 0.35, "the best DeViSE layer");
  assert.equal(train.visual, join(dir, "pretrain-b", "checkpoints", "epoch-0003"));
  assert.equal(train.curves, join(dir, "pretrain-b", "curves.json"));
  assert.match(train.commit ?? "", /^[0-9a-f]{8}\+?$/);
  assert.equal(rows.find((r) => r.name === "zeroshot-failed")!.error, "features missing");
});

Deno.test("runs: --task filters and --sort orders descending with missing values last", async () => {
  const rows = await listRuns(await fixtureRuns());
  const sorted = selectRuns(rows, { sort: "softmaxHit1" }).map((r) => r.name);
  assert.deepEqual(sorted.slice(0, 3), ["train-x", "pretrain-b", "pretrain-a"]);
  assert.deepEqual(
    selectRuns(rows, { task: "extract", sort: "startedAt" }).map((r) => r.name).sort(),
    ["extract-gone", "extract-running"],
  );
});

Deno.test("runs: index.html links reports, marks failures and overlays each visual model's curves once", async () => {
  const dir = await fixtureRuns();
  await Deno.writeTextFile(join(dir, "train-x", "report.html"), "<html></html>");
  await runsTable({ dir, sort: "startedAt", json: false, quiet: true });
  const html = await Deno.readTextFile(join(dir, "index.html"));
  assert.match(html, /<a href="train-x\/report.html">train-x<\/a>/);
  assert.match(html, /<tr class="failed">/);
  assert.match(html, /title="features missing"/);
  // train-x reuses pretrain-b's model: one curve, named after the newer run that lists it.
  assert.match(html, /Visual model curves \(2 runs overlaid\)/);
  const legend = [...html.matchAll(/>(pretrain-[ab]|train-x)<\/text>/g)].map((m) => m[1]);
  assert.deepEqual(legend.sort(), ["pretrain-a", "pretrain-a", "train-x", "train-x"]);
});

Deno.test("runs task: --json on stdout; a wrong --sort is refused naming the flag", async () => {
  const dir = await fixtureRuns();
  const run = (args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "tasks/runs.ts", "--dir", dir, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
  const ok = await run(["--task", "pretrain", "--sort", "softmaxHit1", "--json", "--quiet"]);
  assert.equal(ok.code, 0, new TextDecoder().decode(ok.stderr));
  const rows = JSON.parse(new TextDecoder().decode(ok.stdout));
  assert.deepEqual(rows.map((r: { name: string }) => r.name), [
    "pretrain-b",
    "pretrain-a",
    "tables/pretrain-c",
  ]);
  const bad = await run(["--sort", "accuracy"]);
  assert.notEqual(bad.code, 0);
  assert.match(new TextDecoder().decode(bad.stderr), /--sort/);
});
