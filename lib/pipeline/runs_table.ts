/**
 * `deno task runs`: every run folder under `data/runs/` as one row — when, task, preset, visual
 * model, vectors, the key metrics (softmax and DeViSE hit@1, 10-way zero-shot mean,
 * full-vocabulary hit@20), wall time, commit, status (ok, failed, interrupted, running, or
 * unfinished when its process is gone) — on stderr as a table, as JSON, and as a sortable
 * `data/runs/index.html` whose rows link to each run's report. Failed runs are listed, never
 * hidden.
 *
 * ```sh
 * deno task runs
 * deno task runs --task zeroshot --sort tenWayDeViSE
 * ```
 * @module
 */
import { join, relative } from "node:path";
import { runsDir } from "../cli/run.ts";
import { writeFileAtomic } from "../io/artifact.ts";
import { readJsonOrNull, statOrNull } from "../io/fs.ts";
import { escapeXml, lineChartSvg, PALETTE } from "../report/svg.ts";
import { formatCell, textTable } from "../report/report.ts";

/** One run, as the table shows it. */
export interface RunRow {
  dir: string;
  name: string;
  task: string;
  startedAt: string;
  status: "ok" | "failed" | "interrupted" | "running" | "unfinished";
  preset?: string;
  visual?: string;
  vectors?: string;
  softmaxHit1?: number;
  deviseHit1?: number;
  finetunedHit1?: number;
  tenWayDeViSE?: number;
  tenWayConSE?: number;
  fullVocabHit20?: number;
  wallSeconds?: number;
  commit?: string;
  error?: string;
  report?: string;
  /** The visual model's `curves.json` (pretrain runs, and train runs through their checkpoint). */
  curves?: string;
}

/** The metrics `--sort` accepts (descending; `startedAt` newest first). */
export const SORT_KEYS = [
  "startedAt",
  "softmaxHit1",
  "deviseHit1",
  "finetunedHit1",
  "tenWayDeViSE",
  "tenWayConSE",
  "fullVocabHit20",
  "wallSeconds",
] as const;

/** One of {@link SORT_KEYS}. */
export type SortKey = typeof SORT_KEYS[number];

function _processAlive(pid: unknown): boolean {
  if (typeof pid !== "number") return false;
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads every run folder under `dir` into rows (a folder without a readable `config.json` is
 * still listed, as unfinished). A folder that is not a run but holds runs (`bench/tables.ts`
 * writes one per table) is read one level down, its runs named `<folder>/<run>`.
 *
 * @example
 * ```ts
 * const rows = await listRuns("data/runs");
 * rows.filter((r) => r.status === "failed");
 * ```
 */
export async function listRuns(dir = runsDir(), nested = true): Promise<RunRow[]> {
  const rows: RunRow[] = [];
  const entries = await Array.fromAsync(Deno.readDir(dir)).catch(() => []);
  for (const e of entries) {
    if (!e.isDirectory) continue;
    const runDir = join(dir, e.name);
    // deno-lint-ignore no-explicit-any
    const config: any = await readJsonOrNull(join(runDir, "config.json")).catch(() => null);
    // deno-lint-ignore no-explicit-any
    const m: any = await readJsonOrNull(join(runDir, "metrics.json")).catch(() => null);
    if (!config && !m && nested) {
      const inner = await listRuns(runDir, false);
      if (inner.some((r) => r.startedAt)) {
        rows.push(...inner.map((r) => ({ ...r, name: `${e.name}/${r.name}` })));
        continue;
      }
    }
    const task = String(config?.task ?? m?.task ?? e.name.replace(/-\d{4}-.*$/, ""));
    const status: RunRow["status"] = m?.status ??
      (m ? "ok" : _processAlive(config?.pid) ? "running" : "unfinished");
    const hit1 = (model: RegExp) =>
      (m?.results as { model: string; hit: Record<string, number> }[] | undefined)
        ?.filter((r) => model.test(r.model)).map((r) => r.hit["1"]);
    const best = (xs?: number[]) => xs?.length ? Math.max(...xs) : undefined;
    const report = await statOrNull(join(runDir, "report.html"))
      ? join(runDir, "report.html")
      : undefined;
    const curves = await _curvesPath(runDir, m);
    rows.push({
      dir: runDir,
      name: e.name,
      task,
      startedAt: String(config?.startedAt ?? ""),
      status,
      preset: m?.preset ?? config?.preset,
      visual: _visual(config, m),
      vectors: m?.vectors?.path ?? config?.settings?.vectors,
      softmaxHit1: best(hit1(/^softmax/)) ??
        (task === "pretrain" ? m?.top1 ?? undefined : undefined),
      deviseHit1: best(hit1(/^DeViSE \(/)),
      finetunedHit1: best(hit1(/fine-tuned/)),
      tenWayDeViSE: m?.tenWay?.DeViSE?.meanAccuracy,
      tenWayConSE: m?.tenWay?.ConSE?.meanAccuracy,
      fullVocabHit20: m?.fullVocab?.["DeViSE, unseen only"]?.["20"],
      wallSeconds: m?.wallSeconds,
      commit: config?.git?.commit
        ? `${config.git.commit.slice(0, 8)}${config.git.dirty ? "+" : ""}`
        : undefined,
      error: m?.error,
      report,
      curves,
    });
  }
  return rows;
}

/** The visual model's curves: a pretrain run's own, or those beside a train run's checkpoint. */
// deno-lint-ignore no-explicit-any
async function _curvesPath(runDir: string, m: any): Promise<string | undefined> {
  const checkpoint = m?.visual?.checkpoint;
  const candidates = [join(runDir, "curves.json")];
  // <visual dir>/checkpoints/epoch-NNNN
  if (typeof checkpoint === "string") candidates.push(join(checkpoint, "..", "..", "curves.json"));
  for (const path of candidates) if (await statOrNull(path)) return path;
  return undefined;
}

/** The visual model a run used: a train run's checkpoint, else the model it trained. */
// deno-lint-ignore no-explicit-any
function _visual(config: any, m: any): string | undefined {
  if (typeof m?.visual?.checkpoint === "string") return m.visual.checkpoint;
  const model = config?.train?.model ?? config?.settings?.visual;
  return model?.arch ? `${model.arch}-${model.depth}` : undefined;
}

/**
 * Rows filtered to one task and sorted by `key` (descending; missing values last).
 *
 * @example
 * ```ts
 * selectRuns(rows, { task: "train", sort: "deviseHit1" });
 * ```
 */
export function selectRuns(rows: RunRow[], options: { task?: string; sort: SortKey }): RunRow[] {
  const kept = options.task ? rows.filter((r) => r.task === options.task) : rows;
  const value = (r: RunRow) => r[options.sort];
  return kept.toSorted((a, b) => {
    const x = value(a), y = value(b);
    if (x === undefined) return y === undefined ? 0 : 1;
    if (y === undefined) return -1;
    return x < y ? 1 : x > y ? -1 : 0;
  });
}

const _COLUMNS: [string, (r: RunRow) => string | number | null][] = [
  ["run", (r) => r.name],
  ["task", (r) => r.task],
  ["status", (r) => r.status],
  ["preset", (r) => r.preset ?? null],
  ["softmax hit@1", (r) => r.softmaxHit1 ?? null],
  ["DeViSE hit@1", (r) => r.deviseHit1 ?? null],
  ["fine-tuned hit@1", (r) => r.finetunedHit1 ?? null],
  ["10-way DeViSE", (r) => r.tenWayDeViSE ?? null],
  ["10-way ConSE", (r) => r.tenWayConSE ?? null],
  ["vocab hit@20", (r) => r.fullVocabHit20 ?? null],
  ["wall", (r) => r.wallSeconds === undefined ? null : `${(r.wallSeconds / 60).toFixed(1)} min`],
  ["commit", (r) => r.commit ?? null],
  ["vectors", (r) => r.vectors ?? null],
];

/**
 * The rows as an aligned text table (stderr).
 *
 * @example
 * ```ts
 * console.error(runsText(rows));
 * ```
 */
export function runsText(rows: RunRow[]): string {
  return textTable({
    columns: _COLUMNS.map(([c]) => c),
    rows: rows.map((r) => _COLUMNS.map(([, f]) => f(r))),
  });
}

/**
 * A self-contained, sortable HTML page of the rows (click a header to sort), each run linking to
 * its report; failed runs show their error.
 *
 * @example
 * ```ts
 * await writeRunsIndex("data/runs/index.html", rows);
 * ```
 */
export async function writeRunsIndex(path: string, rows: RunRow[]): Promise<void> {
  const base = join(path, "..");
  const overlay = await _curvesOverlay(rows);
  const head = _COLUMNS.map(([c], i) => `<th data-col="${i}">${escapeXml(c)}</th>`).join("");
  const body = rows.map((r) =>
    `<tr class="${r.status}">` + _COLUMNS.map(([c, f], i) => {
      const v = f(r);
      const text = escapeXml(formatCell(v));
      const sortValue = typeof v === "number" ? ` data-v="${v}"` : "";
      if (i === 0 && r.report) {
        return `<td><a href="${escapeXml(relative(base, r.report))}">${text}</a></td>`;
      }
      if (c === "status" && r.error) return `<td title="${escapeXml(r.error)}">${text}</td>`;
      return `<td${sortValue}${typeof v === "number" ? ' class="num"' : ""}>${text}</td>`;
    }).join("") + "</tr>"
  ).join("\n");
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Runs</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#f3f3f3;cursor:pointer}
td.num{text-align:right;font-variant-numeric:tabular-nums}tr.failed td,tr.interrupted td{color:#b00}
tr.running td,tr.unfinished td{color:#777}</style></head><body><h1>Runs (${rows.length})</h1>
<p>Click a column to sort. A failed run's status cell shows its error on hover.</p>
<table id="runs"><thead><tr>${head}</tr></thead><tbody>
${body}
</tbody></table>
${overlay}
<script>
for (const th of document.querySelectorAll("th")) th.onclick = () => {
  const col = +th.dataset.col, tbody = document.querySelector("tbody");
  const rows = [...tbody.rows], key = (r) => r.cells[col].dataset.v ?? r.cells[col].textContent;
  const desc = th.dataset.desc !== "1"; th.dataset.desc = desc ? "1" : "0";
  rows.sort((a, b) => { const x = key(a), y = key(b), nx = +x, ny = +y;
    const c = isNaN(nx) || isNaN(ny) ? String(x).localeCompare(String(y)) : nx - ny;
    return desc ? -c : c; });
  for (const r of rows) tbody.appendChild(r);
};
</script></body></html>
`;
  await writeFileAtomic(path, html);
}

/** The listed runs' visual-model curves overlaid (one series per run, the newest 8). */
async function _curvesOverlay(rows: RunRow[]): Promise<string> {
  const seen = new Set<string>();
  const runs: { name: string; curve: Record<string, number>[] }[] = [];
  for (const r of rows) {
    // Train runs that reuse one visual model would draw the same curve several times.
    if (!r.curves || seen.has(r.curves) || runs.length === _PALETTE_SIZE) continue;
    seen.add(r.curves);
    const curve = await readJsonOrNull(r.curves).catch(() => null);
    if (Array.isArray(curve) && curve.length) runs.push({ name: r.name, curve });
  }
  if (!runs.length) return "";
  const chart = (key: string, title: string, yLabel: string) =>
    lineChartSvg({
      title,
      xLabel: "epoch",
      yLabel,
      integerX: true,
      width: 640,
      series: runs.map(({ name, curve }) => ({
        name,
        points: curve.map((e) => [e.epoch, e[key]] as [number, number]),
      })),
    });
  return `<h2>Visual model curves (${runs.length} run${runs.length === 1 ? "" : "s"} overlaid)</h2>
<div>${chart("testTop1", "CIFAR-100 test top-1", "accuracy")}
${chart("trainLoss", "training loss", "cross-entropy")}</div>`;
}

const _PALETTE_SIZE = PALETTE.length;

/** What `deno task runs` is asked to do. */
export interface RunsRequest {
  task?: string;
  sort: SortKey;
  /** The runs folder (default `data/runs`). */
  dir: string;
  json: boolean;
  quiet: boolean;
}

/**
 * The whole of `deno task runs`: the table on stderr, `--json` rows on stdout, and
 * `<dir>/index.html`.
 *
 * @example
 * ```ts
 * await runsTable({ sort: "startedAt", dir: "data/runs", json: false, quiet: false });
 * ```
 */
export async function runsTable(request: RunsRequest): Promise<RunRow[]> {
  const rows = selectRuns(await listRuns(request.dir), { task: request.task, sort: request.sort });
  const index = join(request.dir, "index.html");
  await writeRunsIndex(index, rows);
  if (!request.quiet) console.error(`${runsText(rows)}\n\n${rows.length} runs; ${index}`);
  if (request.json) console.log(JSON.stringify(rows));
  return rows;
}
