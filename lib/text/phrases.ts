/**
 * word2phrase-style phrase detection (Mikolov et al. 2013, section 4): a bigram `a b` becomes
 * the token `a_b` when `(count(ab) − δ) / (count(a)·count(b)) × N` exceeds a threshold, with `N`
 * the number of tokens. Running it twice finds phrases of up to four words.
 *
 * @example
 * ```ts
 * const { sentences, phrases } = detectPhrases(corpus.sentences, { passes: 2 });
 * phrases.slice(0, 3); // [["new_york", 812.4], ...]
 * ```
 * @module
 */

/** Options for {@link detectPhrases}. */
export interface PhraseOptions {
  /** Discount δ: bigrams seen fewer times never pass; also the min count of each word. */
  minCount?: number;
  /** Score threshold of the first pass (word2phrase default 100). */
  threshold?: number;
  /** Passes (1 or 2); the second uses half the threshold, as word2vec's demo-phrases.sh. */
  passes?: number;
}

/**
 * The word2phrase score of a bigram, or 0 when either word is rarer than `minCount`.
 *
 * @example
 * ```ts
 * phraseScore(20, 25, 30, 1000, 5); // (20 - 5) / (25 * 30) * 1000 = 20
 * ```
 */
export function phraseScore(
  countAB: number,
  countA: number,
  countB: number,
  totalTokens: number,
  minCount: number,
): number {
  if (countA < minCount || countB < minCount) return 0;
  return ((countAB - minCount) / (countA * countB)) * totalTokens;
}

/**
 * One pass: counts unigrams and adjacent bigrams, then greedily joins each bigram whose score
 * exceeds `threshold` (left to right, a joined word is not reused). Returns new sentences and
 * the phrases found with their scores, best first.
 *
 * @example
 * ```ts
 * const { sentences } = phrasePass([["new", "york", "city"]], 0, 1);
 * ```
 */
export function phrasePass(
  sentences: string[][],
  threshold: number,
  minCount: number,
): { sentences: string[][]; phrases: [string, number][] } {
  const unigrams = new Map<string, number>();
  const bigrams = new Map<string, number>();
  let total = 0;
  for (const s of sentences) {
    for (let i = 0; i < s.length; i++) {
      unigrams.set(s[i], (unigrams.get(s[i]) ?? 0) + 1);
      total++;
      if (i > 0) {
        const key = s[i - 1] + " " + s[i];
        bigrams.set(key, (bigrams.get(key) ?? 0) + 1);
      }
    }
  }
  const found = new Map<string, number>();
  const out: string[][] = [];
  for (const s of sentences) {
    const next: string[] = [];
    for (let i = 0; i < s.length; i++) {
      if (i + 1 < s.length) {
        const ab = bigrams.get(s[i] + " " + s[i + 1]) ?? 0;
        const score = phraseScore(
          ab,
          unigrams.get(s[i])!,
          unigrams.get(s[i + 1])!,
          total,
          minCount,
        );
        if (score > threshold) {
          const phrase = s[i] + "_" + s[i + 1];
          found.set(phrase, score);
          next.push(phrase);
          i++;
          continue;
        }
      }
      next.push(s[i]);
    }
    out.push(next);
  }
  return { sentences: out, phrases: [...found.entries()].sort((a, b) => b[1] - a[1]) };
}

/**
 * Detects and joins phrases in one or two passes (threshold, then threshold / 2).
 *
 * @example
 * ```ts
 * const r = detectPhrases(sentences, { minCount: 5, threshold: 100, passes: 1 });
 * r.phrases.length; // phrases joined
 * ```
 */
export function detectPhrases(
  sentences: string[][],
  options: PhraseOptions = {},
): { sentences: string[][]; phrases: [string, number][] } {
  const minCount = options.minCount ?? 5;
  const threshold = options.threshold ?? 100;
  const passes = options.passes ?? 2;
  if (passes < 1 || passes > 2) throw new RangeError(`phrase passes must be 1 or 2, got ${passes}`);
  let current = sentences;
  const phrases: [string, number][] = [];
  for (let p = 0; p < passes; p++) {
    const r = phrasePass(current, p === 0 ? threshold : threshold / 2, minCount);
    current = r.sentences;
    phrases.push(...r.phrases);
  }
  return { sentences: current, phrases };
}
