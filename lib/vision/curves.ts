/**
 * Training curves: `curves.json` (one record per epoch) and `loss.svg` / `accuracy.svg` drawn
 * with {@link lineChartSvg}, rewritten after every epoch so a running job can be watched.
 *
 * @example
 * ```ts
 * await writeCurves("data/runs/pretrain-x", [{ epoch: 1, trainLoss: 4.1, testLoss: 3.9,
 *   trainTop1: 0.08, testTop1: 0.11, testTop5: 0.3 }]);
 * ```
 * @module
 */
import { join } from "node:path";
import { writeFileAtomic, writeJsonAtomic } from "../io/artifact.ts";
import { lineChartSvg } from "../report/svg.ts";

/**
 * Writes curves.json, loss.svg and accuracy.svg into `dir`.
 *
 * @example
 * ```ts
 * await writeCurves(run.dir, result.curve);
 * ```
 */
export async function writeCurves(dir: string, curve: Record<string, number>[]): Promise<void> {
  const series = (key: string, name: string) => ({
    name,
    points: curve.map((r) => [r.epoch, r[key]] as [number, number]),
  });
  await writeJsonAtomic(join(dir, "curves.json"), curve);
  await writeFileAtomic(
    join(dir, "loss.svg"),
    lineChartSvg({
      title: "cross-entropy loss",
      xLabel: "epoch",
      yLabel: "loss",
      integerX: true,
      series: [series("trainLoss", "train"), series("testLoss", "test")],
    }),
  );
  await writeFileAtomic(
    join(dir, "accuracy.svg"),
    lineChartSvg({
      title: "accuracy",
      xLabel: "epoch",
      yLabel: "accuracy",
      integerX: true,
      series: [
        series("trainTop1", "train top-1"),
        series("testTop1", "test top-1"),
        series("testTop5", "test top-5"),
      ],
    }),
  );
}
