#!/usr/bin/env python3
"""Peer for bench/skipgram.ts: gensim Word2Vec skip-gram on a tokenised corpus file.

Same hyperparameters as ours (word2vec.c semantics: min_alpha = alpha * 1e-4). Writes the input
vectors in word2vec text format and prints one JSON line with vocabulary size, training seconds
(model.train only) and raw words/s (corpus tokens x epochs / seconds).

    python3 bench/peers/gensim_train.py --corpus data/bench/corpus.txt --out /tmp/g.txt \
        --dim 100 --window 5 --negative 5 --min-count 5 --sample 1e-3 --epochs 5 \
        --alpha 0.025 --threads 2 --seed 1
"""
import argparse
import json
import time

from gensim.models import Word2Vec
from gensim.models.word2vec import LineSentence


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--corpus", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--window", type=int, default=5)
    p.add_argument("--negative", type=int, default=5)
    p.add_argument("--min-count", type=int, default=5)
    p.add_argument("--sample", type=float, default=1e-3)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--alpha", type=float, default=0.025)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    sentences = list(LineSentence(a.corpus))
    raw_words = sum(len(s) for s in sentences)
    model = Word2Vec(
        vector_size=a.dim, window=a.window, negative=a.negative, hs=0, sg=1,
        min_count=a.min_count, sample=a.sample, epochs=a.epochs, alpha=a.alpha,
        min_alpha=a.alpha * 1e-4, workers=a.threads, seed=a.seed,
    )
    model.build_vocab(sentences)
    t0 = time.perf_counter()
    model.train(sentences, total_examples=len(sentences), epochs=a.epochs)
    seconds = time.perf_counter() - t0
    model.wv.save_word2vec_format(a.out, binary=False)
    import gensim
    print(json.dumps({
        "peer": "gensim", "version": gensim.__version__, "vocabSize": len(model.wv),
        "rawWords": raw_words, "trainSeconds": seconds,
        "wordsPerSecond": raw_words * a.epochs / seconds,
    }))


if __name__ == "__main__":
    main()
