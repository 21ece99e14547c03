/**
 * The contract between `train` and the stages that read its output (`zeroshot`, `predict`,
 * `search`): a train run folder's `metrics.json` ({@link TrainRunMetrics}), read back by one
 * validating reader. {@link readTrainRun} checks the format and version, that the run finished,
 * every field's type, and that the feature folder, the DeViSE models (with valid sidecars) and the
 * vectors file (with the checksum the models were trained on) are still there; any mismatch is an
 * error naming the file and the field.
 *
 * @example
 * ```ts
 * const run = await readTrainRun(await latestTrainRun("quick"));
 * run.metrics.deviseModels.act; // data/pipeline/devise-act-5109ac5ccedb.f32
 * ```
 * @module
 */
import { join } from "node:path";
import { RUN_METRICS_FORMAT, RUN_METRICS_VERSION, runsDir } from "../cli/run.ts";
import { ArtifactError, readSidecar } from "../io/artifact.ts";
import { InputError } from "../io/errors.ts";
import { isDir, readJsonOrNull, statOrNull } from "../io/fs.ts";
import { DEVISE_MODEL_FORMAT, DEVISE_MODEL_VERSION } from "../devise/train.ts";
import type { ResultRow } from "../report/report.ts";
import { vectorsChecksum } from "../text/word2vec_io.ts";
import type { BudgetPlan } from "./budget.ts";
import type { LabelMapping } from "../text/labels.ts";
import { FEATURE_LAYERS, type FeatureLayer } from "../vision/models.ts";

/** A train run's `metrics.json` (what `train` hands to the later stages). */
export interface TrainRunMetrics {
  format: typeof RUN_METRICS_FORMAT;
  version: number;
  task: "train";
  status: "ok";
  backend: string;
  preset: string;
  visual: { checkpoint: string; top1: number; top5: number; reused: boolean };
  vectors: {
    path: string;
    /** sha256 (hex) of the vectors file. */
    sha256: string;
    words: number;
    dim: number;
    /** Labels that did not find their vector as an exact word (phrase, case, mean of parts). */
    labelRules: LabelMapping[];
  };
  /** The visual model's classes (the softmax's columns, ConSE's source labels), in order. */
  classes: string[];
  /** The features of every layer, logits and probabilities (read by `zeroshot`). */
  featureDir: string;
  layers: FeatureLayer[];
  /** DeViSE model file per layer. */
  deviseModels: Partial<Record<FeatureLayer, string>>;
  results: ResultRow[];
  stageSeconds: Record<string, number>;
  /** The time budget's plan, when the visual model was sized by one. */
  budgetPlan?: BudgetPlan;
  /** The fine-tuned model (the paper's last step), when the run fine-tuned. */
  finetuned?: {
    layer: FeatureLayer;
    checkpoint: string;
    /** The fine-tuned visual model's features (its own: they differ from `featureDir`'s). */
    featureDir: string;
    deviseModel: string;
    epochs: number;
  };
  report: string;
}

/** A validated train run. */
export interface TrainRun {
  dir: string;
  metrics: TrainRunMetrics;
}

/** Thrown when a folder is not a usable train run; the message names the file and field. */
export class RunContractError extends InputError {
  override name = "RunContractError";
}

function _field(file: string, path: string, want: string, got: unknown): RunContractError {
  return new RunContractError(
    `${file}: field '${path}' should be ${want}, found ${
      got === undefined ? "nothing" : JSON.stringify(got)?.slice(0, 80)
    }`,
  );
}

/**
 * Reads and validates the train run in `dir` (see the module doc). Pass `checkFiles: false` to
 * skip the checks on the files it names (for listing runs).
 *
 * @example
 * ```ts
 * const { metrics } = await readTrainRun("data/runs/train-2026-12-01T08-00-00");
 * ```
 */
export async function readTrainRun(
  dir: string,
  options: { checkFiles?: boolean } = {},
): Promise<TrainRun> {
  const file = join(dir, "metrics.json");
  if (!await isDir(dir)) throw new RunContractError(`--from ${dir}: no such run folder`);
  const raw = await readJsonOrNull(file).catch((err) => {
    throw new RunContractError(`${file}: ${(err as Error).message}`);
  });
  if (raw === null) {
    throw new RunContractError(`${file}: missing (the run did not finish, or is not a run folder)`);
  }
  if (typeof raw !== "object" || Array.isArray(raw)) {
    throw new RunContractError(`${file}: expected a JSON object`);
  }
  const m = raw as Record<string, unknown>;
  if (m.format !== RUN_METRICS_FORMAT) {
    throw _field(
      file,
      "format",
      `'${RUN_METRICS_FORMAT}' (a run written by this toolkit)`,
      m.format,
    );
  }
  if (m.version !== RUN_METRICS_VERSION) {
    throw _field(file, "version", String(RUN_METRICS_VERSION), m.version);
  }
  if (m.task !== "train") {
    throw new RunContractError(
      `${file}: this is a '${String(m.task)}' run, not a train run; pass a \`deno task train\` ` +
        "run folder to --from",
    );
  }
  if (m.status !== "ok") {
    throw new RunContractError(
      `${file}: the run ended with status '${String(m.status)}'${
        typeof m.error === "string" ? ` (${m.error})` : ""
      }; run \`deno task train\` again`,
    );
  }
  const str = (path: string, v: unknown) => {
    if (typeof v !== "string" || v === "") throw _field(file, path, "a non-empty string", v);
    return v;
  };
  const num = (path: string, v: unknown) => {
    if (typeof v !== "number") throw _field(file, path, "a number", v);
    return v;
  };
  const obj = (path: string, v: unknown) => {
    if (!v || typeof v !== "object" || Array.isArray(v)) throw _field(file, path, "an object", v);
    return v as Record<string, unknown>;
  };
  str("backend", m.backend);
  str("preset", m.preset);
  const visual = obj("visual", m.visual);
  str("visual.checkpoint", visual.checkpoint);
  const vectors = obj("vectors", m.vectors);
  str("vectors.path", vectors.path);
  str("vectors.sha256", vectors.sha256);
  num("vectors.dim", vectors.dim);
  str("featureDir", m.featureDir);
  if (!Array.isArray(m.classes) || !m.classes.every((c) => typeof c === "string" && c !== "")) {
    throw _field(file, "classes", "the list of the visual model's class names", m.classes);
  }
  if (
    !Array.isArray(m.layers) || m.layers.length === 0 ||
    !m.layers.every((l) => (FEATURE_LAYERS as readonly unknown[]).includes(l))
  ) {
    throw _field(file, "layers", `a list of ${FEATURE_LAYERS.join("|")}`, m.layers);
  }
  const models = obj("deviseModels", m.deviseModels);
  for (const layer of m.layers as string[]) str(`deviseModels.${layer}`, models[layer]);
  if (!Array.isArray(m.results)) throw _field(file, "results", "a list", m.results);
  const metrics = m as unknown as TrainRunMetrics;
  if (options.checkFiles !== false) await _checkFiles(file, metrics);
  return { dir, metrics };
}

async function _checkFiles(file: string, m: TrainRunMetrics): Promise<void> {
  if (!await isDir(m.featureDir)) {
    throw new RunContractError(`${file}: featureDir ${m.featureDir} is missing`);
  }
  if (!await statOrNull(m.vectors.path)) {
    throw new RunContractError(`${file}: vectors.path ${m.vectors.path} is missing`);
  }
  const now = await vectorsChecksum(m.vectors.path);
  if (now !== m.vectors.sha256) {
    throw new RunContractError(
      `${file}: vectors.path ${m.vectors.path} has ${now.slice(0, 12)}… but the run trained on ` +
        `${m.vectors.sha256.slice(0, 12)}…: re-run \`deno task train\``,
    );
  }
  for (const [layer, path] of Object.entries(m.deviseModels)) {
    try {
      await readSidecar(path!, DEVISE_MODEL_FORMAT, DEVISE_MODEL_VERSION);
    } catch (err) {
      if (!(err instanceof ArtifactError)) throw err;
      throw new RunContractError(`${file}: deviseModels.${layer}: ${err.message}`);
    }
  }
}

/**
 * The newest finished train run under `dir` (default `runsDir()`, of `preset` when given).
 *
 * @example
 * ```ts
 * await latestTrainRun("quick"); // "data/runs/train-2026-12-01T08-00-00"
 * ```
 */
export async function latestTrainRun(
  preset = "",
  dir = runsDir(),
): Promise<string> {
  const found: { dir: string; mtime: number }[] = [];
  const entries = await Array.fromAsync(Deno.readDir(dir)).catch(() => []);
  for (const e of entries) {
    if (!e.isDirectory) continue;
    const runDir = join(dir, e.name);
    try {
      const { metrics } = await readTrainRun(runDir, { checkFiles: false });
      if (preset && metrics.preset !== preset) continue;
      const info = await statOrNull(join(runDir, "metrics.json"));
      found.push({ dir: runDir, mtime: info?.mtime?.getTime() ?? 0 });
    } catch (err) {
      if (!(err instanceof RunContractError)) throw err; // not a finished train run
    }
  }
  if (!found.length) {
    throw new RunContractError(
      `no finished train run${preset ? ` of preset ${preset}` : ""} under ${dir}; run ` +
        "`deno task train` first or pass --from RUN",
    );
  }
  return found.sort((a, b) => b.mtime - a.mtime)[0].dir;
}
