/**
 * Tests of lib/images: decoding every supported format into the 32×32×3 model input (fixtures
 * made by sharp at run time, under a temp folder), the fit geometries, EXIF orientation, alpha,
 * CMYK, 16-bit, animated GIF, BMP (written here byte by byte, so that the decoder is checked
 * against an independent writer), clear errors for bad files, folder expansion (ImageFolder,
 * symlink loops, empty classes), streaming, and a lossless PNG write-out read back bit-identical.
 *
 * @example
 * ```sh
 * deno test -A tests/images_test.ts
 * ```
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import sharp, { type Sharp } from "sharp";
import {
  DEFAULT_BACKGROUND,
  DEFAULT_LIMIT_INPUT_PIXELS,
  ImageError,
  loadImage,
} from "../lib/images/decode.ts";
import {
  expandImageInputs,
  type ImageItem,
  isImagePath,
  loadImagesStreaming,
  writeImageFolder,
} from "../lib/images/folder.ts";

const SIZE = 32;
const RED = [255, 0, 0], GREEN = [0, 255, 0], BLUE = [0, 0, 255];
const PURPLE = [120, 60, 200];
const IS_ROOT = Deno.uid() === 0; // root reads files whatever their mode bits

type Rgb = readonly number[];

/** `w`×`h` pixels where `colour(x, y)` gives each pixel (RGB or RGBA). */
function paint(w: number, h: number, channels: number, colour: (x: number, y: number) => Rgb) {
  const out = new Uint8Array(w * h * channels);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) out.set(colour(x, y), (y * w + x) * channels);
  }
  return out;
}

function fromRaw(pixels: Uint8Array, width: number, height: number, channels: 1 | 3 | 4 = 3) {
  return sharp(pixels, { raw: { width, height, channels } });
}

async function bytesOf(image: Sharp): Promise<Uint8Array> {
  const buf = await image.toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** The output pixel at (x, y). */
function px(image: Uint8Array, x: number, y: number, size = SIZE): number[] {
  const i = (y * size + x) * 3;
  return [image[i], image[i + 1], image[i + 2]];
}

/** Largest channel difference over the rectangle [x0, x1) × [y0, y1) from `want`. */
function maxDiff(image: Uint8Array, want: Rgb, x0 = 0, x1 = SIZE, y0 = 0, y1 = SIZE): number {
  let worst = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const got = px(image, x, y);
      for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(got[c] - want[c]));
    }
  }
  return worst;
}

/**
 * A BMP written byte by byte (BITMAPINFOHEADER): 24-bit BGR rows padded to 4 bytes, bottom-up
 * unless `topDown`; or 8-bit with a palette when `palette` is given (pixels are then indices);
 * only the headers with `headerOnly`.
 */
function bmpFile(
  width: number,
  height: number,
  pixels: Uint8Array,
  opts: { topDown?: boolean; palette?: Rgb[]; headerOnly?: boolean } = {},
): Uint8Array {
  const FILE_HEADER = 14, INFO_HEADER = 40;
  const bytesPerPixel = opts.palette ? 1 : 3;
  const stride = Math.ceil((width * bytesPerPixel) / 4) * 4;
  const paletteBytes = opts.palette ? opts.palette.length * 4 : 0;
  const offset = FILE_HEADER + INFO_HEADER + paletteBytes;
  const fileBytes = offset + stride * height;
  const out = new Uint8Array(opts.headerOnly ? offset : fileBytes);
  const view = new DataView(out.buffer);
  out.set([0x42, 0x4d]); // "BM"
  view.setUint32(2, fileBytes, true);
  view.setUint32(10, offset, true);
  view.setUint32(14, INFO_HEADER, true);
  view.setInt32(18, width, true);
  view.setInt32(22, opts.topDown ? -height : height, true);
  view.setUint16(26, 1, true); // planes
  view.setUint16(28, bytesPerPixel * 8, true);
  view.setUint32(46, opts.palette?.length ?? 0, true);
  opts.palette?.forEach(([r, g, b], i) => out.set([b, g, r, 0], FILE_HEADER + INFO_HEADER + i * 4));
  for (let y = 0; y < (opts.headerOnly ? 0 : height); y++) {
    const row = offset + (opts.topDown ? y : height - 1 - y) * stride;
    for (let x = 0; x < width; x++) {
      if (opts.palette) out[row + x] = pixels[y * width + x];
      else {
        const i = (y * width + x) * 3;
        out.set([pixels[i + 2], pixels[i + 1], pixels[i]], row + x * 3);
      }
    }
  }
  return out;
}

/** Names, sizes and modification times of everything under `dir`, sorted. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = join(d, e.name);
      const info = await Deno.lstat(p);
      out.push(`${p} ${info.size} ${info.mtime?.getTime()}`);
      if (e.isDirectory) await walk(p);
    }
  };
  await walk(dir);
  return out.sort();
}

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "devise-images-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function rejectsWith(promise: Promise<unknown>, kind: string, ...parts: string[]) {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ImageError, `expected ImageError, got ${err}`);
    assert.equal(err.kind, kind, err.message);
    for (const part of parts) assert.ok(err.message.includes(part), `'${part}' in ${err.message}`);
    return true;
  });
}

Deno.test("isImagePath: image extensions, any case", () => {
  assert.ok(isImagePath("a/b.JPG") && isImagePath("x.Jpeg") && isImagePath("y.webp"));
  assert.ok(isImagePath("z.BMP") && isImagePath("p.png") && isImagePath("g.GIF"));
  assert.ok(!isImagePath("notes.txt") && !isImagePath("jpg") && !isImagePath("a.jpg.bak"));
});

Deno.test("loadImage: every format round-trips a solid colour to 32×32×3", async () => {
  await withTemp(async (dir) => {
    const W = 48, H = 40; // not square: crop runs too
    const rgb = paint(W, H, 3, () => PURPLE);
    const files: Record<string, { bytes: Uint8Array; tolerance: number }> = {
      "solid.jpg": { bytes: await bytesOf(fromRaw(rgb, W, H).jpeg({ quality: 95 })), tolerance: 4 },
      "solid.png": { bytes: await bytesOf(fromRaw(rgb, W, H).png()), tolerance: 0 },
      "solid.webp": {
        bytes: await bytesOf(fromRaw(rgb, W, H).webp({ lossless: true })),
        tolerance: 0,
      },
      "lossy.webp": {
        bytes: await bytesOf(fromRaw(rgb, W, H).webp({ quality: 90 })),
        tolerance: 6,
      },
      "solid.gif": { bytes: await bytesOf(fromRaw(rgb, W, H).gif()), tolerance: 4 },
      "solid.tif": {
        bytes: await bytesOf(fromRaw(rgb, W, H).tiff({ compression: "lzw" })),
        tolerance: 0,
      },
      "solid.bmp": { bytes: bmpFile(W, H, rgb), tolerance: 0 },
    };
    for (const [name, { bytes, tolerance }] of Object.entries(files)) {
      await Deno.writeFile(join(dir, name), bytes);
      const image = await loadImage(join(dir, name));
      assert.equal(image.length, SIZE * SIZE * 3, name);
      assert.ok(maxDiff(image, PURPLE) <= tolerance, `${name}: off by ${maxDiff(image, PURPLE)}`);
    }
    // Bytes in, with the name used for errors.
    const fromBytes = await loadImage(files["solid.png"].bytes, { name: "upload.png" });
    assert.equal(maxDiff(fromBytes, PURPLE), 0);
  });
});

Deno.test("loadImage: a gradient comes back as its box (area) average", async () => {
  const W = 256; // 8 source columns per output column
  const ramp = paint(W, W, 3, (x) => [x, 255 - x, 128]);
  const image = await loadImage(await bytesOf(fromRaw(ramp, W, W).png()));
  for (let x = 0; x < SIZE; x++) {
    const mean = x * 8 + 3.5;
    const [r, g, b] = px(image, x, SIZE >> 1);
    assert.ok(Math.abs(r - mean) <= 1.5 && Math.abs(g - (255 - mean)) <= 1.5, `column ${x}`);
    assert.equal(b, 128);
  }
});

Deno.test("loadImage: crop, pad and squash geometry of a 2:1 image", async () => {
  // 64×32: red band x < 16, green 16..47, blue x >= 48.
  const bands = paint(64, 32, 3, (x) => x < 16 ? RED : x < 48 ? GREEN : BLUE);
  const png = await bytesOf(fromRaw(bands, 64, 32).png());
  const EDGE = 2; // columns/rows next to a colour boundary may blend

  const crop = await loadImage(png, { fit: "crop" }); // the centred 32×32: all green
  assert.equal(maxDiff(crop, GREEN), 0);

  const squash = await loadImage(png, { fit: "squash" }); // 2:1 → 1:1, bands keep their share
  assert.ok(maxDiff(squash, RED, 0, 8 - EDGE) <= 2);
  assert.ok(maxDiff(squash, GREEN, 8 + EDGE, 24 - EDGE) <= 2);
  assert.ok(maxDiff(squash, BLUE, 24 + EDGE, 32) <= 2);

  const pad = await loadImage(png, { fit: "pad" }); // letterbox: 32×16 in the middle rows
  const grey = [DEFAULT_BACKGROUND.r, DEFAULT_BACKGROUND.g, DEFAULT_BACKGROUND.b];
  assert.equal(maxDiff(pad, grey, 0, 32, 0, 8), 0);
  assert.equal(maxDiff(pad, grey, 0, 32, 24, 32), 0);
  assert.ok(maxDiff(pad, RED, 0, 8 - EDGE, 8 + EDGE, 24 - EDGE) <= 2);
  assert.ok(maxDiff(pad, GREEN, 8 + EDGE, 24 - EDGE, 8 + EDGE, 24 - EDGE) <= 2);
  assert.ok(maxDiff(pad, BLUE, 24 + EDGE, 32, 8 + EDGE, 24 - EDGE) <= 2);

  const white = await loadImage(png, { fit: "pad", background: { r: 255, g: 255, b: 255 } });
  assert.deepEqual(px(white, 0, 0), [255, 255, 255]);
  const small = await loadImage(png, { size: 8 });
  assert.equal(small.length, 8 * 8 * 3);
});

Deno.test("loadImage: EXIF orientation is applied", async () => {
  // Stored 40×20, left half red, right half blue.
  const halves = paint(40, 20, 3, (x) => x < 20 ? RED : BLUE);
  for (const [orientation, top, bottom] of [[6, RED, BLUE], [8, BLUE, RED]] as const) {
    const jpeg = await bytesOf(
      fromRaw(halves, 40, 20).jpeg({ quality: 95 }).withMetadata({
        orientation,
      }),
    );
    assert.equal((await sharp(jpeg).metadata()).orientation, orientation);
    // Displayed upright the image is 20×40 with the halves on top of each other.
    const image = await loadImage(jpeg, { fit: "squash" });
    assert.ok(maxDiff(image, top, 0, 32, 0, 12) <= 12, `orientation ${orientation}: top`);
    assert.ok(maxDiff(image, bottom, 0, 32, 20, 32) <= 12, `orientation ${orientation}: bottom`);
  }
  // The crop is taken upright: stored 60×20 red|green|blue, rotated to 20×60, centre = green.
  const bands = paint(60, 20, 3, (x) => x < 20 ? RED : x < 40 ? GREEN : BLUE);
  const rotated = await bytesOf(fromRaw(bands, 60, 20).png().withMetadata({ orientation: 6 }));
  assert.equal((await sharp(rotated).metadata()).orientation, 6);
  assert.ok(maxDiff(await loadImage(rotated, { fit: "crop" }), GREEN) <= 2);
});

Deno.test("loadImage: first frame of an animated GIF", async () => {
  const frames = paint(20, 60, 3, (_, y) => y < 20 ? RED : y < 40 ? GREEN : BLUE);
  const gif = await bytesOf(
    sharp(frames, { raw: { width: 20, height: 60, channels: 3, pageHeight: 20 } }).gif(),
  );
  assert.equal((await sharp(gif).metadata()).pages, 3);
  assert.ok(maxDiff(await loadImage(gif), RED) <= 4);
});

Deno.test("loadImage: CMYK JPEG, 16-bit PNG, greyscale, 1×1", async () => {
  const mid = [120, 140, 160];
  const cmyk = await bytesOf(
    fromRaw(paint(40, 40, 3, () => mid), 40, 40).toColourspace("cmyk")
      .jpeg({ quality: 95 }),
  );
  assert.equal((await sharp(cmyk).metadata()).space, "cmyk");
  assert.ok(maxDiff(await loadImage(cmyk), mid) <= 8);

  // 16-bit: each 8-bit value v stored as v × 257 (0xvvvv) must come back as v.
  const deep = new Uint16Array(32 * 32 * 3);
  for (let i = 0; i < 32 * 32; i++) deep.set([200 * 257, 100 * 257, 3 * 257], i * 3);
  const png16 = await bytesOf(
    sharp(deep, { raw: { width: 32, height: 32, channels: 3 } }).toColourspace("rgb16").png(),
  );
  assert.equal((await sharp(png16).metadata()).depth, "ushort");
  assert.equal(maxDiff(await loadImage(png16), [200, 100, 3]), 0);

  const grey = paint(30, 30, 1, () => [77]);
  for (
    const bytes of [
      await bytesOf(fromRaw(grey, 30, 30, 1).toColourspace("b-w").png()),
      await bytesOf(fromRaw(grey, 30, 30, 1).toColourspace("b-w").jpeg()),
    ]
  ) {
    assert.equal((await sharp(bytes).metadata()).channels, 1);
    assert.ok(maxDiff(await loadImage(bytes), [77, 77, 77]) <= 1);
  }

  const one = await bytesOf(fromRaw(new Uint8Array([9, 99, 199]), 1, 1).png());
  assert.equal(maxDiff(await loadImage(one), [9, 99, 199]), 0);
  assert.equal(maxDiff(await loadImage(one, { fit: "pad" }), [9, 99, 199]), 0);
});

Deno.test("loadImage: alpha is composited on the fixed background", async () => {
  const clear = await bytesOf(fromRaw(paint(40, 40, 4, () => [255, 0, 0, 0]), 40, 40, 4).png());
  assert.equal(maxDiff(await loadImage(clear), [128, 128, 128]), 0);
  const half = await bytesOf(fromRaw(paint(40, 40, 4, () => [255, 0, 0, 128]), 40, 40, 4).png());
  assert.ok(maxDiff(await loadImage(half), [192, 64, 64]) <= 1); // 0.5 red + 0.5 grey
  const onWhite = await loadImage(clear, { background: { r: 255, g: 255, b: 255 } });
  assert.equal(maxDiff(onWhite, [255, 255, 255]), 0);
  const webp = await bytesOf(
    fromRaw(paint(40, 40, 4, () => [0, 0, 255, 0]), 40, 40, 4).webp({
      lossless: true,
    }),
  );
  assert.equal(maxDiff(await loadImage(webp), [128, 128, 128]), 0);
});

Deno.test("loadImage: BMP variants (bottom-up, top-down, odd width, 8-bit palette)", async () => {
  const W = 33, H = 21; // odd width: rows are padded
  const image = paint(W, H, 3, (x, y) => y < 10 ? RED : x < 16 ? GREEN : BLUE);
  for (const topDown of [false, true]) {
    const out = await loadImage(bmpFile(W, H, image, { topDown }), { fit: "squash" });
    assert.ok(maxDiff(out, RED, 0, 32, 0, 12) <= 2, `topDown ${topDown}: top red`);
    assert.ok(maxDiff(out, GREEN, 0, 12, 20, 32) <= 2, `topDown ${topDown}: green`);
    assert.ok(maxDiff(out, BLUE, 20, 32, 20, 32) <= 2, `topDown ${topDown}: blue`);
  }
  const indices = paint(W, H, 1, (x) => [x < 16 ? 0 : 1]);
  const paletted = bmpFile(W, H, indices, { palette: [PURPLE, [10, 200, 30]] });
  const out = await loadImage(paletted, { fit: "squash" });
  assert.ok(maxDiff(out, PURPLE, 0, 12) <= 2, "palette colour 0");
  assert.ok(maxDiff(out, [10, 200, 30], 20, 32) <= 2, "palette colour 1");
  // RLE is refused (the decoder misplaces its colours), and so is a BMP cut short.
  const rle = bmpFile(W, H, indices, { palette: [PURPLE, [10, 200, 30]] });
  new DataView(rle.buffer).setUint32(30, 1, true); // BI_RLE8
  await rejectsWith(loadImage(rle, { name: "rle.bmp" }), "unsupported", "rle.bmp", "RLE");
  const cut = bmpFile(W, H, image).subarray(0, 200);
  await rejectsWith(loadImage(cut, { name: "cut.bmp" }), "corrupt", "cut.bmp", "BMP");
});

Deno.test("loadImage: bad files give one ImageError naming the file", async () => {
  await withTemp(async (dir) => {
    const good = await bytesOf(fromRaw(paint(40, 40, 3, () => PURPLE), 40, 40).jpeg());
    const paths = {
      empty: join(dir, "empty.jpg"),
      truncated: join(dir, "truncated.jpg"),
      text: join(dir, "notes.jpg"),
      huge: join(dir, "huge.png"),
      folder: join(dir, "folder.jpg"),
      missing: join(dir, "missing.jpg"),
      bmpHuge: join(dir, "huge.bmp"),
    };
    await Deno.writeFile(paths.empty, new Uint8Array());
    await Deno.writeFile(paths.truncated, good.subarray(0, good.length >> 1));
    await Deno.writeTextFile(paths.text, "this is a shopping list, not a photo\n");
    await Deno.mkdir(paths.folder);
    const header = bmpFile(12_000, 12_000, new Uint8Array(0), { headerOnly: true });
    await Deno.writeFile(paths.bmpHuge, header); // refused from the header, before any read

    await rejectsWith(loadImage(paths.empty), "empty", paths.empty, "empty");
    await rejectsWith(loadImage(paths.truncated), "corrupt", paths.truncated);
    await rejectsWith(loadImage(paths.text), "not-an-image", paths.text, "text");
    await rejectsWith(loadImage(paths.folder), "unreadable", paths.folder, "folder");
    await rejectsWith(loadImage(paths.missing), "missing", paths.missing);
    await rejectsWith(loadImage(paths.bmpHuge), "too-large", paths.bmpHuge, "12000×12000");

    // A real 12,000×12,000 PNG (4 MB of zlib): refused from its header, memory stays flat.
    const huge = sharp({
      create: { width: 12_000, height: 12_000, channels: 3, background: "#888" },
    })
      .png({ compressionLevel: 1, adaptiveFiltering: false });
    await huge.toFile(paths.huge);
    const rssBefore = Deno.memoryUsage().rss;
    await rejectsWith(loadImage(paths.huge), "too-large", paths.huge, "12000×12000", "50.0");
    const grewMiB = (Deno.memoryUsage().rss - rssBefore) / 2 ** 20;
    assert.ok(grewMiB < 64, `RSS grew ${grewMiB.toFixed(0)} MiB refusing a huge image`);
    assert.ok(DEFAULT_LIMIT_INPUT_PIXELS < 12_000 * 12_000);
    // The limit is configurable: a lower one refuses a normal image too.
    await rejectsWith(loadImage(good, { limitInputPixels: 100, name: "x.jpg" }), "too-large");

    // The error names the file and the exit-code class is "bad input".
    const err = await loadImage(paths.text).catch((e) => e);
    assert.equal(err.exitCode, 3);
  });
});

Deno.test({
  name: "loadImage: a file without read permission (skipped as root)",
  ignore: IS_ROOT,
  fn: async () => {
    await withTemp(async (dir) => {
      const path = join(dir, "locked.png");
      await Deno.writeFile(path, await bytesOf(fromRaw(new Uint8Array(3), 1, 1).png()));
      await Deno.chmod(path, 0o000);
      await rejectsWith(loadImage(path), "unreadable", path, "permission denied");
    });
  },
});

Deno.test("loadImagesStreaming: bad files are reported, the others still decoded, in order", async () => {
  await withTemp(async (dir) => {
    const good = await bytesOf(fromRaw(paint(40, 40, 3, () => PURPLE), 40, 40).png());
    const jpeg = await bytesOf(fromRaw(paint(40, 40, 3, () => PURPLE), 40, 40).jpeg());
    await Deno.writeFile(join(dir, "a_good.png"), good);
    await Deno.writeFile(join(dir, "b_empty.jpg"), new Uint8Array());
    await Deno.writeFile(join(dir, "c_good.PNG"), good);
    await Deno.writeTextFile(join(dir, "d_text.jpg"), "hello\n");
    await Deno.writeFile(join(dir, "e_truncated.jpg"), jpeg.subarray(0, 100));
    await Deno.writeFile(join(dir, "f_good.jpg"), jpeg);
    await Deno.writeTextFile(join(dir, "readme.txt"), "not an image name: skipped in folders");
    const before = await snapshot(dir);

    const { items, classes, problems } = await expandImageInputs([dir]);
    assert.equal(classes, undefined);
    assert.deepEqual(problems, []);
    assert.deepEqual(items.map((i) => i.path.slice(dir.length + 1)), [
      "a_good.png",
      "b_empty.jpg",
      "c_good.PNG",
      "d_text.jpg",
      "e_truncated.jpg",
      "f_good.jpg",
    ]);
    for (const concurrency of [1, 3]) {
      const results = await Array.fromAsync(loadImagesStreaming(items, {}, concurrency));
      assert.deepEqual(results.map((r) => r.item.path), items.map((i) => i.path));
      const ok = results.filter((r) => "image" in r);
      const bad = results.filter((r) => "error" in r);
      assert.equal(ok.length, 3);
      for (const r of ok) assert.ok("image" in r && maxDiff(r.image, PURPLE) <= 4);
      assert.deepEqual(bad.map((r) => "error" in r && r.error.kind), [
        "empty",
        "not-an-image",
        "corrupt",
      ]);
      for (const r of bad) assert.ok("error" in r && r.error.message.startsWith(r.item.path));
    }
    assert.deepEqual(await snapshot(dir), before, "reading wrote into the input folder");
    await assert.rejects(
      Array.fromAsync(loadImagesStreaming(items, {}, 0)),
      RangeError,
    );
  });
});

Deno.test("expandImageInputs: ImageFolder layout, classes and labels", async () => {
  await withTemp(async (root) => {
    const png = await bytesOf(fromRaw(new Uint8Array(3 * 4), 2, 2).png());
    const dir = join(root, "pets");
    for (
      const path of ["dog/2.png", "dog/1.JPG", "cat/x.png", "cat/deep/er/y.webp", "bird/z.png"]
    ) {
      await Deno.mkdir(join(dir, path, ".."), { recursive: true });
      await Deno.writeFile(join(dir, path), png);
    }
    await Deno.writeTextFile(join(dir, "LICENSE.txt"), "not a class"); // files at the top are fine
    await Deno.writeTextFile(join(dir, "cat", ".DS_Store"), "hidden");
    await Deno.writeTextFile(join(dir, "cat", "notes.txt"), "not an image");

    const r = await expandImageInputs([dir]);
    assert.deepEqual(r.classes, ["bird", "cat", "dog"]);
    assert.deepEqual(r.items.map((i) => [i.path.slice(dir.length + 1), i.label]), [
      ["bird/z.png", 0],
      ["cat/x.png", 1],
      ["cat/deep/er/y.webp", 1],
      ["dog/1.JPG", 2],
      ["dog/2.png", 2],
    ]);
    assert.deepEqual(r.problems, []);
    // Same answer every time.
    assert.deepEqual(await expandImageInputs([dir]), r);

    // Forced plain: no labels, same files.
    const plain = await expandImageInputs([dir], { layout: "plain" });
    assert.equal(plain.classes, undefined);
    assert.equal(plain.items.length, 5);
    assert.ok(plain.items.every((i) => i.label === undefined));

    // A folder with images at the top is not an ImageFolder; neither are two inputs.
    await Deno.writeFile(join(dir, "stray.png"), png);
    const mixed = await expandImageInputs([dir]);
    assert.equal(mixed.classes, undefined);
    assert.equal(mixed.items[0].path, join(dir, "stray.png")); // own files first
    assert.equal(mixed.items.length, 6);
    const forced = await expandImageInputs([dir], { layout: "imagefolder" });
    assert.deepEqual(forced.classes, ["bird", "cat", "dog"]);
    assert.equal(forced.items.length, 5);
    assert.match(forced.problems[0].message, /outside any class folder/);
    const two = await expandImageInputs([join(dir, "cat"), join(dir, "stray.png")]);
    assert.equal(two.classes, undefined);
    assert.deepEqual(two.items.map((i) => i.path.slice(dir.length + 1)), [
      "cat/x.png",
      "cat/deep/er/y.webp",
      "stray.png",
    ]);
    // Missing inputs are problems, not crashes.
    const missing = await expandImageInputs([join(root, "nope"), join(dir, "stray.png")]);
    assert.equal(missing.items.length, 1);
    assert.match(missing.problems[0].message, /no such file/);
  });
});

Deno.test("expandImageInputs: empty class folder, symlink loops, broken links", async () => {
  await withTemp(async (root) => {
    const png = await bytesOf(fromRaw(new Uint8Array(3), 1, 1).png());
    const dir = join(root, "set");
    await Deno.mkdir(join(dir, "cat"), { recursive: true });
    await Deno.mkdir(join(dir, "empty"), { recursive: true });
    await Deno.writeFile(join(dir, "cat", "a.png"), png);
    await Deno.symlink(dir, join(dir, "cat", "loop")); // cat/loop → set (an ancestor)
    await Deno.symlink(join(dir, "cat", "self"), join(dir, "cat", "self")); // ELOOP
    await Deno.symlink(join(root, "gone.png"), join(dir, "cat", "gone.png")); // dangling

    const r = await expandImageInputs([dir]);
    assert.deepEqual(r.classes, ["cat", "empty"]);
    assert.deepEqual(r.items, [{ path: join(dir, "cat", "a.png"), label: 0 }]);
    const byPath = new Map(r.problems.map((p) => [p.path.slice(dir.length + 1), p.message]));
    assert.match(byPath.get("empty") ?? "", /empty class folder/);
    assert.match(byPath.get("cat/loop") ?? "", /symlink loop/);
    assert.match(byPath.get("cat/self") ?? "", /symlink/);
    assert.match(byPath.get("cat/gone.png") ?? "", /broken symlink/);
    assert.equal(r.problems.length, 4);

    // A plain walk over the same tree terminates too.
    const plain = await expandImageInputs([dir], { layout: "plain" });
    assert.equal(plain.items.length, 1);
    assert.ok(plain.problems.some((p) => /symlink loop/.test(p.message)));
  });
});

Deno.test({
  name: "expandImageInputs: an unreadable sub-folder is a problem (skipped as root)",
  ignore: IS_ROOT,
  fn: async () => {
    await withTemp(async (dir) => {
      const png = await bytesOf(fromRaw(new Uint8Array(3), 1, 1).png());
      await Deno.mkdir(join(dir, "ok"));
      await Deno.mkdir(join(dir, "locked"));
      await Deno.writeFile(join(dir, "ok", "a.png"), png);
      await Deno.chmod(join(dir, "locked"), 0o000);
      try {
        const r = await expandImageInputs([dir], { layout: "plain" });
        assert.equal(r.items.length, 1);
        assert.match(r.problems[0].message, /permission denied/);
      } finally {
        await Deno.chmod(join(dir, "locked"), 0o755);
      }
    });
  },
});

Deno.test("writeImageFolder: a CIFAR-like split as PNGs reads back bit-identical", async () => {
  await withTemp(async (root) => {
    const COUNT = 24, names = ["apple", "bus", "cat"];
    const images = new Uint8Array(COUNT * SIZE * SIZE * 3);
    let seed = 12345; // deterministic noise: the worst case for any lossy step
    for (let i = 0; i < images.length; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      images[i] = seed >>> 24;
    }
    const labels = Int32Array.from({ length: COUNT }, (_, i) => (i * 7) % names.length);
    const out = join(root, "split");
    const written = await writeImageFolder(out, images, labels, names, { format: "png" });
    assert.equal(written.files, COUNT);
    for await (const e of Deno.readDir(join(out, "cat"))) {
      assert.ok(!e.name.includes(".tmp-"), `temp file left: ${e.name}`);
    }

    const back = await expandImageInputs([out]);
    assert.deepEqual(back.classes, names);
    assert.equal(back.items.length, COUNT);
    const before = await snapshot(out);
    let seen = 0;
    for await (const r of loadImagesStreaming(back.items)) {
      assert.ok("image" in r, "error" in r ? r.error.message : "");
      const index = Number(r.item.path.match(/(\d+)\.png$/)![1]);
      assert.equal(back.classes![r.item.label!], names[labels[index]]);
      const want = images.subarray(index * 3072, (index + 1) * 3072);
      assert.ok(r.image.every((v, k) => v === want[k]), `image ${index} differs`);
      seen++;
    }
    assert.equal(seen, COUNT);
    assert.deepEqual(await snapshot(out), before, "reading changed the folder");

    // Never into a folder that already holds files; bad shapes and names refused.
    await assert.rejects(writeImageFolder(out, images, labels, names), /already holds files/);
    await assert.rejects(
      writeImageFolder(join(root, "b"), images.subarray(1), labels, names),
      /image bytes/,
    );
    await assert.rejects(
      writeImageFolder(join(root, "c"), images, labels, ["a", "../up", "b"]),
      /cannot be a folder name/,
    );
    await assert.rejects(
      writeImageFolder(join(root, "d"), images, labels, ["a", "b"]),
      /label 2 of image/,
    );
  });
});

Deno.test("loadImagesStreaming: items from any iterable, empty input", async () => {
  const none: ImageItem[] = [];
  assert.deepEqual(await Array.fromAsync(loadImagesStreaming(none)), []);
  await withTemp(async (dir) => {
    const png = await bytesOf(fromRaw(paint(8, 8, 3, () => PURPLE), 8, 8).png());
    for (const name of ["a.png", "b.png", "c.png"]) await Deno.writeFile(join(dir, name), png);
    function* lazily(): Generator<ImageItem> {
      for (const name of ["c.png", "a.png", "b.png"]) yield { path: join(dir, name) };
    }
    const got = await Array.fromAsync(loadImagesStreaming(lazily(), { size: 4 }, 2));
    assert.deepEqual(got.map((r) => r.item.path.slice(dir.length + 1)), [
      "c.png",
      "a.png",
      "b.png",
    ]);
    for (const r of got) assert.ok("image" in r && r.image.length === 4 * 4 * 3);
  });
});

// Needs the native backend that `deno task setup` builds; DEVISE_SKIP_NATIVE_TESTS=1 skips.
Deno.test({
  name: "loadImage: TensorFlow's decoders take plain 32×32 JPEG/PNG and give sharp's exact bytes",
  ignore: Deno.env.get("DEVISE_SKIP_NATIVE_TESTS") === "1",
  fn: () =>
    withTemp(async (dir) => {
      // Texture (not flat colour) so that DCT and chroma upsampling differences would show.
      const rgb = paint(SIZE, SIZE, 3, (x, y) => [(x * 37 + y * 11) % 256, (x * y) % 256, y * 8]);
      const grey = paint(SIZE, SIZE, 1, (x, y) => [(x * 13 + y * 29) % 256]);
      const rgba = paint(SIZE, SIZE, 4, (x, y) => [x * 8, y * 8, 90, (x + y) * 4]);
      const write = async (name: string, image: Sharp) =>
        await Deno.writeFile(join(dir, name), await bytesOf(image));
      // Taken by TensorFlow:
      await write("a-420.jpg", fromRaw(rgb, SIZE, SIZE).jpeg({ quality: 80 }));
      await write("a-444.jpg", fromRaw(rgb, SIZE, SIZE).jpeg({ chromaSubsampling: "4:4:4" }));
      await write("a-progressive.jpg", fromRaw(rgb, SIZE, SIZE).jpeg({ progressive: true }));
      await write("a-grey.jpg", fromRaw(grey, SIZE, SIZE, 1).jpeg());
      await write("a-rgb.png", fromRaw(rgb, SIZE, SIZE).png());
      await write("a-grey.png", fromRaw(grey, SIZE, SIZE, 1).png());
      // Through sharp: another size, EXIF, an ICC profile, CMYK, alpha, 16-bit, palette, cut short.
      await write("b-40px.jpg", fromRaw(paint(40, 40, 3, () => PURPLE), 40, 40).jpeg());
      await write("b-exif.jpg", fromRaw(rgb, SIZE, SIZE).jpeg().withMetadata({ orientation: 3 }));
      await write("b-icc.jpg", fromRaw(rgb, SIZE, SIZE).jpeg().withIccProfile("p3"));
      await write("b-cmyk.jpg", fromRaw(rgb, SIZE, SIZE).toColourspace("cmyk").jpeg());
      await write("b-alpha.png", fromRaw(rgba, SIZE, SIZE, 4).png());
      await write("b-16bit.png", fromRaw(rgb, SIZE, SIZE).toColourspace("rgb16").png());
      await write("b-palette.png", fromRaw(rgb, SIZE, SIZE).png({ palette: true }));
      const jpeg = await Deno.readFile(join(dir, "a-420.jpg"));
      await Deno.writeFile(join(dir, "c-truncated.jpg"), jpeg.subarray(0, jpeg.length - 40));
      // Scan data cut short but the end marker written: libjpeg recovers (as in Pillow), so the
      // fast path decodes what sharp (failOn "warning") refuses.
      const damaged = jpeg.slice();
      damaged.fill(0xff, damaged.length - 60, damaged.length - 2);
      await Deno.writeFile(join(dir, "c-damaged.jpg"), damaged);
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", join(import.meta.dirname!, "fixtures", "native_images_check.ts"), dir],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      assert.equal(out.code, 0, dec.decode(out.stderr).slice(-2000));
      const { files } = JSON.parse(dec.decode(out.stdout).trim().split("\n").at(-1)!) as {
        files: Record<
          string,
          { kind: string | null; same: boolean; error?: string; fastError?: string }
        >;
      };
      assert.equal(Object.keys(files).length, 15);
      for (const [name, r] of Object.entries(files)) {
        const taken = name.startsWith("a-") || name === "c-damaged.jpg";
        const want = taken ? name.endsWith(".png") ? "png" : "jpeg" : null;
        assert.equal(r.kind, want, name);
        if (name === "c-damaged.jpg") continue;
        assert.ok(r.same, `${name}: the fast path differs from sharp's`);
      }
      assert.match(files["c-truncated.jpg"].error ?? "", /c-truncated\.jpg/);
      const cut = files["c-damaged.jpg"];
      assert.match(cut.error ?? "", /c-damaged\.jpg.*(corrupt|premature|damaged)/i);
      assert.equal(cut.fastError, undefined);
    }),
});
