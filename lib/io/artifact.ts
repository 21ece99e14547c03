/**
 * Artifacts are written to a temp file in the target folder and renamed into place, so a killed
 * run never leaves a half-written file under the real name. Each artifact carries a JSON sidecar
 * (`NAME.json`) with a format tag, version, shapes and source checksums, validated on load.
 *
 * @example
 * ```ts
 * await writeArtifact("data/feat/train.f32", bytes, { format: "devise-features", version: 1,
 *   shape: [50000, 64], sources: { model: "sha256..." } });
 * const { sidecar } = await readSidecar("data/feat/train.f32", "devise-features", 1);
 * ```
 * @module
 */
import { InputError } from "./errors.ts";
import { addInterruptHook, removeInterruptHook } from "./interrupt.ts";
import { basename, dirname, join } from "node:path";

/** The JSON sidecar every artifact carries. Extra fields are allowed. */
export interface Sidecar {
  /** What kind of artifact this is, e.g. `devise-features`. */
  format: string;
  /** Format version; bumped when the layout changes. */
  version: number;
  /** sha256 of the artifact's bytes (filled in by {@link writeArtifact}). */
  sha256?: string;
  /** Byte length of the artifact (filled in by {@link writeArtifact}). */
  bytes?: number;
  /** Checksums or descriptions of the inputs it was made from. */
  sources?: Record<string, unknown>;
  [key: string]: unknown;
}

/** Thrown when an artifact or its sidecar is missing, stale or corrupt. */
export class ArtifactError extends InputError {
  override name = "ArtifactError";
}

/** The sidecar path of an artifact. */
export function sidecarPath(path: string): string {
  return `${path}.json`;
}

/** Hex sha256 of bytes. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Hex sha256 of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const { createHash } = await import("node:crypto");
  const hash = createHash("sha256");
  using file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

/** Temp files of this process not yet renamed into place (removed on SIGINT/SIGTERM). */
const _liveTemps = new Set<string>();
const _removeLiveTemps = () => {
  for (const tmp of _liveTemps) {
    try {
      Deno.removeSync(tmp, { recursive: true });
    } catch { /* already gone */ }
  }
};

function _track(tmp: string): void {
  if (_liveTemps.size === 0) addInterruptHook(_removeLiveTemps);
  _liveTemps.add(tmp);
}

function _untrack(tmp: string): void {
  _liveTemps.delete(tmp);
  if (_liveTemps.size === 0) removeInterruptHook(_removeLiveTemps);
}

function _notWritable(err: unknown): boolean {
  return err instanceof Deno.errors.PermissionDenied ||
    ["EACCES", "EPERM", "EROFS"].includes((err as { code?: string }).code ?? "");
}

/** The temp path `tmpPathFor(path)` names: `<path>.tmp-<pid>-<random>`. */
const _TMP_RE = /\.tmp-(\d+)-[0-9a-f]{8}$/;

function _processAlive(pid: number): boolean {
  if (pid === Deno.pid) return true;
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch (err) {
    // Without /proc (not Linux) nobody can tell: keep the file.
    return !(err instanceof Deno.errors.NotFound) || !_hasProc();
  }
}

let _procKnown: boolean | undefined;
function _hasProc(): boolean {
  if (_procKnown === undefined) {
    try {
      Deno.statSync("/proc/self");
      _procKnown = true;
    } catch {
      _procKnown = false;
    }
  }
  return _procKnown;
}

/**
 * Removes `<path>.tmp-<pid>-*` files left by processes that are no longer running (a kill -9 or
 * power loss, where no signal handler ran). Returns the paths removed.
 *
 * @example
 * ```ts
 * await sweepStaleTemps("data/vectors/skipgram-100.bin");
 * ```
 */
export async function sweepStaleTemps(path: string): Promise<string[]> {
  const dir = dirname(path), base = basename(path);
  const removed: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch {
    return removed; // the folder does not exist yet
  }
  for (const e of entries) {
    if (!e.name.startsWith(`${base}.tmp-`)) continue;
    const m = _TMP_RE.exec(e.name);
    if (!m || _processAlive(Number(m[1]))) continue;
    const stale = join(dir, e.name);
    await Deno.remove(stale, { recursive: true }).then(() => removed.push(stale), () => {});
  }
  return removed;
}

/** The folder (created) and a fresh temp name next to `path`, stale temps swept first. */
async function _tempFor(path: string): Promise<{ dir: string; tmp: string }> {
  const dir = dirname(path) || ".";
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (err) {
    throw new ArtifactError(`cannot create folder ${dir} for ${path}: ${(err as Error).message}`);
  }
  await sweepStaleTemps(path);
  return { dir, tmp: `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}` };
}

/**
 * Gives `write` a temp path next to `path`, then renames the temp into place. For writers that
 * take a path (native addons): the temp is removed when `write` throws or the process gets
 * SIGINT/SIGTERM, and stale temps of dead processes are swept first. The folder must exist and
 * be writable; a clear error names it otherwise.
 *
 * @example
 * ```ts
 * await writeViaTemp("data/index.bin", (tmp) => hnsw.writeIndexSync(tmp));
 * ```
 */
export async function writeViaTemp(
  path: string,
  write: (tmp: string) => void | Promise<void>,
): Promise<void> {
  const { dir, tmp } = await _tempFor(path);
  _track(tmp);
  try {
    try {
      await write(tmp);
    } catch (err) {
      if (_notWritable(err)) {
        throw new ArtifactError(`cannot write ${path}: folder ${dir} is not writable`);
      }
      throw err;
    }
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw err;
  } finally {
    _untrack(tmp);
  }
}

/** A streaming write to a temp file that becomes `path` on {@link AtomicWriter.commit}. */
export interface AtomicWriter {
  /** Appends bytes (buffered). */
  write(bytes: Uint8Array): Promise<void>;
  /** Flushes, fsyncs and renames the temp file into place. */
  commit(): Promise<void>;
  /** Closes and removes the temp file; `path` stays as it was. */
  abort(): Promise<void>;
}

/**
 * Opens a buffered streaming writer whose output replaces `path` only on `commit` (for files too
 * big to assemble in memory, such as word vectors). On SIGINT/SIGTERM the temp is removed.
 *
 * @example
 * ```ts
 * const out = await openAtomicWriter("data/vectors/v.txt");
 * try {
 *   await out.write(new TextEncoder().encode("1 2\na 0 1\n"));
 *   await out.commit();
 * } catch (err) {
 *   await out.abort();
 *   throw err;
 * }
 * ```
 */
export async function openAtomicWriter(
  path: string,
  bufferBytes = 16 << 20,
): Promise<AtomicWriter> {
  const { dir, tmp } = await _tempFor(path);
  // Tracked before it exists: a SIGINT that lands as the file appears still removes it.
  _track(tmp);
  let file: Deno.FsFile;
  try {
    file = await Deno.open(tmp, { write: true, createNew: true });
  } catch (err) {
    _untrack(tmp);
    if (_notWritable(err)) {
      throw new ArtifactError(`cannot write ${path}: folder ${dir} is not writable`);
    }
    throw err;
  }
  const buf = new Uint8Array(bufferBytes);
  let used = 0, closed = false;
  const writeAll = async (bytes: Uint8Array) => {
    let off = 0;
    while (off < bytes.length) off += await file.write(bytes.subarray(off));
  };
  const flush = async () => {
    await writeAll(buf.subarray(0, used));
    used = 0;
  };
  const close = () => {
    if (!closed) file.close();
    closed = true;
  };
  return {
    async write(bytes) {
      if (used + bytes.length > buf.length) await flush();
      if (bytes.length > buf.length) return await writeAll(bytes);
      buf.set(bytes, used);
      used += bytes.length;
    },
    async commit() {
      await flush();
      await file.sync();
      close();
      await Deno.rename(tmp, path);
      _untrack(tmp);
    },
    async abort() {
      close();
      await Deno.remove(tmp).catch(() => {});
      _untrack(tmp);
    },
  };
}

/**
 * Writes `data` to `path` atomically: temp file in the same folder, fsync, rename. The folder is
 * created if needed. On any error (or SIGINT/SIGTERM) the temp file is removed and the old file
 * stays as it was.
 *
 * @example
 * ```ts
 * await writeFileAtomic("data/runs/x/report.md", "# Report\n");
 * ```
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const out = await openAtomicWriter(path, 0); // one write of the whole buffer: no copy
  try {
    await out.write(bytes);
    await out.commit();
  } catch (err) {
    await out.abort();
    throw err;
  }
}

/** Writes JSON atomically (pretty-printed, trailing newline). */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
}

/**
 * Writes an artifact and its sidecar. The data file is renamed into place first and the sidecar
 * last, so a sidecar exists only for a complete artifact whose checksum it records.
 */
export async function writeArtifact(
  path: string,
  data: Uint8Array,
  sidecar: Sidecar,
): Promise<Sidecar> {
  const full: Sidecar = { ...sidecar, sha256: await sha256Hex(data), bytes: data.byteLength };
  await Deno.remove(sidecarPath(path)).catch(() => {});
  await writeFileAtomic(path, data);
  await writeJsonAtomic(sidecarPath(path), full);
  return full;
}

/**
 * Reads a sidecar and checks that it is JSON of the right format and version (no data-file
 * checks: for artifacts whose data the caller checks itself, such as an HNSW index).
 *
 * @example
 * ```ts
 * const side = await parseSidecar("data/index/v.bin.hnsw-m32-ef200.bin", "devise-hnsw", 2);
 * ```
 */
export async function parseSidecar(
  path: string,
  format: string,
  version: number,
): Promise<Sidecar> {
  let text: string;
  try {
    text = await Deno.readTextFile(sidecarPath(path));
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
    throw new ArtifactError(`${path}: missing sidecar ${sidecarPath(path)} (incomplete write?)`);
  }
  let sidecar: Sidecar;
  try {
    sidecar = JSON.parse(text);
  } catch (err) {
    throw new ArtifactError(`${sidecarPath(path)}: not valid JSON: ${(err as Error).message}`);
  }
  if (sidecar?.format !== format) {
    throw new ArtifactError(
      `${path}: expected format '${format}', sidecar says '${sidecar?.format}'`,
    );
  }
  if (sidecar.version !== version) {
    throw new ArtifactError(
      `${path}: expected ${format} version ${version}, sidecar says ${sidecar.version}`,
    );
  }
  return sidecar;
}

/**
 * Reads and checks an artifact's sidecar: present, parseable, right format and version, and the
 * data file's size matches. Pass `verifyChecksum` to also hash the data file.
 *
 * @example
 * ```ts
 * const side = await readSidecar("data/features/cifar10-test.gap.f32", "devise-features", 1);
 * ```
 */
export async function readSidecar(
  path: string,
  format: string,
  version: number,
  options: { verifyChecksum?: boolean } = {},
): Promise<Sidecar> {
  const sidecar = await parseSidecar(path, format, version);
  let size: number;
  try {
    size = (await Deno.stat(path)).size;
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
    throw new ArtifactError(`${path}: data file missing (sidecar present)`);
  }
  if (sidecar.bytes !== undefined && size !== sidecar.bytes) {
    throw new ArtifactError(`${path}: ${size} bytes on disk, sidecar expects ${sidecar.bytes}`);
  }
  if (options.verifyChecksum && sidecar.sha256) {
    const actual = await sha256File(path);
    if (actual !== sidecar.sha256) {
      throw new ArtifactError(`${path}: sha256 ${actual} does not match sidecar ${sidecar.sha256}`);
    }
  }
  return sidecar;
}

/** Reads an artifact's bytes after validating its sidecar (checksum included). */
export async function readArtifact(
  path: string,
  format: string,
  version: number,
): Promise<{ data: Uint8Array; sidecar: Sidecar }> {
  const sidecar = await readSidecar(path, format, version);
  const data = await Deno.readFile(path);
  if (sidecar.sha256 && (await sha256Hex(data)) !== sidecar.sha256) {
    throw new ArtifactError(`${path}: sha256 does not match its sidecar (corrupt or replaced)`);
  }
  return { data, sidecar };
}

/**
 * True when `path` has a valid sidecar of this format whose `sources` equal `sources`. Missing,
 * stale or corrupt artifacts are not current; an unreadable one (permissions, I/O) throws.
 *
 * @example
 * ```ts
 * if (!await artifactIsCurrent(path, "devise-features", 1, { model })) await extract();
 * ```
 */
export async function artifactIsCurrent(
  path: string,
  format: string,
  version: number,
  sources: Record<string, unknown>,
): Promise<boolean> {
  try {
    const sidecar = await readSidecar(path, format, version);
    return JSON.stringify(sidecar.sources ?? {}) === JSON.stringify(sources);
  } catch (err) {
    if (err instanceof ArtifactError) return false;
    throw err;
  }
}
