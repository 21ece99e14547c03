"""Peer for bench/hnsw.ts: hnswlib's own Python binding (pip `hnswlib`) on the same data.

Reads the files bench/hnsw.ts writes (row-major float32 data and queries, int32 ground-truth ids),
builds a cosine index with the same M / efConstruction / seed, and prints one JSON object:
build seconds of `add_items(..., num_threads=--threads)` (bench/hnsw.ts passes its own --threads,
those of its buildIndex build), index bytes, and for each ef recall@10 and single-threaded
queries/s (one query per knn_query call, like the Deno side).

    python3 bench/peers/hnswlib_py.py --data d.f32 --queries q.f32 --truth t.i32 --dim 300 \
        --m 32 --ef-construction 200 --ef 50,100,200 --threads 2
"""

import argparse
import importlib.metadata
import json
import os
import tempfile
import time

import hnswlib
import numpy as np


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--queries", required=True)
    p.add_argument("--truth", required=True)
    p.add_argument("--dim", type=int, required=True)
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--ef-construction", type=int, default=200)
    p.add_argument("--seed", type=int, default=100)
    p.add_argument("--ef", default="100")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--threads", type=int, default=2,
                   help="add_items threads (queries are 1 thread)")
    a = p.parse_args()

    data = np.fromfile(a.data, dtype=np.float32).reshape(-1, a.dim)
    queries = np.fromfile(a.queries, dtype=np.float32).reshape(-1, a.dim)
    truth = np.fromfile(a.truth, dtype=np.int32).reshape(len(queries), -1)[:, : a.k]

    index = hnswlib.Index(space="cosine", dim=a.dim)
    index.init_index(max_elements=len(data), M=a.m, ef_construction=a.ef_construction,
                     random_seed=a.seed)
    t0 = time.perf_counter()
    index.add_items(data, np.arange(len(data)), num_threads=a.threads)
    build_seconds = time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "index.bin")
        index.save_index(path)
        index_bytes = os.path.getsize(path)

    sweep = []
    for ef in [int(x) for x in a.ef.split(",")]:
        index.set_ef(ef)
        index.set_num_threads(1)
        found = np.empty((len(queries), a.k), dtype=np.int64)
        t0 = time.perf_counter()
        for i in range(len(queries)):
            labels, _ = index.knn_query(queries[i], k=a.k)
            found[i] = labels[0]
        seconds = time.perf_counter() - t0
        hits = sum(len(set(found[i]) & set(truth[i])) for i in range(len(queries)))
        sweep.append({
            "ef": ef,
            "recallAt10": hits / truth.size,
            "queriesPerSecond": len(queries) / seconds,
        })

    print(json.dumps({
        "peer": f"hnswlib (Python) {_version()}",
        "buildThreads": a.threads,
        "buildSeconds": build_seconds,
        "indexBytes": index_bytes,
        "sweep": sweep,
    }))


def _version() -> str:
    try:
        return importlib.metadata.version("hnswlib")
    except importlib.metadata.PackageNotFoundError:
        return getattr(hnswlib, "__version__", "?")


if __name__ == "__main__":
    main()
