import assert from "node:assert/strict";
import { tenWayAccuracy } from "../lib/pipeline/zeroshot.ts";
import { candidateRows, parseCandidateSet } from "../lib/zeroshot/candidates.ts";
import {
  balancedAssignment,
  classificationReport,
  confusionSvg,
  conseEmbed,
  cslsPenalty,
  deviseLabelProbs,
  ensembleArgmax,
  labelCosines,
  nearestLabel,
} from "../lib/zeroshot/eval.ts";
import { meanOfDefined } from "../lib/io/stats.ts";
import { labelMappingCeiling, softmaxReadoutCeiling } from "../lib/zeroshot/ceiling.ts";
import { hitAtK, isHit, seenWordSet, topWords } from "../lib/zeroshot/vocab.ts";
import {
  calibrationGamma,
  chooseUnseen,
  generalizedZeroShot,
  harmonicMean,
  seenUnseenCurve,
  unseenBoost,
  visualNeverSaw,
} from "../lib/zeroshot/gzsl.ts";
import type { Neighbors } from "../lib/zeroshot/exact.ts";
import { Rng } from "../lib/io/rng.ts";

const close = (a: number, b: number, eps = 1e-6) =>
  assert.ok(Math.abs(a - b) < eps, `${a} != ${b}`);

Deno.test("ConSE: hand-computed convex combination and nearest target label", () => {
  // Source label vectors s0=[1,0], s1=[0,1], s2=[-1,0]; probabilities 0.5, 0.3, 0.2.
  const source = new Float32Array([1, 0, 0, 1, -1, 0]);
  const probs = new Float32Array([0.5, 0.3, 0.2]);
  const targets = new Float32Array([1, 0, 0, 1, Math.SQRT1_2, Math.SQRT1_2]);
  // T=2: (0.5*s0 + 0.3*s1) / 0.8 = [0.625, 0.375]; cosines to targets 0.857, 0.514, 0.970.
  const e2 = conseEmbed(probs, 3, source, 2, 2);
  close(e2[0], 0.625);
  close(e2[1], 0.375);
  assert.deepEqual([...nearestLabel(e2, 2, targets)], [2]);
  // T=1: just s0 -> target 0. T=3 (and T > C): (0.5 - 0.2, 0.3) / 1 = [0.3, 0.3] -> target 2.
  assert.deepEqual([...conseEmbed(probs, 3, source, 2, 1)], [1, 0]);
  assert.deepEqual([...nearestLabel(conseEmbed(probs, 3, source, 2, 1), 2, targets)], [0]);
  const e3 = conseEmbed(probs, 3, source, 2, 10);
  close(e3[0], 0.3);
  close(e3[1], 0.3);
  assert.throws(() => conseEmbed(probs, 3, new Float32Array(4), 2), /want 3x2/);
});

Deno.test("deviseLabelProbs: softmax of DeViSE's label scores over τ, ConSE's weights", () => {
  // Labels s0=[1,0], s1=[0,1], s2=[-1,0]; embedding e=[0.2, 0.1]: scores 0.2, 0.1, -0.2.
  const source = new Float32Array([1, 0, 0, 1, -1, 0]);
  const e = new Float32Array([0.2, 0.1]);
  const p = deviseLabelProbs(e, 2, source, 0.1);
  const z = Math.exp(0) + Math.exp(-1) + Math.exp(-4);
  close(p[0], 1 / z);
  close(p[1], Math.exp(-1) / z);
  close(p[2], Math.exp(-4) / z);
  // A cold softmax is one-hot: ConSE then returns the top label's vector, whatever e's norm.
  const cold = deviseLabelProbs(e, 2, source, 1e-4);
  assert.deepEqual([...conseEmbed(cold, 3, source, 2, 3)].map((v) => Math.round(v)), [1, 0]);
  // A hot one is uniform: the mean of the top-T labels.
  const hot = conseEmbed(deviseLabelProbs(e, 2, source, 1e6), 3, source, 2, 2);
  close(hot[0], 0.5, 1e-5);
  close(hot[1], 0.5, 1e-5);
  // Huge scores do not overflow (the max is subtracted first).
  const big = deviseLabelProbs(new Float32Array([1e4, 0]), 2, source, 0.01);
  assert.ok(big.every(Number.isFinite));
  close(big[0], 1);
  assert.throws(() => deviseLabelProbs(e, 2, new Float32Array(5), 0.1), /dim 2/);
  assert.throws(() => deviseLabelProbs(e, 2, source, 0), /temperature/);
});

Deno.test("nearestLabel: cosine (not dot), candidates, zero label rows never chosen", () => {
  // Label 0 is long but at 45 degrees; label 1 is short but aligned: cosine picks 1.
  const labels = new Float32Array([10, 10, 0.1, 0, 0, 0]);
  assert.deepEqual([...nearestLabel(new Float32Array([1, 0]), 2, labels)], [1]);
  assert.deepEqual([...nearestLabel(new Float32Array([1, 0]), 2, labels, [0, 2])], [0]);
  assert.deepEqual([...nearestLabel(new Float32Array([-1, -1]), 2, labels, [2])], [-1]);
});

Deno.test("classificationReport: per-class accuracy, confusion, mean; svg", () => {
  const labels = Int32Array.of(0, 0, 1, 1, 1, 2);
  const preds = Int32Array.of(0, 1, 1, 1, 0, 2);
  const r = classificationReport(labels, preds, 4);
  assert.deepEqual(r.confusion, [[1, 1, 0, 0], [1, 2, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]);
  close(r.perClassAccuracy[0], 0.5);
  close(r.perClassAccuracy[1], 2 / 3);
  close(r.perClassAccuracy[2], 1);
  assert.ok(Number.isNaN(r.perClassAccuracy[3]));
  close(r.meanAccuracy, (0.5 + 2 / 3 + 1) / 3);
  close(r.accuracy, 4 / 6);
  // A prediction of -1 (no candidate) is a miss, not a crash.
  close(classificationReport(Int32Array.of(0), Int32Array.of(-1), 2).perClassAccuracy[0], 0);
  assert.throws(() => classificationReport(Int32Array.of(0), Int32Array.of(0, 1), 2), /1 labels/);
  assert.throws(() => classificationReport(Int32Array.of(5), Int32Array.of(0), 2), /outside/);
  const svg = confusionSvg(r, ["a", "b", "c", "d"], "confusion");
  assert.match(svg, /^<svg/);
  assert.match(svg, /confusion/);
});

Deno.test("labelMappingCeiling: majority map per source class, mean per-class accuracy", () => {
  // 3 source classes, 2 target classes. Top-1 sources: 0,0,1 for target 0; 1,2,2 for target 1.
  // Source 1 sees one image of each target: ties go to the lower target id (0).
  const oneHot = (c: number) => [0, 1, 2].map((j) => (j === c ? 0.9 : 0.05));
  const probs = new Float32Array([0, 0, 1, 1, 2, 2].flatMap(oneHot));
  const labels = Int32Array.of(0, 0, 0, 1, 1, 1);
  const { mapping, report } = labelMappingCeiling(probs, 3, labels, 2);
  assert.deepEqual([...mapping], [0, 0, 1]);
  close(report.perClassAccuracy[0], 1);
  close(report.perClassAccuracy[1], 2 / 3);
  close(report.meanAccuracy, 5 / 6);
  assert.throws(() => labelMappingCeiling(probs, 4, labels, 2), /not 6 rows of 4/);
});

Deno.test("softmaxReadoutCeiling: reads what top-1 hides; cross-fit; seeded; bad shape", () => {
  // Every image's top-1 is source 0; the target is which of sources 1 and 2 comes second.
  const rng = new Rng(3);
  const labels = Int32Array.from({ length: 60 }, (_, i) => i % 2);
  const probs = new Float32Array(
    [...labels].flatMap((y) => {
      const second = 0.25 + 0.1 * rng.next();
      return y === 0 ? [0.6, second, 0.4 - second] : [0.6, 0.4 - second, second];
    }),
  );
  close(labelMappingCeiling(probs, 3, labels, 2).report.meanAccuracy, 0.5);
  const readout = softmaxReadoutCeiling(probs, 3, labels, 2, { seed: 1 });
  close(readout.meanAccuracy, 1);
  assert.deepEqual(readout, softmaxReadoutCeiling(probs, 3, labels, 2, { seed: 1 }));
  // Labels unrelated to the probabilities: held-out folds stay near chance, not memorised.
  const noise = Int32Array.from({ length: 60 }, () => rng.int(2));
  assert.ok(softmaxReadoutCeiling(probs, 3, noise, 2, { seed: 1 }).meanAccuracy < 0.75);
  assert.throws(() => softmaxReadoutCeiling(probs, 4, labels, 2), /not 60x4/);
});

Deno.test("cslsPenalty: mean cosine to the k nearest sources; flips a hub's prediction", () => {
  // Sources s0=[1,0], s1=[0.8,0.6], s2=[0,1]. Target t0=[1,0] (a hub near s0, s1), t1=[0,2].
  const sources = new Float32Array([1, 0, 0.8, 0.6, 0, 1]);
  const targets = new Float32Array([1, 0, 0, 2]);
  const p = cslsPenalty(targets, sources, 2, 2, 1);
  close(p[0], (1 + 0.8) / 2); // cosines 1, 0.8, 0
  close(p[1], (1 + 0.6) / 2); // cosines 0, 0.6, 1 (norm ignored)
  close(cslsPenalty(targets, sources, 2, 1, 0.5)[1], 0.5);
  // A query at 44°: cosines 0.719 (t0) vs 0.695 (t1), so plain cosine picks the hub t0; with the
  // penalty 0.719 - 0.9 < 0.695 - 0.8 and t1 wins, whatever the query's norm.
  const at44 = new Float32Array([Math.cos((44 * Math.PI) / 180), Math.sin((44 * Math.PI) / 180)]);
  assert.deepEqual([...nearestLabel(at44, 2, targets)], [0]);
  assert.deepEqual([...nearestLabel(at44, 2, targets, undefined, p)], [1]);
  assert.deepEqual([...nearestLabel(at44.map((x) => 3 * x), 2, targets, undefined, p)], [1]);
  assert.throws(() => cslsPenalty(targets, sources, 2, 4), /k must be 1\.\.3/);
});

Deno.test("hit rule: plurals, phrase form, no head words", () => {
  assert.ok(isHit(["butterflies"], "butterfly"));
  assert.ok(isHit(["apple"], "apples"));
  assert.ok(isHit(["pickup_trucks"], "pickup truck"));
  assert.ok(isHit(["pickup_truck"], "pickup_truck"));
  assert.ok(!isHit(["truck"], "pickup_truck"));
  assert.ok(!isHit(["Butterfly"], "butterfly"));
  const ranked = [["dog", "cats", "x"], ["truck", "car", "automobiles"]];
  assert.deepEqual(hitAtK(ranked, ["cat", "automobile"], [1, 2, 5]), { 1: 0, 2: 0.5, 5: 1 });
});

Deno.test("topWords: unseen-only filter removes seen labels and their equivalents", () => {
  const vocab = ["apple", "apples", "fruit", "truck", "trucks", "car", "pear"];
  let asked = 0;
  // A fake search that ranks the vocabulary in row order.
  const search = (_q: Float32Array, k: number): Neighbors => {
    asked = k;
    const ids = vocab.map((_, i) => i).slice(0, k);
    return { ids, distances: ids.map((i) => i / 10) };
  };
  const q = new Float32Array(2);
  assert.deepEqual(topWords(search, vocab, q, 2), ["apple", "apples"]);
  const seen = seenWordSet(["apple", "car"]);
  assert.ok(seen.has("apples") && seen.has("cars"));
  assert.deepEqual(topWords(search, vocab, q, 3, { words: seen }), ["fruit", "truck", "trucks"]);
  assert.ok(asked >= 3);
  // The true label is never filtered, even when it is also "seen".
  assert.deepEqual(topWords(search, vocab, q, 2, { words: seen, trueLabel: "apple" }), [
    "apple",
    "apples",
  ]);
  // Fewer than k left: returns what remains.
  assert.deepEqual(topWords(search, vocab, q, 10, { words: seen }), [
    "fruit",
    "truck",
    "trucks",
    "pear",
  ]);
});

Deno.test("generalised zero-shot: K-way unseen, seen/unseen accuracy, harmonic mean", () => {
  const labelVecs = new Float32Array([1, 0, 0, 1, -1, 0, 0, -1]);
  const embedded = new Float32Array([1, 0.2, 1, 0.5, -1, 0.5, 1, -0.5]);
  const labels = Int32Array.of(0, 1, 2, 3);
  const g = generalizedZeroShot(embedded, 2, labels, labelVecs, [2, 3]);
  close(g.unseenAccuracy, 1); // among {2, 3} both unseen examples are right
  close(g.seenAccuracy, 0.5); // class 0 right, class 1 predicted as 0
  close(g.unseenAllAccuracy, 0.5); // class 2 right, class 3 predicted as 0
  close(g.harmonicMean, 0.5);
  close(harmonicMean(0.6, 0.2), 0.3);
  assert.equal(harmonicMean(0, 0), 0);
  close(meanOfDefined([1, NaN, 0]), 0.5);
});

Deno.test("seenUnseenCurve: end points, gamma 0 = plain GZSL, AUSUC 1 vs 0 by switch order", () => {
  // Labels c0 = [1,0] and c1 = [-1,0] seen (c1 has no images), c2 = [0,1] unseen.
  const labelVecs = new Float32Array([1, 0, -1, 0, 0, 1]);
  const at = (deg: number) => [Math.cos((deg * Math.PI) / 180), Math.sin((deg * Math.PI) / 180)];
  const labels = Int32Array.of(0, 2);
  // Separable: A (class 0) at 30° needs gamma > 0.366 to turn unseen, B (class 2) at 60° turns
  // at gamma > -0.366: some gamma gets both right, so the area is 1.
  const easy = seenUnseenCurve(new Float32Array([...at(30), ...at(60)]), 2, labels, labelVecs, [2]);
  close(easy.ausuc, 1);
  close(easy.best.harmonicMean, 1);
  assert.deepEqual([easy.points[0].seen, easy.points[0].unseen], [1, 0]);
  assert.deepEqual([easy.points.at(-1)!.seen, easy.points.at(-1)!.unseen], [0, 1]);
  // A at 44° turns at 0.024, B at 40° only at 0.123: never both right, area 0.
  const hard = seenUnseenCurve(new Float32Array([...at(44), ...at(40)]), 2, labels, labelVecs, [2]);
  close(hard.ausuc, 0);
  close(hard.best.harmonicMean, 0);
  // On random data the gamma = 0 point is the plain generalised zero-shot, and the last point's
  // unseen accuracy is the K-way one.
  const rng = new Rng(4);
  const vecs = Float32Array.from({ length: 6 * 5 }, () => rng.normal());
  const emb = Float32Array.from({ length: 60 * 5 }, () => rng.normal());
  const ys = Int32Array.from({ length: 60 }, (_, i) => i % 6);
  const curve = seenUnseenCurve(emb, 5, ys, vecs, [1, 4]);
  const plain = generalizedZeroShot(emb, 5, ys, vecs, [1, 4]);
  const atZero = curve.points.filter((p) => p.gamma < 0).at(-1)!;
  close(atZero.seen, plain.seenAccuracy);
  close(atZero.unseen, plain.unseenAllAccuracy);
  close(curve.points.at(-1)!.unseen, plain.unseenAccuracy);
  assert.ok(curve.ausuc >= 0 && curve.ausuc <= 1);
});

Deno.test("calibrationGamma: middle of the best-H step; unseenBoost applies it", () => {
  const labelVecs = new Float32Array([1, 0, -1, 0, 0, 1]); // c0, c1 seen; c2 unseen
  const at = (deg: number) => [Math.cos((deg * Math.PI) / 180), Math.sin((deg * Math.PI) / 180)];
  const labels = Int32Array.of(0, 2);
  // B (class 2) at 30° needs gamma > cos30 − sin30 = 0.366 to be right; A (class 0) at 10° stays
  // right until gamma > cos10 − sin10 = 0.811. Plain GZSL (gamma 0) gets B wrong.
  const emb = new Float32Array([...at(10), ...at(30)]);
  const gamma = calibrationGamma(seenUnseenCurve(emb, 2, labels, labelVecs, [2]));
  close(gamma, (0.8112 + 0.3660) / 2, 1e-3);
  close(generalizedZeroShot(emb, 2, labels, labelVecs, [2]).harmonicMean, 0);
  const boosted = generalizedZeroShot(emb, 2, labels, labelVecs, [2], unseenBoost(3, [2], gamma));
  close(boosted.harmonicMean, 1);
  // No image changes accuracy: gamma 0; a CSLS base penalty is kept under the boost.
  assert.equal(calibrationGamma({ points: [{ gamma: -Infinity, seen: 1, unseen: 0 }] }), 0);
  assert.deepEqual(
    [...unseenBoost(3, [2], 0.25, new Float32Array([0.5, 0.5, 0.5]))],
    [0.5, 0.5, 0.25],
  );
});

Deno.test("visualNeverSaw: same held-out set, none, or a refused mismatch", () => {
  const names = ["apple", "bear", "cloud", "dolphin"];
  assert.equal(visualNeverSaw([2, 0], [0, 2], names), true);
  assert.equal(visualNeverSaw([], [0, 2], names), false);
  assert.throws(
    () => visualNeverSaw([1], [0, 2], names),
    /without bear, but the unseen .* apple, cloud/,
  );
  assert.throws(() => visualNeverSaw([0, 2, 3], [0, 2], names), /same --unseen K/);
});

Deno.test("chooseUnseen: seeded, distinct, sorted; named lists; bad K", () => {
  const a = chooseUnseen(100, 20, { seed: 1 });
  assert.deepEqual(a, chooseUnseen(100, 20, { seed: 1 }));
  assert.notDeepEqual(a, chooseUnseen(100, 20, { seed: 2 }));
  assert.equal(new Set(a).size, 20);
  assert.ok(a.every((c, i) => c >= 0 && c < 100 && (i === 0 || c > a[i - 1])));
  const names = ["apple", "bear", "cloud"];
  assert.deepEqual(chooseUnseen(3, 0, { named: ["cloud", "apple"], names }), [0, 2]);
  assert.throws(() => chooseUnseen(3, 0, { named: ["dragon"], names }), /'dragon'/);
  assert.throws(() => chooseUnseen(100, 100), /between 1 and 99/);
  assert.throws(() => chooseUnseen(100, 0), /between 1 and 99/);
});

Deno.test("candidate sets: nouns, physical objects, the most frequent words", () => {
  const syn = (key: string, lemmas: string[], hypernyms: string[] = []) => ({
    key,
    lemmas,
    hypernyms,
    gloss: "",
  });
  const synsets = [
    syn("n:1", ["object", "physical_object"]),
    syn("n:2", ["artifact"], ["n:1"]),
    syn("n:3", ["balloon"], ["n:2"]),
    syn("n:4", ["idea"]),
    syn("v:5", ["run"]),
  ];
  const wordnet = { synsets, byKey: new Map(synsets.map((s) => [s.key, s])), sha256: {} };
  const words = ["the", "balloon", "idea", "run", "Artifact", "12"];
  assert.deepEqual([...candidateRows(words, "all")], [0, 1, 2, 3, 4, 5]);
  assert.deepEqual([...candidateRows(words, "top3")], [0, 1, 2]);
  assert.deepEqual([...candidateRows(words, "nouns", wordnet)], [1, 2, 4]);
  assert.deepEqual([...candidateRows(words, "objects", wordnet)], [1, 4]);
  assert.throws(() => parseCandidateSet("top0"), /--candidates: 'top0'/);
  assert.throws(() => parseCandidateSet("verbs"), /not one of all\|nouns\|objects\|top<N>/);
});

// Every assignment of n examples to C classes with the given class sizes (small n only).
function* balancedAssignments(n: number, shares: number[]): Generator<number[]> {
  const left = [...shares];
  const pick: number[] = [];
  function* go(i: number): Generator<number[]> {
    if (i === n) return yield [...pick];
    for (let c = 0; c < left.length; c++) {
      if (left[c] === 0) continue;
      left[c]--;
      pick.push(c);
      yield* go(i + 1);
      pick.pop();
      left[c]++;
    }
  }
  yield* go(0);
}

Deno.test("balancedAssignment: equal shares at the best total score (brute force), where nearest-label is not", () => {
  const rng = new Rng(5);
  for (const [n, C] of [[6, 3], [7, 3], [8, 2], [6, 2]]) {
    for (let trial = 0; trial < 20; trial++) {
      // Class 0 is a hub: every example scores high on it.
      const scores = Float32Array.from(
        { length: n * C },
        (_, j) => rng.next() + (j % C === 0 ? 0.5 : 0),
      );
      const pick = balancedAssignment(scores, n, C);
      const shares = Array.from({ length: C }, (_, c) => Math.floor(n / C) + (c < n % C ? 1 : 0));
      const counts = Array.from({ length: C }, (_, c) => pick.filter((p) => p === c).length);
      assert.deepEqual(counts, shares, `n ${n} C ${C} trial ${trial}`);
      const total = (a: ArrayLike<number>) =>
        Array.from(a).reduce((s, c, i) => s + scores[i * C + c], 0);
      let best = -Infinity;
      for (const a of balancedAssignments(n, shares)) best = Math.max(best, total(a));
      assert.ok(
        Math.abs(total(pick) - best) < 1e-5,
        `n ${n} C ${C}: ${total(pick)} < best ${best}`,
      );
    }
  }
  // Cosines first: every row points at label 0, so nearest-label sends all four there.
  const labels = Float32Array.of(1, 0, 0, 1);
  const rows = Float32Array.of(1, 0.1, 1, 0.9, 1, 0.2, 1, 0.8);
  const cos = labelCosines(rows, 2, labels);
  assert.deepEqual(Array.from(nearestLabel(rows, 2, labels)), [0, 0, 0, 0]);
  assert.deepEqual(Array.from(balancedAssignment(cos, 4, 2)), [0, 1, 0, 1]);
  assert.throws(() => balancedAssignment(cos, 3, 2), /8 scores are not 3 rows of 2/);
});

Deno.test("tenWayAccuracy: ', balanced' rows only when asked, each class at its share", () => {
  // 2-D embeddings of 6 images, 3 classes; every image leans toward label 0 (a hub).
  const labels = Float32Array.of(1, 0, 0.6, 0.8, 0.6, -0.8);
  const embedded = Float32Array.of(1, 0.1, 1, 0.2, 1, 0.9, 1, 1, 1, -0.9, 1, -1);
  const set = { labels: Int32Array.of(0, 0, 1, 1, 2, 2), classNames: ["a", "b", "c"] };
  const cfg = { cslsK: 0, cslsWeight: 1 };
  const plain = tenWayAccuracy({ DeViSE: embedded }, 2, set, labels, labels, cfg);
  assert.deepEqual(Object.keys(plain), ["DeViSE"]);
  const both = tenWayAccuracy({ DeViSE: embedded }, 2, set, labels, labels, {
    ...cfg,
    balanced: true,
  });
  assert.deepEqual(Object.keys(both), ["DeViSE", "DeViSE, balanced"]);
  const pick = Array.from(both["DeViSE, balanced"].predictions);
  assert.deepEqual([0, 1, 2].map((c) => pick.filter((p) => p === c).length), [2, 2, 2]);
  assert.deepEqual(both.DeViSE, plain.DeViSE); // the plain rows do not change
});

Deno.test("tenWayAccuracy: image CSLS moves images off a hub label, by 2·cos − w·r", () => {
  // Label 0 is near every training image (r 0.9), label 1 far from them (r 0.1). The image is
  // closer to label 0 by cosine (0.8 vs 0.6), so plain DeViSE picks it; CSLS with w 1 scores
  // 2·0.8 − 0.9 = 0.7 against 2·0.6 − 0.1 = 1.1 and picks label 1; with w 0.25 it stays at 0.
  const labels = Float32Array.of(1, 0, 0, 1);
  const embedded = Float32Array.of(0.8, 0.6);
  const set = { labels: Int32Array.of(1), classNames: ["hub", "rare"] };
  const imageHubness = Float32Array.of(0.9, 0.1);
  const cfg = { cslsK: 0, cslsWeight: 1, imageHubness };
  const out = tenWayAccuracy({ DeViSE: embedded }, 2, set, labels, labels, cfg);
  assert.deepEqual(Object.keys(out), ["DeViSE", "DeViSE + CSLS (images)"]);
  assert.deepEqual(Array.from(out.DeViSE.predictions), [0]);
  assert.deepEqual(Array.from(out["DeViSE + CSLS (images)"].predictions), [1]);
  const weak = tenWayAccuracy({ DeViSE: embedded }, 2, set, labels, labels, {
    ...cfg,
    cslsWeight: 0.25,
  });
  assert.deepEqual(Array.from(weak["DeViSE + CSLS (images)"].predictions), [0]);
  // The query's length must not matter once a penalty is subtracted.
  const long = tenWayAccuracy({ DeViSE: Float32Array.of(8, 6) }, 2, set, labels, labels, cfg);
  assert.deepEqual(Array.from(long["DeViSE + CSLS (images)"].predictions), [1]);
});

Deno.test("ensembleArgmax: standardised per row, so a set's scale does not decide", () => {
  // Two images, three classes. Set a alone picks 0 then 2; set b alone picks 1 then 1.
  const a = Float32Array.of(0.12, 0.1, 0.08, 0.0, 0.1, 0.2);
  const b = Float32Array.of(0.2, 0.9, 0.1, 0.3, 0.35, 0.4);
  assert.deepEqual(Array.from(ensembleArgmax([a], 2, 3)), [0, 2]);
  assert.deepEqual(Array.from(ensembleArgmax([b], 2, 3)), [1, 2]);
  const both = Array.from(ensembleArgmax([a, b], 2, 3));
  assert.deepEqual(both, [1, 2]);
  // Scaling or shifting one set changes nothing; a set with no spread adds nothing.
  const scaled = b.map((v) => 10 * v + 3);
  assert.deepEqual(Array.from(ensembleArgmax([a, scaled], 2, 3)), both);
  const flat = new Float32Array(6).fill(0.5);
  assert.deepEqual(Array.from(ensembleArgmax([a, flat], 2, 3)), [0, 2]);
  // A weak lead in one set loses to a strong lead in the other: row 0 of a vs b flipped.
  const strongA = Float32Array.of(0.9, 0.1, 0.1, 0.0, 0.1, 0.2);
  assert.deepEqual(Array.from(ensembleArgmax([strongA, b], 2, 3)), [0, 2]);
  assert.throws(() => ensembleArgmax([a, Float32Array.of(1, 2)], 2, 3), /2 scores are not 2×3/);
});
