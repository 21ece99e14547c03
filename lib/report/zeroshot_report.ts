/**
 * The `zeroshot` run's report, results first: the 10-way (N-way) table per class and method, its
 * bar chart and confusion matrix, the full-vocabulary hit@k tables and the top-10 words of sample
 * images for every method, the seen/unseen table and curve, the ceilings of the visual model, the
 * HNSW index figures, what each method and column means, and the configuration last.
 *
 * @example
 * ```ts
 * await writeZeroShotReport(run.dir, { config: run.config, targetName: "CIFAR-10 test",
 *   layer: "act", classes, tenWay, ceilings, conseT: 10, deviseTemperature: 0.1, cslsK: 10, cslsWeight: 1 });
 * ```
 * @module
 */
import type { Table } from "./report.ts";
import { type ReportBlock, type ReportSection, resultsTable, writeReport } from "./report.ts";
import { barChartSvg, heatmapSvg, type LineChartOptions, lineChartSvg } from "./svg.ts";
import type { ClassificationReport } from "../zeroshot/eval.ts";
import { SELF_TRAINING_ROUNDS } from "../zeroshot/self_training.ts";
import {
  bestLabelRulePerMap,
  deviseMapName,
  type LabelWeight,
} from "../zeroshot/label_expansion.ts";

/** The numbers a zero-shot report shows. */
export interface ZeroShotReportData {
  config: Record<string, unknown>;
  /** e.g. `CIFAR-10 test`, or an image folder. */
  targetName: string;
  layer: string;
  classes: string[];
  tenWay: Record<string, ClassificationReport>;
  ceilings: { mapping: ClassificationReport; readout: ClassificationReport };
  fullVocab?: { model: string; hit: Record<string, number> }[];
  index?: {
    title: string;
    sweep: { ef: number; recallAt10: number; queriesPerSecond: number }[];
    ef: number;
  };
  /** Sample images with each method's top-10 words. */
  topWords?: { image: Uint8Array; trueLabel: string; words: Record<string, string[]> }[];
  unseen?: { table: Table; chart: LineChartOptions };
  conseT: number;
  /** τ of the "ConSE (DeViSE scores)" rows (0 = none). */
  deviseTemperature: number;
  cslsK: number;
  cslsWeight: number;
  /** Test-time augmentation of the target images (`flip`: averaged with the mirror image). */
  tta?: string;
  /** Each visual-prototypes variant's ridge λ and, when chosen, each candidate's accuracy. */
  prototypes?: Record<
    string,
    { lambda: number; byLambda?: { lambda: number; meanAccuracy: number }[] }
  >;
  /**
   * Label expansion's map and k and, when chosen on held-out CIFAR-100 classes, each candidate's
   * accuracy and the row with each seed's map alone.
   */
  labelExpansion?: {
    epochs: number;
    maps: number;
    k: number;
    labelWeight: LabelWeight;
    byK?: {
      epochs: number;
      maps: number;
      k: number;
      labelWeight: LabelWeight;
      meanAccuracy: number;
    }[];
    folds?: string[][];
    seedMeanAccuracy?: number[];
  };
}

/** What a full-vocabulary hit means (said under the hit@k tables). */
export const HIT_RULE = "A full-vocabulary hit counts when one of the top-k words is the true " +
  "label, its `_` phrase form, or its simple plural/singular (lib/text/labels.ts " +
  'labelEquivalents). "Unseen only" removes the 100 CIFAR-100 labels and their equivalents ' +
  "from the candidates.";

/** What the two ceilings are (said under their table). */
export const CEILINGS_NOTE = "The label-mapping ceiling sends each image's top-1 CIFAR-100 class " +
  "to the target class most images of that CIFAR-100 class belong to (it reads the target " +
  "labels): no semantic map of top-1 predictions can beat it. The softmax readout is a " +
  "class-balanced logistic regression on the 100 log-probabilities fit on the target labels " +
  "(2-fold cross-fit): a bound for maps that read the whole softmax, such as ConSE.";

/** How γ is chosen for calibrated stacking (said under the seen/unseen table). */
export const CALIBRATION_NOTE = '"H, γ from validation" raises the unseen labels\' scores by γ ' +
  "(calibrated stacking), with γ the best-H point on held-out training images of a second, " +
  "pseudo-unseen split of the seen classes; it never reads test labels. AUSUC and best H read " +
  "them.";

/** What the visual prototypes rows are, and how each variant's λ was chosen. */
function prototypesNote(
  fits: NonNullable<ZeroShotReportData["prototypes"]>,
  layer: string,
): string {
  const lambdas = Object.entries(fits).map(([name, fit]) =>
    ` "${name}": kernel ridge regression (λ ${fit.lambda})` +
    (fit.byLambda
      ? ", chosen on CIFAR-100 classes held out of the fit (mean per-class accuracy among each " +
        "fold's classes: " +
        fit.byLambda.map((r) => `λ ${r.lambda} ${(100 * r.meanAccuracy).toFixed(1)}%`).join(", ") +
        ")"
      : "") +
    "."
  );
  return ' "visual prototypes" maps the other way (Shigeto et al. 2015): a ridge map from the ' +
    `CIFAR-100 label vectors to each class's mean \`${layer}\` feature of its training images ` +
    "predicts a prototype for every target label; an image takes the label whose prototype has " +
    'the highest cosine with its feature, both centred on the mean prototype ("whitened": ' +
    "after whitening by the CIFAR-100 classes' shared within-class covariance, shrunk by 0.1)." +
    lambdas.join("");
}

/** What the "DeViSE + label neighbours" row is, and how its map and k were chosen. */
function labelExpansionNote(fit: NonNullable<ZeroShotReportData["labelExpansion"]>): string {
  const pct = (a: number) => `${(100 * a).toFixed(1)}%`;
  return ' "DeViSE + label neighbours" scores DeViSE\'s embeddings against expanded labels: ' +
    `each candidate label's unit vector plus those of its ${fit.k} nearest vocabulary words` +
    (fit.labelWeight === "equal" || fit.k === 0
      ? ", "
      : ` (the label weighing ${fit.labelWeight}, their mean ${1 - fit.labelWeight}), `) +
    "normalised (lib/zeroshot/label_expansion.ts; only the label names and the vocabulary are " +
    "read)" +
    (fit.byK && fit.folds
      ? `, through the DeViSE map of ${deviseMapName(fit)}` +
        (fit.maps > 1 ? " (the mean of that many consecutive seeds' maps)" : "") +
        ". The map and k " +
        `were chosen together on ${fit.folds.length} folds of ${fit.folds[0].length} CIFAR-100 ` +
        "classes, DeViSE retrained without each fold and its test images scored among its " +
        "classes (mean per-class accuracy, the best k of each map: " +
        bestLabelRulePerMap(fit.byK, fit.byK.map((r) => r.meanAccuracy)) + ")" +
        (fit.seedMeanAccuracy
          ? `; each seed's map alone at ${fit.epochs} epochs: ` +
            fit.seedMeanAccuracy.map(pct).join(", ")
          : "")
      : "") +
    ".";
}

/**
 * Writes `report.md` / `report.html` of a zero-shot run.
 *
 * @example
 * ```ts
 * const { html } = await writeZeroShotReport(run.dir, data);
 * ```
 */
export async function writeZeroShotReport(
  dir: string,
  data: ZeroShotReportData,
): Promise<{ markdown: string; html: string }> {
  const methods = Object.keys(data.tenWay);
  const C = data.classes.length;
  const perClass = (r: ClassificationReport) => [...r.perClassAccuracy, r.meanAccuracy];
  const results: ReportBlock[] = [
    {
      kind: "table",
      table: {
        title: `${C}-way accuracy per class (${data.targetName}; no model saw these classes)`,
        columns: ["method", ...data.classes, "mean"],
        rows: methods.map((m) => [m, ...perClass(data.tenWay[m])]),
      },
    },
    {
      kind: "text",
      text: `Chance is ${(100 / C).toFixed(1)}%. ` +
        (data.tta === "flip"
          ? "Every image's features and softmax are averaged with its mirror image's " +
            "(--tta flip). "
          : "") +
        "DeViSE embeds the image with the map M of the " +
        `\`${data.layer}\` features; ConSE mixes the top ${data.conseT} CIFAR-100 label vectors ` +
        "weighted by softmax probability" +
        (data.deviseTemperature > 0
          ? `; "ConSE (DeViSE scores)" mixes them weighted by the softmax of DeViSE's own ` +
            `label scores over τ ${data.deviseTemperature} (no classifier: DeViSE ranks the ` +
            "labels well, but its embedding lies far from them)"
          : "") +
        ". " +
        (data.tenWay["DeViSE + label centroid"]
          ? '"DeViSE + label centroid" gives each embedding the CIFAR-100 labels\' shared ' +
            "component, which the rank loss cannot teach M (it sees only differences of label " +
            "vectors; withLabelCentroid). Where most words lack that component (GloVe; the " +
            "log prints both mean cosines) it is what lets DeViSE find concrete nouns among " +
            "every word; where every word has it (our skip-gram vectors) it does not help. "
          : "") +
        `"+ CSLS" subtracts ${data.cslsWeight} × the mean ` +
        `cosine of each candidate label to its ${data.cslsK} nearest training labels (a hubness ` +
        "correction from label vectors alone)." +
        (data.tenWay["DeViSE + CSLS (images)"]
          ? ' "DeViSE + CSLS (images)" ranks by `2·cos − ' + `${data.cslsWeight}` +
            " × r`, r a label's mean cosine to its nearest DeViSE embeddings of CIFAR-100 " +
            "training images (seen classes only)."
          : "") +
        (data.tenWay["DeViSE + ConSE"]
          ? ' "DeViSE + ConSE" (and "DeViSE act + gap", with or without ConSE, when the run ' +
            "has both maps) sums its " +
            "members' label cosines, each standardised over the labels per image " +
            "(ensembleArgmax: no weight to tune)."
          : "") +
        (data.prototypes ? prototypesNote(data.prototypes, data.layer) : "") +
        (data.labelExpansion ? labelExpansionNote(data.labelExpansion) : "") +
        (Object.keys(data.tenWay).some((m) => m.endsWith(", balanced"))
          ? ' ", balanced" rows are transductive: all test images are assigned at once so that ' +
            "every class receives an equal share (the test set's known class sizes), at the " +
            "highest total cosine; they are not inductive zero-shot results."
          : "") +
        (Object.keys(data.tenWay).some((m) => m.endsWith(", self-trained"))
          ? ' ", self-trained" rows are transductive: the method\'s predictions seed k-means ' +
            "over all test images' features (class means by cosine, at most " +
            `${SELF_TRAINING_ROUNDS} rounds; selfTrainedArgmax); no label is read, but they ` +
            "are not inductive zero-shot results."
          : ""),
    },
    {
      kind: "svgs",
      charts: [
        {
          name: "zeroshot-per-class",
          svg: barChartSvg({
            title: `${C}-way zero-shot accuracy per class`,
            labels: data.classes,
            series: methods.map((m) => ({ name: m, values: data.tenWay[m].perClassAccuracy })),
          }),
        },
        {
          name: "zeroshot-confusion",
          svg: heatmapSvg({
            title: "DeViSE confusion (rows: true)",
            rowLabels: data.classes,
            colLabels: data.classes,
            values: data.tenWay.DeViSE.confusion,
          }),
        },
      ],
    },
  ];
  const sections: ReportSection[] = [{ heading: "Zero-shot results", blocks: results }];
  if (data.fullVocab?.length) {
    const blocks: ReportBlock[] = [
      { kind: "table", table: resultsTable(data.fullVocab, "Full-vocabulary hit@k") },
      { kind: "text", text: HIT_RULE },
    ];
    if (data.topWords?.length) {
      const shownMethods = Object.keys(data.topWords[0].words);
      blocks.push({
        kind: "imageTable",
        title: "Top-10 words of sample images, by method",
        columns: ["true", ...shownMethods],
        rows: data.topWords.map((w) => ({
          image: w.image,
          cells: [w.trueLabel, ...shownMethods.map((m) => w.words[m].join(", "))],
        })),
      });
    }
    sections.push({ heading: "Full vocabulary", blocks });
  }
  if (data.unseen) {
    sections.push({
      heading: "Seen/unseen split of CIFAR-100",
      blocks: [
        { kind: "table", table: data.unseen.table },
        { kind: "text", text: CALIBRATION_NOTE },
        { kind: "svg", name: "seen-unseen-curve", svg: lineChartSvg(data.unseen.chart) },
      ],
    });
  }
  sections.push({
    heading: "Ceilings of the visual model",
    blocks: [
      {
        kind: "table",
        table: {
          title: "Ceilings of the visual model (read the target labels: bounds, not results)",
          columns: ["", ...data.classes, "mean"],
          rows: [
            ["best CIFAR-100 → target map", ...perClass(data.ceilings.mapping)],
            ["linear readout of the softmax", ...perClass(data.ceilings.readout)],
          ],
        },
      },
      { kind: "text", text: CEILINGS_NOTE },
    ],
  });
  if (data.index) {
    const ix = data.index;
    sections.push({
      heading: "HNSW index",
      blocks: [{
        kind: "table",
        table: {
          title: ix.title,
          columns: ["ef", "recall@10 (image queries vs exact)", "queries/s", "used"],
          rows: ix.sweep.map((r) => [
            String(r.ef),
            r.recallAt10.toFixed(4),
            r.queriesPerSecond.toFixed(0),
            r.ef === ix.ef ? "yes" : "",
          ]),
        },
      }],
    });
  }
  return await writeReport(dir, {
    title: `Zero-shot: ${data.targetName} through CIFAR-100 eyes (${data.layer} features)`,
    config: data.config,
    sections,
  });
}
