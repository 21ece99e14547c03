"""Peer for bench/word2vec_parse.ts: time gensim's KeyedVectors.load_word2vec_format.

Usage: /usr/bin/python3 bench/peers/gensim_load.py FILE.bin
Prints one JSON object {"seconds", "rows", "dim", "gensim"} on stdout. Run it under
/usr/bin/time -v to get the peak RSS (the bench does).
"""
import json
import sys
import time

import gensim
from gensim.models import KeyedVectors


def main() -> None:
    path = sys.argv[1]
    start = time.perf_counter()
    kv = KeyedVectors.load_word2vec_format(path, binary=True)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "rows": len(kv.index_to_key), "dim": kv.vector_size,
                      "gensim": gensim.__version__}))


if __name__ == "__main__":
    main()
