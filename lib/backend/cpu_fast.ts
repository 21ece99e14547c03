/**
 * A faster `Conv2DBackpropFilter` for the pure-JS `cpu` backend. The stock kernel reads every
 * element through `TensorBuffer.get` inside a 7-deep loop and takes ~80% of a ResNet training
 * step; this one walks the flat NHWC arrays with the output-channel loop innermost (contiguous
 * in both `dy` and `dW`). Same arithmetic (float64 accumulation, float32 result); NHWC with
 * dilation 1 only, anything else falls back to the stock kernel.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * installFastCpuKernels(tf); // after tf.setBackend("cpu")
 * ```
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";

let _installed = false;

/**
 * Replaces the cpu backend's `Conv2DBackpropFilter` kernel (once per process). Returns true when
 * it is installed.
 *
 * @example
 * ```ts
 * installFastCpuKernels(tf); // true
 * ```
 */
export function installFastCpuKernels(tf: typeof tfjs): boolean {
  if (_installed) return true;
  const stock = tf.getKernel("Conv2DBackpropFilter", "cpu");
  if (!stock) return false;
  tf.unregisterKernel("Conv2DBackpropFilter", "cpu");
  tf.registerKernel({
    kernelName: "Conv2DBackpropFilter",
    backendName: "cpu",
    kernelFunc: (args) => {
      const { inputs, backend, attrs } = args as unknown as _Args;
      const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
      if (dataFormat !== "NHWC" && dataFormat !== undefined) return stock.kernelFunc(args);
      const info = tf.backend_util.computeConv2DInfo(
        inputs.x.shape as [number, number, number, number],
        filterShape,
        strides,
        1,
        pad,
        dimRoundingMode,
        false,
        "channelsLast",
      );
      const x = backend.data.get(inputs.x.dataId).values as Float32Array;
      const dy = backend.data.get(inputs.dy.dataId).values as Float32Array;
      const dW = conv2dFilterGradNhwc(x, dy, info);
      return backend.makeTensorInfo(info.filterShape, "float32", dW);
    },
  });
  _installed = true;
  return true;
}

interface _Args {
  inputs: { x: tfjs.TensorInfo; dy: tfjs.TensorInfo };
  backend: {
    data: { get(id: unknown): { values: unknown } };
    makeTensorInfo(shape: number[], dtype: string, values: Float32Array): tfjs.TensorInfo;
  };
  attrs: {
    strides: [number, number] | number;
    pad: "valid" | "same" | number;
    dataFormat?: "NHWC" | "NCHW";
    dimRoundingMode?: "floor" | "round" | "ceil";
    filterShape: [number, number, number, number];
  };
}

/** The conv geometry fields {@link conv2dFilterGradNhwc} reads (a tfjs `Conv2DInfo`). */
export interface ConvGeometry {
  batchSize: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  outChannels: number;
  strideHeight: number;
  strideWidth: number;
  filterHeight: number;
  filterWidth: number;
  padInfo: { top: number; left: number };
}

/**
 * dW[kh, kw, ci, co] = sum over b, oy, ox of x[b, oy*s+kh-top, ox*s+kw-left, ci] * dy[b, oy, ox, co].
 *
 * @example
 * ```ts
 * const dW = conv2dFilterGradNhwc(x, dy, info); // Float32Array of kh*kw*ci*co
 * ```
 */
export function conv2dFilterGradNhwc(
  x: Float32Array,
  dy: Float32Array,
  g: ConvGeometry,
): Float32Array {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = g;
  const K = g.outChannels;
  const dW = new Float64Array(g.filterHeight * g.filterWidth * C * K);
  for (let b = 0; b < g.batchSize; b++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        const dyOff = ((b * OH + oy) * OW + ox) * K;
        for (let kh = 0; kh < g.filterHeight; kh++) {
          const iy = oy * g.strideHeight + kh - g.padInfo.top;
          if (iy < 0 || iy >= H) continue;
          for (let kw = 0; kw < g.filterWidth; kw++) {
            const ix = ox * g.strideWidth + kw - g.padInfo.left;
            if (ix < 0 || ix >= W) continue;
            const xOff = ((b * H + iy) * W + ix) * C;
            const wOff = (kh * g.filterWidth + kw) * C * K;
            for (let ci = 0; ci < C; ci++) {
              const xv = x[xOff + ci];
              if (xv === 0) continue; // post-ReLU inputs are often zero
              const row = wOff + ci * K;
              for (let co = 0; co < K; co++) dW[row + co] += xv * dy[dyOff + co];
            }
          }
        }
      }
    }
  }
  return Float32Array.from(dW);
}
