/**
 * Smoke test and rough speed check of `@tensorflow/tfjs-node` under Deno: sets up libtensorflow
 * (see `lib/backend/libtensorflow.ts`; instant once done), then runs a matmul, a conv2d gradient
 * and a string tensor round trip, and times ResNet-20 (CIFAR shape, 0.27 M parameters) training
 * steps with `model.trainOnBatch`. Prints one JSON line on stdout.
 *
 * @example
 * ```sh
 * deno run -A bench/tfjs_smoke.ts            # batch 128, 5 timed steps
 * deno run -A bench/tfjs_smoke.ts 64 10      # batch 64, 10 timed steps
 * ```
 * @module
 */
import { defaultCacheDir } from "../lib/backend/cache.ts";
import { setupLibtensorflow } from "../lib/backend/libtensorflow.ts";

type Tf = typeof import("@tensorflow/tfjs-node");
type Sym = import("@tensorflow/tfjs-node").SymbolicTensor;

/** One ResNet basic block: two 3x3 conv + BN, identity or 1x1 projection shortcut. */
function _block(tf: Tf, x: Sym, filters: number, stride: number): Sym {
  const conv = (k: number, s: number) =>
    tf.layers.conv2d({ filters, kernelSize: k, strides: s, padding: "same", useBias: false });
  let y = conv(3, stride).apply(x) as Sym;
  y = tf.layers.reLU().apply(tf.layers.batchNormalization().apply(y) as Sym) as Sym;
  y = tf.layers.batchNormalization().apply(conv(3, 1).apply(y) as Sym) as Sym;
  const shortcut = stride !== 1 || x.shape[3] !== filters ? conv(1, stride).apply(x) as Sym : x;
  return tf.layers.reLU().apply(tf.layers.add().apply([y, shortcut]) as Sym) as Sym;
}

/** ResNet-20 for 32x32x3 inputs and 10 classes. */
function _resnet20(tf: Tf) {
  const input = tf.input({ shape: [32, 32, 3] });
  let h = tf.layers.conv2d({ filters: 16, kernelSize: 3, padding: "same" }).apply(input) as Sym;
  for (const [filters, stride] of [[16, 1], [32, 2], [64, 2]]) {
    for (let i = 0; i < 3; i++) h = _block(tf, h, filters, i === 0 ? stride : 1);
  }
  h = tf.layers.globalAveragePooling2d({}).apply(h) as Sym;
  const output = tf.layers.dense({ units: 10, activation: "softmax" }).apply(h) as Sym;
  return tf.model({ inputs: input, outputs: output });
}

async function _main(): Promise<void> {
  const batch = Number(Deno.args[0] ?? 128);
  const steps = Number(Deno.args[1] ?? 5);
  const setup = await setupLibtensorflow({
    cacheDir: defaultCacheDir(),
    log: (l) => console.error(l),
  });
  const tf: Tf = await import("@tensorflow/tfjs-node");

  const a = tf.randomNormal([256, 256]);
  const matmul = (await tf.matMul(a, a).sum().data())[0];
  const x = tf.randomNormal([2, 8, 8, 3]) as import("@tensorflow/tfjs-node").Tensor4D;
  const grad = tf.grad((w) => tf.conv2d(x, w as typeof x, 1, "same").square().sum());
  const g = grad(tf.randomNormal([3, 3, 3, 4]));
  const strings = await tf.tensor(["hello", "wörld"]).array();
  console.error(`backend ${tf.getBackend()}, conv2d grad shape [${g.shape}], strings ${strings}`);

  const model = _resnet20(tf);
  model.compile({ optimizer: tf.train.momentum(0.1, 0.9), loss: "categoricalCrossentropy" });
  const xs = tf.randomNormal([batch, 32, 32, 3]);
  const ys = tf.oneHot(tf.randomUniform([batch], 0, 10, "int32") as never, 10);
  for (let i = 0; i < 2; i++) await model.trainOnBatch(xs, ys); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) await model.trainOnBatch(xs, ys);
  const trainSeconds = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  for (let i = 0; i < steps; i++) {
    (model.predict(xs) as import("@tensorflow/tfjs-node").Tensor).dispose();
  }
  const inferSeconds = (performance.now() - t1) / 1000;

  console.log(JSON.stringify({
    backend: tf.getBackend(),
    tensorflowVersion: setup.tensorflowVersion,
    setup: setup.action,
    matmulFinite: Number.isFinite(matmul),
    conv2dGradShape: g.shape,
    params: model.countParams(),
    batch,
    msPerTrainStep: Math.round(trainSeconds / steps * 1000),
    trainImagesPerSecond: Math.round(batch * steps / trainSeconds),
    inferImagesPerSecond: Math.round(batch * steps / inferSeconds),
    cores: navigator.hardwareConcurrency,
  }));
}

if (import.meta.main) await _main();
