import assert from "node:assert/strict";
import { join } from "node:path";
import { useCpu } from "../lib/backend/select.ts";
import {
  DEFAULT_FINETUNE_CONFIG,
  finetuneDevise,
  type FinetuneInputs,
} from "../lib/devise/finetune.ts";
import { trainDevise } from "../lib/devise/train.ts";
import { Rng } from "../lib/io/rng.ts";
import { normalizeRows } from "../lib/text/vectors.ts";
import { resolveCheckpoint } from "../lib/vision/checkpoint.ts";
import { extractFeatures } from "../lib/vision/extract.ts";
import { syntheticImages } from "../lib/vision/fixture.ts";
import { DEFAULT_TRAIN_CONFIG, type TrainConfig, trainVision } from "../lib/vision/train.ts";

const { tf } = await useCpu();

const visualConfig: TrainConfig = {
  ...DEFAULT_TRAIN_CONFIG,
  model: { arch: "resnet", depth: 8, numClasses: 4, width: 0.25, inputSize: 8 },
  epochs: 1,
  batchSize: 16,
  lr: 0.05,
  schedule: "cosine",
  seed: 3,
};

/** A pretrained tiny visual model and a DeViSE map on its `act` features. */
async function _inputs(dir: string, arch: "resnet" | "plain" = "resnet"): Promise<FinetuneInputs> {
  const train = { count: 32, ...syntheticImages(32, 4, 11) };
  const test = { count: 16, ...syntheticImages(16, 4, 12) };
  const data = { train, test, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
  const config = { ...visualConfig, model: { ...visualConfig.model, arch } };
  const result = await trainVision(tf, data, config, {
    outDir: join(dir, arch),
    quiet: true,
    log: () => {},
  });
  const features = extractFeatures(result.model, train, ["act"], { batchSize: 16, ...data, tf });
  result.model.dispose();
  const rng = new Rng(5);
  const labelVectors = normalizeRows(Float32Array.from({ length: 4 * 8 }, () => rng.normal()), 8);
  const devise = await trainDevise(tf, {
    trainFeatures: features.layers.act!.data,
    trainLabels: train.labels,
    labelVectors,
    dims: 8,
    epochs: 2,
    batchSize: 16,
    lr: 1e-2,
  });
  return {
    checkpoint: await resolveCheckpoint(join(dir, arch), "last"),
    devise: devise.model,
    layer: "act",
    labelVectors,
    train,
    test,
  };
}

const config = {
  ...DEFAULT_FINETUNE_CONFIG,
  epochs: 4,
  batchSize: 32,
  lrVisual: 0.02,
  mapLr: 1e-3,
  augment: false,
  seed: 2,
};

Deno.test("fine-tuning lowers the hinge loss on a fixed batch, without leaking tensors", async () => {
  const dir = await Deno.makeTempDir();
  const inputs = await _inputs(dir);
  const before = tf.memory().numTensors;
  const result = await finetuneDevise(tf, inputs, config, { outDir: join(dir, "ft") });
  // One batch of 32 is the whole training set: every epoch takes a step on the same batch.
  const losses = result.curve.map((c) => c.trainLoss);
  assert.equal(losses.length, 4);
  assert.ok(losses.at(-1)! < losses[0], `loss ${losses}`);
  assert.notDeepEqual(result.devise.M, inputs.devise.M); // M moved too
  assert.equal(result.devise.mean, inputs.devise.mean); // the standardisation is kept
  result.model.dispose();
  // tfjs-core's MomentumOptimizer keeps one of its two scalars after dispose(): nothing else.
  assert.ok(tf.memory().numTensors - before <= 1, `${tf.memory().numTensors - before} left`);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("fine-tuning resumes to the same curve after a stop, and refuses another architecture", async () => {
  const dir = await Deno.makeTempDir();
  const inputs = await _inputs(dir);
  const whole = await finetuneDevise(tf, inputs, config, { outDir: join(dir, "whole") });
  whole.model.dispose();
  // Stop after 2 of 4 epochs (a kill between epochs), then resume.
  const part = await finetuneDevise(tf, inputs, config, {
    outDir: join(dir, "part"),
    stopAfterEpochs: 2,
  });
  part.model.dispose();
  const resumed = await finetuneDevise(tf, inputs, config, {
    outDir: join(dir, "part"),
    resume: true,
  });
  resumed.model.dispose();
  assert.equal(resumed.resumedFrom, 2);
  const strip = (c: { seconds: number; imagesPerSecond: number }[]) =>
    c.map(({ seconds: _s, imagesPerSecond: _i, ...rest }) => rest);
  assert.deepEqual(strip(resumed.curve), strip(whole.curve));
  assert.deepEqual(resumed.devise.M, whole.devise.M);
  // A checkpoint of another config is refused on resume, naming it.
  await assert.rejects(
    finetuneDevise(tf, inputs, { ...config, lrVisual: 0.5 }, {
      outDir: join(dir, "part"),
      resume: true,
    }),
    /a fine-tuning checkpoint of another config/,
  );
  // A map trained on another architecture's features does not fit this model.
  const plain = await _inputs(dir, "plain");
  await assert.rejects(
    finetuneDevise(tf, { ...plain, devise: { ...plain.devise, d: plain.devise.d + 1 } }, config, {
      outDir: join(dir, "other"),
    }),
    /the act features of plain-8 have \d+ values, the DeViSE map expects/,
  );
  await Deno.remove(dir, { recursive: true });
});
