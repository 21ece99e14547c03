/**
 * Summary statistics: medians and quantiles (the benchmarks and every timed figure: this machine
 * is noisy, so a time is a median of several runs), means of defined values, a mean and sample
 * standard deviation (a spread across seeds), and per-column mean
 * and standard deviation of a row-major matrix (DeViSE's feature standardisation).
 *
 * @example
 * ```ts
 * median([3, 1, 2]); // 2
 * columnMeanStd(new Float32Array([1, 2, 3, 4]), 2); // { mean: [2, 3], std: [1, 1] }
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

/**
 * Mean of the finite values (NaN when none).
 *
 * @example
 * ```ts
 * meanOfDefined([1, NaN, 0]); // 0.5
 * ```
 */
export function meanOfDefined(xs: readonly number[]): number {
  const ok = xs.filter((x) => Number.isFinite(x));
  return ok.length === 0 ? NaN : ok.reduce((a, b) => a + b, 0) / ok.length;
}

/**
 * Mean and sample standard deviation (n − 1; 0 for one value) of `xs`: a spread across seeds.
 *
 * @example
 * ```ts
 * meanAndSampleSd([1, 2, 3]); // { mean: 2, sd: 1 }
 * ```
 */
export function meanAndSampleSd(xs: readonly number[]): { mean: number; sd: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const ss = xs.reduce((a, b) => a + (b - mean) ** 2, 0);
  return { mean, sd: xs.length > 1 ? Math.sqrt(ss / (xs.length - 1)) : 0 };
}

/**
 * Per-column mean and std (population, floored at 1e-6) of an n×d row-major matrix.
 *
 * @example
 * ```ts
 * const { mean, std } = columnMeanStd(trainFeatures, 512);
 * ```
 */
export function columnMeanStd(
  matrix: Float32Array,
  d: number,
): { mean: Float32Array; std: Float32Array } {
  const n = matrix.length / d;
  const sum = new Float64Array(d), sq = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < d; a++) {
      const x = matrix[i * d + a];
      sum[a] += x;
      sq[a] += x * x;
    }
  }
  const mean = new Float32Array(d), std = new Float32Array(d);
  for (let a = 0; a < d; a++) {
    mean[a] = sum[a] / Math.max(1, n);
    std[a] = Math.max(1e-6, Math.sqrt(Math.max(0, sq[a] / Math.max(1, n) - mean[a] ** 2)));
  }
  return { mean, std };
}
