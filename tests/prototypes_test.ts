import assert from "node:assert/strict";
import {
  classMeans,
  fitPrototypeMap,
  predictPrototypes,
  PROTOTYPE_LAMBDAS,
  prototypeFeatureRows,
  prototypeReport,
  prototypeScores,
  prototypeSpace,
  prototypeWordRows,
  ridgeLambdaByHeldOutClasses,
  withinClassWhitening,
} from "../lib/zeroshot/prototypes.ts";
import { Rng } from "../lib/io/rng.ts";

const gaussian = (rng: Rng, n: number, scale = 1) =>
  Float32Array.from({ length: n }, () => scale * rng.normal());

/**
 * A world where visual prototypes are exactly linear in the (unit) label vectors: `C` classes
 * with unit label vectors in `D` dims (in ± pairs, so their mean is 0 and centring is exact),
 * prototypes `m + t·B`, and `perClass` images per class scattered around them.
 */
function linearWorld(seed: number, C: number, D: number, F: number, perClass: number, noise = 0.3) {
  const rng = new Rng(seed);
  const labelVectors = new Float32Array(C * D);
  for (let c = 0; c < C; c += 2) {
    const v = gaussian(rng, D);
    const n = Math.hypot(...v);
    for (let j = 0; j < D; j++) {
      labelVectors[c * D + j] = v[j] / n;
      labelVectors[(c + 1) * D + j] = -v[j] / n;
    }
  }
  const B = gaussian(rng, D * F, 3), offset = gaussian(rng, F, 5);
  const prototypeOf = (t: Float32Array) =>
    Float32Array.from({ length: F }, (_, j) => {
      let s = offset[j];
      for (let k = 0; k < D; k++) s += t[k] * B[k * F + j];
      return s;
    });
  const prototypes = new Float32Array(C * F);
  for (let c = 0; c < C; c++) {
    prototypes.set(prototypeOf(labelVectors.subarray(c * D, (c + 1) * D)), c * F);
  }
  const labels = Int32Array.from({ length: C * perClass }, (_, i) => Math.floor(i / perClass));
  const features = Float32Array.from(
    { length: labels.length * F },
    (_, k) => prototypes[labels[Math.floor(k / F)] * F + (k % F)] + noise * rng.normal(),
  );
  return { labelVectors, prototypes, labels, features, B, offset, prototypeOf };
}

Deno.test("classMeans: per-class means of the classes that have rows, bad shapes refused", () => {
  const { classes, means } = classMeans(
    Float32Array.of(1, 10, 3, 30, 7, 70),
    2,
    Int32Array.of(0, 0, 2),
    3,
  );
  assert.deepEqual(classes, [0, 2]);
  assert.deepEqual([...means], [2, 20, 7, 70]);
  assert.throws(
    () => classMeans(Float32Array.of(1, 2, 3), 2, Int32Array.of(0, 1), 2),
    /not 2 rows of 2/,
  );
  assert.throws(
    () => classMeans(Float32Array.of(1, 2), 1, Int32Array.of(0, 5), 2),
    /label 5 outside 0..1/,
  );
});

Deno.test("fitPrototypeMap: recovers a linear label → prototype map and predicts unseen prototypes", () => {
  const D = 4, F = 6, C = 20;
  const w = linearWorld(3, C, D, F, 1);
  const map = fitPrototypeMap(w.labelVectors, D, w.prototypes, F, 1e-6);
  // The centre is the prototypes' mean, which is the offset (the label vectors sum to 0).
  for (let j = 0; j < F; j++) assert.ok(Math.abs(map.center[j] - w.offset[j]) < 1e-4);
  // A label never fitted: its predicted (centred) prototype is t·B.
  const rng = new Rng(9);
  const t = gaussian(rng, D);
  const unit = t.map((v) => v / Math.hypot(...t));
  const predicted = predictPrototypes(map, t); // any norm: predictPrototypes normalises
  const truth = w.prototypeOf(unit);
  for (let j = 0; j < F; j++) {
    assert.ok(Math.abs(predicted[j] + map.center[j] - truth[j]) < 1e-3, `dim ${j}`);
  }
  // Ridge shrinks: a huge λ predicts (nearly) the centre, at a direction that stays meaningful.
  const shrunk = predictPrototypes(fitPrototypeMap(w.labelVectors, D, w.prototypes, F, 1e6), t);
  assert.ok(Math.hypot(...shrunk) < 1e-3 * Math.hypot(...predicted));
  assert.throws(() => fitPrototypeMap(w.labelVectors, D, w.prototypes, F, 0), /λ must be > 0/);
  assert.throws(
    () => fitPrototypeMap(w.labelVectors, D, w.prototypes.subarray(F), F, 1),
    /20 label vectors but 19 prototypes/,
  );
  const zero = w.labelVectors.slice();
  zero.fill(0, 2 * D, 3 * D);
  assert.throws(() => fitPrototypeMap(zero, D, w.prototypes, F, 1), /row 2 is all zeros/);
});

Deno.test("prototypeScores: centred cosines; images of held-out classes find their predicted prototypes", () => {
  const D = 5, F = 8;
  const w = linearWorld(4, 24, D, F, 30, 0.5);
  const seen = [...Array(20).keys()], held = [20, 21, 22, 23];
  const rows = (ids: number[], width: number, data: Float32Array) =>
    Float32Array.from(ids.flatMap((c) => [...data.subarray(c * width, (c + 1) * width)]));
  const map = fitPrototypeMap(
    rows(seen, D, w.labelVectors),
    D,
    rows(seen, F, w.prototypes),
    F,
    0.01,
  );
  const predicted = predictPrototypes(map, rows(held, D, w.labelVectors));
  const images = [...w.labels.keys()].filter((i) => w.labels[i] >= 20);
  const features = rows(images, F, w.features);
  const labels = Int32Array.from(images, (i) => w.labels[i] - 20);
  const scores = prototypeScores(features, map, predicted);
  assert.equal(scores.length, labels.length * 4);
  for (const s of scores) assert.ok(s >= -1 - 1e-6 && s <= 1 + 1e-6);
  assert.ok(prototypeReport(features, labels, map, predicted).meanAccuracy > 0.95);
  // Without the label structure (prototypes shuffled against their labels) it falls toward chance.
  const order = new Rng(5).permutation(20);
  const shuffled = rows([...order], F, w.prototypes);
  const wrong = fitPrototypeMap(rows(seen, D, w.labelVectors), D, shuffled, F, 0.01);
  const wrongAccuracy = prototypeReport(
    features,
    labels,
    wrong,
    predictPrototypes(wrong, rows(held, D, w.labelVectors)),
  );
  assert.ok(wrongAccuracy.meanAccuracy < 0.7, `${wrongAccuracy.meanAccuracy}`);
  assert.throws(() => prototypeScores(Float32Array.of(1, 2, 3), map, predicted), /not rows of 8/);
});

Deno.test("ridgeLambdaByHeldOutClasses: picks the best λ on held-out classes, deterministically", () => {
  const D = 6, F = 10;
  const w = linearWorld(6, 40, D, F, 10, 0.8);
  const data = {
    labelVectors: w.labelVectors,
    wordDim: D,
    prototypes: w.prototypes,
    featureDim: F,
    features: w.features,
    labels: w.labels,
  };
  const a = ridgeLambdaByHeldOutClasses(data, { folds: 5, seed: 1 });
  assert.deepEqual(a.byLambda.map((r) => r.lambda), [...PROTOTYPE_LAMBDAS]);
  const best = Math.max(...a.byLambda.map((r) => r.meanAccuracy));
  assert.equal(a.byLambda.find((r) => r.lambda === a.lambda)!.meanAccuracy, best);
  assert.ok(best > 0.8, `${best}`); // 8 classes per fold, chance 0.125
  // The structure is exactly linear: heavy shrinkage can only lose.
  assert.ok(a.lambda < 30);
  assert.deepEqual(ridgeLambdaByHeldOutClasses(data, { folds: 5, seed: 1 }), a);
  assert.equal(a.selfTrainedAccuracy, undefined);
  // Self-trained at the chosen λ: the same choice, one more figure. Heavy shrinkage (λ 30)
  // blurs the predicted prototypes of tight clusters; the clusters' own means recover images.
  const tight = { ...data, ...linearWorld(6, 40, D, F, 10, 0.3) };
  const plain = ridgeLambdaByHeldOutClasses(tight, { folds: 5, seed: 1, lambdas: [30] });
  const st = ridgeLambdaByHeldOutClasses(tight, {
    folds: 5,
    seed: 1,
    lambdas: [30],
    selfTrain: true,
  });
  assert.deepEqual({ ...st, selfTrainedAccuracy: undefined }, {
    ...plain,
    selfTrainedAccuracy: undefined,
  });
  assert.ok(
    st.selfTrainedAccuracy! > plain.byLambda[0].meanAccuracy + 0.01,
    `${st.selfTrainedAccuracy} against ${plain.byLambda[0].meanAccuracy}`,
  );
  // Images whose labels are not prototype rows are skipped; a fold with no images is left out.
  // Here only the first fold's classes (as the seeded split draws them) have images.
  const order = new Rng(1).permutation(40);
  const firstFold = new Set([...order].filter((_, r) => r % 2 === 0));
  const partial = { ...data, labels: w.labels.map((y) => (firstFold.has(y) ? y : -1)) };
  const p = ridgeLambdaByHeldOutClasses(partial, { folds: 2, seed: 1, lambdas: [0.1, 1] });
  assert.equal(p.byLambda.length, 2);
  for (const r of p.byLambda) {
    assert.ok(r.meanAccuracy > 0.5 && r.meanAccuracy <= 1, `${r.meanAccuracy}`);
  }
  assert.throws(
    () =>
      ridgeLambdaByHeldOutClasses({ ...data, labels: w.labels.map(() => -1) }, {
        folds: 2,
        seed: 1,
      }),
    /no images of any held-out class/,
  );
  assert.throws(
    () => ridgeLambdaByHeldOutClasses(data, { folds: 30, seed: 1 }),
    /30 folds of 40 classes/,
  );
});

Deno.test("withinClassWhitening: residuals come out with identity covariance; it rescues correlated noise", () => {
  const rng = new Rng(11);
  const F = 3, C = 3, perClass = 3000;
  // Three classes 120° apart in dims 0-1; dim 0 carries a large noise that dim 2 repeats, so
  // only a whitened view (dim 0 less dim 2) sees the class means clearly.
  const dirs = [[1, 0], [-0.5, Math.sqrt(3) / 2], [-0.5, -Math.sqrt(3) / 2]];
  const means = dirs.map(([a, b]) => [0.5 * a, 0.5 * b, 0]);
  const labels = Int32Array.from({ length: C * perClass }, (_, i) => i % C);
  const features = new Float32Array(labels.length * F);
  for (let i = 0; i < labels.length; i++) {
    const big = 3 * rng.normal();
    const noise = [big + 0.05 * rng.normal(), 0.05 * rng.normal(), big];
    for (let j = 0; j < F; j++) features[i * F + j] = means[labels[i]][j] + noise[j];
  }
  const W = withinClassWhitening(features, F, labels, C, 1e-9);
  // W (x − class mean) has covariance ≈ I.
  const cov = new Float64Array(F * F);
  for (let i = 0; i < labels.length; i++) {
    const z = [0, 1, 2].map((r) =>
      [0, 1, 2].reduce((s, k) => s + W[r * F + k] * (features[i * F + k] - means[labels[i]][k]), 0)
    );
    for (let a = 0; a < F; a++) {
      for (let b = 0; b < F; b++) cov[a * F + b] += z[a] * z[b] / labels.length;
    }
  }
  for (let a = 0; a < F; a++) {
    for (let b = 0; b < F; b++) {
      assert.ok(
        Math.abs(cov[a * F + b] - (a === b ? 1 : 0)) < 0.08,
        `cov[${a}][${b}] = ${cov[a * F + b]}`,
      );
    }
  }
  // The map from the three directions (as 2-D label vectors) to the means is exactly linear.
  const labelVectors = Float32Array.from(dirs.flat());
  const prototypes = Float32Array.from(means.flat());
  const plain = fitPrototypeMap(labelVectors, 2, prototypes, F, 1e-6);
  const whitened = fitPrototypeMap(labelVectors, 2, prototypes, F, 1e-6, W);
  const acc = (map: typeof plain) =>
    prototypeReport(features, labels, map, predictPrototypes(map, labelVectors)).meanAccuracy;
  assert.ok(acc(plain) < 0.8, `${acc(plain)}`);
  assert.ok(acc(whitened) > 0.95, `${acc(whitened)}`);
  assert.throws(
    () => withinClassWhitening(new Float32Array(257 * 2), 257, Int32Array.of(0, 1), 2),
    /at most 256/,
  );
  assert.throws(() => withinClassWhitening(features, F, labels, C, 0), /shrinkage/);
  assert.throws(() => fitPrototypeMap(labelVectors, 2, prototypes, F, 1, W.subarray(1)), /not 3×3/);
});

Deno.test("prototypeSpace: word and image rows in the prototypes' span give prototypeScores' cosines", () => {
  const rng = new Rng(21);
  // F > D (as `act`: rank from the labels) and F < D (as `gap`: rank F), ± whitening.
  for (const [C, D, F] of [[8, 6, 20], [12, 8, 5]]) {
    const w = linearWorld(30 + F, C, D, F, 40);
    const W = withinClassWhitening(w.features, F, w.labels, C);
    for (const whitening of [undefined, W]) {
      const map = fitPrototypeMap(w.labelVectors, D, w.prototypes, F, 0.1, whitening);
      const space = prototypeSpace(map);
      // Prototypes linear in D-dim label vectors span min(D, F) dims (of at most C).
      assert.equal(space.rank, Math.min(C, D, F));
      // The basis is orthonormal.
      for (let a = 0; a < space.rank; a++) {
        for (let b = 0; b < space.rank; b++) {
          let d = 0;
          for (let j = 0; j < F; j++) d += space.basis[a * F + j] * space.basis[b * F + j];
          assert.ok(Math.abs(d - (a === b ? 1 : 0)) < 1e-5, `basis ${a}·${b} = ${d}`);
        }
      }
      const targets = gaussian(rng, 7 * D); // words that are no label
      const words = prototypeWordRows(map, space, targets);
      const images = prototypeFeatureRows(map, space, w.features.subarray(0, 30 * F));
      const exact = prototypeScores(
        w.features.subarray(0, 30 * F),
        map,
        predictPrototypes(map, targets),
      );
      const r = space.rank;
      for (let i = 0; i < 30; i++) {
        // Per image, the span's cosines are the exact ones times one positive factor.
        const cos = Array.from({ length: 7 }, (_, t) => {
          let d = 0, nw = 0, nq = 0;
          for (let j = 0; j < r; j++) {
            d += words[t * r + j] * images[i * r + j];
            nw += words[t * r + j] ** 2;
            nq += images[i * r + j] ** 2;
          }
          return d / Math.sqrt(nw * nq);
        });
        const factor = exact[i * 7] / cos[0];
        assert.ok(factor > 0 && factor <= 1 + 1e-4, `factor ${factor}`);
        for (let t = 0; t < 7; t++) {
          assert.ok(Math.abs(cos[t] * factor - exact[i * 7 + t]) < 1e-4, `image ${i} word ${t}`);
        }
      }
    }
  }
  const map = fitPrototypeMap(Float32Array.of(1, 0, 0, 1), 2, Float32Array.of(1, 2, 3, 4), 2, 1);
  assert.throws(
    () => prototypeWordRows(map, prototypeSpace(map), new Float32Array(3)),
    /rows of 2/,
  );
  assert.throws(
    () => prototypeFeatureRows(map, prototypeSpace(map), new Float32Array(3)),
    /rows of 2/,
  );
  // A zero word vector has no direction: a zero row, not NaN.
  const zero = prototypeWordRows(map, prototypeSpace(map), new Float32Array(2));
  assert.ok(zero.every((v) => v === 0));
});
