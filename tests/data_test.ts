/**
 * Tests for lib/data/cifar.ts, lib/data/augment.ts and lib/io/rows.ts on tiny CIFAR-10/100 fixtures written in
 * the official binary formats (plain and gzipped) into temp folders.
 * @module
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { takeRows } from "../lib/io/rows.ts";
import {
  bytesPerRecord,
  channelStats,
  CifarDataError,
  classCounts,
  loadCifar,
  resolveDataDir,
} from "../lib/data/cifar.ts";
import {
  batchIndices,
  flipImagesHorizontally,
  normalizeBatch,
  PAD_PIXELS,
} from "../lib/data/augment.ts";
import { Rng } from "../lib/io/rng.ts";

const PLANE = 1024;

/** Raw records: label byte(s) then planar pixels with a value that encodes (image, c, y, x). */
function records(
  dataset: "cifar10" | "cifar100",
  labels: number[],
  seed: number,
  coarse?: number[],
): Uint8Array {
  const rb = bytesPerRecord(dataset);
  const out = new Uint8Array(labels.length * rb);
  const rng = new Rng(seed);
  labels.forEach((label, i) => {
    const off = i * rb;
    if (dataset === "cifar100") {
      out[off] = coarse ? coarse[i] : label % 20;
      out[off + 1] = label;
    } else out[off] = label;
    const px = off + rb - 3 * PLANE;
    for (let j = 0; j < 3 * PLANE; j++) out[px + j] = rng.nextUint32() & 255;
  });
  return out;
}

const gz = (b: Uint8Array) => new Uint8Array(gzipSync(b));
const sha = (parts: Uint8Array[]) => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest("hex");
};
const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

async function writeCifar100(dir: string, train: Uint8Array, test: Uint8Array, gzipped = true) {
  const folder = join(dir, "cifar-100-binary");
  await Deno.mkdir(folder, { recursive: true });
  await Deno.writeFile(
    join(folder, gzipped ? "train.bin.gz" : "train.bin"),
    gzipped ? gz(train) : train,
  );
  await Deno.writeFile(join(folder, "test.bin"), test);
  await Deno.writeTextFile(
    join(folder, "fine_label_names.txt"),
    names("fine", 100).join("\n") + "\n",
  );
  await Deno.writeTextFile(join(folder, "coarse_label_names.txt"), names("coarse", 20).join("\n"));
  return folder;
}

async function withTemp(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function rejectsWith(p: Promise<unknown>, ...parts: (string | RegExp)[]) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof CifarDataError, `expected CifarDataError, got ${e}`);
    for (const part of parts) {
      if (typeof part === "string") {
        assert.ok(e.message.includes(part), `'${part}' in: ${e.message}`);
      } else assert.match(e.message, part);
    }
    return true;
  });
}

Deno.test("cifar10: decodes plain + gz batches in order, planar -> NHWC, names, sha256", async () => {
  await withTemp(async (dir) => {
    const folder = join(dir, "cifar-10-batches-bin"); // the official archive's folder name
    await Deno.mkdir(folder);
    const batches = [1, 2, 3, 4, 5].map((b) => records("cifar10", [b, 9, 0], b));
    for (let b = 0; b < 5; b++) {
      const name = join(folder, `data_batch_${b + 1}.bin`);
      if (b % 2 === 0) await Deno.writeFile(name + ".gz", gz(batches[b]));
      else await Deno.writeFile(name, batches[b]);
    }
    await Deno.writeFile(join(folder, "test_batch.bin"), records("cifar10", [3], 9));
    // The official batches.meta.txt ends in blank lines.
    await Deno.writeTextFile(
      join(folder, "batches.meta.txt"),
      names("c", 10).join("\n") + "\n\n\n",
    );
    const train = await loadCifar(dir, "cifar10", "train");
    assert.equal(train.count, 15);
    assert.deepEqual([...train.labels], [1, 9, 0, 2, 9, 0, 3, 9, 0, 4, 9, 0, 5, 9, 0]);
    assert.equal(train.coarseLabels, undefined);
    assert.deepEqual(train.labelNames, names("c", 10));
    assert.equal(train.sha256, sha(batches));
    assert.equal(train.images.length, 15 * 3072);
    for (let i = 0; i < 15; i++) {
      const raw = batches[Math.floor(i / 3)];
      const off = (i % 3) * 3073 + 1;
      for (const [c, y, x] of [[0, 0, 0], [1, 0, 1], [2, 5, 7], [0, 31, 31], [2, 31, 0]]) {
        assert.equal(
          train.images[i * 3072 + (y * 32 + x) * 3 + c],
          raw[off + c * PLANE + y * 32 + x],
          `image ${i} c${c} y${y} x${x}`,
        );
      }
    }
    const test = await loadCifar(dir, "cifar10", "test");
    assert.equal(test.count, 1);
    assert.deepEqual([...test.labels], [3]);
  });
});

Deno.test("cifar100: fine + coarse labels, label names, gz and plain, NHWC", async () => {
  await withTemp(async (dir) => {
    const train = records("cifar100", [0, 99, 42, 7], 1, [0, 19, 5, 3]);
    const test = records("cifar100", [5, 6], 2);
    await writeCifar100(dir, train, test);
    const s = await loadCifar(dir, "cifar100", "train");
    assert.equal(s.count, 4);
    assert.deepEqual([...s.labels], [0, 99, 42, 7]);
    assert.deepEqual([...s.coarseLabels!], [0, 19, 5, 3]);
    assert.equal(s.labelNames[99], "fine99");
    assert.equal(s.coarseNames![19], "coarse19");
    assert.equal(s.sha256, sha([train]));
    // Full NHWC check on one image.
    const i = 2;
    for (let p = 0; p < PLANE; p++) {
      for (let c = 0; c < 3; c++) {
        assert.equal(s.images[i * 3072 + p * 3 + c], train[i * 3074 + 2 + c * PLANE + p]);
      }
    }
    const t = await loadCifar(dir, "cifar100", "test");
    assert.deepEqual([...t.labels], [5, 6]);
  });
});

Deno.test("cifar: truncated file names file, size, record size and partial offset", async () => {
  await withTemp(async (dir) => {
    const train = records("cifar100", [1, 2, 3], 1).subarray(0, 2 * 3074 + 100);
    await writeCifar100(dir, train, records("cifar100", [1], 2), false);
    await rejectsWith(
      loadCifar(dir, "cifar100", "train"),
      "train.bin",
      `${2 * 3074 + 100} bytes`,
      "3074-byte",
      `byte offset ${2 * 3074}`,
    );
  });
});

Deno.test("cifar: CIFAR-10 records in a CIFAR-100 file are a wrong record size", async () => {
  await withTemp(async (dir) => {
    await writeCifar100(dir, records("cifar10", [1, 2, 3], 1), records("cifar100", [1], 2));
    await rejectsWith(
      loadCifar(dir, "cifar100", "train"),
      "train.bin.gz",
      "3073-byte",
      /wrong dataset/,
    );
  });
});

Deno.test("cifar: label out of range names file, record and byte offset", async () => {
  await withTemp(async (dir) => {
    const bad = records("cifar100", [1, 2, 3], 1);
    bad[2 * 3074 + 1] = 100;
    await writeCifar100(dir, records("cifar100", [1], 2), bad);
    await rejectsWith(
      loadCifar(dir, "cifar100", "test"),
      "test.bin",
      "record 2",
      `byte offset ${2 * 3074 + 1}`,
      "label 100",
      "0..99",
    );
    const badCoarse = records("cifar100", [1, 2], 1);
    badCoarse[3074] = 20;
    await writeCifar100(dir, records("cifar100", [1], 2), badCoarse);
    await rejectsWith(loadCifar(dir, "cifar100", "test"), "record 1", "coarse label 20");
  });
});

Deno.test("cifar: corrupt and truncated gzip give a clear error naming the file", async () => {
  await withTemp(async (dir) => {
    const folder = await writeCifar100(
      dir,
      records("cifar100", [1, 2], 1),
      records("cifar100", [1], 2),
    );
    const file = join(folder, "train.bin.gz");
    const good = await Deno.readFile(file);
    const flipped = good.slice();
    flipped[flipped.length >> 1] ^= 0x55;
    await Deno.writeFile(file, flipped);
    await rejectsWith(loadCifar(dir, "cifar100", "train"), file, "corrupt gzip");
    await Deno.writeFile(file, good.subarray(0, good.length - 100));
    await rejectsWith(loadCifar(dir, "cifar100", "train"), file, "corrupt gzip");
    await Deno.writeFile(file, new TextEncoder().encode("not gzip at all, just some text"));
    await rejectsWith(loadCifar(dir, "cifar100", "train"), file, "not a gzip file");
  });
});

Deno.test("cifar: missing label-name file, missing split file, missing folder", async () => {
  await withTemp(async (dir) => {
    const folder = await writeCifar100(
      dir,
      records("cifar100", [1], 1),
      records("cifar100", [1], 2),
    );
    await Deno.remove(join(folder, "coarse_label_names.txt"));
    await rejectsWith(loadCifar(dir, "cifar100", "train"), "coarse_label_names.txt", "missing");
    await Deno.writeTextFile(join(folder, "coarse_label_names.txt"), names("c", 19).join("\n"));
    await rejectsWith(loadCifar(dir, "cifar100", "train"), "expected 20 label names, found 19");
    await Deno.remove(join(folder, "test.bin"));
    await rejectsWith(
      loadCifar(dir, "cifar100", "test"),
      "missing test.bin[.gz]",
      "cifar-100-binary",
    );
    await rejectsWith(
      loadCifar(dir, "cifar10", "test"),
      "cifar-10-binary/",
      "cifar-10-batches-bin/",
      "--data-dir",
      "DEVISE_DATA_DIR",
    );
    await assert.rejects(
      loadCifar(dir, "cifar10", "test"),
      (e: CifarDataError) => e.kind === "missing",
    );
  });
});

Deno.test("resolveDataDir: flag, then DEVISE_DATA_DIR, then data", () => {
  const old = Deno.env.get("DEVISE_DATA_DIR");
  try {
    Deno.env.delete("DEVISE_DATA_DIR");
    assert.equal(resolveDataDir(""), "data");
    Deno.env.set("DEVISE_DATA_DIR", "/x/y");
    assert.equal(resolveDataDir(""), "/x/y");
    assert.equal(resolveDataDir("/flag"), "/flag");
  } finally {
    if (old === undefined) Deno.env.delete("DEVISE_DATA_DIR");
    else Deno.env.set("DEVISE_DATA_DIR", old);
  }
});

Deno.test("channelStats and classCounts", () => {
  const rng = new Rng(3);
  const images = new Uint8Array(7 * 3072);
  for (let i = 0; i < images.length; i++) images[i] = (rng.nextUint32() & 127) + (i % 3) * 60;
  const { mean, std } = channelStats(images);
  for (let c = 0; c < 3; c++) {
    let s = 0;
    let s2 = 0;
    const n = images.length / 3;
    for (let i = c; i < images.length; i += 3) {
      s += images[i] / 255;
      s2 += (images[i] / 255) ** 2;
    }
    assert.ok(Math.abs(mean[c] - s / n) < 1e-12);
    assert.ok(Math.abs(std[c] - Math.sqrt(s2 / n - (s / n) ** 2)) < 1e-9);
  }
  assert.deepEqual([...classCounts(new Int32Array([0, 2, 2, 1, 2]), 4)], [1, 1, 3, 0]);
  assert.throws(() => classCounts(new Int32Array([4]), 4), RangeError);
});

/** An Rng stand-in that replays scripted draws: int() and next() pop from their queues. */
function scripted(ints: number[], floats: number[]): Rng {
  return { int: () => ints.shift()!, next: () => floats.shift()! } as unknown as Rng;
}

Deno.test("normalizeBatch: no augment equals per-channel normalisation exactly", () => {
  const images = new Uint8Array(3 * 3072);
  for (let i = 0; i < images.length; i++) images[i] = (i * 37) & 255;
  const mean = [0.5, 0.4, 0.3];
  const std = [0.25, 0.2, 0.3];
  const idx = new Int32Array([2, 0]);
  const out = new Float32Array(2 * 3072);
  normalizeBatch(images, idx, out, mean, std, null);
  for (let b = 0; b < 2; b++) {
    for (let j = 0; j < 3072; j++) {
      const v = images[idx[b] * 3072 + j];
      const c = j % 3;
      assert.equal(out[b * 3072 + j], Math.fround((v / 255 - mean[c]) / std[c]));
    }
  }
  assert.throws(
    () => normalizeBatch(images, new Int32Array([3]), out, mean, std, null),
    RangeError,
  );
  assert.throws(() => normalizeBatch(images, idx, new Float32Array(10), mean, std, null));
});

Deno.test("normalizeBatch: flip mirrors columns, crop shifts with a zero pad", () => {
  const images = new Uint8Array(3072);
  for (let i = 0; i < 3072; i++) images[i] = (i * 11 + 5) & 255;
  const mean = [0.1, 0.2, 0.3];
  const std = [0.5, 0.5, 0.5];
  const plain = new Float32Array(3072);
  normalizeBatch(images, new Int32Array([0]), plain, mean, std, null);
  const at = (a: Float32Array, y: number, x: number, c: number) => a[(y * 32 + x) * 3 + c];
  const out = new Float32Array(3072);
  // int() = 4 -> shift 0 rows/cols; next() = 0.1 < 0.5 -> flip.
  normalizeBatch(images, new Int32Array([0]), out, mean, std, { rng: scripted([4, 4], [0.1]) });
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) {
      for (let c = 0; c < 3; c++) assert.equal(at(out, y, x, c), at(plain, y, 31 - x, c));
    }
  }
  // Crop row offset 8 (shift +4: out row y = source row y + 4), col offset 1 (shift -3), no flip.
  normalizeBatch(images, new Int32Array([0]), out, mean, std, { rng: scripted([8, 1], [0.9]) });
  const dy = 8 - PAD_PIXELS;
  const dx = 1 - PAD_PIXELS;
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) {
      const sy = y + dy;
      const sx = x + dx;
      const inside = sy >= 0 && sy < 32 && sx >= 0 && sx < 32;
      for (let c = 0; c < 3; c++) {
        assert.equal(at(out, y, x, c), inside ? at(plain, sy, sx, c) : 0, `y${y} x${x}`);
      }
    }
  }
  // Shift plus flip together: out(y, x) = src(y + dy, 31 - x + dx).
  normalizeBatch(images, new Int32Array([0]), out, mean, std, { rng: scripted([0, 7], [0.0]) });
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) {
      const sy = y - 4;
      const sx = 31 - x + 3;
      const inside = sy >= 0 && sx >= 0 && sx < 32;
      assert.equal(at(out, y, x, 1), inside ? at(plain, sy, sx, 1) : 0, `flip y${y} x${x}`);
    }
  }
});

Deno.test("normalizeBatch: augmentation is seeded-deterministic and varies", () => {
  const images = new Uint8Array(16 * 3072);
  const fill = new Rng(5);
  for (let i = 0; i < images.length; i++) images[i] = fill.nextUint32() & 255;
  const idx = new Int32Array([...Array(16).keys()]);
  const run = (seed: number) => {
    const out = new Float32Array(16 * 3072);
    normalizeBatch(images, idx, out, [0.5, 0.5, 0.5], [0.25, 0.25, 0.25], { rng: new Rng(seed) });
    return out;
  };
  assert.deepEqual(run(7), run(7));
  assert.notDeepEqual(run(7), run(8));
  const plain = new Float32Array(16 * 3072);
  normalizeBatch(images, idx, plain, [0.5, 0.5, 0.5], [0.25, 0.25, 0.25], null);
  assert.notDeepEqual(run(7), plain);
});

Deno.test("batchIndices: every index once per epoch, seeded, dropLast", () => {
  const sizes = [...batchIndices(10, 4, new Rng(1))].map((b) => b.length);
  assert.deepEqual(sizes, [4, 4, 2]);
  const seen = [...batchIndices(10, 4, new Rng(1))].flatMap((b) => [...b]).sort((a, b) => a - b);
  assert.deepEqual(seen, [...Array(10).keys()]);
  const a = [...batchIndices(10, 4, new Rng(2))].map((b) => [...b]);
  const b = [...batchIndices(10, 4, new Rng(2))].map((b) => [...b]);
  assert.deepEqual(a, b);
  assert.deepEqual([...batchIndices(10, 4, null)].map((b) => [...b]), [[0, 1, 2, 3], [4, 5, 6, 7], [
    8,
    9,
  ]]);
  assert.deepEqual([...batchIndices(10, 4, null, { dropLast: true })].length, 2);
  assert.throws(() => [...batchIndices(10, 0, null)], RangeError);
});

Deno.test("takeRows copies the chosen rows in order, repeats allowed, keeping the array type", () => {
  const m = new Float32Array([1, 2, 3, 4, 5, 6]); // 3 rows of 2
  assert.deepEqual(takeRows(m, 2, [2, 0, 2]), new Float32Array([5, 6, 1, 2, 5, 6]));
  const picked = takeRows(m, 2, [1]);
  picked[0] = 99; // a copy, not a view
  assert.equal(m[2], 3);
  const bytes = takeRows(new Uint8Array([7, 8, 9]), 1, Int32Array.of(2, 1));
  assert.ok(bytes instanceof Uint8Array);
  assert.deepEqual(bytes, new Uint8Array([9, 8]));
  assert.equal(takeRows(m, 2, []).length, 0);
});

Deno.test("flipImagesHorizontally: mirrors every row of every image, twice is the identity", () => {
  // Two images whose red channel is the column, green the row, blue the image index.
  const images = new Uint8Array(2 * 3072);
  for (let i = 0; i < 2; i++) {
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) images.set([x, y, i], i * 3072 + (y * 32 + x) * 3);
    }
  }
  const flipped = flipImagesHorizontally(images);
  for (const [i, y, x] of [[0, 0, 0], [0, 5, 31], [1, 31, 7], [1, 12, 16]]) {
    const o = i * 3072 + (y * 32 + x) * 3;
    assert.deepEqual(Array.from(flipped.subarray(o, o + 3)), [31 - x, y, i]);
  }
  assert.deepEqual(flipImagesHorizontally(flipped), images);
  assert.notEqual(flipped, images); // a copy: the input is untouched
  assert.throws(() => flipImagesHorizontally(new Uint8Array(3071)), /3071 bytes are not 32x32x3/);
});
