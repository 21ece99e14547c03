"""Keras peer of bench/train_step.ts: the same ResNet-(6n+2) (option-A shortcuts, BN momentum
0.9 / eps 1e-5, He-normal convs without bias, dense 100 head) trained with SGD + momentum 0.9 and
weight decay 5e-4 on conv/dense kernels added to the gradient, one tf.function step per batch.
Prints one JSON line: {"tensorflow": version, "results": [{"depth", "imagesPerSecond", ...}]}.

With --predict-dir (written by bench/train_step.ts: images.u8, weights-<depth>.f32/.json, logits-
<depth>.f32), also times feature extraction: uint8 images normalised in numpy, then
`model.predict` of a model whose outputs are the last activation (`act`), the pooled features
(`gap`) and the logits, on our weights; its logits are checked against ours ("extract" in the JSON).

    data/venv/bin/python bench/peers/keras_train.py --depths 20,110 --batch-size 128
"""
import argparse
import json
import os
import statistics
import time

import numpy as np
import tensorflow as tf


def resnet(depth: int, classes: int = 100, features: bool = False):
    """The model; with `features`, also its (act, gap, logits) tensors for extraction."""
    n = (depth - 2) // 6
    assert 6 * n + 2 == depth, "depth must be 6n+2"
    L = tf.keras.layers

    def conv(c, stride=1):
        return L.Conv2D(c, 3, strides=stride, padding="same", use_bias=False,
                        kernel_initializer="he_normal")

    def bn():
        return L.BatchNormalization(momentum=0.9, epsilon=1e-5)

    def shortcut(x, c, stride):
        # Option A: subsample, then zero-pad the new channels (no parameters).
        def f(t):
            t = t[:, ::stride, ::stride, :]
            extra = c - t.shape[-1]
            return tf.pad(t, [[0, 0], [0, 0], [0, 0], [extra // 2, extra - extra // 2]])
        return L.Lambda(f)(x)

    inp = L.Input((32, 32, 3))
    x = L.ReLU()(bn()(conv(16)(inp)))
    for s, c in enumerate([16, 32, 64]):
        for b in range(n):
            stride = 2 if s > 0 and b == 0 else 1
            y = L.ReLU()(bn()(conv(c, stride)(x)))
            y = bn()(conv(c)(y))
            sc = x if stride == 1 and x.shape[-1] == c else shortcut(x, c, stride)
            x = L.ReLU()(L.Add()([y, sc]))
    act = x
    gap = L.GlobalAveragePooling2D()(x)
    out = L.Dense(classes)(gap)
    model = tf.keras.Model(inp, out)
    return (model, [act, gap, out]) if features else model


def bench(depth: int, batch: int, warmup: int, steps: int) -> dict:
    model = resnet(depth)
    opt = tf.keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)
    loss_fn = tf.keras.losses.CategoricalCrossentropy(from_logits=True)
    kernels = [v for v in model.trainable_variables if "kernel" in v.name]
    x = tf.random.normal([batch, 32, 32, 3], seed=1)
    y = tf.one_hot(tf.range(batch) % 100, 100)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        kernel_ids = {id(k) for k in kernels}
        grads = [g + 5e-4 * v if id(v) in kernel_ids else g
                 for g, v in zip(grads, model.trainable_variables)]
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        step().numpy()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    sec = statistics.median(times)
    return {"depth": depth, "secondsPerStep": sec, "imagesPerSecond": batch / sec, "times": times,
            "params": int(sum(tf.size(v).numpy() for v in model.trainable_variables))}


MEAN = np.array([0.507, 0.487, 0.441], np.float32)  # as bench/train_step.ts, [0, 1] units
STD = np.array([0.267, 0.256, 0.276], np.float32)


def extract(depth: int, folder: str, images: int, batch: int, passes: int) -> dict:
    model, outputs = resnet(depth, features=True)
    shapes = json.load(open(os.path.join(folder, f"weights-{depth}.json")))
    flat = np.fromfile(os.path.join(folder, f"weights-{depth}.f32"), np.float32)
    ours, off = [], 0
    for shape in shapes:
        n = int(np.prod(shape))
        ours.append(flat[off:off + n].reshape(shape))
        off += n
    want = [tuple(w.shape) for w in model.get_weights()]
    loaded = [tuple(w.shape) for w in ours] == want
    if loaded:
        model.set_weights(ours)
    sub = tf.keras.Model(model.inputs, outputs)
    raw = np.fromfile(os.path.join(folder, "images.u8"), np.uint8)[:images * 3072]
    raw = raw.reshape(images, 32, 32, 3)

    def run():
        x = (raw.astype(np.float32) / 255 - MEAN) / STD
        act, gap, logits = sub.predict(x, batch_size=batch, verbose=0)
        probs = tf.nn.softmax(logits).numpy()
        return logits, probs

    run()  # warm-up: graph tracing
    times = []
    for _ in range(passes):
        t0 = time.perf_counter()
        logits, _probs = run()
        times.append(time.perf_counter() - t0)
    ours_logits = np.fromfile(os.path.join(folder, f"logits-{depth}.f32"), np.float32)
    n = ours_logits.size // 100
    diff = float(np.abs(logits[:n] - ours_logits.reshape(n, 100)).max()) if loaded else None
    scale = float(np.abs(ours_logits).max())  # untrained batch norm: logits can be large
    sec = statistics.median(times)
    return {"depth": depth, "imagesPerSecond": images / sec, "times": times,
            "weightsLoaded": loaded, "maxAbsLogitDiff": diff, "maxAbsLogit": scale}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--depths", default="20,110")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--predict-dir", default="")
    ap.add_argument("--predict-images", type=int, default=2560)
    ap.add_argument("--predict-batch", type=int, default=256)
    args = ap.parse_args()
    depths = [int(d) for d in args.depths.split(",")]
    results = [bench(d, args.batch_size, args.warmup, args.steps) for d in depths]
    extraction = [extract(d, args.predict_dir, args.predict_images, args.predict_batch, args.steps)
                  for d in depths] if args.predict_dir else []
    print(json.dumps({
                      "extract": extraction,"tensorflow": tf.__version__, "keras": tf.keras.__version__,
                      "threads": [tf.config.threading.get_inter_op_parallelism_threads(),
                                  tf.config.threading.get_intra_op_parallelism_threads()],
                      "results": results}))


if __name__ == "__main__":
    main()
