"""Python peer of bench/e2e_zeroshot.ts: per image, e = x @ M (numpy) then the k nearest word
vectors by cosine from a Python hnswlib index (same M / efConstruction / ef / seed), or an exact
numpy search when hnswlib is not installed. Reads FILE: float32 features (images x d), then M
(d x dims), then unit word vectors (vocab x dims). Prints one JSON line.

    python3 bench/peers/zeroshot_py.py FILE --images 200 --d 64 --dims 300 --vocab 10000 --k 5
"""
import argparse
import json
import resource
import statistics
import time

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("file")
    for name in ["images", "d", "dims", "vocab", "k", "m", "ef-construction", "ef", "runs"]:
        p.add_argument(f"--{name}", type=int, required=True)
    a = p.parse_args()
    raw = np.fromfile(a.file, dtype="<f4")
    n_feat, n_m = a.images * a.d, a.d * a.dims
    feats = raw[:n_feat].reshape(a.images, a.d)
    M = raw[n_feat:n_feat + n_m].reshape(a.d, a.dims)
    words = raw[n_feat + n_m:].reshape(a.vocab, a.dims)

    try:
        import hnswlib  # noqa: PLC0415
        t0 = time.perf_counter()
        index = hnswlib.Index(space="cosine", dim=a.dims)
        index.init_index(max_elements=a.vocab, M=a.m, ef_construction=a.ef_construction,
                         random_seed=100)
        index.set_num_threads(1)  # ours adds points one by one on one thread too
        index.add_items(words, np.arange(a.vocab))
        index.set_ef(a.ef)
        build = time.perf_counter() - t0
        from importlib.metadata import version  # noqa: PLC0415
        name = f"numpy {np.__version__} + hnswlib {version('hnswlib')}"

        def search(e):
            return index.knn_query(e, k=a.k)[0]
    except ImportError:
        build = None
        name = f"numpy {np.__version__} exact search (Python hnswlib not installed)"

        def search(e):
            sims = (e @ words.T) / np.linalg.norm(e, axis=1, keepdims=True)
            return np.argsort(-sims, axis=1)[:, :a.k]

    search(feats[:1] @ M)  # warm-up
    per_image, batched = [], []
    found = None
    for _ in range(a.runs):
        times = []
        found = []
        for i in range(a.images):
            s = time.perf_counter()
            found.append(search(feats[i:i + 1] @ M)[0])
            times.append((time.perf_counter() - s) * 1000)
        per_image.append(statistics.median(times))
        # Batched: one matmul for all images (amortised) + the median single search.
        s = time.perf_counter()
        emb = feats @ M
        embed_ms = (time.perf_counter() - s) * 1000 / a.images
        search_ms = []
        for i in range(a.images):
            q = time.perf_counter()
            search(emb[i:i + 1])
            search_ms.append((time.perf_counter() - q) * 1000)
        batched.append(embed_ms + statistics.median(search_ms))
    emb = feats @ M
    sims = (emb / np.linalg.norm(emb, axis=1, keepdims=True)) @ words.T
    truth = np.argsort(-sims, axis=1)[:, :a.k]
    recall = float(np.mean([len(set(t) & set(f)) / a.k for t, f in zip(truth, found)]))
    print(json.dumps({
        "name": name,
        "numpy": np.__version__,
        "perImageMsMedian": statistics.median(per_image),
        "perImageMs": per_image,
        "batchedMsPerImageMedian": statistics.median(batched),
        "batchedMsPerImage": batched,
        "buildSeconds": build,
        "recallAtK": recall,
        "maxRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }))


if __name__ == "__main__":
    main()
