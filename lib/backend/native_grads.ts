/**
 * Native gradients for the `tensorflow` backend. tfjs differentiates ReLU as `dy * step(x)`, and
 * tfjs-node builds `step` from six TensorFlow ops (IsNan, Greater, Fill, OnesLike, two Selects),
 * each a full pass over the activations: about a quarter of a ResNet-20 training step
 * (`deno run -A bench/train_step.ts` measures it). TensorFlow's own `ReluGrad` kernel does the same
 * in one pass. {@link useNativeReluGrad} registers it as a tfjs kernel and points the `Relu`
 * gradient at it on that backend; every other backend keeps tfjs's formula.
 * `DEVISE_NATIVE_GRADS=0` makes `selectBackend` leave tfjs's gradient in place (for A/B timing).
 *
 * @example
 * ```ts
 * const { tf } = await selectBackend("tensorflow", { allowSlow: false });
 * useNativeReluGrad(tf); // selectBackend already does this for the native backends
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
