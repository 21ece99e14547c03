/**
 * The CIFAR visual models: ResNet-(6n+2) (He et al. 2016, §4.2), the same layout without
 * shortcuts ("plain"), and an all-convolutional variant (Springenberg et al. 2015 style).
 *
 * ResNet: 3x3 conv 16 -> 3 stages of n basic blocks (16/32/64 channels, stride 2 at the start of
 * stages 2 and 3), BN + ReLU, global average pooling, dense logits. Shortcuts are the paper's
 * option A: identity, and where the shape changes a parameter-free stride-2 subsample plus zero
 * padding of the new channels (custom layer {@link SHORTCUT_A_CLASS}), so ResNet-20 for 10
 * classes has the paper's 0.27M parameters.
 *
 * All-conv: strided 3x3 convs *replace* the downsampling (a dedicated layer, as the paper
 * replaces max-pooling), stages of 2n-1 3x3 convs, a 1x1 conv, global average pooling, and a 1x1
 * convolution as classifier — 6n+2 weighted layers, like the others.
 *
 * Layer names feature extraction relies on: `bn` (last BN before the final ReLU), `act` (that
 * ReLU, 8x8x64 at full size), `gap` (global average pool, 64-D), `logits` (pre-softmax). The
 * models output logits; apply softmax outside.
 *
 * @example
 * ```ts
 * const model = buildModel(tf, { arch: "resnet", depth: 20, numClasses: 100, seed: 1 });
 * model.getLayer("gap").outputShape; // [null, 64]
 * ```
 * @module
 */
import type { TF } from "../backend/select.ts";
import type * as tfjs from "@tensorflow/tfjs";

/** Architectures accepted by `--arch`. */
export const ARCHS = ["resnet", "plain", "allconv"] as const;

/** One of {@link ARCHS}. */
export type Arch = typeof ARCHS[number];

/** Everything needed to rebuild a model (stored in checkpoints). */
export interface ModelSpec {
  arch: Arch;
  /** 6n+2: 8, 14, 20, 32, 44, 56, 110, ... */
  depth: number;
  numClasses: number;
  /** Channel multiplier (1 = 16/32/64); tiny test models use e.g. 0.25. */
  width?: number;
  /** Square input side in pixels (32 for CIFAR). */
  inputSize?: number;
  /** Seed for the weight initialisers. */
  seed?: number;
}

/** Registered class name of the option-A shortcut layer. */
export const SHORTCUT_A_CLASS = "DeviseShortcutA";

/** Layers that feature extraction can read. */
export const FEATURE_LAYERS = ["gap", "act", "bn"] as const;

/** One of {@link FEATURE_LAYERS}. */
export type FeatureLayer = typeof FEATURE_LAYERS[number];

/**
 * Blocks per stage for a depth: `(depth - 2) / 6`; throws for depths that are not 6n+2.
 *
 * @example
 * ```ts
 * blocksPerStage(20); // 3
 * ```
 */
export function blocksPerStage(depth: number): number {
  const n = (depth - 2) / 6;
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`depth must be 6n+2 (8, 14, 20, 32, 44, 56, 110), got ${depth}`);
  }
  return n;
}

/**
 * Stage channel counts for a width multiplier: `[16, 32, 64] * width`, at least 1.
 *
 * @example
 * ```ts
 * stageChannels(0.25); // [4, 8, 16]
 * ```
 */
export function stageChannels(width = 1): [number, number, number] {
  const c = (k: number) => Math.max(1, Math.round(k * width));
  return [c(16), c(32), c(64)];
}

/**
 * Builds the model for a spec, initialised from `spec.seed` (He-normal convs, Glorot dense).
 *
 * @example
 * ```ts
 * const tiny = buildModel(tf, { arch: "resnet", depth: 8, numClasses: 10, width: 0.25, inputSize: 8 });
 * ```
 */
export function buildModel(tf: TF, spec: ModelSpec): tfjs.LayersModel {
  const n = blocksPerStage(spec.depth);
  if (!ARCHS.includes(spec.arch)) throw new RangeError(`unknown arch '${spec.arch}'`);
  if (!(spec.numClasses >= 2)) throw new RangeError(`numClasses must be >= 2`);
  const size = spec.inputSize ?? 32;
  const channels = stageChannels(spec.width ?? 1);
  let seed = (spec.seed ?? 0) * 1009;
  const nextSeed = () => ++seed;
  const conv = (filters: number, kernel: number, stride: number, name: string) =>
    tf.layers.conv2d({
      filters,
      kernelSize: kernel,
      strides: stride,
      padding: "same",
      useBias: false,
      kernelInitializer: tf.initializers.heNormal({ seed: nextSeed() }),
      name,
    });
  // Momentum 0.9 (PyTorch's 0.1) rather than Keras's 0.99: short runs need fresh statistics.
  const bn = (name: string) => tf.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5, name });
  const relu = (name: string) => tf.layers.activation({ activation: "relu", name });
  const apply = (layer: tfjs.layers.Layer, x: tfjs.SymbolicTensor | tfjs.SymbolicTensor[]) =>
    layer.apply(x) as tfjs.SymbolicTensor;

  const input = tf.input({ shape: [size, size, 3], name: "image" });
  let x = apply(
    relu("stem_relu"),
    apply(bn("stem_bn"), apply(conv(channels[0], 3, 1, "stem_conv"), input)),
  );
  const Shortcut = _shortcutClass(tf);

  for (let s = 0; s < 3; s++) {
    const c = channels[s];
    if (spec.arch === "allconv") {
      // Downsampling is its own strided conv layer, replacing a pooling layer.
      const blocks = 2 * n - 1;
      for (let b = 0; b < blocks + (s > 0 ? 1 : 0); b++) {
        const stride = s > 0 && b === 0 ? 2 : 1;
        const p = `s${s + 1}c${b + 1}`;
        x = apply(
          relu(`${p}_relu`),
          apply(bn(`${p}_bn`), apply(conv(c, 3, stride, `${p}_conv`), x)),
        );
      }
      continue;
    }
    for (let b = 0; b < n; b++) {
      const stride = s > 0 && b === 0 ? 2 : 1;
      const p = `s${s + 1}b${b + 1}`;
      const last = s === 2 && b === n - 1;
      let y = apply(
        relu(`${p}_relu1`),
        apply(bn(`${p}_bn1`), apply(conv(c, 3, stride, `${p}_conv1`), x)),
      );
      y = apply(bn(last ? "bn" : `${p}_bn2`), apply(conv(c, 3, 1, `${p}_conv2`), y));
      if (spec.arch === "resnet") {
        const shortcut = stride === 1 && x.shape[3] === c
          ? x
          : apply(new Shortcut({ outChannels: c, stride, name: `${p}_shortcut` }), x);
        y = apply(tf.layers.add({ name: `${p}_add` }), [y, shortcut]);
      }
      x = apply(relu(last ? "act" : `${p}_relu2`), y);
    }
  }
  if (spec.arch === "allconv") {
    x = apply(relu("act"), apply(bn("bn"), apply(conv(channels[2], 1, 1, "head_conv"), x)));
  }
  const gap = apply(tf.layers.globalAveragePooling2d({ name: "gap" }), x);
  let logits: tfjs.SymbolicTensor;
  if (spec.arch === "allconv") {
    // The classifier is a 1x1 convolution on the pooled 1x1 map (dense-equivalent, conv-only).
    const map = apply(
      tf.layers.reshape({ targetShape: [1, 1, channels[2]], name: "gap_map" }),
      gap,
    );
    const cls = apply(
      tf.layers.conv2d({
        filters: spec.numClasses,
        kernelSize: 1,
        kernelInitializer: tf.initializers.glorotUniform({ seed: nextSeed() }),
        name: "classifier",
      }),
      map,
    );
    logits = apply(tf.layers.flatten({ name: "logits" }), cls);
  } else {
    logits = apply(
      tf.layers.dense({
        units: spec.numClasses,
        kernelInitializer: tf.initializers.glorotUniform({ seed: nextSeed() }),
        name: "logits",
      }),
      gap,
    );
  }
  return tf.model({ inputs: input, outputs: logits, name: `${spec.arch}${spec.depth}` });
}

/**
 * Parameter count of a ResNet/plain model from the closed formula (weights + biases + the four
 * BN vectors per BN layer), used to check {@link buildModel}.
 *
 * @example
 * ```ts
 * resnetParamCount(20, 10); // 271098 (269722 trainable: the 0.27M of He et al. Table 6)
 * ```
 */
export function resnetParamCount(depth: number, numClasses: number, width = 1): number {
  const n = blocksPerStage(depth);
  const ch = stageChannels(width);
  const bnParams = (c: number) => 4 * c;
  let total = 9 * 3 * ch[0] + bnParams(ch[0]);
  let inC = ch[0];
  for (const c of ch) {
    for (let b = 0; b < n; b++) {
      total += 9 * inC * c + bnParams(c) + 9 * c * c + bnParams(c);
      inC = c;
    }
  }
  return total + ch[2] * numClasses + numClasses;
}

/**
 * Trainable-parameter count (what papers report: BN moving statistics excluded).
 *
 * @example
 * ```ts
 * trainableParamCount(model); // 275572 for ResNet-20 with 100 classes
 * ```
 */
export function trainableParamCount(model: tfjs.LayersModel): number {
  return model.trainableWeights.reduce(
    (sum, w) => sum + w.shape.reduce((a: number, b) => a * (b ?? 1), 1),
    0,
  );
}

const _shortcutClasses = new WeakMap<object, ShortcutCtor>();

type ShortcutCtor = new (
  cfg: { outChannels: number; stride: number; name?: string },
) => tfjs.layers.Layer;

/** The option-A shortcut layer class for this tf namespace (subsample, then zero-pad channels). */
function _shortcutClass(tf: TF): ShortcutCtor {
  const cached = _shortcutClasses.get(tf);
  if (cached) return cached;
  class ShortcutA extends tf.layers.Layer {
    static className = SHORTCUT_A_CLASS;
    readonly outChannels: number;
    readonly stride: number;
    constructor(cfg: { outChannels: number; stride: number; name?: string }) {
      super({ name: cfg.name });
      this.outChannels = cfg.outChannels;
      this.stride = cfg.stride;
    }
    override computeOutputShape(shape: tfjs.Shape | tfjs.Shape[]): tfjs.Shape {
      const s = (Array.isArray(shape[0]) ? shape[0] : shape) as tfjs.Shape;
      const down = (v: number | null) => (v === null ? null : Math.ceil(v / this.stride));
      return [s[0], down(s[1]), down(s[2]), this.outChannels];
    }
    override call(inputs: tfjs.Tensor | tfjs.Tensor[]): tfjs.Tensor {
      return tf.tidy(() => {
        let x = (Array.isArray(inputs) ? inputs[0] : inputs) as tfjs.Tensor4D;
        if (this.stride > 1) {
          // A 1x1 average pool with stride s is plain subsampling (and, unlike stridedSlice,
          // has a gradient in tfjs).
          x = tf.avgPool(x, 1, this.stride, "valid");
        }
        const extra = this.outChannels - x.shape[3];
        if (extra < 0) throw new Error(`${this.name}: cannot shrink ${x.shape[3]} channels`);
        const left = Math.floor(extra / 2);
        return extra === 0 ? x : tf.pad(x, [[0, 0], [0, 0], [0, 0], [left, extra - left]]);
      });
    }
    override getConfig(): tfjs.serialization.ConfigDict {
      return { ...super.getConfig(), outChannels: this.outChannels, stride: this.stride };
    }
  }
  tf.serialization.registerClass(ShortcutA);
  _shortcutClasses.set(tf, ShortcutA);
  return ShortcutA;
}
