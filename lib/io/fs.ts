/**
 * File-system questions every stage asks: does this path exist, is it a file or a folder. Only
 * "not found" means no; any other failure (permission denied, I/O error, a symlink loop) is
 * thrown with the path, so that an unreadable file is never mistaken for a missing or stale one.
 *
 * @example
 * ```ts
 * if (!await exists("data/vectors/skipgram-100.bin")) console.error("training vectors first");
 * await isDir("../shared/data"); // true
 * ```
 * @module
 */
import { InputError } from "./errors.ts";

/** Thrown when a path exists but cannot be examined (EACCES, ELOOP, EIO, ...). */
export class FsError extends InputError {
  override name = "FsError";
}

function _fsError(path: string, err: unknown): FsError {
  const e = err as Error & { code?: string };
  return new FsError(`${path}: ${e.code ? `${e.code}: ` : ""}${e.message}`);
}

/**
 * `Deno.stat` of `path`, or null when nothing is there. Other errors are thrown as
 * {@link FsError} naming the path.
 *
 * @example
 * ```ts
 * const info = await statOrNull("data/runs"); // Deno.FileInfo | null
 * ```
 */
export async function statOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw _fsError(path, err);
  }
}

/**
 * Synchronous {@link statOrNull}.
 *
 * @example
 * ```ts
 * statOrNullSync("deno.json")?.isFile; // true
 * ```
 */
export function statOrNullSync(path: string): Deno.FileInfo | null {
  try {
    return Deno.statSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw _fsError(path, err);
  }
}

/**
 * True when something is at `path` (file, folder, or what a symlink points to).
 *
 * @example
 * ```ts
 * await exists("deno.json"); // true
 * ```
 */
export async function exists(path: string): Promise<boolean> {
  return (await statOrNull(path)) !== null;
}

/**
 * True when `path` is a regular file (following symlinks).
 *
 * @example
 * ```ts
 * await isFile("deno.json"); // true
 * ```
 */
export async function isFile(path: string): Promise<boolean> {
  return (await statOrNull(path))?.isFile === true;
}

/**
 * True when `path` is a folder (following symlinks).
 *
 * @example
 * ```ts
 * await isDir("lib"); // true
 * ```
 */
export async function isDir(path: string): Promise<boolean> {
  return (await statOrNull(path))?.isDirectory === true;
}

/**
 * Synchronous {@link isFile}.
 *
 * @example
 * ```ts
 * isFileSync("deno.json"); // true
 * ```
 */
export function isFileSync(path: string): boolean {
  return statOrNullSync(path)?.isFile === true;
}

/**
 * Reads and parses a JSON file; null when it does not exist. A file that exists but is not JSON
 * throws an error naming the file.
 *
 * @example
 * ```ts
 * const stamp = await readJsonOrNull("data/.setup.json");
 * ```
 */
export async function readJsonOrNull(path: string): Promise<unknown | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw _fsError(path, err);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new FsError(`${path}: not valid JSON: ${(err as Error).message}`);
  }
}
