/**
 * How far two runs' artifacts are apart, to check that a speed-only change left the results alone:
 * every feature file (`*.f32` with a features sidecar) of one folder against the file of the same
 * name in the other, and DeViSE maps given as two files. Prints per file the max |difference|, the
 * max |value| of the first, and the relative L2 distance ‖a − b‖ / ‖a‖.
 *
 * ```sh
 * deno run -A bench/compare_artifacts.ts /tmp/q-before/features-f3c70e50b5e0 /tmp/q-after/features-f3c70e50b5e0
 * deno run -A bench/compare_artifacts.ts /tmp/q-before/devise-act-b5559a68d397.f32 /tmp/q-after/devise-act-e4733defd8ac.f32
 * ```
 * @module
 */
import { join } from "node:path";
import { readFeatures } from "../lib/vision/extract.ts";
import { loadDeviseModel } from "../lib/devise/train.ts";

/** max |a − b|, max |a| and ‖a − b‖ / ‖a‖ of two arrays of one length. */
export function arrayDistance(a: Float32Array, b: Float32Array) {
  if (a.length !== b.length) throw new Error(`${a.length} values against ${b.length}`);
  let maxDiff = 0, maxAbs = 0, diff2 = 0, norm2 = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    maxDiff = Math.max(maxDiff, Math.abs(d));
    maxAbs = Math.max(maxAbs, Math.abs(a[i]));
    diff2 += d * d;
    norm2 += a[i] * a[i];
  }
  return { maxDiff, maxAbs, relativeL2: norm2 > 0 ? Math.sqrt(diff2 / norm2) : 0 };
}

function _line(name: string, a: Float32Array, b: Float32Array): string {
  const d = arrayDistance(a, b);
  return `${name}: max |diff| ${d.maxDiff.toExponential(2)} of max |value| ` +
    `${d.maxAbs.toPrecision(4)}, relative L2 ${d.relativeL2.toExponential(2)}`;
}

if (import.meta.main) {
  const [first, second] = Deno.args;
  if (!first || !second) {
    console.error("usage: bench/compare_artifacts.ts <folder or DeViSE map> <the other>");
    Deno.exit(2);
  }
  if ((await Deno.stat(first)).isDirectory) {
    const names = [...Deno.readDirSync(first)].map((e) => e.name).filter((n) => n.endsWith(".f32"))
      .sort();
    for (const name of names) {
      const a = await readFeatures(join(first, name)), b = await readFeatures(join(second, name));
      console.log(_line(name, a.data, b.data));
    }
  } else {
    const a = await loadDeviseModel(first), b = await loadDeviseModel(second);
    console.log(_line("M", a.M, b.M));
  }
}
