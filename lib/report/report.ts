/**
 * Writes a run's report: `report.md` (tables, plots as sibling `.svg` files) and a self-contained
 * `report.html` (inline CSS, inline SVG plots, images as PNG data URIs, no network references).
 * `metrics.json` is not written here: the run's `finish` owns it (see lib/cli/run.ts); use
 * {@link reportNumbers} to put the report's numbers into it.
 *
 * @example
 * ```ts
 * await writeReport("data/runs/train-x", {
 *   title: "DeViSE on CIFAR-100",
 *   config: { epochs: 10 },
 *   results: [{ model: "softmax", hit: { "1": 0.52, "5": 0.8 } },
 *             { model: "DeViSE", hit: { "1": 0.48, "2": 0.6, "5": 0.78, "10": 0.88 } }],
 * });
 * ```
 * @module
 */
import { join } from "node:path";
import { writeFileAtomic } from "../io/artifact.ts";
import { barChartSvg, escapeXml, heatmapSvg, type LineChartOptions, lineChartSvg } from "./svg.ts";
import { type GridItem, imageGridHtml, imageGridMarkdown, pngDataUri } from "./image_grid.ts";

/** A plain table; numbers are formatted with {@link formatCell}. */
export interface Table {
  title?: string;
  columns: string[];
  rows: (string | number | null)[][];
}

/** One model's ranking metrics (fractions in [0, 1]). */
export interface ResultRow {
  model: string;
  /** hit@k by k ("1", "2", "5", "10"); for softmax these are top-k accuracies. */
  hit: Record<string, number>;
  /** Fraction of top-1 errors within the true superclass. */
  superclassErrorRate?: number;
  /** Hierarchical precision@k by k. */
  hierarchicalPrecision?: Record<string, number>;
}

/** Zero-shot sections (all optional). */
export interface ZeroShotData {
  /** 10-way (e.g. CIFAR-10 unseen classes) per-class accuracy of DeViSE vs ConSE. */
  tenWay?: {
    classes: string[];
    accuracy: Record<string, number[]>;
    /** Overall accuracy per method. */
    overall?: Record<string, number>;
    confusion?: { title: string; values: number[][] };
  };
  /** Full-vocabulary hit@k per method. */
  fullVocab?: ResultRow[];
  /** Top-10 nearest words for a few images. */
  topWords?: { image: Uint8Array; trueLabel: string; words: string[] }[];
  notes?: string[];
}

/** Everything a report can show. */
export interface ReportData {
  title: string;
  config: Record<string, unknown>;
  results?: ResultRow[];
  ablation?: Table;
  curves?: LineChartOptions[];
  imageGrid?: GridItem[];
  zeroShot?: ZeroShotData;
  /** Extra tables (e.g. timing). */
  tables?: Table[];
  notes?: string[];
}

/**
 * Formats a table cell: numbers in [0, 1] (metrics) as percentages with one decimal, other
 * numbers compactly, null/NaN as "–". Pass counts and timings as strings to show them as is.
 *
 * @example
 * ```ts
 * formatCell(0.4567); // "45.7%"
 * ```
 */
export function formatCell(v: string | number | null | undefined, percent = true): string {
  if (v === null || v === undefined || (typeof v === "number" && !Number.isFinite(v))) return "–";
  if (typeof v === "string") return v;
  if (percent && v >= 0 && v <= 1) return `${(v * 100).toFixed(1)}%`;
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
}

/**
 * The standard results table: hit@1/2/5/10, superclass-consistent error rate and hierarchical
 * precision@2/5/10, one row per model (missing values shown as "–").
 *
 * @example
 * ```ts
 * const table = resultsTable(rows);
 * ```
 */
export function resultsTable(rows: ResultRow[], title = "Results"): Table {
  // Columns follow the data: every k any row has, hierarchy columns only when some row has them.
  const keys = (pick: (r: ResultRow) => Record<string, number> | undefined) =>
    [...new Set(rows.flatMap((r) => Object.keys(pick(r) ?? {})))].sort((a, b) => +a - +b);
  const ks = keys((r) => r.hit);
  const hpKs = keys((r) => r.hierarchicalPrecision).filter((k) => k !== "1");
  const superclass = rows.some((r) => r.superclassErrorRate !== undefined);
  return {
    title,
    columns: [
      "model",
      ...ks.map((k) => `hit@${k}`),
      ...(superclass ? ["superclass-consistent errors"] : []),
      ...hpKs.map((k) => `hP@${k}`),
    ],
    rows: rows.map((r) => [
      r.model,
      ...ks.map((k) => r.hit[k] ?? null),
      ...(superclass ? [r.superclassErrorRate ?? null] : []),
      ...hpKs.map((k) => r.hierarchicalPrecision?.[k] ?? null),
    ]),
  };
}

/**
 * A table as GitHub markdown.
 *
 * @example
 * ```ts
 * markdownTable({ columns: ["a", "b"], rows: [[1, 0.5]] }); // "| a | b |\n|---|---|\n| 1 | 50.0% |"
 * ```
 */
export function markdownTable(table: Table): string {
  const esc = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");
  return [
    `| ${table.columns.map(esc).join(" | ")} |`,
    `|${table.columns.map(() => "---").join("|")}|`,
    ...table.rows.map((r) => `| ${r.map((c) => esc(formatCell(c))).join(" | ")} |`),
  ].join("\n");
}

function _htmlTable(table: Table): string {
  const head = table.columns.map((c) => `<th>${escapeXml(c)}</th>`).join("");
  const body = table.rows.map((r) =>
    `<tr>${
      r.map((c) =>
        `<td${typeof c === "number" ? ' class="num"' : ""}>${escapeXml(formatCell(c))}</td>`
      ).join("")
    }</tr>`
  ).join("");
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

function _configTable(config: Record<string, unknown>): Table {
  return {
    title: "Configuration",
    columns: ["setting", "value"],
    rows: Object.entries(config).map((
      [k, v],
    ) => [k, typeof v === "string" ? v : JSON.stringify(v)]),
  };
}

const CSS =
  `body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}h1{font-size:1.6em}h2{margin-top:1.8em;
border-bottom:1px solid #ddd;padding-bottom:.2em}table{border-collapse:collapse;margin:.6em 0 1.2em}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}td.num{text-align:right;
font-variant-numeric:tabular-nums}th{background:#f3f3f3}.plots{display:flex;flex-wrap:wrap;gap:12px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:10px}
.card{border:1px solid #ddd;border-radius:6px;padding:6px;margin:0;font-size:12px}
.card img{image-rendering:pixelated;display:block}.pred ol{margin:2px 0 4px;padding-left:18px}
.hit{color:#087f23;font-weight:700}.note{color:#555}`;

/** One section collected for both outputs. */
interface Section {
  heading: string;
  md: string[];
  html: string[];
}

/**
 * Writes `report.md`, `report.html` and the plot `.svg` files into `dir` (not `metrics.json`:
 * `run.finish` writes that, so the two never overwrite each other). Returns the paths written.
 *
 * @example
 * ```ts
 * const { html } = await writeReport(run.dir, { title: "DeViSE", config: run.config, results });
 * ```
 */
export async function writeReport(
  dir: string,
  data: ReportData,
): Promise<{ markdown: string; html: string; svgs: string[] }> {
  await Deno.mkdir(dir, { recursive: true });
  const sections: Section[] = [];
  const svgs: string[] = [];
  const addTable = (s: Section, t: Table) => {
    if (t.title && t.title !== s.heading) {
      s.md.push(`**${t.title}**`);
      s.html.push(`<h3>${escapeXml(t.title)}</h3>`);
    }
    s.md.push(markdownTable(t));
    s.html.push(_htmlTable(t));
  };
  const addSvg = async (s: Section, name: string, svg: string) => {
    const file = `${name}.svg`;
    await writeFileAtomic(join(dir, file), svg);
    svgs.push(file);
    s.md.push(`![${name}](${file})`);
    // Inline SVG in HTML5 needs no namespace; dropping it keeps the page free of any URL.
    s.html.push(svg.replace(' xmlns="http://www.w3.org/2000/svg"', ""));
  };

  const config: Section = { heading: "Configuration", md: [], html: [] };
  addTable(config, _configTable(data.config));
  sections.push(config);

  if (data.results?.length) {
    const s: Section = { heading: "Results", md: [], html: [] };
    addTable(s, resultsTable(data.results, "Results"));
    s.md.push(
      "hit@k: true label in the top k. superclass-consistent errors: share of top-1 mistakes whose " +
        "prediction is in the true CIFAR-100 superclass. hP@k: mean fraction of the top k in the true superclass.",
    );
    s.html.push(`<p class="note">${escapeXml(s.md.at(-1)!)}</p>`);
    sections.push(s);
  }
  if (data.ablation) {
    const s: Section = { heading: "Ablation", md: [], html: [] };
    addTable(s, data.ablation);
    sections.push(s);
  }
  if (data.curves?.length) {
    const s: Section = { heading: "Training curves", md: [], html: ['<div class="plots">'] };
    for (const [i, c] of data.curves.entries()) await addSvg(s, `curve-${i + 1}`, lineChartSvg(c));
    s.html.push("</div>");
    sections.push(s);
  }
  if (data.imageGrid?.length) {
    sections.push({
      heading: "Test images and top predictions",
      md: [imageGridMarkdown(data.imageGrid)],
      html: [imageGridHtml(data.imageGrid)],
    });
  }
  const zs = data.zeroShot;
  if (zs) {
    const s: Section = { heading: "Zero-shot", md: [], html: [] };
    if (zs.tenWay) {
      const methods = Object.keys(zs.tenWay.accuracy);
      addTable(s, {
        title: "10-way zero-shot accuracy per class",
        columns: ["class", ...methods],
        rows: [
          ...zs.tenWay.classes.map((
            c,
            i,
          ) => [c, ...methods.map((m) => zs.tenWay!.accuracy[m][i] ?? null)]),
          ...(zs.tenWay.overall
            ? [["overall", ...methods.map((m) => zs.tenWay!.overall![m] ?? null)]]
            : []),
        ],
      });
      await addSvg(
        s,
        "zeroshot-per-class",
        barChartSvg({
          title: "10-way zero-shot accuracy per class",
          labels: zs.tenWay.classes,
          series: methods.map((m) => ({ name: m, values: zs.tenWay!.accuracy[m] })),
        }),
      );
      if (zs.tenWay.confusion) {
        await addSvg(
          s,
          "zeroshot-confusion",
          heatmapSvg({
            title: zs.tenWay.confusion.title,
            rowLabels: zs.tenWay.classes,
            colLabels: zs.tenWay.classes,
            values: zs.tenWay.confusion.values,
          }),
        );
      }
    }
    if (zs.fullVocab?.length) addTable(s, resultsTable(zs.fullVocab, "Full-vocabulary hit@k"));
    if (zs.topWords?.length) {
      const t: Table = {
        title: "Nearest words for test images",
        columns: ["#", "true", "top-10 words"],
        rows: zs.topWords.map((w, i) => [String(i + 1), w.trueLabel, w.words.join(", ")]),
      };
      s.md.push(`**${t.title}**`, markdownTable(t));
      s.html.push(
        `<h3>${
          escapeXml(t.title!)
        }</h3><table><thead><tr><th>image</th><th>true</th><th>top-10 words</th></tr>` +
          `</thead><tbody>${
            zs.topWords.map((w) =>
              `<tr><td><img src="${
                pngDataUri(w.image)
              }" width="64" height="64" style="image-rendering:pixelated" ` +
              `alt="${escapeXml(w.trueLabel)}"></td><td>${escapeXml(w.trueLabel)}</td><td>${
                escapeXml(w.words.join(", "))
              }</td></tr>`
            ).join("")
          }</tbody></table>`,
      );
    }
    for (const n of zs.notes ?? []) {
      s.md.push(n);
      s.html.push(`<p class="note">${escapeXml(n)}</p>`);
    }
    sections.push(s);
  }
  for (const t of data.tables ?? []) {
    const s: Section = { heading: t.title ?? "Table", md: [], html: [] };
    addTable(s, t);
    sections.push(s);
  }
  if (data.notes?.length) {
    sections.push({
      heading: "Notes",
      md: data.notes.map((n) => `- ${n}`),
      html: [`<ul>${data.notes.map((n) => `<li>${escapeXml(n)}</li>`).join("")}</ul>`],
    });
  }

  const md = [
    `# ${data.title}`,
    "",
    ...sections.flatMap((s) => [`## ${s.heading}`, "", ...s.md.flatMap((p) => [p, ""])]),
  ]
    .join("\n");
  const html =
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${
      escapeXml(data.title)
    }</title>` +
    `<style>${CSS}</style></head><body><h1>${escapeXml(data.title)}</h1>` +
    sections.map((s) => `<h2>${escapeXml(s.heading)}</h2>${s.html.join("\n")}`).join("\n") +
    "</body></html>\n";
  const paths = {
    markdown: join(dir, "report.md"),
    html: join(dir, "report.html"),
  };
  await writeFileAtomic(paths.markdown, md);
  await writeFileAtomic(paths.html, html);
  return { ...paths, svgs };
}

/**
 * The report data as plain JSON without pixels (images replaced by `<N bytes>`, non-finite
 * numbers by null), e.g. to include in the metrics a task passes to `run.finish`.
 *
 * @example
 * ```ts
 * await run.finish({ ...summary, report: reportNumbers(data) }, flags.json);
 * ```
 */
export function reportNumbers(data: ReportData): Record<string, unknown> {
  return JSON.parse(JSON.stringify(data, (_key, value) => {
    if (value instanceof Uint8Array) return `<${value.length} bytes>`;
    if (typeof value === "number" && !Number.isFinite(value)) return null;
    return value;
  }));
}
