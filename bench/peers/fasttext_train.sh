#!/usr/bin/env bash
# Peer for bench/skipgram.ts: fastText skipgram (Debian `fasttext`) with subword n-grams off
# (-maxn 0), so it is plain word2vec skip-gram with negative sampling on the same corpus.
# Prints one JSON line: training seconds and raw words/s (corpus tokens x epochs / seconds).
#
#   bash bench/peers/fasttext_train.sh CORPUS OUT_PREFIX DIM WINDOW NEGATIVE MIN_COUNT SAMPLE \
#        EPOCHS ALPHA THREADS
set -euo pipefail
corpus=$1 out=$2 dim=$3 window=$4 negative=$5 mincount=$6 sample=$7 epochs=$8 alpha=$9
threads=${10}
raw=$(wc -w < "$corpus")
start=$(date +%s.%N)
fasttext skipgram -input "$corpus" -output "$out" -dim "$dim" -ws "$window" -neg "$negative" \
  -minCount "$mincount" -t "$sample" -epoch "$epochs" -lr "$alpha" -thread "$threads" \
  -minn 0 -maxn 0 -verbose 0 >&2
end=$(date +%s.%N)
secs=$(echo "$end - $start" | bc -l)
vocab=$(head -1 "$out.vec" | cut -d' ' -f1)
version=$(dpkg-query -W -f='${Version}' fasttext 2>/dev/null || echo unknown)
echo "{\"peer\":\"fasttext\",\"version\":\"$version\",\"vocabSize\":$vocab,\"rawWords\":$raw,\"trainSeconds\":$secs,\"wordsPerSecond\":$(echo "$raw * $epochs / $secs" | bc -l)}"
