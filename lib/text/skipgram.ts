/**
 * Skip-gram with negative sampling, following word2vec.c (Mikolov et al. 2013): min-count
 * vocabulary, frequent-word subsampling, a unigram^0.75 negative table, a dynamic window, a
 * learning rate decaying linearly from `alpha` to `alpha·1e-4`, and a precomputed sigmoid table.
 * Training runs Hogwild over Deno Workers that share `syn0`/`syn1neg` through a shared
 * `WebAssembly.Memory` (a SharedArrayBuffer); each pair's update runs in a small hand-assembled
 * Wasm SIMD kernel (skipgram_simd.ts), with a plain-JS fallback. With `threads: 1` training runs
 * in-process and is deterministic for a seed.
 *
 * @example
 * ```ts
 * const { vectors, stats } = await trainSkipGram(corpus.sentences, { dim: 100, threads: 2 });
 * stats.wordsPerSecond; // raw corpus words × epochs / training seconds
 * ```
 * @module
 */
import { Progress, type ProgressSink } from "../cli/progress.ts";
import { Rng } from "../io/rng.ts";
import { instantiatePairKernel, type PairKernel, simdSupported } from "./skipgram_simd.ts";
import { makeWordVectors, type WordVectors } from "./vectors.ts";
import { EXP_TABLE_SIZE, MAX_EXP, sigmoidTable } from "./sigmoid_table.ts";

export { EXP_TABLE_SIZE, MAX_EXP, sigmoidTable } from "./sigmoid_table.ts";

/** Longest sentence (after subsampling) handled at once; longer ones are cut, as word2vec.c. */
export const MAX_SENTENCE_LENGTH = 1000;
/** Words a worker trains between progress/learning-rate updates. */
export const REPORT_WORDS = 10_000;

/** Hyperparameters of {@link trainSkipGram}. */
export interface SkipGramOptions {
  /** Vector length. */
  dim: number;
  /** Max context distance; each position draws its own window in `1..window`. */
  window: number;
  /** Negative samples per positive pair. */
  negative: number;
  /** Words rarer than this are dropped. */
  minCount: number;
  /** Subsampling threshold (word2vec `-sample`); 0 disables. */
  sample: number;
  /** Passes over the corpus. */
  epochs: number;
  /** Starting learning rate. */
  alpha: number;
  /** Hogwild workers; 1 trains in-process and deterministically. */
  threads: number;
  /** Seed for initial weights and each worker's random stream (worker i uses seed + i). */
  seed: number;
  /** Negative table entries (word2vec.c uses 1e8; default min(1e8, max(1e6, 200·vocab))). */
  tableSize?: number;
  /** Turn the progress bar off. */
  quiet?: boolean;
  /** The run whose log gets a progress line about once a minute. */
  run?: ProgressSink;
  /** Use the Wasm SIMD kernel (default: when supported); false forces the JS kernel. */
  simd?: boolean;
}

/** Defaults for the optional knobs of {@link SkipGramOptions}. */
export const SKIPGRAM_DEFAULTS: SkipGramOptions = {
  dim: 100,
  window: 5,
  negative: 5,
  minCount: 5,
  sample: 1e-3,
  epochs: 5,
  alpha: 0.025,
  threads: 2,
  seed: 1,
};

/** A frequency-sorted vocabulary. */
export interface Vocab {
  /** Words, most frequent first (ties by code-unit order). */
  words: string[];
  /** Corpus count of each word. */
  counts: Float64Array;
  /** word → id. */
  index: Map<string, number>;
  /** Sum of counts (tokens kept for training). */
  totalWords: number;
}

/** Training statistics. */
export interface SkipGramStats {
  vocabSize: number;
  /** In-vocabulary corpus tokens per epoch. */
  trainWords: number;
  /** Wall-clock seconds of the training loop (vocabulary and encoding excluded). */
  trainSeconds: number;
  /** `trainWords × epochs / trainSeconds`: raw words read per second, as word2vec.c counts. */
  wordsPerSecond: number;
  threads: number;
  /** `wasm-simd` or `js` (fallback). */
  kernel: string;
}

/**
 * Counts words and keeps those seen at least `minCount` times, most frequent first.
 *
 * @example
 * ```ts
 * buildVocab([["a", "b", "a"]], 2).words; // ["a"]
 * ```
 */
export function buildVocab(sentences: Iterable<string[]>, minCount: number): Vocab {
  const counts = new Map<string, number>();
  for (const s of sentences) for (const w of s) counts.set(w, (counts.get(w) ?? 0) + 1);
  const kept = [...counts.entries()].filter(([, c]) => c >= minCount);
  kept.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const words = kept.map(([w]) => w);
  const countArr = Float64Array.from(kept.map(([, c]) => c));
  return {
    words,
    counts: countArr,
    index: new Map(words.map((w, i) => [w, i])),
    totalWords: countArr.reduce((s, c) => s + c, 0),
  };
}

/**
 * Encodes sentences as vocabulary ids with `-1` after each sentence; out-of-vocabulary words are
 * dropped (as word2vec.c does when reading). Returns a view on `buffer` if given.
 *
 * @example
 * ```ts
 * const v = buildVocab([["a", "b", "a"]], 1);
 * encodeCorpus([["a", "zzz", "b"]], v); // Int32Array [0, 1, -1]
 * ```
 */
export function encodeCorpus(sentences: string[][], vocab: Vocab): Int32Array {
  let n = 0;
  for (const s of sentences) {
    for (const w of s) if (vocab.index.has(w)) n++;
    n++;
  }
  const out = new Int32Array(new SharedArrayBuffer(n * 4));
  let k = 0;
  for (const s of sentences) {
    for (const w of s) {
      const id = vocab.index.get(w);
      if (id !== undefined) out[k++] = id;
    }
    out[k++] = -1;
  }
  return out;
}

/**
 * word2vec.c's subsampling keep probability per word, as uint32 thresholds (keep when a uniform
 * uint32 < threshold): `p = (sqrt(c / (s·N)) + 1) · s·N / c`, capped at 1.
 *
 * @example
 * ```ts
 * keepThresholds(new Float64Array([1000, 1]), 1001, 1e-3); // frequent word kept less often
 * ```
 */
export function keepThresholds(
  counts: Float64Array,
  totalWords: number,
  sample: number,
): Uint32Array {
  const out = new Uint32Array(new SharedArrayBuffer(Math.max(1, counts.length) * 4));
  for (let i = 0; i < counts.length; i++) {
    const p = sample > 0
      ? (Math.sqrt(counts[i] / (sample * totalWords)) + 1) * (sample * totalWords) / counts[i]
      : 1;
    out[i] = p >= 1 ? 0xffffffff : Math.floor(p * 4294967296);
  }
  return out;
}

/**
 * The unigram^power negative-sampling table: word `i` fills a share `c_i^p / Σ c^p` of it.
 *
 * @example
 * ```ts
 * negativeTable(new Float64Array([9, 1]), 100); // ~84 zeros then ~16 ones (9^.75 : 1)
 * ```
 */
export function negativeTable(counts: Float64Array, size: number, power = 0.75): Int32Array {
  const table = new Int32Array(new SharedArrayBuffer(size * 4));
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += Math.pow(counts[i], power);
  let i = 0;
  let cum = Math.pow(counts[0], power) / total;
  for (let a = 0; a < size; a++) {
    table[a] = i;
    if (a / size > cum && i < counts.length - 1) {
      i++;
      cum += Math.pow(counts[i], power) / total;
    }
  }
  return table;
}

/** Everything a training slice needs; all arrays live on SharedArrayBuffers. */
export interface KernelState {
  dim: number;
  /** Floats per weight row: `dim` rounded up to a multiple of 4 (SIMD lanes); padding stays 0. */
  rowFloats: number;
  window: number;
  negative: number;
  epochs: number;
  alpha: number;
  /** In-vocabulary tokens per epoch (for the learning-rate schedule). */
  trainWords: number;
  /** Shared Wasm memory holding the sigmoid table, per-worker scratch and both weight matrices;
   * null when the JS kernel is used. */
  memory: WebAssembly.Memory | null;
  /** Byte offsets into `memory`: sigmoid table, worker scratch (stride), syn0, syn1. */
  expBytes: number;
  scratchBytes: number;
  scratchStrideBytes: number;
  /** Input vectors, `vocab × rowFloats`. */
  syn0: Float32Array;
  /** Output (negative-sampling) vectors, `vocab × rowFloats`. */
  syn1: Float32Array;
  /** Encoded corpus, `-1` between sentences. */
  corpus: Int32Array;
  table: Int32Array;
  keep: Uint32Array;
  /** `[0]`: words read so far by all workers together. */
  progress: Int32Array;
}

/**
 * xorshift32 seed from an integer: never zero.
 *
 * @example
 * ```ts
 * workerSeed(1, 0) !== 0; // true
 * ```
 */
export function workerSeed(seed: number, id: number): number {
  const s = new Rng((seed + id) >>> 0).nextUint32() | 0;
  return s === 0 ? 0x2545f491 : s;
}

/**
 * Trains on `corpus[start, end)` for `state.epochs` passes, as worker `workerId` (which picks its
 * scratch area). Subsampling, windows and negatives are drawn here with an inline xorshift32;
 * each (context, center) pair's update runs in the SIMD kernel (or the JS fallback). Calls
 * `onReport(words)` every {@link REPORT_WORDS} words read; the learning rate follows the shared
 * counter so all workers decay together.
 *
 * @example
 * ```ts
 * trainRange(state, 0, state.corpus.length, workerSeed(1, 0), 0);
 * ```
 */
export function trainRange(
  state: KernelState,
  start: number,
  end: number,
  seed: number,
  workerId: number,
  onReport?: (wordsRead: number) => void,
): void {
  const { window, negative, corpus, table, keep, progress, memory } = state;
  const tableSize = table.length;
  const startAlpha = state.alpha;
  const totalWords = state.epochs * state.trainWords + 1;
  const rowBytes = state.rowFloats * 4;
  const syn0Bytes = state.syn0.byteOffset;
  const syn1Bytes = state.syn1.byteOffset;
  const scratch = state.scratchBytes + workerId * state.scratchStrideBytes;
  const neuBytes = scratch + _roundUp((negative + 1) * 4, 16);
  const targets = memory
    ? new Int32Array(memory.buffer, scratch, negative + 1)
    : new Int32Array(negative + 1);
  const pair = memory ? instantiatePairKernel(memory) : _jsPairKernel(state, targets);
  const sen = new Int32Array(MAX_SENTENCE_LENGTH);
  let r = seed | 0;
  let alpha = startAlpha;
  let sinceReport = 0;
  for (let epoch = 0; epoch < state.epochs; epoch++) {
    let pos = start;
    while (pos < end) {
      let len = 0;
      while (pos < end) {
        const w = corpus[pos++];
        if (w < 0) break;
        sinceReport++;
        const k = keep[w];
        if (k !== 0xffffffff) {
          r ^= r << 13;
          r ^= r >>> 17;
          r ^= r << 5;
          if ((r >>> 0) >= k) continue;
        }
        sen[len++] = w;
        if (len === MAX_SENTENCE_LENGTH) break;
      }
      if (sinceReport >= REPORT_WORDS) {
        const done = Atomics.add(progress, 0, sinceReport) + sinceReport;
        onReport?.(sinceReport);
        sinceReport = 0;
        alpha = Math.max(startAlpha * (1 - done / totalWords), startAlpha * 1e-4);
      }
      for (let i = 0; i < len; i++) {
        const word = sen[i];
        const wordBytes = syn1Bytes + word * rowBytes;
        r ^= r << 13;
        r ^= r >>> 17;
        r ^= r << 5;
        const b = (r >>> 0) % window;
        const lo = i - window + b < 0 ? 0 : i - window + b;
        const hi = i + window - b >= len ? len - 1 : i + window - b;
        for (let c = lo; c <= hi; c++) {
          if (c === i) continue;
          targets[0] = wordBytes;
          let n = 1;
          for (let d = 0; d < negative; d++) {
            r ^= r << 13;
            r ^= r >>> 17;
            r ^= r << 5;
            const target = table[(r >>> 0) % tableSize];
            if (target !== word) targets[n++] = syn1Bytes + target * rowBytes;
          }
          pair(
            syn0Bytes + sen[c] * rowBytes,
            scratch,
            n,
            alpha,
            neuBytes,
            rowBytes,
            state.expBytes,
          );
        }
      }
    }
  }
  if (sinceReport > 0) {
    Atomics.add(progress, 0, sinceReport);
    onReport?.(sinceReport);
  }
}

function _roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/**
 * The same update as the SIMD kernel in plain JS, over `state.syn0`/`syn1` (byte offsets are
 * relative to their buffers). Used where Wasm SIMD is unavailable or memory would exceed 4 GiB.
 */
function _jsPairKernel(state: KernelState, targets: Int32Array): PairKernel {
  const { syn0, syn1, rowFloats } = state;
  const exp = sigmoidTable();
  const expScale = EXP_TABLE_SIZE / MAX_EXP / 2;
  const neu1e = new Float32Array(rowFloats);
  const base0 = syn0.byteOffset, base1 = syn1.byteOffset;
  return (l1Bytes: number, _targets: number, n: number, alpha: number) => {
    const l1 = (l1Bytes - base0) >> 2;
    neu1e.fill(0);
    for (let k = 0; k < n; k++) {
      const l2 = (targets[k] - base1) >> 2;
      let f = 0;
      for (let j = 0; j < rowFloats; j++) f += syn0[l1 + j] * syn1[l2 + j];
      const label = k === 0 ? 1 : 0;
      let g;
      if (f > MAX_EXP) g = (label - 1) * alpha;
      else if (f < -MAX_EXP) g = label * alpha;
      else g = (label - exp[((f + MAX_EXP) * expScale) | 0]) * alpha;
      for (let j = 0; j < rowFloats; j++) {
        neu1e[j] += g * syn1[l2 + j];
        syn1[l2 + j] += g * syn0[l1 + j];
      }
    }
    for (let j = 0; j < rowFloats; j++) syn0[l1 + j] += neu1e[j];
  };
}

/**
 * Splits `[0, corpus.length)` into `parts` ranges that end on sentence boundaries.
 *
 * @example
 * ```ts
 * sliceCorpus(new Int32Array([0, -1, 1, -1]), 2); // [[0, 2], [2, 4]]
 * ```
 */
export function sliceCorpus(corpus: Int32Array, parts: number): [number, number][] {
  const out: [number, number][] = [];
  let start = 0;
  for (let p = 1; p <= parts; p++) {
    let end = p === parts ? corpus.length : Math.floor(corpus.length * p / parts);
    while (end < corpus.length && end > 0 && corpus[end - 1] !== -1) end++;
    if (end < start) end = start;
    out.push([start, end]);
    start = end;
  }
  return out;
}

/**
 * Lays out the shared state: sigmoid table, per-worker scratch, then `syn0` and `syn1neg` in one
 * shared Wasm memory when SIMD is available and it fits in 4 GiB, else in plain SABs.
 * `syn0` starts uniform in ±0.5/dim (word2vec.c), `syn1neg` at zero.
 */
function _allocWeights(vocabSize: number, o: SkipGramOptions, useSimd: boolean) {
  const rowFloats = _roundUp(o.dim, 4);
  const scratchStrideBytes = _roundUp((o.negative + 1) * 4, 16) + rowFloats * 4;
  const expBytes = 0;
  const scratchBytes = _roundUp(EXP_TABLE_SIZE * 4, 16);
  const syn0Bytes = scratchBytes + o.threads * scratchStrideBytes;
  const matrixBytes = vocabSize * rowFloats * 4;
  const pages = Math.ceil((syn0Bytes + 2 * matrixBytes) / 65536);
  let memory: WebAssembly.Memory | null = null;
  let buffer: SharedArrayBuffer;
  if (useSimd && pages <= 65536) {
    memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    buffer = memory.buffer as SharedArrayBuffer;
    new Float32Array(buffer, expBytes, EXP_TABLE_SIZE).set(sigmoidTable());
  } else {
    buffer = new SharedArrayBuffer(syn0Bytes + 2 * matrixBytes);
  }
  const syn0 = new Float32Array(buffer, syn0Bytes, vocabSize * rowFloats);
  const syn1 = new Float32Array(buffer, syn0Bytes + matrixBytes, vocabSize * rowFloats);
  const rng = new Rng(o.seed);
  for (let w = 0; w < vocabSize; w++) {
    for (let j = 0; j < o.dim; j++) syn0[w * rowFloats + j] = (rng.next() - 0.5) / o.dim;
  }
  return { memory, rowFloats, expBytes, scratchBytes, scratchStrideBytes, syn0, syn1 };
}

/**
 * Trains skip-gram vectors on tokenised sentences. Returns the input vectors (`syn0`) and stats.
 *
 * @example
 * ```ts
 * const { vectors } = await trainSkipGram([["a", "b"], ["b", "a"]], { minCount: 1, threads: 1 });
 * vectors.words; // ["a", "b"]
 * ```
 */
export async function trainSkipGram(
  sentences: string[][],
  options: Partial<SkipGramOptions> = {},
): Promise<{ vectors: WordVectors; vocab: Vocab; stats: SkipGramStats }> {
  const o = { ...SKIPGRAM_DEFAULTS, ...options };
  for (const k of ["dim", "window", "negative", "epochs", "threads", "minCount"] as const) {
    if (!Number.isInteger(o[k]) || o[k] < (k === "negative" ? 0 : 1)) {
      throw new RangeError(`skip-gram ${k} must be a positive integer, got ${o[k]}`);
    }
  }
  if (!(o.alpha > 0)) throw new RangeError(`skip-gram alpha must be > 0, got ${o.alpha}`);
  if (!(o.sample >= 0)) throw new RangeError(`skip-gram sample must be >= 0, got ${o.sample}`);
  const vocab = buildVocab(sentences, o.minCount);
  if (vocab.words.length === 0) {
    throw new Error(`no word occurs at least ${o.minCount} times (min-count); corpus too small?`);
  }
  const corpus = encodeCorpus(sentences, vocab);
  const size = o.tableSize ?? Math.min(1e8, Math.max(1e6, 200 * vocab.words.length));
  const weights = _allocWeights(vocab.words.length, o, o.simd ?? simdSupported());
  const state: KernelState = {
    ...weights,
    dim: o.dim,
    window: o.window,
    negative: o.negative,
    epochs: o.epochs,
    alpha: o.alpha,
    trainWords: vocab.totalWords,
    corpus,
    table: negativeTable(vocab.counts, size),
    keep: keepThresholds(vocab.counts, vocab.totalWords, o.sample),
    progress: new Int32Array(new SharedArrayBuffer(4)),
  };
  const totalWords = vocab.totalWords * o.epochs;
  const bar = new Progress("skip-gram", totalWords, { unit: "words", quiet: o.quiet, run: o.run });
  const t0 = performance.now();
  if (o.threads === 1) {
    trainRange(state, 0, corpus.length, workerSeed(o.seed, 0), 0, (n) => bar.tick(n));
  } else {
    await _trainWorkers(state, o.threads, o.seed, bar);
  }
  const trainSeconds = (performance.now() - t0) / 1000;
  bar.done();
  const data = new Float32Array(vocab.words.length * o.dim);
  for (let w = 0; w < vocab.words.length; w++) {
    data.set(state.syn0.subarray(w * state.rowFloats, w * state.rowFloats + o.dim), w * o.dim);
  }
  const vectors = makeWordVectors(vocab.words, o.dim, data);
  return {
    vectors,
    vocab,
    stats: {
      vocabSize: vocab.words.length,
      trainWords: vocab.totalWords,
      trainSeconds,
      wordsPerSecond: totalWords / trainSeconds,
      threads: o.threads,
      kernel: state.memory ? "wasm-simd" : "js",
    },
  };
}

/** Runs one worker per slice and waits for all; the bar follows the shared counter. */
async function _trainWorkers(state: KernelState, threads: number, seed: number, bar: Progress) {
  const slices = sliceCorpus(state.corpus, threads);
  const workers: Worker[] = [];
  let shown = 0;
  const timer = setInterval(() => {
    const now = Atomics.load(state.progress, 0);
    bar.tick(now - shown);
    shown = now;
  }, 200);
  try {
    await Promise.all(slices.map(([start, end], id) =>
      new Promise<void>((resolve, reject) => {
        const worker = new Worker(new URL("./skipgram_worker.ts", import.meta.url).href, {
          type: "module",
        });
        workers.push(worker);
        worker.onmessage = (e: MessageEvent) => {
          if (e.data?.error) reject(new Error(`skip-gram worker ${id}: ${e.data.error}`));
          else resolve();
        };
        worker.onerror = (e) => {
          e.preventDefault();
          reject(new Error(`skip-gram worker ${id}: ${e.message}`));
        };
        worker.postMessage({ state, start, end, seed: workerSeed(seed, id), workerId: id });
      })
    ));
  } finally {
    clearInterval(timer);
    for (const w of workers) w.terminate();
  }
  bar.tick(Atomics.load(state.progress, 0) - shown);
}
