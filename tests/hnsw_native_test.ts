import assert from "node:assert/strict";
import { join } from "node:path";
import {
  addPointsParallel,
  hasNativeExtension,
  type HierarchicalNSW,
  type HnswNativeExtension,
  loadHnswlib,
  searchKnnF32,
} from "../lib/backend/hnswlib.ts";
import { exactTopKBatch, recallAtK } from "../lib/zeroshot/exact.ts";
import { perturbedQueries, syntheticVectors } from "../lib/zeroshot/synthetic.ts";

const DIM = 48;
const N = 4000;
const set = syntheticVectors(N, DIM, { seed: 11, clusters: 40 });
const { queries } = perturbedQueries(set, 200, { seed: 12 });
const NQ = queries.length / DIM;

async function newIndex(space: "cosine" | "l2" | "ip", dim: number, max: number) {
  const hnswlib = await loadHnswlib();
  const index = new hnswlib.HierarchicalNSW(space, dim);
  index.initIndex(max, 16, 100, 100);
  return index;
}

function native(index: HierarchicalNSW): HierarchicalNSW & HnswNativeExtension {
  assert.ok(
    hasNativeExtension(index),
    "the hnswlib-node addon lacks the devise extension: run `deno task setup --force`",
  );
  return index;
}

function recallOf(index: HierarchicalNSW, ef: number): number {
  index.setEf(ef);
  const truth = exactTopKBatch(set, queries, 10);
  const found = [];
  for (let q = 0; q < NQ; q++) {
    found.push(searchKnnF32(index, queries.subarray(q * DIM, (q + 1) * DIM), 10).neighbors);
  }
  return recallAtK(truth, found, 10);
}

Deno.test("the built addon has the devise extension (addPoints, searchKnnFloat32, adviseHugePages)", async () => {
  native(await newIndex("cosine", 4, 1));
});

Deno.test("addPoints on 2 threads: same labels, recall@10 within 0.01 of one-point addPoint", async () => {
  const single = await newIndex("cosine", DIM, N);
  const r1 = addPointsParallel(single, set.data, DIM, 0, { native: false });
  assert.deepEqual([r1.native, r1.threads, r1.rows], [false, 1, N]);
  const threaded = await newIndex("cosine", DIM, N);
  const r2 = addPointsParallel(threaded, set.data, DIM, 0, { threads: 2, chunk: 1500 });
  assert.deepEqual([r2.native, r2.threads, r2.rows], [true, 2, N]);

  const labels = (index: HierarchicalNSW) => index.getIdsList().sort((a, b) => a - b);
  assert.deepEqual(labels(threaded), Array.from({ length: N }, (_, i) => i));
  assert.deepEqual(labels(threaded), labels(single));
  assert.equal(threaded.getCurrentCount(), N);
  // Stored vectors are normalised exactly as addPoint does it (cosine space).
  for (const label of [0, 1, 1234, N - 1]) {
    assert.deepEqual(threaded.getPoint(label), single.getPoint(label));
  }
  const ef = 20; // recall ~0.996 here: low enough that a worse graph would show
  const [a, b] = [recallOf(single, ef), recallOf(threaded, ef)];
  assert.ok(a > 0.95, `one-point recall@10 ${a}`);
  assert.ok(Math.abs(a - b) <= 0.01, `recall@10 one-point ${a} vs 2 threads ${b}`);
});

Deno.test("addPointsParallel: labels from firstLabel, progress per chunk, updates of existing labels", async () => {
  const rows = 1000;
  const index = await newIndex("l2", DIM, rows);
  const seen: [number, number][] = [];
  addPointsParallel(index, set.data.subarray(0, rows * DIM), DIM, 5000, {
    threads: 2,
    chunk: 300,
    onProgress: (done, total) => seen.push([done, total]),
  });
  assert.deepEqual(seen, [[300, 1000], [600, 1000], [900, 1000], [1000, 1000]]);
  const labels = index.getIdsList().sort((a, b) => a - b);
  assert.deepEqual(labels, Array.from({ length: rows }, (_, i) => 5000 + i));
  // l2 stores rows as given: no normalisation.
  const row7 = Array.from(set.data.subarray(7 * DIM, 8 * DIM));
  assert.deepEqual(index.getPoint(5007), row7.map((x) => Math.fround(x)));
  // A full index still takes labels it already holds (they are updates, not new points).
  const doubled = set.data.subarray(0, 10 * DIM).map((x) => 2 * x);
  addPointsParallel(index, doubled, DIM, 5000, { threads: 2 });
  assert.equal(index.getCurrentCount(), rows);
  assert.deepEqual(index.getPoint(5003), Array.from(doubled.subarray(3 * DIM, 4 * DIM)));
});

Deno.test("addPointsParallel advises huge pages over the whole level-0 block, same graph without", async () => {
  const build = async (hugePages: boolean) => {
    const index = await newIndex("cosine", DIM, N);
    const result = addPointsParallel(index, set.data, DIM, 0, { threads: 1, hugePages });
    return { index, result };
  };
  const huge = await build(true);
  const small = await build(false);
  // hnswlib's level-0 record: 2·M links + a count (uint32 each), the vector, a size_t label.
  const blockBytes = N * ((2 * 16 + 1) * 4 + DIM * 4 + 8);
  const pageBytes = 4096;
  if (Deno.build.os === "linux") {
    const advised = huge.result.hugePageBytes;
    assert.ok(advised <= blockBytes && advised > blockBytes - 2 * pageBytes, `advised ${advised}`);
    assert.equal(advised % pageBytes, 0);
  }
  assert.equal(small.result.hugePageBytes, 0);
  // Page size changes where the memory lies, not the graph: one thread, one seed, same answers.
  huge.index.setEf(30);
  small.index.setEf(30);
  for (let q = 0; q < 30; q++) {
    const query = queries.subarray(q * DIM, (q + 1) * DIM);
    assert.deepEqual(searchKnnF32(huge.index, query, 10), searchKnnF32(small.index, query, 10));
  }
});

Deno.test("addPoints index persists and reloads with the same search results", async () => {
  const rows = 1500;
  const index = await newIndex("cosine", DIM, rows);
  addPointsParallel(index, set.data.subarray(0, rows * DIM), DIM, 0, { threads: 2 });
  const dir = await Deno.makeTempDir({ prefix: "devise-hnsw-native-" });
  try {
    const path = join(dir, "index.bin");
    index.writeIndexSync(path);
    const hnswlib = await loadHnswlib();
    const loaded = new hnswlib.HierarchicalNSW("cosine", DIM);
    loaded.readIndexSync(path);
    assert.equal(loaded.getCurrentCount(), rows);
    index.setEf(50);
    loaded.setEf(50);
    for (let q = 0; q < 20; q++) {
      const query = queries.subarray(q * DIM, (q + 1) * DIM);
      assert.deepEqual(searchKnnF32(loaded, query, 10), searchKnnF32(index, query, 10));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("addPoints: wrong row length, empty data, no room, bad labels give clear errors", async () => {
  const index = await newIndex("cosine", 4, 100);
  const rows = (n: number) => Float32Array.from({ length: n * 4 }, (_, i) => Math.sin(i + 1));
  addPointsParallel(index, rows(60), 4, 0, { threads: 2 });

  // Through the TS wrapper.
  assert.throws(() => addPointsParallel(index, new Float32Array(10), 4), /not a whole number/);
  assert.throws(() => addPointsParallel(index, new Float32Array(8), 3), /dim 3.*has 4/);
  assert.throws(() => addPointsParallel(index, new Float32Array(0), 4), /empty/);
  assert.throws(() => addPointsParallel(index, rows(50), 4, 60), /50 new points do not fit.*60/);
  assert.throws(() => addPointsParallel(index, rows(2), 4, -1), /must be integers/);
  assert.throws(() => addPointsParallel(index, rows(2), 4, 2 ** 32 - 1), /must be integers/);
  // Labels partly present: only the new ones need room (30 already there + 40 new = 100).
  addPointsParallel(index, rows(70), 4, 30, { threads: 2 });
  assert.equal(index.getCurrentCount(), 100);

  // The native method checks the same things itself (for callers that skip the wrapper).
  const ext = native(await newIndex("cosine", 4, 100));
  assert.throws(
    () => ext.addPoints(new Float32Array(10), 0, 2),
    /10 floats, not a multiple of dim 4/,
  );
  assert.throws(() => ext.addPoints(new Float32Array(0), 0, 2), /empty/);
  assert.throws(() => ext.addPoints(rows(101), 0, 2), /101 new points do not fit/);
  assert.equal(ext.getCurrentCount(), 0, "a refused insert adds nothing");
  assert.throws(() => ext.addPoints(rows(1), 1.5, 2), /must be integers/);
  // deno-lint-ignore no-explicit-any
  assert.throws(() => ext.addPoints([1, 2, 3, 4] as any, 0), /must be a Float32Array/);
  assert.throws(() => ext.searchKnnFloat32(new Float32Array(3), 1), /expected 4, but got 3/);
  const hnswlib = await loadHnswlib();
  const bare = native(new hnswlib.HierarchicalNSW("cosine", 4));
  assert.throws(() => bare.addPoints(rows(1), 0, 2), /initIndex/);
});

Deno.test("searchKnnF32 returns what searchKnn returns (cosine, ip, subarrays, filter)", async () => {
  for (const space of ["cosine", "ip"] as const) {
    const index = native(await newIndex(space, DIM, 2000));
    addPointsParallel(index, set.data.subarray(0, 2000 * DIM), DIM, 0, { threads: 2 });
    index.setEf(60);
    for (let q = 0; q < 30; q++) {
      const query = queries.subarray(q * DIM, (q + 1) * DIM); // a view at a byte offset
      const viaArray = index.searchKnn(Array.from(query), 10);
      assert.deepEqual(index.searchKnnFloat32(query, 10), viaArray);
      assert.deepEqual(searchKnnF32(index, query, 10), viaArray);
      assert.deepEqual(searchKnnF32(index, Array.from(query), 10), viaArray);
    }
    const even = (label: number) => label % 2 === 0;
    const query = queries.subarray(0, DIM);
    const filtered = searchKnnF32(index, query, 5, even);
    assert.deepEqual(filtered, index.searchKnn(Array.from(query), 5, even));
    assert.ok(filtered.neighbors.every(even));
  }
});
