/**
 * Reads a user's image (file path or bytes) into the model's input: `size`×`size`×3 uint8 RGB,
 * row-major HWC, the layout of one CIFAR image in `CifarSplit.images`.
 *
 * The pipeline follows how CIFAR-style inputs are made: decode, auto-orient from EXIF, convert to sRGB
 * (greyscale, CMYK, 16-bit and palette inputs included), composite any alpha onto a fixed
 * background, take a centred square (`crop`, the default; `pad` letterboxes onto the background
 * instead, `squash` resizes both axes independently), then downscale with an antialiasing filter.
 *
 * Resampling is libvips' `vips_resize` through sharp: an exact box (area) average by the integer
 * part of the factor, then the `mks2021` kernel (Magic Kernel Sharp 2021) for the last ≤ 2×.
 * `bench/images_alias.ts` scores 1024×768 → 32×32 against an exact box average: nearest 11.9 dB,
 * plain bilinear 18.1 dB, tfjs `resizeBilinear` 11.4 dB; box shrink + lanczos3 40.6 dB,
 * + mks2021 42.0 dB, the best of sharp's kernels both overall and in the fine-detail regions that
 * must average to flat (46.1 dB), i.e. the least aliasing. With `crop` the centred square is cut
 * exactly, before resizing (sharp's `cover` cuts after resizing, up to half an output pixel off
 * centre: 11 dB worse); that costs JPEG shrink-on-load for non-square inputs, so a large
 * non-square JPEG is decoded in full.
 *
 * BMP, which libvips in sharp cannot read, is decoded by the npm package `bmp-ts` (pure
 * TypeScript, the BMP codec Jimp uses; 1/4/8-bit palette, 16/24/32-bit, bit fields, top-down
 * rows), after a check of the header's dimensions against the pixel limit. Its RLE decoding
 * misplaces colour bytes, so RLE-compressed BMPs (rare) are refused as unsupported.
 *
 * Every failure is one {@link ImageError} that names the file and says what is wrong.
 *
 * @example
 * ```ts
 * const pixels = await loadImage("photos/cat.jpg"); // Uint8Array(3072), 32×32×3
 * const padded = await loadImage(bytes, { fit: "pad", name: "upload.png" });
 * ```
 * @module
 */
import sharp, {
  type FailOnOptions,
  type FitEnum,
  type KernelEnum,
  type Metadata,
  type OutputInfo,
  type SharpOptions,
} from "sharp";
import { decode as decodeBmp } from "bmp-ts";
import { Buffer } from "node:buffer";
import { InputError } from "../io/errors.ts";
import { nativeDecodable, type NativeImageDecoder } from "./native.ts";

/** The model's input side (CIFAR). */
export const DEFAULT_IMAGE_SIZE = 32;
/**
 * Default pixel limit (width × height) of an input: 50 megapixels, above any phone camera, far
 * below what would exhaust memory (libvips checks it from the header, before decoding).
 */
export const DEFAULT_LIMIT_INPUT_PIXELS = 50_000_000;
/** Mid grey: the background for alpha compositing and for `pad` (close to the CIFAR mean). */
export const DEFAULT_BACKGROUND: Readonly<Rgb> = { r: 128, g: 128, b: 128 };
/** The antialiasing kernel for the final ≤ 2× step (after the exact box shrink); see the module. */
export const DEFAULT_KERNEL: ResizeKernel = "mks2021";
/** How to make a non-square image square. */
export const IMAGE_FITS = ["crop", "pad", "squash"] as const;
/** One of {@link IMAGE_FITS}. */
export type ImageFit = typeof IMAGE_FITS[number];
/** sharp's resampling kernels. */
export type ResizeKernel = keyof KernelEnum;
/** sharp's levels of strictness about damaged pixel data, least to most. */
export type FailOn = FailOnOptions;
/** An 8-bit RGB colour. */
export interface Rgb {
  r: number;
  g: number;
  b: number;
}

/** Our fit names → sharp's. */
const SHARP_FIT: Readonly<Record<ImageFit, keyof FitEnum>> = {
  crop: "cover",
  pad: "contain",
  squash: "fill",
};

/** Output channels: RGB. */
const RGB_CHANNELS = 3;
/** Files up to this size are read whole into memory; larger ones are passed to libvips by path. */
const IN_MEMORY_MAX_BYTES = 16 << 20;
/** Bytes read up front to sniff the format (BMP magic, text detection). */
const SNIFF_BYTES = 64;
/** BMP files start with "BM". */
const BMP_MAGIC = [0x42, 0x4d];
/** Offsets in a BMP header: DIB header size, width, height (BITMAPINFOHEADER and later). */
const BMP_DIB_SIZE_OFFSET = 14, BMP_WIDTH_OFFSET = 18, BMP_HEIGHT_OFFSET = 22;
/** The old OS/2 `BITMAPCOREHEADER` stores 16-bit dimensions. */
const BMP_CORE_HEADER_SIZE = 12;
/** Bytes needed to read a BMP's dimensions and compression. */
const BMP_MIN_HEADER_BYTES = 34;
/** Offset of the BMP compression field, and its run-length codes (BI_RLE8, BI_RLE4). */
const BMP_COMPRESSION_OFFSET = 30, BMP_RLE_CODES = [1, 2];

/** What is wrong with an input. */
export type ImageErrorKind =
  | "missing"
  | "unreadable"
  | "empty"
  | "not-an-image"
  | "too-large"
  | "unsupported"
  | "corrupt";

/**
 * Thrown for an input that cannot be used; the message starts with the file's name. A subclass
 * of `InputError`, so a task that lets it through exits 3.
 *
 * @example
 * ```ts
 * try {
 *   await loadImage("notes.jpg");
 * } catch (err) {
 *   if (err instanceof ImageError) console.error(err.kind, err.message); // not-an-image ...
 * }
 * ```
 */
export class ImageError extends InputError {
  override name = "ImageError";
  /**
   * @param path The file (or the name given for bytes).
   * @param kind What is wrong, for programs.
   * @param detail What is wrong, for people.
   */
  constructor(readonly path: string, readonly kind: ImageErrorKind, detail: string) {
    super(`${path}: ${detail}`);
  }
}

/** Options of {@link loadImage}. */
export interface LoadImageOptions {
  /** Output side in pixels; default 32. */
  size?: number;
  /** `crop` (default): centred square; `pad`: letterbox; `squash`: resize both axes. */
  fit?: ImageFit;
  /** Refuse inputs with more pixels than this (width × height); default 50 M; 0: no limit. */
  limitInputPixels?: number;
  /** Background for alpha and for `pad`; default mid grey. */
  background?: Rgb;
  /** Kernel of the final resampling step; default `mks2021`. */
  kernel?: ResizeKernel;
  /** How strict to be about damaged pixel data; default `warning` (sharp's advice for untrusted input). */
  failOn?: FailOn;
  /** The name used in errors when the input is bytes; default `<bytes>`. */
  name?: string;
  /**
   * TensorFlow's decoders (`tensorflowImageDecoder` in `native.ts`) for files already at `size`×`size`
   * whose header says they decode to sharp's pixels exactly; default none (sharp only).
   */
  native?: NativeImageDecoder;
}

/** Options with defaults filled in. */
type ResolvedOptions = Required<Omit<LoadImageOptions, "name" | "native">>;

function _resolve(opts: LoadImageOptions): ResolvedOptions {
  const size = opts.size ?? DEFAULT_IMAGE_SIZE;
  if (!Number.isInteger(size) || size < 1) {
    throw new RangeError(`loadImage: size must be a positive integer, got ${size}`);
  }
  const fit = opts.fit ?? "crop";
  if (!IMAGE_FITS.includes(fit)) {
    throw new RangeError(`loadImage: fit must be one of ${IMAGE_FITS.join(", ")}, got ${fit}`);
  }
  const limitInputPixels = opts.limitInputPixels ?? DEFAULT_LIMIT_INPUT_PIXELS;
  if (!(limitInputPixels >= 0)) {
    throw new RangeError(`loadImage: limitInputPixels must be >= 0, got ${limitInputPixels}`);
  }
  return {
    size,
    fit,
    limitInputPixels,
    background: opts.background ?? DEFAULT_BACKGROUND,
    kernel: opts.kernel ?? DEFAULT_KERNEL,
    failOn: opts.failOn ?? "warning",
  };
}

/**
 * Decodes an image and resizes it to the model's input: `size`×`size`×3 uint8 RGB, HWC.
 * A file up to 16 MiB is read into memory whole and parsed from there; a larger one is read by
 * libvips from its path, so memory stays bounded by the pixel limit whatever the file's size.
 *
 * @param input A file path, or the file's bytes.
 * @throws {ImageError} for a missing, unreadable, empty, non-image, too large or damaged input.
 * @example
 * ```ts
 * const x = await loadImage("dog.webp", { size: 32, fit: "crop" });
 * x.length; // 3072
 * await loadImage("huge.png", { limitInputPixels: 10_000_000 }); // ImageError "too-large"
 * ```
 */
export async function loadImage(
  input: string | Uint8Array,
  opts: LoadImageOptions = {},
): Promise<Uint8Array> {
  const options = _resolve(opts);
  const name = typeof input === "string" ? input : opts.name ?? "<bytes>";
  const read = typeof input === "string" ? _readFile(input) : { bytes: input };
  const head = read.bytes ?? read.head;
  if (head.length === 0) throw new ImageError(name, "empty", "empty file (0 bytes)");
  if (_isBmp(head)) {
    const bytes = read.bytes ?? await _readAll(name, head, options);
    return await _resize(name, _decodeBmp(name, bytes, options), options);
  }
  const withinLimit = options.limitInputPixels === 0 ||
    options.size * options.size <= options.limitInputPixels;
  if (opts.native && read.bytes && withinLimit) {
    const kind = nativeDecodable(read.bytes, options.size);
    if (kind) {
      try {
        const pixels = opts.native.decode(read.bytes, kind);
        if (pixels.length === options.size * options.size * RGB_CHANNELS) return pixels;
      } catch {
        // sharp decodes it, or words what is wrong with it
      }
    }
  }
  return await _resize(name, read.bytes ?? name, options);
}

/** A file read whole (small enough), or its first bytes only (libvips then reads the path). */
type FileRead = { bytes: Uint8Array; head?: undefined } | { bytes?: undefined; head: Uint8Array };

/**
 * Opens `path` once: a file up to {@link IN_MEMORY_MAX_BYTES} is read whole (libvips then parses
 * it from memory: no second open, faster on small images), a larger one only sniffed, so memory
 * stays bounded. Every failure becomes an {@link ImageError}.
 */
function _readFile(path: string): FileRead {
  // Synchronous calls: a small local file is read in a few microseconds, where five awaited
  // calls cost about 30 µs, a tenth of decoding a 32×32 JPEG.
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (err) {
    throw _openError(path, err);
  }
  try {
    const info = file.statSync();
    if (info.isDirectory) throw new ImageError(path, "unreadable", "is a folder, not a file");
    if (!info.isFile) throw new ImageError(path, "unreadable", "is not a regular file");
    const whole = info.size <= IN_MEMORY_MAX_BYTES;
    const buf = new Uint8Array(whole ? info.size : SNIFF_BYTES);
    let got = 0;
    while (got < buf.length) {
      const n = file.readSync(buf.subarray(got));
      if (n === null) break;
      got += n;
    }
    return whole ? { bytes: buf.subarray(0, got) } : { head: buf.subarray(0, got) };
  } catch (err) {
    if (err instanceof ImageError) throw err;
    throw new ImageError(path, "unreadable", `cannot read: ${_describe(err)}`);
  } finally {
    file.close();
  }
}

function _openError(path: string, err: unknown): ImageError {
  if (err instanceof Deno.errors.NotFound) return new ImageError(path, "missing", "no such file");
  if (err instanceof Deno.errors.PermissionDenied) {
    return new ImageError(path, "unreadable", "permission denied (cannot open for reading)");
  }
  return new ImageError(path, "unreadable", `cannot open: ${_describe(err)}`);
}

function _describe(err: unknown): string {
  const e = err as Error & { code?: string };
  return e.code && !e.message.includes(e.code) ? `${e.code}: ${e.message}` : String(e.message);
}

function _isBmp(head: Uint8Array): boolean {
  return head.length >= 2 && head[0] === BMP_MAGIC[0] && head[1] === BMP_MAGIC[1];
}

/** Width and height from a BMP header, or null when the header is too short. */
function _bmpSize(bytes: Uint8Array): { width: number; height: number } | null {
  if (bytes.length < BMP_MIN_HEADER_BYTES) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(BMP_DIB_SIZE_OFFSET, true) === BMP_CORE_HEADER_SIZE) {
    return {
      width: view.getUint16(BMP_WIDTH_OFFSET, true),
      height: view.getUint16(BMP_WIDTH_OFFSET + 2, true),
    };
  }
  return {
    width: Math.abs(view.getInt32(BMP_WIDTH_OFFSET, true)),
    height: Math.abs(view.getInt32(BMP_HEIGHT_OFFSET, true)), // negative: rows stored top-down
  };
}

function _checkPixelLimit(name: string, width: number, height: number, limit: number): void {
  if (limit > 0 && width * height > limit) {
    throw new ImageError(
      name,
      "too-large",
      `${width}×${height} = ${_megapixels(width * height)} exceeds the limit of ` +
        `${_megapixels(limit)} (limitInputPixels)`,
    );
  }
}

function _megapixels(pixels: number): string {
  return `${(pixels / 1e6).toFixed(1)} megapixels`;
}

/** Reads a whole BMP once its header says it is within the pixel limit. */
async function _readAll(path: string, head: Uint8Array, options: ResolvedOptions) {
  const size = _bmpSize(head);
  if (size) _checkPixelLimit(path, size.width, size.height, options.limitInputPixels);
  try {
    return await Deno.readFile(path);
  } catch (err) {
    throw _openError(path, err);
  }
}

/** A decoded BMP as raw RGB(A) pixels for sharp. */
interface RawImage {
  pixels: Uint8Array;
  raw: { width: number; height: number; channels: 3 | 4 };
}

function _decodeBmp(name: string, bytes: Uint8Array, options: ResolvedOptions): RawImage {
  const size = _bmpSize(bytes);
  if (!size) throw new ImageError(name, "corrupt", "truncated BMP header");
  _checkPixelLimit(name, size.width, size.height, options.limitInputPixels);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const core = view.getUint32(BMP_DIB_SIZE_OFFSET, true) === BMP_CORE_HEADER_SIZE;
  if (!core && BMP_RLE_CODES.includes(view.getUint32(BMP_COMPRESSION_OFFSET, true))) {
    throw new ImageError(name, "unsupported", "RLE-compressed BMP is not supported");
  }
  let bmp: ReturnType<typeof decodeBmp>;
  try {
    bmp = decodeBmp(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (err) {
    const detail = err instanceof RangeError ? "truncated BMP (pixel data ends early)" : "BMP";
    throw new ImageError(name, "corrupt", `${detail}: ${_describe(err)}`);
  }
  const { width, height } = bmp;
  if (width < 1 || height < 1) {
    throw new ImageError(name, "corrupt", `BMP has no pixels (${width}×${height})`);
  }
  // bmp-ts fills ABGR; the 4th byte is alpha only when the file declares an alpha mask (a
  // 32-bit BI_RGB file's padding byte is often 0, which must not read as transparent).
  const maskAlpha = (bmp as unknown as { maskAlpha?: number }).maskAlpha; // public at run time
  const hasAlpha = maskAlpha !== undefined && maskAlpha !== 0;
  const channels = hasAlpha ? 4 : 3;
  const abgr = bmp.data;
  const pixels = new Uint8Array(width * height * channels);
  for (let i = 0, o = 0; i < abgr.length; i += 4, o += channels) {
    pixels[o] = abgr[i + 3];
    pixels[o + 1] = abgr[i + 2];
    pixels[o + 2] = abgr[i + 1];
    if (hasAlpha) pixels[o + 3] = abgr[i];
  }
  return { pixels, raw: { width, height, channels } };
}

/** The sharp pipeline: orient, sRGB, flatten alpha, fit, antialiased resize, 8-bit RGB out. */
async function _resize(
  name: string,
  source: string | Uint8Array | RawImage,
  options: ResolvedOptions,
): Promise<Uint8Array> {
  const { size, background } = options;
  const common: SharpOptions = {
    failOn: options.failOn,
    limitInputPixels: options.limitInputPixels > 0 ? options.limitInputPixels : false,
    sequentialRead: true,
    autoOrient: true,
    page: 0, // the first frame of an animated GIF / WebP
    pages: 1,
  };
  const image = typeof source === "string" || source instanceof Uint8Array
    ? sharp(source, common)
    : sharp(source.pixels, { ...common, raw: source.raw });
  let out: { data: Uint8Array; info: OutputInfo };
  try {
    if (options.fit === "crop") {
      // An exact centred square, cut before resizing (in upright coordinates: autoOrient is
      // applied first). sharp's own `cover` crops after resizing, up to half an output pixel
      // off centre and slightly stretched: 11 dB worse against a box average (images_alias).
      const { width, height } = typeof source === "object" && "raw" in source
        ? source.raw
        : _uprightSize(await image.metadata());
      const side = Math.min(width, height);
      if (width !== height) {
        image.extract({
          left: (width - side) >> 1,
          top: (height - side) >> 1,
          width: side,
          height: side,
        });
      }
    }
    out = await image
      .flatten({ background })
      .resize(size, size, {
        fit: SHARP_FIT[options.fit],
        position: "centre",
        kernel: options.kernel,
        background,
      })
      .toColourspace("srgb")
      .removeAlpha()
      .raw({ depth: "uchar" })
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw await _decodeError(name, source, err, options);
  }
  const { data, info } = out;
  if (info.width !== size || info.height !== size || info.channels !== RGB_CHANNELS) {
    throw new ImageError(
      name,
      "corrupt",
      `decoded to ${info.width}×${info.height}×${info.channels}, expected ${size}×${size}×3`,
    );
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Width and height as displayed (after the EXIF orientation), from header metadata. */
function _uprightSize(meta: Metadata): { width: number; height: number } {
  return meta.autoOrient ?? { width: meta.width, height: meta.height };
}

/** The first bytes of a file (all of a small one), or none if it cannot be read. */
function _headOf(path: string): Uint8Array {
  try {
    const read = _readFile(path);
    return read.bytes ?? read.head;
  } catch {
    return new Uint8Array();
  }
}

/** sharp's message → an {@link ImageError} of the right kind. */
async function _decodeError(
  name: string,
  source: string | Uint8Array | RawImage,
  err: unknown,
  options: ResolvedOptions,
): Promise<ImageError> {
  const message = String((err as Error)?.message ?? err).split("\n")[0];
  if (/unsupported image format/i.test(message)) {
    const head = typeof source === "string"
      ? _headOf(source)
      : source instanceof Uint8Array
      ? source.subarray(0, SNIFF_BYTES)
      : new Uint8Array();
    const hint = _looksLikeText(head) ? " (the content is text)" : "";
    return new ImageError(
      name,
      "not-an-image",
      `not an image in a readable format${hint}: expected JPEG, PNG, WebP, GIF, BMP, TIFF or AVIF`,
    );
  }
  const encoded = typeof source === "string" || source instanceof Uint8Array;
  if (/exceeds pixel limit/i.test(message) && encoded) {
    return await _tooLarge(name, source, options.limitInputPixels);
  }
  return new ImageError(name, "corrupt", `cannot decode (damaged or truncated?): ${message}`);
}

/** The pixel-limit error with the image's dimensions (read from the header only). */
async function _tooLarge(name: string, source: string | Uint8Array, limit: number) {
  try {
    const { width, height } = await sharp(source, { limitInputPixels: false }).metadata();
    return new ImageError(
      name,
      "too-large",
      `${width}×${height} = ${_megapixels(width * height)} exceeds the limit of ` +
        `${_megapixels(limit)} (limitInputPixels)`,
    );
  } catch {
    return new ImageError(name, "too-large", `exceeds the limit of ${_megapixels(limit)}`);
  }
}

/** True when the bytes are printable ASCII / UTF-8 text (for a friendlier error). */
function _looksLikeText(head: Uint8Array): boolean {
  if (head.length === 0) return false;
  const TAB = 9, CR = 13, SPACE = 32, DEL = 127;
  return head.every((b) => (b >= SPACE && b !== DEL) || (b >= TAB && b <= CR));
}
