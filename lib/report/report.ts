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
import type { ResultRow } from "../devise/metrics.ts";
import { writeFileAtomic } from "../io/artifact.ts";
import { escapeXml } from "./svg.ts";
import { type GridItem, imageGridHtml, imageGridMarkdown, pngDataUri } from "./image_grid.ts";

/** A plain table; numbers are formatted with {@link formatCell}. */
export interface Table {
  title?: string;
  columns: string[];
  rows: (string | number | null)[][];
}

export type { ResultRow } from "../devise/metrics.ts";

/** One piece of a report section, rendered into both `report.md` and `report.html`. */
export type ReportBlock =
  | { kind: "table"; table: Table }
  | { kind: "text"; text: string }
  | { kind: "list"; items: string[] }
  /** A chart; `name` becomes `<name>.svg` beside the report. */
  | { kind: "svg"; name: string; svg: string }
  /** Several charts side by side. */
  | { kind: "svgs"; charts: { name: string; svg: string }[] }
  /** Images with their true label and each model's top predictions. */
  | { kind: "grid"; items: GridItem[] }
  /** A table whose first column is an image. */
  | {
    kind: "imageTable";
    title?: string;
    columns: string[];
    rows: { image: Uint8Array; cells: string[] }[];
  };

/** A headed part of a report. */
export interface ReportSection {
  heading: string;
  blocks: ReportBlock[];
}

/** Everything a report shows: results-first sections, then the configuration. */
export interface ReportData {
  title: string;
  /** The run's `config.json`: shown last, flattened to `key = value` rows. */
  config: Record<string, unknown>;
  sections: ReportSection[];
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

/**
 * A table as aligned plain text for the terminal (numbers right-aligned).
 *
 * @example
 * ```ts
 * console.error(textTable(resultsTable(rows)));
 * ```
 */
export function textTable(table: Table): string {
  const cells = table.rows.map((r) => r.map((c) => formatCell(c)));
  const widths = table.columns.map((c, j) =>
    Math.max(c.length, ...cells.map((r) => (r[j] ?? "").length))
  );
  const numeric = table.columns.map((_, j) => table.rows.some((r) => typeof r[j] === "number"));
  const line = (r: string[]) =>
    r.map((c, j) => numeric[j] ? c.padStart(widths[j]) : c.padEnd(widths[j])).join("  ")
      .trimEnd();
  return [line(table.columns), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)]
    .join("\n");
}

/**
 * The results table as the terminal shows it at the end of a `train` run.
 *
 * @example
 * ```ts
 * run.log(consoleResultsTable(metrics.results));
 * ```
 */
export function consoleResultsTable(rows: ResultRow[]): string {
  return textTable(resultsTable(rows));
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

/**
 * Settings as a readable two-column table: nested settings flattened to `visual.epochs = 10`,
 * lists joined by commas.
 *
 * @example
 * ```ts
 * configTable({ settings: { visual: { epochs: 10 } } }).rows; // [["settings.visual.epochs", "10"]]
 * ```
 */
export function configTable(config: Record<string, unknown>): Table {
  const rows: [string, string][] = [];
  const walk = (value: unknown, key: string) => {
    if (value && typeof value === "object" && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) walk(v, key ? `${key}.${k}` : k);
    } else if (Array.isArray(value) && value.some((v) => v && typeof v === "object")) {
      value.forEach((v, i) => walk(v, `${key}[${i}]`));
    } else {
      rows.push([key, Array.isArray(value) ? value.join(",") : String(value)]);
    }
  };
  walk(config, "");
  return { title: "Configuration", columns: ["setting", "value"], rows };
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

/**
 * Writes `report.md`, `report.html` and the chart `.svg` files into `dir` (not `metrics.json`:
 * `run.finish` writes that, so the two never overwrite each other). The page opens with the
 * title, the commit and the command, then the sections in order, then the configuration.
 * Returns the paths written.
 *
 * @example
 * ```ts
 * const { html } = await writeReport(run.dir, {
 *   title: "DeViSE", config: run.config,
 *   sections: [{ heading: "Results", blocks: [{ kind: "table", table: resultsTable(rows) }] }],
 * });
 * ```
 */
export async function writeReport(
  dir: string,
  data: ReportData,
): Promise<{ markdown: string; html: string; svgs: string[] }> {
  await Deno.mkdir(dir, { recursive: true });
  const svgs: string[] = [];
  const md: string[] = [`# ${data.title}`, ""];
  const html: string[] = [`<h1>${escapeXml(data.title)}</h1>`];
  const provenance = _provenance(data.config);
  if (provenance) {
    md.push(provenance, "");
    html.push(`<p class="note">${escapeXml(provenance)}</p>`);
  }
  const writeSvg = async (name: string, svg: string) => {
    const file = `${name}.svg`;
    await writeFileAtomic(join(dir, file), svg);
    svgs.push(file);
    md.push(`![${name}](${file})`, "");
    // Inline SVG in HTML5 needs no namespace; dropping it keeps the page free of any URL.
    return svg.replace(' xmlns="http://www.w3.org/2000/svg"', "");
  };
  const sections = [
    ...data.sections,
    {
      heading: "Configuration",
      blocks: [{ kind: "table", table: configTable(data.config) }],
    } satisfies ReportSection,
  ];
  for (const section of sections) {
    md.push(`## ${section.heading}`, "");
    html.push(`<h2>${escapeXml(section.heading)}</h2>`);
    for (const block of section.blocks) {
      if (block.kind === "table") {
        const t = block.table;
        if (t.title && t.title !== section.heading) {
          md.push(`**${t.title}**`, "");
          html.push(`<h3>${escapeXml(t.title)}</h3>`);
        }
        md.push(markdownTable(t), "");
        html.push(_htmlTable(t));
      } else if (block.kind === "text") {
        md.push(block.text, "");
        html.push(`<p class="note">${escapeXml(block.text)}</p>`);
      } else if (block.kind === "list") {
        md.push(...block.items.map((n) => `- ${n}`), "");
        html.push(`<ul>${block.items.map((n) => `<li>${escapeXml(n)}</li>`).join("")}</ul>`);
      } else if (block.kind === "svg") {
        html.push(await writeSvg(block.name, block.svg));
      } else if (block.kind === "svgs") {
        const inline = [];
        for (const c of block.charts) inline.push(await writeSvg(c.name, c.svg));
        html.push(`<div class="plots">${inline.join("\n")}</div>`);
      } else if (block.kind === "grid") {
        md.push(imageGridMarkdown(block.items), "");
        html.push(imageGridHtml(block.items));
      } else {
        if (block.title) {
          md.push(`**${block.title}**`, "");
          html.push(`<h3>${escapeXml(block.title)}</h3>`);
        }
        md.push(
          markdownTable({
            columns: ["#", ...block.columns],
            rows: block.rows.map((r, i) => [String(i + 1), ...r.cells]),
          }),
          "",
        );
        const head = ["image", ...block.columns].map((c) => `<th>${escapeXml(c)}</th>`).join("");
        const body = block.rows.map((r) =>
          `<tr><td><img src="${pngDataUri(r.image)}" width="64" height="64" ` +
          `style="image-rendering:pixelated" alt=""></td>` +
          r.cells.map((c) => `<td>${escapeXml(c)}</td>`).join("") + "</tr>"
        ).join("");
        html.push(`<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`);
      }
    }
  }
  const page = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${
    escapeXml(data.title)
  }</title><style>${CSS}</style></head><body>${html.join("\n")}</body></html>\n`;
  const paths = { markdown: join(dir, "report.md"), html: join(dir, "report.html") };
  await writeFileAtomic(paths.markdown, md.join("\n"));
  await writeFileAtomic(paths.html, page);
  return { ...paths, svgs };
}

/** `commit 116b4db (dirty) · deno task train --preset quick · 2026-12-01T08:00:00Z`. */
function _provenance(config: Record<string, unknown>): string {
  const git = config.git as { commit?: string; dirty?: boolean } | null | undefined;
  const parts = [
    git?.commit
      ? `commit ${git.commit.slice(0, 10)}${git.dirty ? " (uncommitted changes)" : ""}`
      : "",
    typeof config.command === "string" ? `\`${config.command}\`` : "",
    typeof config.startedAt === "string" ? `started ${config.startedAt}` : "",
  ].filter((p) => p !== "");
  return parts.join(" · ");
}
