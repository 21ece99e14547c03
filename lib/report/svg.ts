/**
 * Self-contained SVG charts for reports: line charts (training curves), heatmaps (confusion
 * matrices) and grouped bar charts (per-class accuracy). Each function returns one `<svg>` string
 * with inline styles only, so it can be pasted into HTML or saved as a `.svg` file as is.
 *
 * @example
 * ```ts
 * const svg = lineChartSvg({
 *   title: "train loss",
 *   xLabel: "epoch",
 *   yLabel: "loss",
 *   series: [{ name: "DeViSE", points: [[1, 0.9], [2, 0.5], [3, 0.4]] }],
 * });
 * await Deno.writeTextFile("loss.svg", svg);
 * ```
 * @module
 */

/** Colour-blind-friendly palette (Okabe-Ito), cycled over series. */
export const PALETTE = [
  "#0072B2",
  "#E69F00",
  "#009E73",
  "#D55E00",
  "#CC79A7",
  "#56B4E9",
  "#F0E442",
  "#000000",
];

const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';

/** Escapes text for use inside SVG/XML elements and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) =>
      c === "&"
        ? "&amp;"
        : c === "<"
        ? "&lt;"
        : c === ">"
        ? "&gt;"
        : c === '"'
        ? "&quot;"
        : "&#39;",
  );
}

/**
 * About `count` "nice" tick values (steps of 1, 2 or 5 × 10^k) covering [lo, hi].
 *
 * @example
 * ```ts
 * niceTicks(0, 0.93, 5); // [0, 0.2, 0.4, 0.6, 0.8, 1]
 * ```
 */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
  if (hi === lo) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const start = Math.floor(lo / step + 1e-9) * step;
  const ticks: number[] = [];
  for (let v = start; v <= hi + step * (1 - 1e-9); v += step) {
    ticks.push(Number(v.toPrecision(12)));
    if (ticks.length > 50) break;
  }
  return ticks;
}

/**
 * About `count` whole-number ticks covering [lo, hi] (steps of 1, 2, 5 × 10^k, at least 1), for
 * axes such as epochs where 1.5 means nothing.
 *
 * @example
 * ```ts
 * integerTicks(1, 3, 6); // [1, 2, 3]
 * ```
 */
export function integerTicks(lo: number, hi: number, count = 6): number[] {
  const a = Math.floor(lo), b = Math.max(Math.ceil(hi), a + 1);
  const raw = (b - a) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(Math.max(raw, 1)));
  const step = Math.max(1, [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag);
  const ticks: number[] = [];
  for (let v = Math.floor(a / step) * step; v <= b + step - 1; v += step) {
    ticks.push(v);
    if (v >= b) break;
  }
  return ticks;
}

/** Formats a tick label compactly (no float noise like 0.30000000000000004). */
export function formatTick(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

function _text(
  x: number,
  y: number,
  s: string,
  attrs = "",
): string {
  return `<text x="${_n(x)}" y="${_n(y)}" ${FONT} ${attrs}>${escapeXml(s)}</text>`;
}

/** Rounds coordinates to 2 decimals to keep files small. */
function _n(v: number): string {
  return String(Math.round(v * 100) / 100);
}

function _open(width: number, height: number, title: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(title)}">` +
    `<title>${escapeXml(title)}</title>` +
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>` +
    _text(width / 2, 20, title, 'font-size="15" font-weight="600" text-anchor="middle"');
}

function _legend(names: string[], x: number, y: number): string {
  return names.map((name, i) => {
    const yy = y + i * 16;
    return `<rect x="${_n(x)}" y="${_n(yy - 9)}" width="12" height="10" ` +
      `fill="${PALETTE[i % PALETTE.length]}"/>` +
      _text(x + 16, yy, name, 'font-size="11" fill="#222"');
  }).join("");
}

/** Options of {@link lineChartSvg}. */
export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: { name: string; points: [number, number][] }[];
  /** x values are whole numbers (epochs): ticks only at integers. */
  integerX?: boolean;
  /** Pixels; default 560. */
  width?: number;
  /** Pixels; default 340. */
  height?: number;
}

/**
 * A line chart with axes, nice ticks, light grid lines, point markers and a legend on the right.
 * Non-finite points are skipped.
 *
 * @example
 * ```ts
 * lineChartSvg({ title: "hit@1", xLabel: "epoch", yLabel: "accuracy",
 *   series: [{ name: "train", points: [[1, 0.2], [2, 0.4]] }, { name: "test", points: [[1, 0.1], [2, 0.3]] }] });
 * ```
 */
export function lineChartSvg(opts: LineChartOptions): string {
  const width = opts.width ?? 560;
  const height = opts.height ?? 340;
  // Wide enough for the longest name at the legend's 11 px font (~6.4 px per character).
  const longest = Math.max(0, ...opts.series.map((s) => s.name.length));
  const legendWidth = opts.series.length > 1 || opts.series[0]?.name
    ? Math.round(Math.min(260, Math.max(130, 24 + 6.4 * longest)))
    : 0;
  const m = { left: 62, right: 16 + legendWidth, top: 34, bottom: 48 };
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const pts = opts.series.flatMap((s) =>
    s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
  );
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  let xt = niceTicks(xs.length ? Math.min(...xs) : 0, xs.length ? Math.max(...xs) : 1, 6);
  if (opts.integerX) {
    xt = integerTicks(xs.length ? Math.min(...xs) : 0, xs.length ? Math.max(...xs) : 1, 6);
  }
  const yt = niceTicks(ys.length ? Math.min(...ys) : 0, ys.length ? Math.max(...ys) : 1, 5);
  const [x0, x1] = [xt[0], xt[xt.length - 1]];
  const [y0, y1] = [yt[0], yt[yt.length - 1]];
  const sx = (x: number) => m.left + ((x - x0) / (x1 - x0 || 1)) * pw;
  const sy = (y: number) => m.top + ph - ((y - y0) / (y1 - y0 || 1)) * ph;
  const parts = [_open(width, height, opts.title)];
  for (const t of yt) {
    parts.push(
      `<line x1="${m.left}" y1="${_n(sy(t))}" x2="${m.left + pw}" y2="${_n(sy(t))}" ` +
        `stroke="#e5e5e5"/>`,
      _text(m.left - 6, sy(t) + 4, formatTick(t), 'font-size="11" text-anchor="end" fill="#444"'),
    );
  }
  for (const t of xt) {
    parts.push(
      `<line x1="${_n(sx(t))}" y1="${m.top + ph}" x2="${_n(sx(t))}" y2="${m.top + ph + 4}" ` +
        `stroke="#444"/>`,
      _text(
        sx(t),
        m.top + ph + 17,
        formatTick(t),
        'font-size="11" text-anchor="middle" fill="#444"',
      ),
    );
  }
  parts.push(
    `<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`,
    _text(m.left + pw / 2, height - 10, opts.xLabel, 'font-size="12" text-anchor="middle"'),
    _text(
      14,
      m.top + ph / 2,
      opts.yLabel,
      `font-size="12" text-anchor="middle" transform="rotate(-90 14 ${_n(m.top + ph / 2)})"`,
    ),
  );
  opts.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const good = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (good.length > 1) {
      const d = good.map(([x, y], k) => `${k ? "L" : "M"}${_n(sx(x))},${_n(sy(y))}`).join("");
      parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
    }
    if (good.length <= 60) {
      for (const [x, y] of good) {
        parts.push(`<circle cx="${_n(sx(x))}" cy="${_n(sy(y))}" r="2.5" fill="${color}"/>`);
      }
    }
  });
  if (legendWidth) {
    parts.push(_legend(opts.series.map((s) => s.name), width - legendWidth, m.top + 10));
  }
  parts.push("</svg>");
  return parts.join("");
}

/** Options of {@link heatmapSvg}. */
export interface HeatmapOptions {
  title: string;
  rowLabels: string[];
  colLabels: string[];
  values: number[][];
  /** Pixels; default 40 px per column plus margins, at least 360. */
  width?: number;
}

/**
 * A heatmap (e.g. a confusion matrix: rows = true class, columns = predicted class), white to
 * blue, scaled to the largest value. Matrices up to 20×20 get the value printed in each cell.
 *
 * @example
 * ```ts
 * heatmapSvg({ title: "confusion", rowLabels: ["cat", "dog"], colLabels: ["cat", "dog"],
 *   values: [[8, 2], [1, 9]] });
 * ```
 */
export function heatmapSvg(opts: HeatmapOptions): string {
  const rows = opts.values.length;
  const cols = Math.max(opts.colLabels.length, ...opts.values.map((r) => r.length), 1);
  const labelChars = Math.max(4, ...opts.rowLabels.map((l) => l.length));
  const colChars = Math.max(4, ...opts.colLabels.map((l) => l.length));
  const left = Math.min(160, 12 + labelChars * 6.5);
  const top = 34 + Math.min(130, 10 + colChars * 5.5);
  const width = opts.width ?? Math.max(360, left + cols * 40 + 20);
  const cell = Math.max(4, (width - left - 20) / cols);
  const height = top + rows * cell + 20;
  let max = 0;
  for (const r of opts.values) for (const v of r) if (Number.isFinite(v)) max = Math.max(max, v);
  const showText = rows <= 20 && cols <= 20 && cell >= 18;
  const parts = [_open(Math.round(width), Math.round(height), opts.title)];
  opts.colLabels.forEach((l, j) => {
    const x = left + (j + 0.5) * cell;
    parts.push(_text(
      x,
      top - 6,
      l,
      `font-size="11" text-anchor="start" transform="rotate(-60 ${_n(x)} ${top - 6})"`,
    ));
  });
  opts.values.forEach((row, i) => {
    const y = top + i * cell;
    parts.push(
      _text(
        left - 6,
        y + cell / 2 + 4,
        opts.rowLabels[i] ?? "",
        'font-size="11" text-anchor="end"',
      ),
    );
    for (let j = 0; j < cols; j++) {
      const v = row[j] ?? NaN;
      const f = Number.isFinite(v) && max > 0 ? Math.max(0, v / max) : 0;
      // Interpolate white (255,255,255) -> dark blue (8,48,107).
      const c = [255 - f * 247, 255 - f * 207, 255 - f * 148].map(Math.round);
      parts.push(
        `<rect x="${_n(left + j * cell)}" y="${_n(y)}" width="${_n(cell)}" height="${_n(cell)}" ` +
          `fill="rgb(${c.join(",")})" stroke="#ddd" stroke-width="0.5"><title>${
            escapeXml(`${opts.rowLabels[i] ?? i} / ${opts.colLabels[j] ?? j}: ${v}`)
          }</title></rect>`,
      );
      if (showText && Number.isFinite(v)) {
        const label = Number.isInteger(v) ? String(v) : v.toFixed(2);
        parts.push(_text(
          left + (j + 0.5) * cell,
          y + cell / 2 + 4,
          label,
          `font-size="10" text-anchor="middle" fill="${f > 0.55 ? "#fff" : "#222"}"`,
        ));
      }
    }
  });
  parts.push("</svg>");
  return parts.join("");
}

/** Options of {@link barChartSvg}. */
export interface BarChartOptions {
  title: string;
  labels: string[];
  series: { name: string; values: number[] }[];
  /** Pixels; default fits the groups, at least 480. */
  width?: number;
  /** Pixels; default 320. */
  height?: number;
  /** Axis label for the values. */
  yLabel?: string;
}

/**
 * Grouped vertical bars: one group per label, one bar per series, a legend on top right.
 * The value axis starts at 0 (or at the minimum when values are negative).
 *
 * @example
 * ```ts
 * barChartSvg({ title: "per-class accuracy", labels: ["cat", "dog"],
 *   series: [{ name: "DeViSE", values: [0.6, 0.7] }, { name: "ConSE", values: [0.5, 0.8] }] });
 * ```
 */
export function barChartSvg(opts: BarChartOptions): string {
  const nGroups = Math.max(1, opts.labels.length);
  const nSeries = Math.max(1, opts.series.length);
  const labelChars = Math.max(3, ...opts.labels.map((l) => l.length));
  const m = { left: 62, right: 130, top: 34, bottom: Math.min(120, 24 + labelChars * 5.5) };
  const width = opts.width ?? Math.max(480, m.left + m.right + nGroups * (nSeries * 12 + 10));
  const height = opts.height ?? 320;
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const vals = opts.series.flatMap((s) => s.values.filter(Number.isFinite));
  const yt = niceTicks(Math.min(0, ...vals), Math.max(0, ...vals, 1e-9), 5);
  const [y0, y1] = [yt[0], yt[yt.length - 1]];
  const sy = (y: number) => m.top + ph - ((y - y0) / (y1 - y0 || 1)) * ph;
  const groupW = pw / nGroups;
  const barW = (groupW * 0.8) / nSeries;
  const parts = [_open(width, height, opts.title)];
  for (const t of yt) {
    parts.push(
      `<line x1="${m.left}" y1="${_n(sy(t))}" x2="${m.left + pw}" y2="${_n(sy(t))}" ` +
        `stroke="#e5e5e5"/>`,
      _text(m.left - 6, sy(t) + 4, formatTick(t), 'font-size="11" text-anchor="end" fill="#444"'),
    );
  }
  opts.series.forEach((s, si) => {
    const color = PALETTE[si % PALETTE.length];
    s.values.forEach((v, gi) => {
      if (!Number.isFinite(v) || gi >= nGroups) return;
      const x = m.left + gi * groupW + groupW * 0.1 + si * barW;
      const yTop = sy(Math.max(v, 0));
      const h = Math.abs(sy(v) - sy(0));
      parts.push(
        `<rect x="${_n(x)}" y="${_n(yTop)}" width="${_n(barW)}" height="${_n(h)}" ` +
          `fill="${color}"><title>${escapeXml(`${s.name} / ${opts.labels[gi] ?? gi}: ${v}`)}` +
          `</title></rect>`,
      );
    });
  });
  opts.labels.forEach((l, gi) => {
    const x = m.left + (gi + 0.5) * groupW;
    const y = m.top + ph + 12;
    parts.push(
      _text(x, y, l, `font-size="11" text-anchor="end" transform="rotate(-45 ${_n(x)} ${y})"`),
    );
  });
  parts.push(
    `<line x1="${m.left}" y1="${_n(sy(0))}" x2="${m.left + pw}" y2="${_n(sy(0))}" stroke="#444"/>`,
    `<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${m.top + ph}" stroke="#444"/>`,
  );
  if (opts.yLabel) {
    parts.push(_text(
      14,
      m.top + ph / 2,
      opts.yLabel,
      `font-size="12" text-anchor="middle" transform="rotate(-90 14 ${_n(m.top + ph / 2)})"`,
    ));
  }
  parts.push(_legend(opts.series.map((s) => s.name), width - m.right + 12, m.top + 10), "</svg>");
  return parts.join("");
}
