/**
 * Retrofitting (Faruqui et al. 2015): pulls each word vector towards its neighbours in a lexical
 * graph while keeping it close to its original, by iterating
 * `q_i ← (α·q̂_i + Σ_j β_ij·q_j) / (α + Σ_j β_ij)` with `α = 1`, `β_ij = 1/deg(i)`. The graph here
 * is WordNet: lemmas of one synset are synonyms, and `@`/`@i` pointers link a synset's lemmas
 * with its hypernym's (both directions).
 *
 * @example
 * ```ts
 * const lexicon = wordnetLexicon(await loadWordNet(), (w) => vectors.index.has(w));
 * const { vectors: fitted } = retrofit(vectors, lexicon, { iterations: 10 });
 * ```
 * @module
 */
import type { WordNet } from "./corpus.ts";
import { makeWordVectors, normalizeRows, type WordVectors } from "./vectors.ts";

/** word → neighbouring words. */
export type Lexicon = Map<string, Set<string>>;

/** Options for {@link retrofit}. */
export interface RetrofitOptions {
  /** Passes over the vocabulary (paper: 10). */
  iterations?: number;
  /** Weight α of each word's original vector (paper: 1). */
  alpha?: number;
  /** Unit-normalise the input rows first, as the reference code does (default true). */
  normalize?: boolean;
}

/**
 * Builds an undirected lexicon from WordNet synonyms and hypernym links, keeping only words for
 * which `keep` is true (e.g. words that have vectors).
 *
 * @example
 * ```ts
 * const lex = wordnetLexicon(wn, (w) => v.index.has(w));
 * lex.get("car"); // Set {"auto", "automobile", "machine", "motor_vehicle", ...}
 * ```
 */
export function wordnetLexicon(wordnet: WordNet, keep: (word: string) => boolean): Lexicon {
  const lexicon: Lexicon = new Map();
  const link = (a: string, b: string) => {
    if (a === b) return;
    let set = lexicon.get(a);
    if (!set) lexicon.set(a, set = new Set());
    set.add(b);
  };
  for (const s of wordnet.synsets) {
    const lemmas = s.lemmas.filter(keep);
    for (const a of lemmas) for (const b of lemmas) link(a, b);
    for (const h of s.hypernyms) {
      const target = wordnet.byKey.get(h);
      if (!target) continue;
      for (const b of target.lemmas) {
        if (!keep(b)) continue;
        for (const a of lemmas) {
          link(a, b);
          link(b, a);
        }
      }
    }
  }
  return lexicon;
}

/**
 * Retrofits `v` to `lexicon` (neighbours without vectors are ignored). Returns new vectors (the
 * input is not modified) and how many words had at least one neighbour.
 *
 * @example
 * ```ts
 * const lex: Lexicon = new Map([["a", new Set(["b"])], ["b", new Set(["a"])]]);
 * retrofit(v, lex).updated; // 2
 * ```
 */
export function retrofit(
  v: WordVectors,
  lexicon: Lexicon,
  options: RetrofitOptions = {},
): { vectors: WordVectors; updated: number } {
  const iterations = options.iterations ?? 10;
  const alpha = options.alpha ?? 1;
  const { dim } = v;
  const original = new Float32Array(v.data);
  if (options.normalize ?? true) normalizeRows(original, dim);
  const fitted = new Float32Array(original);
  // Neighbour rows per word row, resolved once.
  const rows: number[] = [];
  const neighbours: Int32Array[] = [];
  for (const [word, set] of lexicon) {
    const i = v.index.get(word);
    if (i === undefined) continue;
    const ns: number[] = [];
    for (const n of set) {
      const j = v.index.get(n);
      if (j !== undefined && j !== i) ns.push(j);
    }
    if (ns.length) {
      rows.push(i);
      neighbours.push(Int32Array.from(ns));
    }
  }
  const acc = new Float64Array(dim);
  for (let it = 0; it < iterations; it++) {
    for (let r = 0; r < rows.length; r++) {
      const i = rows[r], ns = neighbours[r];
      const beta = 1 / ns.length;
      for (let k = 0; k < dim; k++) acc[k] = alpha * original[i * dim + k];
      for (const j of ns) for (let k = 0; k < dim; k++) acc[k] += beta * fitted[j * dim + k];
      const denom = alpha + beta * ns.length;
      for (let k = 0; k < dim; k++) fitted[i * dim + k] = acc[k] / denom;
    }
  }
  return { vectors: makeWordVectors([...v.words], dim, fitted), updated: rows.length };
}
