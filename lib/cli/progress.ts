/**
 * Progress of long steps (epochs, extraction, word2vec, index builds, image folders). On a
 * terminal: a redrawn bar with items/s and ETA. Not on a terminal (a log file, CI): a plain line
 * about once a minute (`done/total, rate, ETA`), so a redirected two-hour run still says where it
 * is. With a run, those lines also go to its `log.txt` (also under `--quiet`, which silences
 * stderr only). `DEVISE_PROGRESS_SECONDS` sets the line interval (default 60).
 *
 * @example
 * ```ts
 * const bar = new Progress("decode", 50_000, { unit: "img", run });
 * for (let i = 0; i < 50_000; i++) bar.tick();
 * bar.done();
 * ```
 * @module
 */

/** Where progress lines go besides the bar: a run's log (see lib/cli/run.ts). */
export interface ProgressSink {
  /** Writes to stderr (unless quiet) and the log file. */
  log(line: string): void;
  /** Writes to the log file only. */
  logFileOnly(line: string): void;
  quiet: boolean;
}

/** Options for {@link Progress}. */
export interface ProgressOptions {
  /** Unit shown after the rate, e.g. `img` -> `1234 img/s`. */
  unit?: string;
  /** Silence stderr (e.g. `--quiet`); log-file lines are still written. */
  quiet?: boolean;
  /** The run whose log gets the periodic lines. */
  run?: ProgressSink;
  /** Minimum milliseconds between bar redraws. */
  redrawMs?: number;
  /** Seconds between plain progress lines (default `DEVISE_PROGRESS_SECONDS` or 60). */
  lineSeconds?: number;
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

function _defaultLineSeconds(): number {
  const env = Number(Deno.env.get("DEVISE_PROGRESS_SECONDS"));
  return Number.isFinite(env) && env > 0 ? env : 60;
}

/** A progress bar on a terminal, periodic plain lines elsewhere. */
export class Progress {
  readonly #label: string;
  readonly #total: number;
  readonly #unit: string;
  readonly #bar: boolean;
  readonly #quiet: boolean;
  readonly #run?: ProgressSink;
  readonly #redrawMs: number;
  readonly #lineMs: number;
  readonly #startMs = performance.now();
  #count = 0;
  #lastDrawMs = 0;
  #lastLineMs = performance.now();
  #suffix = "";

  constructor(label: string, total: number, options: ProgressOptions = {}) {
    this.#label = label;
    this.#total = total;
    this.#unit = options.unit ?? "it";
    this.#redrawMs = options.redrawMs ?? 100;
    this.#lineMs = 1000 * (options.lineSeconds ?? _defaultLineSeconds());
    this.#run = options.run;
    this.#quiet = options.quiet ?? options.run?.quiet ?? false;
    this.#bar = !this.#quiet && Deno.stderr.isTerminal();
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
    if (this.#bar && (now - this.#lastDrawMs >= this.#redrawMs || this.#count >= this.#total)) {
      this.#lastDrawMs = now;
      Deno.stderr.writeSync(_encoder.encode(`\r${this.line()}\x1b[K`));
    }
    if (now - this.#lastLineMs >= this.#lineMs && this.#count < this.#total) {
      this.#lastLineMs = now;
      this.#emitLine(this.line());
    }
  }

  /** Finishes the bar's line (the caller logs its own summary). */
  done(suffix?: string): void {
    if (suffix !== undefined) this.#suffix = suffix;
    if (this.#bar) Deno.stderr.writeSync(_encoder.encode(`\r${this.line()}\x1b[K\n`));
  }

  /** `label 1200/50000 (2.4%) 380 img/s ETA 2m08s suffix`. */
  line(): string {
    const elapsed = this.elapsedSeconds;
    const rate = this.#count / Math.max(elapsed, 1e-9);
    const frac = this.#total > 0 ? Math.min(1, this.#count / this.#total) : 0;
    const eta = rate > 0 ? (this.#total - this.#count) / rate : Infinity;
    const bar = this.#bar
      ? ` [${"#".repeat(Math.round(frac * 24))}${".".repeat(24 - Math.round(frac * 24))}]`
      : "";
    return `${this.#label}${bar} ${this.#count}/${this.#total} (${(100 * frac).toFixed(1)}%) ` +
      `${rate.toFixed(rate < 10 ? 2 : 0)} ${this.#unit}/s ETA ${formatSeconds(eta)}` +
      (this.#suffix ? ` ${this.#suffix}` : "");
  }

  #emitLine(line: string): void {
    // On a terminal the bar already shows it; the log file still gets the line.
    const toStderr = !this.#bar && !this.#quiet;
    if (this.#run) {
      if (toStderr) this.#run.log(line);
      else this.#run.logFileOnly(line);
    } else if (toStderr) {
      console.error(line);
    }
  }
}
