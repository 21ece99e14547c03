import assert from "node:assert/strict";
import { join } from "node:path";
import type * as tfjs from "@tensorflow/tfjs";
import { normalizeBatch } from "../lib/data/augment.ts";
import { useCpu } from "../lib/backend/select.ts";
import {
  DEFAULT_FINETUNE_CONFIG,
  type FinetuneConfig,
  finetuneDevise,
  type FinetuneInputs,
  safeStd,
} from "../lib/devise/finetune.ts";
import { trainDevise } from "../lib/devise/train.ts";
import { Rng } from "../lib/io/rng.ts";
import { normalizeRows } from "../lib/text/vectors.ts";
import { resolveCheckpoint } from "../lib/vision/checkpoint.ts";
import { batchToInput } from "../lib/vision/input.ts";
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

/** Stops after 2 epochs (a kill between epochs), resumes, and asserts `whole`'s curve and map. */
async function _assertResumesTo(
  whole: Awaited<ReturnType<typeof finetuneDevise>>,
  inputs: FinetuneInputs,
  config: FinetuneConfig,
  outDir: string,
) {
  const part = await finetuneDevise(tf, inputs, config, { outDir, stopAfterEpochs: 2 });
  part.model.dispose();
  const resumed = await finetuneDevise(tf, inputs, config, { outDir, resume: true });
  resumed.model.dispose();
  assert.equal(resumed.resumedFrom, 2);
  const strip = (c: { seconds: number; imagesPerSecond: number }[]) =>
    c.map(({ seconds: _s, imagesPerSecond: _i, ...rest }) => rest);
  assert.deepEqual(strip(resumed.curve), strip(whole.curve));
  assert.deepEqual(resumed.devise.M, whole.devise.M);
}

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
  await _assertResumesTo(whole, inputs, config, join(dir, "part"));
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

/**
 * Mean hinge of the training images against `words` (unit rows) through the fine-tuned model and
 * M, with batch norm in training mode as fine-tuning saw them (4 steps barely move its running
 * statistics).
 */
function _vocabHinge(
  inputs: FinetuneInputs,
  result: Awaited<ReturnType<typeof finetuneDevise>>,
  words: Float32Array,
): number {
  const { train } = inputs;
  const buf = new Float32Array(train.count * 3072);
  const all = Int32Array.from({ length: train.count }, (_, i) => i);
  normalizeBatch(train.images, all, buf, [0.5, 0.5, 0.5], [0.25, 0.25, 0.25], null);
  const sub = tf.model({
    inputs: result.model.inputs,
    outputs: result.model.getLayer("act").output as tfjs.SymbolicTensor,
  });
  const { M, mean, std, d, dims: D } = result.devise;
  const f = tf.tidy(() => {
    const x = batchToInput(tf, buf, train.count, 8);
    return tf.reshape(sub.apply(x, { training: true }) as tfjs.Tensor, [train.count, d]).dataSync();
  });
  const floored = std ? safeStd(std) : null;
  let total = 0;
  for (let i = 0; i < train.count; i++) {
    const e = new Float64Array(D);
    for (let k = 0; k < d; k++) {
      const z = mean && floored ? (f[i * d + k] - mean[k]) / floored[k] : f[i * d + k];
      for (let j = 0; j < D; j++) e[j] += z * M[k * D + j];
    }
    const dot = (v: Float32Array, r: number) => e.reduce((s, x, j) => s + x * v[r * D + j], 0);
    const sy = dot(inputs.labelVectors, train.labels[i]);
    for (let w = 0; w < words.length / D; w++) total += Math.max(0, 0.1 - sy + dot(words, w));
  }
  return total / train.count;
}

Deno.test("fine-tuning with vocabulary negatives keeps images away from the drawn words and resumes", async () => {
  const dir = await Deno.makeTempDir();
  const inputs = await _inputs(dir);
  const rng = new Rng(9);
  const words = normalizeRows(Float32Array.from({ length: 12 * 8 }, () => rng.normal()), 8);
  const withWords = { ...inputs, negativeVectors: words };
  const negConfig = { ...config, vocabNegatives: 6 };
  await assert.rejects(
    finetuneDevise(tf, inputs, negConfig, { outDir: join(dir, "none") }),
    /vocabNegatives needs negativeVectors/,
  );
  const plain = await finetuneDevise(tf, withWords, config, { outDir: join(dir, "plain") });
  const drawn = await finetuneDevise(tf, withWords, negConfig, { outDir: join(dir, "drawn") });
  const [hingePlain, hingeDrawn] = [
    _vocabHinge(inputs, plain, words),
    _vocabHinge(inputs, drawn, words),
  ];
  assert.ok(hingeDrawn < 0.9 * hingePlain, `vocabulary hinge ${hingeDrawn} vs ${hingePlain}`);
  plain.model.dispose();
  // Without negatives the checkpoint key is the one made before the setting existed.
  const key = String((plain.checkpoint.state.config as { key: string }).key);
  assert.match(key, /"lrVisual":0.02/);
  assert.doesNotMatch(key, /vocabNegatives/);
  // Stopped and resumed with negatives: the same curve and map, bit for bit.
  await _assertResumesTo(drawn, withWords, negConfig, join(dir, "part"));
  drawn.model.dispose();
  await Deno.remove(dir, { recursive: true });
});
