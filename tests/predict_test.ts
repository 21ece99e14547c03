import assert from "node:assert/strict";
import { join } from "node:path";
import sharp from "sharp";
import { startRun } from "../lib/cli/run.ts";
import { useCpu } from "../lib/backend/select.ts";
import { loadCifar } from "../lib/data/cifar.ts";
import { writeImageFolder } from "../lib/images/folder.ts";
import { PRESETS } from "../lib/pipeline/presets.ts";
import { labelledAccuracy, predict, type PredictRequest } from "../lib/pipeline/predict.ts";
import { search } from "../lib/pipeline/search.ts";
import { runTrainPipeline } from "../lib/pipeline/train.ts";
import { zeroshot, type ZeroShotRequest } from "../lib/pipeline/zeroshot.ts";
import { writeTinyCifar } from "../lib/vision/fixture.ts";
import { Rng } from "../lib/io/rng.ts";
import { readTrainRun } from "../lib/pipeline/runs.ts";
import { embedRows, loadDeviseModel } from "../lib/devise/train.ts";
import { loadDeviseSplit } from "../lib/devise/data.ts";
import { readVectors } from "../lib/text/word2vec_io.ts";
import { labelVectors } from "../lib/text/labels.ts";
import { normalizeRows } from "../lib/text/vectors.ts";
import { exactTopK } from "../lib/zeroshot/exact.ts";
import { labelCentroid, withLabelCentroid } from "../lib/zeroshot/centroid.ts";

const { tf, backend } = await useCpu();

/** A finished tiny train run (tiny model, random 16-D vectors) in `dir/train`. */
async function _trainRun(dir: string): Promise<string> {
  await writeTinyCifar(dir, { trainCount: 160, testCount: 40, classes: 4, seed: 5 });
  const rng = new Rng(9);
  const words = [
    ...Array.from({ length: 100 }, (_, i) => `fine${i}`),
    ...Array.from({ length: 10 }, (_, i) => `class${i}`),
    "lynx",
    "hot",
    "balloon",
  ];
  const lines = [`${words.length} 16`];
  for (const w of words) {
    lines.push(`${w} ${Array.from({ length: 16 }, () => rng.normal().toFixed(5)).join(" ")}`);
  }
  await Deno.writeTextFile(join(dir, "vectors.txt"), lines.join("\n") + "\n");
  const run = await startRun("train", join(dir, "train"), {}, { quiet: true });
  await run.finish({
    ...await runTrainPipeline(tf, backend, {
      preset: "test",
      settings: {
        ...PRESETS.quick,
        visual: {
          ...PRESETS.quick.visual,
          depth: 8,
          epochs: 1,
          batchSize: 32,
          limit: 0,
          width: 0.25,
          inputSize: 8,
        },
        vectors: join(dir, "vectors.txt"),
        word2vec: { dim: 16, epochs: 1, retrofit: "none" },
        devise: { ...PRESETS.quick.devise, epochs: 2, batchSize: 32, lr: 1e-2 },
      },
      dataDir: dir,
      visual: "",
      workDir: join(dir, "work"),
      seed: 1,
    }, run),
  }, false);
  return join(dir, "train");
}

function _request(dir: string, from: string, extra: Partial<PredictRequest>): PredictRequest {
  return {
    paths: [],
    from,
    labels: "fine0,fine1,class2,lynx",
    k: 3,
    fit: "crop",
    conseT: 5,
    indexDir: join(dir, "index"),
    cacheDir: join(dir, "cache"),
    prototypes: true,
    labelNeighbours: 0,
    dataDir: dir,
    backend: "cpu",
    out: join(dir, `predict-${Math.random()}`),
    json: false,
    quiet: true,
    ...extra,
  };
}

Deno.test("predict: own images, any label set, bad files named and skipped, nothing written into the inputs", async () => {
  const dir = await Deno.makeTempDir();
  const from = await _trainRun(dir);
  const photos = join(dir, "photos");
  await Deno.mkdir(photos);
  // A photo-like 1024×768 JPEG, a 1×1 PNG, and three files that are not images.
  await sharp({ create: { width: 1024, height: 768, channels: 3, background: "#3a7" } })
    .jpeg().toFile(join(photos, "big.jpg"));
  await sharp({ create: { width: 1, height: 1, channels: 3, background: "#f00" } })
    .png().toFile(join(photos, "dot.png"));
  await Deno.writeFile(join(photos, "empty.jpg"), new Uint8Array());
  await Deno.writeTextFile(join(photos, "notes.jpg"), "not a picture");
  const before = [...Deno.readDirSync(photos)].map((e) => e.name).sort();

  const request = _request(dir, from, { paths: [photos], labels: "fine0,fine1,class2,lynx,xyzzy" });
  // Two of four images unreadable: the others are predicted, the task then exits with code 3.
  const err = await predict(request).catch((e) => e);
  assert.equal(err.exitCode, 3);
  assert.match(err.message, /2 of 4 inputs could not be read/);
  const metrics = JSON.parse(await Deno.readTextFile(join(request.out, "metrics.json")));
  assert.equal(metrics.status, "ok");
  assert.equal(metrics.images, 2);
  assert.deepEqual(metrics.skippedLabels, ["xyzzy"]);
  const failed = metrics.failed.map((f: { message: string }) => f.message).join("\n");
  assert.match(failed, /empty\.jpg/);
  assert.match(failed, /notes\.jpg/);
  for (const p of metrics.predictions) {
    assert.equal(p.devise.length, 3);
    assert.equal(p.conse.length, 3);
    assert.equal(p.prototypes.length, 3); // fit on the fixture's CIFAR-100 features
    assert.equal(p.labelNeighbours.length, 3); // k chosen on the fixture's CIFAR-100 classes
    for (const m of [p.devise, p.conse, p.prototypes, p.labelNeighbours]) {
      assert.ok(m[0].score >= m[1].score && m[1].score >= m[2].score, "best first");
      for (const x of m) assert.ok(["fine0", "fine1", "class2", "lynx"].includes(x.label));
    }
  }
  const log = await Deno.readTextFile(join(request.out, "log.txt"));
  assert.match(log, /labels without a word vector \(skipped\): xyzzy/);
  assert.match(log, /\nvisual prototypes \(act, \d+-D\): λ [\d.]+, chosen on held-out/);
  assert.doesNotMatch(log, /whitened/); // predict fits the plain map only
  assert.match(
    log,
    /\nlabel expansion \(act\): \d+ epochs?( × \d+ maps)?, k \d+, chosen on held-out CIFAR-100/,
  );
  assert.match(log, /\nlabel neighbours \(k \d+\): fine0 ← /);
  assert.match(await Deno.readTextFile(join(request.out, "report.html")), /big\.jpg/);
  assert.deepEqual([...Deno.readDirSync(photos)].map((e) => e.name).sort(), before);

  // A label set with no vector at all is refused before any image is read.
  await assert.rejects(
    predict(_request(dir, from, { paths: [photos], labels: "xyzzy,plugh" })),
    /none of xyzzy, plugh has a word vector/,
  );
  // The whole vocabulary through the index: every answer is a word of the vectors.
  const vocab = _request(dir, from, { paths: [join(photos, "big.jpg")], labels: "vocab" });
  const [one] = await predict(vocab);
  assert.equal(one.devise.length, 3);
  assert.ok(one.devise.every((x) => /^(fine\d+|class\d|lynx|hot|balloon)$/.test(x.label)));
  assert.equal(one.prototypes, undefined); // a label list only
  assert.equal(one.labelNeighbours, undefined);
  // Without CIFAR-100 in the data folder the prototypes are skipped, and the log says why.
  const bare = _request(dir, from, { paths: [join(photos, "big.jpg")], dataDir: photos });
  const [plain] = await predict(bare);
  assert.equal(plain.prototypes, undefined);
  assert.equal(plain.labelNeighbours, undefined);
  assert.equal(plain.devise.length, 3);
  assert.match(
    await Deno.readTextFile(join(bare.out, "log.txt")),
    /visual prototypes: skipped .*no CIFAR-100 folder under/,
  );
  assert.match(await Deno.readTextFile(join(bare.out, "log.txt")), /label neighbours: skipped/);
  // A given k needs no CIFAR-100.
  const [given] = await predict({ ...bare, labelNeighbours: 2, out: `${bare.out}-k2` });
  assert.equal(given.labelNeighbours!.length, 3);
  assert.match(
    await Deno.readTextFile(join(`${bare.out}-k2`, "log.txt")),
    /label neighbours \(k 2\)/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("zeroshot --images on an ImageFolder of the CIFAR-10 test PNGs equals the binary run", async () => {
  const dir = await Deno.makeTempDir();
  const from = await _trainRun(dir);
  const c10 = await loadCifar(dir, "cifar10", "test");
  const folder = join(dir, "c10png");
  await writeImageFolder(folder, c10.images, c10.labels, c10.labelNames);
  const base: ZeroShotRequest = {
    dataDir: dir,
    from,
    vocab: "10",
    k: 5,
    m: 8,
    efConstruction: 50,
    indexDir: join(dir, "index"),
    candidates: ["all"],
    imageCslsK: 0,
    ef: 0,
    targetRecall: 0.9,
    conseT: 2,
    deviseTemperature: 0.1,
    cslsK: 3,
    cslsWeight: 1,
    prototypes: true,
    prototypeLambda: 0,
    selfTrain: true,
    unseen: 0,
    unseenNames: [],
    showImages: 2,
    seed: 1,
    backend: "cpu",
    out: join(dir, "zs-bin"),
    json: false,
    quiet: true,
  };
  const binary = await zeroshot(base);
  const images = await zeroshot({
    ...base,
    images: folder,
    cacheDir: join(dir, "cache"),
    out: join(dir, "zs-png"),
  });
  // Lossless files, the same pixels, so the same predictions (order differs, means do not).
  // Only CIFAR-10 has the run's other layer's features: the act + gap ensembles are its own.
  const binaryOnly = Object.keys(binary.tenWay).filter((m) => !images.tenWay[m]);
  assert.ok(binaryOnly.length <= 2, binaryOnly.join(", "));
  for (const m of binaryOnly) {
    assert.match(m, /^DeViSE (gap|act|bn)( \+ (gap|act|bn))+( \+ ConSE)?$/);
  }
  for (const method of Object.keys(images.tenWay)) {
    assert.ok(
      Math.abs(binary.tenWay[method].meanAccuracy - images.tenWay[method].meanAccuracy) < 1e-12,
      method,
    );
  }
  // predict on the same tree, its class names as labels: its accuracy is zeroshot's 10-way
  // (the same layer, the same prototype fit; ConSE with the same T). The fixture's empty class
  // folders are named as problems (exit code 3) after the outputs are written.
  const onTree = _request(dir, from, {
    paths: [folder],
    labels: c10.labelNames.join(","),
    k: 3,
    conseT: 2,
    selfTrain: true,
  });
  assert.equal((await predict(onTree).catch((e) => e)).exitCode, 3);
  const treeMetrics = JSON.parse(await Deno.readTextFile(join(onTree.out, "metrics.json")));
  const predicted = treeMetrics.predictions;
  const acc = labelledAccuracy(predicted, c10.labelNames)!;
  assert.deepEqual(treeMetrics.accuracy, acc);
  assert.equal(acc.images, c10.count);
  for (const method of ["DeViSE", "ConSE", "visual prototypes"]) {
    assert.ok(
      Math.abs(acc.methods[method].top1 - binary.tenWay[method].meanAccuracy) < 1e-9,
      method,
    );
    assert.ok(acc.methods[method].topK! >= acc.methods[method].top1, method);
  }
  // The same images labelled together: zeroshot's self-trained rows, one label per image.
  for (const method of ["DeViSE, self-trained", "visual prototypes, self-trained"]) {
    assert.ok(
      Math.abs(acc.methods[method].top1 - binary.tenWay[method].meanAccuracy) < 1e-9,
      `${method}: ${acc.methods[method].top1} vs ${binary.tenWay[method].meanAccuracy}`,
    );
    assert.equal(acc.methods[method].topK, undefined);
  }
  assert.ok(
    predicted.every((p: { selfTrained?: { devise: string } }) =>
      c10.labelNames.includes(p.selfTrained!.devise)
    ),
  );
  assert.equal(labelledAccuracy(predicted, ["xyzzy"]), undefined); // no image of any label
  // Every word as a label: predict's DeViSE words are the nearest words of the embeddings with
  // the CIFAR-100 labels' shared component restored (an exact search at this size), not of the
  // raw embeddings.
  const inVocab = _request(dir, from, { paths: [folder], labels: "vocab", k: 5 });
  await predict(inVocab).catch((e) => e);
  const vocabPredicted: { path: string; devise: { label: string }[] }[] =
    JSON.parse(await Deno.readTextFile(join(inVocab.out, "metrics.json"))).predictions;
  const trained = await readTrainRun(from);
  const words = await readVectors(trained.metrics.vectors.path);
  const layer = trained.metrics.layers.at(-1)!; // predict's default
  const model = await loadDeviseModel(trained.metrics.deviseModels[layer]!);
  const features = (await loadDeviseSplit(trained.metrics.featureDir, c10, layer)).features;
  const embedded = embedRows(model, features);
  const D = words.dim, unit = { dim: D, data: normalizeRows(words.data.slice(), D) };
  const centroid = labelCentroid(labelVectors(words, trained.metrics.classes).data, D);
  const restored = withLabelCentroid(embedded, D, centroid);
  let differ = 0;
  for (const p of vocabPredicted) {
    const i = Number(p.path.match(/(\d+)\.png$/)![1]);
    const nearest = (q: Float32Array) =>
      exactTopK(unit, q.subarray(i * D, (i + 1) * D), 5).ids.map((id) => words.words[id]);
    assert.deepEqual(p.devise.map((x) => x.label), nearest(restored), p.path);
    if (nearest(embedded).join() !== nearest(restored).join()) differ++;
  }
  assert.ok(differ > 0, "the restored queries should rank some words differently");
  // A class folder without a word vector is named before any image is read.
  await Deno.mkdir(join(folder, "xyzzy"));
  await Deno.copyFile(join(folder, "class0", "00000.png"), join(folder, "xyzzy", "a.png"));
  await assert.rejects(
    zeroshot({ ...base, images: folder, out: join(dir, "zs-bad") }),
    /no word vector for class folder\(s\) xyzzy/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("search: word → nearest images, cached embeddings and index reused", async () => {
  const dir = await Deno.makeTempDir();
  const from = await _trainRun(dir);
  const request = {
    words: ["class0", "class1", "xyzzy"],
    images: "cifar10",
    from,
    k: 4,
    fit: "crop" as const,
    dataDir: dir,
    prototypes: true,
    indexDir: join(dir, "index"),
    cacheDir: join(dir, "cache"),
    backend: "cpu" as const,
    out: join(dir, "s1"),
    json: false,
    quiet: true,
  };
  const first = await search(request);
  assert.deepEqual(first.map((r) => r.word), ["class0", "class1"]); // xyzzy has no vector
  for (const r of first) {
    assert.equal(r.hits.length, 4);
    assert.ok(r.hits[0].cosine >= r.hits[3].cosine);
    assert.equal(r.wordClass, r.word); // the word is a class name
    assert.equal(r.precision, r.hits.filter((h) => h.label === r.word).length / 4);
    // Visual prototypes search too (the fixture has CIFAR-100): best first, their own share.
    const p = r.prototypes!;
    assert.equal(p.hits.length, 4);
    assert.ok(p.hits[0].cosine >= p.hits[3].cosine);
    assert.equal(p.precision, p.hits.filter((h) => h.label === r.word).length / 4);
  }
  const again = await search({ ...request, out: join(dir, "s2") });
  assert.deepEqual(again, first);
  const log = await Deno.readTextFile(join(dir, "s2", "log.txt"));
  assert.match(log, /reusing .*embeddings-/);
  assert.match(log, /reusing .*images-.*hnsw/);
  await assert.rejects(search({ ...request, words: ["xyzzy"] }), /no word vector for xyzzy/);
  await Deno.remove(dir, { recursive: true });
});
