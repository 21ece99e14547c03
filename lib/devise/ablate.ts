/**
 * DeViSE ablations in the shape of the reference report's tables: one factor varied at a time
 * around the base setting (feature layer — Table 1; word vectors source/dimension — Table 3;
 * loss — Table 4; input dropout). The caller supplies `runOne`, which trains and evaluates one
 * setting, so the grid logic stays independent of data loading.
 *
 * @example
 * ```ts
 * const result = await runAblation({
 *   factors: ["loss", "dropout"],
 *   base: { layer: "gap", vectors: "w2v-300", loss: "hinge", dropout: 0 },
 *   values: { loss: ["hinge", "hinge-euclid", "cosine"], dropout: [0, 0.25, 0.5] },
 *   runOne: async (s) => ({ hit: { "1": 0.4 }, seconds: 3 }),
 * });
 * await writeAblation("data/runs/x", result);
 * ```
 * @module
 */
import { join } from "node:path";
import { writeFileAtomic, writeJsonAtomic } from "../io/artifact.ts";
import { markdownTable, type Table } from "../report/report.ts";
import type { LossKind } from "./loss.ts";

/** Factors that can be ablated. */
export const ABLATION_FACTORS = ["layer", "vectors", "loss", "dropout"] as const;

/** One of {@link ABLATION_FACTORS}. */
export type AblationFactor = typeof ABLATION_FACTORS[number];

/** One point of the grid. `vectors` names a word-vector set (source and dimension). */
export interface AblationSetting {
  layer: string;
  vectors: string;
  loss: LossKind;
  dropout: number;
}

/** What `runOne` reports for a setting. */
export interface AblationMetrics {
  hit: Record<string, number>;
  superclassErrorRate?: number;
  hierarchicalPrecision?: Record<string, number>;
  seconds: number;
}

/** One row of the result. */
export interface AblationRow {
  factor: AblationFactor;
  setting: AblationSetting;
  metrics: AblationMetrics;
}

/** Inputs of {@link runAblation}. */
export interface AblationInput {
  factors: AblationFactor[];
  base: AblationSetting;
  values: { layer?: string[]; vectors?: string[]; loss?: LossKind[]; dropout?: number[] };
  runOne: (setting: AblationSetting) => Promise<AblationMetrics>;
  log?: (line: string) => void;
}

/**
 * Runs every factor's values with the other factors at `base`. The base setting is trained once
 * and reused by every factor whose value list contains it.
 *
 * @example
 * ```ts
 * const { rows, table } = await runAblation({ factors: ["loss"], base, values, runOne });
 * ```
 */
export async function runAblation(
  input: AblationInput,
): Promise<{ rows: AblationRow[]; table: Table }> {
  const cache = new Map<string, AblationMetrics>();
  const rows: AblationRow[] = [];
  for (const factor of input.factors) {
    if (!ABLATION_FACTORS.includes(factor)) {
      throw new Error(
        `unknown ablation factor '${factor}' (expected ${ABLATION_FACTORS.join(", ")})`,
      );
    }
    const values = (input.values[factor] ?? [input.base[factor]]) as (string | number)[];
    if (values.length === 0) throw new Error(`ablation factor '${factor}' has no values`);
    for (const value of values) {
      const setting = { ...input.base, [factor]: value } as AblationSetting;
      const key = JSON.stringify(setting);
      let metrics = cache.get(key);
      if (!metrics) {
        input.log?.(`ablation ${factor}=${value}: training`);
        metrics = await input.runOne(setting);
        cache.set(key, metrics);
      }
      rows.push({ factor, setting, metrics });
    }
  }
  return { rows, table: ablationTable(rows) };
}

/**
 * The combined ablation table: factor, its value, then hit@1/2/5/10, superclass-consistent
 * errors, hP@5 and train seconds. The row at the base setting is marked with "*".
 *
 * @example
 * ```ts
 * markdownTable(ablationTable(rows));
 * ```
 */
export function ablationTable(rows: AblationRow[], base?: AblationSetting): Table {
  return {
    title: "Ablation (one factor varied at a time)",
    columns: [
      "factor",
      "value",
      "hit@1",
      "hit@2",
      "hit@5",
      "hit@10",
      "superclass-consistent errors",
      "hP@5",
      "seconds",
    ],
    rows: rows.map((r) => {
      const isBase = base && JSON.stringify(r.setting) === JSON.stringify(base);
      return [
        r.factor,
        `${r.setting[r.factor]}${isBase ? " *" : ""}`,
        r.metrics.hit["1"] ?? null,
        r.metrics.hit["2"] ?? null,
        r.metrics.hit["5"] ?? null,
        r.metrics.hit["10"] ?? null,
        r.metrics.superclassErrorRate ?? null,
        r.metrics.hierarchicalPrecision?.["5"] ?? null,
        r.metrics.seconds.toFixed(1),
      ];
    }),
  };
}

/**
 * Writes `ablation.md` (the table, the base setting and `notes`, e.g. skipped layers) and
 * `ablation.json` (base, all rows and the notes).
 *
 * @example
 * ```ts
 * await writeAblation(run.dir, result, base, ["layer act skipped: features missing"]);
 * ```
 */
export async function writeAblation(
  dir: string,
  result: { rows: AblationRow[] },
  base: AblationSetting,
  notes: string[] = [],
): Promise<{ markdown: string; json: string }> {
  const table = ablationTable(result.rows, base);
  const md = [
    `# ${table.title}`,
    "",
    `Base setting (*): layer=${
      base.layer || "(default)"
    }, vectors=${base.vectors}, loss=${base.loss}, ` +
    `dropout=${base.dropout}. Metrics on the test split.`,
    "",
    markdownTable(table),
    "",
    ...notes.map((n) => `- ${n}`),
    ...(notes.length ? [""] : []),
  ].join("\n");
  const paths = { markdown: join(dir, "ablation.md"), json: join(dir, "ablation.json") };
  await writeFileAtomic(paths.markdown, md);
  await writeJsonAtomic(paths.json, { base, rows: result.rows, notes });
  return paths;
}
