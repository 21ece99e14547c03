import assert from "node:assert/strict";
import { join } from "node:path";
import { startRun } from "../lib/cli/run.ts";
import { useCpu } from "../lib/backend/select.ts";
import { DEFAULT_DEVISE_CONFIG } from "../lib/devise/train.ts";
import { type PipelineConfig, runTrainPipeline } from "../lib/pipeline/train.ts";
import { writeTinyCifar } from "../lib/vision/fixture.ts";
import { Rng } from "../lib/io/rng.ts";

const { tf, backend } = await useCpu();

/** Tiny CIFAR fixture, tiny model, random 16-D label vectors: every stage, in seconds. */
async function _fixture(dir: string): Promise<PipelineConfig> {
  await writeTinyCifar(dir, { trainCount: 160, testCount: 40, classes: 4, seed: 5 });
  const rng = new Rng(9);
  const lines = ["104 16"];
  for (const w of [...Array.from({ length: 100 }, (_, i) => `fine${i}`), "a", "b", "c", "d"]) {
    lines.push(`${w} ${Array.from({ length: 16 }, () => rng.normal().toFixed(5)).join(" ")}`);
  }
  await Deno.writeTextFile(join(dir, "vectors.txt"), lines.join("\n") + "\n");
  return {
    preset: "test",
    settings: {
      visual: {
        depth: 8,
        epochs: 2,
        batchSize: 32,
        lr: 0.05,
        schedule: "onecycle",
        weightDecay: 5e-4,
        nesterov: true,
        limit: 0,
        width: 0.25,
        inputSize: 8,
      },
      layers: ["gap", "act"],
      word2vec: { dim: 16, epochs: 1, retrofit: "none" },
      devise: { epochs: 3, batchSize: 32, lr: 1e-2, dropout: 0, weightDecay: 0 },
      etaMinutes: 1,
    },
    dataDir: dir,
    visual: "",
    vectors: { source: join(dir, "vectors.txt"), dim: 16, epochs: 1 },
    workDir: join(dir, "work"),
    devise: { ...DEFAULT_DEVISE_CONFIG, epochs: 3, batchSize: 32, lr: 1e-2, seed: 1 },
    seed: 1,
  };
}

Deno.test("train pipeline: every stage on tiny data, then a re-run reuses every artifact", async () => {
  const dir = await Deno.makeTempDir();
  const cfg = await _fixture(dir);
  const run1 = await startRun("train", join(dir, "run1"), {}, { quiet: true });
  const first = await runTrainPipeline(tf, backend, cfg, run1);
  assert.equal(first.results.length, 3); // softmax + DeViSE gap + DeViSE act
  assert.match(first.results[1].model, /DeViSE \(gap, 16-D\)/);
  assert.match(first.results[2].model, /DeViSE \(act, 64-D\)/);
  for (const row of first.results) {
    assert.ok(row.hit["1"] <= row.hit["2"] && row.hit["5"] <= row.hit["10"], row.model);
  }
  const html = await Deno.readTextFile(join(dir, "run1", "report.html"));
  assert.match(html, /DeViSE \(act/);
  assert.ok(!/https?:\/\//.test(html.replace(/xmlns="http:\/\/www\.w3\.org[^"]*"/g, "")));

  // Same inputs: no training, no extraction, same numbers.
  const run2 = await startRun("train", join(dir, "run2"), {}, { quiet: true });
  const second = await runTrainPipeline(tf, backend, cfg, run2);
  assert.deepEqual(second.results, first.results);
  const log = await Deno.readTextFile(join(dir, "run2", "log.txt"));
  assert.match(log, /gap: reusing/);
  assert.match(log, /act: reusing/);
  assert.match(log, /cifar100 train: up to date/);
  assert.doesNotMatch(log, /epoch 1\//);

  // A changed DeViSE setting retrains DeViSE only.
  const run3 = await startRun("train", join(dir, "run3"), {}, { quiet: true });
  await runTrainPipeline(tf, backend, { ...cfg, devise: { ...cfg.devise, margin: 0.2 } }, run3);
  const log3 = await Deno.readTextFile(join(dir, "run3", "log.txt"));
  assert.doesNotMatch(log3, /gap: reusing/);
  assert.match(log3, /up to date/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("train pipeline: a missing label vector is a clear error", async () => {
  const dir = await Deno.makeTempDir();
  const cfg = await _fixture(dir);
  await Deno.writeTextFile(join(dir, "few.txt"), "1 2\nfine0 0.1 0.2\n");
  const run = await startRun("train", join(dir, "run"), {}, { quiet: true });
  await assert.rejects(
    runTrainPipeline(tf, backend, {
      ...cfg,
      vectors: { ...cfg.vectors, source: join(dir, "few.txt") },
    }, run),
    /no vector for labels fine1, fine2/,
  );
  await Deno.remove(dir, { recursive: true });
});
