/**
 * A tiny, learnable, synthetic CIFAR folder for tests and smoke runs: each class has its own
 * colour and stripe pattern plus seeded noise, written in the official binary record layout
 * (`cifar-100-binary/{train,test}.bin`, `cifar-10-binary/test_batch.bin`, label-name files).
 *
 * @example
 * ```ts
 * const dir = await Deno.makeTempDir();
 * await writeTinyCifar(dir, { trainCount: 64, testCount: 32, classes: 4, seed: 1 });
 * const train = await loadCifar(dir, "cifar100", "train"); // 64 images, labels 0..3
 * ```
 * @module
 */
import { join } from "node:path";
import { Rng } from "../io/rng.ts";

/**
 * NHWC uint8 images whose class (i % classes) is visible in colour and stripes.
 *
 * @example
 * ```ts
 * const { images, labels } = syntheticImages(8, 4, 1);
 * ```
 */
export function syntheticImages(
  count: number,
  classes: number,
  seed: number,
): { images: Uint8Array; labels: Int32Array } {
  const rng = new Rng(seed);
  const images = new Uint8Array(count * 3072);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const k = i % classes;
    labels[i] = k;
    const base = [60 + 50 * (k % 3), 60 + 40 * ((k >> 1) % 3), 200 - 45 * (k % 4)];
    const stripe = k % 2 === 0; // horizontal vs vertical stripes
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        const on = ((stripe ? y : x) >> 2) % 2 === 0 ? 40 : -40;
        for (let c = 0; c < 3; c++) {
          const v = base[c] + on + 25 * rng.normal();
          images[i * 3072 + (y * 32 + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
        }
      }
    }
  }
  return { images, labels };
}

/** NHWC -> official planar records; `coarse` adds the CIFAR-100 coarse-label byte. */
function _records(images: Uint8Array, labels: Int32Array, coarse: boolean): Uint8Array {
  const head = coarse ? 2 : 1;
  const out = new Uint8Array(labels.length * (head + 3072));
  for (let i = 0; i < labels.length; i++) {
    const r = i * (head + 3072);
    if (coarse) out[r] = labels[i] % 20;
    out[r + head - 1] = labels[i];
    for (let p = 0; p < 1024; p++) {
      for (let c = 0; c < 3; c++) out[r + head + c * 1024 + p] = images[i * 3072 + p * 3 + c];
    }
  }
  return out;
}

/**
 * Writes the synthetic dataset under `dir` in the layout `loadCifar` reads. CIFAR-10 test uses
 * the same generator with another seed.
 *
 * @example
 * ```ts
 * await writeTinyCifar(dir, { trainCount: 256, testCount: 64, classes: 4, seed: 7 });
 * ```
 */
export async function writeTinyCifar(
  dir: string,
  opts: { trainCount: number; testCount: number; classes: number; seed: number },
): Promise<void> {
  const c100 = join(dir, "cifar-100-binary");
  const c10 = join(dir, "cifar-10-binary");
  await Deno.mkdir(c100, { recursive: true });
  await Deno.mkdir(c10, { recursive: true });
  const names = (n: number, p: string) =>
    Array.from({ length: n }, (_, i) => `${p}${i}`).join("\n");
  await Deno.writeTextFile(join(c100, "fine_label_names.txt"), names(100, "fine") + "\n");
  await Deno.writeTextFile(join(c100, "coarse_label_names.txt"), names(20, "coarse") + "\n");
  await Deno.writeTextFile(join(c10, "batches.meta.txt"), names(10, "class") + "\n");
  const train = syntheticImages(opts.trainCount, opts.classes, opts.seed);
  const test = syntheticImages(opts.testCount, opts.classes, opts.seed + 1);
  const test10 = syntheticImages(opts.testCount, Math.min(10, opts.classes), opts.seed + 2);
  await Deno.writeFile(join(c100, "train.bin"), _records(train.images, train.labels, true));
  await Deno.writeFile(join(c100, "test.bin"), _records(test.images, test.labels, true));
  await Deno.writeFile(join(c10, "test_batch.bin"), _records(test10.images, test10.labels, false));
}
