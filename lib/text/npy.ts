/**
 * A reader for NumPy `.npy` files held in memory, limited to what pretrained word vectors need:
 * one 2-D little-endian float32 matrix. The header (a Python dict literal) is parsed as a literal,
 * not by pattern matching, so key order, spacing, trailing commas, lists for tuples and Python 2
 * `L` suffixes all read. Anything else (other dtypes, other ranks, a short or long data section,
 * NaN or ±Infinity) is refused with a {@link VectorFormatError} naming the file and the place.
 *
 * @example
 * ```ts
 * const { rows, cols, data } = parseNpyMatrix(await Deno.readFile("emb.npy"), { source: "emb.npy" });
 * data.subarray(0, cols); // row 0
 * ```
 * @module
 */
import { VectorFormatError } from "./word2vec_io.ts";

/**
 * The six bytes every `.npy` file starts with: `\x93NUMPY`.
 *
 * @example
 * ```ts
 * const isNpy = NPY_MAGIC.every((b, i) => bytes[i] === b);
 * ```
 */
export const NPY_MAGIC: Uint8Array = new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);

/**
 * Byte width of the header-length field, by format major version (1.0: u16; 2.0, 3.0: u32).
 *
 * @example
 * ```ts
 * NPY_HEADER_LENGTH_BYTES[2]; // 4
 * ```
 */
export const NPY_HEADER_LENGTH_BYTES: Readonly<Record<number, 2 | 4>> = { 1: 2, 2: 4, 3: 4 };

/**
 * The only dtype accepted: little-endian 32-bit float.
 *
 * @example
 * ```ts
 * parseNpyHeader(bytes).descr === NPY_FLOAT32_DESCR; // true for a readable matrix
 * ```
 */
export const NPY_FLOAT32_DESCR = "<f4";

/** Bytes per value of {@link NPY_FLOAT32_DESCR}. */
const FLOAT32_BYTES = 4;

/** Offset of the version bytes (major, minor), right after the magic. */
const VERSION_OFFSET = NPY_MAGIC.length;
/** Offset of the header-length field. */
const HEADER_LENGTH_OFFSET = VERSION_OFFSET + 2;

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error("npy assumes a little-endian machine");
}

/**
 * The parsed header of an `.npy` file.
 *
 * @example
 * ```ts
 * const h: NpyHeader = parseNpyHeader(bytes); // { version: "1.0", descr: "<f4", ... }
 * ```
 */
export interface NpyHeader {
  /** Format version, e.g. `"1.0"`. */
  version: string;
  /** The dtype string, e.g. `<f4`. */
  descr: string;
  /** True when the data is stored column-major. */
  fortranOrder: boolean;
  /** The array's shape. */
  shape: number[];
  /** Byte offset where the data starts. */
  dataOffset: number;
}

/**
 * A row-major float32 matrix.
 *
 * @example
 * ```ts
 * const m: NpyMatrix = parseNpyMatrix(bytes);
 * m.data[2 * m.cols + 1]; // row 2, column 1
 * ```
 */
export interface NpyMatrix {
  rows: number;
  cols: number;
  /** `rows * cols` values, row `i` at `[i * cols, (i + 1) * cols)`. */
  data: Float32Array;
}

/**
 * Options for {@link parseNpyMatrix}.
 *
 * @example
 * ```ts
 * const opts: NpyReadOptions = { source: "emb.npy", fortranOrder: "transpose" };
 * ```
 */
export interface NpyReadOptions {
  /** What errors call the file (a path, or `wheel!member`); default `<npy>`. */
  source?: string;
  /**
   * A column-major (`fortran_order: True`) file: refuse it (the default), or transpose it into
   * row-major order.
   */
  fortranOrder?: "refuse" | "transpose";
}

/** A Python literal as found in an npy header. Tuples and lists both become arrays. */
type PyValue = string | number | boolean | null | PyValue[] | { [key: string]: PyValue };

/** Recursive-descent parser for the Python literals an npy header holds. */
class _PyLiteralParser {
  pos = 0;
  constructor(readonly text: string, readonly where: (pos: number) => string) {}

  fail(expected: string): never {
    const found = this.pos < this.text.length
      ? JSON.stringify(this.text.slice(this.pos, this.pos + 20))
      : "the end of the header";
    throw new VectorFormatError(`${this.where(this.pos)}: expected ${expected}, found ${found}`);
  }

  skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos])) this.pos++;
  }

  /** Consumes `ch` (after spaces) when it is next; true when it was. */
  eat(ch: string): boolean {
    this.skipSpace();
    if (this.text[this.pos] !== ch) return false;
    this.pos++;
    return true;
  }

  value(): PyValue {
    this.skipSpace();
    const ch = this.text[this.pos];
    if (ch === "{") return this.dict();
    if (ch === "(") return this.sequence("(", ")", true);
    if (ch === "[") return this.sequence("[", "]", false);
    if (ch === "'" || ch === '"') return this.string();
    const word = /^(True|False|None)\b/.exec(this.text.slice(this.pos));
    if (word) {
      this.pos += word[1].length;
      return word[1] === "None" ? null : word[1] === "True";
    }
    // Python 2 wrote longs with an `L` suffix: (400000L, 50L).
    const num = /^[+-]?(\d+(\.\d*)?([eE][+-]?\d+)?)[lL]?/.exec(this.text.slice(this.pos));
    if (num) {
      this.pos += num[0].length;
      return Number(num[0].replace(/[lL]$/, ""));
    }
    return this.fail("a Python literal (dict, tuple, string, number, True, False or None)");
  }

  dict(): { [key: string]: PyValue } {
    this.eat("{");
    const out: { [key: string]: PyValue } = {};
    while (!this.eat("}")) {
      const keyAt = this.pos;
      const key = this.value();
      if (typeof key !== "string") {
        this.pos = keyAt;
        this.fail("a string key");
      }
      if (!this.eat(":")) this.fail(`':' after key '${key}'`);
      out[key] = this.value();
      if (!this.eat(",")) {
        if (!this.eat("}")) this.fail("',' or '}'");
        break;
      }
    }
    return out;
  }

  /** A tuple or list; `(x)` without a comma is just `x`, as in Python. */
  sequence(open: string, close: string, isTuple: boolean): PyValue {
    this.eat(open);
    const items: PyValue[] = [];
    let sawComma = false;
    while (!this.eat(close)) {
      items.push(this.value());
      if (!this.eat(",")) {
        if (!this.eat(close)) this.fail(`',' or '${close}'`);
        break;
      }
      sawComma = true;
    }
    return isTuple && items.length === 1 && !sawComma ? items[0] : items;
  }

  string(): string {
    const quote = this.text[this.pos++];
    let out = "";
    for (;;) {
      if (this.pos >= this.text.length) this.fail(`a closing ${quote}`);
      const ch = this.text[this.pos++];
      if (ch === quote) return out;
      if (ch !== "\\") {
        out += ch;
        continue;
      }
      const esc = this.text[this.pos++];
      const simple: Record<string, string> = { n: "\n", t: "\t", r: "\r", "0": "\0" };
      if (esc === "x" || esc === "u") {
        const width = esc === "x" ? 2 : 4;
        const hex = this.text.slice(this.pos, this.pos + width);
        if (!new RegExp(`^[0-9a-fA-F]{${width}}$`).test(hex)) this.fail(`${width} hex digits`);
        out += String.fromCharCode(parseInt(hex, 16));
        this.pos += width;
      } else out += simple[esc] ?? esc;
    }
  }
}

/** Words for a dtype string in errors, e.g. `<f8` → `64-bit float, little-endian`. */
function _describeDescr(descr: string): string {
  const m = /^([<>|=])([a-zA-Z])(\d+)$/.exec(descr);
  if (!m) return "not a simple dtype";
  const kinds: Record<string, string> = {
    f: "float",
    i: "signed integer",
    u: "unsigned integer",
    b: "boolean",
    c: "complex",
    S: "byte string",
    U: "unicode string",
    O: "Python object",
    M: "datetime",
    m: "timedelta",
  };
  const order: Record<string, string> = {
    "<": "little-endian",
    ">": "big-endian",
    "|": "no byte order",
    "=": "native byte order",
  };
  const kind = kinds[m[2]] ?? `kind '${m[2]}'`;
  const bits = m[2] === "U" || m[2] === "S" ? `${m[3]}-character` : `${8 * Number(m[3])}-bit`;
  return `${bits} ${kind}, ${order[m[1]]}`;
}

/**
 * Parses the magic, version and header dict of an `.npy` file. Throws
 * {@link VectorFormatError} for a missing magic, an unknown version, a header that runs past the
 * end of the file, or a header that is not a dict with `descr`, `fortran_order` and `shape`.
 *
 * @example
 * ```ts
 * const h = parseNpyHeader(await Deno.readFile("emb.npy"), "emb.npy");
 * h.shape; // [400000, 50]
 * h.dataOffset; // 128
 * ```
 */
export function parseNpyHeader(bytes: Uint8Array, source = "<npy>"): NpyHeader {
  for (let i = 0; i < NPY_MAGIC.length; i++) {
    if (bytes[i] !== NPY_MAGIC[i]) {
      throw new VectorFormatError(
        `${source}: byte 0: not an .npy file: expected the magic \\x93NUMPY, found ` +
          JSON.stringify(new TextDecoder("latin1").decode(bytes.subarray(0, NPY_MAGIC.length))),
      );
    }
  }
  const major = bytes[VERSION_OFFSET], minor = bytes[VERSION_OFFSET + 1];
  const lengthBytes = NPY_HEADER_LENGTH_BYTES[major];
  if (lengthBytes === undefined || minor !== 0) {
    throw new VectorFormatError(
      `${source}: byte ${VERSION_OFFSET}: npy format version ${major}.${minor} is not ` +
        `supported: expected ${
          Object.keys(NPY_HEADER_LENGTH_BYTES).map((v) => `${v}.0`).join(", ")
        }`,
    );
  }
  const headerStart = HEADER_LENGTH_OFFSET + lengthBytes;
  if (bytes.length < headerStart) {
    throw new VectorFormatError(
      `${source}: byte ${bytes.length}: file ends inside the npy preamble (${headerStart} bytes)`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = lengthBytes === 2
    ? view.getUint16(HEADER_LENGTH_OFFSET, true)
    : view.getUint32(HEADER_LENGTH_OFFSET, true);
  const dataOffset = headerStart + headerLength;
  if (dataOffset > bytes.length) {
    throw new VectorFormatError(
      `${source}: byte ${HEADER_LENGTH_OFFSET}: header says ${headerLength} bytes, but the file ` +
        `ends after ${bytes.length - headerStart} of them`,
    );
  }
  // Version 3.0 headers are UTF-8; earlier ones latin-1.
  const text = new TextDecoder(major >= 3 ? "utf-8" : "latin1").decode(
    bytes.subarray(headerStart, dataOffset),
  );
  const where = (pos: number) => `${source}: npy header at byte ${headerStart + pos}`;
  const parser = new _PyLiteralParser(text, where);
  parser.skipSpace();
  if (text[parser.pos] !== "{") parser.fail("a dict literal '{...}'");
  const dict = parser.dict();
  parser.skipSpace();
  if (parser.pos !== text.length) parser.fail("only padding after the header dict");
  const { descr, fortran_order: fortranOrder, shape } = dict;
  if (typeof descr !== "string") {
    throw new VectorFormatError(
      `${where(0)}: expected 'descr' to be a dtype string such as '${NPY_FLOAT32_DESCR}', found ` +
        `${JSON.stringify(descr ?? "nothing")} (structured dtypes are not supported)`,
    );
  }
  if (typeof fortranOrder !== "boolean") {
    throw new VectorFormatError(
      `${where(0)}: expected 'fortran_order' True or False, found ${JSON.stringify(fortranOrder)}`,
    );
  }
  if (
    !Array.isArray(shape) ||
    !shape.every((n) => typeof n === "number" && Number.isSafeInteger(n) && n >= 0)
  ) {
    throw new VectorFormatError(
      `${where(0)}: expected 'shape' to be a tuple of non-negative integers, found ` +
        JSON.stringify(shape ?? "nothing"),
    );
  }
  return {
    version: `${major}.${minor}`,
    descr,
    fortranOrder,
    shape: shape as number[],
    dataOffset,
  };
}

/**
 * Parses an `.npy` file holding one 2-D `<f4` matrix into a row-major Float32Array (a copy: it
 * does not keep `bytes` alive). Refuses, with a {@link VectorFormatError} naming `source`: other
 * dtypes (named), `fortran_order: True` unless `fortranOrder: "transpose"`, other ranks, a data
 * section whose length is not `rows × cols × 4` (the data offset, expected and actual bytes are
 * named), and NaN or ±Infinity (row and column named).
 *
 * @example
 * ```ts
 * const m = parseNpyMatrix(bytes, { source: "wheel.whl!emb.npy", fortranOrder: "transpose" });
 * m.data[1 * m.cols + 0]; // row 1, column 0
 * ```
 */
export function parseNpyMatrix(bytes: Uint8Array, options: NpyReadOptions = {}): NpyMatrix {
  const source = options.source ?? "<npy>";
  const header = parseNpyHeader(bytes, source);
  if (header.descr !== NPY_FLOAT32_DESCR) {
    throw new VectorFormatError(
      `${source}: dtype '${header.descr}' (${_describeDescr(header.descr)}) is not supported: ` +
        `expected '${NPY_FLOAT32_DESCR}' (${_describeDescr(NPY_FLOAT32_DESCR)})`,
    );
  }
  if (header.shape.length !== 2) {
    throw new VectorFormatError(
      `${source}: shape (${header.shape.join(", ")}) has ${header.shape.length} dimension(s): ` +
        `expected a 2-D matrix (rows, cols)`,
    );
  }
  const [rows, cols] = header.shape;
  if (header.fortranOrder && options.fortranOrder !== "transpose") {
    throw new VectorFormatError(
      `${source}: fortran_order is True (column-major data): expected fortran_order False ` +
        `(row-major)`,
    );
  }
  const start = header.dataOffset;
  const expectedBytes = rows * cols * FLOAT32_BYTES;
  const actualBytes = bytes.length - start;
  if (actualBytes !== expectedBytes) {
    throw new VectorFormatError(
      `${source}: data starts at byte ${start}: shape (${rows}, ${cols}) of float32 needs ` +
        `${expectedBytes} bytes, found ${actualBytes} (${
          actualBytes < expectedBytes ? "truncated" : "extra data at the end"
        })`,
    );
  }
  // Copy the data out (aligned, and not pinning the caller's buffer).
  const stored = new Float32Array(
    bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + start + expectedBytes),
  );
  let data = stored;
  if (header.fortranOrder) {
    data = new Float32Array(rows * cols);
    for (let j = 0; j < cols; j++) {
      const column = j * rows;
      for (let i = 0; i < rows; i++) data[i * cols + j] = stored[column + i];
    }
  }
  _checkFinite(data, rows, cols, header, source);
  return { rows, cols, data };
}

/** Throws for the first NaN or ±Infinity in row-major order, naming its row, column and byte. */
function _checkFinite(
  data: Float32Array,
  rows: number,
  cols: number,
  header: NpyHeader,
  source: string,
): void {
  for (let k = 0; k < data.length; k++) {
    const x = data[k];
    // x - x is 0 for every finite x and NaN for NaN and ±Infinity.
    if (x - x === 0) continue;
    const row = Math.floor(k / cols), col = k % cols;
    const stored = header.fortranOrder ? col * rows + row : k;
    throw new VectorFormatError(
      `${source}: byte ${header.dataOffset + FLOAT32_BYTES * stored}: row ${row}, column ${col}: ` +
        `expected a finite float32, found ${x}`,
    );
  }
}

/**
 * Reads an `.npy` file from disk with {@link parseNpyMatrix}, naming the path in errors.
 *
 * @example
 * ```ts
 * const m = await readNpyMatrix("emb.npy");
 * [m.rows, m.cols]; // [400000, 50]
 * ```
 */
export async function readNpyMatrix(
  path: string,
  options: Omit<NpyReadOptions, "source"> = {},
): Promise<NpyMatrix> {
  return parseNpyMatrix(await Deno.readFile(path), { ...options, source: path });
}
