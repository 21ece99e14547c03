/**
 * Training checkpoints: model weights, optimizer state (momentum accumulators + iteration),
 * epoch, RNG state, the curve so far and the config, so `--resume` continues a killed run with
 * the same results.
 *
 * Layout under a checkpoint root (`<run>/checkpoints/`):
 *
 *     epoch-0003/weights.bin   (+ .json sidecar: tensor names, shapes, offsets, sha256)
 *     epoch-0003/optimizer.bin (+ .json sidecar)
 *     epoch-0003/state.json    (+ .json sidecar)
 *     last.json, best.json     pointers {dir, epoch, top1}
 *
 * Atomicity: an epoch folder is written as `.tmp-epoch-0003-<id>/`, each file fsynced, then the
 * folder is renamed into place; only then is `last.json` replaced (atomic file rename). A crash
 * at any point leaves `last.json` naming a complete folder; stray `.tmp-*` folders are never
 * read and are swept on the next save.
 *
 * @example
 * ```ts
 * await saveCheckpoint(root, { model, optimizer, state });
 * const ckpt = await loadCheckpoint(root, "last"); // null when none
 * await restoreInto(tf, ckpt!, model, optimizer);
 * ```
 * @module
 */
import { join } from "node:path";
import type * as tfjs from "@tensorflow/tfjs";
import type { TF } from "../backend/select.ts";
import { ArtifactError, readArtifact, writeArtifact, writeJsonAtomic } from "../io/artifact.ts";
import { buildModel, type ModelSpec } from "./models.ts";

/** Sidecar formats. */
export const WEIGHTS_FORMAT = "devise-vision-weights";
/** Optimizer-state sidecar format. */
export const OPTIMIZER_FORMAT = "devise-vision-optimizer";
/** Training-state sidecar format. */
export const STATE_FORMAT = "devise-vision-state";
/** Version of all three. */
export const CHECKPOINT_VERSION = 1;
/** Name prefix of tensors saved beside the model's weights. */
export const EXTRA_PREFIX = "extra:";

/** One tensor inside a `.bin` file. */
export interface TensorEntry {
  name: string;
  shape: number[];
  /** Float offset (not bytes) of the first element. */
  offset: number;
}

/** Everything besides tensors that a resumed run needs. */
export interface TrainState {
  /** Epochs completed. */
  epoch: number;
  /** `Rng.state()` of the data-order/augmentation generator after `epoch`. */
  rngState: number[];
  /** Per-epoch records so far. */
  curve: Record<string, number>[];
  /** Training config (must match on resume). */
  config: Record<string, unknown>;
  /** Model spec to rebuild the network. */
  modelSpec: ModelSpec;
  /** Best test top-1 so far and its epoch. */
  bestTop1: number;
  bestEpoch: number;
  /** Per-channel mean/std (0..1 scale) the inputs were normalised with. */
  normalization: { mean: number[]; std: number[] };
}

/** A checkpoint read back from disk, validated. */
export interface LoadedCheckpoint {
  dir: string;
  state: TrainState;
  weights: { entries: TensorEntry[]; values: Float32Array; sha256: string };
  optimizer: { entries: TensorEntry[]; values: Float32Array };
}

/**
 * A checkpoint's folder name for an epoch.
 *
 * @example
 * ```ts
 * epochDirName(3); // "epoch-0003"
 * ```
 */
export function epochDirName(epoch: number): string {
  return `epoch-${String(epoch).padStart(4, "0")}`;
}

/**
 * Writes an epoch checkpoint and moves `last` (and `best` when `isBest`) to it; older epoch
 * folders no pointer names are removed.
 *
 * @example
 * ```ts
 * await saveCheckpoint("data/runs/x/checkpoints", { model, optimizer, state }, { isBest: true });
 * ```
 */
export async function saveCheckpoint(
  root: string,
  parts: {
    model: tfjs.LayersModel;
    optimizer: tfjs.Optimizer;
    state: TrainState;
    /** More tensors saved with the weights (e.g. a fine-tuned map), named `extra:<name>`. */
    extra?: { name: string; tensor: tfjs.Tensor }[];
  },
  options: { isBest?: boolean } = {},
): Promise<string> {
  const { state } = parts;
  const name = epochDirName(state.epoch);
  await Deno.mkdir(root, { recursive: true });
  const tmp = join(root, `.tmp-${name}-${crypto.randomUUID().slice(0, 8)}`);
  await Deno.mkdir(tmp);
  const weights = _pack([
    ...parts.model.weights.map((w) => ({ name: w.originalName, tensor: w.read() })),
    ...(parts.extra ?? []).map((e) => ({ name: `${EXTRA_PREFIX}${e.name}`, tensor: e.tensor })),
  ]);
  const optWeights = await parts.optimizer.getWeights();
  const opt = _pack(optWeights.map((w, i) => ({ name: `${i}:${w.name}`, tensor: w.tensor })));
  // getWeights() makes a fresh scalar for the iteration count; the rest are live variables.
  for (const w of optWeights) if (w.name === "iter") w.tensor.dispose();
  const wSide = await writeArtifact(join(tmp, "weights.bin"), weights.bytes, {
    format: WEIGHTS_FORMAT,
    version: CHECKPOINT_VERSION,
    tensors: weights.entries,
  });
  await writeArtifact(join(tmp, "optimizer.bin"), opt.bytes, {
    format: OPTIMIZER_FORMAT,
    version: CHECKPOINT_VERSION,
    tensors: opt.entries,
    sources: { weights: wSide.sha256 },
  });
  const stateBytes = new TextEncoder().encode(JSON.stringify(state, null, 1) + "\n");
  await writeArtifact(join(tmp, "state.json"), stateBytes, {
    format: STATE_FORMAT,
    version: CHECKPOINT_VERSION,
    sources: { weights: wSide.sha256 },
  });
  const final = join(root, name);
  await Deno.remove(final, { recursive: true }).catch(() => {});
  await Deno.rename(tmp, final);
  const pointer = { format: "devise-vision-pointer", version: 1, dir: name, epoch: state.epoch };
  const top1 = state.curve.at(-1)?.testTop1;
  if (options.isBest) await writeJsonAtomic(join(root, "best.json"), { ...pointer, top1 });
  await writeJsonAtomic(join(root, "last.json"), { ...pointer, top1 });
  await _sweep(root);
  return final;
}

/**
 * Reads and validates the checkpoint `which` points to (or a checkpoint folder given directly).
 * Returns null when the root has no such pointer yet; throws {@link ArtifactError} naming the
 * file for anything corrupt or inconsistent.
 *
 * @example
 * ```ts
 * const ckpt = await loadCheckpoint("data/runs/x/checkpoints", "best");
 * ```
 */
export async function loadCheckpoint(
  root: string,
  which: "last" | "best" | "dir",
): Promise<LoadedCheckpoint | null> {
  let dir = root;
  if (which !== "dir") {
    const pointerPath = join(root, `${which}.json`);
    let text: string;
    try {
      text = await Deno.readTextFile(pointerPath);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return null;
      throw err;
    }
    let pointer: { format?: string; dir?: string };
    try {
      pointer = JSON.parse(text);
    } catch (err) {
      throw new ArtifactError(`${pointerPath}: not valid JSON: ${(err as Error).message}`);
    }
    if (pointer.format !== "devise-vision-pointer" || typeof pointer.dir !== "string") {
      throw new ArtifactError(`${pointerPath}: not a checkpoint pointer (format/dir missing)`);
    }
    dir = join(root, pointer.dir);
  }
  const w = await readArtifact(join(dir, "weights.bin"), WEIGHTS_FORMAT, CHECKPOINT_VERSION);
  const o = await readArtifact(join(dir, "optimizer.bin"), OPTIMIZER_FORMAT, CHECKPOINT_VERSION);
  const s = await readArtifact(join(dir, "state.json"), STATE_FORMAT, CHECKPOINT_VERSION);
  for (const [file, side] of [["optimizer.bin", o.sidecar], ["state.json", s.sidecar]] as const) {
    if ((side.sources as { weights?: string })?.weights !== w.sidecar.sha256) {
      throw new ArtifactError(
        `${join(dir, file)}: written for different weights (mixed checkpoint)`,
      );
    }
  }
  const state = JSON.parse(new TextDecoder().decode(s.data)) as TrainState;
  return {
    dir,
    state,
    weights: {
      entries: _entries(join(dir, "weights.bin"), w.sidecar.tensors, w.data.byteLength),
      values: _floats(w.data),
      sha256: w.sidecar.sha256 as string,
    },
    optimizer: {
      entries: _entries(join(dir, "optimizer.bin"), o.sidecar.tensors, o.data.byteLength),
      values: _floats(o.data),
    },
  };
}

/**
 * Copies a checkpoint's weights into `model` (names and shapes must match) and, when given,
 * its state into `optimizer`.
 *
 * @example
 * ```ts
 * await restoreInto(tf, ckpt, buildModel(tf, ckpt.state.modelSpec), optimizer);
 * ```
 */
export async function restoreInto(
  tf: TF,
  ckpt: LoadedCheckpoint,
  model: tfjs.LayersModel,
  optimizer?: tfjs.Optimizer,
): Promise<void> {
  const file = join(ckpt.dir, "weights.bin");
  const vars = model.weights;
  const entries = ckpt.weights.entries.filter((e) => !e.name.startsWith(EXTRA_PREFIX));
  if (vars.length !== entries.length) {
    throw new ArtifactError(
      `${file}: holds ${entries.length} tensors, model ${model.name} has ${vars.length}`,
    );
  }
  const tensors = vars.map((v, i) => {
    const e = entries[i];
    if (e.name !== v.originalName || e.shape.join("x") !== v.shape.join("x")) {
      throw new ArtifactError(
        `${file}: tensor ${i} is ${e.name} [${e.shape}], model expects ${v.originalName} [${v.shape}]`,
      );
    }
    return _slice(tf, ckpt.weights.values, e);
  });
  model.setWeights(tensors);
  tf.dispose(tensors);
  if (optimizer) {
    const named = ckpt.optimizer.entries.map((e) => ({
      name: e.name.slice(e.name.indexOf(":") + 1),
      tensor: _slice(tf, ckpt.optimizer.values, e),
    }));
    await optimizer.setWeights(named);
    tf.dispose(named.map((n) => n.tensor));
  }
}

function _pack(named: { name: string; tensor: tfjs.Tensor }[]): {
  entries: TensorEntry[];
  bytes: Uint8Array;
} {
  const entries: TensorEntry[] = [];
  let offset = 0;
  for (const { name, tensor } of named) {
    entries.push({ name, shape: [...tensor.shape], offset });
    offset += tensor.size;
  }
  const values = new Float32Array(offset);
  named.forEach(({ tensor }, i) =>
    values.set(tensor.dataSync() as Float32Array, entries[i].offset)
  );
  return { entries, bytes: new Uint8Array(values.buffer) };
}

function _entries(file: string, raw: unknown, bytes: number): TensorEntry[] {
  if (!Array.isArray(raw)) throw new ArtifactError(`${file}.json: missing 'tensors' list`);
  let expected = 0;
  for (const [i, e] of raw.entries()) {
    const ok = e && typeof e.name === "string" && Array.isArray(e.shape) &&
      e.shape.every((d: unknown) => Number.isInteger(d) && (d as number) >= 0) &&
      e.offset === expected;
    if (!ok) throw new ArtifactError(`${file}.json: tensor entry ${i} malformed or out of order`);
    expected += e.shape.reduce((a: number, b: number) => a * b, 1);
  }
  if (expected * 4 !== bytes) {
    throw new ArtifactError(`${file}: ${bytes} bytes, its tensors need ${expected * 4}`);
  }
  return raw as TensorEntry[];
}

function _floats(bytes: Uint8Array): Float32Array {
  // Copy: readFile's buffer may not be 4-byte aligned at byteOffset.
  return new Float32Array(bytes.slice().buffer);
}

function _slice(tf: TF, values: Float32Array, e: TensorEntry): tfjs.Tensor {
  const size = e.shape.reduce((a, b) => a * b, 1);
  return tf.tensor(values.subarray(e.offset, e.offset + size), e.shape, "float32");
}

/**
 * The tensors saved with `extra` (by name, without the prefix), as new tensors the caller owns.
 *
 * @example
 * ```ts
 * const { M } = extraTensors(tf, ckpt);
 * ```
 */
export function extraTensors(tf: TF, ckpt: LoadedCheckpoint): Record<string, tfjs.Tensor> {
  const out: Record<string, tfjs.Tensor> = {};
  for (const e of ckpt.weights.entries) {
    if (e.name.startsWith(EXTRA_PREFIX)) {
      out[e.name.slice(EXTRA_PREFIX.length)] = _slice(tf, ckpt.weights.values, e);
    }
  }
  return out;
}

/** Removes `.tmp-*` folders and epoch folders that neither pointer names. */
async function _sweep(root: string): Promise<void> {
  const keep = new Set<string>();
  for (const p of ["last.json", "best.json"]) {
    try {
      keep.add(JSON.parse(await Deno.readTextFile(join(root, p))).dir);
    } catch { /* pointer not written yet */ }
  }
  for await (const entry of Deno.readDir(root)) {
    const stale = entry.name.startsWith(".tmp-") ||
      (entry.name.startsWith("epoch-") && !keep.has(entry.name));
    if (entry.isDirectory && stale) {
      await Deno.remove(join(root, entry.name), { recursive: true }).catch(() => {});
    }
  }
}

/**
 * Resolves `path` to a checkpoint and loads it: an epoch folder (has `state.json`), a checkpoint
 * root (has `last.json`), or a run folder (has `checkpoints/`). `which` picks the pointer.
 *
 * @example
 * ```ts
 * const ckpt = await resolveCheckpoint("data/runs/pretrain-x", "best");
 * ```
 */
export async function resolveCheckpoint(
  path: string,
  which: "last" | "best",
): Promise<LoadedCheckpoint> {
  const exists = (p: string) => Deno.stat(p).then(() => true, () => false);
  if (await exists(join(path, "state.json"))) return (await loadCheckpoint(path, "dir"))!;
  for (const root of [path, join(path, "checkpoints")]) {
    const ckpt = await loadCheckpoint(root, which);
    if (ckpt) return ckpt;
  }
  throw new ArtifactError(
    `${path}: no checkpoint found (looked for ${path}/state.json, ${path}/${which}.json and ` +
      `${path}/checkpoints/${which}.json)`,
  );
}

/**
 * Rebuilds a checkpoint's model and loads its weights.
 *
 * @example
 * ```ts
 * const model = await modelFromCheckpoint(tf, await resolveCheckpoint(dir, "best"));
 * ```
 */
export async function modelFromCheckpoint(
  tf: TF,
  ckpt: LoadedCheckpoint,
): Promise<tfjs.LayersModel> {
  const model = buildModel(tf, ckpt.state.modelSpec);
  await restoreInto(tf, ckpt, model);
  return model;
}
