/**
 * The ResNet training step the speed benchmarks time (bench/train_step.ts, bench/profile_step.ts,
 * bench/gpu_train_step.ts): momentum SGD on a random CIFAR-sized batch, softmax cross-entropy, L2
 * on the kernels, as in lib/vision/train.ts.
 *
 * @example
 * ```ts
 * const s = resnetTrainingStep(tf, 20, 128);
 * const loss = s.step(); loss.dataSync(); loss.dispose();
 * s.dispose();
 * ```
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import type { TF } from "../lib/backend/select.ts";
import { buildModel } from "../lib/vision/models.ts";

/** A model, its optimizer and one fixed batch, ready to step. */
export interface ResnetTrainingStep {
  model: tfjs.LayersModel;
  /** One SGD step; returns the batch's loss (the caller reads and disposes it). */
  step(): tfjs.Scalar;
  dispose(): void;
}

/** Sets up the benchmarked step for a ResNet of `depth` on batches of `batchSize`. */
export function resnetTrainingStep(tf: TF, depth: number, batchSize: number): ResnetTrainingStep {
  const model = buildModel(tf, { arch: "resnet", depth, numClasses: 100, seed: 1 });
  const optimizer = tf.train.momentum(0.1, 0.9);
  const vars = model.trainableWeights.map((w) => w.read() as tfjs.Variable);
  const decay = model.trainableWeights.map((w) => w.originalName.endsWith("kernel"));
  const x = tf.randomNormal([batchSize, 32, 32, 3], 0, 1, "float32", 1);
  const y = tf.oneHot(
    tf.tensor1d(Int32Array.from({ length: batchSize }, (_, i) => i % 100), "int32"),
    100,
  );
  return {
    model,
    step: () =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(
          () =>
            tf.losses.softmaxCrossEntropy(
              y,
              model.apply(x, { training: true }) as tfjs.Tensor,
            ) as tfjs.Scalar,
          vars,
        );
        optimizer.applyGradients(vars.map((v, k) => ({
          name: v.name,
          tensor: decay[k] ? tf.add(grads[v.name], tf.mul(v, 5e-4)) : grads[v.name],
        })));
        return value;
      }),
    dispose() {
      tf.dispose([x, y]);
      model.dispose();
      optimizer.dispose();
    },
  };
}
