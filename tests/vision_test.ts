import assert from "node:assert/strict";
import type * as tfjs from "@tensorflow/tfjs";
import { join } from "node:path";
import { selectBackend, slowBackendMessage, useCpu } from "../lib/backend/select.ts";
import { conv2dFilterGradNhwc } from "../lib/backend/cpu_fast.ts";
import { ArtifactError } from "../lib/io/artifact.ts";
import {
  blocksPerStage,
  buildModel,
  resnetParamCount,
  stageChannels,
  trainableParamCount,
} from "../lib/vision/models.ts";
import {
  DEFAULT_TRAIN_CONFIG,
  evaluate,
  learningRateAt,
  measureTrainingSpeed,
  type TrainConfig,
  trainVision,
  withoutClasses,
} from "../lib/vision/train.ts";
import { float16ToFloat32, float32ToFloat16 } from "../lib/io/float16.ts";
import { extractFeatures, readFeatures, writeFeatures } from "../lib/vision/extract.ts";
import { foldBatchNorm } from "../lib/vision/folded.ts";
import { Rng } from "../lib/io/rng.ts";
import { syntheticImages } from "../lib/vision/fixture.ts";

const { tf } = await useCpu();

/** Trainable parameters of ResNet-(6n+2) written out by hand from He et al.'s layout. */
function handCount(n: number, classes: number): number {
  let convs = 9 * 3 * 16; // stem
  convs += n * 2 * 9 * 16 * 16; // stage 1
  convs += 9 * 16 * 32 + 9 * 32 * 32 + (n - 1) * 2 * 9 * 32 * 32; // stage 2
  convs += 9 * 32 * 64 + 9 * 64 * 64 + (n - 1) * 2 * 9 * 64 * 64; // stage 3
  const bnGammaBeta = 2 * (16 + 2 * n * (16 + 32 + 64));
  return convs + bnGammaBeta + 64 * classes + classes;
}

Deno.test("ResNet-20 parameter counts match the paper and the formula", () => {
  const m10 = buildModel(tf, { arch: "resnet", depth: 20, numClasses: 10, seed: 1 });
  assert.equal(trainableParamCount(m10), handCount(3, 10));
  assert.equal(trainableParamCount(m10), 269_722); // "0.27M" in He et al. Table 6
  assert.equal(m10.countParams(), resnetParamCount(20, 10)); // + BN moving mean/var
  const m100 = buildModel(tf, { arch: "resnet", depth: 20, numClasses: 100, seed: 1 });
  assert.equal(trainableParamCount(m100), handCount(3, 100));
  assert.equal(trainableParamCount(m100), 275_572);
  assert.equal(m100.countParams(), resnetParamCount(20, 100));
  // Option-A shortcuts add no parameters: plain has the same count.
  const plain = buildModel(tf, { arch: "plain", depth: 20, numClasses: 100, seed: 1 });
  assert.equal(plain.countParams(), m100.countParams());
  tf.dispose([...m10.weights, ...m100.weights, ...plain.weights].map((w) => w.read()));
});

Deno.test("feature layers have the documented shapes at full size", () => {
  for (const arch of ["resnet", "plain", "allconv"] as const) {
    const m = buildModel(tf, { arch, depth: 32, numClasses: 100, seed: 2 });
    assert.deepEqual(m.getLayer("gap").outputShape, [null, 64], arch);
    assert.deepEqual(m.getLayer("act").outputShape, [null, 8, 8, 64], arch);
    assert.deepEqual(m.getLayer("bn").outputShape, [null, 8, 8, 64], arch);
    assert.deepEqual(m.outputs[0].shape, [null, 100], arch);
    const weighted = m.layers.filter((l) => ["Conv2D", "Dense"].includes(l.getClassName()));
    assert.equal(weighted.length, 32, `${arch}-32 has 32 weighted layers`);
    tf.dispose(m.weights.map((w) => w.read()));
  }
});

Deno.test("tiny models run forward with the right output shape", () => {
  for (const arch of ["resnet", "plain", "allconv"] as const) {
    const m = buildModel(tf, { arch, depth: 8, numClasses: 10, width: 0.25, inputSize: 8 });
    const y = tf.tidy(() => m.predict(tf.zeros([3, 8, 8, 3])) as tfjs.Tensor);
    assert.deepEqual(y.shape, [3, 10]);
    y.dispose();
  }
  assert.deepEqual(stageChannels(0.25), [4, 8, 16]);
});

Deno.test("bad depth and arch are rejected", () => {
  assert.throws(() => blocksPerStage(21), /6n\+2/);
  assert.throws(() => buildModel(tf, { arch: "resnet", depth: 4, numClasses: 10 }), RangeError);
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => buildModel(tf, { arch: "vgg" as any, depth: 20, numClasses: 10 }),
    /unknown arch/,
  );
});

Deno.test("same seed, same initial weights; other seed, other weights", () => {
  const spec = { arch: "resnet" as const, depth: 8, numClasses: 4, width: 0.25, inputSize: 8 };
  const a = buildModel(tf, { ...spec, seed: 5 }).getWeights()[0].dataSync();
  const b = buildModel(tf, { ...spec, seed: 5 }).getWeights()[0].dataSync();
  const c = buildModel(tf, { ...spec, seed: 6 }).getWeights()[0].dataSync();
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

Deno.test("learning-rate schedules", () => {
  assert.equal(learningRateAt("step", 0.1, 0, 100, 0), 0.1);
  assert.equal(learningRateAt("step", 0.1, 60, 100, 0), 0.01);
  assert.ok(Math.abs(learningRateAt("step", 0.1, 80, 100, 0) - 0.001) < 1e-12);
  assert.equal(learningRateAt("step", 0.1, 0, 100, 10), 0.01); // warm-up starts at lr/10
  assert.ok(Math.abs(learningRateAt("cosine", 0.1, 50, 100, 0) - 0.05) < 1e-12);
  assert.ok(learningRateAt("cosine", 0.1, 99, 100, 0) < 1e-3);
  assert.ok(Math.abs(learningRateAt("onecycle", 0.1, 0, 100, 0) - 0.004) < 1e-12);
  assert.ok(Math.abs(learningRateAt("onecycle", 0.1, 30, 100, 0) - 0.1) < 1e-12);
  assert.ok(learningRateAt("onecycle", 0.1, 100, 100, 0) < 1e-5);
});

Deno.test("fast Conv2DBackpropFilter equals a naive loop", () => {
  const g = {
    batchSize: 2,
    inHeight: 5,
    inWidth: 6,
    inChannels: 3,
    outHeight: 3,
    outWidth: 3,
    outChannels: 4,
    strideHeight: 2,
    strideWidth: 2,
    filterHeight: 3,
    filterWidth: 3,
    padInfo: { top: 1, left: 1 },
  };
  const x = Float32Array.from({ length: 2 * 5 * 6 * 3 }, (_, i) => Math.sin(i));
  const dy = Float32Array.from({ length: 2 * 3 * 3 * 4 }, (_, i) => Math.cos(i));
  const got = conv2dFilterGradNhwc(x, dy, g);
  for (let kh = 0; kh < 3; kh++) {
    for (let kw = 0; kw < 3; kw++) {
      for (let ci = 0; ci < 3; ci++) {
        for (let co = 0; co < 4; co++) {
          let s = 0;
          for (let b = 0; b < 2; b++) {
            for (let oy = 0; oy < 3; oy++) {
              for (let ox = 0; ox < 3; ox++) {
                const iy = oy * 2 + kh - 1, ix = ox * 2 + kw - 1;
                if (iy < 0 || iy >= 5 || ix < 0 || ix >= 6) continue;
                s += x[((b * 5 + iy) * 6 + ix) * 3 + ci] * dy[((b * 3 + oy) * 3 + ox) * 4 + co];
              }
            }
          }
          assert.ok(Math.abs(got[((kh * 3 + kw) * 3 + ci) * 4 + co] - s) < 1e-5);
        }
      }
    }
  }
});

const tinyConfig: TrainConfig = {
  ...DEFAULT_TRAIN_CONFIG,
  model: { arch: "resnet", depth: 8, numClasses: 4, width: 0.25, inputSize: 8 },
  epochs: 3,
  batchSize: 16,
  lr: 0.05,
  schedule: "cosine",
  seed: 3,
};

function tinyData() {
  const train = syntheticImages(64, 4, 11);
  const test = syntheticImages(32, 4, 12);
  return {
    train: { count: 64, ...train },
    test: { count: 32, ...test },
    mean: [0.5, 0.5, 0.5],
    std: [0.25, 0.25, 0.25],
  };
}

Deno.test("a few epochs on a separable problem reduce loss without leaking tensors", async () => {
  const outDir = await Deno.makeTempDir();
  const counts: number[] = [];
  const result = await trainVision(tf, tinyData(), tinyConfig, {
    outDir,
    log: () => {},
    quiet: true,
    onEpoch: () => counts.push(tf.memory().numTensors),
  });
  const [first, last] = [result.curve[0], result.curve.at(-1)!];
  assert.equal(result.curve.length, 3);
  assert.ok(last.trainLoss < first.trainLoss, `${last.trainLoss} < ${first.trainLoss}`);
  assert.ok(last.testTop1 > 0.5, `test top-1 ${last.testTop1} beats chance 0.25`);
  assert.equal(last.testTop5, 1); // 4 classes: top-5 is everything
  assert.equal(counts[0], counts[2], `tensor count flat across epochs: ${counts}`);
  const curves = JSON.parse(await Deno.readTextFile(join(outDir, "curves.json")));
  assert.equal(curves.length, 3);
  assert.match(await Deno.readTextFile(join(outDir, "loss.svg")), /^<svg/);
  assert.match(await Deno.readTextFile(join(outDir, "accuracy.svg")), /^<svg/);
  // evaluate agrees with the logged test accuracy of the final model.
  const data = tinyData();
  const ev = evaluate(tf, result.model, data.test, data.mean, data.std, 7);
  assert.ok(Math.abs(ev.top1 - last.testTop1) < 1e-9);
  await Deno.remove(outDir, { recursive: true });
});

Deno.test("measureTrainingSpeed: real images through the epoch's loop body, round a small split", () => {
  const data = tinyData();
  // tfjs's MomentumOptimizer.dispose leaves its learning-rate scalar behind (it skips SGD's
  // dispose): the random-image path's count is the baseline.
  let before = tf.memory().numTensors;
  measureTrainingSpeed(tf, tinyConfig, { warmup: 1, steps: 1, forwardBatch: 8 });
  const baseline = tf.memory().numTensors - before;
  before = tf.memory().numTensors;
  // 64 images in batches of 16: 4 batches, so 3 + 7 steps go round the split twice.
  const speed = measureTrainingSpeed(tf, tinyConfig, {
    warmup: 3,
    steps: 7,
    forwardBatch: 8,
    data: { split: data.train, mean: data.mean, std: data.std },
  });
  assert.equal(speed.steps.length, 7);
  assert.ok(speed.steps.every((s) => s > 0) && speed.stepSeconds > 0);
  assert.equal(tf.memory().numTensors - before, baseline, "no tensor left behind");
  // The images really are read: a split whose bytes are not whole images fails in normalizeBatch.
  const broken = { ...data.train, images: data.train.images.subarray(1) };
  assert.throws(
    () =>
      measureTrainingSpeed(tf, tinyConfig, {
        steps: 1,
        data: { split: broken, mean: data.mean, std: data.std },
      }),
    /not a multiple of 3072/,
  );
  const empty = { count: 0, images: new Uint8Array(0), labels: new Int32Array(0) };
  assert.throws(
    () =>
      measureTrainingSpeed(tf, tinyConfig, {
        data: { split: empty, mean: data.mean, std: data.std },
      }),
    /the data has no images/,
  );
});

Deno.test("held-out classes never reach training or the test score; resume checks them", async () => {
  const data = tinyData();
  const kept = withoutClasses(data.train, [1, 2, 3]);
  assert.ok(kept.count > 0 && kept.labels.every((y) => y === 0));
  assert.equal(withoutClasses(data.train, []), data.train);
  for (let i = 0; i < kept.count; i++) { // images travel with their labels
    const src = [...data.train.labels.keys()].filter((j) => data.train.labels[j] === 0)[i];
    assert.deepEqual(
      kept.images.subarray(i * 3072, (i + 1) * 3072),
      data.train.images.subarray(src * 3072, (src + 1) * 3072),
    );
  }
  const outDir = await Deno.makeTempDir();
  const lines: string[] = [];
  const config = { ...tinyConfig, epochs: 2, excludeClasses: [1, 2, 3] };
  const result = await trainVision(tf, data, config, {
    outDir,
    log: (l) => lines.push(l),
    quiet: true,
  });
  const testKept = withoutClasses(data.test, [1, 2, 3]);
  assert.ok(
    lines.some((l) =>
      l.includes(`${kept.count} training, ${testKept.count} test images (3 classes held out)`)
    ),
  );
  // Only class 0 was trained and scored, so the held-in test set is all hits.
  assert.equal(result.curve.at(-1)!.testTop1, 1);
  assert.ok(evaluate(tf, result.model, data.test, data.mean, data.std).top1 < 0.5);
  await assert.rejects(
    trainVision(tf, data, { ...config, excludeClasses: [1] }, {
      outDir,
      resume: true,
      log: () => {},
      quiet: true,
    }),
    /different config/,
  );
  await Deno.remove(outDir, { recursive: true });
});

Deno.test("extractFeatures: every layer from one pass equals one layer at a time; features round-trip", async () => {
  const model = buildModel(tf, { ...tinyConfig.model, seed: 1 });
  const data = tinyData();
  const before = tf.memory().numTensors;
  let batches = 0;
  const all = extractFeatures(model, data.test, ["gap", "act", "bn"], {
    batchSize: 5,
    mean: data.mean,
    std: data.std,
    tf,
    onBatch: () => batches++,
  });
  assert.equal(tf.memory().numTensors, before);
  assert.equal(batches, Math.ceil(32 / 5)); // one pass over the split, for all three layers
  const act = all.layers.act!;
  assert.equal(act.dim, 2 * 2 * 16); // 8x8 input -> 2x2x16 at width 0.25
  assert.equal(all.layers.bn!.dim, act.dim);
  assert.equal(act.data.length, 32 * act.dim);
  const row0 = Array.from(all.probs.subarray(0, 4)).reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(row0 - 1) < 1e-5);
  // act = relu(bn + shortcut): non-negative, and the same values as extracting it alone.
  assert.ok(act.data.every((x) => x >= 0));
  const alone = extractFeatures(model, data.test, ["act"], { batchSize: 7, ...data, tf });
  assert.deepEqual(alone.layers.act!.data, act.data);
  const gap = extractFeatures(model, data.test, ["gap"], { batchSize: 32, ...data, tf });
  assert.equal(gap.layers.gap!.dim, 16);
  assert.deepEqual(gap.layers.gap!.data, all.layers.gap!.data);
  assert.deepEqual(gap.logits, all.logits); // batch size and layer set do not change results
  const out = { features: act.data, dim: act.dim };

  const dir = await Deno.makeTempDir();
  const path = join(dir, "f.f32");
  const meta = { layer: "act", sources: { model: "m", dataset: "d" } };
  await writeFeatures(path, out.features, [32, out.dim], meta);
  const back = await readFeatures(path);
  assert.deepEqual(back.shape, [32, out.dim]);
  assert.deepEqual(back.data, out.features);
  await writeFeatures(path, out.features, [32, out.dim], meta, { float16: true });
  const half = await readFeatures(path);
  assert.equal(half.sidecar.dtype, "float16");
  for (let i = 0; i < half.data.length; i++) {
    assert.ok(
      Math.abs(half.data[i] - out.features[i]) <= 1e-3 * Math.max(1, Math.abs(out.features[i])),
    );
  }
  // A sidecar whose shape does not match the bytes is rejected.
  const side = JSON.parse(await Deno.readTextFile(path + ".json"));
  await Deno.writeTextFile(path + ".json", JSON.stringify({ ...side, shape: [31, out.dim] }));
  await assert.rejects(readFeatures(path), ArtifactError);
  await assert.rejects(writeFeatures(path, out.features, [2, 2], meta), /do not fill/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("foldBatchNorm: folded convs give the model's own outputs, for every architecture", () => {
  for (const arch of ["resnet", "plain", "allconv"] as const) {
    const model = buildModel(tf, {
      arch,
      depth: 8,
      numClasses: 5,
      width: 0.25,
      inputSize: 8,
      seed: 3,
    });
    // Trained-looking statistics, so a wrong fold (mean, variance, epsilon) shows.
    const rng = new Rng(7);
    for (const layer of model.layers.filter((l) => l.getClassName() === "BatchNormalization")) {
      layer.setWeights(
        layer.getWeights().map((w, i) =>
          tf.tensor1d(
            Array.from({ length: w.size }, () => i === 3 ? 0.2 + rng.next() : rng.next() - 0.5),
          )
        ),
      );
    }
    const names = ["gap", "act", "bn", "logits"];
    const x = tf.randomNormal([6, 8, 8, 3], 0, 1, "float32", 5) as tfjs.Tensor4D;
    const sub = tf.model({
      inputs: model.inputs,
      outputs: names.map((n) => model.getLayer(n).output as tfjs.SymbolicTensor),
    });
    const want = (sub.predict(x) as tfjs.Tensor[]).map((t) => t.dataSync());
    const before = tf.memory().numTensors;
    const folded = foldBatchNorm(tf, model, names);
    const bnLayers = model.layers.filter((l) => l.getClassName() === "BatchNormalization").length;
    assert.equal(folded.foldedConvs, bnLayers, arch); // every BN here follows a lone conv
    const got = tf.tidy(() => folded.predict(x).map((t) => t.dataSync()));
    folded.dispose();
    assert.equal(tf.memory().numTensors, before, `${arch}: tensors left behind`);
    names.forEach((n, i) => {
      const scale = Math.max(...want[i].map(Math.abs));
      const diff = Math.max(...want[i].map((v, j) => Math.abs(v - got[i][j])));
      assert.ok(diff <= 1e-5 * Math.max(1, scale), `${arch} ${n}: max |diff| ${diff}`);
    });
    // `bn` asked for: it is the fold's output before the ReLU (negative values survive).
    assert.ok(got[2].some((v) => v < 0), `${arch}: bn has no negative values`);
    assert.throws(() => foldBatchNorm(tf, model, ["nope"]), /nope/);
    tf.dispose(x);
    model.dispose();
  }
});

Deno.test("float16 encoding edge cases", () => {
  const v = new Float32Array([0, -0, 1, -2.5, 65504, 70000, 1e-8, 6e-5, NaN]);
  const back = float16ToFloat32(float32ToFloat16(v));
  assert.deepEqual(Array.from(back.subarray(0, 5)), [0, -0, 1, -2.5, 65504]);
  assert.equal(back[5], Infinity);
  assert.equal(back[6], 0);
  assert.ok(Math.abs(back[7] - 6e-5) < 1e-7);
  assert.ok(Number.isNaN(back[8]));
});

// webgpu (refused without an adapter, working with one): tests/webgpu_test.ts
Deno.test("selectBackend: explicit cpu works", async () => {
  const cpu = await selectBackend("cpu", { allowSlow: false });
  assert.equal(cpu.backend, "cpu");
  assert.equal(cpu.tf.getBackend(), "cpu");
  assert.match(slowBackendMessage(["x: failed"]), /--backend cpu/);
});
