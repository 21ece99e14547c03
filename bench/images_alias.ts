/**
 * Aliasing, measured: a 1024×768 synthetic photo-like image (sky gradient, soft discs, hard-edged
 * blocks, a zone plate whose frequency sweeps up to the source Nyquist, 1-pixel stripes and a
 * 2×2 checkerboard) is centre-cropped to 768×768 and downsized to 32×32 (a factor of 24) by
 *
 * - (a) sharp `nearest`;
 * - (b) plain bilinear without antialiasing: sharp `affine` with the bilinear interpolator,
 *   sampling at the output pixel centres;
 * - (c) our path: sharp `resize` (libvips: exact box shrink, then `mks2021` for the last ≤ 2×),
 *   plus the other sharp kernels, and sharp's own `cover` crop (cut after resizing), to compare;
 * - (d) the tfjs route: `tf.node.decodeImage` of the PNG + `tf.image.resizeBilinear` (defaults);
 * - and `loadImage` itself, end to end from a PNG and from a JPEG (q 90) of the same image,
 *
 * each scored against an exact box-filter (area) average of the same crop computed here in
 * TypeScript: PSNR over the whole image, and over the fine-detail blocks alone (zone plate rings
 * above the output Nyquist, stripes, checkerboard), where the ideal result is flat and any pattern
 * is aliasing. Prints a table and JSON; writes `data/bench/images_alias.json` and
 * `data/bench/images_alias.png` (the reference, then a–d, each ×8 with nearest neighbour).
 *
 * @example
 * ```sh
 * deno run -A bench/images_alias.ts
 * deno run -A bench/images_alias.ts --no-tfjs   # without libtensorflow
 * ```
 * @module
 */
import sharp, { type Sharp } from "sharp";
import { type FlagSpec, parseFlags } from "../lib/cli/args.ts";
import { runtimeVersions } from "../lib/cli/run.ts";
import { writeFileAtomic, writeJsonAtomic } from "../lib/io/artifact.ts";
import { DEFAULT_KERNEL, loadImage, type ResizeKernel } from "../lib/images/decode.ts";

const spec = {
  tfjs: { type: "boolean", default: true, help: "include the tfjs-node route (--no-tfjs: skip)" },
  out: { type: "string", default: "data/bench/images_alias.json", help: "result file" },
  png: { type: "string", default: "data/bench/images_alias.png", help: "side-by-side picture" },
} as const satisfies FlagSpec;

const WIDTH = 1024, HEIGHT = 768, CHANNELS = 3;
const OUT = 32;
/** The centred square crop every method resizes. */
const CROP = { left: (WIDTH - HEIGHT) / 2, top: 0, width: HEIGHT, height: HEIGHT };
const FACTOR = HEIGHT / OUT; // 24
/** Zone plate: centre and the radius at which its local frequency reaches 0.5 cycles/px. */
const ZONE = { x: 512, y: 384, radius: 340 };
/** Output Nyquist in source cycles/px: content above it must average away. */
const OUTPUT_NYQUIST = 0.5 / FACTOR;
/** Fine-detail patches (source coordinates). */
const STRIPES = { x0: 152, x1: 344, y0: 24, y1: 216 };
const CHECKER = { x0: 680, x1: 872, y0: 552, y1: 744 };
const UPSCALE = 8, GAP = 4;
const PEAK = 255;
const JPEG_QUALITY = 90;

/** The synthetic image, 8-bit RGB HWC. */
function syntheticPhoto(): Uint8Array {
  const img = new Uint8Array(WIDTH * HEIGHT * CHANNELS);
  const discs = [
    { x: 260, y: 560, r: 110, c: [200, 80, 60] },
    { x: 820, y: 200, r: 90, c: [60, 170, 90] },
    { x: 180, y: 330, r: 60, c: [240, 220, 90] },
  ];
  const smooth = (t: number) => t <= 0 ? 0 : t >= 1 ? 1 : t * t * (3 - 2 * t);
  const inside = (p: { x0: number; x1: number; y0: number; y1: number }, x: number, y: number) =>
    x >= p.x0 && x < p.x1 && y >= p.y0 && y < p.y1;
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      // Sky: blue at the top to pale at the horizon, then a darker ground.
      const t = y / HEIGHT;
      let c = t < 0.6
        ? [90 + 120 * t, 140 + 90 * t, 230 - 20 * t]
        : [110 - 40 * (t - 0.6), 120 - 30 * (t - 0.6), 70];
      for (const d of discs) { // soft-edged discs
        const a = 1 - smooth((Math.hypot(x - d.x, y - d.y) - d.r) / 8 + 0.5);
        c = c.map((v, k) => v * (1 - a) + d.c[k] * a);
      }
      if (x >= 600 && x < 700 && y >= 420 && y < 520) c = [30, 30, 40]; // hard-edged block
      const r = Math.hypot(x - ZONE.x, y - ZONE.y);
      const za = 1 - smooth((r - ZONE.radius) / 6 + 0.5);
      if (za > 0) {
        const wave = Math.cos((Math.PI * r * r) / (2 * ZONE.radius)); // f(r) = r / (2·radius)
        c = c.map((v, k) => v * (1 - za) + (128 + 110 * wave * (k === 2 ? 0.8 : 1)) * za);
      }
      if (inside(STRIPES, x, y)) c = x % 2 ? [250, 250, 250] : [10, 10, 10];
      if (inside(CHECKER, x, y)) c = ((x >> 1) + (y >> 1)) % 2 ? [230, 40, 40] : [20, 20, 200];
      img.set(c.map((v) => Math.max(0, Math.min(PEAK, Math.round(v)))), (y * WIDTH + x) * 3);
    }
  }
  return img;
}

/** Exact box average of each FACTOR×FACTOR block of the crop (floating point). */
function boxReference(img: Uint8Array): Float64Array {
  const ref = new Float64Array(OUT * OUT * CHANNELS);
  for (let oy = 0; oy < OUT; oy++) {
    for (let ox = 0; ox < OUT; ox++) {
      for (let y = oy * FACTOR; y < (oy + 1) * FACTOR; y++) {
        for (let x = ox * FACTOR; x < (ox + 1) * FACTOR; x++) {
          const i = ((CROP.top + y) * WIDTH + CROP.left + x) * 3;
          for (let k = 0; k < 3; k++) ref[(oy * OUT + ox) * 3 + k] += img[i + k];
        }
      }
    }
  }
  return ref.map((v) => v / (FACTOR * FACTOR));
}

/**
 * Output pixels whose whole source block is fine detail (zone plate where its lowest local
 * frequency is above the output Nyquist, stripes, checkerboard): flat in an ideal result.
 */
function detailMask(): boolean[] {
  const mask: boolean[] = [];
  const minDetailRadius = OUTPUT_NYQUIST * 2 * ZONE.radius * 2; // 2× margin over Nyquist
  const within = (p: { x0: number; x1: number; y0: number; y1: number }, x: number, y: number) =>
    x >= p.x0 && x + FACTOR <= p.x1 && y >= p.y0 && y + FACTOR <= p.y1;
  for (let oy = 0; oy < OUT; oy++) {
    for (let ox = 0; ox < OUT; ox++) {
      const x = CROP.left + ox * FACTOR, y = CROP.top + oy * FACTOR;
      const corners = [[x, y], [x + FACTOR, y], [x, y + FACTOR], [x + FACTOR, y + FACTOR]];
      const radii = corners.map(([cx, cy]) => Math.hypot(cx - ZONE.x, cy - ZONE.y));
      const inZone = Math.min(...radii) >= minDetailRadius && Math.max(...radii) <= ZONE.radius;
      mask.push(inZone || within(STRIPES, x, y) || within(CHECKER, x, y));
    }
  }
  return mask;
}

/** PSNR (dB) of `got` against `ref`, over the pixels where `mask` holds (all by default). */
function psnr(got: Uint8Array, ref: Float64Array, mask?: boolean[]): number {
  let sum = 0, n = 0;
  for (let p = 0; p < OUT * OUT; p++) {
    if (mask && !mask[p]) continue;
    for (let k = 0; k < 3; k++) sum += (got[p * 3 + k] - ref[p * 3 + k]) ** 2;
    n += 3;
  }
  return 10 * Math.log10((PEAK * PEAK) / (sum / n));
}

function _raw(img: Uint8Array, width: number, height: number) {
  return sharp(img, { raw: { width, height, channels: CHANNELS } });
}

async function _pixels(image: Sharp): Promise<Uint8Array> {
  const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
  if (info.width !== OUT || info.height !== OUT || info.channels !== CHANNELS) {
    throw new Error(`expected ${OUT}×${OUT}×3, got ${info.width}×${info.height}×${info.channels}`);
  }
  return new Uint8Array(data);
}

/** sharp `resize` of the exact crop with one kernel. */
async function sharpResize(img: Uint8Array, kernel: ResizeKernel): Promise<Uint8Array> {
  const crop = await _raw(img, WIDTH, HEIGHT).extract(CROP).raw().toBuffer();
  return await _pixels(_raw(new Uint8Array(crop), HEIGHT, HEIGHT).resize(OUT, OUT, { kernel }));
}

/** Plain bilinear, no antialiasing: libvips affine, sampling at output pixel centres. */
async function sharpAffineBilinear(img: Uint8Array): Promise<Uint8Array> {
  const crop = await _raw(img, WIDTH, HEIGHT).extract(CROP).raw().toBuffer();
  const scale = OUT / HEIGHT;
  const centre = -(FACTOR - 1) / 2; // input offset so output pixel j samples 24 j + 11.5
  return await _pixels(
    _raw(new Uint8Array(crop), HEIGHT, HEIGHT).affine([[scale, 0], [0, scale]], {
      interpolator: sharp.interpolators.bilinear,
      idx: centre,
      idy: centre,
    }),
  );
}

/** The tfjs route: decodeImage + crop + resizeBilinear with its defaults. */
async function tfjsRoute(png: Uint8Array): Promise<{ pixels: Uint8Array; version: string }> {
  const { selectBackend } = await import("../lib/backend/select.ts");
  const { tf } = await selectBackend("tensorflow", { allowSlow: false });
  type Tensor3D = import("@tensorflow/tfjs").Tensor3D;
  const node = (tf as unknown as { node: { decodeImage(b: Uint8Array, c: number): Tensor3D } })
    .node;
  const pixels = tf.tidy(() => {
    const decoded = node.decodeImage(png, CHANNELS);
    const crop = tf.slice(decoded, [CROP.top, CROP.left, 0], [CROP.height, CROP.width, 3]);
    return tf.image.resizeBilinear(crop, [OUT, OUT]).round().clipByValue(0, PEAK);
  });
  const data = Uint8Array.from(await pixels.data());
  pixels.dispose();
  return { pixels: data, version: tf.version.tfjs };
}

/** The labelled results side by side, each ×UPSCALE (nearest), as one PNG. */
async function sideBySide(images: Uint8Array[]): Promise<Uint8Array> {
  const tile = OUT * UPSCALE;
  const width = images.length * tile + (images.length + 1) * GAP, height = tile + 2 * GAP;
  const tiles = await Promise.all(
    images.map((img) =>
      _raw(img, OUT, OUT).resize(tile, tile, { kernel: "nearest" }).png().toBuffer()
    ),
  );
  const png = await sharp({
    create: { width, height, channels: CHANNELS, background: { r: 255, g: 255, b: 255 } },
  }).composite(tiles.map((input, i) => ({ input, left: GAP + i * (tile + GAP), top: GAP })))
    .png().toBuffer();
  return new Uint8Array(png);
}

async function main(): Promise<void> {
  const flags = parseFlags(spec, Deno.args, {
    task: "bench",
    summary: "Measure aliasing of 1024×768 → 32×32 downsizing methods (deno run bench/...).",
    examples: ["deno run -A bench/images_alias.ts"],
  });
  const img = syntheticPhoto();
  const ref = boxReference(img);
  const mask = detailMask();
  const refPixels = Uint8Array.from(ref, (v) => Math.round(v));
  const png = new Uint8Array(await _raw(img, WIDTH, HEIGHT).png().toBuffer());
  const jpeg = new Uint8Array(
    await _raw(img, WIDTH, HEIGHT).jpeg({ quality: JPEG_QUALITY }).toBuffer(),
  );

  const methods: { key: string; name: string; pixels: Uint8Array }[] = [];
  const add = (key: string, name: string, pixels: Uint8Array) =>
    methods.push({ key, name, pixels });
  add("a", "sharp nearest", await sharpResize(img, "nearest"));
  add("b", "sharp affine bilinear (no antialiasing)", await sharpAffineBilinear(img));
  add("c", "ours: sharp resize, box shrink + mks2021", await sharpResize(img, DEFAULT_KERNEL));
  let tfjsNote: string | undefined;
  if (flags.tfjs) {
    try {
      const { pixels, version } = await tfjsRoute(png);
      add("d", `tf.node.decodeImage + tf.image.resizeBilinear (tfjs ${version})`, pixels);
    } catch (err) {
      tfjsNote = `tfjs route unavailable: ${(err as Error).message.split("\n")[0]}`;
    }
  } else tfjsNote = "tfjs route skipped (--no-tfjs)";
  const others = ["linear", "cubic", "mitchell", "lanczos2", "lanczos3", "mks2013"] as const;
  for (const kernel of others) {
    add(`c-${kernel}`, `sharp resize, box shrink + ${kernel}`, await sharpResize(img, kernel));
  }
  add(
    "c-cover",
    "sharp resize fit cover (crops after resizing), mks2021",
    await _pixels(
      _raw(img, WIDTH, HEIGHT).resize(OUT, OUT, { fit: "cover", kernel: DEFAULT_KERNEL }),
    ),
  );
  add("ours-png", "loadImage(PNG)", await loadImage(png));
  add("ours-jpeg", `loadImage(JPEG q${JPEG_QUALITY})`, await loadImage(jpeg));

  const rows = methods.map((m) => ({
    key: m.key,
    method: m.name,
    psnrDb: Number(psnr(m.pixels, ref).toFixed(2)),
    detailPsnrDb: Number(psnr(m.pixels, ref, mask).toFixed(2)),
  }));
  const detailPixels = mask.filter(Boolean).length;
  console.log(`1024×768 → crop 768×768 → 32×32; reference: exact ${FACTOR}×${FACTOR} box average`);
  console.log(`detail region: ${detailPixels} of ${OUT * OUT} output pixels\n`);
  console.log("| key | method | PSNR (dB) | detail PSNR (dB) |\n| --- | --- | ---: | ---: |");
  for (const r of rows) console.log(`| ${r.key} | ${r.method} | ${r.psnrDb} | ${r.detailPsnrDb} |`);
  if (tfjsNote) console.log(`\n${tfjsNote}`);

  const shown = ["a", "b", "c", "d"].map((k) => methods.find((m) => m.key === k)).filter((m) =>
    m !== undefined
  );
  await writeFileAtomic(flags.png, await sideBySide([refPixels, ...shown.map((m) => m.pixels)]));
  const result = {
    bench: "images-alias",
    date: new Date().toISOString(),
    versions: { ...runtimeVersions(), sharp: sharp.versions.sharp, vips: sharp.versions.vips },
    source: { width: WIDTH, height: HEIGHT, crop: CROP, output: OUT, factor: FACTOR },
    reference: "exact box (area) average of each 24×24 block, computed in TypeScript",
    detailPixels,
    picture: { path: flags.png, order: ["box reference", ...shown.map((m) => m.name)] },
    results: rows,
    note: tfjsNote,
    summary: rows.map((r) => ({
      measurement: `aliasing 1024×768→32×32, ${r.method}: PSNR vs box average (detail region)`,
      unit: "dB",
      higherIsBetter: true,
      ours: r.psnrDb,
      peer: null,
      peerValue: null,
      ratio: null,
      note: `detail-region PSNR ${r.detailPsnrDb} dB`,
    })),
  };
  console.log(`\n${JSON.stringify({ results: rows })}`);
  await writeJsonAtomic(flags.out, result);
  console.error(`wrote ${flags.out} and ${flags.png}`);
}

if (import.meta.main) {
  await main();
}
