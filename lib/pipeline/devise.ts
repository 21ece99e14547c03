/**
 * `deno task devise`, top to bottom: the DeViSE map M trained on features written by
 * `deno task extract` (`<features>/cifar100-{train,test}.<layer>.f32`, labels from the CIFAR
 * records they came from), evaluated on the test split next to the softmax baseline (when
 * `cifar100-test.probs.f32` exists); the model and a report are saved. With `ablate`, a
 * one-factor-at-a-time grid (layer, vectors, loss, dropout) instead, written as
 * `ablation.md` / `ablation.json`.
 *
 * ```sh
 * deno task devise --features data/features --data-dir ../shared/data --vectors data/vectors/w2v.bin
 * deno task devise --features F --vectors a.bin --ablate layer,loss --layers gap,act
 * ```
 * @module
 */
import { startRunOnBackend } from "./task_run.ts";
import { type BackendName, type TF } from "../backend/select.ts";
import { type Run } from "../cli/run.ts";
import { UsageError } from "../io/errors.ts";
import { exists } from "../io/fs.ts";
import {
  type AblationFactor,
  type AblationSetting,
  runAblation,
  writeAblation,
} from "../devise/ablate.ts";
import {
  type CifarLabels,
  deviseFeaturePath,
  type DeviseLabelVectors,
  type DeviseSplit,
  loadCifarLabels,
  loadDeviseSplit,
  loadLabelVectors,
  loadSoftmaxScores,
} from "../devise/data.ts";
import { LOSS_KINDS } from "../devise/loss.ts";
import { fineToCoarseMap, type ResultRow, resultRow } from "../devise/metrics.ts";
import {
  type DeviseConfig,
  evaluateDevise,
  saveDeviseModel,
  trainDevise,
} from "../devise/train.ts";
import { featurePath } from "../vision/extract.ts";
import { writeDeviseReport } from "../report/devise_report.ts";
import { median } from "../io/stats.ts";
import type { FeatureLayer } from "../vision/models.ts";
import { resolveVectors } from "./vectors.ts";

/** What `deno task devise` is asked to do. */
export interface DeviseRequest {
  /** Features folder written by `deno task extract`. */
  features: string;
  dataDir: string;
  layer: FeatureLayer;
  /** Layers compared by `ablate: ["layer"]` (missing ones are skipped with a note). */
  layers: FeatureLayer[];
  /** Word vectors (anything `--vectors` takes). */
  vectors: string;
  /** More vectors compared by `ablate: ["vectors"]`. */
  ablateVectors: string[];
  config: DeviseConfig;
  /** Rates compared by `ablate: ["dropout"]`. */
  dropouts: number[];
  ablate: AblationFactor[];
  backend: BackendName;
  out: string;
  json: boolean;
  quiet: boolean;
}

/**
 * The whole of `deno task devise` (see the module doc).
 *
 * @example
 * ```ts
 * await devise({ features: "data/features", dataDir: "../shared/data", layer: "act",
 *   layers: ["act"], vectors: "data/vectors/skipgram-100.bin", ablateVectors: [],
 *   config: { ...DEFAULT_DEVISE_CONFIG, epochs: 10 }, dropouts: [0], ablate: [],
 *   backend: "auto", out: "", json: false, quiet: false });
 * ```
 */
export async function devise(request: DeviseRequest): Promise<Record<string, unknown>> {
  if (request.ablate.includes("vectors") && request.ablateVectors.length === 0) {
    throw new UsageError("--ablate vectors needs --ablate-vectors a.bin,b.txt to compare");
  }
  const path = featurePath(request.features, "cifar100", "train", request.layer);
  if (!request.ablate.includes("layer") && !await exists(path)) {
    throw new UsageError(
      `--features ${request.features}: no ${path} (run \`deno task extract --layer ` +
        `${request.layer}\` first?)`,
    );
  }
  const { backend: _b, out: _o, json, quiet: _q, ...settings } = request;
  const { run, tf, backend } = await startRunOnBackend("devise", request, settings, {
    allowSlow: true,
  });
  const metrics = await runDevise(tf, request, run);
  await run.finish({ backend, ...metrics }, json);
  return metrics;
}

/** Trains and evaluates (or ablates) DeViSE into an open run; returns its metrics. */
export async function runDevise(
  tf: TF,
  request: DeviseRequest,
  run: Run,
): Promise<Record<string, unknown>> {
  const trainLabels = await loadCifarLabels(request.dataDir, "cifar100", "train");
  const testLabels = await loadCifarLabels(request.dataDir, "cifar100", "test");
  const fineToCoarse = trainLabels.coarseLabels
    ? fineToCoarseMap(trainLabels.labels, trainLabels.coarseLabels, trainLabels.labelNames.length)
    : null;
  const ctx: _Context = {
    tf,
    request,
    run,
    data: new _Inputs(request, trainLabels, testLabels, run),
    fineToCoarse,
  };
  const softmax = await loadSoftmaxScores(request.features, testLabels);
  const softmaxRow = softmax
    ? resultRow(
      "softmax (visual model)",
      softmax.features,
      testLabels.labels,
      trainLabels.labelNames.length,
      fineToCoarse,
    )
    : null;
  if (!softmaxRow) {
    run.log(`no ${deviseFeaturePath(request.features, testLabels, "probs")}: no softmax baseline`);
  }
  const base: AblationSetting = {
    layer: request.layer,
    vectors: request.vectors,
    loss: request.config.loss,
    dropout: request.config.dropout,
  };
  return request.ablate.length
    ? await _ablate(ctx, base, softmaxRow)
    : await _trainAndReport(ctx, base, softmaxRow);
}

interface _Context {
  tf: TF;
  request: DeviseRequest;
  run: Run;
  data: _Inputs;
  fineToCoarse: Int32Array | null;
}

/** Trains M for one setting and scores it on the test split. */
async function _trainOne(ctx: _Context, setting: AblationSetting) {
  const { data, run } = ctx;
  const { train, test } = await data.layer(setting.layer);
  const vectors = await data.vectors(setting.vectors);
  const t0 = performance.now();
  const result = await trainDevise(ctx.tf, {
    ...ctx.request.config,
    loss: setting.loss,
    dropout: setting.dropout,
    trainFeatures: train.features,
    trainLabels: data.trainLabels.labels,
    testFeatures: test.features,
    testLabels: data.testLabels.labels,
    labelVectors: vectors.T,
    dims: vectors.dims,
    onEpoch: (s) =>
      run.log(
        `epoch ${s.epoch}: train loss ${s.trainLoss.toFixed(4)} hit@1 ${
          s.trainHit1.toFixed(3)
        } | test loss ${s.testLoss.toFixed(4)} hit@1 ${s.testHit1.toFixed(3)} (${
          s.seconds.toFixed(1)
        } s)`,
      ),
  });
  const seconds = (performance.now() - t0) / 1000;
  const labels = data.testLabels.labels;
  const { scores } = evaluateDevise(ctx.tf, result.model, test.features, labels, vectors.T);
  const row = resultRow(
    `DeViSE (${setting.layer}, ${setting.loss})`,
    scores,
    labels,
    data.trainLabels.labelNames.length,
    ctx.fineToCoarse,
  );
  return { result, row, seconds, train, vectors };
}

/** The one-factor-at-a-time grid: ablation.md / ablation.json. */
async function _ablate(
  ctx: _Context,
  base: AblationSetting,
  softmaxRow: ResultRow | null,
): Promise<Record<string, unknown>> {
  const { request, run, data } = ctx;
  const notes: string[] = [];
  const layers: string[] = [];
  for (const layer of request.ablate.includes("layer") ? request.layers : []) {
    const paths = [data.trainLabels, data.testLabels].map((d) =>
      deviseFeaturePath(request.features, d, layer)
    );
    const missing = [];
    for (const p of paths) if (!await exists(p)) missing.push(p);
    if (missing.length) {
      notes.push(`layer ${layer} skipped: ${missing.join(", ")} not found`);
      run.log(`note: ${notes.at(-1)}`);
    } else layers.push(layer);
  }
  if (softmaxRow) {
    const pct = (x: number | undefined) => `${((x ?? NaN) * 100).toFixed(1)}%`;
    notes.push(
      `softmax baseline (same visual model): hit@1 ${pct(softmaxRow.hit["1"])}, hit@5 ${
        pct(softmaxRow.hit["5"])
      }, superclass-consistent errors ${pct(softmaxRow.superclassErrorRate)}`,
    );
  }
  const result = await runAblation({
    factors: request.ablate,
    base,
    values: {
      layer: layers,
      vectors: [...new Set([request.vectors, ...request.ablateVectors])],
      loss: [...LOSS_KINDS],
      dropout: request.dropouts,
    },
    log: run.log,
    runOne: async (setting) => {
      const { row, seconds } = await _trainOne(ctx, setting);
      return { ...row, seconds };
    },
  });
  const paths = await writeAblation(run.dir, result, base, notes);
  run.log(`wrote ${paths.markdown}`);
  return { ablation: result.rows, base, softmax: softmaxRow, notes };
}

/** One setting: the model, its report and its metrics. */
async function _trainAndReport(
  ctx: _Context,
  base: AblationSetting,
  softmaxRow: ResultRow | null,
): Promise<Record<string, unknown>> {
  const { run, data, request } = ctx;
  const { result, row, train, vectors } = await _trainOne(ctx, base);
  const modelPath = `${run.dir}/model.f32`;
  await saveDeviseModel(modelPath, result.model, {
    features: train.sha256,
    dataset: data.trainLabels.sha256,
    vectors: vectors.path,
  });
  const results: ResultRow[] = [...(softmaxRow ? [softmaxRow] : []), row];
  await writeDeviseReport(run.dir, {
    config: run.config,
    results,
    curve: result.curves,
    softmaxMissing: softmaxRow
      ? undefined
      : deviseFeaturePath(request.features, data.testLabels, "probs"),
  });
  run.log(
    `test hit@1 ${(row.hit["1"] * 100).toFixed(1)}%, hit@5 ${(row.hit["5"] * 100).toFixed(1)}%` +
      (softmaxRow ? ` (softmax hit@1 ${(softmaxRow.hit["1"] * 100).toFixed(1)}%)` : ""),
  );
  return {
    ...row,
    softmax: softmaxRow,
    results,
    model: modelPath,
    curves: result.curves,
    labelRules: vectors.rules.filter((r) => r.rule !== "exact"),
    epochSecondsMedian: median(result.epochSeconds),
  };
}

/** Features (one layer in memory at a time) and label vectors, loaded on first use. */
class _Inputs {
  // act/bn train features are 50000×4096 floats (800 MB): keep one layer at a time.
  #layer: { layer: string; train: DeviseSplit; test: DeviseSplit } | null = null;
  #vectors = new Map<string, DeviseLabelVectors>();

  constructor(
    readonly request: DeviseRequest,
    readonly trainLabels: CifarLabels,
    readonly testLabels: CifarLabels,
    readonly run: Run,
  ) {}

  async layer(layer: string): Promise<{ train: DeviseSplit; test: DeviseSplit }> {
    if (this.#layer?.layer !== layer) {
      this.#layer = null;
      const train = await loadDeviseSplit(this.request.features, this.trainLabels, layer);
      const test = await loadDeviseSplit(this.request.features, this.testLabels, layer);
      if (train.d !== test.d) {
        throw new Error(`${train.path} has ${train.d} columns but ${test.path} has ${test.d}`);
      }
      this.run.log(`features [${layer}]: train ${train.n}×${train.d}, test ${test.n}×${test.d}`);
      this.#layer = { layer, train, test };
    }
    return this.#layer;
  }

  async vectors(source: string): Promise<DeviseLabelVectors> {
    let v = this.#vectors.get(source);
    if (!v) {
      const path = (await resolveVectors({ source, dim: 100, epochs: 20 }, this.run)).path;
      v = await loadLabelVectors(path, this.trainLabels.labelNames);
      const notExact = v.rules.filter((r) => r.rule !== "exact");
      this.run.log(
        `vectors ${path}: ${v.dims}-D; ${v.rules.length - notExact.length} labels exact` +
          (notExact.length
            ? `, ${notExact.map((r) => `${r.label}→${r.tokens.join("+")}`).join(" ")}`
            : ""),
      );
      this.#vectors.set(source, v);
    }
    return v;
  }
}
