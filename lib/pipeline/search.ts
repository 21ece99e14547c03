/**
 * `deno task search WORD...`, top to bottom: the other direction of zero-shot — type a word, get
 * the images whose DeViSE embeddings lie nearest to its vector.
 *
 * 1. each word's vector (the label rules: exact, phrase, case, mean of parts), checked before any
 *    image is touched: a word without a vector is named and skipped;
 * 2. the image set (CIFAR-10 test, CIFAR-100 test, or a folder of the user's images) through the
 *    train run's model, embedded by M; the embeddings are cached as an artifact;
 * 3. an HNSW index over the embeddings (built once, reused), searched for each word's k nearest;
 * 4. with CIFAR-100 in the data folder, the same for visual prototypes: each word's prototype,
 *    ridge-regressed from its vector into the layer's feature space, and the images whose
 *    (centred) features are nearest to it (exact search, in the prototypes' span);
 * 5. a grid per word and method in the report, JSON on stdout, and, for labelled images, the
 *    share of the top k whose class is the word's class (the class whose name's vector is nearest
 *    to the word).
 *
 * ```sh
 * deno task search cat boat --images cifar10 --data-dir ../shared/data
 * deno task search "hot air balloon" --images my-photos/
 * ```
 * @module
 */
import { startRunOnBackend } from "./task_run.ts";
import { join } from "node:path";
import { type BackendName } from "../backend/select.ts";
import { loadCifar } from "../data/cifar.ts";
import {
  DEVISE_MODEL_FORMAT,
  DEVISE_MODEL_VERSION,
  embed,
  loadDeviseModel,
} from "../devise/train.ts";
import { loadDeviseSplit } from "../devise/data.ts";
import {
  artifactIsCurrent,
  readArtifact,
  readSidecar,
  sha256Hex,
  writeArtifact,
} from "../io/artifact.ts";
import { InputError } from "../io/errors.ts";
import { expandImageInputs } from "../images/folder.ts";
import { writeReport } from "../report/report.ts";
import type { GridItem } from "../report/image_grid.ts";
import { labelVectors } from "../text/labels.ts";
import { normalizeRows } from "../text/vectors.ts";
import { readVectors } from "../text/word2vec_io.ts";
import { indexPathFor, openOrBuildIndex, searchIndex } from "../zeroshot/index.ts";
import { nearestLabel } from "../zeroshot/eval.ts";
import { exactTopK } from "../zeroshot/exact.ts";
import { prototypeFeatureRows, prototypeSpace, prototypeWordRows } from "../zeroshot/prototypes.ts";
import type { WordVectors } from "../text/vectors.ts";
import type { Run } from "../cli/run.ts";
import { runPrototypeMap } from "./visual_prototypes.ts";
import type { FeatureLayer } from "../vision/models.ts";
import type { ImageFit } from "../images/decode.ts";
import { imageFeatures, openVisualModel } from "./image_features.ts";
import type { PresetName } from "./presets.ts";
import { latestTrainRun, readTrainRun } from "./runs.ts";

/** What `deno task search` is asked to do. */
export interface SearchRequest {
  words: string[];
  /** `cifar10`, `cifar100-test`, or a folder (plain or ImageFolder) of images. */
  images: string;
  from: string;
  preset?: PresetName;
  layer?: FeatureLayer;
  k: number;
  fit: ImageFit;
  dataDir: string;
  /** Also search with visual prototypes (needs CIFAR-100 under `dataDir`). */
  prototypes: boolean;
  indexDir: string;
  cacheDir: string;
  backend: BackendName;
  out: string;
  json: boolean;
  quiet: boolean;
}

/** One hit: an image and its cosine to the word. */
export interface ImageHit {
  /** The image's file, or `<set>#<row>` for CIFAR. */
  image: string;
  /** Its class, when the set is labelled. */
  label?: string;
  cosine: number;
}

/** What `search` found for one word. */
export interface WordSearch {
  word: string;
  /** How the word found its vector (exact, phrase, case, mean-of-parts). */
  rule: string;
  hits: ImageHit[];
  /** The class the word stands for (nearest class name) and the share of hits of that class. */
  wordClass?: string;
  precision?: number;
  /** The visual prototypes' nearest images, and their share of `wordClass`. */
  prototypes?: { hits: ImageHit[]; precision?: number };
}

/** Sidecar format of cached image embeddings (n×D float32). */
export const EMBEDDINGS_FORMAT = "devise-image-embeddings";
/** Its version. */
export const EMBEDDINGS_VERSION = 1;

/**
 * The whole of `deno task search` (see the module doc).
 *
 * @example
 * ```ts
 * const found = await search({ words: ["cat"], images: "cifar10", from: "", k: 16, fit: "crop",
 *   dataDir: "../shared/data", prototypes: true, indexDir: "data/index", cacheDir: "data/cache/images",
 *   backend: "auto", out: "", json: true, quiet: false });
 * found[0].precision; // share of the 16 that are cats
 * ```
 */
export async function search(request: SearchRequest): Promise<WordSearch[]> {
  // 1. Words first: a word without a vector is named before any image is read.
  const trained = await readTrainRun(request.from || await latestTrainRun(request.preset));
  const layer = request.layer ?? trained.metrics.layers.at(-1)!;
  const words = await readVectors(trained.metrics.vectors.path);
  const D = words.dim;
  const queries = labelVectors(words, request.words);
  if (queries.missing.length === request.words.length) {
    throw new InputError(`no word vector for ${request.words.join(", ")}`);
  }
  const { out: _o, json, quiet: _q, backend: _b, preset: _p, ...settings } = request;
  const { run, tf } = await startRunOnBackend("search", request, {
    ...settings,
    from: trained.dir,
    layer,
  }, { allowSlow: true });
  if (queries.missing.length) run.log(`no word vector (skipped): ${queries.missing.join(", ")}`);

  // 2. The images, through the model and M (cached).
  const set = await _imageSet(tf, request, trained, layer, run);
  const modelPath = trained.metrics.deviseModels[layer]!;
  const model = await loadDeviseModel(modelPath);
  const modelKey = String(
    (await readSidecar(modelPath, DEVISE_MODEL_FORMAT, DEVISE_MODEL_VERSION)).sha256,
  );
  const key = (await sha256Hex(new TextEncoder().encode(JSON.stringify({
    model: modelKey,
    features: set.featuresKey,
  })))).slice(0, 16);
  const embPath = join(request.cacheDir, `embeddings-${key}.f32`);
  const sources = { model: modelKey, features: set.featuresKey };
  let embedded: Float32Array;
  if (await artifactIsCurrent(embPath, EMBEDDINGS_FORMAT, EMBEDDINGS_VERSION, sources)) {
    const { data } = await readArtifact(embPath, EMBEDDINGS_FORMAT, EMBEDDINGS_VERSION);
    embedded = new Float32Array(data.slice().buffer);
    run.log(`reusing ${embPath} (${set.count} image embeddings)`);
  } else {
    embedded = normalizeRows(embed(tf, model, set.features), D);
    await writeArtifact(embPath, new Uint8Array(embedded.buffer), {
      format: EMBEDDINGS_FORMAT,
      version: EMBEDDINGS_VERSION,
      shape: [set.count, D],
      sources,
    });
  }
  const side = await readArtifact(embPath, EMBEDDINGS_FORMAT, EMBEDDINGS_VERSION);

  // 3. The index over the images, and each word's nearest.
  const opened = await openOrBuildIndex({ dim: D, data: embedded }, {
    path: indexPathFor(`images-${key}`, { m: 16, efConstruction: 200 }, request.indexDir),
    source: `sha256:${side.sidecar.sha256}`,
    m: 16,
    efConstruction: 200,
    log: run.log,
  });
  const classVectors = set.classes ? labelVectors(words, set.classes) : null;
  const prototypes = request.prototypes
    ? await _prototypeSearch(trained, layer, words, set, request, run)
    : undefined;
  const hitOf = (id: number, cosine: number): ImageHit => ({
    image: set.names[id],
    ...(set.labels && set.classes ? { label: set.classes[set.labels[id]] } : {}),
    cosine,
  });
  const share = (hits: ImageHit[], c?: string) =>
    hits.filter((h) => h.label === c).length / hits.length;
  const results: WordSearch[] = [];
  request.words.forEach((word, w) => {
    const rule = queries.rules[w];
    if (rule.rule === "missing") return;
    const q = queries.data.subarray(w * D, (w + 1) * D);
    const r = searchIndex(opened.index, q, request.k, Math.max(200, request.k));
    const hits = r.ids.map((id, i) => hitOf(id, 1 - r.distances[i]));
    const found: WordSearch = { word, rule: rule.rule, hits };
    if (classVectors && set.classes) {
      const c = nearestLabel(q, D, classVectors.data)[0];
      found.wordClass = set.classes[c];
      found.precision = share(hits, found.wordClass);
    }
    if (prototypes) {
      const p = prototypes(q, request.k);
      const pHits = p.ids.map((id, i) => hitOf(id, 1 - p.distances[i]));
      found.prototypes = {
        hits: pHits,
        ...(found.wordClass !== undefined ? { precision: share(pHits, found.wordClass) } : {}),
      };
    }
    results.push(found);
    if (json) console.log(JSON.stringify(found));
    const line = (method: string, hits: ImageHit[], precision?: number) =>
      `${word} (${method}): ${hits.length} nearest images` +
      (precision !== undefined
        ? `, ${(100 * precision).toFixed(0)}% of them ${found.wordClass}`
        : "") +
      ` (cosine ${hits[0]?.cosine.toFixed(3)} … ${hits.at(-1)?.cosine.toFixed(3)})`;
    run.log(line("DeViSE", hits, found.precision));
    if (found.prototypes) {
      run.log(line("visual prototypes", found.prototypes.hits, found.prototypes.precision));
    }
  });

  // 4. The report: a grid per word.
  const row = (name: string) => set.names.indexOf(name);
  const report = await writeReport(run.dir, {
    title: `Search: ${results.map((r) => r.word).join(", ")} in ${set.name}`,
    config: run.config,
    sections: results.flatMap((r) =>
      [
        ["DeViSE", r.hits, r.precision] as const,
        ...(r.prototypes
          ? [["visual prototypes", r.prototypes.hits, r.prototypes.precision] as const]
          : []),
      ].map(([method, hits, precision]) => ({
        heading: `${r.word} (${method})` +
          (precision !== undefined
            ? ` — ${(100 * precision).toFixed(0)}% of the top ${hits.length} are ${r.wordClass}`
            : ""),
        blocks: [{
          kind: "grid" as const,
          items: hits.map((h): GridItem => {
            const i = row(h.image);
            return {
              image: set.images.subarray(i * 3072, (i + 1) * 3072),
              trueLabel: h.label ?? "",
              caption: `${h.label ?? h.image.split("/").at(-1)} · ${h.cosine.toFixed(3)}`,
              predictions: {},
            };
          }),
        }],
      }))
    ),
  });
  run.log(`report: ${report.html}`);
  await run.finish({ images: set.count, imageSet: set.name, results, report: report.html }, false);
  return results;
}

// Word → images by visual prototypes: the word's predicted prototype against every image's
// centred feature, exactly (a few thousand images), in the prototypes' span. Undefined (logged)
// without CIFAR-100.
async function _prototypeSearch(
  trained: Awaited<ReturnType<typeof readTrainRun>>,
  layer: FeatureLayer,
  words: WordVectors,
  set: _ImageSet,
  request: SearchRequest,
  run: Run,
) {
  const map = await runPrototypeMap(trained, layer, words, request.dataDir, run);
  if (!map) return undefined;
  const space = prototypeSpace(map);
  const images = {
    dim: space.rank,
    data: normalizeRows(prototypeFeatureRows(map, space, set.features), space.rank),
  };
  return (wordVector: Float32Array, k: number) =>
    exactTopK(images, prototypeWordRows(map, space, wordVector), k);
}

/** An image set: names, thumbnails, labels when known, and the layer's features. */
interface _ImageSet {
  name: string;
  count: number;
  names: string[];
  images: Uint8Array;
  labels?: Int32Array;
  classes?: string[];
  features: Float32Array;
  /** What the features are known by (a file checksum, or the folder's cache key). */
  featuresKey: string;
}

async function _imageSet(
  tf: Parameters<typeof imageFeatures>[0],
  request: SearchRequest,
  trained: Awaited<ReturnType<typeof readTrainRun>>,
  layer: FeatureLayer,
  run: Parameters<typeof imageFeatures>[3]["run"],
): Promise<_ImageSet> {
  if (request.images === "cifar10" || request.images === "cifar100-test") {
    const dataset = request.images === "cifar10" ? "cifar10" : "cifar100";
    const split = await loadCifar(request.dataDir, dataset, "test");
    const feats = await loadDeviseSplit(trained.metrics.featureDir, split, layer);
    return {
      name: `${dataset === "cifar10" ? "CIFAR-10" : "CIFAR-100"} test`,
      count: split.count,
      names: Array.from({ length: split.count }, (_, i) => `${dataset}-test#${i}`),
      images: split.images,
      labels: split.labels,
      classes: split.labelNames,
      features: feats.features,
      featuresKey: feats.sha256,
    };
  }
  const inputs = await expandImageInputs([request.images]);
  const visual = await openVisualModel(tf, trained);
  const set = await imageFeatures(tf, visual, inputs, {
    layer,
    fit: request.fit,
    cacheDir: request.cacheDir,
    run,
  });
  visual.model.dispose();
  for (const p of set.problems) run?.log(`skipped ${p.message}`);
  if (!set.count) throw new InputError(`${request.images}: no readable images`);
  return {
    name: request.images,
    count: set.count,
    names: set.items.map((i) => i.path),
    images: set.images,
    ...(set.classes
      ? { labels: Int32Array.from(set.items, (i) => i.label ?? -1), classes: set.classes }
      : {}),
    features: set.features,
    featuresKey: `images:${
      (await sha256Hex(
        new Uint8Array(set.features.buffer, set.features.byteOffset, set.features.byteLength),
      )).slice(0, 32)
    }`,
  };
}
