/**
 * Image grids for reports: tiny CIFAR images (32×32 RGB) encoded as PNG data URIs (a minimal
 * PNG encoder on `node:zlib` deflate and crc32, no dependencies), laid out with each image's true label
 * and the top-5 labels of one or more models (e.g. DeViSE and softmax).
 *
 * @example
 * ```ts
 * const html = imageGridHtml([{ image: split.images.subarray(0, 3072), trueLabel: "cat",
 *   predictions: { DeViSE: ["cat", "dog", "fox", "lion", "tiger"] } }]);
 * ```
 * @module
 */
import { crc32, deflateSync } from "node:zlib";
import { escapeXml } from "./svg.ts";

function _chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/**
 * Encodes 8-bit RGB (channels 3) or grey (channels 1) pixels, row-major HWC, as a PNG file.
 *
 * @example
 * ```ts
 * const png = encodePng(new Uint8Array(32 * 32 * 3), 32, 32); // black 32×32 PNG
 * ```
 */
export function encodePng(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3 = 3,
): Uint8Array {
  if (pixels.length !== width * height * channels) {
    throw new Error(`encodePng: ${pixels.length} bytes, expected ${width}×${height}×${channels}`);
  }
  const stride = width * channels;
  const raw = new Uint8Array((stride + 1) * height); // filter byte 0 (None) per row
  for (let y = 0; y < height; y++) {
    raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  }
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = channels === 3 ? 2 : 0; // colour type: truecolour / greyscale
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    _chunk("IHDR", ihdr),
    _chunk("IDAT", new Uint8Array(deflateSync(raw))),
    _chunk("IEND", new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * A `data:image/png;base64,...` URI for an RGB image.
 *
 * @example
 * ```ts
 * `<img src="${pngDataUri(image, 32, 32)}">`;
 * ```
 */
export function pngDataUri(pixels: Uint8Array, width = 32, height = 32): string {
  const png = encodePng(pixels, width, height, 3);
  let bin = "";
  for (let i = 0; i < png.length; i += 0x8000) {
    bin += String.fromCharCode(...png.subarray(i, i + 0x8000));
  }
  return `data:image/png;base64,${btoa(bin)}`;
}

/** One cell of a grid. */
export interface GridItem {
  /** 32×32×3 uint8 HWC pixels. */
  image: Uint8Array;
  trueLabel: string;
  /** Model name -> its top-k labels, best first. */
  predictions: Record<string, string[]>;
  /** Model name -> the score of each of its labels (shown after the label). */
  scores?: Record<string, number[]>;
  /** The caption instead of `true: <label>` (e.g. a file name). */
  caption?: string;
  /** Image side in pixels; default 32. */
  size?: number;
}

/**
 * An HTML fragment: a CSS grid of cards, each the image scaled ×3 (pixelated) with its true
 * label and per-model top-k lists (correct label in bold green).
 *
 * @example
 * ```ts
 * const html = imageGridHtml(items); // embed inside report.html
 * ```
 */
export function imageGridHtml(items: GridItem[]): string {
  const cards = items.map((item) => {
    const size = item.size ?? 32;
    const lists = Object.entries(item.predictions).map(([model, labels]) =>
      `<div class="pred"><b>${escapeXml(model)}</b><ol>${
        labels.map((l, k) => {
          const score = item.scores?.[model]?.[k];
          return `<li${l === item.trueLabel ? ' class="hit"' : ""}>${escapeXml(l)}${
            score === undefined ? "" : ` <span class="note">${score.toFixed(2)}</span>`
          }</li>`;
        }).join("")
      }</ol></div>`
    ).join("");
    return `<figure class="card"><img src="${pngDataUri(item.image, size, size)}" width="${
      size * 3
    }" ` +
      `height="${size * 3}" alt="${escapeXml(item.trueLabel)}"><figcaption>${
        item.caption === undefined
          ? `true: <b>${escapeXml(item.trueLabel)}</b>`
          : escapeXml(item.caption)
      }</figcaption>${lists}</figure>`;
  });
  return `<div class="grid">${cards.join("")}</div>`;
}

/**
 * The same grid as a markdown table (no images: markdown viewers often block data URIs), one
 * row per image.
 *
 * @example
 * ```ts
 * imageGridMarkdown(items); // "| # | true | DeViSE top-5 | ..."
 * ```
 */
export function imageGridMarkdown(items: GridItem[]): string {
  const models = [...new Set(items.flatMap((i) => Object.keys(i.predictions)))];
  const esc = (s: string) => s.replace(/\|/g, "\\|");
  const lines = [
    `| # | true | ${models.map((m) => `${esc(m)} top-k`).join(" | ")} |`,
    `|---|---|${models.map(() => "---").join("|")}|`,
  ];
  items.forEach((item, i) => {
    const cells = models.map((m) =>
      (item.predictions[m] ?? []).map((l) => l === item.trueLabel ? `**${esc(l)}**` : esc(l)).join(
        ", ",
      )
    );
    lines.push(`| ${i + 1} | ${esc(item.trueLabel)} | ${cells.join(" | ")} |`);
  });
  return lines.join("\n");
}
