/**
 * A fast path for images that are already at the model's input size (a CIFAR export, a folder of
 * 32×32 thumbnails): TensorFlow's own JPEG / PNG decoders, synchronous and in process, instead of a
 * libvips pipeline per file. libvips pays about a millisecond of setup per image whatever its size,
 * which caps a folder of 32×32 JPEGs near 1,000 images/s on 2 cores; TensorFlow's decoders
 * do the same work in a fraction of that (`deno run -A bench/images.ts`).
 *
 * The fast path is taken only where it gives sharp's pixels exactly, which the file's header
 * decides ({@link nativeDecodable}): an 8-bit baseline or progressive JPEG with 1 or 3 components
 * and no EXIF, ICC or Adobe segment (so no rotation, colour profile or CMYK), decoded with the
 * accurate integer DCT and fancy upsampling as libjpeg-turbo does for libvips; or an 8-bit grey or
 * RGB PNG without transparency or colour chunks, complete up to its end marker. Anything else, and
 * any file TensorFlow refuses, goes through sharp, which also words the error. One difference
 * remains: a JPEG whose scan data is damaged but whose end marker is there decodes with libjpeg's
 * recovery (as Pillow and browsers show it) where sharp's `failOn: "warning"` refuses it; a file
 * cut short is refused either way.
 *
 * @example
 * ```ts
 * const native = tensorflowImageDecoder(tf); // undefined on backends without tf.node
 * const pixels = await loadImage("cifar10/cat/0001.png", { native });
 * ```
 * @module
 */
import type { Tensor3D } from "@tensorflow/tfjs";

/** Which of TensorFlow's decoders reads the file. */
export type NativeImageKind = "jpeg" | "png";

/** Decodes a file whose header {@link nativeDecodable} accepted into `size`×`size`×3 RGB. */
export interface NativeImageDecoder {
  /** RGB HWC pixels, or throws (the caller falls back to sharp). */
  decode(bytes: Uint8Array, kind: NativeImageKind): Uint8Array;
}

/** The part of `tf.node` (tfjs-node) this module uses. */
interface TfNodeImages {
  decodeJpeg(
    contents: Uint8Array,
    channels: number,
    ratio: number,
    fancyUpscaling: boolean,
    tryRecoverTruncated: boolean,
    acceptableFraction: number,
    dctMethod: string,
  ): Tensor3D;
  decodePng(contents: Uint8Array, channels: number): Tensor3D;
}

const RGB_CHANNELS = 3;

/**
 * TensorFlow's decoders from a tfjs-node namespace, or `undefined` when `tf` has no `node`
 * namespace (the `cpu` and `webgpu` backends): then every image goes through sharp.
 *
 * @example
 * ```ts
 * const native = tensorflowImageDecoder(tf);
 * ```
 */
export function tensorflowImageDecoder(tf: object): NativeImageDecoder | undefined {
  const node = "node" in tf ? tf.node : undefined;
  if (!_isTfNodeImages(node)) return undefined;
  return {
    decode(bytes, kind) {
      const t = kind === "jpeg"
        // INTEGER_ACCURATE is libjpeg's JDCT_ISLOW, libvips' choice (TensorFlow's default,
        // INTEGER_FAST, is up to 5 levels off).
        ? node.decodeJpeg(bytes, RGB_CHANNELS, 1, true, false, 1, "INTEGER_ACCURATE")
        : node.decodePng(bytes, RGB_CHANNELS);
      try {
        if (t.shape[2] !== RGB_CHANNELS) throw new Error(`decoded ${t.shape[2]} channels`);
        return new Uint8Array(t.dataSync()); // int32 → uint8, one native copy
      } finally {
        t.dispose();
      }
    },
  };
}

function _isTfNodeImages(node: unknown): node is TfNodeImages {
  return typeof node === "object" && node !== null &&
    "decodeJpeg" in node && typeof node.decodeJpeg === "function" &&
    "decodePng" in node && typeof node.decodePng === "function";
}

// ── headers ──────────────────────────────────────────────────────────────────────────────────────

const JPEG_SOI = 0xd8;
const JPEG_EOI = 0xd9;
const JPEG_SOS = 0xda;
/** Huffman-coded baseline, extended sequential and progressive frames: what both decoders share. */
const JPEG_PLAIN_FRAMES = [0xc0, 0xc1, 0xc2];
/** Every start-of-frame marker (0xC4 DHT, 0xC8 JPG and 0xCC DAC are not frames). */
const JPEG_ANY_FRAME = [
  0xc0,
  0xc1,
  0xc2,
  0xc3,
  0xc5,
  0xc6,
  0xc7,
  0xc9,
  0xca,
  0xcb,
  0xcd,
  0xce,
  0xcf,
];
const JPEG_APP1 = 0xe1, JPEG_APP2 = 0xe2, JPEG_APP14 = 0xee;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const PNG_GREY = 0, PNG_RGB = 2;
/** Chunks after which libvips' pixels may differ from TensorFlow's: transparency, colour. */
const PNG_COLOUR_CHUNKS = new Set(["tRNS", "iCCP", "gAMA", "cHRM", "sRGB"]);

/**
 * Whether TensorFlow's decoder gives exactly sharp's `size`×`size` RGB pixels for this file, from
 * its header alone; `null` sends the file through sharp.
 *
 * @example
 * ```ts
 * nativeDecodable(await Deno.readFile("cat.png"), 32); // "png" for a plain 32×32 RGB PNG
 * ```
 */
export function nativeDecodable(bytes: Uint8Array, size: number): NativeImageKind | null {
  if (bytes.length > 2 && bytes[0] === 0xff && bytes[1] === JPEG_SOI) {
    return _plainJpeg(bytes, size) ? "jpeg" : null;
  }
  if (PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return _plainPng(bytes, size) ? "png" : null;
  return null;
}

function _plainJpeg(bytes: Uint8Array, size: number): boolean {
  const n = bytes.length;
  // A file cut short is libvips' to report (failOn), not TensorFlow's to patch up.
  if (bytes[n - 2] !== 0xff || bytes[n - 1] !== JPEG_EOI) return false;
  let at = 2, frame = false;
  while (at + 4 <= n) {
    if (bytes[at] !== 0xff) return false;
    const marker = bytes[at + 1];
    if (marker === 0xff) { // fill byte
      at++;
      continue;
    }
    const length = (bytes[at + 2] << 8) | bytes[at + 3];
    const body = at + 4, end = at + 2 + length;
    if (length < 2 || end > n) return false;
    if (marker === JPEG_SOS) return frame;
    if (marker === JPEG_APP1 || marker === JPEG_APP2 || marker === JPEG_APP14) return false;
    if (JPEG_ANY_FRAME.includes(marker)) {
      if (!JPEG_PLAIN_FRAMES.includes(marker) || length < 8) return false;
      const precision = bytes[body];
      const height = (bytes[body + 1] << 8) | bytes[body + 2];
      const width = (bytes[body + 3] << 8) | bytes[body + 4];
      const components = bytes[body + 5];
      if (precision !== 8 || width !== size || height !== size) return false;
      if (components !== 1 && components !== 3) return false;
      frame = true;
    }
    at = end;
  }
  return false;
}

function _plainPng(bytes: Uint8Array, size: number): boolean {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = PNG_SIGNATURE.length;
  const type = (p: number) => String.fromCharCode(...bytes.subarray(p + 4, p + 8));
  if (at + 8 + 13 > bytes.length || type(at) !== "IHDR") return false;
  const width = view.getUint32(at + 8), height = view.getUint32(at + 12);
  const bitDepth = bytes[at + 16], colourType = bytes[at + 17];
  if (width !== size || height !== size || bitDepth !== 8) return false;
  if (colourType !== PNG_GREY && colourType !== PNG_RGB) return false;
  // A file cut short is libvips' to report, as for JPEG.
  if (bytes.length < 12 || type(bytes.length - 12) !== "IEND") return false;
  while (at + 8 <= bytes.length) {
    const chunk = type(at);
    if (chunk === "IDAT") return true;
    if (PNG_COLOUR_CHUNKS.has(chunk)) return false;
    at += 12 + view.getUint32(at);
  }
  return false;
}
