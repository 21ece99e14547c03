import assert from "node:assert/strict";
import {
  bestLabelRulePerMap,
  expandedLabelVectors,
  labelExpansionChoiceName,
  labelNeighbours,
} from "../lib/zeroshot/label_expansion.ts";
import { meanOfMaps } from "../lib/pipeline/label_expansion.ts";
import { labelVectors } from "../lib/text/labels.ts";
import { makeWordVectors, normalizeRows } from "../lib/text/vectors.ts";
import { classificationReport, nearestLabel } from "../lib/zeroshot/eval.ts";
import { Rng } from "../lib/io/rng.ts";

const close = (a: ArrayLike<number>, b: ArrayLike<number>, eps = 1e-6) =>
  Array.from(a).every((x, j) => Math.abs(x - b[j]) < eps);

Deno.test("labelNeighbours: nearest words first, every candidate label's tokens left out", () => {
  // "red_fox" is not a token: its vector is the mean of "red" and "fox", both left out.
  const words = makeWordVectors(
    ["fox", "red", "wolf", "dog", "car", "vixen"],
    2,
    Float32Array.of(1, 0, 0.2, 1, 0.95, 0.3, 0.8, 0.6, -1, 0, 0.99, 0.1),
  );
  const labels = labelVectors(words, ["fox", "red_fox"]);
  const near = labelNeighbours(words, labels, 3);
  assert.deepEqual(near[0].map((w) => words.words[w]), ["vixen", "wolf", "dog"]);
  assert.ok(!near[1].some((w) => ["red", "fox"].includes(words.words[w])), String(near[1]));
  assert.equal(near[1].length, 3);
  // A competing candidate is never a neighbour: with wolf a label too, fox is not expanded by it.
  const rivals = labelNeighbours(words, labelVectors(words, ["fox", "wolf"]), 2);
  assert.deepEqual(rivals[0].map((w) => words.words[w]), ["vixen", "dog"]);
  assert.ok(!rivals[1].some((w) => ["fox", "wolf"].includes(words.words[w])));
  assert.throws(() => labelNeighbours(words, labels, -1), /whole number/);
  assert.throws(() => labelNeighbours(words, labels, 1.5), /whole number/);
  assert.throws(() => labelNeighbours(words, labels, 5), /5 neighbours asked of a vocabulary of 6/);
  assert.throws(
    () => labelNeighbours(words, { ...labels, data: new Float32Array(3) }, 1),
    /3 label values are not 2 rows of 2/,
  );
});

Deno.test("expandedLabelVectors: k = 0 is the unit label; k adds its first k neighbours' unit vectors, weighed by the label weight", () => {
  const words = makeWordVectors(["a", "b", "c"], 2, Float32Array.of(3, 0, 0, 2, -4, 0));
  const label = Float32Array.of(2, 2);
  assert.ok(close(expandedLabelVectors(words, label, [[1, 2]], 0), [Math.SQRT1_2, Math.SQRT1_2]));
  // unit(1,1) + unit(0,2) = (0.707, 1.707), then normalised.
  const one = expandedLabelVectors(words, label, [[1, 2]], 1);
  const n = Math.hypot(Math.SQRT1_2, 1 + Math.SQRT1_2);
  assert.ok(close(one, [Math.SQRT1_2 / n, (1 + Math.SQRT1_2) / n]));
  // Label weight 0.5 with k 2: 0.5·unit(1,1) + 0.25·(unit(0,2) + unit(3,0)), then normalised;
  // "equal" is the plain sum of the three unit vectors.
  const half = expandedLabelVectors(words, label, [[1, 0]], 2, 0.5);
  const hx = 0.5 * Math.SQRT1_2 + 0.25, hy = 0.5 * Math.SQRT1_2 + 0.25;
  assert.ok(close(half, [hx / Math.hypot(hx, hy), hy / Math.hypot(hx, hy)]));
  const heavy = expandedLabelVectors(words, label, [[1, 2]], 2, 0.9);
  const equal = expandedLabelVectors(words, label, [[1, 2]], 2);
  // unit(1,1) + unit(0,2) + unit(-4,0) = (0.707 - 1, 0.707 + 1), then normalised
  const ex = Math.SQRT1_2 - 1, ey = Math.SQRT1_2 + 1;
  assert.ok(close(equal, [ex / Math.hypot(ex, ey), ey / Math.hypot(ex, ey)]));
  // a heavier label weight stays nearer the label's own direction
  assert.ok(
    heavy[0] * Math.SQRT1_2 + heavy[1] * Math.SQRT1_2 >
      equal[0] * Math.SQRT1_2 + equal[1] * Math.SQRT1_2,
  );
  assert.ok(close(expandedLabelVectors(words, label, [[1]], 0, 0.5), [Math.SQRT1_2, Math.SQRT1_2]));
  assert.throws(
    () => expandedLabelVectors(words, label, [[1, 2]], 2, 0),
    /labelWeight must be in \(0, 1\]/,
  );
  assert.throws(() => expandedLabelVectors(words, label, [[1, 2]], 2, 1.5), /got 1.5/);
  assert.throws(() => expandedLabelVectors(words, label, [[1]], 2), /k 2 but only 1/);
  assert.throws(() => expandedLabelVectors(words, label, [[1], [2]], 1), /2 neighbour lists for 1/);
});

Deno.test("label expansion: noisy label words, synonyms around each class; expanding lifts 10-way accuracy", () => {
  const rng = new Rng(5);
  const D = 20, C = 10, synonyms = 12, perClass = 40;
  const unit = (v: number[]) => Array.from(normalizeRows(Float32Array.from(v), D));
  const gauss = () => Array.from({ length: D }, () => rng.normal());
  // Each class has a true direction; its label word and its synonyms are noisy copies of it,
  // and images embed near the true direction.
  const truth = Array.from({ length: C }, () => unit(gauss()));
  const noisy = (c: number, s: number) => unit(truth[c].map((x, j) => x + s * gauss()[j]));
  const names: string[] = [], rows: number[][] = [];
  for (let c = 0; c < C; c++) {
    names.push(`label${c}`), rows.push(noisy(c, 0.15));
    for (let s = 0; s < synonyms; s++) names.push(`syn${c}_${s}`), rows.push(noisy(c, 0.15));
  }
  for (let r = 0; r < 300; r++) names.push(`other${r}`), rows.push(unit(gauss()));
  const words = makeWordVectors(names, D, Float32Array.from(rows.flat()));
  const labels = labelVectors(words, truth.map((_, c) => `label${c}`));
  const n = C * perClass;
  const y = Int32Array.from({ length: n }, (_, i) => i % C);
  const embedded = Float32Array.from(
    Array.from(y).flatMap((c) => truth[c].map((x) => x + 0.3 * rng.normal())),
  );
  const accuracy = (targets: Float32Array) =>
    classificationReport(y, nearestLabel(embedded, D, targets), C).meanAccuracy;
  const near = labelNeighbours(words, labels, 10);
  // The neighbours are the class's synonyms, not the other classes' words.
  const ownSynonyms = near.map((ws, c) =>
    ws.filter((w) => words.words[w].startsWith(`syn${c}_`)).length
  );
  assert.ok(ownSynonyms.every((s) => s >= 8), String(ownSynonyms));
  const raw = accuracy(labels.data);
  const expanded = accuracy(expandedLabelVectors(words, labels.data, near, 10));
  assert.ok(raw < 0.85, `raw labels already at ${raw}`);
  assert.ok(expanded > raw + 0.05, `expanded ${expanded} vs raw ${raw}`);
});

Deno.test("meanOfMaps: element-wise mean; one map is itself; mismatched or no maps refused", () => {
  assert.deepEqual(
    meanOfMaps([Float32Array.of(1, 2, 3), Float32Array.of(3, 4, 5), Float32Array.of(2, 0, 1)]),
    Float32Array.of(2, 2, 3),
  );
  const one = Float32Array.of(7, 8);
  assert.equal(meanOfMaps([one]), one);
  assert.throws(() => meanOfMaps([]), /no maps/);
  assert.throws(() => meanOfMaps([one, Float32Array.of(1)]), /a map of 1 values among maps of 2/);
});

Deno.test("bestLabelRulePerMap: each map's best k, maps in first-seen order; names say the map", () => {
  assert.equal(
    labelExpansionChoiceName({ epochs: 5, maps: 5, k: 10, labelWeight: 0.5 }),
    "5 epochs × 5 maps, k 10 w 0.5",
  );
  assert.equal(
    labelExpansionChoiceName({ epochs: 1, maps: 1, k: 0, labelWeight: 0.5 }),
    "1 epoch, k 0",
  );
  assert.equal(labelExpansionChoiceName({ k: 20 }), "k 20"); // a given k: no map chosen
  const grid = [
    { epochs: 20, maps: 1, k: 0, labelWeight: "equal" as const },
    { epochs: 20, maps: 1, k: 10, labelWeight: "equal" as const },
    { epochs: 5, maps: 5, k: 0, labelWeight: "equal" as const },
    { epochs: 5, maps: 5, k: 10, labelWeight: "equal" as const },
  ];
  assert.equal(
    bestLabelRulePerMap(grid, [0.4, 0.45, 0.5, 0.3]),
    "20 epochs, k 10 45.0%; 5 epochs × 5 maps, k 0 50.0%",
  );
  // A tie keeps the earlier candidate (the simpler rule).
  assert.equal(bestLabelRulePerMap(grid.slice(0, 2), [0.4, 0.4]), "20 epochs, k 0 40.0%");
});
