/**
 * `deno task predict PATH...`, top to bottom: the user's own images (files, folders, or an
 * ImageFolder tree) labelled through a train run's model, from DeViSE, from ConSE and (for a label
 * list) from visual prototypes, with cosine scores.
 *
 * 1. the label set (`cifar100`, `cifar10`, `vocab` = every word through the HNSW index, a file
 *    with one label per line, or a comma list), checked against the vectors before any image is
 *    read: labels without a vector are named and skipped;
 * 2. the images, listed (unreadable entries named, the rest go on);
 * 3. each batch through the visual model, DeViSE's map M and ConSE, then the top-k labels; for a
 *    list, also the visual prototypes' (ridge-regressed from the labels' vectors, fit on the
 *    run's CIFAR-100 features: the best 10-way method on CIFAR-10); for `vocab`, DeViSE's
 *    embedding first gets the CIFAR-100 labels' shared component back (withLabelCentroid);
 * 4. a table on stderr, with `--json` one JSON object per image on stdout, and a report grid.
 *
 * ```sh
 * deno task predict photo.jpg --labels cat,lynx,fox,hot_air_balloon
 * deno task predict pets/ --labels vocab --k 10 --json
 * ```
 * @module
 */
import { startRunOnBackend } from "./task_run.ts";
import { basename } from "node:path";
import { type BackendName, type TF } from "../backend/select.ts";
import { type Run } from "../cli/run.ts";
import { type DeviseModel, embed, loadDeviseModel } from "../devise/train.ts";
import { loadCifarLabels } from "../devise/data.ts";
import { CifarDataError } from "../data/cifar.ts";
import { topK } from "../devise/metrics.ts";
import { InputError, UsageError } from "../io/errors.ts";
import { isFile } from "../io/fs.ts";
import type { ImageFit } from "../images/decode.ts";
import { expandImageInputs } from "../images/folder.ts";
import { writeReport } from "../report/report.ts";
import type { GridItem } from "../report/image_grid.ts";
import { CIFAR100_FINE_NAMES, CIFAR10_NAMES } from "../text/cifar_names.ts";
import { type LabelMapping, type LabelVectors, labelVectors } from "../text/labels.ts";
import { normalizeRows, type WordVectors } from "../text/vectors.ts";
import { readVectors, vectorsChecksum } from "../text/word2vec_io.ts";
import { classificationReport, conseEmbed, labelCosines } from "../zeroshot/eval.ts";
import { selfTrainedArgmax } from "../zeroshot/self_training.ts";
import { labelCentroid, meanCosineTo, withLabelCentroid } from "../zeroshot/centroid.ts";
import { predictPrototypes, prototypeScores } from "../zeroshot/prototypes.ts";
import { runPrototypeMap } from "./visual_prototypes.ts";
import { expandTargetLabels } from "./label_expansion.ts";
import { deviseMapName, labelExpansionName } from "../zeroshot/label_expansion.ts";
import {
  type HnswIndex,
  indexPathFor,
  openOrBuildIndex,
  searchIndex,
  VOCAB_INDEX_PARAMS,
} from "../zeroshot/index.ts";
import type { FeatureLayer } from "../vision/models.ts";
import { imageFeatures, openVisualModel } from "./image_features.ts";
import type { PresetName } from "./presets.ts";
import { latestTrainRun, readTrainRun, type TrainRun } from "./runs.ts";

/** What `deno task predict` is asked to do. */
export interface PredictRequest {
  paths: string[];
  /** A train run folder; empty = the latest (of `preset` when given). */
  from: string;
  preset?: PresetName;
  layer?: FeatureLayer;
  /** `cifar100`, `cifar10`, `vocab`, a file of labels, or a comma list. */
  labels: string;
  k: number;
  fit: ImageFit;
  /** ConSE: how many of the top CIFAR-100 labels are mixed. */
  conseT: number;
  /** Where the vocabulary index is kept (for `labels: "vocab"`). */
  indexDir: string;
  /** Where the images' features are cached (empty: not cached). */
  cacheDir: string;
  /** Score a label list with visual prototypes too (reads CIFAR-100's labels from `dataDir`). */
  prototypes: boolean;
  /** The folder with cifar-100-binary/ (the prototypes' fit). */
  dataDir: string;
  /**
   * With a label list: also label every image transductively, by k-means over all the images'
   * features seeded by DeViSE's (and the prototypes') predictions (`selfTrainedArgmax`).
   */
  selfTrain?: boolean;
  /**
   * With a label list: also DeViSE against the labels averaged with their k nearest words
   * ("DeViSE + label neighbours"; 0 = k chosen on held-out CIFAR-100 classes, read from
   * `dataDir`; absent or −1 = not scored).
   */
  labelNeighbours?: number;
  backend: BackendName;
  out: string;
  json: boolean;
  quiet: boolean;
}

/** One label and its cosine score. */
export interface ScoredLabel {
  label: string;
  score: number;
}

/** What `predict` says about one image (a line of `--json`). */
export interface ImagePrediction {
  path: string;
  /** The image's class when it came from an ImageFolder tree. */
  trueLabel?: string;
  devise: ScoredLabel[];
  conse: ScoredLabel[];
  /** Visual prototypes' top labels (a label list, with CIFAR-100 in the data folder). */
  prototypes?: ScoredLabel[];
  /** DeViSE's top labels among the expanded labels (a label list, with CIFAR-100). */
  labelNeighbours?: ScoredLabel[];
  /** With `selfTrain`: the label each method's self-trained k-means gives this image. */
  selfTrained?: { devise: string; prototypes?: string };
}

/** A label set resolved against the vectors. */
export interface LabelSet {
  /** `vocab`: every word, searched through the index; else a fixed list. */
  kind: "list" | "vocab";
  names: string[];
  /** C×D unit rows (empty for `vocab`). */
  vectors: Float32Array;
  rules: LabelMapping[];
  /** Labels that have no vector (reported and skipped). */
  skipped: string[];
}

/**
 * The labels `--labels` names: `cifar100` (the train run's classes), `cifar10`, `vocab`, a file (one label per line, `#`
 * comments), or a comma list; each looked up by the label rules (exact, phrase, case, mean of
 * parts). Throws when none has a vector.
 *
 * @example
 * ```ts
 * const set = await resolveLabelSet("cat,lynx,hot_air_balloon", words);
 * set.skipped; // labels without a vector
 * ```
 */
export async function resolveLabelSet(
  spec: string,
  words: WordVectors,
  trainClasses: readonly string[] = CIFAR100_FINE_NAMES,
): Promise<LabelSet> {
  if (spec === "vocab") {
    return {
      kind: "vocab",
      names: words.words,
      vectors: new Float32Array(),
      rules: [],
      skipped: [],
    };
  }
  let names: string[];
  if (spec === "cifar100") names = [...trainClasses];
  else if (spec === "cifar10") names = [...CIFAR10_NAMES];
  else if (await isFile(spec)) {
    names = (await Deno.readTextFile(spec)).split(/\r?\n/).map((l) => l.replace(/#.*/, "").trim())
      .filter((l) => l !== "");
    if (!names.length) throw new InputError(`--labels ${spec}: no labels in the file`);
  } else {
    names = spec.split(",").map((l) => l.trim()).filter((l) => l !== "");
    if (!names.length) throw new UsageError(`--labels: no labels in '${spec}'`);
  }
  names = [...new Set(names)];
  const found = labelVectors(words, names);
  const keep = names.map((_, i) => i).filter((i) => found.rules[i].rule !== "missing");
  if (!keep.length) {
    throw new InputError(`--labels: none of ${names.join(", ")} has a word vector`);
  }
  const D = words.dim;
  const vectors = new Float32Array(keep.length * D);
  keep.forEach((i, r) => vectors.set(found.data.subarray(i * D, (i + 1) * D), r * D));
  return {
    kind: "list",
    names: keep.map((i) => names[i]),
    vectors,
    rules: keep.map((i) => found.rules[i]),
    skipped: found.missing,
  };
}

/**
 * The whole of `deno task predict` (see the module doc). Images that cannot be read are named on
 * stderr and in `metrics.json`; when any failed, the task exits 3 after writing its outputs.
 *
 * @example
 * ```ts
 * await predict({ paths: ["cat.jpg"], from: "", labels: "cifar10", k: 5, fit: "crop", conseT: 10,
 *   indexDir: "data/index", cacheDir: "", prototypes: true, dataDir: "../shared/data",
 *   backend: "auto", out: "", json: true, quiet: false });
 * ```
 */
export async function predict(request: PredictRequest): Promise<ImagePrediction[]> {
  // 1. The run, its vectors and the label set: a bad label is named before any image is read.
  const trained = await readTrainRun(request.from || await latestTrainRun(request.preset));
  const layer = request.layer ?? trained.metrics.layers.at(-1)!;
  const words = await readVectors(trained.metrics.vectors.path);
  const labels = await resolveLabelSet(request.labels, words, trained.metrics.classes);
  // 2. The images.
  const inputs = await expandImageInputs(request.paths);
  if (!inputs.items.length) {
    throw new InputError(
      `no images found in ${request.paths.join(", ")}` +
        (inputs.problems.length ? `: ${inputs.problems.map((p) => p.message).join("; ")}` : ""),
    );
  }
  const { out: _o, json, quiet: _q, backend: _b, preset: _p, ...settings } = request;
  const { run, tf } = await startRunOnBackend("predict", request, {
    ...settings,
    from: trained.dir,
    layer,
  }, { allowSlow: true });
  if (labels.skipped.length) {
    run.log(`labels without a word vector (skipped): ${labels.skipped.join(", ")}`);
  }
  for (const r of labels.rules.filter((r) => r.rule !== "exact")) {
    run.log(`label ${r.label}: ${r.rule} (${r.tokens.join(" + ")})`);
  }
  // 3. Through the model.
  const visual = await openVisualModel(tf, trained);
  const set = await imageFeatures(tf, visual, inputs, {
    layer,
    fit: request.fit,
    cacheDir: request.cacheDir || undefined,
    run,
  });
  visual.model.dispose();
  for (const p of set.problems) run.log(`skipped ${p.message}`);
  const scorer = await _scorer(tf, trained, layer, words, labels, request, run);
  const predictions = set.items.map((item, i): ImagePrediction => {
    const row = scorer(
      set.features.subarray(i * scorer.d, (i + 1) * scorer.d),
      set.probs.subarray(i * 100, (i + 1) * 100),
    );
    return {
      path: item.path,
      ...(item.label !== undefined && set.classes ? { trueLabel: set.classes[item.label] } : {}),
      ...row,
    };
  });
  if (request.selfTrain && labels.kind === "list") {
    _selfTrain(predictions, set.features, scorer, labels.names);
    run.log(
      `self-trained: k-means over the ${predictions.length} images' features, seeded by ` +
        `DeViSE's${scorer.prototypes ? " and the prototypes'" : ""} labels (transductive)`,
    );
  }
  // 4. Outputs.
  for (const p of predictions) {
    if (json) console.log(JSON.stringify(p));
    const fmt = (xs: ScoredLabel[]) => xs.map((x) => `${x.label} ${x.score.toFixed(2)}`).join(", ");
    run.log(
      `${p.path}${p.trueLabel ? ` (${p.trueLabel})` : ""}\n  DeViSE:     ${fmt(p.devise)}\n` +
        `  ConSE:      ${fmt(p.conse)}` +
        (p.prototypes ? `\n  prototypes: ${fmt(p.prototypes)}` : "") +
        (p.labelNeighbours ? `\n  DeViSE + label neighbours: ${fmt(p.labelNeighbours)}` : "") +
        (p.selfTrained
          ? `\n  self-trained: DeViSE ${p.selfTrained.devise}` +
            (p.selfTrained.prototypes ? `, prototypes ${p.selfTrained.prototypes}` : "")
          : ""),
    );
  }
  const accuracy = labels.kind === "list" ? labelledAccuracy(predictions, labels.names) : undefined;
  if (accuracy) {
    run.log(
      `${accuracy.images} labelled images whose class is a label: mean per-class accuracy, ` +
        `top-1 / top-${request.k}: ` +
        Object.entries(accuracy.methods).map(([m, a]) =>
          `${m} ${(100 * a.top1).toFixed(2)}% / ` +
          (a.topK === undefined ? "–" : `${(100 * a.topK).toFixed(2)}%`)
        ).join(", "),
    );
  }
  const grid: GridItem[] = predictions.slice(0, 96).map((p, i) => ({
    image: set.images.subarray(i * 3072, (i + 1) * 3072),
    trueLabel: p.trueLabel ?? "",
    caption: p.trueLabel ? `${basename(p.path)} (${p.trueLabel})` : basename(p.path),
    predictions: {
      DeViSE: p.devise.map((x) => x.label),
      ConSE: p.conse.map((x) => x.label),
      ...(p.prototypes ? { prototypes: p.prototypes.map((x) => x.label) } : {}),
      ...(p.labelNeighbours
        ? { "DeViSE + label neighbours": p.labelNeighbours.map((x) => x.label) }
        : {}),
    },
    scores: {
      DeViSE: p.devise.map((x) => x.score),
      ConSE: p.conse.map((x) => x.score),
      ...(p.prototypes ? { prototypes: p.prototypes.map((x) => x.score) } : {}),
      ...(p.labelNeighbours
        ? { "DeViSE + label neighbours": p.labelNeighbours.map((x) => x.score) }
        : {}),
    },
  }));
  const report = await writeReport(run.dir, {
    title: `Predictions: ${predictions.length} images, ${
      labels.kind === "vocab"
        ? `the whole vocabulary (${words.words.length} words)`
        : `${labels.names.length} labels`
    }`,
    config: run.config,
    sections: [{
      heading: "Top labels per image",
      blocks: [
        { kind: "grid", items: grid },
        {
          kind: "text",
          text: `Scores are cosines between the image's embedding and each label's word vector. ` +
            `DeViSE embeds the image with the map M of the \`${layer}\` features; ConSE mixes ` +
            `the top ${request.conseT} CIFAR-100 label vectors weighted by softmax probability.` +
            (scorer.prototypes
              ? ` Visual prototypes score the cosine of the image's centred feature with each ` +
                `label's prototype, ridge-regressed from its word vector (λ ` +
                `${scorer.prototypes.lambda}, fit on the run's CIFAR-100 training features).`
              : "") +
            (scorer.expansion
              ? ` "DeViSE + label neighbours" scores the embedding of DeViSE's map of ` +
                `${deviseMapName(scorer.expansion.fit)} against each label's vector averaged ` +
                `with its ${scorer.expansion.fit.k} nearest words ` +
                `(${labelExpansionName(scorer.expansion.fit)}, w the label's share where not ` +
                `equal; map and k chosen on held-out CIFAR-100 classes unless k is given).`
              : "") +
            (predictions.length > grid.length ? ` The first ${grid.length} images are shown.` : ""),
        },
        ...(set.problems.length || labels.skipped.length
          ? [{
            kind: "list" as const,
            items: [
              ...labels.skipped.map((l) => `label ${l}: no word vector, skipped`),
              ...set.problems.map((p) => `skipped ${p.message}`),
            ],
          }]
          : []),
      ],
    }],
  });
  run.log(`report: ${report.html}`);
  await run.finish({
    images: predictions.length,
    failed: set.problems,
    labels: labels.kind === "vocab" ? "vocab" : labels.names,
    skippedLabels: labels.skipped,
    ...(accuracy ? { accuracy } : {}),
    predictions,
    report: report.html,
  }, false);
  if (set.problems.length) {
    throw new InputError(
      `${set.problems.length} of ${
        set.problems.length + predictions.length
      } inputs could not be read (listed above)`,
    );
  }
  return predictions;
}

/** {@link labelledAccuracy}'s answer. */
export interface LabelledAccuracy {
  /** Images whose true class is one of the labels (the others cannot be right). */
  images: number;
  /**
   * Mean per-class accuracy of each method's first label, and of its top k (none for the
   * self-trained labels: one label per image).
   */
  methods: Record<string, { top1: number; topK?: number }>;
}

/**
 * For images of an ImageFolder tree whose class names are among the labels: each method's mean
 * per-class accuracy (as `zeroshot` reports it), top-1 and top-k. Undefined when no image is.
 *
 * @example
 * ```ts
 * labelledAccuracy(predictions, ["cat", "dog"])?.methods.DeViSE.top1;
 * ```
 */
export function labelledAccuracy(
  predictions: ImagePrediction[],
  names: string[],
): LabelledAccuracy | undefined {
  const index = new Map(names.map((n, c) => [n, c]));
  const scored = predictions.filter((p) => p.trueLabel !== undefined && index.has(p.trueLabel));
  if (!scored.length) return undefined;
  const y = Int32Array.from(scored, (p) => index.get(p.trueLabel!)!);
  const methods: LabelledAccuracy["methods"] = {};
  const lists: [string, (p: ImagePrediction) => ScoredLabel[] | undefined][] = [
    ["DeViSE", (p) => p.devise],
    ["ConSE", (p) => p.conse],
    ["visual prototypes", (p) => p.prototypes],
    ["DeViSE + label neighbours", (p) => p.labelNeighbours],
  ];
  for (const [method, of] of lists) {
    if (!scored.every((p) => of(p)?.length)) continue;
    const first = Int32Array.from(scored, (p) => index.get(of(p)![0].label)!);
    // Top k as a pick: the true class when it is among the k, else the first label.
    const inTop = Int32Array.from(
      scored,
      (p, i) => of(p)!.some((x) => x.label === p.trueLabel) ? y[i] : first[i],
    );
    methods[method] = {
      top1: classificationReport(y, first, names.length).meanAccuracy,
      topK: classificationReport(y, inTop, names.length).meanAccuracy,
    };
  }
  const selfTrained: [string, (p: ImagePrediction) => string | undefined][] = [
    ["DeViSE, self-trained", (p) => p.selfTrained?.devise],
    ["visual prototypes, self-trained", (p) => p.selfTrained?.prototypes],
  ];
  for (const [method, of] of selfTrained) {
    if (!scored.every((p) => of(p) !== undefined)) continue;
    const pick = Int32Array.from(scored, (p) => index.get(of(p)!)!);
    methods[method] = { top1: classificationReport(y, pick, names.length).meanAccuracy };
  }
  return { images: scored.length, methods };
}

/** Scores one image (features and probabilities) against the label set, both methods. */
async function _scorer(
  tf: TF,
  trained: TrainRun,
  layer: FeatureLayer,
  words: WordVectors,
  labels: LabelSet,
  request: PredictRequest,
  run: Run,
) {
  const model = await loadDeviseModel(trained.metrics.deviseModels[layer]!);
  const D = words.dim;
  const source = labelVectors(words, trained.metrics.classes);
  const index = labels.kind === "vocab" ? await _vocabIndex(trained, words, request, run) : null;
  // Among every word, DeViSE's raw embeddings find rare tokens; with the seen labels' shared
  // component restored they find nouns (zeroshot's "DeViSE + label centroid" rows).
  const centroid = index ? labelCentroid(source.data, D) : undefined;
  if (centroid) {
    // Where every word carries the component too (our own skip-gram vectors), it filters nothing.
    const everyWord = meanCosineTo(words.data, D, centroid.direction).toFixed(3);
    run.log(
      `DeViSE's queries get the CIFAR-100 labels' centroid (cosine ` +
        `${centroid.length.toFixed(3)}); every word's mean cosine to it: ${everyWord}`,
    );
  }
  const deviseQuery = (e: Float32Array) => centroid ? withLabelCentroid(e, D, centroid) : e;
  const top = (e: Float32Array): ScoredLabel[] => {
    const q = normalizeRows(e.slice(), D);
    if (index) {
      const r = searchIndex(index, q, request.k, Math.max(400, request.k));
      return r.ids.map((id, i) => ({ label: words.words[id], score: 1 - r.distances[i] }));
    }
    return _topLabels(labelCosines(q, D, labels.vectors), labels.names, request.k);
  };
  const prototypes = labels.kind === "list" && request.prototypes
    ? await _prototypes(trained, layer, words, labels, request, run)
    : undefined;
  const labelNeighbours = request.labelNeighbours ?? -1;
  const expansion = labels.kind === "list" && labelNeighbours >= 0
    ? await _labelExpansion(
      tf,
      trained,
      layer,
      model,
      words,
      source,
      labels,
      labelNeighbours,
      request,
      run,
    )
    : undefined;
  const scorer = (features: Float32Array, probs: Float32Array) => {
    const e = embed(tf, model, features);
    // The fit may have chosen another map for the expanded labels (epochs, seeds averaged).
    const expansionE = expansion && expansion.model !== model
      ? embed(tf, expansion.model, features)
      : e;
    return {
      devise: top(deviseQuery(e)),
      conse: top(conseEmbed(probs, 100, source.data, D, request.conseT)),
      ...(prototypes ? { prototypes: prototypes.top(features) } : {}),
      ...(expansion
        ? {
          labelNeighbours: _topLabels(
            labelCosines(expansionE, D, expansion.targets),
            labels.names,
            request.k,
          ),
        }
        : {}),
    };
  };
  /** Every label's score for `n` images at once (a label list only): the self-training seeds. */
  const allScores = (features: Float32Array) => ({
    devise: labelCosines(embed(tf, model, features), D, labels.vectors),
    prototypes: prototypes?.scores(features),
  });
  return Object.assign(scorer, { d: model.d, prototypes, expansion, allScores });
}

// Each image's self-trained labels, seeded by DeViSE's scores and (when there) the prototypes'.
function _selfTrain(
  predictions: ImagePrediction[],
  features: Float32Array,
  scorer: Awaited<ReturnType<typeof _scorer>>,
  names: string[],
) {
  const seeds = scorer.allScores(features);
  const label = (scores: Float32Array) =>
    selfTrainedArgmax(features, scorer.d, scores, names.length);
  const devise = label(seeds.devise);
  const prototypes = seeds.prototypes && label(seeds.prototypes);
  predictions.forEach((p, i) => {
    p.selfTrained = {
      devise: names[devise[i]],
      ...(prototypes ? { prototypes: names[prototypes[i]] } : {}),
    };
  });
}

// The k best-scored names, best first.
function _topLabels(scores: Float32Array, names: string[], k: number): ScoredLabel[] {
  return [...topK(scores, names.length, k)].map((c) => ({ label: names[c], score: scores[c] }));
}

// The label list's top labels by visual prototypes, or undefined without CIFAR-100.
async function _prototypes(
  trained: TrainRun,
  layer: FeatureLayer,
  words: WordVectors,
  labels: LabelSet,
  request: PredictRequest,
  run: Run,
) {
  const map = await runPrototypeMap(trained, layer, words, request.dataDir, run);
  if (!map) return undefined;
  const predicted = predictPrototypes(map, labels.vectors);
  const scores = (features: Float32Array) => prototypeScores(features, map, predicted);
  return {
    lambda: map.lambda,
    scores,
    top: (features: Float32Array) => _topLabels(scores(features), labels.names, request.k),
  };
}

// The label list expanded with its nearest words, or undefined (logged) without CIFAR-100.
async function _labelExpansion(
  tf: TF,
  trained: TrainRun,
  layer: FeatureLayer,
  model: DeviseModel,
  words: WordVectors,
  source: LabelVectors,
  labels: LabelSet,
  k: number,
  request: PredictRequest,
  run: Run,
) {
  let c100Test;
  try {
    // A given k needs no CIFAR-100; choosing one does.
    if (k === 0) c100Test = await loadCifarLabels(request.dataDir, "cifar100", "test");
  } catch (e) {
    if (!(e instanceof CifarDataError && e.kind === "missing")) throw e;
    run.log(`label neighbours: skipped (k is chosen on CIFAR-100 classes): ${e.message}`);
    return undefined;
  }
  return await expandTargetLabels(
    tf,
    {
      dataDir: request.dataDir,
      layer,
      seed: 1, // zeroshot's default: the kept fit is shared
      labelNeighbours: k,
    },
    {
      featureDir: trained.metrics.featureDir,
      model,
      modelPath: trained.metrics.deviseModels[layer]!,
      words,
      vectorsSha256: trained.metrics.vectors.sha256,
      source,
      c100Test,
    },
    labels.names,
    run,
  );
}

async function _vocabIndex(
  trained: TrainRun,
  words: WordVectors,
  request: PredictRequest,
  run: Run,
): Promise<HnswIndex> {
  const path = trained.metrics.vectors.path;
  const rows = { dim: words.dim, data: normalizeRows(words.data.slice(), words.dim) };
  const opened = await openOrBuildIndex(rows, {
    path: indexPathFor(path, VOCAB_INDEX_PARAMS, request.indexDir),
    source: `sha256:${await vectorsChecksum(path)}`,
    ...VOCAB_INDEX_PARAMS,
    log: run.log,
  });
  return opened.index;
}
