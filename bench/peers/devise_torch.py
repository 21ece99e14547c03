"""PyTorch CPU peer of bench/devise_epoch.ts: one DeViSE epoch (hinge rank loss, margin 0.1,
summed over wrong labels, batch mean; Adam lr 1e-3) of a linear map d -> D over n synthetic
features, same shapes and batch size as the Deno bench. Prints one JSON object on stdout.

Usage: python3 bench/peers/devise_torch.py --n 50000 --d 4096 --dims 300 --classes 100 \
         --batch-size 256 --epochs 3
"""
import argparse
import json
import os
import statistics
import time

import torch


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=50000)
    p.add_argument("--d", type=int, default=4096)
    p.add_argument("--dims", type=int, default=300)
    p.add_argument("--classes", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--margin", type=float, default=0.1)
    # Every core, as TensorFlow uses on our side (torch may default to the physical cores only).
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    g = torch.Generator().manual_seed(0)
    feats = torch.randn(args.n, args.d, generator=g)
    labels = torch.randint(0, args.classes, (args.n,), generator=g)
    T = torch.nn.functional.normalize(torch.randn(args.classes, args.dims, generator=g), dim=1)
    M = (torch.randn(args.d, args.dims, generator=g) / (args.d * args.dims) ** 0.5).requires_grad_()
    opt = torch.optim.Adam([M], lr=1e-3)
    wrong_all = 1 - torch.nn.functional.one_hot(labels, args.classes).float()

    seconds = []
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        order = torch.randperm(args.n, generator=g)
        total = 0.0
        for start in range(0, args.n, args.batch_size):
            idx = order[start:start + args.batch_size]
            v, y = feats[idx], labels[idx]
            e = v @ M
            scores = e @ T.t()
            sy = scores.gather(1, y[:, None])
            loss = (torch.relu(args.margin - sy + scores) * wrong_all[idx]).sum() / len(idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        seconds.append(time.perf_counter() - t0)
    print(json.dumps({
        "peer": "pytorch-cpu",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "epochSeconds": seconds,
        "medianEpochSeconds": statistics.median(seconds),
        "lastEpochLoss": total / args.n,
    }))


if __name__ == "__main__":
    main()
