/**
 * Readers for the official CIFAR-10 / CIFAR-100 binary formats, plain or gzipped, decoded to
 * NHWC uint8 images with validation that names the file, record and byte offset on bad input.
 *
 * Layouts (one record after another, no header):
 * - CIFAR-10: 1 label byte + 3072 pixel bytes (`data_batch_1..5.bin`, `test_batch.bin`).
 * - CIFAR-100: 1 coarse byte + 1 fine byte + 3072 pixel bytes (`train.bin`, `test.bin`).
 * - Pixels are planar: 1024 red, 1024 green, 1024 blue bytes, each a row-major 32x32 plane.
 *
 * @example
 * ```ts
 * const train = await loadCifar(resolveDataDir(""), "cifar100", "train");
 * train.count; // 50000
 * const { mean, std } = channelStats(train.images); // mean ≈ [0.507, 0.487, 0.441]
 * ```
 * @module
 */
import { isDir, statOrNull } from "../io/fs.ts";
import { InputError } from "../io/errors.ts";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import { gunzip } from "node:zlib";

/** Which CIFAR. */
export type CifarDataset = "cifar10" | "cifar100";
/** Which split. */
export type CifarSplitName = "train" | "test";

/** One decoded split. */
export interface CifarSplit {
  dataset: CifarDataset;
  split: CifarSplitName;
  /** Number of images. */
  count: number;
  /** NHWC uint8, `count * 32 * 32 * 3` bytes. */
  images: Uint8Array;
  /** Class labels (fine labels for CIFAR-100). */
  labels: Int32Array;
  /** CIFAR-100 coarse (superclass) labels. */
  coarseLabels?: Int32Array;
  /** Label names, index = label value. */
  labelNames: string[];
  /** CIFAR-100 coarse label names. */
  coarseNames?: string[];
  /** sha256 of the decompressed record bytes, files concatenated in their official order. */
  sha256: string;
}

/** Image side in pixels. */
export const IMAGE_SIDE = 32;
/** Pixel bytes per image (3 planes of 32x32). */
export const PIXELS_PER_IMAGE_BYTES = 3 * IMAGE_SIDE * IMAGE_SIDE;

/** Number of (fine) classes per dataset. */
export const NUM_CLASSES: Readonly<Record<CifarDataset, number>> = { cifar10: 10, cifar100: 100 };
/** Number of CIFAR-100 coarse classes. */
export const NUM_COARSE_CLASSES = 20;
/** Official record counts, for completeness checks. */
export const OFFICIAL_RECORDS: Readonly<Record<CifarDataset, Record<CifarSplitName, number>>> = {
  cifar10: { train: 50_000, test: 10_000 },
  cifar100: { train: 50_000, test: 10_000 },
};

/** Thrown for missing or malformed CIFAR files. `kind` separates "not there" from "broken". */
export class CifarDataError extends InputError {
  override name = "CifarDataError";
  constructor(message: string, readonly kind: "missing" | "corrupt") {
    super(message);
  }
}

/**
 * Bytes per record: label byte(s) plus 3072 pixel bytes.
 *
 * @example
 * ```ts
 * bytesPerRecord("cifar10"); // 3073
 * bytesPerRecord("cifar100"); // 3074
 * ```
 */
export function bytesPerRecord(dataset: CifarDataset): number {
  return _labelBytes(dataset) + PIXELS_PER_IMAGE_BYTES;
}

function _labelBytes(dataset: CifarDataset): number {
  return dataset === "cifar100" ? 2 : 1;
}

/**
 * The data directory: the flag if given, else `$DEVISE_DATA_DIR`, else `data`.
 *
 * @example
 * ```ts
 * resolveDataDir(""); // "data" unless DEVISE_DATA_DIR is set
 * resolveDataDir("/work/shared/data"); // "/work/shared/data"
 * ```
 */
export function resolveDataDir(flag: string): string {
  if (flag) return flag;
  return Deno.env.get("DEVISE_DATA_DIR") || "data";
}

/** Folder names tried under the data dir, in order. */
export const CIFAR_FOLDERS: Readonly<Record<CifarDataset, readonly string[]>> = {
  cifar10: ["cifar-10-binary", "cifar-10-batches-bin"],
  cifar100: ["cifar-100-binary"],
};

/**
 * Record file names of a split, in official order (without `.gz`).
 *
 * @example
 * ```ts
 * splitFileNames("cifar10", "train"); // ["data_batch_1.bin", ..., "data_batch_5.bin"]
 * ```
 */
export function splitFileNames(dataset: CifarDataset, split: CifarSplitName): string[] {
  if (dataset === "cifar100") return [`${split}.bin`];
  if (split === "test") return ["test_batch.bin"];
  return [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
}

/**
 * Finds the dataset folder under `dataDir` (e.g. `cifar-100-binary/`).
 * Throws a `missing` {@link CifarDataError} listing every path tried.
 *
 * @example
 * ```ts
 * await findCifarFolder("/work/shared/data", "cifar10"); // "/work/shared/data/cifar-10-binary"
 * ```
 */
export async function findCifarFolder(dataDir: string, dataset: CifarDataset): Promise<string> {
  const tried = CIFAR_FOLDERS[dataset].map((name) => join(dataDir, name));
  for (const path of tried) {
    if (await isDir(path)) return path;
  }
  throw new CifarDataError(
    `no ${_pretty(dataset)} folder under '${dataDir}': looked for ${
      tried.map((p) => p + "/").join(", ")
    }. Pass --data-dir or set DEVISE_DATA_DIR, or run 'deno task download --dataset ${dataset}'.`,
    "missing",
  );
}

/**
 * Resolves each record file of a split to an existing path (`NAME` or `NAME.gz`).
 * Throws a `missing` {@link CifarDataError} naming every file that was looked for.
 *
 * @example
 * ```ts
 * await locateSplitFiles("/work/shared/data/cifar-100-binary", "cifar100", "test");
 * // ["/work/shared/data/cifar-100-binary/test.bin.gz"]
 * ```
 */
export async function locateSplitFiles(
  folder: string,
  dataset: CifarDataset,
  split: CifarSplitName,
): Promise<string[]> {
  const found: string[] = [];
  const missing: string[] = [];
  for (const name of splitFileNames(dataset, split)) {
    let path: string | null = null;
    for (const candidate of [join(folder, name), join(folder, name) + ".gz"]) {
      // A symlink loop or an unreadable entry throws here, naming the path.
      const info = await statOrNull(candidate);
      if (!info) continue;
      if (!info.isFile) {
        throw new CifarDataError(
          `${candidate}: expected a CIFAR data file, found a ${
            info.isDirectory ? "folder" : "special file"
          }`,
          "corrupt",
        );
      }
      path = candidate;
      break;
    }
    if (path) found.push(path);
    else missing.push(`${name}[.gz]`);
  }
  if (missing.length > 0) {
    throw new CifarDataError(
      `${_pretty(dataset)} ${split} split incomplete in '${folder}': missing ${
        missing.join(", ")
      } (each file may be plain or gzipped)`,
      "missing",
    );
  }
  return found;
}

/**
 * Reads a file, gunzipping it when its name ends in `.gz`. Corrupt gzip data raises a `corrupt`
 * {@link CifarDataError} naming the file.
 *
 * @example
 * ```ts
 * const bytes = await readMaybeGzip("data/cifar-100-binary/test.bin.gz");
 * ```
 */
export async function readMaybeGzip(path: string): Promise<Uint8Array> {
  const raw = await Deno.readFile(path);
  if (!path.endsWith(".gz")) return raw;
  if (raw.length < 18 || raw[0] !== 0x1f || raw[1] !== 0x8b) {
    throw new CifarDataError(`${path}: not a gzip file (bad magic bytes)`, "corrupt");
  }
  try {
    const out = await promisify(gunzip)(raw);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (err) {
    throw new CifarDataError(
      `${path}: corrupt gzip data (${(err as Error).message}); re-download or gunzip it to check`,
      "corrupt",
    );
  }
}

/**
 * Reads a label-name file: one name per line, line number minus one = label value. Trailing
 * blank lines (the official `batches.meta.txt` has them) are dropped; inner blanks are errors.
 *
 * @example
 * ```ts
 * await readLabelNames("data/cifar-10-binary/batches.meta.txt", 10); // ["airplane", ...]
 * ```
 */
export async function readLabelNames(path: string, expectedCount: number): Promise<string[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
    throw new CifarDataError(
      `missing label-name file ${path} (expected ${expectedCount} names, one per line)`,
      "missing",
    );
  }
  const names = text.split(/\r?\n/).map((s) => s.trim());
  while (names.length > 0 && names[names.length - 1] === "") names.pop();
  const blank = names.indexOf("");
  if (blank >= 0) throw new CifarDataError(`${path}:${blank + 1}: empty label name`, "corrupt");
  if (names.length !== expectedCount) {
    throw new CifarDataError(
      `${path}: expected ${expectedCount} label names, found ${names.length}`,
      "corrupt",
    );
  }
  return names;
}

/**
 * Label names of a dataset folder: CIFAR-10 `batches.meta.txt`; CIFAR-100
 * `fine_label_names.txt` and `coarse_label_names.txt`.
 *
 * @example
 * ```ts
 * const { fine, coarse } = await readCifarLabelNames(folder, "cifar100");
 * ```
 */
export async function readCifarLabelNames(
  folder: string,
  dataset: CifarDataset,
): Promise<{ fine: string[]; coarse?: string[] }> {
  if (dataset === "cifar10") {
    return { fine: await readLabelNames(join(folder, "batches.meta.txt"), 10) };
  }
  return {
    fine: await readLabelNames(join(folder, "fine_label_names.txt"), 100),
    coarse: await readLabelNames(join(folder, "coarse_label_names.txt"), NUM_COARSE_CLASSES),
  };
}

/**
 * Loads one split: finds the folder, reads (and gunzips) each record file, validates sizes and
 * labels, and converts the planar pixels to NHWC.
 *
 * @example
 * ```ts
 * const test = await loadCifar("/work/shared/data", "cifar10", "test");
 * test.images.length; // 10000 * 3072
 * ```
 */
export async function loadCifar(
  dataDir: string,
  dataset: CifarDataset,
  split: CifarSplitName,
): Promise<CifarSplit> {
  const folder = await findCifarFolder(dataDir, dataset);
  const files = await locateSplitFiles(folder, dataset, split);
  const names = await readCifarLabelNames(folder, dataset);
  const recordBytes = bytesPerRecord(dataset);
  const hash = createHash("sha256");
  const raws: { path: string; bytes: Uint8Array }[] = [];
  let count = 0;
  for (const path of files) {
    const bytes = await readMaybeGzip(path);
    _checkWholeRecords(path, bytes.length, dataset);
    hash.update(bytes);
    raws.push({ path, bytes });
    count += bytes.length / recordBytes;
  }
  const images = new Uint8Array(count * PIXELS_PER_IMAGE_BYTES);
  const labels = new Int32Array(count);
  const coarseLabels = dataset === "cifar100" ? new Int32Array(count) : undefined;
  let first = 0;
  for (const { path, bytes } of raws) {
    first += decodeRecords(path, bytes, dataset, images, labels, coarseLabels, first);
  }
  return {
    dataset,
    split,
    count,
    images,
    labels,
    ...(coarseLabels ? { coarseLabels } : {}),
    labelNames: names.fine,
    ...(names.coarse ? { coarseNames: names.coarse } : {}),
    sha256: hash.digest("hex"),
  };
}

/**
 * Decodes raw records into preallocated NHWC images and labels starting at image `first`;
 * returns the number of records. `file` only labels error messages.
 *
 * @example
 * ```ts
 * const n = decodeRecords("x.bin", bytes, "cifar10", images, labels, undefined, 0);
 * ```
 */
export function decodeRecords(
  file: string,
  bytes: Uint8Array,
  dataset: CifarDataset,
  images: Uint8Array,
  labels: Int32Array,
  coarseLabels: Int32Array | undefined,
  first: number,
): number {
  _checkWholeRecords(file, bytes.length, dataset);
  const recordBytes = bytesPerRecord(dataset);
  const labelBytes = _labelBytes(dataset);
  const numClasses = NUM_CLASSES[dataset];
  const count = bytes.length / recordBytes;
  const plane = IMAGE_SIDE * IMAGE_SIDE;
  for (let r = 0; r < count; r++) {
    const off = r * recordBytes;
    const fine = bytes[off + labelBytes - 1];
    if (fine >= numClasses) _badLabel(file, r, off + labelBytes - 1, fine, numClasses, "label");
    labels[first + r] = fine;
    if (coarseLabels) {
      const coarse = bytes[off];
      if (coarse >= NUM_COARSE_CLASSES) {
        _badLabel(file, r, off, coarse, NUM_COARSE_CLASSES, "coarse label");
      }
      coarseLabels[first + r] = coarse;
    }
    // Planar R,G,B planes -> interleaved HWC.
    const src = off + labelBytes;
    let dst = (first + r) * PIXELS_PER_IMAGE_BYTES;
    for (let p = 0; p < plane; p++, dst += 3) {
      images[dst] = bytes[src + p];
      images[dst + 1] = bytes[src + plane + p];
      images[dst + 2] = bytes[src + 2 * plane + p];
    }
  }
  return count;
}

/**
 * Per-channel mean and std of NHWC uint8 images on the 0..1 scale (population std).
 *
 * @example
 * ```ts
 * channelStats(train.images); // { mean: [0.5071, 0.4865, 0.4409], std: [0.2673, 0.2564, 0.2762] }
 * ```
 */
export function channelStats(images: Uint8Array): { mean: number[]; std: number[] } {
  if (images.length % 3 !== 0) throw new Error(`channelStats: ${images.length} bytes is not NHWC`);
  // Integer histograms are exact and fast; moments come from them.
  const hist = [new Float64Array(256), new Float64Array(256), new Float64Array(256)];
  const [h0, h1, h2] = hist;
  for (let i = 0; i < images.length; i += 3) {
    h0[images[i]]++;
    h1[images[i + 1]]++;
    h2[images[i + 2]]++;
  }
  const n = images.length / 3;
  const mean: number[] = [];
  const std: number[] = [];
  for (const h of hist) {
    let sum = 0;
    let sumSq = 0;
    for (let v = 0; v < 256; v++) {
      sum += h[v] * v;
      sumSq += h[v] * v * v;
    }
    const m = sum / n;
    mean.push(m / 255);
    std.push(Math.sqrt(Math.max(0, sumSq / n - m * m)) / 255);
  }
  return { mean, std };
}

/**
 * Images per class.
 *
 * @example
 * ```ts
 * classCounts(new Int32Array([0, 2, 2]), 3); // Int32Array [1, 0, 2]
 * ```
 */
export function classCounts(labels: Int32Array, numClasses: number): Int32Array {
  const counts = new Int32Array(numClasses);
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (l < 0 || l >= numClasses) {
      throw new RangeError(`classCounts: label ${l} at index ${i} outside [0, ${numClasses})`);
    }
    counts[l]++;
  }
  return counts;
}

function _checkWholeRecords(file: string, size: number, dataset: CifarDataset): void {
  const recordBytes = bytesPerRecord(dataset);
  if (size > 0 && size % recordBytes === 0) return;
  if (size === 0) throw new CifarDataError(`${file}: empty file (0 records)`, "corrupt");
  const other: CifarDataset = dataset === "cifar10" ? "cifar100" : "cifar10";
  const hint = size % bytesPerRecord(other) === 0
    ? ` (it divides into ${bytesPerRecord(other)}-byte ${_pretty(other)} records: wrong dataset?)`
    : " (truncated or not a CIFAR file?)";
  throw new CifarDataError(
    `${file}: ${size} bytes is not a whole number of ${recordBytes}-byte ${
      _pretty(dataset)
    } records; ` +
      `the partial record starts at byte offset ${
        Math.floor(size / recordBytes) * recordBytes
      }${hint}`,
    "corrupt",
  );
}

function _badLabel(
  file: string,
  record: number,
  offset: number,
  value: number,
  limit: number,
  what: string,
): never {
  throw new CifarDataError(
    `${file}: record ${record} (byte offset ${offset}) has ${what} ${value}, expected 0..${
      limit - 1
    }`,
    "corrupt",
  );
}

function _pretty(dataset: CifarDataset): string {
  return dataset === "cifar10" ? "CIFAR-10" : "CIFAR-100";
}
