import assert from "node:assert/strict";
import { join } from "node:path";
import { exactTopK, exactTopKBatch, normalizeRows, recallAtK } from "../lib/zeroshot/exact.ts";
import {
  buildIndex,
  indexPathFor,
  openOrBuildIndex,
  searchIndex,
  writeIndex,
} from "../lib/zeroshot/index.ts";
import { vectorsChecksum } from "../lib/text/word2vec_io.ts";
import { perturbedQueries, syntheticVectors } from "../lib/zeroshot/synthetic.ts";

const tiny = () => syntheticVectors(500, 16, { seed: 3, clusters: 10 });

Deno.test("exactTopK: hand-made case, exclusion, distances are 1 - cos", () => {
  const data = normalizeRows(new Float32Array([1, 0, 0, 1, 1, 1, -1, 0]), 2);
  const v = { dim: 2, data };
  const r = exactTopK(v, [2, 0.1], 3);
  assert.deepEqual(r.ids, [0, 2, 1]);
  assert.ok(Math.abs(r.distances[0] - (1 - 2 / Math.hypot(2, 0.1))) < 1e-6);
  assert.deepEqual(exactTopK(v, [1, 0], 2, (id) => id === 0).ids, [2, 1]);
  assert.deepEqual(exactTopK(v, [1, 0], 10).ids.length, 4);
  assert.throws(() => exactTopKBatch(v, new Float32Array(3), 1), /multiple of dim/);
});

Deno.test("exactTopKBatch agrees with one-at-a-time search (blocks of 4 + remainder)", () => {
  const v = tiny();
  const { queries } = perturbedQueries(v, 7, { seed: 1 });
  const batch = exactTopKBatch(v, queries, 5);
  for (let q = 0; q < 7; q++) {
    assert.deepEqual(batch[q].ids, exactTopK(v, queries.subarray(q * 16, q * 16 + 16), 5).ids);
  }
  assert.equal(recallAtK(batch, batch.map((b) => b.ids), 5), 1);
  assert.equal(recallAtK([{ ids: [1, 2], distances: [0, 0] }], [[2, 3]], 2), 0.5);
});

Deno.test("HNSW agrees with exact search on a small set (recall@10 >= 0.95), 1 and 2 threads", async () => {
  const v = syntheticVectors(2000, 16, { seed: 5 });
  const { queries } = perturbedQueries(v, 100, { seed: 2 });
  const truth = exactTopKBatch(v, queries, 10);
  for (const threads of [1, 2]) {
    const index = await buildIndex(v, { m: 16, efConstruction: 100, threads });
    assert.equal(index.threads, threads);
    assert.equal(index.hnsw.getCurrentCount(), 2000);
    const found = [];
    for (let q = 0; q < 100; q++) {
      const r = searchIndex(index, queries.subarray(q * 16, q * 16 + 16), 10, 100);
      assert.ok(r.distances.every((d, i) => i === 0 || d >= r.distances[i - 1]));
      found.push(r.ids);
    }
    const recall = recallAtK(truth, found, 10);
    assert.ok(recall >= 0.95, `recall@10 ${recall} with ${threads} thread(s)`);
  }
});

Deno.test("index: build, persist, reload, mismatch rebuild", async () => {
  const dir = await Deno.makeTempDir();
  const v = tiny();
  const path = indexPathFor(join("elsewhere", "v.bin"), { m: 8, efConstruction: 50 }, dir);
  // Indexes go under the index folder (data/index by default), never beside the vectors.
  assert.equal(path, join(dir, "v.bin.hnsw-m8-ef50.bin"));
  assert.equal(
    indexPathFor("/read/only/v.bin", { m: 8, efConstruction: 50 }),
    join("data", "index", "v.bin.hnsw-m8-ef50.bin"),
  );
  const lines: string[] = [];
  const opts = {
    path,
    source: "sha256:abc",
    m: 8,
    efConstruction: 50,
    log: (s: string) => lines.push(s),
  };
  const first = await openOrBuildIndex(v, opts);
  assert.equal(first.reused, false);
  assert.match(first.reason!, /missing sidecar/);
  assert.ok(lines.some((l) => /^building .*first use of these vectors/.test(l)), lines.join("\n"));
  const side = JSON.parse(await Deno.readTextFile(`${path}.json`));
  assert.equal(side.format, "devise-hnsw");
  assert.deepEqual([side.m, side.efConstruction, side.count, side.dim], [8, 50, 500, 16]);
  assert.equal(side.sources.vectors, "sha256:abc");
  assert.equal(side.bytes, (await Deno.stat(path)).size);

  const again = await openOrBuildIndex(v, opts);
  assert.equal(again.reused, true);
  const q = v.data.subarray(16, 32);
  assert.deepEqual(searchIndex(again.index, q, 5).ids, searchIndex(first.index, q, 5).ids);
  assert.equal(searchIndex(again.index, q, 1).ids[0], 1);

  const changed = await openOrBuildIndex(v, { ...opts, source: "sha256:def" });
  assert.equal(changed.reused, false);
  assert.match(changed.reason!, /vectors changed/);
  const fewer = { dim: 16, data: v.data.subarray(0, 400 * 16) };
  const smaller = await openOrBuildIndex(fewer, { ...opts, source: "sha256:def" });
  assert.match(smaller.reason!, /count 500 != wanted 400/);
  assert.ok(lines.some((l) => /^rebuilding .*count 500/.test(l)));
});

Deno.test("index: corrupt sidecar or index file triggers a rebuild with the reason", async () => {
  const dir = await Deno.makeTempDir();
  const v = tiny();
  const path = join(dir, "x.bin");
  const opts = { path, source: "s", m: 8, efConstruction: 40 };
  await openOrBuildIndex(v, opts);
  await Deno.writeTextFile(`${path}.json`, "{ not json");
  const r1 = await openOrBuildIndex(v, opts);
  assert.match(r1.reason!, /not valid JSON/);
  // Same size, different bytes: only the checksum can tell.
  const bytes = await Deno.readFile(path);
  bytes[bytes.length - 5] ^= 0xff;
  await Deno.writeFile(path, bytes);
  const r2 = await openOrBuildIndex(v, opts);
  assert.match(r2.reason!, /sha256 does not match/);
  await Deno.writeFile(path, bytes.subarray(0, 100));
  const r3 = await openOrBuildIndex(v, opts);
  assert.match(r3.reason!, /has 100 bytes/);
  const r4 = await openOrBuildIndex(v, opts);
  assert.equal(r4.reused, true);
});

Deno.test("index: a threaded build persists as one file and reloads with every row", async () => {
  const dir = await Deno.makeTempDir();
  const v = syntheticVectors(3000, 8, { seed: 9 });
  const path = join(dir, "s.bin");
  const index = await buildIndex(v, { m: 8, efConstruction: 40, threads: 2 });
  const bytes = await writeIndex(index, path, "src");
  assert.equal(bytes, (await Deno.stat(path)).size);
  assert.deepEqual((await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort(), [
    "s.bin",
    "s.bin.json",
  ]);
  const reopened = await openOrBuildIndex(v, { path, source: "src", m: 8, efConstruction: 40 });
  assert.equal(reopened.reused, true);
  for (const row of [0, 1500, 2999]) {
    assert.equal(searchIndex(reopened.index, v.data.subarray(row * 8, row * 8 + 8), 1).ids[0], row);
  }
});

Deno.test("vectorsChecksum prefers the artifact sidecar checksum, else hashes the file", async () => {
  const dir = await Deno.makeTempDir();
  const file = join(dir, "v.txt");
  await Deno.writeTextFile(file, "abc");
  assert.equal(
    await vectorsChecksum(file),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  await Deno.writeTextFile(`${file}.json`, JSON.stringify({ sha256: "feed" }));
  assert.equal(await vectorsChecksum(file), "feed");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("syntheticVectors is seeded and unit-norm; searchIndex checks query dims", async () => {
  const a = syntheticVectors(50, 8, { seed: 1 }), b = syntheticVectors(50, 8, { seed: 1 });
  assert.deepEqual(a.data, b.data);
  let norm = 0;
  for (let j = 0; j < 8; j++) norm += a.data[j] ** 2;
  assert.ok(Math.abs(norm - 1) < 1e-5);
  const index = await buildIndex(a, { m: 4, efConstruction: 10 });
  assert.throws(() => searchIndex(index, [1, 2, 3], 1), /query has 3 dims, index has 8/);
});
