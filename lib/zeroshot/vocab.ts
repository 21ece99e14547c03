/**
 * Full-vocabulary zero-shot: the top-k words of the whole vocabulary for a query, and hit@k.
 *
 * Hit rule for hit@k: a prediction is a hit when any of its top-k vocabulary words is one of
 * `labelEquivalents(trueLabel)` (the label, its `_`-joined phrase form, and its simple
 * singular/plural; see lib/text/labels.ts). The "unseen only" variant first removes from the
 * candidates every equivalent of the 100 CIFAR-100 training labels (except equivalents of the
 * true label itself, so a query is never denied its own answer), then takes the top k.
 *
 * @example
 * ```ts
 * const words = topWords(search, vocabulary, query, 20, { words: seenWordSet(cifar100Names), trueLabel: "cat" });
 * isHit(words, "cat");
 * ```
 * @module
 */
import { labelEquivalents } from "../text/labels.ts";
import type { Neighbors } from "./exact.ts";

/**
 * True when any of `words` is an equivalent of `trueLabel` (see the module doc's hit rule).
 *
 * @example
 * ```ts
 * isHit(["car", "trucks"], "truck"); // true
 * ```
 */
export function isHit(
  words: readonly string[],
  trueLabel: string,
  equivalents: (label: string) => string[] = labelEquivalents,
): boolean {
  const ok = new Set(equivalents(trueLabel));
  return words.some((w) => ok.has(w));
}

/**
 * Every equivalent of the given (seen) labels: the words the "unseen only" variant removes.
 *
 * @example
 * ```ts
 * seenWordSet(["apple"]).has("apples"); // true
 * ```
 */
export function seenWordSet(
  seenLabels: readonly string[],
  equivalents: (label: string) => string[] = labelEquivalents,
): Set<string> {
  return new Set(seenLabels.flatMap((l) => equivalents(l)));
}

/**
 * Top-k vocabulary words for one query via `search(query, k)` (HNSW or exact). With `exclude`,
 * those words are dropped (keeping equivalents of `trueLabel`) and the search repeated with a
 * larger k until k words remain or the vocabulary is exhausted.
 *
 * @example
 * ```ts
 * const words = topWords((q, k) => searchIndex(index, q, k, 100), vocab, query, 20);
 * ```
 */
export function topWords(
  search: (query: Float32Array, k: number) => Neighbors,
  vocabulary: readonly string[],
  query: Float32Array,
  k: number,
  exclude?: { words: Set<string>; trueLabel?: string; equivalents?: (l: string) => string[] },
): string[] {
  if (!exclude) return search(query, k).ids.map((id) => vocabulary[id]);
  const keep = new Set(
    exclude.trueLabel ? (exclude.equivalents ?? labelEquivalents)(exclude.trueLabel) : [],
  );
  for (let kq = k + 100;; kq *= 4) {
    const words = search(query, Math.min(kq, vocabulary.length)).ids
      .map((id) => vocabulary[id])
      .filter((w) => keep.has(w) || !exclude.words.has(w));
    if (words.length >= k || kq >= vocabulary.length) return words.slice(0, k);
  }
}

/**
 * hit@k for each k: the fraction of queries whose top-k words contain an equivalent of the true
 * label. `ranked[i]` must hold at least max(ks) words (fewer counts as misses beyond its length).
 *
 * @example
 * ```ts
 * hitAtK([["dog", "cats"]], ["cat"], [1, 2]); // { "1": 0, "2": 1 }
 * ```
 */
export function hitAtK(
  ranked: readonly string[][],
  trueLabels: readonly string[],
  ks: readonly number[] = [1, 2, 5, 10, 20],
  equivalents: (label: string) => string[] = labelEquivalents,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of ks) {
    let hits = 0;
    for (let i = 0; i < ranked.length; i++) {
      if (isHit(ranked[i].slice(0, k), trueLabels[i], equivalents)) hits++;
    }
    out[String(k)] = ranked.length === 0 ? NaN : hits / ranked.length;
  }
  return out;
}
