"""numpy peer for bench/data.ts: decode CIFAR-100 train (gzip -> planar -> NHWC uint8), then
normalise + 4-px zero pad + random 32x32 crop + random flip in batches, and print one JSON line.

Usage: python3 bench/peers/data_numpy.py --data-dir /work/shared/data --batch 128 --images 50000 --runs 5
"""
import argparse
import gzip
import json
import os
import statistics
import time

import numpy as np


def decode(data_dir):
    folder = os.path.join(data_dir, "cifar-100-binary")
    path = os.path.join(folder, "train.bin.gz")
    if not os.path.exists(path):
        path = os.path.join(folder, "train.bin")
    with open(path, "rb") as f:
        raw = f.read()
    if path.endswith(".gz"):
        raw = gzip.decompress(raw)
    if len(raw) % 3074:
        raise SystemExit(f"{path}: {len(raw)} bytes is not a whole number of 3074-byte records")
    rec = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3074)
    labels = rec[:, 1].astype(np.int32)
    if labels.max() >= 100 or rec[:, 0].max() >= 20:
        raise SystemExit(f"{path}: label out of range")
    images = np.ascontiguousarray(rec[:, 2:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return images, labels


def normalize(batch, scale, shift):
    x = batch.astype(np.float32)
    x *= scale
    x += shift
    return x


def augment_gather(x, rng):
    """Vectorised: one fancy-index gather from the zero-padded batch."""
    b = x.shape[0]
    padded = np.zeros((b, 40, 40, 3), np.float32)
    padded[:, 4:36, 4:36] = x
    dy = rng.integers(0, 9, b)
    dx = rng.integers(0, 9, b)
    flip = rng.random(b) < 0.5
    ar = np.arange(32)
    rows = dy[:, None] + ar
    cols = dx[:, None] + ar
    cols = np.where(flip[:, None], cols[:, ::-1], cols)
    return padded[np.arange(b)[:, None, None], rows[:, :, None], cols[:, None, :]]


def augment_loop(x, rng):
    """Per-image slicing, the torchvision-style formulation."""
    b = x.shape[0]
    padded = np.zeros((b, 40, 40, 3), np.float32)
    padded[:, 4:36, 4:36] = x
    out = np.empty_like(x)
    dy = rng.integers(0, 9, b)
    dx = rng.integers(0, 9, b)
    flip = rng.random(b) < 0.5
    for i in range(b):
        crop = padded[i, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32]
        out[i] = crop[:, ::-1] if flip[i] else crop
    return out


def throughput(images, scale, shift, batch, count, runs, aug, seed):
    rates = []
    for r in range(runs):
        rng = np.random.default_rng(seed + r)
        order = rng.permutation(len(images))[:count]
        t = time.perf_counter()
        for s in range(0, count, batch):
            x = normalize(images[order[s:s + batch]], scale, shift)
            if aug is not None:
                x = aug(x, rng)
        rates.append(count / (time.perf_counter() - t))
    return statistics.median(rates)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data-dir", required=True)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--images", type=int, default=50000)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--decode-runs", type=int, default=3)
    a = p.parse_args()
    decode_s = []
    for _ in range(a.decode_runs):
        t = time.perf_counter()
        images, _labels = decode(a.data_dir)
        decode_s.append(time.perf_counter() - t)
    mean = images.reshape(-1, 3).mean(0, dtype=np.float64) / 255
    std = images.reshape(-1, 3).std(0, dtype=np.float64) / 255
    scale = (1 / (255 * std)).astype(np.float32)
    shift = (-mean / std).astype(np.float32)
    out = {
        "numpy": np.__version__,
        "decodeSecondsMedian": statistics.median(decode_s),
        "mean": mean.tolist(),
        "normalizeImagesPerSec": throughput(images, scale, shift, a.batch, a.images, a.runs, None, 0),
        "augmentGatherImagesPerSec": throughput(
            images, scale, shift, a.batch, a.images, a.runs, augment_gather, 0),
        "augmentLoopImagesPerSec": throughput(
            images, scale, shift, a.batch, a.images, a.runs, augment_loop, 0),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
