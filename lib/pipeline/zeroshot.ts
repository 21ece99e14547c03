/**
 * `deno task zeroshot`, top to bottom: images of classes the DeViSE model never trained on
 * (CIFAR-10 test by default) labelled through a model trained on CIFAR-100 only.
 *
 * 1. inputs: the train run (validated by `readTrainRun`), its DeViSE model, word vectors, the
 *    source (CIFAR-100) and target label vectors, and the target images' features and softmax;
 *    (with `tta: "flip"`, features and softmax averaged with the mirror images');
 * 2. 10-way: per-class accuracy for DeViSE and ConSE (Norouzi et al. 2014), each ± CSLS, DeViSE
 *    with image CSLS, visual prototypes (word vectors mapped into image-feature space by ridge
 *    regression, Shigeto et al. 2015), and score ensembles (DeViSE + ConSE, the run's maps
 *    together, each with the prototypes);
 * 3. ceilings of the visual model (they read the target labels: bounds, not results);
 * 4. with `--vocab full`, the nearest words of the whole vocabulary through an HNSW index
 *    (hit@k, plus an "unseen only" variant without the 100 training labels);
 * 5. with `--unseen K`, a seen/unseen split inside CIFAR-100 (generalised zero-shot);
 * 6. the report.
 *
 * ```sh
 * deno task zeroshot --vocab full --data-dir ../shared/data
 * deno task zeroshot --unseen 20 --data-dir ../shared/data --json
 * ```
 * @module
 */
import { startRunOnBackend } from "./task_run.ts";
import { type Run } from "../cli/run.ts";
import { Progress } from "../cli/progress.ts";
import { type BackendName, type TF } from "../backend/select.ts";
import { type CifarSplit, loadCifar } from "../data/cifar.ts";
import {
  DEVISE_MODEL_FORMAT,
  DEVISE_MODEL_VERSION,
  type DeviseModel,
  embed,
  loadDeviseModel,
  vocabNegativePool,
} from "../devise/train.ts";
import { InputError } from "../io/errors.ts";
import { Rng } from "../io/rng.ts";
import { meanAndSampleSd } from "../io/stats.ts";
import { loadDeviseSplit } from "../devise/data.ts";
import { labelVectors } from "../text/labels.ts";
import { readVectors, vectorsChecksum } from "../text/word2vec_io.ts";
import type { WordVectors } from "../text/vectors.ts";
import { normalizeRows } from "../text/vectors.ts";
import {
  exactTopKBatch,
  measureSearch,
  type Neighbors,
  type VectorRows,
} from "../zeroshot/exact.ts";
import { candidateRows } from "../zeroshot/candidates.ts";
import { loadWordNet } from "../text/corpus.ts";
import {
  featurePath,
  FEATURES_FORMAT,
  FEATURES_VERSION,
  readFeatures,
  writeFeatures,
} from "../vision/extract.ts";
import { ArtifactError, artifactIsCurrent, readSidecar, sha256Hex } from "../io/artifact.ts";
import { takeRows } from "../io/rows.ts";
import { type HnswIndex, indexPathFor, openOrBuildIndex, searchIndex } from "../zeroshot/index.ts";
import {
  balancedAssignment,
  type ClassificationReport,
  classificationReport,
  conseEmbed,
  cslsPenalty,
  deviseLabelProbs,
  ensembleArgmax,
  labelCosines,
  nearestLabel,
  standardizedRows,
} from "../zeroshot/eval.ts";
import { selfTrainedArgmax } from "../zeroshot/self_training.ts";
import { labelCentroid, meanCosineTo, withLabelCentroid } from "../zeroshot/centroid.ts";
import { labelMappingCeiling, softmaxReadoutCeiling } from "../zeroshot/ceiling.ts";
import {
  prototypeFeatureRows,
  type PrototypeMap,
  prototypeSpace,
  prototypeWordRows,
} from "../zeroshot/prototypes.ts";
import { type VisualPrototypes, visualPrototypes } from "./visual_prototypes.ts";
import {
  type ExpandedTargets,
  expandTargetLabels,
  type LabelExpansionFit,
} from "./label_expansion.ts";
import { hitAtK, seenWordSet, topWords } from "../zeroshot/vocab.ts";
import { writeZeroShotReport } from "../report/zeroshot_report.ts";
import type { FeatureLayer } from "../vision/models.ts";
import type { PresetName } from "./presets.ts";
import { latestTrainRun, readTrainRun, type TrainRun } from "./runs.ts";
import { imageFeatures, mirroredFeatures, openVisualModel } from "./image_features.ts";
import type { ImageFit } from "../images/decode.ts";
import { expandImageInputs, type ImageInputs } from "../images/folder.ts";
import { type SeenUnseenMetrics, seenUnseenSplit } from "./zeroshot_unseen.ts";

/** Settings of one zero-shot run. */
export interface ZeroShotConfig {
  dataDir: string;
  /** A `deno task train` run folder. */
  from: string;
  layer: FeatureLayer;
  vocab: "10" | "full";
  /** Words returned per image (hit@k up to this). */
  k: number;
  m: number;
  efConstruction: number;
  /** Where the vocabulary index is kept (default `data/index`). */
  indexDir: string;
  /** Candidate sets of the full-vocabulary search (lib/zeroshot/candidates.ts). */
  candidates: string[];
  /**
   * CSLS from images (Conneau et al. 2018): each candidate label or word penalised by its mean
   * cosine to its k nearest DeViSE embeddings of CIFAR-100 training images (0 = off). Gives the
   * 10-way "DeViSE + CSLS (images)" row and, with `vocab: "full"`, the vocabulary's "DeViSE + CSLS".
   */
  imageCslsK: number;
  /** HNSW search list; 0 = the smallest of 50, 100, …, 3200 that reaches `targetRecall`. */
  ef: number;
  /** recall@10 (image queries vs exact search) that `ef: 0` aims for. */
  targetRecall: number;
  /** ConSE: how many of the top CIFAR-100 labels are mixed. */
  conseT: number;
  /**
   * Temperature of the "ConSE (DeViSE scores)" rows: ConSE's mix weighted by the softmax of
   * DeViSE's label scores over τ (0 = no such rows).
   */
  deviseTemperature: number;
  /** CSLS hubness penalty: nearest source labels averaged (0 = no "+ CSLS" rows). */
  cslsK: number;
  /** CSLS penalty weight (0.5 = Conneau et al.'s `2·cos − r`). */
  cslsWeight: number;
  /**
   * Also score every method transductively under the known equal class sizes of the test set
   * (`balancedAssignment`: ", balanced" rows); never for a label set without known labels.
   */
  balanced?: boolean;
  /**
   * Also score DeViSE, ConSE, visual prototypes and DeViSE + visual prototypes transductively,
   * self-trained on the test images' own features (`selfTrainedArgmax`: ", self-trained" rows).
   */
  selfTrain?: boolean;
  /**
   * The "visual prototypes" rows: label vectors mapped into the layer's feature space by ridge
   * regression on the CIFAR-100 class means (reads the layer's CIFAR-100 features).
   */
  prototypes: boolean;
  /** Their ridge λ; 0 = chosen by 10-fold cross-validation over held-out CIFAR-100 classes. */
  prototypeLambda: number;
  /**
   * The "DeViSE + label neighbours" row: each candidate label's vector averaged with its k
   * nearest vocabulary words' (lib/zeroshot/label_expansion.ts); 0 = k chosen on held-out
   * CIFAR-100 classes, absent or −1 = no such row.
   */
  labelNeighbours?: number;
  /** Hold out this many CIFAR-100 classes (0 = skip the seen/unseen experiment). */
  unseen: number;
  unseenNames: string[];
  /** Test images whose top-10 words are shown in the report. */
  showImages: number;
  /**
   * Test-time augmentation: `flip` averages every image's features and softmax with its mirror
   * image's (one more forward pass of the target images); default `none`.
   */
  tta?: "none" | "flip";
  seed: number;
  /**
   * Use the run's fine-tuned model: its DeViSE map and its own features (the images go through
   * the fine-tuned visual model); ConSE keeps the pretrained softmax.
   */
  finetuned?: boolean;
}

/** Per-class accuracy of one method. */
export interface MethodAccuracy {
  meanAccuracy: number;
  perClass: Record<string, number>;
}

/** One row of the ef sweep: recall@10 of image queries against exact search, and speed. */
export interface EfSweepRow {
  ef: number;
  queries: number;
  recallAt10: number;
  queriesPerSecond: number;
}

/** What {@link runZeroShot} returns (and the run's `metrics.json` holds). */
export interface ZeroShotMetrics {
  from: string;
  layer: FeatureLayer;
  model: string;
  /** 10-way accuracy by method (DeViSE, ConSE, each ± CSLS). */
  tenWay: Record<string, MethodAccuracy>;
  labelMappingCeiling: MethodAccuracy & { mappedFrom: Record<string, string[]> };
  softmaxReadoutCeiling: MethodAccuracy;
  /** Each visual-prototypes variant's λ, and each candidate λ's held-out-class accuracy. */
  prototypes?: VisualPrototypes["fit"];
  /** Label expansion's k (and how it was chosen), and each target label's neighbour words. */
  labelExpansion?: LabelExpansionFit & {
    neighbours: Record<string, string[]>;
    /** The row with each seed's map alone at the fit's epochs (when the fit was chosen). */
    seedMeanAccuracy?: number[];
  };
  fullVocab?: Record<string, Record<string, number>>;
  index?: EfSweepRow & { bytes: number; reused: boolean; vectors: number; buildSeconds: number };
  indexSweep?: EfSweepRow[];
  /** Where each method's embeddings lie (FullVocabulary.geometry). */
  embeddingGeometry?: FullVocabulary["geometry"];
  /** Each candidate set's size and index figures. */
  candidates?: FullVocabulary["candidates"];
  unseen?: SeenUnseenMetrics;
  report: string;
}

/** The labelled images zero-shot is scored on, already through the visual model. */
export interface TargetSet {
  /** Where they come from, for the report (e.g. `CIFAR-10 test`). */
  name: string;
  classNames: string[];
  labels: Int32Array;
  /** 32×32×3 images (HWC) for the report's examples. */
  images: Uint8Array;
  /** n×d features of the DeViSE model's layer. */
  features: Float32Array;
  /** n×100 CIFAR-100 softmax probabilities. */
  probs: Float32Array;
  /** Features of the train run's other DeViSE layers (CIFAR-10 test, not fine-tuned). */
  otherFeatures?: Partial<Record<FeatureLayer, Float32Array>>;
}

/** What `deno task zeroshot` is asked to do: the config, with the run and backend choices. */
export interface ZeroShotRequest extends Omit<ZeroShotConfig, "from" | "layer"> {
  /** A train run folder; empty = the latest (of `preset` when given). */
  from: string;
  preset?: PresetName;
  /** Default: the train run's last layer. */
  layer?: FeatureLayer;
  /** An ImageFolder tree to score instead of CIFAR-10 test: its folder names are the labels. */
  images?: string;
  fit?: ImageFit;
  /** Where the folder's features are cached. */
  cacheDir?: string;
  backend: BackendName;
  out: string;
  json: boolean;
  quiet: boolean;
}

/**
 * The whole of `deno task zeroshot`: picks and validates the train run (before any run folder is
 * made), the backend (the pure-JS one is fine: only matrix products of cached features), opens
 * the run folder, runs {@link runZeroShot} and writes `metrics.json`.
 *
 * @example
 * ```ts
 * await zeroshot({ ...cfg, from: "", preset: "quick", backend: "auto", out: "", json: true,
 *   quiet: false });
 * ```
 */
export async function zeroshot(request: ZeroShotRequest): Promise<ZeroShotMetrics> {
  const from = request.from || await latestTrainRun(request.preset);
  const trained = await readTrainRun(from);
  const layer = request.layer ??
    (request.finetuned ? trained.metrics.finetuned?.layer : undefined) ??
    trained.metrics.layers.at(-1)!;
  const { backend: _b, out: _o, json, quiet: _q, preset: _p, images, fit, cacheDir, ...settings } =
    request;
  const cfg: ZeroShotConfig = { ...settings, from, layer };
  // An image folder's classes must all have vectors before any image is read.
  const folder = images ? await _imageFolderClasses(images, trained) : undefined;
  // Only matrix products of cached features (or a forward pass): the pure-JS backend will do.
  const { run, tf, backend } = await startRunOnBackend("zeroshot", request, {
    ...cfg,
    images,
    fit,
  }, { allowSlow: true });
  let target: TargetSet | undefined;
  if (folder) {
    const visual = await openVisualModel(tf, trained);
    const set = await imageFeatures(tf, visual, folder, {
      layer,
      fit: fit ?? "crop",
      cacheDir,
      run,
    });
    visual.model.dispose();
    for (const p of set.problems) run.log(`skipped ${p.message}`);
    target = {
      name: images!,
      classNames: folder.classes!,
      labels: Int32Array.from(set.items, (i) => i.label!),
      images: set.images,
      features: set.features,
      probs: set.probs,
    };
  }
  const metrics = await runZeroShot(tf, cfg, run, target);
  run.log(`report: ${metrics.report}`);
  await run.finish({ backend, ...metrics }, json);
  return metrics;
}

/** An ImageFolder tree's listing, refused when it is not one or a class has no word vector. */
async function _imageFolderClasses(dir: string, trained: TrainRun): Promise<ImageInputs> {
  const inputs = await expandImageInputs([dir], { layout: "imagefolder" });
  const classes = inputs.classes ?? [];
  if (classes.length < 2) {
    throw new InputError(`--images ${dir}: an ImageFolder tree needs at least 2 class folders`);
  }
  const words = await readVectors(trained.metrics.vectors.path);
  const missing = labelVectors(words, classes).missing;
  if (missing.length) {
    throw new InputError(
      `--images ${dir}: no word vector for class folder(s) ${missing.join(", ")} in ` +
        `${trained.metrics.vectors.path} (rename them, e.g. sea_lion, or train other vectors)`,
    );
  }
  return inputs;
}

const _KS = [1, 2, 5, 10, 20];
// Steps of about 1.5×: q/s falls linearly with ef, so a doubling grid overshoots the target.
const _AUTO_EFS = [50, 75, 100, 150, 200, 300, 400, 600, 800, 1200, 1600, 2400, 3200];

/**
 * Runs the zero-shot evaluation on CIFAR-10 test (or on `target`, e.g. an image folder run
 * through the visual model) and writes the report into `run.dir`.
 *
 * @example
 * ```ts
 * const metrics = await runZeroShot(tf, cfg, run);
 * metrics.tenWay.DeViSE.meanAccuracy; // 0.293
 * ```
 */
export async function runZeroShot(
  tf: TF,
  cfg: ZeroShotConfig,
  run: Run,
  target?: TargetSet,
): Promise<ZeroShotMetrics> {
  // 1. Inputs.
  const trained = await readTrainRun(cfg.from);
  const ft = cfg.finetuned ? _finetuned(trained, cfg.layer) : undefined;
  const modelPath = ft?.deviseModel ?? trained.metrics.deviseModels[cfg.layer];
  if (!modelPath) {
    throw new InputError(
      `${cfg.from}/metrics.json has no DeViSE model for layer '${cfg.layer}' (has: ${
        Object.keys(trained.metrics.deviseModels).join(", ")
      })`,
    );
  }
  const model = await loadDeviseModel(modelPath);
  const words = await readVectors(trained.metrics.vectors.path);
  const c100 = await loadCifar(cfg.dataDir, "cifar100", "test");
  const unflipped = target ?? await cifar10Target(cfg, trained, ft?.featureDir);
  // A folder's features came from the pretrained model (imageFeatures), CIFAR-10's from ft's.
  const set = cfg.tta === "flip"
    ? await _flipAveraged(
      tf,
      trained,
      unflipped,
      cfg.layer,
      target ? undefined : ft,
      run,
    )
    : unflipped;
  const D = words.dim;
  const source = labelVectors(words, c100.labelNames);
  const targetVectors = labelVectors(words, set.classNames);
  const missing = [...targetVectors.missing, ...source.missing];
  if (missing.length) {
    throw new InputError(`${trained.metrics.vectors.path}: no vector for ${missing.join(", ")}`);
  }
  run.log(
    `model ${modelPath} (${cfg.layer}, ${model.d}-D → ${D}-D); vectors ${words.words.length}; ` +
      `${set.labels.length} ${set.name} images, ${set.classNames.length} classes`,
  );
  const deviseEmbedded = embed(tf, model, set.features);
  const embedded: Record<string, Float32Array> = {
    DeViSE: deviseEmbedded,
    ConSE: conseEmbed(set.probs, 100, source.data, D, cfg.conseT),
  };
  if (cfg.deviseTemperature > 0) {
    const weights = deviseLabelProbs(deviseEmbedded, D, source.data, cfg.deviseTemperature);
    embedded["ConSE (DeViSE scores)"] = conseEmbed(weights, 100, source.data, D, cfg.conseT);
  }
  // The seen labels' shared component, which the rank loss leaves out of M (centroid.ts).
  const centroid = labelCentroid(source.data, D);
  embedded["DeViSE + label centroid"] = withLabelCentroid(deviseEmbedded, D, centroid);
  // It separates nouns from rare tokens only where the vocabulary lacks it (GloVe, not ours).
  run.log(
    `DeViSE embeddings' mean cosine to the CIFAR-100 labels' centroid ` +
      `${meanCosineTo(deviseEmbedded, D, centroid.direction).toFixed(3)} (the labels': ` +
      `${centroid.length.toFixed(3)}; every word's: ` +
      `${meanCosineTo(words.data, D, centroid.direction).toFixed(3)})`,
  );

  // Hubs are estimated on seen-class training images only: no target image or label is read.
  const trainEmbedded = cfg.imageCslsK > 0
    ? await _trainEmbedded(tf, model, modelPath, trained, cfg, ft)
    : undefined;

  // Word vectors mapped the other way, into image-feature space, fit on CIFAR-100 only.
  const prototypes = cfg.prototypes
    ? await visualPrototypes(
      cfg,
      target ? trained.metrics.featureDir : ft?.featureDir ?? trained.metrics.featureDir,
      { data: source.data, dim: D },
      targetVectors.data,
      set.features,
      c100,
      run,
    )
    : undefined;

  // 2. 10-way: nearest target label, with and without the CSLS hubness penalties.
  // Balancing assumes equal class sizes: true of CIFAR-10's test set, unknown for a user's set.
  const balanced = !!cfg.balanced && !target;
  const imageHubness = trainEmbedded
    ? wordHubness(
      tf,
      { dim: D, data: normalizeRows(targetVectors.data.slice(), D) },
      trainEmbedded,
      cfg.imageCslsK,
    )
    : undefined;
  // Score ensembles: DeViSE with ConSE (map and softmax), and with the run's other maps.
  const ensembles: Record<string, Float32Array[]> = {
    "DeViSE + ConSE": [deviseEmbedded, embedded.ConSE],
  };
  const layers: FeatureLayer[] = [], members: Float32Array[] = [];
  for (const l of trained.metrics.layers) {
    const features = set.otherFeatures?.[l];
    if (l === cfg.layer) members.push(deviseEmbedded);
    else if (features) {
      members.push(embed(tf, await loadDeviseModel(trained.metrics.deviseModels[l]!), features));
    } else continue;
    layers.push(l);
  }
  if (layers.length > 1) {
    ensembles[`DeViSE ${layers.join(" + ")}`] = members;
    ensembles[`DeViSE ${layers.join(" + ")} + ConSE`] = [...members, embedded.ConSE];
  }
  const scoreSets: Record<string, Float32Array[]> = {};
  if (prototypes) {
    const devise = labelCosines(deviseEmbedded, D, targetVectors.data);
    const conse = labelCosines(embedded.ConSE, D, targetVectors.data);
    for (const [name, p] of Object.entries(prototypes.scores)) {
      scoreSets[name] = [p];
      scoreSets[`${name} + ConSE`] = [p, conse];
      scoreSets[`DeViSE + ${name}`] = [devise, p];
      scoreSets[`DeViSE + ConSE + ${name}`] = [devise, conse, p];
    }
  }
  // Label expansion: the candidates' vectors averaged with their nearest words (k fit on CIFAR-100).
  const expansion = (cfg.labelNeighbours ?? -1) >= 0
    ? await expandTargetLabels(
      tf,
      { ...cfg, labelNeighbours: cfg.labelNeighbours ?? 0, seedSpread: true },
      {
        featureDir: ft?.featureDir ?? trained.metrics.featureDir,
        model,
        modelPath,
        words,
        vectorsSha256: trained.metrics.vectors.sha256,
        source,
        c100Test: c100,
      },
      set.classNames,
      run,
    )
    : undefined;
  const expansionSpread = expansion && _expansionSpread(tf, expansion, set, D, run);
  if (expansion) {
    // The row's map: the run's, or the fit's epochs and seed maps (chosen on the folds too).
    const mapped = expansion.model === model
      ? deviseEmbedded
      : embed(tf, expansion.model, set.features);
    scoreSets["DeViSE + label neighbours"] = [labelCosines(mapped, D, expansion.targets)];
  }
  const selfTrained = cfg.selfTrain
    ? {
      features: set.features,
      dim: set.features.length / set.labels.length,
      methods: ["DeViSE", "ConSE", "visual prototypes", "DeViSE + visual prototypes"]
        .filter((m) => embedded[m] || scoreSets[m]),
    }
    : undefined;
  const tenWay = tenWayAccuracy(embedded, D, set, targetVectors.data, source.data, {
    ...cfg,
    balanced,
    imageHubness,
    ensembles,
    scoreSets,
    selfTrained,
  });
  for (const [name, r] of Object.entries(tenWay)) {
    run.log(
      `${set.classNames.length}-way ${name}: mean per-class accuracy ` +
        `${(100 * r.meanAccuracy).toFixed(2)}% (` +
        r.perClassAccuracy.map((a, c) => `${set.classNames[c]} ${(100 * a).toFixed(1)}`)
          .join(", ") +
        ")",
    );
  }

  // 3. Ceilings: how far any CIFAR-100 → target mapping could go with this visual model.
  const ceilings = visualCeilings(set, c100.labelNames, cfg.seed);
  run.log(
    `ceilings (use the target labels; not results): label mapping ` +
      `${(100 * ceilings.mapping.meanAccuracy).toFixed(2)}%, softmax readout ` +
      `${(100 * ceilings.readout.meanAccuracy).toFixed(2)}% mean per-class`,
  );
  run.log(
    `label-mapping ceiling's map: ` +
      set.classNames.map((n) => `${n} ← ${ceilings.mappedFrom[n].join(" ") || "-"}`).join("; "),
  );

  // 4. Full vocabulary through HNSW: every word is a candidate label.
  const full = cfg.vocab === "full"
    ? await fullVocabulary(
      tf,
      words,
      trained.metrics.vectors.path,
      embedded,
      set,
      c100,
      cfg,
      run,
      {
        trainEmbedded,
        // The unwhitened map: the better 10-way variant, and defined for every layer width.
        prototypes: prototypes && {
          name: "visual prototypes",
          map: prototypes.maps["visual prototypes"],
          features: set.features,
        },
      },
    )
    : undefined;

  // 5. Seen/unseen inside CIFAR-100: M retrained without K classes, tested on all 100.
  const gzsl = cfg.unseen > 0 || cfg.unseenNames.length
    ? await seenUnseenSplit(tf, cfg, run, {
      featureDir: ft?.featureDir ?? trained.metrics.featureDir,
      probsDir: trained.metrics.featureDir,
      deviseConfig: model.config,
      negativeVectors: vocabNegativePool(words, model.config.vocabNegatives),
      labelData: source.data,
      D,
      test: c100,
      visualCheckpoint: trained.metrics.visual.checkpoint,
    })
    : undefined;

  // 6. Report.
  const perClass = (r: { perClassAccuracy: number[] }) =>
    Object.fromEntries(r.perClassAccuracy.map((a, c) => [set.classNames[c], a]));
  const report = await writeZeroShotReport(run.dir, {
    config: run.config,
    targetName: set.name,
    layer: cfg.layer,
    classes: set.classNames,
    tenWay,
    ceilings,
    fullVocab: full?.rows,
    index: full?.indexTable,
    topWords: full?.shown,
    unseen: gzsl,
    conseT: cfg.conseT,
    deviseTemperature: cfg.deviseTemperature,
    cslsK: cfg.cslsK,
    cslsWeight: cfg.cslsWeight,
    tta: cfg.tta,
    prototypes: prototypes?.fit,
    labelExpansion: expansion && { ...expansion.fit, seedMeanAccuracy: expansionSpread },
  });
  return {
    from: cfg.from,
    layer: cfg.layer,
    model: modelPath,
    tenWay: Object.fromEntries(
      Object.entries(tenWay).map(([n, r]) => [n, {
        meanAccuracy: r.meanAccuracy,
        perClass: perClass(r),
      }]),
    ),
    labelMappingCeiling: {
      meanAccuracy: ceilings.mapping.meanAccuracy,
      perClass: perClass(ceilings.mapping),
      mappedFrom: ceilings.mappedFrom,
    },
    softmaxReadoutCeiling: {
      meanAccuracy: ceilings.readout.meanAccuracy,
      perClass: perClass(ceilings.readout),
    },
    ...(prototypes ? { prototypes: prototypes.fit } : {}),
    ...(expansion
      ? {
        labelExpansion: {
          ...expansion.fit,
          neighbours: expansion.neighbours,
          ...(expansionSpread ? { seedMeanAccuracy: expansionSpread } : {}),
        },
      }
      : {}),
    ...(full
      ? {
        fullVocab: Object.fromEntries(full.rows.map((r) => [r.model, r.hit])),
        index: full.index,
        indexSweep: full.sweep,
        candidates: full.candidates,
        embeddingGeometry: full.geometry,
      }
      : {}),
    ...(gzsl ? { unseen: gzsl.metrics } : {}),
    report: report.html,
  };
}

/**
 * CIFAR-10 test as a {@link TargetSet}: images and labels from the data folder, features and
 * probabilities from the train run's feature folder (checked against the records).
 *
 * @example
 * ```ts
 * const set = await cifar10Target(cfg, await readTrainRun(cfg.from));
 * ```
 */
export async function cifar10Target(
  cfg: ZeroShotConfig,
  trained: TrainRun,
  featureDir = trained.metrics.featureDir,
): Promise<TargetSet> {
  const c10 = await loadCifar(cfg.dataDir, "cifar10", "test");
  // The fine-tuned model has one layer: the others are read for the pretrained one only.
  const others = featureDir === trained.metrics.featureDir
    ? trained.metrics.layers.filter((l) => l !== cfg.layer && trained.metrics.deviseModels[l])
    : [];
  const otherFeatures: Partial<Record<FeatureLayer, Float32Array>> = {};
  for (const l of others) otherFeatures[l] = (await loadDeviseSplit(featureDir, c10, l)).features;
  return {
    name: "CIFAR-10 test",
    classNames: c10.labelNames,
    labels: c10.labels,
    images: c10.images,
    features: (await loadDeviseSplit(featureDir, c10, cfg.layer)).features,
    // ConSE reads the pretrained softmax: fine-tuning trains M, not the classifier.
    probs: (await loadDeviseSplit(trained.metrics.featureDir, c10, "probs")).features,
    otherFeatures,
  };
}

/**
 * "DeViSE + label neighbours" with each seed's map at the fit's epochs: the spread across DeViSE
 * seeds on one visual model (mean per-class accuracy per seed; undefined without seed maps).
 */
function _expansionSpread(
  tf: TF,
  expansion: ExpandedTargets,
  set: Pick<TargetSet, "labels" | "classNames" | "features">,
  D: number,
  run: Run,
): number[] | undefined {
  if (!expansion.seedModels) return undefined;
  const accuracies = expansion.seedModels.map((m) =>
    classificationReport(
      set.labels,
      nearestLabel(embed(tf, m, set.features), D, expansion.targets),
      set.classNames.length,
    ).meanAccuracy
  );
  const { mean, sd } = meanAndSampleSd(accuracies);
  run.log(
    `${set.classNames.length}-way DeViSE + label neighbours with each seed's map alone ` +
      `(${expansion.fit.epochs} epochs): ` +
      accuracies.map((a) => `${(100 * a).toFixed(2)}%`).join(", ") +
      ` (mean ${(100 * mean).toFixed(2)}%, sd ${(100 * sd).toFixed(2)} points)`,
  );
  return accuracies;
}

/** Training images in CSLS's hub estimate. */
const HUB_SAMPLE_ROWS = 10_000;

/**
 * DeViSE embeddings of a seeded sample of CIFAR-100 training images (CSLS's hub estimate), kept
 * beside the map (`<model>.hub-sample.f32`, keyed by the map, the features and the sample): the
 * `act` features it draws from are 800 MB to read, the sample 6 MB.
 */
async function _trainEmbedded(
  tf: TF,
  model: DeviseModel,
  modelPath: string,
  trained: TrainRun,
  cfg: ZeroShotConfig,
  ft?: { featureDir: string },
): Promise<Float32Array> {
  const path = featurePath(
    ft?.featureDir ?? trained.metrics.featureDir,
    "cifar100",
    "train",
    cfg.layer,
  );
  const sources = {
    model: (await readSidecar(modelPath, DEVISE_MODEL_FORMAT, DEVISE_MODEL_VERSION)).sha256,
    features: (await readSidecar(path, FEATURES_FORMAT, FEATURES_VERSION)).sha256,
    seed: cfg.seed + 7,
    rows: HUB_SAMPLE_ROWS,
  };
  const cache = `${modelPath}.hub-sample.f32`;
  if (await artifactIsCurrent(cache, FEATURES_FORMAT, FEATURES_VERSION, sources)) {
    try {
      return (await readFeatures(cache)).data;
    } catch (err) {
      if (!(err instanceof ArtifactError)) throw err; // damaged: made again below
    }
  }
  const { data, shape } = await readFeatures(path);
  const pick = new Rng(sources.seed).permutation(shape[0])
    .subarray(0, Math.min(HUB_SAMPLE_ROWS, shape[0]));
  const embedded = embed(tf, model, takeRows(data, shape[1], pick));
  await writeFeatures(cache, embedded, [pick.length, model.dims], {
    layer: cfg.layer,
    dataset: "cifar100-train sample, DeViSE-embedded",
    sources,
  });
  return embedded;
}

/**
 * `set` with each image's features (every layer it holds) and softmax averaged with those of its
 * mirror image. Features go through the model that made them (`finetuned`: the run's fine-tuned one);
 * the softmax always through the pretrained model, as ConSE reads it.
 */
async function _flipAveraged(
  tf: TF,
  trained: TrainRun,
  set: TargetSet,
  layer: FeatureLayer,
  finetuned: { checkpoint: string; featureDir: string } | undefined,
  run: Run,
): Promise<TargetSet> {
  const others = trained.metrics.layers.filter((l) => set.otherFeatures?.[l]);
  // With a fine-tuned model the pretrained pass is for the softmax alone.
  const pretrainedLayers = finetuned ? [] : [layer, ...others];
  const pretrained = await mirroredFeatures(tf, trained, set.images, pretrainedLayers, { run });
  const features = finetuned
    ? (await mirroredFeatures(tf, trained, set.images, [layer], { finetuned, run })).layers[layer]!
    : pretrained.layers[layer]!;
  const mean = (a: Float32Array, b: Float32Array) => a.map((v, i) => (v + b[i]) / 2);
  run.log(`test-time augmentation: features and softmax averaged with the mirror images'`);
  return {
    ...set,
    features: mean(set.features, features.data),
    probs: mean(set.probs, pretrained.probs),
    otherFeatures: Object.fromEntries(
      others.map((l) => [l, mean(set.otherFeatures![l]!, pretrained.layers[l]!.data)]),
    ),
  };
}

/** The run's fine-tuned model of `layer`, or a clear error. */
function _finetuned(trained: TrainRun, layer: FeatureLayer) {
  const ft = trained.metrics.finetuned;
  if (!ft) {
    throw new InputError(
      `${trained.dir} has no fine-tuned model (train with --finetune-epochs N first)`,
    );
  }
  if (ft.layer !== layer) {
    throw new InputError(
      `${trained.dir}: the fine-tuned model is of layer ${ft.layer}, not ${layer}`,
    );
  }
  return ft;
}

/**
 * Per-class accuracy of the nearest target label for every embedding method, each also with the
 * label-vector CSLS penalty when `cfg.cslsK > 0`, and transductively balanced over the classes
 * with `cfg.balanced`. With `cfg.imageHubness` (each target label's mean cosine to its nearest
 * training-image embeddings, {@link wordHubness}) DeViSE is also scored by CSLS's
 * `2·cos − cslsWeight·r`: the "DeViSE + CSLS (images)" row. Each of `cfg.ensembles` is a row
 * of its own: its members' label cosines, standardised and summed ({@link ensembleArgmax}); so
 * is each of `cfg.scoreSets`, whose members are already `n * C` scores (one member: its argmax).
 *
 * @example
 * ```ts
 * const tenWay = tenWayAccuracy({ DeViSE: e }, 300, set, targetVecs, sourceVecs, cfg);
 * ```
 */
export function tenWayAccuracy(
  embedded: Record<string, Float32Array>,
  D: number,
  set: Pick<TargetSet, "labels" | "classNames">,
  targetVectors: Float32Array,
  sourceVectors: Float32Array,
  cfg: Pick<ZeroShotConfig, "cslsK" | "cslsWeight" | "balanced"> & {
    imageHubness?: Float32Array;
    /** Row name → the embeddings (each `n * D`) whose label cosines {@link ensembleArgmax} sums. */
    ensembles?: Record<string, Float32Array[]>;
    /** Row name → score sets (each `n * C`) that {@link ensembleArgmax} sums. */
    scoreSets?: Record<string, Float32Array[]>;
    /**
     * Rows (names of `embedded` or `scoreSets`) also scored transductively by
     * {@link selfTrainedArgmax} over the target images' `features` (", self-trained" rows).
     */
    selfTrained?: { features: Float32Array; dim: number; methods: string[] };
  },
): Record<string, ClassificationReport> {
  const penalty = cfg.cslsK > 0
    ? cslsPenalty(targetVectors, sourceVectors, D, cfg.cslsK, cfg.cslsWeight)
    : undefined;
  const C = set.classNames.length;
  const out: Record<string, ClassificationReport> = {};
  for (const [name, e] of Object.entries(embedded)) {
    out[name] = classificationReport(set.labels, nearestLabel(e, D, targetVectors), C);
    if (penalty) {
      out[`${name} + CSLS`] = classificationReport(
        set.labels,
        nearestLabel(e, D, targetVectors, undefined, penalty),
        C,
      );
    }
  }
  if (cfg.imageHubness && embedded.DeViSE) {
    // nearestLabel subtracts from the cosine: (2·cos − w·r) / 2 ranks the same.
    const half = cfg.imageHubness.map((r) => (cfg.cslsWeight * r) / 2);
    out["DeViSE + CSLS (images)"] = classificationReport(
      set.labels,
      nearestLabel(embedded.DeViSE, D, targetVectors, undefined, half),
      C,
    );
  }
  const n = set.labels.length;
  for (const [name, members] of Object.entries(cfg.ensembles ?? {})) {
    const scores = members.map((e) => labelCosines(e, D, targetVectors));
    out[name] = classificationReport(set.labels, ensembleArgmax(scores, n, C), C);
  }
  for (const [name, scores] of Object.entries(cfg.scoreSets ?? {})) {
    out[name] = classificationReport(set.labels, ensembleArgmax(scores, n, C), C);
  }
  if (cfg.selfTrained) {
    const { features, dim, methods } = cfg.selfTrained;
    for (const name of methods) {
      const sets = embedded[name]
        ? [labelCosines(embedded[name], D, targetVectors)]
        : cfg.scoreSets?.[name];
      if (!sets) throw new Error(`tenWayAccuracy: no method ${name} to self-train`);
      const scores = sets.map((s) => standardizedRows(s, n, C))
        .reduce((a, b) => a.map((v, k) => v + b[k]));
      out[`${name}, self-trained`] = classificationReport(
        set.labels,
        selfTrainedArgmax(features, dim, scores, C),
        C,
      );
    }
  }
  if (cfg.balanced) {
    for (const [name, e] of Object.entries(embedded)) {
      const n = e.length / D;
      const pick = balancedAssignment(labelCosines(e, D, targetVectors), n, C);
      out[`${name}, balanced`] = classificationReport(set.labels, pick, C);
    }
  }
  return out;
}

/** The two ceilings and the label map behind the first. */
export interface Ceilings {
  mapping: ClassificationReport;
  readout: ClassificationReport;
  /** Target class → the CIFAR-100 classes the ceiling's map sends to it. */
  mappedFrom: Record<string, string[]>;
}

/**
 * The label-mapping ceiling (each image's top-1 CIFAR-100 class sent to the target class most of
 * its images carry) and the softmax-readout ceiling (a logistic regression on the 100
 * log-probabilities, cross-fit): both read the target labels, so they bound, not score.
 *
 * @example
 * ```ts
 * const { mapping, readout } = visualCeilings(set, c100.labelNames, 1);
 * ```
 */
export function visualCeilings(
  set: Pick<TargetSet, "labels" | "classNames" | "probs">,
  sourceNames: string[],
  seed: number,
): Ceilings {
  const C = set.classNames.length;
  const { mapping, report } = labelMappingCeiling(set.probs, 100, set.labels, C);
  const readout = softmaxReadoutCeiling(set.probs, 100, set.labels, C, { seed });
  const mappedFrom = Object.fromEntries(
    set.classNames.map((n, t) => [n, sourceNames.filter((_, s) => mapping[s] === t)]),
  );
  return { mapping: report, readout, mappedFrom };
}

/** What {@link fullVocabulary} found. */
export interface FullVocabulary {
  rows: { model: string; hit: Record<string, number> }[];
  /** The index over every word (`all`). */
  index: NonNullable<ZeroShotMetrics["index"]>;
  sweep: EfSweepRow[];
  /** The rows of the report's ef table. */
  indexTable: { title: string; sweep: EfSweepRow[]; ef: number };
  /** Each candidate set's size and index figures. */
  candidates: Record<string, {
    words: number;
    /** DeViSE's ef and recall (the report's table). */
    ef: number;
    recallAt10: number;
    bytes: number;
    /** The ef each method's queries searched at, with its recall@10 and queries/s. */
    byMethod: Record<string, EfSweepRow>;
    /** The visual prototypes' own index (their predicted prototypes, `dim` wide). */
    prototypeIndex?: { dim: number; bytes: number; reused: boolean; buildSeconds: number };
  }>;
  /** Sample images with every method's top-10 words (over every word). */
  shown: { image: Uint8Array; trueLabel: string; words: Record<string, string[]> }[];
  /**
   * Where each method's image embeddings lie (1,000 sampled images, every word): the mean cosine
   * to the true label's vector and to the nearest word of the vocabulary. Far from its label and
   * nearer other words, an embedding cannot find its label among them.
   */
  geometry: Record<string, { cosTrueLabel: number; cosNearestWord: number }>;
}

/** A word search: the `k` nearest candidates of a query, nearest first. */
type Search = (q: Float32Array, k: number) => Neighbors;

/** A visual-prototypes map whose every-word search {@link fullVocabulary} adds. */
export interface FullVocabularyPrototypes {
  /** The row name ("visual prototypes"). */
  name: string;
  map: PrototypeMap;
  /** The target images' features of the map's layer, `n * map.featureDim`. */
  features: Float32Array;
}

/**
 * Full-vocabulary search: for each candidate set (`cfg.candidates`: every word, WordNet nouns,
 * physical objects, the N most frequent), builds or reuses an HNSW index over its
 * (unit-normalised) word vectors, picks ef by recall against exact search, and scores hit@k of
 * every method's embedded images over those words and over those that are not CIFAR-100 labels.
 * With `cfg.imageCslsK`, DeViSE is also scored with a CSLS penalty on each word: its mean cosine
 * to its k nearest training-image embeddings (hub words that are near every image lose). With
 * `extra.prototypes`, every word's predicted visual prototype is indexed too (in the span of the
 * map's prototypes, {@link prototypeSpace}; cached under a checksum of those rows) and searched
 * with the images' features.
 *
 * @example
 * ```ts
 * const full = await fullVocabulary(tf, words, vectorsPath, embedded, set, c100, cfg, run);
 * full.rows[0].hit["20"];
 * ```
 */
export async function fullVocabulary(
  tf: TF,
  words: WordVectors,
  vectorsPath: string,
  embedded: Record<string, Float32Array>,
  set: TargetSet,
  c100: CifarSplit,
  cfg: ZeroShotConfig,
  run: Run,
  extra: { trainEmbedded?: Float32Array; prototypes?: FullVocabularyPrototypes } = {},
): Promise<FullVocabulary> {
  const D = words.dim;
  const normalized = normalizeRows(words.data.slice(), D);
  const vectorsSha = await vectorsChecksum(vectorsPath);
  const trueNames = [...set.labels].map((y) => set.classNames[y]);
  const seen = seenWordSet(c100.labelNames);
  const wantsWordNet = cfg.candidates.some((c) => c === "nouns" || c === "objects");
  const wordnet = wantsWordNet ? await loadWordNet() : undefined;
  const proto = extra.prototypes ? await _prototypeRows(extra.prototypes, words, run) : undefined;
  const hits: FullVocabulary["rows"] = [];
  const candidates: FullVocabulary["candidates"] = {};
  let first: Omit<FullVocabulary, "rows" | "candidates"> | undefined;
  for (const name of cfg.candidates) {
    const ids = name === "all" ? null : candidateRows(words.words, name, wordnet);
    const vocab = ids ? Array.from(ids, (i) => words.words[i]) : words.words;
    const rows: VectorRows = { dim: D, data: ids ? takeRows(normalized, D, ids) : normalized };
    const suffix = name === "all" ? "" : `.${name}`;
    const open = (rows: VectorRows, path: string, source: string, what: string) => {
      const bar = new Progress(`hnsw build (${what})`, rows.data.length / rows.dim, {
        unit: "vec",
        run,
      });
      return openOrBuildIndex(rows, {
        path: indexPathFor(path, { m: cfg.m, efConstruction: cfg.efConstruction }, cfg.indexDir),
        source,
        m: cfg.m,
        efConstruction: cfg.efConstruction,
        onProgress: (done) => bar.tick(done - bar.count),
        log: run.log,
      }).finally(() => bar.done());
    };
    const opened = await open(
      rows,
      `${vectorsPath}${suffix}`,
      `sha256:${vectorsSha}${name === "all" ? "" : `|${name}`}`,
      name,
    );
    const index = opened.index;
    // Each method's queries get their own ef: ConSE's mixtures of label vectors lie among the
    // words and reach the target recall at a smaller ef than DeViSE's embeddings.
    const sweeps = Object.fromEntries(
      Object.entries(embedded).map(([m, e]) => [m, efSweep(index, rows, e, cfg)]),
    );
    const sweep = sweeps.DeViSE;
    const quality = sweep.at(-1)!;
    const ef = quality.ef;
    const searchAt = (index: HnswIndex, ef: number) => (q: Float32Array, k: number) =>
      searchIndex(index, q, k, Math.max(ef, k));
    const search = searchAt(index, ef);
    const penalty = extra.trainEmbedded && cfg.imageCslsK > 0
      ? wordHubness(tf, rows, extra.trainEmbedded, cfg.imageCslsK)
      : undefined;
    // A method: its queries (rows of `dim`) and the search they go through.
    const methods: { method: string; queries: Float32Array; dim: number; search: Search }[] = Object
      .entries(embedded).map(([method, queries]) => ({
        method,
        queries,
        dim: D,
        search: searchAt(index, sweeps[method].at(-1)!.ef),
      }));
    // "DeViSE + CSLS" has no sweep of its own: it searches with DeViSE's queries and ef.
    if (penalty) {
      const queries = embedded.DeViSE, csls = _cslsSearch(search, penalty, cfg.cslsWeight);
      methods.push({ method: "DeViSE + CSLS", queries, dim: D, search: csls });
    }
    // Visual prototypes search their own index: every candidate word's predicted prototype.
    let prototypeIndex: FullVocabulary["candidates"][string]["prototypeIndex"];
    if (proto) {
      const r = proto.dim;
      const pRows: VectorRows = { dim: r, data: ids ? takeRows(proto.words, r, ids) : proto.words };
      const p = await open(
        pRows,
        `${vectorsPath}.prototypes-${proto.sha.slice(0, 12)}${suffix}`,
        `sha256:${proto.sha}${name === "all" ? "" : `|${name}`}`,
        `${name}, ${proto.name}`,
      );
      sweeps[proto.name] = efSweep(p.index, pRows, proto.queries, cfg);
      const at = sweeps[proto.name].at(-1)!.ef;
      methods.push({
        method: proto.name,
        queries: proto.queries,
        dim: r,
        search: searchAt(p.index, at),
      });
      prototypeIndex = {
        dim: r,
        bytes: p.bytes,
        reused: p.reused,
        buildSeconds: p.index.buildSeconds,
      };
      run.log(
        `index (${name}, ${proto.name}): ${vocab.length} predicted prototypes, ${r}-D, ` +
          `${p.bytes} bytes, ${
            p.reused ? "reused" : `built in ${p.index.buildSeconds.toFixed(1)} s`
          }`,
      );
    }
    run.log(
      `index (${name}): ${vocab.length} vectors, M ${cfg.m}, efC ${cfg.efConstruction}, ` +
        `${opened.bytes} bytes, ${
          opened.reused ? "reused" : `built in ${index.buildSeconds.toFixed(1)} s`
        }; recall@10 vs exact on ${quality.queries} image queries: ` +
        Object.entries(sweeps).map(([m, rows]) =>
          `${m}: ` + rows.map((r) =>
            `ef ${r.ef} ${r.recallAt10.toFixed(3)} (${r.queriesPerSecond.toFixed(0)} q/s)`
          ).join(", ") + ` → ef ${rows.at(-1)!.ef}`
        ).join("; "),
    );
    candidates[name] = {
      words: vocab.length,
      ef,
      recallAt10: quality.recallAt10,
      bytes: opened.bytes,
      byMethod: Object.fromEntries(
        Object.entries(sweeps).map(([m, rows]) => [m, rows.at(-1)!]),
      ),
      ...(prototypeIndex ? { prototypeIndex } : {}),
    };
    const ranked: Record<string, string[][]> = {};
    for (const { method, queries, dim, search } of methods) {
      const all: string[][] = [], unseenOnly: string[][] = [];
      for (let i = 0; i < set.labels.length; i++) {
        const q = queries.subarray(i * dim, (i + 1) * dim);
        all.push(topWords(search, vocab, q, cfg.k));
        unseenOnly.push(
          topWords(search, vocab, q, cfg.k, { words: seen, trueLabel: trueNames[i] }),
        );
      }
      ranked[method] = all;
      const label = name === "all" ? method : `${method}, ${name}`;
      hits.push({ model: `${label}, all words`, hit: hitAtK(all, trueNames, _KS) });
      hits.push({ model: `${label}, unseen only`, hit: hitAtK(unseenOnly, trueNames, _KS) });
    }
    if (!first) {
      const geometry = _embeddingGeometry(embedded, D, set, words, search, cfg.seed);
      run.log(
        "where the embeddings lie (mean cosine to the true label / to the nearest word): " +
          Object.entries(geometry).map(([m, g]) =>
            `${m} ${g.cosTrueLabel.toFixed(3)} / ${g.cosNearestWord.toFixed(3)}`
          ).join(", "),
      );
      const pick = new Rng(cfg.seed).permutation(set.labels.length).subarray(0, cfg.showImages);
      const title = `HNSW index (${name}): ${vocab.length} vectors, M ${cfg.m}, efConstruction ` +
        `${cfg.efConstruction}, ${opened.bytes} bytes, ` +
        (opened.reused ? "reused" : `built in ${index.buildSeconds.toFixed(1)} s`);
      first = {
        index: {
          ...quality,
          bytes: opened.bytes,
          reused: opened.reused,
          vectors: vocab.length,
          buildSeconds: index.buildSeconds,
        },
        sweep,
        geometry,
        indexTable: { title, sweep, ef },
        shown: [...pick].map((i) => ({
          image: set.images.subarray(i * 3072, (i + 1) * 3072),
          trueLabel: trueNames[i],
          words: Object.fromEntries(
            Object.entries(ranked).map(([m, r]) => [m, r[i].slice(0, 10)]),
          ),
        })),
      };
    }
  }
  return { rows: hits, candidates, ...first! };
}

// Every word's predicted prototype and every image's feature in the map's prototype span, unit
// rows, and a checksum of the word rows that names and validates their index.
async function _prototypeRows(p: FullVocabularyPrototypes, words: WordVectors, run: Run) {
  const t0 = performance.now();
  const space = prototypeSpace(p.map);
  const data = normalizeRows(prototypeWordRows(p.map, space, words.data), space.rank);
  const queries = normalizeRows(prototypeFeatureRows(p.map, space, p.features), space.rank);
  const sha = await sha256Hex(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  run.log(
    `${p.name}: ${words.words.length} predicted prototypes in their ${space.rank}-D span ` +
      `(features ${p.map.featureDim}-D) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  return { name: p.name, dim: space.rank, words: data, queries, sha };
}

// FullVocabulary.geometry: cosines of unit embeddings to the true label and the top-1 word.
function _embeddingGeometry(
  embedded: Record<string, Float32Array>,
  D: number,
  set: Pick<TargetSet, "labels" | "classNames">,
  words: WordVectors,
  search: (q: Float32Array, k: number) => Neighbors,
  seed: number,
): FullVocabulary["geometry"] {
  const labels = normalizeRows(labelVectors(words, set.classNames).data, D);
  const n = Math.min(1000, set.labels.length);
  const pick = new Rng(seed + 2).permutation(set.labels.length).subarray(0, n);
  const out: FullVocabulary["geometry"] = {};
  for (const [method, e] of Object.entries(embedded)) {
    const unit = normalizeRows(takeRows(e, D, pick), D);
    let toLabel = 0, toWord = 0;
    for (let i = 0; i < n; i++) {
      const q = unit.subarray(i * D, (i + 1) * D), y = set.labels[pick[i]];
      for (let j = 0; j < D; j++) toLabel += q[j] * labels[y * D + j];
      toWord += 1 - search(q, 1).distances[0]; // the index's distance is 1 − cosine
    }
    out[method] = { cosTrueLabel: toLabel / n, cosNearestWord: toWord / n };
  }
  return out;
}

/**
 * Each word's hubness: the mean cosine of its (unit) vector to its `k` nearest embedded images
 * (unit rows of `images`), computed exactly in blocks on the backend.
 *
 * @example
 * ```ts
 * const r = wordHubness(tf, rows, trainEmbedded, 10); // one value per word
 * ```
 */
export function wordHubness(
  tf: TF,
  rows: VectorRows,
  images: Float32Array,
  k: number,
): Float32Array {
  const D = rows.dim, n = rows.data.length / D, m = images.length / D;
  const out = new Float32Array(n);
  const kk = Math.min(k, m);
  tf.tidy(() => {
    const E = tf.tensor2d(normalizeRows(images.slice(), D), [m, D]);
    for (let from = 0; from < n; from += 1024) {
      const to = Math.min(n, from + 1024);
      tf.tidy(() => {
        const W = tf.tensor2d(rows.data.subarray(from * D, to * D), [to - from, D]);
        const top = tf.topk(tf.matMul(W, E, false, true), kk).values;
        out.set(tf.mean(top, 1).dataSync() as Float32Array, from);
      });
    }
  });
  return out;
}

/** A search that reranks the nearest candidates by `2·cos − w·penalty` (CSLS), best first. */
function _cslsSearch(
  search: (q: Float32Array, k: number) => Neighbors,
  penalty: Float32Array,
  weight: number,
) {
  return (q: Float32Array, k: number): Neighbors => {
    const pool = search(q, Math.max(200, 4 * k));
    const scored = pool.ids.map((id, i) => ({
      id,
      score: 2 * (1 - pool.distances[i]) - weight * penalty[id],
    })).sort((a, b) => b.score - a.score).slice(0, k);
    return { ids: scored.map((x) => x.id), distances: scored.map((x) => 1 - x.score) };
  };
}

/**
 * recall@10 against exact search and single-threaded queries/s of sampled image queries, at
 * `cfg.ef`, or (`cfg.ef` 0) at growing ef until recall@10 reaches `cfg.targetRecall`: image
 * embeddings lie off the word vectors' manifold, where HNSW needs a larger ef than word queries.
 *
 * @example
 * ```ts
 * const sweep = efSweep(index, rows, embedded, { ef: 0, targetRecall: 0.95, seed: 1 });
 * sweep.at(-1)!.ef; // the ef that is used
 * ```
 */
export function efSweep(
  index: HnswIndex,
  rows: VectorRows,
  queries: Float32Array,
  cfg: Pick<ZeroShotConfig, "ef" | "targetRecall" | "seed">,
): EfSweepRow[] {
  const D = rows.dim;
  // 1,000 queries (the issue's measure); exact search over 400,000 × 50 takes seconds.
  const n = Math.min(queries.length / D, 1000);
  const pick = new Rng(cfg.seed + 1).permutation(queries.length / D).subarray(0, n);
  const sample = takeRows(queries, D, pick);
  const truth = exactTopKBatch(rows, sample, 10);
  const out: EfSweepRow[] = [];
  for (const ef of cfg.ef > 0 ? [cfg.ef] : _AUTO_EFS) {
    // Median of 3 passes: one pass over 1,000 queries lasts under a second and is noisy.
    const m = measureSearch((q) => searchIndex(index, q, 10, ef).ids, sample, D, truth);
    out.push({ ef, queries: n, recallAt10: m.recall, queriesPerSecond: m.queriesPerSecond });
    if (m.recall >= cfg.targetRecall) break;
  }
  return out;
}
