/**
 * Intrinsic evaluation of word vectors: Spearman ρ between human similarity scores and cosine
 * similarities on word-similarity files (`word1 word2 score`, e.g. WS-353, SimLex, MEN), their
 * coverage, and cosine nearest neighbours.
 *
 * @example
 * ```ts
 * const pairs = parseSimilarity(await Deno.readTextFile(path), path);
 * const r = evaluateSimilarity(vectors, pairs); // { rho: 0.61, covered: 340, total: 353, ... }
 * nearest(vectors, "cat", 5); // [{ word: "dog", cosine: 0.71 }, ...]
 * ```
 * @module
 */
import type { WordVectors } from "./vectors.ts";

/** One human-scored pair. */
export interface SimilarityPair {
  a: string;
  b: string;
  score: number;
}

/** Result of {@link evaluateSimilarity}. */
export interface SimilarityResult {
  /** Spearman ρ over covered pairs (NaN when fewer than 2 are covered). */
  rho: number;
  /** Pairs whose both words have vectors. */
  covered: number;
  /** Pairs in the file. */
  total: number;
  /** covered / total. */
  coverage: number;
}

/**
 * Parses a word-similarity file: three whitespace/tab separated fields per line, `#` comments
 * and blank lines skipped, a first row whose score is not numeric taken as a header. Any other
 * malformed line throws naming `source:line`.
 *
 * @example
 * ```ts
 * parseSimilarity("w1\tw2\tscore\ncat dog 7.5\n", "x.txt"); // [{ a: "cat", b: "dog", score: 7.5 }]
 * ```
 */
export function parseSimilarity(text: string, source: string): SimilarityPair[] {
  const out: SimilarityPair[] = [];
  const lines = text.split(/\r?\n/);
  let seenRow = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    const fields = line.split(/\s+/);
    const score = Number(fields[2]);
    if (fields.length !== 3 || !Number.isFinite(score) || fields[2] === "") {
      if (!seenRow && fields.length >= 3 && !Number.isFinite(Number(fields[2]))) {
        seenRow = true; // header
        continue;
      }
      throw new Error(
        `${source}:${i + 1}: expected 'word1 word2 score' (3 fields, numeric score), got '${line}'`,
      );
    }
    seenRow = true;
    out.push({ a: fields[0], b: fields[1], score });
  }
  return out;
}

/**
 * Ranks with ties averaged (1-based): `[10, 20, 20, 30]` → `[1, 2.5, 2.5, 4]`.
 *
 * @example
 * ```ts
 * rankAverage([3, 1, 2]); // Float64Array [3, 1, 2]
 * ```
 */
export function rankAverage(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => values[i] - values[j]);
  const ranks = new Float64Array(n);
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && values[order[j + 1]] === values[order[i]]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k]] = rank;
    i = j + 1;
  }
  return ranks;
}

/**
 * Spearman's ρ: Pearson correlation of tie-averaged ranks. NaN for fewer than 2 points or a
 * constant input.
 *
 * @example
 * ```ts
 * spearman([1, 2, 3], [10, 20, 30]); // 1
 * spearman([1, 2, 3], [3, 2, 1]); // -1
 * ```
 */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length) throw new RangeError(`spearman: ${x.length} vs ${y.length} values`);
  const n = x.length;
  if (n < 2) return NaN;
  const rx = rankAverage(x), ry = rankAverage(y);
  const mean = (n + 1) / 2;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = rx[i] - mean, dy = ry[i] - mean;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx === 0 || syy === 0 ? NaN : sxy / Math.sqrt(sxx * syy);
}

/** Row of `word`, trying it as given and then lowercased (vectors are usually lowercase). */
function _row(v: WordVectors, word: string): number | undefined {
  return v.index.get(word) ?? v.index.get(word.toLowerCase());
}

/**
 * Cosine similarity of two rows of `v`.
 *
 * @example
 * ```ts
 * cosineRows(v, v.index.get("cat")!, v.index.get("dog")!);
 * ```
 */
export function cosineRows(v: WordVectors, i: number, j: number): number {
  const { data, dim } = v;
  let dot = 0, na = 0, nb = 0;
  for (let k = 0; k < dim; k++) {
    const a = data[i * dim + k], b = data[j * dim + k];
    dot += a * b;
    na += a * a;
    nb += b * b;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

/**
 * Spearman ρ between human scores and cosine similarity on the pairs both of whose words have
 * vectors (looked up as given, then lowercased), plus coverage.
 *
 * @example
 * ```ts
 * evaluateSimilarity(vectors, [{ a: "cat", b: "dog", score: 7 }, { a: "cat", b: "car", score: 2 }]);
 * ```
 */
export function evaluateSimilarity(v: WordVectors, pairs: SimilarityPair[]): SimilarityResult {
  const human: number[] = [];
  const model: number[] = [];
  for (const p of pairs) {
    const i = _row(v, p.a), j = _row(v, p.b);
    if (i === undefined || j === undefined) continue;
    human.push(p.score);
    model.push(cosineRows(v, i, j));
  }
  return {
    rho: spearman(human, model),
    covered: human.length,
    total: pairs.length,
    coverage: pairs.length ? human.length / pairs.length : 0,
  };
}

/**
 * The `k` words with the highest cosine similarity to `word` (itself excluded); `[]` when the
 * word has no vector.
 *
 * @example
 * ```ts
 * nearest(vectors, "cat", 3).map((n) => n.word); // ["dog", "kitten", "feline"]
 * ```
 */
export function nearest(
  v: WordVectors,
  word: string,
  k: number,
): { word: string; cosine: number }[] {
  const q = _row(v, word);
  if (q === undefined) return [];
  const { data, dim } = v;
  const rows = v.words.length;
  let qn = 0;
  for (let j = 0; j < dim; j++) qn += data[q * dim + j] ** 2;
  qn = Math.sqrt(qn) || 1;
  const best: { word: string; cosine: number }[] = [];
  for (let r = 0; r < rows; r++) {
    if (r === q) continue;
    let dot = 0, n = 0;
    const off = r * dim;
    for (let j = 0; j < dim; j++) {
      dot += data[off + j] * data[q * dim + j];
      n += data[off + j] * data[off + j];
    }
    const cosine = n === 0 ? 0 : dot / (qn * Math.sqrt(n));
    if (best.length < k || cosine > best[best.length - 1].cosine) {
      best.push({ word: v.words[r], cosine });
      best.sort((a, b) => b.cosine - a.cosine);
      if (best.length > k) best.pop();
    }
  }
  return best;
}

/**
 * Evaluates `v` on several word-similarity files; results keyed by file name without `.txt`.
 *
 * @example
 * ```ts
 * await evaluateSimilarityFiles(v, ["EN-WS-353-ALL.txt"]); // { "EN-WS-353-ALL": { rho, ... } }
 * ```
 */
export async function evaluateSimilarityFiles(
  v: WordVectors,
  paths: string[],
): Promise<Record<string, SimilarityResult>> {
  const out: Record<string, SimilarityResult> = {};
  for (const path of paths) {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (err) {
      throw new Error(`${path}: cannot read word-similarity file (${(err as Error).message})`);
    }
    const name = path.split(/[\\/]/).pop()!.replace(/\.(txt|tsv|csv)$/, "");
    out[name] = evaluateSimilarity(v, parseSimilarity(text, path));
  }
  return out;
}

/**
 * The word-similarity files (`*.txt`, sorted) in the first of `dirs` that exists, or `[]`.
 *
 * @example
 * ```ts
 * await findSimilarityFiles(["data/word-sim", "../shared/data/word-sim"]);
 * ```
 */
export async function findSimilarityFiles(dirs: string[]): Promise<string[]> {
  for (const dir of dirs) {
    try {
      const files: string[] = [];
      for await (const e of Deno.readDir(dir)) {
        if (e.isFile && /\.(txt|tsv)$/.test(e.name)) files.push(`${dir}/${e.name}`);
      }
      if (files.length) return files.sort();
    } catch {
      // not there: try the next folder
    }
  }
  return [];
}
