/**
 * `deno task zeroshot`, top to bottom: CIFAR-10 test images through a DeViSE model trained on
 * CIFAR-100 only. 10-way accuracy per class for DeViSE and ConSE (Norouzi et al. 2014) on the same
 * visual model; with `--vocab full`, the nearest words of the whole vocabulary through an HNSW
 * index (hit@k, plus an "unseen only" variant without the 100 training labels); with `--unseen K`,
 * a seen/unseen split inside CIFAR-100 (generalised zero-shot).
 *
 * ```sh
 * deno task zeroshot --vocab full --data-dir ../shared/data
 * deno task zeroshot --unseen 20 --data-dir ../shared/data --json
 * ```
 * @module
 */
import type { Run } from "../cli/run.ts";
import { Progress } from "../cli/progress.ts";
import type { TF } from "../backend/select.ts";
import { loadCifar } from "../data/cifar.ts";
import {
  DEVISE_MODEL_FORMAT,
  DEVISE_MODEL_VERSION,
  embed,
  loadDeviseModel,
} from "../devise/train.ts";
import { readSidecar, sha256File } from "../io/artifact.ts";
import { featurePath, readFeatures } from "../vision/extract.ts";
import { labelVectors } from "../text/labels.ts";
import { readVectors } from "../text/word2vec_io.ts";
import { normalizeRows } from "../text/vectors.ts";
import { type ResultRow, type Table, writeReport } from "../report/report.ts";
import type { LineChartOptions } from "../report/svg.ts";
import { exactTopK, recallAtK } from "../zeroshot/exact.ts";
import {
  type HnswIndex,
  indexPathFor,
  openOrBuildIndex,
  searchIndex,
  vectorsSource,
} from "../zeroshot/index.ts";
import { classificationReport, conseEmbed, cslsPenalty, nearestLabel } from "../zeroshot/eval.ts";
import { labelMappingCeiling, softmaxReadoutCeiling } from "../zeroshot/ceiling.ts";
import { hitAtK, seenWordSet, topWords } from "../zeroshot/vocab.ts";
import { Rng } from "../io/rng.ts";
import { seenUnseenSplit } from "./zeroshot_unseen.ts";

/** Settings of one zero-shot run. */
export interface ZeroShotConfig {
  dataDir: string;
  /** A `deno task train` run folder (its metrics.json names features, vectors, models). */
  from: string;
  layer: string;
  vocab: "10" | "full";
  /** Words returned per image (hit@k up to this). */
  k: number;
  m: number;
  efConstruction: number;
  /** HNSW search list; 0 = the smallest of 50, 100, …, 3200 that reaches `targetRecall`. */
  ef: number;
  /** recall@10 (image queries vs exact search) that `ef: 0` aims for. */
  targetRecall: number;
  /** ConSE: how many of the top CIFAR-100 labels are mixed. */
  conseT: number;
  /** CSLS hubness penalty: nearest source labels averaged (0 = no "+ CSLS" rows). */
  cslsK: number;
  /** CSLS penalty weight (0.5 = Conneau et al.'s `2·cos − r`). */
  cslsWeight: number;
  /** Hold out this many CIFAR-100 classes (0 = skip the seen/unseen experiment). */
  unseen: number;
  unseenNames: string[];
  /** Test images whose top-10 words are shown in the report. */
  showImages: number;
  seed: number;
}

const _KS = [1, 2, 5, 10, 20];
const _AUTO_EFS = [50, 100, 200, 400, 800, 1600, 3200];

/** Runs the zero-shot evaluation and writes the report into `run.dir`. */
export async function runZeroShot(
  tf: TF,
  cfg: ZeroShotConfig,
  run: Run,
): Promise<Record<string, unknown>> {
  // 1. What `train` produced: features, vectors and the DeViSE model of the chosen layer.
  const trained = JSON.parse(await Deno.readTextFile(`${cfg.from}/metrics.json`));
  const modelPath = trained.deviseModels?.[cfg.layer];
  if (!modelPath) {
    throw new Error(
      `${cfg.from}/metrics.json has no DeViSE model for layer '${cfg.layer}' ` +
        `(has: ${Object.keys(trained.deviseModels ?? {}).join(", ") || "none"})`,
    );
  }
  const model = await loadDeviseModel(modelPath);
  // Label vectors from other word vectors would put the model's outputs in a foreign space.
  const sidecar = await readSidecar(modelPath, DEVISE_MODEL_FORMAT, DEVISE_MODEL_VERSION);
  const trainedOn = (sidecar.sources as { vectors?: { words?: string } })?.vectors?.words;
  const vectorsSha = await sha256File(trained.vectors.path);
  if (trainedOn && trainedOn !== vectorsSha) {
    throw new Error(
      `${modelPath} was trained on word vectors with sha256 ${trainedOn.slice(0, 12)}…, but ` +
        `${trained.vectors.path} now has ${vectorsSha.slice(0, 12)}…: re-run \`deno task train\``,
    );
  }
  const words = await readVectors(trained.vectors.path);
  const c10 = await loadCifar(cfg.dataDir, "cifar10", "test");
  const c100 = await loadCifar(cfg.dataDir, "cifar100", "test");
  const target = labelVectors(words, c10.labelNames);
  const source = labelVectors(words, c100.labelNames);
  const missing = [...target.missing, ...source.missing];
  if (missing.length) throw new Error(`${trained.vectors.path}: no vector for ${missing}`);
  const D = words.dim;
  run.log(
    `model ${modelPath} (${cfg.layer}, ${model.d}-D → ${D}-D); vectors ${words.words.length}`,
  );

  // 2. 10-way CIFAR-10: DeViSE embeds the image; ConSE mixes the softmax's top-T label vectors.
  const dir = trained.featureDir as string;
  const feats = await readFeatures(featurePath(dir, "cifar10", "test", cfg.layer));
  const probs = await readFeatures(featurePath(dir, "cifar10", "test", "probs"));
  const embedded = {
    DeViSE: embed(tf, model, feats.data),
    ConSE: conseEmbed(probs.data, 100, source.data, D, cfg.conseT),
  };
  const penalty = cfg.cslsK > 0
    ? cslsPenalty(target.data, source.data, D, cfg.cslsK, cfg.cslsWeight)
    : undefined;
  const tenWay: Record<string, ReturnType<typeof classificationReport>> = {};
  for (const [name, e] of Object.entries(embedded)) {
    tenWay[name] = classificationReport(c10.labels, nearestLabel(e, D, target.data), 10);
    if (penalty) {
      tenWay[`${name} + CSLS`] = classificationReport(
        c10.labels,
        nearestLabel(e, D, target.data, undefined, penalty),
        10,
      );
    }
  }
  for (const [name, r] of Object.entries(tenWay)) {
    run.log(
      `10-way ${name}: mean per-class accuracy ${(100 * r.meanAccuracy).toFixed(2)}% (` +
        r.perClassAccuracy.map((a, c) => `${c10.labelNames[c]} ${(100 * a).toFixed(1)}`)
          .join(", ") +
        ")",
    );
  }
  // How far any CIFAR-100 → CIFAR-10 mapping could go with this visual model (reads labels).
  const { mapping, report: ceiling } = labelMappingCeiling(probs.data, 100, c10.labels, 10);
  // Which CIFAR-100 classes the ceiling's map sends to each CIFAR-10 class: visual, not semantic.
  const mappedFrom = c10.labelNames.map((_, t) =>
    c100.labelNames.filter((_, s) => mapping[s] === t)
  );
  const readout = softmaxReadoutCeiling(probs.data, 100, c10.labels, 10, { seed: cfg.seed });
  run.log(
    `ceilings (use CIFAR-10 labels; not results): label mapping ` +
      `${(100 * ceiling.meanAccuracy).toFixed(2)}%, softmax readout ` +
      `${(100 * readout.meanAccuracy).toFixed(2)}% mean per-class`,
  );
  run.log(
    `label-mapping ceiling's map: ` +
      c10.labelNames.map((n, t) => `${n} ← ${mappedFrom[t].join(" ") || "-"}`).join("; "),
  );
  const perClass = (r: { perClassAccuracy: number[] }) =>
    Object.fromEntries(r.perClassAccuracy.map((a, c) => [c10.labelNames[c], a]));
  const metrics: Record<string, unknown> = {
    layer: cfg.layer,
    model: modelPath,
    tenWay: Object.fromEntries(
      Object.entries(tenWay).map(([n, r]) => [n, {
        meanAccuracy: r.meanAccuracy,
        perClass: perClass(r),
      }]),
    ),
    labelMappingCeiling: {
      meanAccuracy: ceiling.meanAccuracy,
      perClass: perClass(ceiling),
      mappedFrom: Object.fromEntries(c10.labelNames.map((n, t) => [n, mappedFrom[t]])),
    },
    softmaxReadoutCeiling: { meanAccuracy: readout.meanAccuracy, perClass: perClass(readout) },
  };

  // 3. Full vocabulary through HNSW: every word is a candidate label.
  const tables: Table[] = [{
    title: "Ceilings of the visual model (read CIFAR-10 labels: bounds, not results)",
    columns: ["", ...c10.labelNames, "mean"],
    rows: [
      ["best CIFAR-100 → CIFAR-10 map", ...ceiling.perClassAccuracy, ceiling.meanAccuracy],
      ["linear readout of the softmax", ...readout.perClassAccuracy, readout.meanAccuracy],
    ],
  }];
  let fullVocab: ResultRow[] | undefined;
  let topWordsShown: { image: Uint8Array; trueLabel: string; words: string[] }[] | undefined;
  if (cfg.vocab === "full") {
    const rows = { dim: D, data: words.data.slice() };
    normalizeRows(rows.data, D);
    const bar = new Progress("hnsw build", words.words.length, { unit: "vec" });
    const opened = await openOrBuildIndex(rows, {
      path: indexPathFor(trained.vectors.path, { m: cfg.m, efConstruction: cfg.efConstruction }),
      source: await vectorsSource(trained.vectors.path),
      m: cfg.m,
      efConstruction: cfg.efConstruction,
      onProgress: (done) => bar.tick(done - bar.count),
      log: run.log,
    });
    bar.done();
    const index = opened.index;
    const sweep = _efSweep(index, rows, embedded.DeViSE, D, cfg);
    const quality = sweep.at(-1)!;
    const ef = quality.ef;
    run.log(
      `index: ${words.words.length} vectors, M ${cfg.m}, efC ${cfg.efConstruction}, ${opened.bytes} ` +
        `bytes, ${opened.reused ? "reused" : `built in ${index.buildSeconds.toFixed(1)} s`}; ` +
        `recall@10 vs exact on ${quality.queries} image queries: ` +
        sweep.map((r) =>
          `ef ${r.ef} ${r.recallAt10.toFixed(3)} (${r.queriesPerSecond.toFixed(0)} q/s)`
        )
          .join(", ") +
        ` → ef ${ef}`,
    );
    const search = (q: Float32Array, k: number) => searchIndex(index, q, k, Math.max(ef, k));
    const trueNames = [...c10.labels].map((y) => c10.labelNames[y]);
    const seen = seenWordSet(c100.labelNames);
    fullVocab = [];
    const ranked: Record<string, string[][]> = {};
    for (const [name, e] of Object.entries(embedded)) {
      const all: string[][] = [], unseenOnly: string[][] = [];
      const q = new Float32Array(D);
      for (let i = 0; i < c10.count; i++) {
        q.set(e.subarray(i * D, (i + 1) * D));
        all.push(topWords(search, words.words, q, cfg.k));
        unseenOnly.push(
          topWords(search, words.words, q, cfg.k, { words: seen, trueLabel: trueNames[i] }),
        );
      }
      ranked[name] = all;
      fullVocab.push({ model: `${name}, all words`, hit: hitAtK(all, trueNames, _KS) });
      fullVocab.push({ model: `${name}, unseen only`, hit: hitAtK(unseenOnly, trueNames, _KS) });
    }
    metrics.fullVocab = Object.fromEntries(fullVocab.map((r) => [r.model, r.hit]));
    metrics.index = { ...quality, bytes: opened.bytes, reused: opened.reused };
    metrics.indexSweep = sweep;
    tables.push({
      title: `HNSW index: ${words.words.length} vectors, M ${cfg.m}, efConstruction ` +
        `${cfg.efConstruction}, ${opened.bytes} bytes, ` +
        (opened.reused ? "reused" : `built in ${index.buildSeconds.toFixed(1)} s`),
      columns: ["ef", "recall@10 (image queries vs exact)", "queries/s", "used"],
      rows: sweep.map((r) => [
        String(r.ef),
        r.recallAt10.toFixed(4),
        r.queriesPerSecond.toFixed(0),
        r.ef === ef ? "yes" : "",
      ]),
    });
    const pick = new Rng(cfg.seed).permutation(c10.count).subarray(0, cfg.showImages);
    topWordsShown = [...pick].map((i) => ({
      image: c10.images.subarray(i * 3072, (i + 1) * 3072),
      trueLabel: c10.labelNames[c10.labels[i]],
      words: ranked.DeViSE[i].slice(0, 10),
    }));
  }

  const charts: LineChartOptions[] = [];
  // 4. Seen/unseen inside CIFAR-100: retrain M without K classes, test on all 100.
  if (cfg.unseen > 0 || cfg.unseenNames.length) {
    const gzsl = await seenUnseenSplit(tf, cfg, run, {
      featureDir: dir,
      deviseConfig: model.config,
      labelData: source.data,
      D,
      test: c100,
      visualCheckpoint: trained.visual?.checkpoint,
    });
    metrics.unseen = gzsl.metrics;
    tables.push(gzsl.table);
    charts.push(gzsl.chart);
  }

  // 5. Report.
  const report = await writeReport(run.dir, {
    title: `Zero-shot: CIFAR-10 through CIFAR-100 eyes (${cfg.layer} features)`,
    config: { ...run.config, from: cfg.from, model: modelPath, vectors: trained.vectors.path },
    zeroShot: {
      tenWay: {
        classes: c10.labelNames,
        accuracy: Object.fromEntries(
          Object.entries(tenWay).map(([n, r]) => [n, r.perClassAccuracy]),
        ),
        overall: Object.fromEntries(Object.entries(tenWay).map(([n, r]) => [n, r.meanAccuracy])),
        confusion: {
          title: "DeViSE 10-way confusion (rows: true)",
          values: tenWay.DeViSE.confusion,
        },
      },
      fullVocab,
      topWords: topWordsShown,
      notes: [
        "A full-vocabulary hit counts when one of the top-k words is the true label, its `_` " +
        "phrase form, or its simple plural/singular (lib/text/labels.ts labelEquivalents).",
        '"Unseen only" removes the 100 CIFAR-100 labels and their equivalents from the candidates.',
        `ConSE mixes the top ${cfg.conseT} CIFAR-100 label vectors weighted by softmax probability.`,
        `"+ CSLS" subtracts ${cfg.cslsWeight} × the mean cosine of each candidate label to its ` +
        `${cfg.cslsK} nearest training labels (a hubness correction from label vectors alone).`,
        "The label-mapping ceiling sends each image's top-1 CIFAR-100 class to the CIFAR-10 class " +
        "most images of that CIFAR-100 class belong to (it reads the CIFAR-10 test labels): no " +
        "semantic map of top-1 predictions can beat it. The softmax readout is a class-balanced " +
        "logistic regression on the 100 log-probabilities fit on CIFAR-10 labels (2-fold " +
        "cross-fit): a bound for maps that read the whole softmax, such as ConSE.",
        ...(metrics.unseen
          ? [
            '"H, γ from validation" raises the unseen labels\' scores by γ (calibrated stacking), ' +
            "with γ the best-H point on held-out training images of a second, pseudo-unseen " +
            "split of the seen classes; it never reads test labels. AUSUC and best H read them.",
          ]
          : []),
      ],
    },
    tables,
    curves: charts,
  });
  metrics.report = report.html;
  return metrics;
}

/**
 * recall@10 against exact search and single-threaded queries/s of sampled image queries, at
 * `cfg.ef`, or (`cfg.ef` 0) at growing ef until recall@10 reaches `cfg.targetRecall`: image
 * embeddings lie off the word vectors' manifold, where HNSW needs a larger ef than word queries.
 */
function _efSweep(
  index: HnswIndex,
  rows: { dim: number; data: Float32Array },
  queries: Float32Array,
  D: number,
  cfg: ZeroShotConfig,
) {
  // Exact search is the cost: about 3e8 multiply-adds of budget, 100..1000 queries.
  const vocab = rows.data.length / D;
  const n = Math.min(queries.length / D, Math.max(100, Math.min(1000, Math.floor(3e8 / vocab))));
  const pick = new Rng(cfg.seed + 1).permutation(queries.length / D).subarray(0, n);
  const query = (i: number) => queries.subarray(i * D, (i + 1) * D);
  const truth = [...pick].map((i) => exactTopK(rows, query(i), 10));
  const out: { ef: number; queries: number; recallAt10: number; queriesPerSecond: number }[] = [];
  for (const ef of cfg.ef > 0 ? [cfg.ef] : _AUTO_EFS) {
    const found: number[][] = [];
    const t0 = performance.now();
    for (const i of pick) found.push(searchIndex(index, query(i), 10, ef).ids);
    const seconds = (performance.now() - t0) / 1000;
    const recallAt10 = recallAtK(truth, found, 10);
    out.push({ ef, queries: n, recallAt10, queriesPerSecond: n / seconds });
    if (recallAt10 >= cfg.targetRecall) break;
  }
  return out;
}
