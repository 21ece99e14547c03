/**
 * Inference with batch norm folded into the convolution before it: in inference mode a BN layer
 * is an affine map per channel, so `bn(conv(x, W))` equals `conv(x, W·s) + (β − μ·s)` with
 * `s = γ / sqrt(σ² + ε)`, one fused conv + bias (+ ReLU when the BN feeds only a ReLU) instead of
 * a convolution, a `FusedBatchNorm` and a ReLU. Keras's graph mode does the same rewrite
 * (grappler); in tfjs's eager execution it has to be done by hand. Every other layer runs as
 * itself, so any model works; a BN whose input is not a lone linear conv is left as it is.
 *
 * The folded weights are a snapshot: build a new {@link FoldedModel} after the weights change.
 *
 * @example
 * ```ts
 * const folded = foldBatchNorm(tf, model, ["gap", "act", "logits"]);
 * const [gap, act, logits] = tf.tidy(() => folded.predict(x));
 * folded.dispose();
 * ```
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import type { TF } from "../backend/select.ts";

/** A model's forward pass to some named layers, with batch norm folded into the convs. */
export interface FoldedModel {
  /** The outputs of the layers named at construction, in that order. */
  predict(x: tfjs.Tensor4D): tfjs.Tensor[];
  /** Convolutions whose batch norm was folded into them. */
  readonly foldedConvs: number;
  /** Frees the folded weights. */
  dispose(): void;
}

interface _Fold {
  filter: tfjs.Tensor4D;
  bias: tfjs.Tensor1D;
  strides: [number, number];
  pad: "same" | "valid";
  relu: boolean;
  /** The layers whose outputs the fused op stands for (conv, BN and perhaps the ReLU). */
  covers: string[];
}

/**
 * Folds every `Conv2D → BatchNormalization` pair of `model` (and a `ReLU` that alone consumes the
 * BN, unless its input is one of `outputs`) and returns a forward pass to the `outputs` layers.
 *
 * @example
 * ```ts
 * const folded = foldBatchNorm(tf, model, ["bn"]);
 * folded.foldedConvs; // 19 for ResNet-20
 * ```
 */
export function foldBatchNorm(tf: TF, model: tfjs.LayersModel, outputs: string[]): FoldedModel {
  for (const name of outputs) model.getLayer(name); // throws for an unknown name
  const layers = model.layers;
  const inputsOf = new Map<string, string[]>();
  const consumers = new Map<string, string[]>();
  for (const layer of layers) {
    if (layer.inboundNodes.length !== 1) {
      throw new Error(`foldBatchNorm: layer '${layer.name}' is called more than once`);
    }
    const inbound = layer.inboundNodes[0].inboundLayers.map((l) => l.name);
    inputsOf.set(layer.name, inbound);
    for (const i of inbound) consumers.set(i, [...consumers.get(i) ?? [], layer.name]);
  }
  const byName = new Map(layers.map((l) => [l.name, l]));
  const only = (name: string) => {
    const c = consumers.get(name) ?? [];
    return c.length === 1 ? byName.get(c[0])! : null;
  };

  const folds = new Map<string, _Fold>(); // keyed by the conv's name
  const covered = new Set<string>();
  tf.tidy(() => {
    for (const conv of layers) {
      const bn = only(conv.name);
      if (!_isFoldableConv(conv) || !bn || !_isFoldableBn(bn) || outputs.includes(conv.name)) {
        continue;
      }
      const c = conv.getConfig() as unknown as _ConvConfig;
      const [kernel, convBias] = conv.getWeights() as [tfjs.Tensor4D, tfjs.Tensor1D?];
      const [gamma, beta, mean, variance] = bn.getWeights() as tfjs.Tensor1D[];
      const eps = (bn.getConfig() as unknown as { epsilon: number }).epsilon;
      const scale = tf.div(gamma, tf.sqrt(tf.add(variance, eps)));
      const shift = convBias ? tf.sub(convBias, mean) : tf.neg(mean);
      const next = only(bn.name);
      const relu = !!next && _isRelu(next) && !outputs.includes(bn.name);
      const fold: _Fold = {
        filter: tf.keep(tf.mul(kernel, scale) as tfjs.Tensor4D),
        bias: tf.keep(tf.add(beta, tf.mul(shift, scale)) as tfjs.Tensor1D),
        strides: _pair(c.strides),
        pad: c.padding,
        relu,
        covers: relu ? [conv.name, bn.name, next!.name] : [conv.name, bn.name],
      };
      folds.set(conv.name, fold);
      for (const name of fold.covers) covered.add(name);
    }
  });

  // How many layers still read each value, so intermediates are freed as soon as they are used.
  // A covered BN or ReLU reads nothing: its conv's fused op computes it from the conv's input.
  const uses = new Map<string, number>();
  for (const layer of layers) {
    if (covered.has(layer.name) && !folds.has(layer.name)) continue;
    for (const i of inputsOf.get(layer.name)!) uses.set(i, (uses.get(i) ?? 0) + 1);
  }

  return {
    foldedConvs: folds.size,
    predict(x) {
      const values = new Map<string, tfjs.Tensor>();
      const remaining = new Map(uses);
      const release = (name: string) => {
        const left = (remaining.get(name) ?? 0) - 1;
        remaining.set(name, left);
        if (left === 0 && !outputs.includes(name) && values.get(name) !== x) {
          values.get(name)!.dispose();
        }
      };
      for (const layer of layers) {
        const inbound = inputsOf.get(layer.name)!;
        if (inbound.length === 0) {
          values.set(layer.name, x);
          continue;
        }
        const fold = folds.get(layer.name);
        if (covered.has(layer.name) && !fold) continue; // computed by its conv
        const args = inbound.map((i) => values.get(i)!);
        if (fold) {
          const y = tf.fused.conv2d({
            x: args[0] as tfjs.Tensor4D,
            filter: fold.filter,
            strides: fold.strides,
            pad: fold.pad,
            bias: fold.bias,
            activation: fold.relu ? "relu" : "linear",
          });
          values.set(fold.covers.at(-1)!, y);
        } else {
          const y = layer.apply(args.length === 1 ? args[0] : args, { training: false });
          values.set(layer.name, y as tfjs.Tensor);
        }
        for (const i of inbound) release(i);
      }
      return outputs.map((name) => values.get(name)!);
    },
    dispose() {
      for (const f of folds.values()) tf.dispose([f.filter, f.bias]);
    },
  };
}

interface _ConvConfig {
  strides: number | number[];
  padding: "same" | "valid";
  dataFormat?: string;
  dilationRate?: number | number[];
  activation?: string;
}

function _isFoldableConv(layer: tfjs.layers.Layer): boolean {
  if (layer.getClassName() !== "Conv2D") return false;
  const c = layer.getConfig() as unknown as _ConvConfig;
  const dilation = _pair(c.dilationRate ?? 1);
  return (c.dataFormat ?? "channelsLast") === "channelsLast" && dilation[0] === 1 &&
    dilation[1] === 1 && (c.activation ?? "linear") === "linear";
}

function _isFoldableBn(layer: tfjs.layers.Layer): boolean {
  if (layer.getClassName() !== "BatchNormalization") return false;
  const c = layer.getConfig() as { axis?: number; center?: boolean; scale?: boolean };
  return (c.axis ?? -1) === -1 && c.center !== false && c.scale !== false;
}

function _isRelu(layer: tfjs.layers.Layer): boolean {
  return layer.getClassName() === "Activation" &&
    (layer.getConfig() as { activation?: string }).activation === "relu";
}

function _pair(v: number | number[]): [number, number] {
  return Array.isArray(v) ? [v[0], v[1] ?? v[0]] : [v, v];
}
