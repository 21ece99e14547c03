"""Where DeViSE's gap to softmax comes from, on fixed features: four linear heads on one feature
layer of a `deno task extract` folder (train on CIFAR-100 train, score CIFAR-100 test), each the
same optimiser and schedule (Adam, constant lr, seeded):

  hinge, through T   scores = T (M v): DeViSE itself (the hinge rank loss, margin 0.1, summed)
  softmax, through T scores = T (M v) under cross-entropy
  hinge, free        scores = W v under the hinge rank loss
  softmax, free      scores = W v under cross-entropy: a linear probe, the visual model's own head

T holds the unit label vectors of the 100 classes (mean of parts for phrases, as lib/devise does).
"hinge free" vs "softmax free" is the cost of the loss, "through T" vs "free" that of the label
vectors. Prints one JSON object on stdout.

Usage: python3 bench/peers/head_probe.py --features data/pipeline/features-<key> --layer gap \
         --data-dir ../shared/data --vectors data/vectors/skipgram-100-wordnet.bin
"""
import argparse
import gzip
import json
import os

import numpy as np
import torch

_RECORD_BYTES = 3074  # CIFAR-100 binary: coarse label, fine label, 3072 pixels


def _labels(path: str) -> np.ndarray:
    raw = np.frombuffer(gzip.open(path).read(), np.uint8).reshape(-1, _RECORD_BYTES)
    return raw[:, 1].astype(np.int64)


def _word2vec_bin(path: str) -> dict:
    raw = open(path, "rb").read()
    nl = raw.index(b"\n")
    n, d = map(int, raw[:nl].split())
    pos, out = nl + 1, {}
    for _ in range(n):
        sp = raw.index(b" ", pos)
        word = raw[pos:sp].decode("utf8", "replace").strip()
        out[word] = np.frombuffer(raw[sp + 1:sp + 1 + 4 * d], np.float32)
        pos = sp + 1 + 4 * d
        if raw[pos:pos + 1] == b"\n":
            pos += 1
    return out


def _hinge(scores, y, margin):
    sy = scores.gather(1, y[:, None])
    loss = (margin - sy + scores).clamp(min=0).scatter(1, y[:, None], 0)
    return loss.sum(1).mean()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--features", required=True)
    p.add_argument("--layer", default="gap")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--vectors", required=True)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--margin", type=float, default=0.1)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = p.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)

    c100 = os.path.join(args.data_dir, "cifar-100-binary")
    y_train = torch.tensor(_labels(os.path.join(c100, "train.bin.gz")))
    y_test = torch.tensor(_labels(os.path.join(c100, "test.bin.gz")))
    x = {}
    for split, n in (("train", len(y_train)), ("test", len(y_test))):
        f = os.path.join(args.features, f"cifar100-{split}.{args.layer}.f32")
        x[split] = np.fromfile(f, np.float32).reshape(n, -1)
    mean, std = x["train"].mean(0), x["train"].std(0) + 1e-6  # standardised, as lib/devise does
    x_train = torch.tensor((x["train"] - mean) / std)
    x_test = torch.tensor((x["test"] - mean) / std)

    names = open(os.path.join(c100, "fine_label_names.txt")).read().split()
    vec = _word2vec_bin(args.vectors)
    rows = [vec[n] if n in vec else np.mean([vec[w] for w in n.split("_")], 0) for n in names]
    T = torch.tensor(np.stack(rows))
    T = T / T.norm(dim=1, keepdim=True)

    def head(loss_name: str, through_t: bool) -> dict:
        out_dim = T.shape[1] if through_t else len(names)
        W = torch.empty(x_train.shape[1], out_dim)
        torch.nn.init.normal_(W, std=0.01)
        W.requires_grad_()
        opt = torch.optim.Adam([W], lr=args.lr)

        def scores(v):
            e = v @ W
            return e @ T.T if through_t else e

        for _ in range(args.epochs):
            perm = torch.randperm(len(y_train))
            for i in range(0, len(perm), args.batch_size):
                idx = perm[i:i + args.batch_size]
                s, y = scores(x_train[idx]), y_train[idx]
                loss = _hinge(s, y, args.margin) if loss_name == "hinge" else \
                    torch.nn.functional.cross_entropy(s, y)
                opt.zero_grad()
                loss.backward()
                opt.step()
        with torch.no_grad():
            return {
                "loss": loss_name,
                "throughLabelVectors": through_t,
                "trainHit1": (scores(x_train).argmax(1) == y_train).float().mean().item(),
                "testHit1": (scores(x_test).argmax(1) == y_test).float().mean().item(),
            }

    heads = [head(l, t) for l, t in (("hinge", True), ("softmax", True), ("hinge", False),
                                      ("softmax", False))]
    print(json.dumps({"features": args.features, "layer": args.layer, "vectors": args.vectors,
                      "epochs": args.epochs, "lr": args.lr, "batchSize": args.batch_size,
                      "heads": heads}))


if __name__ == "__main__":
    main()
