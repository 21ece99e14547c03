/**
 * Native kernels for training on the `tensorflow` backend, where tfjs's own formulations cost
 * most of a ResNet step (measured with `tf.profile`, ResNet-20, batch 128):
 * - ReLU: tfjs differentiates it as `dy * step(x)`, and tfjs-node builds `step` from six
 *   TensorFlow ops (IsNan, Greater, Fill, OnesLike, two Selects), each a full pass over the
 *   activations. {@link useNativeReluGrad} uses TensorFlow's one-pass `ReluGrad` instead.
 * - Batch norm in training: tfjs-layers computes the batch moments and the normalisation as
 *   separate ops and differentiates each of them. {@link useNativeBatchNorm} runs
 *   `FusedBatchNormV3` forward and `FusedBatchNormGradV3` backward, with tfjs-layers' statistics.
 * `selectBackend` turns both on for the native backends; `DEVISE_NATIVE_GRADS=0` leaves tfjs's
 * own code in place (A/B timing: `bench/train_step.ts`). Other backends are never affected.
 *
 * @example
 * ```ts
 * const { tf } = await selectBackend("tensorflow", { allowSlow: false }); // both already on
 * useNativeReluGrad(tf); // idempotent
 * ```
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";

/** The tfjs kernel name under which TensorFlow's `ReluGrad` op is registered. */
export const NATIVE_RELU_GRAD = "DeviseReluGrad";

const _NATIVE_BACKEND = "tensorflow";

interface _NodeBackend {
  binding: { TF_ATTR_TYPE: number; TF_FLOAT: number };
  executeSingleOutput(name: string, attrs: unknown[], inputs: tfjs.TensorInfo[]): tfjs.TensorInfo;
}

/**
 * Registers TensorFlow's `ReluGrad` for the `tensorflow` backend and makes it the `Relu`
 * gradient there (idempotent). Returns whether the native kernel is now in use.
 *
 * @example
 * ```ts
 * useNativeReluGrad(tf); // true on tfjs-node
 * ```
 */
export function useNativeReluGrad(tf: typeof tfjs): boolean {
  if (!tf.getKernel(NATIVE_RELU_GRAD, _NATIVE_BACKEND)) {
    tf.registerKernel({
      kernelName: NATIVE_RELU_GRAD,
      backendName: _NATIVE_BACKEND,
      kernelFunc: ({ inputs, backend }) => {
        const node = backend as unknown as _NodeBackend;
        const { dy, x } = inputs as { dy: tfjs.TensorInfo; x: tfjs.TensorInfo };
        if (x.dtype !== "float32") throw new Error(`ReluGrad: ${x.dtype} input`);
        const T = { name: "T", type: node.binding.TF_ATTR_TYPE, value: node.binding.TF_FLOAT };
        return node.executeSingleOutput("ReluGrad", [T], [dy, x]);
      },
    });
  }
  const current = tf.getGradient("Relu");
  if (!(current && (current as { _devise?: boolean })._devise)) {
    const gradFunc: tfjs.GradFunc = (dy, saved) => {
      const [x] = saved;
      const dyTensor = dy as tfjs.Tensor;
      return {
        x: () =>
          tf.getBackend() === _NATIVE_BACKEND && x.dtype === "float32"
            ? tf.engine().runKernel(NATIVE_RELU_GRAD, { dy: dyTensor, x }) as tfjs.Tensor
            : tf.mul(dyTensor, tf.step(tf.cast(x, "float32"))), // tfjs's own formula
      };
    };
    // tfjs warns when a gradient is overridden; this is on purpose, so keep the console quiet.
    const warn = console.warn;
    console.warn = () => {};
    try {
      tf.registerGradient(
        Object.assign({ kernelName: "Relu", inputsToSave: ["x"], gradFunc }, { _devise: true }),
      );
    } finally {
      console.warn = warn;
    }
  }
  return tf.getBackend() === _NATIVE_BACKEND;
}

/**
 * Trains tfjs-layers' `batchNormalization` layers with TensorFlow's `FusedBatchNormV3` and its
 * `FusedBatchNormGradV3` on the `tensorflow` backend: tfjs computes the batch moments and the
 * normalisation as separate ops and differentiates each (about half of a ResNet training step's
 * kernel time). Same outputs, gradients and moving-average updates; inference, other backends and
 * layouts keep tfjs-layers' own code. Patches the layer class once (idempotent); returns whether
 * the native path is active.
 *
 * @example
 * ```ts
 * useNativeBatchNorm(tf); // selectBackend already does this for the native backends
 * ```
 */
export function useNativeBatchNorm(tf: typeof tfjs): boolean {
  const proto = Object.getPrototypeOf(tf.layers.batchNormalization({})) as _BatchNormLayer & {
    _deviseOriginalCall?: _BatchNormLayer["call"];
  };
  if (!proto._deviseOriginalCall) {
    const original = proto.call;
    proto._deviseOriginalCall = original;
    proto.call = function (this: _BatchNormLayer, inputs, kwargs) {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tfjs.Tensor;
      const axis = this.axis >= 0 ? this.axis : this.axis + x.rank;
      const native = kwargs?.training === true && tf.getBackend() === _NATIVE_BACKEND &&
        x.rank === 4 && axis === 3 && x.dtype === "float32" && this.scale && this.center;
      if (!native) return original.call(this, inputs, kwargs);
      return tf.tidy(() => {
        const { y, mean, variance } = _fusedBatchNormTraining(
          tf,
          x as tfjs.Tensor4D,
          this.gamma.read() as tfjs.Tensor1D,
          this.beta.read() as tfjs.Tensor1D,
          this.epsilon,
        );
        // tfjs-layers' update: moving -= (moving - batch) * (1 - momentum), biased variance.
        for (
          const [v, batch] of [[this.movingMean, mean], [this.movingVariance, variance]] as const
        ) {
          const before = v.read();
          v.write(tf.sub(before, tf.mul(tf.sub(before, batch), 1 - this.momentum)));
        }
        tf.dispose([mean, variance]);
        return y;
      });
    };
  }
  return tf.getBackend() === _NATIVE_BACKEND;
}

interface _LayerVariable {
  read(): tfjs.Tensor;
  write(value: tfjs.Tensor): void;
}

interface _BatchNormLayer {
  axis: number;
  momentum: number;
  epsilon: number;
  scale: boolean;
  center: boolean;
  gamma: _LayerVariable;
  beta: _LayerVariable;
  movingMean: _LayerVariable;
  movingVariance: _LayerVariable;
  call(inputs: tfjs.Tensor | tfjs.Tensor[], kwargs: Record<string, unknown>): tfjs.Tensor;
}

interface _NodeBackendMulti extends _NodeBackend {
  binding: _NodeBackend["binding"] & {
    TF_ATTR_FLOAT: number;
    TF_ATTR_STRING: number;
    TF_ATTR_BOOL: number;
  };
  executeMultipleOutputs(
    name: string,
    attrs: unknown[],
    inputs: tfjs.TensorInfo[],
    numOutputs: number,
  ): tfjs.Tensor[];
}

// y = BN(x) with batch statistics; the batch mean and (biased) variance come back kept, for the
// moving averages. The gradient is TensorFlow's, through x, gamma and beta.
function _fusedBatchNormTraining(
  tf: typeof tfjs,
  x: tfjs.Tensor4D,
  gamma: tfjs.Tensor1D,
  beta: tfjs.Tensor1D,
  epsilon: number,
): { y: tfjs.Tensor4D; mean: tfjs.Tensor1D; variance: tfjs.Tensor1D } {
  const node = tf.backend() as unknown as _NodeBackendMulti;
  const b = node.binding;
  const attrs = [
    { name: "T", type: b.TF_ATTR_TYPE, value: b.TF_FLOAT },
    { name: "U", type: b.TF_ATTR_TYPE, value: b.TF_FLOAT },
    { name: "epsilon", type: b.TF_ATTR_FLOAT, value: epsilon },
    { name: "data_format", type: b.TF_ATTR_STRING, value: "NHWC" },
    { name: "is_training", type: b.TF_ATTR_BOOL, value: true },
  ];
  const averaging = { name: "exponential_avg_factor", type: b.TF_ATTR_FLOAT, value: 1 };
  let stats: [tfjs.Tensor1D, tfjs.Tensor1D] | null = null;
  const forward = tf.customGrad((...args: (tfjs.Tensor | tfjs.GradSaveFunc)[]) => {
    const [xs, g, o] = args as tfjs.Tensor[];
    const save = args[3] as tfjs.GradSaveFunc;
    const empty = tf.tensor1d([], "float32");
    const [y, batchMean, batchVar, r1, r2, r3] = node.executeMultipleOutputs(
      "FusedBatchNormV3",
      [...attrs, averaging],
      [xs, g, o, empty, empty],
      6,
    );
    tf.dispose([batchMean, batchVar]); // Bessel-corrected; r1/r2 are tfjs-layers' statistics
    stats = [tf.keep(r1.clone()) as tfjs.Tensor1D, tf.keep(r2.clone()) as tfjs.Tensor1D];
    save([xs, g, r1, r2, r3]);
    return {
      value: y,
      gradFunc: (dy: tfjs.Tensor | tfjs.Tensor[], saved: tfjs.Tensor[]) => {
        const [dx, dGamma, dBeta, ...rest] = node.executeMultipleOutputs(
          "FusedBatchNormGradV3",
          attrs,
          [dy as tfjs.Tensor, ...saved],
          5,
        );
        tf.dispose(rest);
        return [dx, dGamma, dBeta];
      },
    };
  });
  const y = forward(x, gamma, beta) as tfjs.Tensor4D;
  const [mean, variance] = stats!;
  return { y, mean, variance };
}
