/**
 * devise: DeViSE (Frome et al., NeurIPS 2013) on CIFAR, in Deno + TensorFlow.js.
 *
 * The pipeline, stage by stage (each a folder under `lib/`):
 *
 * 1. `data`: CIFAR-10/100 binary readers, augmentation, the resumable downloader.
 * 2. `vision`: ResNet-(6n+2) / plain / all-conv models, training with checkpoints, features.
 * 3. `text`: word2vec readers/writers, our skip-gram trainer, label vectors, similarity.
 * 4. `devise`: the hinge rank loss, the linear map M, ranking metrics.
 * 5. `zeroshot`: 10-way CIFAR-10 zero-shot, ConSE, and full-vocabulary HNSW search.
 * 6. `report`: SVG plots and the self-contained HTML/Markdown reports.
 * 7. `pipeline`: the flows behind the tasks (`train`, `zeroshot`, `word2vec`, ...), with the
 *    presets and the typed contract between a train run and the stages that read it.
 *
 * Most users run the tasks (`deno task train`, `deno task zeroshot --vocab full`); the library
 * is for scripts and notebooks.
 *
 * @example
 * ```ts
 * import { hitAtK, loadCifar, readVectors, labelVectors } from "./mod.ts";
 * const test = await loadCifar("../shared/data", "cifar100", "test");
 * const words = await readVectors("data/vectors/skipgram-200.bin");
 * const labels = labelVectors(words, test.labelNames);
 * ```
 * @module
 */

// Shared plumbing
export { type FlagSpec, parseFlags, UsageError } from "./lib/cli/args.ts";
export { type Run, runTask, startRun } from "./lib/cli/run.ts";
export { exitCodeOf, InputError, UnavailableError } from "./lib/io/errors.ts";
export { Progress } from "./lib/cli/progress.ts";
export {
  ArtifactError,
  readArtifact,
  readSidecar,
  type Sidecar,
  writeArtifact,
  writeFileAtomic,
} from "./lib/io/artifact.ts";
export { Rng } from "./lib/io/rng.ts";

// Backends
export { type BackendName, selectBackend, type TF } from "./lib/backend/select.ts";
export { probeTensorflowBackend, setupLibtensorflow } from "./lib/backend/libtensorflow.ts";
export { useNativeBatchNorm, useNativeReluGrad } from "./lib/backend/native_grads.ts";

// 1. Data
export {
  channelStats,
  type CifarDataset,
  type CifarSplit,
  loadCifar,
  resolveDataDir,
} from "./lib/data/cifar.ts";
export { batchIndices, normalizeBatch } from "./lib/data/augment.ts";
export { downloadFile, extractTarGz } from "./lib/data/download.ts";

// 2. Vision
export { buildModel, type FeatureLayer, type ModelSpec } from "./lib/vision/models.ts";
export { type TrainConfig, trainVision, withoutClasses } from "./lib/vision/train.ts";
export { modelFromCheckpoint, resolveCheckpoint } from "./lib/vision/checkpoint.ts";
export { extractFeatures, readFeatures, writeFeatures } from "./lib/vision/extract.ts";
export { foldBatchNorm, type FoldedModel } from "./lib/vision/folded.ts";

// 3. Text
export { makeWordVectors, vectorOf, type WordVectors } from "./lib/text/vectors.ts";
export {
  readVectors,
  readWord2vecBinary,
  readWord2vecText,
  writeWord2vecBinary,
  writeWord2vecText,
} from "./lib/text/word2vec_io.ts";
export { labelEquivalents, labelVectors } from "./lib/text/labels.ts";
export { PRETRAINED_VECTORS, resolvePretrainedVectors } from "./lib/text/pretrained.ts";
export { retrofitFile, trainOrReuseSkipgram } from "./lib/text/trained_vectors.ts";
export { trainSkipGram } from "./lib/text/skipgram.ts";
export { evaluateSimilarity, nearest, spearman } from "./lib/text/similarity.ts";

// 4. DeViSE
export { deviseLossRef, deviseLossTf, type LossKind } from "./lib/devise/loss.ts";
export {
  type DeviseConfig,
  type DeviseModel,
  embed,
  embedRows,
  loadDeviseModel,
  predictScores,
  saveDeviseModel,
  trainDevise,
} from "./lib/devise/train.ts";
export {
  hierarchicalPrecisionAtK,
  hitAtK,
  type ResultRow,
  resultRow,
  superclassErrorRate,
  topK,
} from "./lib/devise/metrics.ts";

// Own images (predict, zeroshot --images, search)
export { ImageError, loadImage, type LoadImageOptions } from "./lib/images/decode.ts";
export { type NativeImageDecoder, tensorflowImageDecoder } from "./lib/images/native.ts";
export {
  expandImageInputs,
  type ImageItem,
  loadImagesStreaming,
  writeImageFolder,
} from "./lib/images/folder.ts";

// 6. Report
export { writeReport } from "./lib/report/report.ts";
export { barChartSvg, heatmapSvg, lineChartSvg } from "./lib/report/svg.ts";

// 7. The pipeline behind the tasks
export { runTrainPipeline, train } from "./lib/pipeline/train.ts";
export { PRESETS, resolveTrainSettings, type TrainSettings } from "./lib/pipeline/presets.ts";
export { latestTrainRun, readTrainRun, type TrainRunMetrics } from "./lib/pipeline/runs.ts";
export { resolveVectors } from "./lib/pipeline/vectors.ts";
export { runZeroShot, zeroshot, type ZeroShotMetrics } from "./lib/pipeline/zeroshot.ts";
export { fitVisualPrototypes, visualPrototypes } from "./lib/pipeline/visual_prototypes.ts";
export {
  fitLabelExpansion,
  type LabelExpansionFit,
  labelExpansionSeedMaps,
  meanOfMaps,
} from "./lib/pipeline/label_expansion.ts";

// 5. Zero-shot
export {
  buildIndex,
  type HnswIndex,
  openOrBuildIndex,
  searchIndex,
  VOCAB_INDEX_PARAMS,
  writeIndex,
} from "./lib/zeroshot/index.ts";
export { exactTopK, recallAtK } from "./lib/zeroshot/exact.ts";
export {
  classificationReport,
  conseEmbed,
  cslsPenalty,
  ensembleArgmax,
  nearestLabel,
  standardizedRows,
} from "./lib/zeroshot/eval.ts";
export { selfTrainedArgmax } from "./lib/zeroshot/self_training.ts";
export {
  type LabelCentroid,
  labelCentroid,
  meanCosineTo,
  withLabelCentroid,
} from "./lib/zeroshot/centroid.ts";
export {
  deviseMapName,
  expandedLabelVectors,
  labelExpansionChoiceName,
  labelExpansionName,
  labelNeighbours,
  type LabelWeight,
} from "./lib/zeroshot/label_expansion.ts";
export { labelMappingCeiling, softmaxReadoutCeiling } from "./lib/zeroshot/ceiling.ts";
export {
  classMeans,
  fitPrototypeMap,
  predictPrototypes,
  prototypeFeatureRows,
  prototypeScores,
  prototypeSpace,
  prototypeWordRows,
  ridgeLambdaByHeldOutClasses,
  withinClassWhitening,
} from "./lib/zeroshot/prototypes.ts";
export { hitAtK as vocabularyHitAtK, isHit, topWords } from "./lib/zeroshot/vocab.ts";
export {
  calibrationGamma,
  chooseUnseen,
  generalizedZeroShot,
  seenUnseenCurve,
  unseenBoost,
} from "./lib/zeroshot/gzsl.ts";
