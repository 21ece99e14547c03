/**
 * Which words a full-vocabulary search may answer with. A pretrained vocabulary (GloVe: 400,000
 * tokens) holds numbers, punctuation, e-mail addresses and rare tokens, and DeViSE's image
 * embeddings land among them; images have nouns for names. The sets:
 *
 * - `all`: every word;
 * - `nouns`: the words that are WordNet noun lemmas (the natural label space for images);
 * - `objects`: the WordNet nouns under physical object (`object.n.01`), as ImageNet's labels;
 * - `topN` (e.g. `top50000`): the N most frequent words (GloVe and word2vec files are sorted by
 *   frequency).
 *
 * @example
 * ```ts
 * const rows = candidateRows(vectors.words, "nouns", wordnet); // row ids into the vectors
 * ```
 * @module
 */
import { UsageError } from "../io/errors.ts";
import type { WordNet } from "../text/corpus.ts";

/** The named candidate sets (`topN` is also accepted). */
export const CANDIDATE_SETS = ["all", "nouns", "objects"] as const;

/**
 * Checks a candidate-set name (`all`, `nouns`, `objects` or `top<N>`).
 *
 * @example
 * ```ts
 * parseCandidateSet("top50000"); // { kind: "top", n: 50000 }
 * ```
 */
export function parseCandidateSet(
  name: string,
): { kind: "all" | "nouns" | "objects" } | { kind: "top"; n: number } {
  if ((CANDIDATE_SETS as readonly string[]).includes(name)) {
    return { kind: name as "all" | "nouns" | "objects" };
  }
  const m = /^top(\d+)$/.exec(name);
  if (m && Number(m[1]) > 0) return { kind: "top", n: Number(m[1]) };
  throw new UsageError(
    `--candidates: '${name}' is not one of ${CANDIDATE_SETS.join("|")}|top<N> (e.g. top50000)`,
  );
}

/**
 * The lemmas of every noun synset, and of the noun synsets under physical object.
 *
 * @example
 * ```ts
 * const { nouns, objects } = wordnetNounSets(await loadWordNet());
 * objects.has("balloon"); // true
 * ```
 */
export function wordnetNounSets(wordnet: WordNet): { nouns: Set<string>; objects: Set<string> } {
  const nouns = new Set<string>(), objects = new Set<string>();
  const root = wordnet.synsets.find((s) =>
    s.key.startsWith("n:") && s.lemmas.includes("physical_object")
  );
  const under = new Map<string, boolean>();
  const isObject = (key: string, depth = 0): boolean => {
    if (key === root?.key) return true;
    const known = under.get(key);
    if (known !== undefined) return known;
    under.set(key, false); // guards against cycles while this key is being decided
    const s = wordnet.byKey.get(key);
    const answer = depth < 40 && !!s && s.hypernyms.some((h) => isObject(h, depth + 1));
    under.set(key, answer);
    return answer;
  };
  for (const s of wordnet.synsets) {
    if (!s.key.startsWith("n:")) continue;
    const object = isObject(s.key);
    for (const l of s.lemmas) {
      nouns.add(l);
      if (object) objects.add(l);
    }
  }
  return { nouns, objects };
}

/**
 * The row ids (into `words`) of a candidate set, in vocabulary order.
 *
 * @example
 * ```ts
 * candidateRows(["the", "cat", "12"], "top2"); // Int32Array [0, 1]
 * ```
 */
export function candidateRows(
  words: readonly string[],
  set: string,
  wordnet?: WordNet,
): Int32Array {
  const parsed = parseCandidateSet(set);
  if (parsed.kind === "all") return Int32Array.from(words.keys());
  if (parsed.kind === "top") {
    return Int32Array.from({ length: Math.min(parsed.n, words.length) }, (_, i) => i);
  }
  if (!wordnet) throw new Error(`candidateRows: the '${set}' set needs WordNet`);
  const lemmas = wordnetNounSets(wordnet)[parsed.kind];
  const rows: number[] = [];
  words.forEach((w, i) => {
    if (lemmas.has(w) || lemmas.has(w.toLowerCase())) rows.push(i);
  });
  return Int32Array.from(rows);
}
