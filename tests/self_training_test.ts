import assert from "node:assert/strict";
import { selfTrainedArgmax } from "../lib/zeroshot/self_training.ts";
import { classificationReport, nearestLabel, standardizedRows } from "../lib/zeroshot/eval.ts";
import { tenWayAccuracy } from "../lib/pipeline/zeroshot.ts";
import { Rng } from "../lib/io/rng.ts";

// n images in C tight clusters of `dim`-D features (plus an offset the centring removes), and
// scores that favour the true class of only half of them: noise plus a bonus for one class.
function clusteredSet(n: number, C: number, dim: number, seed: number) {
  const rng = new Rng(seed);
  const centres = Float32Array.from({ length: C * dim }, () => rng.normal());
  const labels = new Int32Array(n), features = new Float32Array(n * dim);
  const scores = new Float32Array(n * C);
  for (let i = 0; i < n; i++) {
    const y = labels[i] = i % C;
    for (let j = 0; j < dim; j++) {
      features[i * dim + j] = 5 + centres[y * dim + j] + 0.3 * rng.normal();
    }
    for (let c = 0; c < C; c++) scores[i * C + c] = 0.4 * rng.normal();
    // The true class on half the images, a random wrong one on the rest.
    const wrong = (y + 1 + Math.floor(rng.next() * (C - 1))) % C;
    scores[i * C + (rng.next() < 0.5 ? y : wrong)] += 1;
  }
  return { labels, features, scores };
}

Deno.test("selfTrainedArgmax: the images' clusters correct scores that are right half the time", () => {
  const C = 4, n = 400;
  const { labels, features, scores } = clusteredSet(n, C, 16, 7);
  const base = classificationReport(labels, nearestLabel(scores, C, eye(C)), C).meanAccuracy;
  const pick = selfTrainedArgmax(features, 16, scores, C);
  const refined = classificationReport(labels, pick, C).meanAccuracy;
  assert.ok(base < 0.7, `the seed scores are weak (${base})`);
  assert.ok(refined > 0.95, `self-trained ${refined} against ${base}`);
  // No rounds: the prior alone, i.e. each row's argmax.
  assert.deepEqual(
    Array.from(selfTrainedArgmax(features, 16, scores, C, 0)),
    Array.from(nearestLabel(scores, C, eye(C))),
  );
});

Deno.test("selfTrainedArgmax: a class the scores never pick is seeded by its best-ranked image", () => {
  const C = 3, n = 60, dim = 6;
  const { labels, features, scores } = clusteredSet(n, C, dim, 11);
  // Class 2 never wins, but ranks highest (after standardising) on one of its own images.
  for (let i = 0; i < n; i++) scores[i * C + 2] = -5 + (i === 2 ? 4.9 : 0);
  assert.ok(!nearestLabel(scores, C, eye(C)).includes(2));
  const pick = selfTrainedArgmax(features, dim, scores, C);
  const perClass = classificationReport(labels, pick, C).perClassAccuracy;
  assert.ok(perClass[2] > 0.9, `${perClass}`);
});

Deno.test("selfTrainedArgmax: the documented two-cluster case, and clear errors on bad shapes", () => {
  const x = Float32Array.of(1, 0, 0.9, 0.1, 0, 1, 0.1, 0.9);
  const s = Float32Array.of(0.9, 0.1, 0.45, 0.55, 0.1, 0.9, 0.4, 0.6);
  assert.deepEqual(Array.from(selfTrainedArgmax(x, 2, s, 2)), [0, 0, 1, 1]);
  assert.throws(
    () => selfTrainedArgmax(x, 2, s.subarray(0, 6), 2),
    /8 features are not rows of 2 matching 6 scores of 2 classes/,
  );
  assert.throws(() => selfTrainedArgmax(x, 3, s, 2), /8 features are not rows of 3/);
});

Deno.test("standardizedRows: mean 0 and unit deviation per row; a constant row is zeros", () => {
  const z = standardizedRows(Float32Array.of(1, 2, 3, 5, 5, 5), 2, 3);
  const r = Math.sqrt(1.5);
  assert.deepEqual(
    Array.from(z).map((v) => Math.round(v * 1e6) / 1e6),
    [
      -r,
      0,
      r,
      0,
      0,
      0,
    ].map((v) => Math.round(v * 1e6) / 1e6),
  );
});

Deno.test("tenWayAccuracy: ', self-trained' rows only when asked, for embeddings and score sets", () => {
  const C = 3, n = 90, dim = 8;
  const { labels, features, scores } = clusteredSet(n, C, dim, 3);
  const set = { labels, classNames: ["a", "b", "c"] };
  const cfg = { cslsK: 0, cslsWeight: 1 };
  // Embeddings equal to the scores, against one-hot label vectors: the same cosine ranking.
  const plain = tenWayAccuracy({ DeViSE: scores }, C, set, eye(C), eye(C), {
    ...cfg,
    scoreSets: { "visual prototypes": [scores] },
  });
  assert.deepEqual(Object.keys(plain), ["DeViSE", "visual prototypes"]);
  const both = tenWayAccuracy({ DeViSE: scores }, C, set, eye(C), eye(C), {
    ...cfg,
    scoreSets: { "visual prototypes": [scores] },
    selfTrained: { features, dim, methods: ["DeViSE", "visual prototypes"] },
  });
  assert.deepEqual(Object.keys(both), [
    "DeViSE",
    "visual prototypes",
    "DeViSE, self-trained",
    "visual prototypes, self-trained",
  ]);
  assert.deepEqual(both.DeViSE, plain.DeViSE);
  assert.ok(both["DeViSE, self-trained"].meanAccuracy > plain.DeViSE.meanAccuracy + 0.2);
  assert.throws(
    () =>
      tenWayAccuracy({ DeViSE: scores }, C, set, eye(C), eye(C), {
        ...cfg,
        selfTrained: { features, dim, methods: ["ConSE"] },
      }),
    /no method ConSE to self-train/,
  );
});

function eye(C: number): Float32Array {
  const m = new Float32Array(C * C);
  for (let c = 0; c < C; c++) m[c * C + c] = 1;
  return m;
}
