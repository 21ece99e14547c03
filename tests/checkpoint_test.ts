import assert from "node:assert/strict";
import { join } from "node:path";
import { useCpu } from "../lib/backend/select.ts";
import { ArtifactError } from "../lib/io/artifact.ts";
import { Rng } from "../lib/io/rng.ts";
import {
  loadCheckpoint,
  modelFromCheckpoint,
  resolveCheckpoint,
  restoreInto,
  saveCheckpoint,
} from "../lib/vision/checkpoint.ts";
import { syntheticImages, writeTinyCifar } from "../lib/vision/fixture.ts";
import { buildModel } from "../lib/vision/models.ts";
import { DEFAULT_TRAIN_CONFIG, type TrainConfig, trainVision } from "../lib/vision/train.ts";
import { featurePath, readFeatures } from "../lib/vision/extract.ts";

const { tf } = await useCpu();

const config: TrainConfig = {
  ...DEFAULT_TRAIN_CONFIG,
  model: { arch: "resnet", depth: 8, numClasses: 4, width: 0.25, inputSize: 8 },
  epochs: 2,
  batchSize: 16,
  lr: 0.05,
  seed: 9,
};

function data() {
  return {
    train: { count: 48, ...syntheticImages(48, 4, 21) },
    test: { count: 16, ...syntheticImages(16, 4, 22) },
    mean: [0.5, 0.5, 0.5],
    std: [0.25, 0.25, 0.25],
  };
}

/** Curve records without wall-clock fields. */
function stripTimes(curve: Record<string, number>[]) {
  return curve.map(({ seconds: _s, imagesPerSecond: _i, ...rest }) => rest);
}

Deno.test("checkpoint round-trip restores weights, optimizer state and rng", async () => {
  const outDir = await Deno.makeTempDir();
  const result = await trainVision(tf, data(), config, { outDir, log: () => {}, quiet: true });
  const ckpt = (await loadCheckpoint(join(outDir, "checkpoints"), "last"))!;
  assert.equal(ckpt.state.epoch, 2);
  assert.equal(ckpt.state.curve.length, 2);
  assert.equal(ckpt.state.rngState.length, 4);
  // The saved rng is the one the run ended with: replaying two epochs' draws (a permutation,
  // then crop row, crop column and flip per image) from the seed reproduces it.
  const replay = new Rng(config.seed);
  for (let epoch = 0; epoch < 2; epoch++) {
    replay.permutation(48);
    for (let i = 0; i < 48; i++) [replay.int(9), replay.int(9), replay.next()];
  }
  assert.deepEqual(replay.state(), ckpt.state.rngState);

  const model = buildModel(tf, { ...config.model, seed: 1234 });
  const optimizer = tf.train.momentum(0.1, 0.9);
  await restoreInto(tf, ckpt, model, optimizer);
  const want = result.model.getWeights().map((t) => Array.from(t.dataSync()));
  const got = model.getWeights().map((t) => Array.from(t.dataSync()));
  assert.deepEqual(got, want);
  const optW = await optimizer.getWeights();
  assert.equal(optW.length, ckpt.optimizer.entries.length);
  assert.equal(optW[0].tensor.dataSync()[0], 6); // iterations: 2 epochs x 3 steps
  const accum = ckpt.optimizer.entries[1];
  assert.deepEqual(
    Array.from(optW[1].tensor.dataSync()),
    Array.from(ckpt.optimizer.values.subarray(accum.offset, accum.offset + optW[1].tensor.size)),
  );
  // resolveCheckpoint finds it from the run folder; the best pointer is valid too.
  const viaRun = await resolveCheckpoint(outDir, "best");
  assert.ok(viaRun.state.epoch >= 1);
  const rebuilt = await modelFromCheckpoint(tf, ckpt);
  assert.deepEqual(rebuilt.getWeights().map((t) => Array.from(t.dataSync())), want);
  await Deno.remove(outDir, { recursive: true });
});

Deno.test("resume in-process continues with the identical curve; config changes are refused", async () => {
  const a = await Deno.makeTempDir();
  const b = await Deno.makeTempDir();
  const cfg = { ...config, epochs: 3 };
  const full = await trainVision(tf, data(), cfg, { outDir: a, log: () => {}, quiet: true });
  await trainVision(tf, data(), cfg, { outDir: b, log: () => {}, quiet: true, stopAfterEpochs: 1 });
  const resumed = await trainVision(tf, data(), cfg, {
    outDir: b,
    resume: true,
    log: () => {},
    quiet: true,
  });
  assert.equal(resumed.resumedFrom, 1);
  assert.deepEqual(stripTimes(resumed.curve), stripTimes(full.curve));
  await assert.rejects(
    trainVision(tf, data(), { ...cfg, lr: 0.2 }, { outDir: b, resume: true, log: () => {} }),
    /different config/,
  );
  await Deno.remove(a, { recursive: true });
  await Deno.remove(b, { recursive: true });
});

Deno.test("init: starts from a checkpoint's weights with a fresh optimizer; mismatches refused", async () => {
  const a = await Deno.makeTempDir();
  const b = await Deno.makeTempDir();
  const first = await trainVision(tf, data(), { ...config, epochs: 1 }, {
    outDir: a,
    log: () => {},
    quiet: true,
  });
  // lr 0: a warm-started model keeps exactly the weights it was given.
  const kernels = (m: typeof first.model) =>
    m.trainableWeights.map((w) => Array.from(w.read().dataSync()));
  const warm = await trainVision(tf, data(), { ...config, epochs: 1, lr: 0, init: a }, {
    outDir: b,
    log: () => {},
    quiet: true,
  });
  assert.deepEqual(kernels(warm.model), kernels(first.model));
  const cold = await trainVision(tf, data(), { ...config, epochs: 1, lr: 0, seed: 10 }, {
    outDir: await Deno.makeTempDir(),
    log: () => {},
    quiet: true,
  });
  assert.notDeepEqual(kernels(cold.model), kernels(first.model));
  const wider = { ...config, model: { ...config.model, width: 0.5 }, init: a, epochs: 1 };
  await assert.rejects(
    trainVision(tf, data(), wider, { outDir: await Deno.makeTempDir(), log: () => {} }),
    /model expects/,
  );
  await assert.rejects(
    trainVision(tf, data(), { ...config, init: join(a, "nope") }, {
      outDir: await Deno.makeTempDir(),
      log: () => {},
    }),
    /no checkpoint found/,
  );
  await Deno.remove(a, { recursive: true });
  await Deno.remove(b, { recursive: true });
});

Deno.test("corrupt or partial checkpoints give clear errors and are never taken as valid", async () => {
  const outDir = await Deno.makeTempDir();
  await trainVision(tf, data(), { ...config, epochs: 1 }, { outDir, log: () => {}, quiet: true });
  const root = join(outDir, "checkpoints");
  const dir = join(root, "epoch-0001");
  const weights = join(dir, "weights.bin");
  const good = await Deno.readFile(weights);

  // A flipped byte: checksum mismatch naming the file.
  const bad = good.slice();
  bad[100] ^= 0xff;
  await Deno.writeFile(weights, bad);
  await assert.rejects(loadCheckpoint(root, "last"), (e: Error) => {
    assert.ok(e instanceof ArtifactError);
    assert.match(e.message, /weights\.bin: sha256 does not match/);
    return true;
  });
  // Truncated: size mismatch.
  await Deno.writeFile(weights, good.subarray(0, good.length - 8));
  await assert.rejects(loadCheckpoint(root, "last"), /bytes on disk, sidecar expects/);
  await Deno.writeFile(weights, good);
  // Missing sidecar (a write cut before the sidecar): incomplete.
  const side = await Deno.readTextFile(join(dir, "state.json.json"));
  await Deno.remove(join(dir, "state.json.json"));
  await assert.rejects(loadCheckpoint(root, "last"), /missing sidecar/);
  await Deno.writeTextFile(join(dir, "state.json.json"), side);
  // Garbage pointer.
  const pointer = await Deno.readTextFile(join(root, "last.json"));
  await Deno.writeTextFile(join(root, "last.json"), "{not json");
  await assert.rejects(loadCheckpoint(root, "last"), /last\.json: not valid JSON/);
  await Deno.writeTextFile(join(root, "last.json"), pointer);
  // A model of another shape.
  const ckpt = (await loadCheckpoint(root, "last"))!;
  const other = buildModel(tf, { ...config.model, width: 0.5 });
  await assert.rejects(restoreInto(tf, ckpt, other), /model expects/);
  // Nothing to resolve.
  await assert.rejects(resolveCheckpoint(await Deno.makeTempDir(), "best"), /no checkpoint found/);

  // Debris of a crash mid-save (a temp folder, an unreferenced half folder) is ignored, then swept.
  await Deno.mkdir(join(root, ".tmp-epoch-0002-dead"));
  await Deno.writeFile(join(root, ".tmp-epoch-0002-dead", "weights.bin"), good.subarray(0, 10));
  await Deno.mkdir(join(root, "epoch-0009"));
  assert.equal((await loadCheckpoint(root, "last"))!.state.epoch, 1);
  const state = (await loadCheckpoint(root, "last"))!.state;
  await saveCheckpoint(root, {
    model: buildModel(tf, config.model),
    optimizer: tf.train.momentum(0.1, 0.9),
    state: { ...state, epoch: 2 },
  });
  const names = [...Deno.readDirSync(root)].map((e) => e.name).sort();
  assert.deepEqual(names, ["best.json", "epoch-0001", "epoch-0002", "last.json"]);
  await Deno.remove(outDir, { recursive: true });
});

/** Runs `deno task pretrain` on the fixture; returns the child process. */
function pretrain(dataDir: string, out: string, extra: string[] = []): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "tasks/pretrain.ts",
      "--data-dir",
      dataDir,
      "--out",
      out,
      "--backend",
      "cpu",
      "--depth",
      "8",
      "--width",
      "0.25",
      "--input-size",
      "8",
      "--epochs",
      "4",
      "--batch-size",
      "16",
      "--lr",
      "0.05",
      "--seed",
      "4",
      "--quiet",
      "--json",
      ...extra,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function lastEpoch(out: string): Promise<number> {
  try {
    return JSON.parse(await Deno.readTextFile(join(out, "checkpoints", "last.json"))).epoch;
  } catch {
    return 0;
  }
}

Deno.test("SIGKILL mid-run, then --resume: same curve as an uninterrupted run", async () => {
  const dataDir = await Deno.makeTempDir();
  await writeTinyCifar(dataDir, { trainCount: 320, testCount: 32, classes: 4, seed: 3 });
  const whole = join(dataDir, "whole");
  const killed = join(dataDir, "killed");

  const ref = await pretrain(dataDir, whole).output();
  assert.ok(ref.success, new TextDecoder().decode(ref.stderr));
  const refMetrics = JSON.parse(new TextDecoder().decode(ref.stdout));
  assert.equal(refMetrics.epochs, 4);

  // Kill as soon as the first checkpoint is in place, i.e. somewhere inside epoch 2.
  const child = pretrain(dataDir, killed);
  const started = performance.now();
  while ((await lastEpoch(killed)) < 1) {
    assert.ok(performance.now() - started < 60_000, "child never wrote a checkpoint");
    await new Promise((r) => setTimeout(r, 10));
  }
  child.kill("SIGKILL");
  const status = await child.status;
  await child.stdout.cancel();
  await child.stderr.cancel();
  assert.equal(status.signal, "SIGKILL");
  const epochAtKill = await lastEpoch(killed);
  assert.ok(epochAtKill < 4, `killed before the end (last checkpoint epoch ${epochAtKill})`);
  // Whatever the kill interrupted, `last` is a complete, valid checkpoint.
  const ckpt = (await loadCheckpoint(join(killed, "checkpoints"), "last"))!;
  assert.equal(ckpt.state.epoch, epochAtKill);

  const resumed = await pretrain(dataDir, killed, ["--resume"]).output();
  assert.ok(resumed.success, new TextDecoder().decode(resumed.stderr));
  const metrics = JSON.parse(new TextDecoder().decode(resumed.stdout));
  assert.equal(metrics.resumedFrom, epochAtKill);
  const curveA = JSON.parse(await Deno.readTextFile(join(whole, "curves.json")));
  const curveB = JSON.parse(await Deno.readTextFile(join(killed, "curves.json")));
  assert.equal(curveB.length, 4);
  assert.deepEqual(stripTimes(curveB), stripTimes(curveA));
  assert.equal(metrics.top1, refMetrics.top1);
  const leftovers = [...Deno.readDirSync(join(killed, "checkpoints"))].filter((e) =>
    e.name.startsWith(".tmp-")
  );
  assert.deepEqual(leftovers, []);

  // Extraction from the finished run writes validated features for all three splits.
  const ex = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "tasks/extract.ts", "--checkpoint", whole, "--layers", "gap"].concat(
      [
        "--data-dir",
        dataDir,
        "--backend",
        "cpu",
        "--quiet",
        "--json",
        "--out",
        join(dataDir, "ex"),
      ],
    ),
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(ex.success, new TextDecoder().decode(ex.stderr));
  const feats = await readFeatures(featurePath(join(whole, "features"), "cifar10", "test", "gap"));
  assert.deepEqual(feats.shape, [32, 16]);
  assert.equal(feats.sidecar.layer, "gap");
  const probs = await readFeatures(
    featurePath(join(whole, "features"), "cifar100", "train", "probs"),
  );
  assert.deepEqual(probs.shape, [320, 100]);
  await Deno.remove(dataDir, { recursive: true });
});

Deno.test("pretrain --unseen-names holds classes out; an unknown name is refused", async () => {
  const dataDir = await Deno.makeTempDir();
  await writeTinyCifar(dataDir, { trainCount: 64, testCount: 32, classes: 4, seed: 5 });
  const out = join(dataDir, "held");
  const run = await pretrain(dataDir, out, ["--epochs", "1", "--unseen-names", "fine1,fine3"])
    .output();
  const stderr = new TextDecoder().decode(run.stderr);
  assert.ok(run.success, stderr);
  const ckpt = (await loadCheckpoint(join(out, "checkpoints"), "last"))!;
  assert.deepEqual(ckpt.state.config.excludeClasses, [1, 3]);
  assert.match(await Deno.readTextFile(join(out, "log.txt")), /held out: fine1, fine3/);
  assert.match(await Deno.readTextFile(join(out, "log.txt")), /32 training, 16 test images/);
  const bad = await pretrain(dataDir, join(dataDir, "bad"), ["--unseen-names", "dragon"]).output();
  assert.ok(!bad.success);
  assert.match(new TextDecoder().decode(bad.stderr), /'dragon' is not a class name/);
  await Deno.remove(dataDir, { recursive: true });
});
