"""Keras peer of bench/train_step.ts: the same ResNet-(6n+2) (option-A shortcuts, BN momentum
0.9 / eps 1e-5, He-normal convs without bias, dense 100 head) trained with SGD + momentum 0.9 and
weight decay 5e-4 on conv/dense kernels added to the gradient, one tf.function step per batch.
Prints one JSON line: {"tensorflow": version, "results": [{"depth", "imagesPerSecond", ...}]}.

    data/venv/bin/python bench/peers/keras_train.py --depths 20,110 --batch-size 128
"""
import argparse
import json
import statistics
import time

import tensorflow as tf


def resnet(depth: int, classes: int = 100) -> tf.keras.Model:
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
    x = L.GlobalAveragePooling2D()(x)
    out = L.Dense(classes)(x)
    return tf.keras.Model(inp, out)


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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--depths", default="20,110")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()
    results = [bench(int(d), args.batch_size, args.warmup, args.steps)
               for d in args.depths.split(",")]
    print(json.dumps({"tensorflow": tf.__version__, "keras": tf.keras.__version__,
                      "threads": [tf.config.threading.get_inter_op_parallelism_threads(),
                                  tf.config.threading.get_intra_op_parallelism_threads()],
                      "results": results}))


if __name__ == "__main__":
    main()
