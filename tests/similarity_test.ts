import assert from "node:assert/strict";
import { join } from "node:path";
import {
  evaluateSimilarity,
  evaluateSimilarityFiles,
  findSimilarityFiles,
  nearest,
  parseSimilarity,
  rankAverage,
  spearman,
} from "../lib/text/similarity.ts";
import { makeWordVectors } from "../lib/text/vectors.ts";

const close = (a: number, b: number, eps = 1e-12) =>
  assert.ok(Math.abs(a - b) < eps, `${a} is not within ${eps} of ${b}`);

Deno.test("rankAverage averages tied ranks", () => {
  assert.deepEqual([...rankAverage([10, 20, 20, 30])], [1, 2.5, 2.5, 4]);
  assert.deepEqual([...rankAverage([3, 1, 2])], [3, 1, 2]);
  assert.deepEqual([...rankAverage([7, 7, 7])], [2, 2, 2]);
});

Deno.test("spearman matches hand-computed values, ties included", () => {
  close(spearman([1, 2, 3], [10, 20, 30]), 1);
  close(spearman([1, 2, 3], [3, 2, 1]), -1);
  // y ranks [1, 2, 3.5, 5, 3.5]: Σdxdy = 8, Σdx² = 10, Σdy² = 9.5 → 8 / √95.
  close(spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]), 8 / Math.sqrt(95));
  // Monotone transforms do not change ρ.
  close(spearman([0.1, 0.5, 0.2, 0.9], [1, 25, 4, 81]), 1);
  assert.ok(Number.isNaN(spearman([1], [2])));
  assert.ok(Number.isNaN(spearman([1, 1, 1], [1, 2, 3])));
  assert.throws(() => spearman([1, 2], [1]), /2 vs 1/);
});

Deno.test("parseSimilarity skips comments, blank lines and a header; tabs or spaces", () => {
  const text =
    "# WS-353 sample\nWord 1\tWord 2\tHuman (mean)\n\ntiger\tcat\t7.35\nbook paper  7.46\n";
  assert.deepEqual(parseSimilarity(text, "x.txt"), [
    { a: "tiger", b: "cat", score: 7.35 },
    { a: "book", b: "paper", score: 7.46 },
  ]);
});

Deno.test("parseSimilarity names the file and line of a bad row", () => {
  assert.throws(
    () => parseSimilarity("a b 1\nc d\ne f 2\n", "sim.txt"),
    /sim\.txt:2: expected 'word1 word2 score'/,
  );
  assert.throws(() => parseSimilarity("a b 1\nc d x\n", "s.txt"), /s\.txt:2:/);
  assert.throws(() => parseSimilarity("a b 1 2\n", "t.txt"), /t\.txt:1:/);
});

function toyVectors() {
  // cat≈dog, car far away; "Paris" tests the lowercase fallback.
  return makeWordVectors(
    ["cat", "dog", "car", "paris"],
    2,
    new Float32Array([1, 0, 0.9, 0.1, 0, 1, 0.7, 0.7]),
  );
}

Deno.test("evaluateSimilarity reports rho and coverage over covered pairs", () => {
  const v = toyVectors();
  const r = evaluateSimilarity(v, [
    { a: "cat", b: "dog", score: 9 },
    { a: "cat", b: "car", score: 1 },
    { a: "dog", b: "Paris", score: 5 },
    { a: "cat", b: "unicorn", score: 4 },
  ]);
  assert.equal(r.covered, 3);
  assert.equal(r.total, 4);
  close(r.coverage, 0.75);
  close(r.rho, 1);
});

Deno.test("nearest returns the k most cosine-similar other words", () => {
  const v = toyVectors();
  const n = nearest(v, "cat", 2);
  assert.deepEqual(n.map((x) => x.word), ["dog", "paris"]);
  assert.ok(n[0].cosine > n[1].cosine);
  assert.deepEqual(nearest(v, "unicorn", 3), []);
});

Deno.test("evaluateSimilarityFiles and findSimilarityFiles read real files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "EN-TOY.txt"), "cat dog 9\ncat car 1\ndog car 2\n");
    const files = await findSimilarityFiles([join(dir, "missing"), dir]);
    assert.deepEqual(files, [`${dir}/EN-TOY.txt`]);
    const r = await evaluateSimilarityFiles(toyVectors(), files);
    assert.equal(r["EN-TOY"].covered, 3);
    await assert.rejects(
      () => evaluateSimilarityFiles(toyVectors(), [join(dir, "nope.txt")]),
      /nope\.txt: cannot read/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
