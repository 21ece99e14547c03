import assert from "node:assert/strict";
import { join } from "node:path";
import { startRun } from "../lib/cli/run.ts";
import { useCpu } from "../lib/backend/select.ts";
import { PRESETS, resolveTrainSettings } from "../lib/pipeline/presets.ts";
import { loadDeviseModel } from "../lib/devise/train.ts";
import { parseDuration, planEpochs } from "../lib/pipeline/budget.ts";
import { type PipelineConfig, runTrainPipeline } from "../lib/pipeline/train.ts";
import { runZeroShot, type ZeroShotConfig } from "../lib/pipeline/zeroshot.ts";
import { writeTinyCifar } from "../lib/vision/fixture.ts";
import { Rng } from "../lib/io/rng.ts";
import { readTrainRun } from "../lib/pipeline/runs.ts";
import { mirroredFeatures } from "../lib/pipeline/image_features.ts";
import { flipImagesHorizontally } from "../lib/data/augment.ts";
import { loadCifar } from "../lib/data/cifar.ts";
import { featurePath, readFeatures } from "../lib/vision/extract.ts";

const { tf, backend } = await useCpu();

/** Tiny CIFAR fixture, tiny model, random 16-D label vectors: every stage, in seconds. */
async function _fixture(dir: string): Promise<PipelineConfig> {
  await writeTinyCifar(dir, { trainCount: 160, testCount: 40, classes: 4, seed: 5 });
  const rng = new Rng(9);
  const words = [
    ...Array.from({ length: 100 }, (_, i) => `fine${i}`),
    ...Array.from({ length: 10 }, (_, i) => `class${i}`), // the CIFAR-10 fixture's labels
    ..."abcd",
  ];
  const lines = [`${words.length} 16`];
  for (const w of words) {
    lines.push(`${w} ${Array.from({ length: 16 }, () => rng.normal().toFixed(5)).join(" ")}`);
  }
  await Deno.writeTextFile(join(dir, "vectors.txt"), lines.join("\n") + "\n");
  return {
    preset: "test",
    settings: {
      visual: {
        ...PRESETS.quick.visual,
        depth: 8,
        epochs: 2,
        batchSize: 32,
        lr: 0.05,
        limit: 0,
        width: 0.25,
        inputSize: 8,
      },
      budgetMinutes: 0,
      layers: ["gap", "act"],
      vectors: join(dir, "vectors.txt"),
      word2vec: { dim: 16, epochs: 1, retrofit: "none" },
      devise: { ...PRESETS.quick.devise, epochs: 3, batchSize: 32, lr: 1e-2 },
      deviseByLayer: { act: { dropout: 0.25 } },
      finetune: { ...PRESETS.quick.finetune, epochs: 0 },
      etaMinutes: 1,
    },
    dataDir: dir,
    visual: "",
    workDir: join(dir, "work"),
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
  // deviseByLayer changes act's model only.
  const dropoutOf = async (layer: "gap" | "act") =>
    (await loadDeviseModel(first.deviseModels[layer]!)).config.dropout;
  assert.equal(await dropoutOf("act"), 0.25);
  assert.equal(await dropoutOf("gap"), PRESETS.quick.devise.dropout);
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
  await runTrainPipeline(tf, backend, {
    ...cfg,
    settings: { ...cfg.settings, devise: { ...cfg.settings.devise, margin: 0.2 } },
  }, run3);
  const log3 = await Deno.readTextFile(join(dir, "run3", "log.txt"));
  assert.doesNotMatch(log3, /gap: reusing/);
  assert.match(log3, /up to date/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("presets: a devise flag replaces the preset's per-layer values, others stay", () => {
  const cpu = resolveTrainSettings("cpu", {});
  assert.equal(cpu.layers.at(-1), "gap");
  // Both maps draw 64 vocabulary negatives; --vocab-negatives 0 turns them off.
  assert.equal(cpu.devise.vocabNegatives, 64);
  assert.equal(
    resolveTrainSettings("cpu", { devise: { vocabNegatives: 0 } }).devise.vocabNegatives,
    0,
  );
  assert.equal(resolveTrainSettings("quick", {}).devise.vocabNegatives, 0);
  assert.deepEqual(cpu.deviseByLayer.gap, {
    loss: "hinge-max",
    lr: 1e-3,
    dropout: 0,
    weightDecay: 0,
  });
  const flagged = resolveTrainSettings("cpu", { devise: { dropout: 0.25, lr: undefined } });
  assert.equal(flagged.devise.dropout, 0.25);
  assert.deepEqual(flagged.deviseByLayer.gap, { loss: "hinge-max", lr: 1e-3, weightDecay: 0 });
  // --loss hinge brings the paper's sum back on every layer.
  const summed = resolveTrainSettings("cpu", { devise: { loss: "hinge" } });
  assert.equal(summed.deviseByLayer.gap?.loss, undefined);
  assert.equal(summed.devise.loss, "hinge");
  // The preset itself is untouched.
  assert.equal(resolveTrainSettings("cpu").deviseByLayer.gap?.dropout, 0);
});

Deno.test("train pipeline: a missing label vector is a clear error", async () => {
  const dir = await Deno.makeTempDir();
  const cfg = await _fixture(dir);
  await Deno.writeTextFile(join(dir, "few.txt"), "1 2\nfine0 0.1 0.2\n");
  const run = await startRun("train", join(dir, "run"), {}, { quiet: true });
  await assert.rejects(
    runTrainPipeline(tf, backend, {
      ...cfg,
      settings: { ...cfg.settings, vectors: join(dir, "few.txt") },
    }, run),
    /no vector for labels fine1, fine2/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("zeroshot on the tiny pipeline: 10-way, ceiling, full vocabulary; changed vectors refused", async () => {
  const dir = await Deno.makeTempDir();
  const fixture = await _fixture(dir);
  // Maps with vocabulary negatives (the cpu preset's): the seen-only maps draw them too.
  const cfg = {
    ...fixture,
    settings: {
      ...fixture.settings,
      devise: { ...fixture.settings.devise, vocabNegatives: 4 },
    },
  };
  const train = await startRun("train", join(dir, "train"), {}, { quiet: true });
  await train.finish({ ...await runTrainPipeline(tf, backend, cfg, train) }, false);
  const zcfg: ZeroShotConfig = {
    dataDir: dir,
    from: join(dir, "train"),
    layer: "gap",
    vocab: "full",
    k: 5,
    m: 8,
    efConstruction: 50,
    indexDir: join(dir, "index"),
    candidates: ["all", "top60"],
    imageCslsK: 3,
    ef: 0,
    targetRecall: 0.99,
    conseT: 1,
    deviseTemperature: 0.1,
    cslsK: 3,
    cslsWeight: 1,
    prototypes: true,
    prototypeLambda: 0,
    labelNeighbours: 0,
    selfTrain: true,
    unseen: 0,
    unseenNames: ["fine1", "fine3"], // the fixture's images carry classes 0..3 only
    showImages: 2,
    seed: 1,
  };
  const zs = () => startRun("zeroshot", join(dir, `zs-${Math.random()}`), {}, { quiet: true });
  const m = await runZeroShot(tf, zcfg, await zs());
  const tenWay = m.tenWay as Record<string, { meanAccuracy: number }>;
  assert.deepEqual(Object.keys(tenWay).sort(), [
    "ConSE",
    "ConSE (DeViSE scores)",
    "ConSE (DeViSE scores) + CSLS",
    "ConSE + CSLS",
    "ConSE, self-trained",
    "DeViSE",
    "DeViSE + CSLS",
    "DeViSE + CSLS (images)",
    "DeViSE + ConSE",
    "DeViSE + ConSE + visual prototypes",
    "DeViSE + ConSE + whitened visual prototypes",
    "DeViSE + label centroid",
    "DeViSE + label centroid + CSLS",
    "DeViSE + label neighbours",
    "DeViSE + visual prototypes",
    "DeViSE + visual prototypes, self-trained",
    "DeViSE + whitened visual prototypes",
    "DeViSE gap + act", // the run's two maps, both read
    "DeViSE gap + act + ConSE",
    "DeViSE, self-trained",
    "visual prototypes",
    "visual prototypes + ConSE",
    "visual prototypes, self-trained",
    "whitened visual prototypes", // gap is narrow enough to whiten
    "whitened visual prototypes + ConSE",
  ]);
  // λ came from held-out CIFAR-100 classes: the winner is the best of the candidates.
  const fit = m.prototypes!["whitened visual prototypes"];
  const best = Math.max(...fit.byLambda!.map((r) => r.meanAccuracy));
  assert.equal(fit.byLambda!.find((r) => r.lambda === fit.lambda)!.meanAccuracy, best);

  // Label expansion's k came from held-out CIFAR-100 classes too, and was kept for reuse.
  const expansion = m.labelExpansion!;
  const bestK = Math.max(...expansion.byK!.map((r) => r.meanAccuracy));
  const chosen = expansion.byK!.find((r) =>
    r.k === expansion.k && r.labelWeight === expansion.labelWeight
  );
  assert.equal(chosen!.meanAccuracy, bestK);
  // Every map: the run's own (3 epochs, one seed) first, then each epoch count with 1 and 5 maps;
  // with each, every k ≥ 2 with each label weight, k 0 and 1 once.
  const maps = [...new Set(expansion.byK!.map((r) => `${r.epochs}/${r.maps}`))];
  assert.deepEqual(maps, ["3/1", "1/1", "1/5", "2/1", "2/5", "3/5"]);
  assert.equal(expansion.byK!.filter((r) => r.k === 5).length, 2 * maps.length);
  assert.equal(expansion.byK!.filter((r) => r.k === 1).length, maps.length);
  // Each of the 5 seed maps alone at the chosen epochs, on the same target labels.
  assert.equal(expansion.seedMeanAccuracy!.length, 5);
  for (const a of expansion.seedMeanAccuracy!) assert.ok(a >= 0 && a <= 1);
  assert.ok(expansion.folds!.length >= 1 && !expansion.reused);
  for (const [label, near] of Object.entries(expansion.neighbours)) {
    assert.equal(near.length, expansion.k, label);
    assert.ok(!near.includes(label), `${label}: ${near}`);
  }

  // ConSE with T = 1 is a fixed map of the top-1 CIFAR-100 class: never above the ceiling.
  const mapCeiling = m.labelMappingCeiling as {
    meanAccuracy: number;
    mappedFrom: Record<string, string[]>;
  };
  const ceiling = mapCeiling.meanAccuracy;
  // The map sends each of the 100 source classes to exactly one of the 10 targets.
  assert.equal(Object.values(mapCeiling.mappedFrom).flat().length, 100);
  assert.equal(new Set(Object.values(mapCeiling.mappedFrom).flat()).size, 100);
  assert.ok(
    tenWay.ConSE.meanAccuracy <= ceiling + 1e-12,
    `${tenWay.ConSE.meanAccuracy} > ${ceiling}`,
  );
  // With T = 1, DeViSE's ConSE is its top CIFAR-100 label's vector: also a fixed label map.
  assert.ok(tenWay["ConSE (DeViSE scores)"].meanAccuracy <= ceiling + 1e-12);
  const full = m.fullVocab as Record<string, Record<string, number>>;
  assert.ok(full["DeViSE, all words"]["1"] <= full["DeViSE, all words"]["5"]);
  // Every candidate set has its rows, and CSLS adds its own.
  for (
    const row of [
      "DeViSE, top60, all words",
      "ConSE, top60, unseen only",
      "DeViSE + CSLS, all words",
      "DeViSE + CSLS, top60, unseen only",
      "ConSE (DeViSE scores), all words",
      "ConSE (DeViSE scores), top60, unseen only",
      "DeViSE + label centroid, all words",
      "DeViSE + label centroid, top60, unseen only",
      "visual prototypes, all words",
      "visual prototypes, top60, unseen only",
    ]
  ) assert.ok(full[row], row);
  assert.equal(m.candidates!.top60.words, 60);
  // The prototypes search their own index, in their span: at most one dim per class with
  // training images (the fixture's 4), not the layer's width.
  for (const set of ["all", "top60"]) {
    const p = m.candidates![set].prototypeIndex!;
    assert.ok(p.dim >= 1 && p.dim <= 4, `${set}: ${p.dim}`);
    assert.ok(p.bytes > 0 && m.candidates![set].byMethod["visual prototypes"].recallAt10 > 0, set);
  }
  // The fixture's labels are words of the vocabulary: the nearest word is at least that close.
  const geometry = m.embeddingGeometry!;
  assert.deepEqual(Object.keys(geometry).sort(), [
    "ConSE",
    "ConSE (DeViSE scores)",
    "DeViSE",
    "DeViSE + label centroid",
  ]);
  for (const [method, g] of Object.entries(geometry)) {
    assert.ok(g.cosTrueLabel >= -1 && g.cosNearestWord <= 1 + 1e-6, method);
    assert.ok(g.cosNearestWord >= g.cosTrueLabel - 1e-4, `${method}: ${JSON.stringify(g)}`);
  }
  assert.equal(m.candidates!.all.words, 114);
  // --ef 0: ef grows from 50 until recall@10 vs exact reaches the target (or ef runs out).
  const sweep = m.indexSweep as { ef: number; recallAt10: number }[];
  const grid = [50, 75, 100, 150, 200, 300, 400, 600, 800, 1200, 1600, 2400, 3200];
  assert.deepEqual(sweep.map((r) => r.ef), grid.slice(0, sweep.length));
  assert.ok(sweep.slice(0, -1).every((r) => r.recallAt10 < 0.99));
  assert.ok(sweep.at(-1)!.recallAt10 >= 0.99 || sweep.at(-1)!.ef === 3200);
  const reportText = await Deno.readTextFile(m.report as string);
  assert.match(reportText, /Ceilings of the visual model/);
  assert.match(reportText, /linear readout of the softmax/);
  assert.match(
    reportText,
    new RegExp(
      `&quot;whitened visual prototypes&quot;: kernel ridge regression \\(λ ${fit.lambda}\\)`,
    ),
  );
  assert.match(reportText, /label neighbours&quot; scores DeViSE(&#39;|')s embeddings/);
  assert.match(reportText, /each seed(&#39;|')s map alone at \d+ epochs: [\d.]+%, /);
  assert.match(reportText, new RegExp(`its ${expansion.k} nearest vocabulary words`));
  assert.match(reportText, /H, γ from validation/);
  assert.match(reportText, /&quot;, self-trained&quot; rows are transductive/);
  type Gzsl = { ausuc: number; bestH: number; harmonicMean: number };
  const gzsl = m.unseen as unknown as Record<
    string,
    Gzsl & { calibrated: Gzsl & { gamma: number } }
  >;
  assert.equal(gzsl.visualNeverSaw, false); // the tiny visual model trained on every class
  for (const name of ["DeViSE", "DeViSE + CSLS", "ConSE", "ConSE + CSLS"]) {
    const g = gzsl[name];
    assert.ok(g.ausuc >= 0 && g.ausuc <= 1, name);
    assert.ok(g.bestH >= g.harmonicMean - 1e-12, name); // gamma 0 is a point
    // gamma from validation picks some point of the same curve, so it cannot beat best H.
    assert.ok(Number.isFinite(g.calibrated.gamma), name);
    assert.ok(g.bestH >= g.calibrated.harmonicMean - 1e-12, name);
  }

  // Test-time flip: the mirror of the mirrored images is the original, so its features are the
  // run's own cached ones (the same model, the flip applied once).
  const trainedRun = await readTrainRun(join(dir, "train"));
  const c10 = await loadCifar(dir, "cifar10", "test");
  const twice = await mirroredFeatures(tf, trainedRun, flipImagesHorizontally(c10.images), ["gap"]);
  const cached = await readFeatures(
    featurePath(trainedRun.metrics.featureDir, "cifar10", "test", "gap"),
  );
  const worst = twice.layers.gap!.data.reduce(
    (w, v, i) => Math.max(w, Math.abs(v - cached.data[i])),
    0,
  );
  assert.ok(worst < 1e-4, `features of the twice-mirrored images differ by ${worst}`);
  const once = await mirroredFeatures(tf, trainedRun, c10.images, ["gap"]);
  assert.ok(once.layers.gap!.data.some((v, i) => Math.abs(v - cached.data[i]) > 1e-3));
  const tta = await runZeroShot(
    tf,
    { ...zcfg, vocab: "10", unseenNames: [], tta: "flip" },
    await zs(),
  );
  assert.deepEqual(Object.keys(tta.tenWay).sort(), Object.keys(tenWay).sort());
  assert.match(await Deno.readTextFile(tta.report), /averaged with its mirror image/);
  assert.doesNotMatch(reportText, /mirror image/);

  // The image-CSLS hub sample is kept beside the map; a damaged copy is rebuilt, same numbers.
  const hubCache = `${trainedRun.metrics.deviseModels.gap}.hub-sample.f32`;
  const cachedHubs = await readFeatures(hubCache);
  assert.deepEqual(cachedHubs.shape, [160, 16]); // the fixture's 160 training images, 16-D
  const bytes = await Deno.readFile(hubCache);
  bytes[0] ^= 0xff;
  await Deno.writeFile(hubCache, bytes);
  // So are label expansion's seed maps (5 maps of the chosen epochs, one artifact), checked too.
  const seedMaps = `${trainedRun.metrics.deviseModels.gap}.label-expansion.maps.f32`;
  const gapModel = await loadDeviseModel(trainedRun.metrics.deviseModels.gap!);
  const kept = await readFeatures(seedMaps); // the 5 maps stacked: 5·d rows of D
  assert.deepEqual(kept.shape, [5 * gapModel.d, gapModel.dims]);
  const seedBytes = await Deno.readFile(seedMaps);
  if (expansion.epochs === gapModel.config.epochs) {
    // Seed 0 at the run's epochs is the run's own map: training is deterministic.
    assert.deepEqual(kept.data.slice(0, gapModel.M.length), gapModel.M);
  }
  if (expansion.maps === 1) {
    // One map: the row is that seed's map alone.
    assert.equal(
      expansion.seedMeanAccuracy![0],
      tenWay["DeViSE + label neighbours"].meanAccuracy,
    );
  }
  await Deno.writeFile(seedMaps, seedBytes.map((b, i) => i === 7 ? b ^ 0xff : b));
  const again = await runZeroShot(tf, { ...zcfg, vocab: "10", unseenNames: [] }, await zs());
  assert.deepEqual(await Deno.readFile(seedMaps), seedBytes); // retrained, the same maps
  assert.deepEqual(again.labelExpansion!.seedMeanAccuracy, expansion.seedMeanAccuracy);
  assert.equal(
    again.tenWay["DeViSE + CSLS (images)"].meanAccuracy,
    tenWay["DeViSE + CSLS (images)"].meanAccuracy,
  );
  assert.deepEqual((await readFeatures(hubCache)).data, cachedHubs.data);
  // The label-expansion fit was kept: reused, same k, same row.
  assert.equal(again.labelExpansion!.reused, true);
  assert.equal(again.labelExpansion!.k, expansion.k);
  assert.equal(
    again.tenWay["DeViSE + label neighbours"].meanAccuracy,
    tenWay["DeViSE + label neighbours"].meanAccuracy,
  );

  // Other vectors under the same path after training: the model's label space is gone.
  const text = await Deno.readTextFile(cfg.settings.vectors);
  await Deno.writeTextFile(cfg.settings.vectors, text.replace(/^class0 \S+/m, "class0 0.5"));
  await assert.rejects(runZeroShot(tf, zcfg, await zs()), /the run trained on [0-9a-f]{12}/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("budget: durations, epochs that fit, and a plan that re-runs keep", async () => {
  assert.equal(parseDuration("2h"), 7200);
  assert.equal(parseDuration("1h30m"), 5400);
  assert.equal(parseDuration("90"), 5400);
  assert.equal(parseDuration("45s"), 45);
  for (const bad of ["", "2x", "h", "-1h", "1m2h"]) {
    assert.throws(() => parseDuration(bad), /--budget expects a duration/, bad);
  }
  const plan = planEpochs({
    budgetSeconds: 3600,
    spentSeconds: 100,
    epochSeconds: 100,
    extractSeconds: 50,
    deviseSeconds: 40,
    otherSeconds: 10,
  });
  assert.equal(plan.epochs, 34); // (3600 - 200) / 100
  assert.equal(plan.etaSeconds, 100 + 3400 + 100);
  assert.ok(plan.etaSeconds <= 3600);
  // A budget smaller than the fixed stages still trains one epoch (and says so in its ETA).
  assert.equal(planEpochs({ ...plan, budgetSeconds: 10 }).epochs, 1);

  const dir = await Deno.makeTempDir();
  const cfg = await _fixture(dir);
  // With vocabulary negatives, as the cpu preset (the plan's timing loop once ran without words).
  const budgeted = {
    ...cfg,
    settings: {
      ...cfg.settings,
      budgetMinutes: 0.5,
      devise: { ...cfg.settings.devise, vocabNegatives: 8 },
    },
  };
  const run1 = await startRun("train", join(dir, "b1"), {}, { quiet: true });
  const first = await runTrainPipeline(tf, backend, budgeted, run1);
  assert.ok(first.budgetPlan!.epochs >= 1);
  assert.ok(first.budgetPlan!.etaSeconds > 0);
  assert.match(await Deno.readTextFile(join(dir, "b1", "log.txt")), /budget 30s: training runs at/);
  // The same settings again: the saved plan is reused (same epochs, same visual folder).
  const run2 = await startRun("train", join(dir, "b2"), {}, { quiet: true });
  const second = await runTrainPipeline(tf, backend, budgeted, run2);
  assert.equal(second.budgetPlan!.epochs, first.budgetPlan!.epochs);
  assert.equal(second.visual.checkpoint, first.visual.checkpoint);
  assert.match(await Deno.readTextFile(join(dir, "b2", "log.txt")), /budget plan reused/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("fine-tuning stage: a fine-tuned row next to the others, and zeroshot --finetuned uses it", async () => {
  const dir = await Deno.makeTempDir();
  const cfg = await _fixture(dir);
  const tuned = {
    ...cfg,
    settings: {
      ...cfg.settings,
      // Both stages draw vocabulary negatives (the stage passes the words on).
      devise: { ...cfg.settings.devise, vocabNegatives: 4 },
      finetune: {
        ...cfg.settings.finetune,
        epochs: 2,
        batchSize: 32,
        lrVisual: 0.01,
        vocabNegatives: 4,
      },
    },
  };
  const run = await startRun("train", join(dir, "train"), {}, { quiet: true });
  const metrics = await runTrainPipeline(tf, backend, tuned, run);
  await run.finish({ ...metrics }, false);
  assert.deepEqual(metrics.results.map((r) => r.model), [
    "softmax (ResNet-8)",
    "DeViSE (gap, 16-D)",
    "DeViSE (act, 64-D)",
    "DeViSE, fine-tuned (act)",
  ]);
  assert.equal(metrics.finetuned!.epochs, 2);
  assert.notEqual(metrics.finetuned!.featureDir, metrics.featureDir); // its own features
  const html = await Deno.readTextFile(join(dir, "train", "report.html"));
  assert.match(html, /DeViSE, fine-tuned \(act\)/);
  assert.match(html, /Fine-tuning: train hinge rank loss/);
  assert.match(html, /Fine-tuning: test hit@1/);
  const zcfg: ZeroShotConfig = {
    dataDir: dir,
    from: join(dir, "train"),
    layer: "act",
    vocab: "10",
    k: 5,
    m: 8,
    efConstruction: 50,
    indexDir: join(dir, "index"),
    candidates: ["all"],
    imageCslsK: 0,
    ef: 0,
    targetRecall: 0.9,
    conseT: 1,
    deviseTemperature: 0,
    cslsK: 0,
    cslsWeight: 1,
    prototypes: true,
    prototypeLambda: 0,
    unseen: 0,
    unseenNames: [],
    showImages: 0,
    seed: 1,
  };
  const plain = await runZeroShot(
    tf,
    zcfg,
    await startRun("zeroshot", join(dir, "z1"), {}, { quiet: true }),
  );
  const ft = await runZeroShot(
    tf,
    { ...zcfg, finetuned: true },
    await startRun("zeroshot", join(dir, "z2"), {}, { quiet: true }),
  );
  assert.match(ft.model, /finetune-act-/);
  assert.doesNotMatch(plain.model, /finetune/);
  // ConSE reads the pretrained softmax either way: the same numbers.
  assert.equal(ft.tenWay.ConSE.meanAccuracy, plain.tenWay.ConSE.meanAccuracy);
  // Flipped, the fine-tuned features come from the fine-tuned model (the mirror of the mirror
  // gives its cached features back) and ConSE's softmax from the pretrained one, as unflipped.
  const trainedRun = await readTrainRun(zcfg.from);
  const c10 = await loadCifar(dir, "cifar10", "test");
  const twice = await mirroredFeatures(
    tf,
    trainedRun,
    flipImagesHorizontally(c10.images),
    ["act"],
    { finetuned: metrics.finetuned! },
  );
  // A fine-tuned checkpoint is checked against its features, as the pretrained one is.
  await assert.rejects(
    mirroredFeatures(tf, trainedRun, c10.images, ["act"], {
      finetuned: { ...metrics.finetuned!, featureDir: metrics.featureDir },
    }),
    /are not the model the run's features came from/,
  );
  const cached = await readFeatures(
    featurePath(metrics.finetuned!.featureDir, "cifar10", "test", "act"),
  );
  const worst = twice.layers.act!.data.reduce(
    (w, v, i) => Math.max(w, Math.abs(v - cached.data[i])),
    0,
  );
  assert.ok(worst < 1e-4, `fine-tuned features of the twice-mirrored images differ by ${worst}`);
  const ftFlip = await runZeroShot(
    tf,
    { ...zcfg, finetuned: true, tta: "flip" },
    await startRun("zeroshot", join(dir, "z4"), {}, { quiet: true }),
  );
  const plainFlip = await runZeroShot(
    tf,
    { ...zcfg, tta: "flip" },
    await startRun("zeroshot", join(dir, "z5"), {}, { quiet: true }),
  );
  assert.equal(ftFlip.tenWay.ConSE.meanAccuracy, plainFlip.tenWay.ConSE.meanAccuracy);
  // Another layer than the fine-tuned one is refused, naming both.
  await assert.rejects(
    runZeroShot(
      tf,
      { ...zcfg, layer: "gap", finetuned: true },
      await startRun("zeroshot", join(dir, "z3"), {}, { quiet: true }),
    ),
    /fine-tuned model is of layer act, not gap/,
  );
  // A re-run reuses the finished fine-tuning.
  const again = await runTrainPipeline(
    tf,
    backend,
    tuned,
    await startRun("train", join(dir, "t2"), {}, { quiet: true }),
  );
  assert.deepEqual(again.results.at(-1), metrics.results.at(-1));
  assert.doesNotMatch(await Deno.readTextFile(join(dir, "t2", "log.txt")), /fine-tune epoch 1\//);
  await Deno.remove(dir, { recursive: true });
});
