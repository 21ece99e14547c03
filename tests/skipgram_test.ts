import assert from "node:assert/strict";
import { join } from "node:path";
import { Rng } from "../lib/io/rng.ts";
import {
  joinPhrases,
  loadCorpus,
  parseSynsetLine,
  phraseTable,
  synsetSentences,
  tokenize,
  type WordNet,
} from "../lib/text/corpus.ts";
import { detectPhrases, phraseScore } from "../lib/text/phrases.ts";
import { retrofit, wordnetLexicon } from "../lib/text/retrofit.ts";
import { cosineRows } from "../lib/text/similarity.ts";
import {
  buildVocab,
  encodeCorpus,
  keepThresholds,
  negativeTable,
  sigmoidTable,
  sliceCorpus,
  trainSkipGram,
} from "../lib/text/skipgram.ts";
import { simdSupported } from "../lib/text/skipgram_simd.ts";
import { makeWordVectors, type WordVectors } from "../lib/text/vectors.ts";

/** Two topics: sentences use only a0..a9 or only b0..b9. */
function topicCorpus(sentences: number, seed = 7): string[][] {
  const rng = new Rng(seed);
  const out: string[][] = [];
  for (let s = 0; s < sentences; s++) {
    const topic = s % 2 ? "b" : "a";
    out.push(Array.from({ length: 12 }, () => `${topic}${rng.int(10)}`));
  }
  return out;
}

/** Mean cosine within topics minus across topics. */
function topicGap(v: WordVectors): { within: number; across: number } {
  let within = 0, across = 0, nw = 0, na = 0;
  for (let i = 0; i < v.words.length; i++) {
    for (let j = i + 1; j < v.words.length; j++) {
      const c = cosineRows(v, i, j);
      if (v.words[i][0] === v.words[j][0]) (within += c, nw++);
      else (across += c, na++);
    }
  }
  return { within: within / nw, across: across / na };
}

const toyOptions = {
  dim: 16,
  window: 3,
  negative: 4,
  minCount: 1,
  sample: 0,
  epochs: 3,
  alpha: 0.025,
  seed: 3,
  quiet: true,
};

Deno.test("skip-gram learns planted topics (in-process, SIMD kernel when available)", async () => {
  const { vectors, stats } = await trainSkipGram(topicCorpus(1500), { ...toyOptions, threads: 1 });
  assert.equal(stats.vocabSize, 20);
  assert.equal(stats.kernel, simdSupported() ? "wasm-simd" : "js");
  const { within, across } = topicGap(vectors);
  assert.ok(within > across + 0.3, `within ${within} vs across ${across}`);
});

Deno.test("skip-gram JS kernel and 2 Hogwild workers learn the same structure", async () => {
  const js = await trainSkipGram(topicCorpus(1500), { ...toyOptions, threads: 1, simd: false });
  assert.equal(js.stats.kernel, "js");
  const gapJs = topicGap(js.vectors);
  assert.ok(gapJs.within > gapJs.across + 0.3, JSON.stringify(gapJs));
  const par = await trainSkipGram(topicCorpus(1500), { ...toyOptions, threads: 2 });
  assert.equal(par.stats.threads, 2);
  const gapPar = topicGap(par.vectors);
  assert.ok(gapPar.within > gapPar.across + 0.3, JSON.stringify(gapPar));
});

Deno.test("skip-gram with threads=1 is deterministic for a seed", async () => {
  const corpus = topicCorpus(300);
  const a = await trainSkipGram(corpus, { ...toyOptions, threads: 1 });
  const b = await trainSkipGram(corpus, { ...toyOptions, threads: 1 });
  const c = await trainSkipGram(corpus, { ...toyOptions, threads: 1, seed: 4 });
  assert.deepEqual(a.vectors.words, b.vectors.words);
  assert.deepEqual(a.vectors.data, b.vectors.data);
  assert.notDeepEqual(a.vectors.data, c.vectors.data);
});

Deno.test("skip-gram rejects bad options and empty vocabularies", async () => {
  await assert.rejects(() => trainSkipGram([["a"]], { dim: 0, quiet: true }), /dim/);
  await assert.rejects(() => trainSkipGram([["a"]], { alpha: -1, quiet: true }), /alpha/);
  await assert.rejects(() => trainSkipGram([["a"]], { minCount: 5, quiet: true }), /min-count/);
});

Deno.test("vocabulary, encoding and corpus slices", () => {
  const v = buildVocab([["b", "a", "a", "c"], ["a", "b"]], 2);
  assert.deepEqual(v.words, ["a", "b"]);
  assert.deepEqual([...v.counts], [3, 2]);
  assert.equal(v.totalWords, 5);
  const ids = encodeCorpus([["b", "a", "a", "c"], ["a", "b"]], v);
  assert.deepEqual([...ids], [1, 0, 0, -1, 0, 1, -1]);
  assert.deepEqual(sliceCorpus(ids, 2), [[0, 4], [4, 7]]);
  assert.deepEqual(sliceCorpus(new Int32Array([0, -1]), 3).at(-1), [2, 2]);
});

Deno.test("subsampling keeps rare words and thins frequent ones per word2vec.c", () => {
  const counts = new Float64Array([100_000, 10]);
  const total = 100_010;
  const keep = keepThresholds(counts, total, 1e-3);
  assert.equal(keep[1], 0xffffffff);
  const sN = 1e-3 * total;
  const expected = (Math.sqrt(100_000 / sN) + 1) * sN / 100_000;
  assert.ok(Math.abs(keep[0] / 2 ** 32 - expected) < 1e-6);
  assert.equal(keepThresholds(counts, total, 0)[0], 0xffffffff);
});

Deno.test("negative table follows unigram^0.75", () => {
  const table = negativeTable(new Float64Array([81, 16, 1]), 100_000);
  const share = [0, 0, 0];
  for (const w of table) share[w]++;
  const z = 27 + 8 + 1; // 81^.75, 16^.75, 1^.75
  for (const [i, p] of [27 / z, 8 / z, 1 / z].entries()) {
    assert.ok(Math.abs(share[i] / table.length - p) < 1e-3, `word ${i}: ${share[i]}`);
  }
  const sig = sigmoidTable();
  assert.ok(Math.abs(sig[500] - 0.5) < 1e-6 && sig[0] < 0.01 && sig[999] > 0.99);
});

Deno.test("phrase detection joins a planted bigram", () => {
  const rng = new Rng(1);
  const filler = Array.from({ length: 50 }, (_, i) => `w${i}`);
  const sentences: string[][] = [];
  for (let s = 0; s < 400; s++) {
    const sent = Array.from({ length: 8 }, () => filler[rng.int(filler.length)]);
    if (s % 4 === 0) sent.splice(3, 0, "new", "york");
    sentences.push(sent);
  }
  // score(new york) = (100 − 5) / (100·100) × 3400 ≈ 32; random filler bigrams score < 0.
  const r = detectPhrases(sentences, { minCount: 5, threshold: 10, passes: 1 });
  assert.equal(r.phrases[0][0], "new_york");
  assert.ok(r.phrases.every(([p]) => !p.startsWith("w")), JSON.stringify(r.phrases.slice(0, 3)));
  assert.deepEqual(r.sentences[0].slice(3, 4), ["new_york"]);
  assert.equal(phraseScore(20, 25, 30, 1000, 5), 20);
  assert.equal(phraseScore(20, 4, 30, 1000, 5), 0);
  assert.throws(() => detectPhrases(sentences, { passes: 3 }), /1 or 2/);
});

Deno.test("retrofitting pulls a synonym pair closer and leaves others alone", () => {
  const v = makeWordVectors(
    ["car", "automobile", "banana"],
    3,
    new Float32Array([1, 0, 0, 0, 1, 0, 0, 0, 1]),
  );
  const lexicon = new Map([["car", new Set(["automobile"])], [
    "automobile",
    new Set(["car", "unknown"]),
  ]]);
  const before = cosineRows(v, 0, 1);
  const { vectors, updated } = retrofit(v, lexicon, { iterations: 10 });
  assert.equal(updated, 2);
  assert.ok(cosineRows(vectors, 0, 1) > before + 0.5);
  assert.deepEqual([...vectors.data.subarray(6, 9)], [0, 0, 1]);
  assert.deepEqual([...v.data.subarray(0, 3)], [1, 0, 0]); // input untouched
});

Deno.test("WordNet lines parse into synsets, sentences and a lexicon", () => {
  const lines = [
    "04497386 06 n 01 truck 0 001 ~ 03936868 n 0000 | an automotive vehicle",
    "03936868 06 n 02 pickup 0 pickup_truck 0 001 @ 04497386 n 0000 | a light truck; " +
    '"he drove a pickup truck"',
  ];
  const synsets = lines.map((l, i) => parseSynsetLine(l, "data.noun", i + 1));
  assert.deepEqual(synsets[1].lemmas, ["pickup", "pickup_truck"]);
  assert.deepEqual(synsets[1].hypernyms, ["n:04497386"]);
  const wn: WordNet = { synsets, byKey: new Map(synsets.map((s) => [s.key, s])), sha256: {} };
  const sents = synsetSentences(wn, phraseTable(["pickup_truck"]));
  assert.deepEqual(sents[1], [
    "pickup",
    "pickup_truck",
    "truck",
    "a",
    "light",
    "truck",
    "he",
    "drove",
    "a",
    "pickup_truck",
  ]);
  const lex = wordnetLexicon(wn, (w) => w !== "pickup");
  assert.deepEqual([...lex.get("truck")!], ["pickup_truck"]);
  assert.throws(() => parseSynsetLine("xyz 06 n 01 a 0 000 | g", "data.noun", 7), /data\.noun:7/);
  assert.throws(
    () => parseSynsetLine("00000001 06 n 02 a 0 005 | g", "data.verb", 3),
    /data\.verb:3: expected w_cnt/,
  );
});

Deno.test("tokenizer, phrase joiner and user corpus files", async () => {
  assert.deepEqual(tokenize("The cat's X-ray, done."), ["the", "cat", "x-ray", "done"]);
  assert.deepEqual(tokenize("well-known", { keepHyphenated: () => false }), ["well", "known"]);
  assert.deepEqual(joinPhrases(["a", "maple", "tree", "maple"], phraseTable(["maple_tree"])), [
    "a",
    "maple_tree",
    "maple",
  ]);
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "c.txt");
    await Deno.writeTextFile(path, "Hello world.\n\nnew_york is big\n");
    const c = await loadCorpus({ defaultCorpus: false, files: [path] });
    assert.deepEqual(c.sentences, [["hello", "world"], ["new_york", "is", "big"]]);
    assert.equal(c.tokens, 5);
    const again = await loadCorpus({ defaultCorpus: false, files: [path] });
    assert.equal(again.sha256, c.sha256);
    await Deno.writeTextFile(path, "changed\n");
    assert.notEqual((await loadCorpus({ defaultCorpus: false, files: [path] })).sha256, c.sha256);
    await assert.rejects(
      () => loadCorpus({ defaultCorpus: false, files: [join(dir, "none.txt")] }),
      /none\.txt: cannot read corpus file/,
    );
    await assert.rejects(() => loadCorpus({ defaultCorpus: false, files: [] }), /corpus is empty/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
