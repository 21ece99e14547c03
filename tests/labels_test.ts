import assert from "node:assert/strict";
import { labelEquivalents, labelVectors } from "../lib/text/labels.ts";
import { makeWordVectors } from "../lib/text/vectors.ts";

// A tiny 3-d vocabulary where each rule has exactly one way to fire.
const vocab: [string, number[]][] = [
  ["apple", [3, 4, 0]],
  ["maple_tree", [0, 0, 2]],
  ["Tiger", [1, 0, 0]],
  ["PICKUP_TRUCK", [0, 5, 0]],
  ["Sweet_Pepper", [0, 0, 7]],
  ["aquarium", [1, 0, 0]],
  ["Fish", [0, 1, 0]],
  ["lawn", [0, 0, 3]],
];
const v = makeWordVectors(vocab.map(([w]) => w), 3, new Float32Array(vocab.flatMap(([, x]) => x)));

function norm(row: Float32Array): number {
  return Math.hypot(...row);
}

Deno.test("labelVectors: each mapping rule, unit norm, missing reported", () => {
  const labels = [
    "apple", // exact
    "maple tree", // phrase: spaces -> _
    "tiger", // case: Capitalised
    "pickup_truck", // case: UPPER
    "sweet_pepper", // case: Each_Part_Capitalised
    "aquarium_fish", // mean of parts: aquarium + Fish (case variant of a part)
    "lawn_mower", // mean of the one part present
    "unicorn", // missing
  ];
  const { data, rules, missing } = labelVectors(v, labels);
  assert.deepEqual(rules, [
    { label: "apple", rule: "exact", tokens: ["apple"] },
    { label: "maple tree", rule: "phrase", tokens: ["maple_tree"] },
    { label: "tiger", rule: "case", tokens: ["Tiger"] },
    { label: "pickup_truck", rule: "case", tokens: ["PICKUP_TRUCK"] },
    { label: "sweet_pepper", rule: "case", tokens: ["Sweet_Pepper"] },
    { label: "aquarium_fish", rule: "mean-of-parts", tokens: ["aquarium", "Fish"] },
    { label: "lawn_mower", rule: "mean-of-parts", tokens: ["lawn"] },
    { label: "unicorn", rule: "missing", tokens: [] },
  ]);
  assert.deepEqual(missing, ["unicorn"]);
  const row = (i: number) => data.subarray(i * 3, (i + 1) * 3);
  for (let i = 0; i < 7; i++) assert.ok(Math.abs(norm(row(i)) - 1) < 1e-6, `row ${i} unit norm`);
  assert.deepEqual([...row(0)], [0.6, 0.8, 0].map(Math.fround));
  const s = Math.fround(Math.SQRT1_2);
  assert.deepEqual([...row(5)], [s, s, 0]);
  assert.deepEqual([...row(7)], [0, 0, 0]);
  // The source vectors are not modified.
  assert.deepEqual([...v.data.subarray(0, 3)], [3, 4, 0]);
});

Deno.test("labelVectors: exact beats case variants", () => {
  const w = makeWordVectors(["Apple", "apple"], 1, new Float32Array([-2, 5]));
  const { data, rules } = labelVectors(w, ["apple", "APPLE"]);
  assert.deepEqual(rules.map((r) => r.tokens[0]), ["apple", "apple"]);
  assert.deepEqual([...data], [1, 1]);
});

Deno.test("labelEquivalents: label, phrase form, plural/singular, nothing looser", () => {
  assert.deepEqual(labelEquivalents("apple"), ["apple", "apples"]);
  assert.deepEqual(labelEquivalents("butterfly"), ["butterfly", "butterflies"]);
  assert.deepEqual(labelEquivalents("bus"), ["bus", "buses"]);
  assert.deepEqual(labelEquivalents("couch"), ["couch", "couches"]);
  assert.deepEqual(labelEquivalents("boy"), ["boy", "boys"]);
  assert.deepEqual(labelEquivalents("pickup_truck"), ["pickup_truck", "pickup_trucks"]);
  assert.deepEqual(labelEquivalents("maple tree"), [
    "maple tree",
    "maple_tree",
    "maple trees",
    "maple_trees",
  ]);
  assert.deepEqual(labelEquivalents("flowers"), ["flowers", "flower"]);
  assert.deepEqual(labelEquivalents("cherries"), ["cherries", "cherry"]);
  assert.deepEqual(labelEquivalents("boxes"), ["boxes", "box", "boxe"]);
  assert.deepEqual(labelEquivalents("glass"), ["glass", "glasses"]);
  assert.deepEqual(labelEquivalents("octopus"), ["octopus", "octopuses"]);
  assert.ok(!labelEquivalents("pickup_truck").includes("truck"));
  assert.ok(!labelEquivalents("apple").includes("Apple"));
});
