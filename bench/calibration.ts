/**
 * How stable the budget's speed calibration is: `measureTrainingSpeed` (lib/vision/train.ts, what
 * `train --budget` plans with) on the cpu preset's ResNet-20, repeated in one process for each
 * `[warmup, steps]` pair given, printing training images/s per measurement.
 *
 * ```sh
 * deno run -A bench/calibration.ts '[[2,10],[2,10],[5,20],[10,40]]'
 * ```
 * @module
 */
import { selectBackend } from "../lib/backend/select.ts";
import { measureTrainingSpeed } from "../lib/vision/train.ts";
import { PRESETS } from "../lib/pipeline/presets.ts";
import { visualTrainConfig } from "../lib/pipeline/train.ts";

const pairs: [number, number][] = JSON.parse(Deno.args[0] ?? "[[2,10]]");
const { tf } = await selectBackend("tensorflow", { allowSlow: false, log: () => {} });
const config = visualTrainConfig(PRESETS.cpu.visual, 100, 1);
for (const [warmup, steps] of pairs) {
  const s = measureTrainingSpeed(tf, config, { warmup, steps });
  console.log(
    `warmup ${warmup} steps ${steps}: ${(config.batchSize / s.stepSeconds).toFixed(1)} img/s`,
  );
}
