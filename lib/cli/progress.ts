/**
 * A progress bar on stderr with items/s and ETA, drawn only when stderr is a TTY (so logs and
 * CI output stay clean). `--quiet` turns it off.
 *
 * @example
 * ```ts
 * const bar = new Progress("decode", 50_000, { unit: "img" });
 * for (let i = 0; i < 50_000; i++) bar.tick();
 * bar.done();
 * ```
 * @module
 */

/** Options for {@link Progress}. */
export interface ProgressOptions {
  /** Unit shown after the rate, e.g. `img` -> `1234 img/s`. */
  unit?: string;
  /** Force the bar off (e.g. `--quiet`). */
  quiet?: boolean;
  /** Minimum milliseconds between redraws. */
  redrawMs?: number;
}

const _encoder = new TextEncoder();

/** Formats seconds as `1h02m`, `3m05s` or `12s`. */
export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  if (s >= 3600) {
    return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, "0")}m`;
  }
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

/** A TTY progress bar; a no-op when stderr is not a terminal. */
export class Progress {
  readonly #label: string;
  readonly #total: number;
  readonly #unit: string;
  readonly #enabled: boolean;
  readonly #redrawMs: number;
  readonly #startMs = performance.now();
  #count = 0;
  #lastDrawMs = 0;
  #suffix = "";

  constructor(label: string, total: number, options: ProgressOptions = {}) {
    this.#label = label;
    this.#total = total;
    this.#unit = options.unit ?? "it";
    this.#redrawMs = options.redrawMs ?? 100;
    this.#enabled = !options.quiet && Deno.stderr.isTerminal();
  }

  /** Items done so far. */
  get count(): number {
    return this.#count;
  }

  /** Seconds since the bar was created. */
  get elapsedSeconds(): number {
    return (performance.now() - this.#startMs) / 1000;
  }

  /** Advances by `n` items; `suffix` (e.g. `loss 1.23`) is shown after the rate. */
  tick(n = 1, suffix?: string): void {
    this.#count += n;
    if (suffix !== undefined) this.#suffix = suffix;
    const now = performance.now();
    if (this.#enabled && (now - this.#lastDrawMs >= this.#redrawMs || this.#count >= this.#total)) {
      this.#lastDrawMs = now;
      this.#draw();
    }
  }

  /** Finishes the line. */
  done(suffix?: string): void {
    if (suffix !== undefined) this.#suffix = suffix;
    if (this.#enabled) {
      this.#draw();
      Deno.stderr.writeSync(_encoder.encode("\n"));
    }
  }

  #draw(): void {
    const elapsed = this.elapsedSeconds;
    const rate = this.#count / Math.max(elapsed, 1e-9);
    const frac = this.#total > 0 ? Math.min(1, this.#count / this.#total) : 0;
    const width = 24;
    const filled = Math.round(frac * width);
    const eta = rate > 0 ? (this.#total - this.#count) / rate : Infinity;
    const line = `\r${this.#label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ` +
      `${this.#count}/${this.#total} ${rate.toFixed(rate < 10 ? 2 : 0)} ${this.#unit}/s ` +
      `ETA ${formatSeconds(eta)} ${this.#suffix}\x1b[K`;
    Deno.stderr.writeSync(_encoder.encode(line));
  }
}
