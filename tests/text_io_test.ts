import assert from "node:assert/strict";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { Rng } from "../lib/io/rng.ts";
import {
  convertVectors,
  formatFloat32,
  readVectors,
  readWord2vecBinary,
  readWord2vecText,
  sniffVectorFormat,
  VectorFormatError,
  writeWord2vecBinary,
  writeWord2vecText,
} from "../lib/text/word2vec_io.ts";
import { floatToHalf, halfToFloat } from "../lib/io/float16.ts";
import {
  makeWordVectors,
  normalizeRows,
  rowOf,
  vectorOf,
  type WordVectors,
} from "../lib/text/vectors.ts";

const enc = new TextEncoder();

function concat(parts: (Uint8Array | string)[]): Uint8Array {
  const bytes = parts.map((p) => typeof p === "string" ? enc.encode(p) : p);
  const out = new Uint8Array(bytes.reduce((n, b) => n + b.length, 0));
  let off = 0;
  for (const b of bytes) {
    out.set(b, off);
    off += b.length;
  }
  return out;
}

function f32bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

/** A binary file: Google layout (newline after each vector) or none. */
function binaryFile(
  words: string[],
  rows: number[][],
  opts: { newline?: boolean; header?: string } = {},
): Uint8Array {
  const parts: (Uint8Array | string)[] = [opts.header ?? `${words.length} ${rows[0].length}\n`];
  words.forEach((w, i) => {
    parts.push(w + " ", f32bytes(rows[i]));
    if (opts.newline ?? true) parts.push("\n");
  });
  return concat(parts);
}

function randomVectors(rows: number, dim: number, seed = 1): WordVectors {
  const rng = new Rng(seed);
  const words = Array.from({ length: rows }, (_, i) => `w${i}_${"ab".repeat(rng.int(4))}`);
  words[1] = "Straße";
  words[2] = "日本語";
  const data = new Float32Array(rows * dim);
  for (let i = 0; i < data.length; i++) data[i] = rng.normal();
  return makeWordVectors(words, dim, data);
}

async function tempFile(dir: string, name: string, bytes: Uint8Array | string): Promise<string> {
  const path = join(dir, name);
  await Deno.writeFile(path, typeof bytes === "string" ? enc.encode(bytes) : bytes);
  return path;
}

async function rejects(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: Error) => {
    assert.ok(err instanceof VectorFormatError, `expected VectorFormatError, got ${err}`);
    assert.match(err.message, pattern);
    return true;
  });
}

Deno.test("vectors: makeWordVectors, vectorOf, normalizeRows, half floats", () => {
  const v = makeWordVectors(["a", "b", "a"], 2, new Float32Array([3, 4, 0, 0, 1, 1]));
  assert.equal(v.index.get("a"), 0); // first duplicate wins
  assert.deepEqual([...vectorOf(v, "a")!], [3, 4]);
  assert.equal(vectorOf(v, "zzz"), undefined);
  normalizeRows(v.data, v.dim);
  assert.deepEqual([...v.data.subarray(0, 4)], [Math.fround(0.6), Math.fround(0.8), 0, 0]);
  assert.throws(() => makeWordVectors(["a"], 2, new Float32Array(3)), /expected 1 words × 2/);
  for (const x of [0, 1, -2.5, 65504, 0.1, 6e-8, -1e-5]) {
    assert.ok(Math.abs(halfToFloat(floatToHalf(x)) - x) <= Math.abs(x) * 1e-3 + 6e-8, `${x}`);
  }
  assert.equal(floatToHalf(1), 0x3c00);
  assert.equal(halfToFloat(floatToHalf(1e6)), Infinity);
});

Deno.test("binary round trip is byte-exact (Google layout), text round trip exact in value", async () => {
  const dir = await Deno.makeTempDir();
  const v = randomVectors(50, 7);
  const bin = join(dir, "v.bin");
  await writeWord2vecBinary(bin, v);
  const bytes = await Deno.readFile(bin);
  assert.deepEqual(bytes, binaryFile(v.words, v.words.map((_, i) => [...rowOf(v, i)])));
  const back = await readWord2vecBinary(bin);
  assert.deepEqual(back.words, v.words);
  assert.deepEqual(back.data, v.data);
  const bin2 = join(dir, "v2.bin");
  await writeWord2vecBinary(bin2, back);
  assert.deepEqual(await Deno.readFile(bin2), bytes);

  const txt = join(dir, "v.txt");
  await writeWord2vecText(txt, v);
  const fromText = await readWord2vecText(txt);
  assert.deepEqual(fromText.words, v.words);
  assert.deepEqual(fromText.data, v.data);
  assert.equal(formatFloat32(Math.fround(0.1)), "0.1");
  assert.equal(formatFloat32(2), "2");
  assert.equal(formatFloat32(-0), "-0");
  for (const x of [1e-30, -3.4e38, 1e-45, 123456.789, 7.006e-8, 1 / 3]) {
    const f = Math.fround(x);
    assert.equal(Math.fround(Number(formatFloat32(f))), f, `${x}`);
  }
  assert.equal(await sniffVectorFormat(bin), "bin");
  assert.equal(await sniffVectorFormat(txt), "txt");
  assert.deepEqual((await readVectors(txt)).data, v.data);
  assert.deepEqual((await readVectors(bin)).data, v.data);
  // No temp files left behind.
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
    "v.bin",
    "v.txt",
    "v2.bin",
  ]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("binary: with and without newlines, UTF-8 words, limit, gz, float16", async () => {
  const dir = await Deno.makeTempDir();
  const words = ["</s>", "café", "naïve_person", "猫"];
  const rows = [[1, 2, 3], [4, 5, 6], [-7, 8.5, 0], [0, 0, 1e-3]];
  for (const newline of [true, false]) {
    const path = await tempFile(dir, `nl${newline}.bin`, binaryFile(words, rows, { newline }));
    const v = await readVectors(path);
    assert.deepEqual(v.words, words);
    assert.deepEqual([...vectorOf(v, "猫")!], [0, 0, Math.fround(1e-3)]);
    const two = await readWord2vecBinary(path, { limit: 2 });
    assert.deepEqual(two.words, words.slice(0, 2));
    assert.equal(two.data.length, 6);
  }
  const gz = await tempFile(dir, "v.bin.gz", gzipSync(binaryFile(words, rows)));
  const fromGz = await readVectors(gz);
  assert.deepEqual(fromGz.words, words);
  assert.deepEqual([...fromGz.data.subarray(6, 9)], [-7, 8.5, 0]);
  const half = await readWord2vecBinary(gz, { float16: true });
  assert.ok(half.half instanceof Uint16Array);
  assert.deepEqual([...rowOf(half, 2)], [-7, 8.5, 0]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("binary: a vector spanning the 16 MiB read window is read whole", async () => {
  const dir = await Deno.makeTempDir();
  const dim = 1000; // 4000-byte rows straddle the window edge somewhere in ~4200 rows
  const v = randomVectors(4300, dim, 7);
  const path = join(dir, "big.bin.gz");
  await writeWord2vecBinary(join(dir, "big.bin"), v);
  await Deno.writeFile(path, gzipSync(await Deno.readFile(join(dir, "big.bin"))));
  for (const p of [join(dir, "big.bin"), path]) {
    const back = await readWord2vecBinary(p);
    assert.deepEqual(back.words, v.words);
    assert.deepEqual(back.data, v.data);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("text: fastText header with CRLF and trailing spaces, GloVe headerless, gz", async () => {
  const dir = await Deno.makeTempDir();
  const vec = await tempFile(
    dir,
    "v.vec",
    "3 2 \r\nthe 0.5 -1 \r\nÉcole 1e-3 2\r\n\r\nfoo 3 4\r\n",
  );
  const v = await readWord2vecText(vec);
  assert.deepEqual(v.words, ["the", "École", "foo"]);
  assert.deepEqual([...v.data], [0.5, -1, Math.fround(1e-3), 2, 3, 4]);
  assert.deepEqual((await readWord2vecText(vec, { limit: 1 })).words, ["the"]);

  const gloveText = "the 0.1 0.2 0.3\nof -1 0 1\nand 5 5 5\n";
  const glove = await tempFile(dir, "glove.txt", gloveText);
  const g = await readVectors(glove);
  assert.equal(g.dim, 3);
  assert.deepEqual(g.words, ["the", "of", "and"]);
  assert.deepEqual((await readVectors(glove, { limit: 2 })).words, ["the", "of"]);
  const gz = await tempFile(dir, "glove.txt.gz", gzipSync(enc.encode(gloveText)));
  assert.deepEqual((await readVectors(gz)).data, g.data);
  const h = await readWord2vecText(glove, { float16: true });
  assert.deepEqual([...rowOf(h, 1)], [-1, 0, 1]);

  const out = join(dir, "conv.bin");
  assert.deepEqual(await convertVectors(glove, out, "bin"), { rows: 3, dim: 3 });
  assert.deepEqual((await readWord2vecBinary(out)).data, g.data);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("binary malformed input names the byte offset", async () => {
  const dir = await Deno.makeTempDir();
  const words = ["a", "b", "c"];
  const rows = [[1, 2], [3, 4], [5, 6]];
  const good = binaryFile(words, rows);
  // Truncated vector: cut the last row in half (header 4 B, rows of 1+1+8+1 = 11 B).
  const cut = await tempFile(dir, "cut.bin", good.subarray(0, good.length - 6));
  await rejects(readWord2vecBinary(cut), /cut\.bin: byte 28: row 2 \("c"\): truncated vector/);
  // Header count larger than rows present.
  const short = await tempFile(dir, "short.bin", binaryFile(words, rows, { header: "5 2\n" }));
  await rejects(
    readWord2vecBinary(short),
    /short\.bin: byte 37: header says 5 rows but the file ends after 3 rows/,
  );
  // Bad header.
  const bad = await tempFile(dir, "bad.bin", binaryFile(words, rows, { header: "three 2\n" }));
  await rejects(readWord2vecBinary(bad), /bad\.bin: byte 0: bad header "three 2".*count dim/);
  // Wrong dimension in the header: rows are 2 floats but the header says 3, so the data no
  // longer lines up and parsing stops at a named offset.
  const wrongDim = await tempFile(dir, "dim.bin", binaryFile(words, rows, { header: "3 3\n" }));
  await rejects(
    readWord2vecBinary(wrongDim),
    /dim\.bin: byte 18: row 1: expected a word, found control byte 0x00 .*3 floats the header/,
  );
  // Fewer rows in the header than present: extra data after the last row.
  const extra = await tempFile(dir, "extra.bin", binaryFile(words, rows, { header: "2 2\n" }));
  await rejects(readWord2vecBinary(extra), /extra\.bin: byte 26: expected end of file/);
  // gz offsets are decompressed offsets and say so.
  const gz = await tempFile(dir, "cut.bin.gz", gzipSync(good.subarray(0, good.length - 6)));
  await rejects(readWord2vecBinary(gz), /cut\.bin\.gz \(decompressed\): byte 28:/);
  // Strict UTF-8.
  const latin1 = concat(["1 1\n", new Uint8Array([0x63, 0xe9, 0x20]), f32bytes([1]), "\n"]);
  const l1 = await tempFile(dir, "latin1.bin", latin1);
  await rejects(readWord2vecBinary(l1, { unicodeErrors: "strict" }), /byte 4: row 0: invalid/);
  assert.equal((await readWord2vecBinary(l1)).words[0], "c\ufffd");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("text malformed input names the line", async () => {
  const dir = await Deno.makeTempDir();
  const wrong = await tempFile(dir, "w.txt", "2 3\na 1 2 3\nb 1 2\n");
  await rejects(readWord2vecText(wrong), /w\.txt:3: expected 3 numbers after word "b", found 2/);
  const nan = await tempFile(dir, "n.txt", "1 2\na 1 x1\n");
  await rejects(
    readWord2vecText(nan),
    /n\.txt:2: value 2 of "a": expected a finite number, found "x1"/,
  );
  // Non-finite values are refused with file, line and column, whatever their spelling.
  for (const bad of ["nan", "-NaN", "Infinity", "-inf", "1e999"]) {
    const f = await tempFile(dir, "nf.txt", `2 2\na 1 2\nb 3 ${bad}\n`);
    await rejects(
      readWord2vecText(f),
      new RegExp(`nf\\.txt:3: value 2 of "b": expected a finite number, found "${bad}"`),
    );
  }
  const short = await tempFile(dir, "s.txt", "4 2\na 1 2\nb 3 4\n");
  await rejects(readWord2vecText(short), /s\.txt: header says 4 rows but the file ends after 2/);
  const extra = await tempFile(dir, "e.txt", "1 2\na 1 2\nb 3 4\n");
  await rejects(readWord2vecText(extra), /e\.txt:3: header declares 1 rows, found more/);
  const glove = await tempFile(dir, "g.txt", "a 1 2\nb 3 4 5\n");
  await rejects(readWord2vecText(glove), /g\.txt:2: expected 2 numbers after word "b", found 3/);
  const junk = await tempFile(dir, "j.txt", "hello\n");
  await rejects(readWord2vecText(junk), /j\.txt:1: expected a 'count dim' header/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("binary vectors with NaN or Infinity are refused with the byte, row and value", async () => {
  const dir = await Deno.makeTempDir();
  for (const [bad, shown] of [[NaN, "NaN"], [Infinity, "Infinity"], [-Infinity, "-Infinity"]]) {
    const bytes = concat([
      "2 2\n",
      "a ",
      f32bytes([1, 2]),
      "\n",
      "b ",
      f32bytes([3, bad as number]),
      "\n",
    ]);
    const f = await tempFile(dir, "nf.bin", bytes);
    await rejects(
      readWord2vecBinary(f),
      new RegExp(
        `nf\\.bin: byte 21: row 1 \\("b"\\), value 2: expected a finite float32, found ${shown}`,
      ),
    );
    await rejects(readWord2vecBinary(f, { float16: true }), /row 1 \("b"\), value 2/);
  }
  // The largest finite float32 is fine.
  const ok = await tempFile(
    dir,
    "ok.bin",
    concat(["1 1\n", "a ", f32bytes([3.4028234663852886e38]), "\n"]),
  );
  assert.equal((await readWord2vecBinary(ok)).data[0], 3.4028234663852886e38);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("writers refuse words that the formats cannot hold, leaving no file", async () => {
  const dir = await Deno.makeTempDir();
  const v = makeWordVectors(["ok", "two words"], 1, new Float32Array([1, 2]));
  const path = join(dir, "bad.bin");
  await rejects(writeWord2vecBinary(path, v), /row 1 word "two words"/);
  await rejects(writeWord2vecText(join(dir, "bad.txt"), v), /row 1/);
  assert.deepEqual([...Deno.readDirSync(dir)], []);
  await Deno.remove(dir, { recursive: true });
});
