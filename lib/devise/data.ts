/**
 * DeViSE inputs from the other stages' artifacts: visual features written by
 * `lib/vision/extract.ts` (`<dir>/<dataset>-<split>.<kind>.f32`, no labels inside), the labels
 * from the CIFAR records they were extracted from (same record order), and unit label vectors
 * looked up in a word2vec file with `lib/text/labels.ts`.
 *
 * @example
 * ```ts
 * const labels = await loadCifarLabels("/work/shared/data", "cifar100", "train");
 * const train = await loadDeviseSplit("data/features", labels, "gap");
 * const T = await loadLabelVectors("data/vectors/w2v.bin", labels.labelNames); // C×D unit rows
 * ```
 * @module
 */
import { ArtifactError } from "../io/artifact.ts";
import { exists } from "../io/fs.ts";
import {
  type CifarDataset,
  type CifarSplit,
  type CifarSplitName,
  loadCifar,
} from "../data/cifar.ts";
import { type LabelMapping, labelVectors } from "../text/labels.ts";
import { readVectors } from "../text/word2vec_io.ts";
import { featurePath, readFeatures } from "../vision/extract.ts";

/** A CIFAR split without its pixels: what DeViSE needs to label extracted features. */
export type CifarLabels = Omit<CifarSplit, "images">;

/** One split of extracted features with the labels of its records. */
export interface DeviseSplit {
  /** n×d row-major. */
  features: Float32Array;
  n: number;
  d: number;
  /** The feature kind read (`gap`, `act`, `bn`, `logits`, `probs`). */
  kind: string;
  /** The labels (and names) of the CIFAR records the features were extracted from. */
  data: CifarLabels;
  /** The features file read. */
  path: string;
  /** sha256 of the features file (from its validated sidecar). */
  sha256: string;
}

/** Label vectors for a list of class names. */
export interface DeviseLabelVectors {
  /** C×D row-major, unit rows. */
  T: Float32Array;
  dims: number;
  /** How each class name found its vector (exact, phrase, case, mean-of-parts). */
  rules: LabelMapping[];
  /** The vectors file read. */
  path: string;
}

/**
 * Loads a CIFAR split's labels, label names and checksum, dropping the pixels so they can be
 * freed (features replace them).
 *
 * @example
 * ```ts
 * const test = await loadCifarLabels("/work/shared/data", "cifar100", "test");
 * test.labels.length; // 10000
 * ```
 */
export async function loadCifarLabels(
  dataDir: string,
  dataset: CifarDataset,
  split: CifarSplitName,
): Promise<CifarLabels> {
  const { images: _images, ...rest } = await loadCifar(dataDir, dataset, split);
  return rest;
}

/**
 * Path of a split's features for `kind` (a layer, `logits` or `probs`), see `featurePath`.
 *
 * @example
 * ```ts
 * deviseFeaturePath("data/features", labels, "gap"); // data/features/cifar100-train.gap.f32
 * ```
 */
export function deviseFeaturePath(dir: string, data: CifarLabels, kind: string): string {
  return featurePath(dir, data.dataset, data.split, kind);
}

/**
 * Reads `kind` features of `data`'s split from a features folder and checks they belong to those
 * records: one row per record, sidecar dataset/split matching, and (when the sidecar records it)
 * the same dataset checksum.
 *
 * @example
 * ```ts
 * const test = await loadDeviseSplit("data/features", testLabels, "act");
 * test.d; // 4096
 * ```
 */
export async function loadDeviseSplit(
  dir: string,
  data: CifarLabels,
  kind: string,
): Promise<DeviseSplit> {
  const path = deviseFeaturePath(dir, data, kind);
  if (!await exists(path)) {
    throw new ArtifactError(
      `${path}: features not found (run \`deno task extract --layers ${kind}\` first?)`,
    );
  }
  const { data: features, shape, sidecar } = await readFeatures(path);
  const [n, d] = shape;
  for (const key of ["dataset", "split"] as const) {
    if (sidecar[key] !== undefined && sidecar[key] !== data[key]) {
      throw new Error(
        `${path}.json: ${key} is '${sidecar[key]}', expected '${data[key]}' for this file name`,
      );
    }
  }
  if (n !== data.count) {
    throw new Error(
      `${path}: ${n} feature rows but ${data.dataset} ${data.split} has ${data.count} records ` +
        `(features from another data folder?)`,
    );
  }
  const sources = sidecar.sources as Record<string, unknown> | undefined;
  if (typeof sources?.dataset === "string" && sources.dataset !== data.sha256) {
    throw new Error(
      `${path}.json: extracted from dataset sha256 ${sources.dataset.slice(0, 12)}… but the ` +
        `${data.dataset} ${data.split} records read have ${data.sha256.slice(0, 12)}… ` +
        `(labels would not line up; check --data-dir)`,
    );
  }
  return { features, n, d, kind, data, path, sha256: sidecar.sha256 ?? "" };
}

/**
 * Reads word vectors (word2vec binary or text, gzip or not) and returns unit label vectors for
 * `names` in order. Throws naming every label with no vector (rather than training on zero rows).
 *
 * @example
 * ```ts
 * const { T, dims, rules } = await loadLabelVectors("vectors.txt", ["apple", "maple_tree"]);
 * rules[1].rule; // "mean-of-parts" when only "maple" and "tree" are in the file
 * ```
 */
export async function loadLabelVectors(
  path: string,
  names: string[],
): Promise<DeviseLabelVectors> {
  const v = await readVectors(path);
  const { data, rules, missing } = labelVectors(v, names);
  if (missing.length) {
    const shown = missing.length > 20 ? [...missing.slice(0, 20), "…"] : missing;
    throw new Error(
      `${path}: no word vector for ${missing.length} of ${names.length} labels: ${
        shown.join(", ")
      }`,
    );
  }
  return { T: data, dims: v.dim, rules, path };
}

/**
 * The softmax baseline's test probabilities (`<dir>/<dataset>-<split>.probs.f32`), or null when
 * the file is absent. Checks rows against the records and columns against the class names.
 *
 * @example
 * ```ts
 * const probs = await loadSoftmaxScores("data/features", testLabels); // n×C or null
 * ```
 */
export async function loadSoftmaxScores(
  dir: string,
  data: CifarLabels,
): Promise<DeviseSplit | null> {
  if (!await exists(deviseFeaturePath(dir, data, "probs"))) return null;
  const split = await loadDeviseSplit(dir, data, "probs");
  if (split.d !== data.labelNames.length) {
    throw new Error(
      `${split.path}: ${split.d} columns but ${data.dataset} has ${data.labelNames.length} classes`,
    );
  }
  return split;
}
