"""Pillow peer for bench/images.ts: decode every JPEG in a folder and reduce it to SIZE x SIZE RGB
the way lib/images/decode.ts does (centred square crop, then an area average: Image.BOX), and
print one JSON line with images/s per run and the peak RSS of this process.

--draft also lets libjpeg decode at 1/2, 1/4 or 1/8 scale first (Image.draft, Pillow's
shrink-on-load, what Image.thumbnail does), choosing the largest scale that still leaves at
least SIZE pixels. --processes N decodes with a multiprocessing pool of N workers (chunks of
files), as a DataLoader with workers would.

Usage: data/venv/bin/python bench/peers/images_pillow.py --folder DIR --runs 3 [--draft] [--processes 2]
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time
from multiprocessing import Pool

import PIL
from PIL import Image

SIZE = 32
CHUNK = 64  # files per task handed to a pool worker


def load(path, size, draft):
    """One image -> size*size*3 bytes (RGB, HWC)."""
    with Image.open(path) as im:
        if draft and im.format == "JPEG":
            im.draft("RGB", (size, size))  # largest DCT scale keeping both sides >= size
        im = im.convert("RGB")
        w, h = im.size
        side = min(w, h)
        left, top = (w - side) / 2, (h - side) / 2
        out = im.resize((size, size), Image.Resampling.BOX, box=(left, top, left + side, top + side))
        data = out.tobytes()
    if len(data) != size * size * 3:
        raise SystemExit(f"{path}: got {len(data)} bytes")
    return data


def load_chunk(args):
    paths, size, draft = args
    total = 0
    for p in paths:
        total += load(p, size, draft)[0]  # touch the pixels so nothing is optimised away
    return total


def run_once(paths, size, draft, pool):
    t0 = time.perf_counter()
    if pool is None:
        for p in paths:
            load(p, size, draft)
    else:
        chunks = [(paths[i:i + CHUNK], size, draft) for i in range(0, len(paths), CHUNK)]
        for _ in pool.imap_unordered(load_chunk, chunks):
            pass
    return len(paths) / (time.perf_counter() - t0)


def peak_rss_bytes():
    """VmHWM of this process: unlike ru_maxrss it starts afresh at exec (ru_maxrss keeps the
    peak of the process that forked us, e.g. the Deno benchmark)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--folder", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--size", type=int, default=SIZE)
    ap.add_argument("--draft", action="store_true")
    ap.add_argument("--processes", type=int, default=1)
    a = ap.parse_args()
    paths = sorted(
        os.path.join(a.folder, n) for n in os.listdir(a.folder) if n.lower().endswith((".jpg", ".jpeg"))
    )
    if not paths:
        raise SystemExit(f"{a.folder}: no JPEG files")
    pool = Pool(a.processes) if a.processes > 1 else None
    try:
        rates = [run_once(paths, a.size, a.draft, pool) for _ in range(a.runs)]
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    children_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({
        "pillow": PIL.__version__,
        "python": sys.version.split()[0],
        "images": len(paths),
        "runs": a.runs,
        "draft": a.draft,
        "processes": a.processes,
        "imagesPerSec": rates,
        "imagesPerSecMedian": statistics.median(rates),
        "maxRssBytes": peak_rss_bytes(),
        "maxRssChildBytes": children_kib * 1024,
    }))


if __name__ == "__main__":
    main()
