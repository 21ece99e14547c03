/**
 * The `train` run's report, in the order a paper prints it: the results table (softmax baseline
 * and DeViSE per layer, same visual model) with what its columns mean, then the training curves,
 * a grid of test images with both models' top-5, notes, and the configuration last.
 *
 * @example
 * ```ts
 * await writeTrainReport(run.dir, { preset: "quick", config: run.config, results, deviseCurves,
 *   imageGrid, visualCheckpoint, visualTop1: 0.58, vectors, labelRules: [] });
 * ```
 * @module
 */
import type { EpochStats } from "../devise/train.ts";
import type { ResultRow } from "../devise/metrics.ts";
import type { LabelMapping } from "../text/labels.ts";
import type { GridItem } from "./image_grid.ts";
import { type ReportSection, resultsTable, writeReport } from "./report.ts";
import { lineChartSvg } from "./svg.ts";

/** The numbers a train report shows. */
export interface TrainReportData {
  preset: string;
  /** The run's config (shown last, flattened). */
  config: Record<string, unknown>;
  results: ResultRow[];
  /** DeViSE training curves of the layers trained in this run (reused models have none). */
  deviseCurves: { layer: string; curve: EpochStats[] }[];
  /** The fine-tuning curve, when the run fine-tuned (empty when it reused a finished one). */
  finetuneCurve?: { epoch: number; trainLoss: number; testHit1: number }[];
  imageGrid: GridItem[];
  visualCheckpoint: string;
  visualTop1: number;
  vectors: { path: string; words: number; dim: number };
  /** Labels that did not find their vector as an exact word. */
  labelRules: LabelMapping[];
}

/** What the results columns mean (said under the table). */
export const RESULTS_LEGEND =
  "hit@k: the true label is among the k highest-scoring labels. Superclass-consistent errors: of " +
  "the top-1 mistakes, the share whose prediction lies in the true CIFAR-100 superclass. hP@k: " +
  "the mean fraction of the top k in the true superclass.";

/**
 * Writes `report.md` / `report.html` of a train run.
 *
 * @example
 * ```ts
 * const { html } = await writeTrainReport(run.dir, data);
 * ```
 */
export async function writeTrainReport(
  dir: string,
  data: TrainReportData,
): Promise<{ markdown: string; html: string }> {
  const sections: ReportSection[] = [{
    heading: "Results (CIFAR-100 test)",
    blocks: [
      { kind: "table", table: resultsTable(data.results, "") },
      {
        kind: "text",
        text: `Softmax and DeViSE share the visual model ${data.visualCheckpoint} (test top-1 ${
          (100 * data.visualTop1).toFixed(1)
        }%). ${RESULTS_LEGEND}`,
      },
    ],
  }];
  if (data.deviseCurves.length) {
    const charts = data.deviseCurves.flatMap(({ layer, curve }) => [
      {
        name: `devise-${layer}-loss`,
        svg: lineChartSvg({
          title: `DeViSE (${layer}) hinge rank loss`,
          xLabel: "epoch",
          yLabel: "loss",
          integerX: true,
          series: [
            { name: "train", points: curve.map((c) => [c.epoch, c.trainLoss]) },
            { name: "test", points: curve.map((c) => [c.epoch, c.testLoss]) },
          ],
        }),
      },
      {
        name: `devise-${layer}-hit1`,
        svg: lineChartSvg({
          title: `DeViSE (${layer}) hit@1`,
          xLabel: "epoch",
          yLabel: "hit@1",
          integerX: true,
          series: [
            { name: "train", points: curve.map((c) => [c.epoch, c.trainHit1]) },
            { name: "test", points: curve.map((c) => [c.epoch, c.testHit1]) },
          ],
        }),
      },
    ]);
    sections.push({ heading: "Training curves", blocks: [{ kind: "svgs", charts }] });
  }
  if (data.finetuneCurve?.length) {
    const c = data.finetuneCurve;
    sections.push({
      heading: "Fine-tuning",
      blocks: [
        {
          kind: "text",
          text:
            "The visual model and M trained together under the hinge rank loss (Frome et al., " +
            '§3.3): the row "DeViSE, fine-tuned" above. The other DeViSE rows keep the ' +
            "pretrained visual model.",
        },
        {
          kind: "svgs",
          // Two charts: the loss and hit@1 live on scales a shared axis would flatten.
          charts: [
            {
              name: "finetune-loss",
              svg: lineChartSvg({
                title: "Fine-tuning: train hinge rank loss",
                xLabel: "epoch",
                yLabel: "loss",
                integerX: true,
                series: [{ name: "train", points: c.map((e) => [e.epoch, e.trainLoss]) }],
              }),
            },
            {
              name: "finetune-hit1",
              svg: lineChartSvg({
                title: "Fine-tuning: test hit@1",
                xLabel: "epoch",
                yLabel: "hit@1",
                integerX: true,
                series: [{ name: "test", points: c.map((e) => [e.epoch, e.testHit1]) }],
              }),
            },
          ],
        },
      ],
    });
  }
  sections.push({
    heading: "Test images and top predictions",
    blocks: [{ kind: "grid", items: data.imageGrid }],
  });
  const rules = data.labelRules.map((r) => `${r.label} → ${r.tokens.join(" + ")} (${r.rule})`);
  sections.push({
    heading: "Notes",
    blocks: [{
      kind: "list",
      items: [
        `Label vectors: ${data.vectors.path} (${data.vectors.words} words × ${data.vectors.dim}).`,
        ...(rules.length ? [`Labels not found as one word: ${rules.join("; ")}.`] : []),
      ],
    }],
  });
  return await writeReport(dir, {
    title: `DeViSE on CIFAR-100 — preset ${data.preset}`,
    config: data.config,
    sections,
  });
}
