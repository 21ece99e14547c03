/**
 * Resumable HTTP downloads with md5 verification, and safe `.tar.gz` extraction. Shared by the
 * CIFAR and word-vector downloaders.
 *
 * - {@link downloadFile} keeps partial data in `DEST.part`, resumes it with an HTTP `Range`
 *   request (after a dropped connection, automatically up to `retries` times, or on the next
 *   run), verifies the md5 and only then renames to `DEST`. A bad checksum deletes the part file.
 * - {@link extractTarGz} streams gunzip + tar into a temp folder inside the destination, refuses
 *   absolute paths, `..` segments, links and device files, and renames the top-level entries
 *   into place only when the whole archive extracted cleanly.
 *
 * @example
 * ```ts
 * await downloadFile("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
 *   "data/cifar-10-binary.tar.gz", { md5: "c32a1d4ab5d03f1284b67883e8d87530" });
 * await extractTarGz("data/cifar-10-binary.tar.gz", "data"); // -> data/cifar-10-batches-bin/
 * ```
 * @module
 */
import { statOrNull } from "../io/fs.ts";
import { InputError } from "../io/errors.ts";
import { createHash } from "node:crypto";
import { dirname, join, resolve, sep } from "node:path";
import * as tar from "tar-stream";

/** A failed download or extraction. `kind` tells network trouble from bad content. */
export class DownloadError extends InputError {
  override name = "DownloadError";
  constructor(message: string, readonly kind: "network" | "http" | "checksum" | "archive") {
    super(message);
  }
}

/** Options for {@link downloadFile}. */
export interface DownloadOptions {
  /** Expected md5 (hex) of the whole file; checked before the rename. */
  md5?: string;
  /** Called as bytes arrive; `totalBytes` is null when the server does not say. */
  onProgress?: (doneBytes: number, totalBytes: number | null) => void;
  /** Automatic resumes after a connection drops mid-transfer (default 3). */
  retries?: number;
  /** Wait before each resume, multiplied by the attempt number (default 1000 ms). */
  retryDelayMs?: number;
  /** Give up when the response headers take longer than this (default 30000 ms). */
  connectTimeoutMs?: number;
  /** Give up on a transfer when no bytes arrive for this long (default 60000 ms). */
  stallTimeoutMs?: number;
}

/** What {@link downloadFile} did. */
export interface DownloadResult {
  /** Size of the finished file. */
  bytes: number;
  /** md5 (hex) of the finished file. */
  md5: string;
  /** Bytes that were already in `DEST.part` and not fetched again. */
  resumedBytes: number;
  /** HTTP requests made. */
  requests: number;
}

/**
 * Downloads `url` to `dest` via `dest.part`, resuming an existing part file with HTTP Range.
 *
 * @example
 * ```ts
 * const r = await downloadFile(url, "data/x.tar.gz", {
 *   md5: "03b5dce01913d631647c71ecec9e9cb8",
 *   onProgress: (done, total) => console.error(done, total),
 * });
 * r.resumedBytes; // > 0 when an earlier attempt was interrupted
 * ```
 */
export async function downloadFile(
  url: string,
  dest: string,
  options: DownloadOptions = {},
): Promise<DownloadResult> {
  const retries = options.retries ?? 3;
  const part = `${dest}.part`;
  await Deno.mkdir(dirname(dest) || ".", { recursive: true });
  let resumedBytes = 0;
  let requests = 0;
  for (let attempt = 0;; attempt++) {
    const have = await _size(part);
    let response: Response;
    const controller = new AbortController();
    const connectTimer = setTimeout(() => controller.abort(), options.connectTimeoutMs ?? 30_000);
    try {
      requests++;
      response = await fetch(url, {
        headers: have > 0 ? { Range: `bytes=${have}-` } : {},
        signal: controller.signal,
      });
    } catch (err) {
      clearTimeout(connectTimer);
      // Nothing received yet: fail fast (most likely offline); mid-file: retry.
      if (attempt >= retries || requests === 1) {
        const cause = (err as Error).cause as Error | undefined;
        const why = (err as Error).message + (cause?.message ? ` (${cause.message})` : "");
        throw new DownloadError(`cannot reach ${url}: ${why}`, "network");
      }
      await _sleep((options.retryDelayMs ?? 1000) * (attempt + 1));
      continue;
    }
    clearTimeout(connectTimer);
    if (response.status === 416 && have > 0) {
      await response.body?.cancel();
      if (requests === 1) resumedBytes = have;
      break; // The part file already holds everything; the checksum decides.
    }
    if (response.status !== 200 && response.status !== 206) {
      await response.body?.cancel();
      throw new DownloadError(`${url}: HTTP ${response.status} ${response.statusText}`, "http");
    }
    const range = _contentRange(response);
    if (response.status === 206 && range?.start !== have) {
      await response.body?.cancel();
      throw new DownloadError(
        `${url}: asked for bytes ${have}- but got Content-Range '${
          response.headers.get("content-range")
        }'`,
        "http",
      );
    }
    const append = response.status === 206;
    const start = append ? have : 0;
    if (requests === 1 && append) resumedBytes = have;
    const total = range?.total ??
      (response.headers.has("content-length")
        ? start + Number(response.headers.get("content-length"))
        : null);
    const got = await _receive(response, part, append, start, total, controller, options);
    if (!got.dropped && (total === null || got.size === total)) break;
    if (attempt >= retries) {
      throw new DownloadError(
        `${url}: connection dropped after ${got.size} of ${
          total ?? "?"
        } bytes; the partial download is ` +
          `kept in ${part}, run the command again to resume`,
        "network",
      );
    }
    await _sleep((options.retryDelayMs ?? 1000) * (attempt + 1));
  }
  const md5 = await md5File(part);
  if (options.md5 && md5 !== options.md5.toLowerCase()) {
    await Deno.remove(part).catch(() => {});
    throw new DownloadError(
      `${url}: md5 ${md5} does not match the expected ${options.md5}; removed ${part} ` +
        `(corrupt transfer or changed file upstream)`,
      "checksum",
    );
  }
  await Deno.rename(part, dest);
  return { bytes: await _size(dest), md5, resumedBytes, requests };
}

/** Streams the body into the part file; returns its size and whether the transfer broke. */
async function _receive(
  response: Response,
  part: string,
  append: boolean,
  start: number,
  total: number | null,
  controller: AbortController,
  options: DownloadOptions,
): Promise<{ size: number; dropped: boolean }> {
  const file = await Deno.open(part, { write: true, create: true, append, truncate: !append });
  let done = start;
  let dropped = false;
  let stallTimer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(stallTimer);
    stallTimer = setTimeout(() => controller.abort(), options.stallTimeoutMs ?? 60_000);
  };
  try {
    arm();
    options.onProgress?.(done, total);
    for await (const chunk of response.body ?? []) {
      arm();
      for (let off = 0; off < chunk.length;) off += await file.write(chunk.subarray(off));
      done += chunk.length;
      options.onProgress?.(done, total);
    }
  } catch {
    dropped = true; // Keep what arrived; the caller resumes or reports.
  } finally {
    clearTimeout(stallTimer);
    file.close();
  }
  return { size: await _size(part), dropped };
}

/**
 * md5 (hex) of a file, streamed.
 *
 * @example
 * ```ts
 * await md5File("data/cifar-100-binary.tar.gz"); // "03b5dce01913d631647c71ecec9e9cb8"
 * ```
 */
export async function md5File(path: string): Promise<string> {
  const hash = createHash("md5");
  using file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

/** What {@link extractTarGz} put in place. */
export interface ExtractResult {
  /** Top-level names created in the destination, e.g. `["cifar-100-binary"]`. */
  entries: string[];
  /** Regular files written. */
  files: number;
  /** Bytes written. */
  bytes: number;
}

/**
 * Extracts a `.tar.gz` into `destDir`. Members are written to `destDir/.extract-*` first and
 * renamed into place only after the whole archive succeeded; any unsafe member (absolute path,
 * `..`, symlink, hard link, device) aborts and removes the temp folder. Existing top-level
 * targets are an error unless `overwrite`.
 *
 * @example
 * ```ts
 * const { entries } = await extractTarGz("data/cifar-100-binary.tar.gz", "data");
 * entries; // ["cifar-100-binary"]
 * ```
 */
export async function extractTarGz(
  archive: string,
  destDir: string,
  options: { overwrite?: boolean } = {},
): Promise<ExtractResult> {
  await Deno.mkdir(destDir, { recursive: true });
  const temp = await Deno.makeTempDir({ dir: destDir, prefix: ".extract-" });
  try {
    const result = await _extractInto(archive, temp);
    for (const name of result.entries) {
      const target = join(destDir, name);
      if (await _exists(target)) {
        if (!options.overwrite) {
          throw new DownloadError(
            `${archive}: ${target} already exists; move it away (or pass overwrite) first`,
            "archive",
          );
        }
        await Deno.remove(target, { recursive: true });
      }
    }
    for (const name of result.entries) await Deno.rename(join(temp, name), join(destDir, name));
    return result;
  } finally {
    await Deno.remove(temp, { recursive: true }).catch(() => {});
  }
}

async function _extractInto(archive: string, root: string): Promise<ExtractResult> {
  const extract = tar.extract();
  const feeding = _feed(archive, extract);
  feeding.catch(() => {}); // Awaited below; this only stops an early "unhandled" report.
  const top = new Set<string>();
  let files = 0;
  let bytes = 0;
  try {
    for await (const entry of extract) {
      const { name, type } = entry.header;
      const rel = _safeMemberPath(archive, name);
      if (rel === null) {
        entry.resume();
        continue;
      }
      const target = join(root, ...rel);
      if (!resolve(target).startsWith(resolve(root) + sep)) {
        throw new DownloadError(`${archive}: member '${name}' escapes the target`, "archive");
      }
      top.add(rel[0]);
      if (type === "directory") {
        await Deno.mkdir(target, { recursive: true });
        entry.resume();
      } else if (type === "file" || type === "contiguous-file") {
        await Deno.mkdir(dirname(target), { recursive: true });
        using file = await Deno.open(target, { write: true, createNew: true });
        for await (const chunk of entry as AsyncIterable<Uint8Array>) {
          for (let off = 0; off < chunk.length;) off += await file.write(chunk.subarray(off));
          bytes += chunk.length;
        }
        files++;
      } else {
        throw new DownloadError(
          `${archive}: refusing member '${name}' of type ${type} (only files and folders allowed)`,
          "archive",
        );
      }
    }
  } catch (err) {
    extract.destroy();
    await feeding.catch(() => {});
    if (err instanceof DownloadError) throw err;
    throw new DownloadError(`${archive}: bad tar data (${(err as Error).message})`, "archive");
  }
  await feeding;
  if (top.size === 0) throw new DownloadError(`${archive}: archive has no members`, "archive");
  return { entries: [...top].sort(), files, bytes };
}

/** Gunzips the archive into the tar parser with backpressure; errors name the archive. */
async function _feed(archive: string, extract: tar.Extract): Promise<void> {
  try {
    using file = await Deno.open(archive);
    const stream = file.readable.pipeThrough(new DecompressionStream("gzip"));
    for await (const chunk of stream) {
      if (extract.destroying) return;
      if (!extract.write(chunk)) await _drained(extract);
    }
    extract.end(undefined);
  } catch (err) {
    const error = new DownloadError(
      `${archive}: corrupt gzip data (${(err as Error).message})`,
      "archive",
    );
    extract.destroy(error);
    throw error;
  }
}

function _drained(stream: tar.Extract): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off("drain", done);
      stream.off("close", done);
      resolve();
    };
    stream.on("drain", done);
    stream.on("close", done);
  });
}

/** Splits a member name into safe path segments, null for `.`; throws for unsafe names. */
function _safeMemberPath(archive: string, name: string): string[] | null {
  const refuse = (why: string) =>
    new DownloadError(`${archive}: refusing member '${name}': ${why}`, "archive");
  if (name.startsWith("/") || /^[A-Za-z]:/.test(name)) throw refuse("absolute path");
  if (name.includes("\\") || name.includes("\0")) throw refuse("backslash or NUL in name");
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw refuse("'..' leaves the target folder");
  return parts.length === 0 ? null : parts;
}

function _contentRange(response: Response): { start: number; total: number | null } | null {
  const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(response.headers.get("content-range") ?? "");
  if (!m) return null;
  return { start: Number(m[1]), total: m[2] === "*" ? null : Number(m[2]) };
}

async function _size(path: string): Promise<number> {
  return (await statOrNull(path))?.size ?? 0;
}

async function _exists(path: string): Promise<boolean> {
  // lstat: a dangling symlink at the target still blocks the rename.
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

function _sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
