/**
 * The `devise` run's report: the results table (the visual model's softmax next to DeViSE on
 * the same features), the training curves, and the configuration last.
 *
 * @example
 * ```ts
 * await writeDeviseReport(run.dir, { config: run.config, results, curve: result.curves });
 * ```
 * @module
 */
import type { ResultRow } from "../devise/metrics.ts";
import type { EpochStats } from "../devise/train.ts";
import { type ReportSection, resultsTable, writeReport } from "./report.ts";
import { lineChartSvg } from "./svg.ts";
import { RESULTS_LEGEND } from "./train_report.ts";

/** The numbers a devise report shows. */
export interface DeviseReportData {
  config: Record<string, unknown>;
  results: ResultRow[];
  curve: EpochStats[];
  /** The probabilities file that was looked for when there is no softmax row. */
  softmaxMissing?: string;
}

/**
 * Writes `report.md` / `report.html` of a devise run.
 *
 * @example
 * ```ts
 * const { html } = await writeDeviseReport(run.dir, data);
 * ```
 */
export async function writeDeviseReport(
  dir: string,
  data: DeviseReportData,
): Promise<{ markdown: string; html: string }> {
  const series = (key: "Loss" | "Hit1") =>
    (["train", "test"] as const).map((split) => ({
      name: split,
      points: data.curve.map((c) => [c.epoch, c[`${split}${key}`]] as [number, number]),
    }));
  const sections: ReportSection[] = [
    {
      heading: "Results (CIFAR-100 test)",
      blocks: [
        { kind: "table", table: resultsTable(data.results, "") },
        {
          kind: "text",
          text:
            (data.softmaxMissing
              ? `No softmax baseline: ${data.softmaxMissing} not found. `
              : "The softmax row scores the same visual model's own classifier. ") + RESULTS_LEGEND,
        },
      ],
    },
    {
      heading: "Training curves",
      blocks: [{
        kind: "svgs",
        charts: [
          {
            name: "devise-loss",
            svg: lineChartSvg({
              title: "loss",
              xLabel: "epoch",
              yLabel: "loss",
              integerX: true,
              series: series("Loss"),
            }),
          },
          {
            name: "devise-hit1",
            svg: lineChartSvg({
              title: "hit@1",
              xLabel: "epoch",
              yLabel: "hit@1",
              integerX: true,
              series: series("Hit1"),
            }),
          },
        ],
      }],
    },
  ];
  return await writeReport(dir, { title: "DeViSE", config: data.config, sections });
}
