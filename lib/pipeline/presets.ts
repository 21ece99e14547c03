/**
 * The three budgets of `deno task train`. `paper` follows He et al. (2016) and the reference
 * report (ResNet-110, 164 epochs, step schedule) and wants a GPU; `cpu` fits about two hours on a
 * 2-core machine with the tensorflow backend; `quick` goes through every stage on real data in
 * under ten minutes (numbers from it are a smoke test, not results).
 *
 * @example
 * ```ts
 * const preset = PRESETS.cpu;
 * preset.visual.depth; // 20
 * ```
 * @module
 */
import type { FeatureLayer } from "../vision/models.ts";
import type { Schedule } from "../vision/train.ts";

/** Names accepted by `--preset`. */
export const PRESET_NAMES = ["quick", "cpu", "paper"] as const;

/** One of {@link PRESET_NAMES}. */
export type PresetName = typeof PRESET_NAMES[number];

/** Everything a preset fixes; each field can still be overridden by a flag. */
export interface Preset {
  visual: {
    depth: number;
    epochs: number;
    batchSize: number;
    lr: number;
    schedule: Schedule;
    weightDecay: number;
    nesterov: boolean;
    /** Train on the first N shuffled images (0 = all 50,000). */
    limit: number;
    /** Channel multiplier and input side (tiny models for tests; 1 and 32 otherwise). */
    width?: number;
    inputSize?: number;
  };
  /** Feature layers to extract and train DeViSE on (the report compares them). */
  layers: FeatureLayer[];
  /** Our skip-gram vectors (used with `--vectors skipgram`); files are keyed by `dim`. */
  word2vec: { dim: number; epochs: number; retrofit: "none" | "wordnet" };
  /** DeViSE training; dropout and weight decay regularise the 4096-D `act` map. */
  devise: { epochs: number; batchSize: number; lr: number; dropout: number; weightDecay: number };
  /** Rough wall time on this kind of machine, said before the run starts. */
  etaMinutes: number;
}

/** The presets. */
export const PRESETS: Readonly<Record<PresetName, Preset>> = {
  quick: {
    visual: {
      depth: 20,
      epochs: 1,
      batchSize: 128,
      lr: 0.1,
      schedule: "onecycle",
      weightDecay: 5e-4,
      nesterov: true,
      limit: 5000,
    },
    layers: ["gap", "act"],
    word2vec: { dim: 50, epochs: 2, retrofit: "wordnet" },
    devise: { epochs: 3, batchSize: 256, lr: 1e-3, dropout: 0, weightDecay: 0 },
    etaMinutes: 8,
  },
  cpu: {
    visual: {
      depth: 20,
      epochs: 10,
      batchSize: 128,
      lr: 0.2,
      schedule: "onecycle",
      weightDecay: 5e-4,
      nesterov: true,
      limit: 0,
    },
    layers: ["gap", "act"],
    word2vec: { dim: 100, epochs: 20, retrofit: "wordnet" },
    devise: { epochs: 20, batchSize: 256, lr: 3e-4, dropout: 0.5, weightDecay: 1e-4 },
    etaMinutes: 120,
  },
  paper: {
    visual: {
      depth: 110,
      epochs: 164,
      batchSize: 128,
      lr: 0.1,
      schedule: "step",
      weightDecay: 1e-4,
      nesterov: false,
      limit: 0,
    },
    layers: ["gap", "act", "bn"],
    word2vec: { dim: 300, epochs: 20, retrofit: "wordnet" },
    devise: { epochs: 30, batchSize: 256, lr: 3e-4, dropout: 0.5, weightDecay: 1e-4 },
    etaMinutes: 600,
  },
};

/** `paper` on a GPU backend, `cpu` otherwise. */
export function defaultPreset(backend: string): PresetName {
  return backend === "tensorflow-gpu" ? "paper" : "cpu";
}
