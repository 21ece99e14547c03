/**
 * Kernels of a `tf.profile` grouped by name: calls and milliseconds (where the backend timed
 * them), the one tally bench/profile_step.ts and bench/webgpu_ops.ts print.
 *
 * @example
 * ```ts
 * const tally = new Map();
 * const info = await tf.profile(() => step());
 * const { kernelMs, timed } = tallyKernels(info.kernels, tally);
 * ```
 * @module
 */

/** Calls and summed milliseconds of one kernel name. */
export interface KernelTally {
  count: number;
  ms: number;
}

/**
 * Adds `kernels` to `into` (by name); returns their summed milliseconds and whether every kernel
 * had a time (a backend without timestamps gives an error object instead).
 */
export function tallyKernels(
  kernels: readonly { name: string; kernelTimeMs: unknown }[],
  into: Map<string, KernelTally>,
): { kernelMs: number; timed: boolean } {
  let kernelMs = 0, timed = true;
  for (const k of kernels) {
    const ms = typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
    if (typeof k.kernelTimeMs !== "number") timed = false;
    kernelMs += ms;
    const entry = into.get(k.name) ?? { count: 0, ms: 0 };
    entry.count += 1;
    entry.ms += ms;
    into.set(k.name, entry);
  }
  return { kernelMs, timed };
}
