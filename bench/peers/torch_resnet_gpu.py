"""PyTorch peer of bench/gpu_train_step.ts (run by bench/gpu.sh): the same CIFAR ResNet-(6n+2) as
lib/vision/models.ts (3x3 convs without bias, He-normal, BN momentum 0.1 = Keras 0.9, eps 1e-5,
option-A shortcuts: subsample then zero-pad channels, global average pool, dense 100-class head)
trained with SGD momentum 0.9, lr 0.1, weight decay 5e-4 on conv/dense kernels added to the
gradient, softmax cross-entropy, on one fixed CIFAR-shaped random batch. Median of the timed
steps after warm-up, each step synchronised. On CUDA it times strict float32 (TF32 off, as
WebGPU computes) and PyTorch's default (cuDNN may use TF32); without CUDA it falls back to the CPU.
Prints one JSON line: {"torch", "device", "results": [{"depth", "mode", "imagesPerSecond", ...}]}.

    python3 bench/peers/torch_resnet_gpu.py --depths 20,110 --batch-size 128
"""
import argparse
import json
import os
import sys
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Shortcut(nn.Module):
    """Option A: subsample by `stride`, zero-pad the new channels (split as tfjs does)."""

    def __init__(self, out_channels: int, stride: int):
        super().__init__()
        self.out_channels, self.stride = out_channels, stride

    def forward(self, x):
        if self.stride > 1:
            x = x[:, :, ::self.stride, ::self.stride]
        extra = self.out_channels - x.shape[1]
        return F.pad(x, (0, 0, 0, 0, extra // 2, extra - extra // 2)) if extra else x


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else Shortcut(cout, stride)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, depth: int, classes: int = 100):
        super().__init__()
        n = (depth - 2) // 6
        assert 6 * n + 2 == depth, "depth must be 6n+2"
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(16, eps=1e-5, momentum=0.1), nn.ReLU())
        blocks, cin = [], 16
        for s, c in enumerate([16, 32, 64]):
            for b in range(n):
                blocks.append(Block(cin, c, 2 if s > 0 and b == 0 else 1))
                cin = c
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.fc(self.blocks(self.stem(x)).mean((2, 3)))


def bench(depth: int, batch: int, warmup: int, steps: int, device: torch.device) -> dict:
    torch.manual_seed(1)
    model = ResNet(depth).to(device).train()
    kernels = [p for n, p in model.named_parameters() if n.endswith("weight") and p.dim() > 1]
    others = [p for n, p in model.named_parameters() if not (n.endswith("weight") and p.dim() > 1)]
    # weight_decay in torch's SGD adds wd * w to the gradient before momentum, as our step does
    opt = torch.optim.SGD([{"params": kernels, "weight_decay": 5e-4},
                           {"params": others, "weight_decay": 0.0}], lr=0.1, momentum=0.9)
    x = torch.randn(batch, 3, 32, 32, device=device)
    y = torch.arange(batch, device=device) % 100
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times, losses = [], []
    for i in range(warmup + steps):
        sync()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())  # .item() synchronises, as our `await data()` does
        sync()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    sec = statistics.median(times)
    return {"depth": depth, "secondsPerStep": sec, "imagesPerSecond": batch / sec,
            "times": times, "losses": losses,
            "params": sum(p.numel() for p in model.parameters())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--depths", default="20,110")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    args = ap.parse_args()
    cuda = torch.cuda.is_available()
    if args.device == "cuda" and not cuda:
        raise SystemExit("torch: CUDA is not available")
    device = torch.device("cuda" if cuda and args.device != "cpu" else "cpu")
    info = {"torch": torch.__version__, "device": device.type,
            "cudaAvailable": cuda, "threads": torch.get_num_threads(),
            "batchSize": args.batch_size, "steps": args.steps, "warmup": args.warmup}
    modes = ["fp32"]
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
        torch.backends.cudnn.benchmark = True
        modes = ["fp32", "default"]
    results = []
    for depth in [int(d) for d in args.depths.split(",") if d]:
        for mode in modes:
            tf32 = mode == "default"
            if device.type == "cuda":
                torch.backends.cudnn.allow_tf32 = tf32
                torch.backends.cuda.matmul.allow_tf32 = False
            r = bench(depth, args.batch_size, args.warmup, args.steps, device)
            r.update(mode=mode, tf32=tf32)
            print(f"torch {device.type} {mode} resnet-{depth}: {r['imagesPerSecond']:.1f} img/s",
                  file=sys.stderr, flush=True)
            results.append(r)
    print(json.dumps({**info, "results": results}))


if __name__ == "__main__":
    main()
