/**
 * Summary statistics shared by the benchmarks: this machine is noisy, so every timed figure is a
 * median of several runs.
 *
 * @example
 * ```ts
 * import { median } from "./stats.ts";
 * median([3, 1, 2]); // 2
 * ```
 * @module
 */

/** The median of `xs` (mean of the two middle values for an even count; NaN when empty). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The `q`-quantile of `xs` by the nearest-rank rule (e.g. `q = 0.95` for p95). */
export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}
