/**
 * Folders of images in and out: expand command-line inputs (files, folders, or one labelled
 * folder in the ImageFolder layout `DIR/<class name>/*.jpg` that torchvision and Keras read) into
 * a sorted list of images with what went wrong along the way; decode them as a stream that holds
 * only a small window of images at a time; and write a CIFAR-style split out as an ImageFolder
 * tree of lossless PNGs.
 *
 * **ImageFolder detection** (`layout: "auto"`, the default): exactly one input, a folder, with no
 * image files directly inside it and at least one sub-folder holding images (at any depth). Each
 * visible sub-folder is then a class, named after the folder, and `label` is its index in
 * `classes` (sorted by name, as torchvision sorts them); the images below a class folder, at any
 * depth, are its items. Anything else is unlabelled: files are taken as given (whatever their
 * extension: decoding sniffs the content), folders are searched recursively for image files.
 *
 * Order is deterministic: inputs in the order given; inside a folder its image files first, then
 * its sub-folders, each sorted by name (code-unit order). Names starting with `.` are skipped
 * (hidden files, macOS `._*` resource forks). Image extensions are matched case-insensitively.
 * Symlinks are followed; a link back into a folder already walked (a loop) is reported, never
 * followed again. Unreadable folders, broken links and empty class folders are reported in
 * `problems`; nothing here throws for a bad file.
 *
 * @example
 * ```ts
 * const { items, classes, problems } = await expandImageInputs(["data/pets"]);
 * for await (const r of loadImagesStreaming(items, { size: 32 })) {
 *   if ("error" in r) console.error(r.error.message);
 *   else use(r.image, r.item.label);
 * }
 * ```
 * @module
 */
import sharp from "sharp";
import { extname, join } from "node:path";
import { writeFileAtomic } from "../io/artifact.ts";
import { InputError } from "../io/errors.ts";
import { statOrNull } from "../io/fs.ts";
import { ImageError, loadImage, type LoadImageOptions } from "./decode.ts";

/** File extensions (lower case) taken as images inside folders. */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set([
  ".jpg",
  ".jpeg",
  ".jpe",
  ".jfif",
  ".png",
  ".webp",
  ".gif",
  ".bmp",
  ".dib",
  ".tif",
  ".tiff",
  ".avif",
]);

/** Default number of images decoded at once by {@link loadImagesStreaming}. */
export const DEFAULT_DECODE_CONCURRENCY = 4;
/** PNG files encoded and written at once by {@link writeImageFolder} (overlaps the fsyncs). */
const WRITE_CONCURRENCY = 8;
/** zlib level of the written PNGs: lossless either way; 6 is zlib's size/speed balance. */
const PNG_COMPRESSION_LEVEL = 6;
/** Digits of the zero-padded file index, at least. */
const MIN_INDEX_DIGITS = 5;

/** One image to read; `label` indexes `classes` when the input was an ImageFolder. */
export interface ImageItem {
  path: string;
  label?: number;
}

/** Something that could not be listed (the rest goes on). */
export interface ImageProblem {
  path: string;
  message: string;
}

/** What {@link expandImageInputs} found. */
export interface ImageInputs {
  items: ImageItem[];
  /** Class names, index = label; only for an ImageFolder input. */
  classes?: string[];
  problems: ImageProblem[];
}

/** How to read a single folder input. */
export type FolderLayout = "auto" | "plain" | "imagefolder";

/** Options of {@link expandImageInputs}. */
export interface ExpandOptions {
  /** `auto` (default): detect an ImageFolder; `plain`: never labels; `imagefolder`: insist. */
  layout?: FolderLayout;
}

/**
 * True when the path's extension is an image extension (case-insensitive).
 *
 * @example
 * ```ts
 * isImagePath("a/B.JPG"); // true
 * isImagePath("notes.txt"); // false
 * ```
 */
export function isImagePath(path: string): boolean {
  return IMAGE_EXTENSIONS.has(extname(path).toLowerCase());
}

/** Code-unit order, the same on every machine and locale. */
function _byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Folder entries split into image files and sub-folders, links followed, problems noted. */
interface Listing {
  images: string[];
  others: number;
  folders: { path: string; name: string }[];
}

/** Walks folders once each (by real path), collecting problems instead of throwing. */
class _Walker {
  readonly problems: ImageProblem[] = [];
  /** Real paths of the folders already walked. */
  readonly #visited = new Set<string>();

  /** Lists one folder; null when it cannot be read (a problem is recorded). */
  async list(dir: string): Promise<Listing | null> {
    let names: Deno.DirEntry[];
    try {
      names = await Array.fromAsync(Deno.readDir(dir));
    } catch (err) {
      this.problems.push({ path: dir, message: `cannot read folder: ${_reason(err)}` });
      return null;
    }
    names.sort((a, b) => _byName(a.name, b.name));
    const listing: Listing = { images: [], others: 0, folders: [] };
    for (const entry of names) {
      if (entry.name.startsWith(".")) continue;
      const path = join(dir, entry.name);
      let isDirectory = entry.isDirectory, isFile = entry.isFile;
      if (entry.isSymlink) {
        let info: Deno.FileInfo | null;
        try {
          info = await statOrNull(path);
        } catch (err) {
          this.problems.push({ path, message: `cannot follow symlink: ${_reason(err)}` });
          continue;
        }
        if (!info) {
          this.problems.push({ path, message: "broken symlink (its target does not exist)" });
          continue;
        }
        isDirectory = info.isDirectory;
        isFile = info.isFile;
      }
      if (isDirectory) listing.folders.push({ path, name: entry.name });
      else if (isFile && isImagePath(entry.name)) listing.images.push(path);
      else listing.others++;
    }
    return listing;
  }

  /**
   * Marks a folder as walked; false (and a problem) when it was walked already, which through
   * symlinks is a loop or the same folder twice.
   */
  async enter(dir: string, ancestors: readonly string[]): Promise<string | null> {
    let real: string;
    try {
      real = await Deno.realPath(dir);
    } catch (err) {
      this.problems.push({ path: dir, message: `cannot resolve folder: ${_reason(err)}` });
      return null;
    }
    if (this.#visited.has(real)) {
      const loop = ancestors.includes(real);
      this.problems.push({
        path: dir,
        message: loop
          ? `symlink loop: leads back to ${real}, a folder above it (not followed)`
          : `same folder as ${real}, already listed (not listed twice)`,
      });
      return null;
    }
    this.#visited.add(real);
    return real;
  }

  /** True as soon as one image is found under `dir` (stops early; for layout detection). */
  async hasImages(dir: string): Promise<boolean> {
    if (await this.enter(dir, []) === null) return false;
    const listing = await this.list(dir);
    if (!listing) return false;
    if (listing.images.length > 0) return true;
    for (const sub of listing.folders) {
      if (await this.hasImages(sub.path)) return true;
    }
    return false;
  }

  /** All images under `dir` (its own files first, then sub-folders), recursively. */
  async collect(dir: string, ancestors: readonly string[] = []): Promise<string[]> {
    const real = await this.enter(dir, ancestors);
    if (real === null) return [];
    const listing = await this.list(dir);
    if (!listing) return [];
    const out = [...listing.images];
    for (const sub of listing.folders) {
      out.push(...await this.collect(sub.path, [...ancestors, real]));
    }
    return out;
  }
}

function _reason(err: unknown): string {
  if (err instanceof Deno.errors.PermissionDenied) return "permission denied";
  const e = err as Error & { code?: string };
  return e.code && !e.message.includes(e.code) ? `${e.code}: ${e.message}` : String(e.message);
}

/**
 * Expands inputs (files, folders, or one ImageFolder) into images to read, sorted
 * deterministically, with labels when the input was an ImageFolder. See the module comment for
 * the detection rule. Never throws for a bad path: it is reported in `problems`.
 *
 * @example
 * ```ts
 * const r = await expandImageInputs(["pets"]); // pets/cat/1.jpg, pets/dog/2.png
 * r.classes; // ["cat", "dog"]
 * r.items; // [{ path: "pets/cat/1.jpg", label: 0 }, { path: "pets/dog/2.png", label: 1 }]
 * (await expandImageInputs(["a.jpg", "more/"])).classes; // undefined
 * ```
 */
export async function expandImageInputs(
  inputs: readonly string[],
  opts: ExpandOptions = {},
): Promise<ImageInputs> {
  const layout = opts.layout ?? "auto";
  const walker = new _Walker();
  const infos: (Deno.FileInfo | null)[] = [];
  for (const input of inputs) {
    try {
      const info = await statOrNull(input);
      if (!info) walker.problems.push({ path: input, message: "no such file or folder" });
      infos.push(info);
    } catch (err) {
      walker.problems.push({ path: input, message: `cannot examine: ${_reason(err)}` });
      infos.push(null);
    }
  }
  if (inputs.length === 1 && infos[0]?.isDirectory && layout !== "plain") {
    const labelled = await _imageFolder(walker, inputs[0], layout === "imagefolder");
    if (labelled) return { ...labelled, problems: walker.problems };
  } else if (layout === "imagefolder") {
    walker.problems.push({
      path: inputs.join(", "),
      message: "layout imagefolder needs exactly one folder as input",
    });
  }
  const items: ImageItem[] = [];
  for (let i = 0; i < inputs.length; i++) {
    const info = infos[i];
    if (!info) continue;
    if (info.isDirectory) {
      const found = await walker.collect(inputs[i]);
      if (found.length === 0 && walker.problems.every((p) => p.path !== inputs[i])) {
        walker.problems.push({ path: inputs[i], message: "no image files in this folder" });
      }
      for (const path of found) items.push({ path });
    } else {
      items.push({ path: inputs[i] }); // named explicitly: decoded whatever the extension
    }
  }
  return { items, problems: walker.problems };
}

/** The labelled listing when `dir` is an ImageFolder (or `force`), else null. */
async function _imageFolder(
  walker: _Walker,
  dir: string,
  force: boolean,
): Promise<{ items: ImageItem[]; classes: string[] } | null> {
  const probe = new _Walker(); // detection must not mark folders visited or report twice
  const top = await probe.list(dir);
  if (!top) return null; // unreadable: the plain path reports it
  if (!force) {
    if (top.images.length > 0 || top.folders.length === 0) return null;
    let anyImages = false;
    for (const sub of top.folders) {
      if (await probe.hasImages(sub.path)) {
        anyImages = true;
        break;
      }
    }
    if (!anyImages) return null;
  }
  const real = await walker.enter(dir, []);
  if (real === null) return null;
  for (const path of top.images) {
    walker.problems.push({ path, message: "image outside any class folder (skipped)" });
  }
  const classes = top.folders.map((f) => f.name);
  const items: ImageItem[] = [];
  for (let label = 0; label < top.folders.length; label++) {
    const sub = top.folders[label];
    const found = await walker.collect(sub.path, [real]);
    if (found.length === 0) {
      walker.problems.push({
        path: sub.path,
        message: `empty class folder: no images (class '${sub.name}' kept so labels stay aligned)`,
      });
    }
    for (const path of found) items.push({ path, label });
  }
  return { items, classes };
}

/** One result of {@link loadImagesStreaming}: the pixels, or the reason there are none. */
export type StreamedImage =
  | { item: ImageItem; image: Uint8Array }
  | { item: ImageItem; error: ImageError };

/**
 * Decodes images `concurrency` at a time and yields them in input order. At most `concurrency`
 * decoded images wait in memory (plus the one just yielded), so memory stays flat however many
 * items there are. A file that cannot be read yields `{ item, error }` and the rest go on; an
 * error that is not an {@link ImageError} (a bug, bad options) is thrown.
 *
 * @example
 * ```ts
 * for await (const r of loadImagesStreaming(items, { fit: "pad" }, 4)) {
 *   if ("image" in r) batch.set(r.image, n++ * 3072);
 *   else console.error(r.error.message);
 * }
 * ```
 */
export async function* loadImagesStreaming(
  items: Iterable<ImageItem>,
  opts: LoadImageOptions = {},
  concurrency: number = DEFAULT_DECODE_CONCURRENCY,
): AsyncGenerator<StreamedImage, void, undefined> {
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`loadImagesStreaming: concurrency must be >= 1, got ${concurrency}`);
  }
  const pending = items[Symbol.iterator]();
  const window: Promise<StreamedImage | { item: ImageItem; bug: unknown }>[] = [];
  const startNext = () => {
    const next = pending.next();
    if (next.done) return;
    const item = next.value;
    window.push(
      loadImage(item.path, opts).then(
        (image) => ({ item, image }),
        (err) => err instanceof ImageError ? { item, error: err } : { item, bug: err },
      ),
    );
  };
  for (let i = 0; i < concurrency; i++) startNext();
  while (window.length > 0) {
    const result = await window.shift()!;
    startNext(); // keep the window full while the consumer works on this one
    if ("bug" in result) throw result.bug;
    yield result;
  }
}

/** Options of {@link writeImageFolder}. */
export interface WriteImageFolderOptions {
  /** Only lossless PNG, so that reading back gives the same pixels. */
  format?: "png";
  /** Image side; default 32 (CIFAR). */
  size?: number;
}

/** What {@link writeImageFolder} wrote. */
export interface WrittenImageFolder {
  dir: string;
  /** Number of image files written. */
  files: number;
  /** The class folder names (one per label name). */
  classes: string[];
}

/**
 * Writes a CIFAR-style split (NHWC uint8 images, labels, label names) as an ImageFolder tree:
 * `dir/<label name>/<index>.png`, the index being the image's position in the split, zero-padded.
 * Each file is written atomically (temp file, fsync, rename). `dir` must not exist yet or be
 * empty: this never writes into a folder that already holds files (an input folder, say).
 * Every label name gets its folder, so a class without images is still a class when read back
 * (ImageFolder sorts class names: CIFAR's names are already sorted, so labels keep their
 * values).
 *
 * @example
 * ```ts
 * const test = await loadCifar(dataDir, "cifar10", "test");
 * await writeImageFolder("out/cifar10-test", test.images, test.labels, test.labelNames);
 * const back = await expandImageInputs(["out/cifar10-test"]); // 10 classes, 10,000 items
 * ```
 */
export async function writeImageFolder(
  dir: string,
  images: Uint8Array,
  labels: Int32Array,
  labelNames: readonly string[],
  opts: WriteImageFolderOptions = {},
): Promise<WrittenImageFolder> {
  const size = opts.size ?? 32;
  const format = opts.format ?? "png";
  if (format !== "png") throw new InputError(`writeImageFolder: format must be png, got ${format}`);
  const imageBytes = size * size * 3;
  if (images.length !== labels.length * imageBytes) {
    throw new InputError(
      `writeImageFolder: ${images.length} image bytes for ${labels.length} labels ` +
        `(expected ${labels.length} × ${size}×${size}×3)`,
    );
  }
  for (const name of labelNames) _checkFolderName(name);
  if (new Set(labelNames).size !== labelNames.length) {
    throw new InputError("writeImageFolder: label names repeat; each must be its own folder");
  }
  for (let i = 0; i < labels.length; i++) {
    if (!(labels[i] >= 0 && labels[i] < labelNames.length)) {
      throw new InputError(
        `writeImageFolder: label ${labels[i]} of image ${i} is not in 0..${labelNames.length - 1}`,
      );
    }
  }
  await _checkEmptyOrAbsent(dir);
  for (const name of labelNames) await Deno.mkdir(join(dir, name), { recursive: true });
  const digits = Math.max(MIN_INDEX_DIGITS, String(Math.max(0, labels.length - 1)).length);
  let next = 0;
  const writeOne = async (i: number) => {
    const pixels = images.subarray(i * imageBytes, (i + 1) * imageBytes);
    const png = await sharp(pixels, { raw: { width: size, height: size, channels: 3 } })
      .png({ compressionLevel: PNG_COMPRESSION_LEVEL })
      .toBuffer();
    const path = join(dir, labelNames[labels[i]], `${String(i).padStart(digits, "0")}.png`);
    await writeFileAtomic(path, new Uint8Array(png.buffer, png.byteOffset, png.byteLength));
  };
  await Promise.all(
    Array.from({ length: Math.min(WRITE_CONCURRENCY, labels.length) }, async () => {
      while (next < labels.length) await writeOne(next++);
    }),
  );
  return { dir, files: labels.length, classes: [...labelNames] };
}

function _checkFolderName(name: string): void {
  if (!name || name === "." || name === ".." || /[/\\\0]/.test(name) || name.startsWith(".")) {
    throw new InputError(
      `writeImageFolder: label name '${name}' cannot be a folder name (empty, '.', '..', ` +
        `a leading '.' or a path separator)`,
    );
  }
}

async function _checkEmptyOrAbsent(dir: string): Promise<void> {
  const info = await statOrNull(dir);
  if (!info) return;
  if (!info.isDirectory) {
    throw new InputError(`writeImageFolder: ${dir} exists and is not a folder`);
  }
  for await (const _ of Deno.readDir(dir)) {
    throw new InputError(
      `writeImageFolder: ${dir} already holds files; refusing to write into it (use a new folder)`,
    );
  }
}
