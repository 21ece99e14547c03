/**
 * How stable the budget's speed calibration is: `measureTrainingSpeed` (lib/vision/train.ts, what
 * `train --budget` plans with) on the cpu preset's ResNet-20, repeated in one process for each
 * `[warmup, steps]` pair given, printing training images/s per measurement: on random images, and
 * with `--data-dir` on real CIFAR-100 training images (normalised and augmented as in an epoch).
 *
 * ```sh
 * deno run -A bench/calibration.ts '[[2,10],[2,10],[5,20],[10,40]]'
 * deno run -A bench/calibration.ts '[[5,20],[5,20]]' --data-dir ../shared/data
 * ```
 * @module
 */
import { parseArgs } from "node:util";
import { selectBackend } from "../lib/backend/select.ts";
import { channelStats, loadCifar } from "../lib/data/cifar.ts";
import { measureTrainingSpeed } from "../lib/vision/train.ts";
import { PRESETS } from "../lib/pipeline/presets.ts";
import { visualTrainConfig } from "../lib/pipeline/train.ts";

const { values, positionals } = parseArgs({
  options: { "data-dir": { type: "string" } },
  allowPositionals: true,
});
const pairs: [number, number][] = JSON.parse(positionals[0] ?? "[[2,10]]");
const { tf } = await selectBackend("tensorflow", { allowSlow: false, log: () => {} });
const config = visualTrainConfig(PRESETS.cpu.visual, 100, 1);
const split = values["data-dir"] ? await loadCifar(values["data-dir"], "cifar100", "train") : null;
const data = split ? { split, ...channelStats(split.images) } : undefined;
for (const [warmup, steps] of pairs) {
  const s = measureTrainingSpeed(tf, config, { warmup, steps, data });
  console.log(
    `warmup ${warmup} steps ${steps} (${data ? "real" : "random"} images): ` +
      `${(config.batchSize / s.stepSeconds).toFixed(1)} img/s`,
  );
}
