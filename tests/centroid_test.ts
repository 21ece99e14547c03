import assert from "node:assert/strict";
import { labelCentroid, meanCosineTo, withLabelCentroid } from "../lib/zeroshot/centroid.ts";
import { embed, trainDevise } from "../lib/devise/train.ts";
import { exactTopKBatch } from "../lib/zeroshot/exact.ts";
import { normalizeRows } from "../lib/text/vectors.ts";
import { Rng } from "../lib/io/rng.ts";

const tf = await import("@tensorflow/tfjs");
await tf.setBackend("cpu");
(tf.backend() as unknown as { firstUse?: boolean }).firstUse = false; // no tfjs-node banner

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let j = 0; j < a.length; j++) s += a[j] * b[j];
  return s;
};

Deno.test("labelCentroid: the unit direction and length of the unit rows' mean", () => {
  const c = labelCentroid(Float32Array.of(2, 0, 0, 3), 2); // rows normalised first
  assert.ok(Math.abs(c.length - Math.SQRT1_2) < 1e-6);
  assert.ok(Math.abs(c.direction[0] - Math.SQRT1_2) < 1e-6);
  assert.ok(Math.abs(c.direction[1] - Math.SQRT1_2) < 1e-6);
  assert.throws(() => labelCentroid(new Float32Array(5), 2), /not rows of 2/);
  assert.throws(() => labelCentroid(new Float32Array(0), 2), /not rows of 2/);
  assert.throws(() => labelCentroid(Float32Array.of(1, 0, -1, 0), 2), /sum to zero/);
});

Deno.test("withLabelCentroid: unit rows at the centroid's cosine, the orthogonal part kept", () => {
  const rng = new Rng(3);
  const D = 6, n = 50;
  const c = labelCentroid(Float32Array.from({ length: 8 * D }, () => rng.normal() + 1), D);
  const e = Float32Array.from({ length: n * D }, () => 3 * rng.normal());
  const out = withLabelCentroid(e, D, c);
  for (let i = 0; i < n; i++) {
    const q = out.subarray(i * D, (i + 1) * D), v = e.subarray(i * D, (i + 1) * D);
    assert.ok(Math.abs(Math.hypot(...q) - 1) < 1e-5, `row ${i} is not unit`);
    assert.ok(Math.abs(dot(q, c.direction) - c.length) < 1e-5, `row ${i}: cosine to c`);
    // The parts orthogonal to c point the same way.
    const perp = (x: ArrayLike<number>) => {
      const a = dot(x, c.direction);
      return Array.from(x, (xj, j) => xj - a * c.direction[j]);
    };
    const p = perp(q), w = perp(v);
    assert.ok(Math.abs(dot(p, w) / (Math.hypot(...p) * Math.hypot(...w)) - 1) < 1e-5, `row ${i}`);
  }
  // An embedding along the centroid alone has no direction of its own: the centroid's.
  const along = withLabelCentroid(c.direction.map((x) => 2 * x), D, c);
  for (let j = 0; j < D; j++) assert.ok(Math.abs(along[j] - c.direction[j]) < 1e-6);
  assert.throws(() => withLabelCentroid(new Float32Array(7), D, c), /not rows of 6/);
  assert.throws(() => withLabelCentroid(new Float32Array(4), 4, c), /centroid has 6 values/);
  assert.throws(() => meanCosineTo(new Float32Array(7), D, c.direction), /not rows of 6/);
  assert.throws(() => meanCosineTo(new Float32Array(8), 4, c.direction), /direction has 6 values/);
});

Deno.test("withLabelCentroid: a trained DeViSE map leaves the shared component out; restoring it finds unseen labels among rare words", async () => {
  const rng = new Rng(11);
  const D = 6, d = 16, C = 8, U = 4, R = 600, perClass = 60;
  // Word vectors that share e0 (concrete nouns: the seen and unseen labels) and rare tokens that
  // do not, as GloVe's label words and its rare tokens do.
  const noun = () => {
    const u = normalizeRows(Float32Array.from({ length: D - 1 }, () => rng.normal()), D - 1);
    return [0.6, ...Array.from(u, (x) => 0.8 * x)];
  };
  const seen = new Float32Array(C * D);
  for (let k = 0; k < C; k++) seen.set(noun(), k * D);
  const unseen = new Float32Array(U * D);
  for (let k = 0; k < U; k++) unseen.set(noun(), k * D);
  const rare = new Float32Array(R * D);
  for (let r = 0; r < R; r++) {
    const u = normalizeRows(Float32Array.from({ length: D - 1 }, () => rng.normal()), D - 1);
    rare.set([0, ...u], r * D);
  }
  // Features: a fixed linear image of the class's word vector, plus noise.
  const A = Float32Array.from({ length: D * d }, () => rng.normal());
  const images = (vectors: Float32Array, classes: number) => {
    const n = classes * perClass;
    const labels = Int32Array.from({ length: n }, (_, i) => i % classes);
    const features = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      for (let a = 0; a < d; a++) {
        let s = 0.2 * rng.normal();
        for (let k = 0; k < D; k++) s += vectors[labels[i] * D + k] * A[k * d + a];
        features[i * d + a] = s;
      }
    }
    return { labels, features };
  };
  const train = images(seen, C), test = images(unseen, U);
  const { model } = await trainDevise(tf, {
    trainFeatures: train.features,
    trainLabels: train.labels,
    labelVectors: seen,
    dims: D,
    epochs: 20,
    batchSize: 32,
    lr: 0.01,
    seed: 2,
  });
  const centroid = labelCentroid(seen, D);
  assert.ok(centroid.length > 0.55, `labels' centroid length ${centroid.length}`);
  const raw = normalizeRows(embed(tf, model, test.features), D);
  const n = test.labels.length;
  const along = meanCosineTo(raw, D, centroid.direction);
  assert.ok(Math.abs(along) < 0.2, `raw embeddings' mean cosine to the centroid ${along}`);
  // The labels themselves carry it: their mean cosine is the centroid's length.
  assert.ok(Math.abs(meanCosineTo(seen, D, centroid.direction) - centroid.length) < 1e-6);

  // Every word is a candidate: the unseen labels first, then the rare tokens.
  const vocab = { dim: D, data: new Float32Array([...unseen, ...rare]) };
  const hitAt5 = (queries: Float32Array) =>
    exactTopKBatch(vocab, queries, 5).filter((r, i) => r.ids.includes(test.labels[i])).length / n;
  const before = hitAt5(raw), after = hitAt5(withLabelCentroid(raw, D, centroid));
  assert.ok(after > 0.9, `hit@5 with the centroid ${after}`);
  assert.ok(after > before + 0.3, `hit@5 ${before} → ${after}`);
});
