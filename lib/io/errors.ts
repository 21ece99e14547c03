/**
 * The error kinds a task can end with, each with its exit code, so that `runTask` prints one line
 * and exits with a code a script can act on: 2 for a bad command line, 3 for bad input data (a
 * file that is missing, truncated, corrupt, non-finite or of the wrong shape), 4 when a needed
 * backend or tool is not available, 1 for anything else (a bug: run with `DEVISE_DEBUG=1` for the
 * stack). Stage modules throw subclasses of these (`ArtifactError`, `VectorFormatError`, ...).
 *
 * @example
 * ```ts
 * throw new InputError(`${path}: 12 rows, the sidecar says 10`);
 * exitCodeOf(new UsageError("--epochs must be >= 1")); // 2
 * ```
 * @module
 */

/** Exit codes by error kind. */
export const EXIT_CODES = {
  failure: 1,
  usage: 2,
  input: 3,
  unavailable: 4,
  interrupted: 130,
} as const;

/** Thrown for a bad command line; the task exits 2. */
export class UsageError extends Error {
  override name = "UsageError";
  readonly exitCode: number = EXIT_CODES.usage;
}

/** Thrown for bad input data (files, downloads, caches); the task exits 3. */
export class InputError extends Error {
  override name = "InputError";
  readonly exitCode: number = EXIT_CODES.input;
}

/** Thrown when a backend, tool or download is not available here; the task exits 4. */
export class UnavailableError extends Error {
  override name = "UnavailableError";
  readonly exitCode: number = EXIT_CODES.unavailable;
}

/** Thrown when training produces a non-finite loss (it diverged); the task exits 1. */
export class DivergedError extends Error {
  override name = "DivergedError";
  readonly exitCode: number = EXIT_CODES.failure;
}

/**
 * Stops training at the first non-finite loss, saying where and what to try.
 *
 * @example
 * ```ts
 * assertFiniteLoss(loss, "pretraining epoch 3, step 1201", "lower --lr (now 0.2)");
 * ```
 */
export function assertFiniteLoss(loss: number, where: string, hint: string): void {
  if (!Number.isFinite(loss)) {
    throw new DivergedError(`${where}: the training loss is ${loss} (diverged); ${hint}`);
  }
}

/**
 * The exit code for an error: its `exitCode` when it is one of ours, else 1.
 *
 * @example
 * ```ts
 * exitCodeOf(new Error("boom")); // 1
 * ```
 */
export function exitCodeOf(err: unknown): number {
  const code = (err as { exitCode?: unknown })?.exitCode;
  return typeof code === "number" ? code : EXIT_CODES.failure;
}
