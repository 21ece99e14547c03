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
import { dirname } from "node:path";

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
export class ArtifactError extends Error {
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

/**
 * Writes `data` to `path` atomically: temp file in the same folder, fsync, rename. The folder is
 * created if needed. On any error the temp file is removed and the old file stays as it was.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  try {
    using file = await Deno.open(tmp, { write: true, createNew: true });
    let off = 0;
    while (off < bytes.length) off += await file.write(bytes.subarray(off));
    await file.sync();
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
  try {
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
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
 * Reads and checks an artifact's sidecar: present, parseable, right format and version, and the
 * data file's size matches. Pass `verifyChecksum` to also hash the data file.
 */
export async function readSidecar(
  path: string,
  format: string,
  version: number,
  options: { verifyChecksum?: boolean } = {},
): Promise<Sidecar> {
  let text: string;
  try {
    text = await Deno.readTextFile(sidecarPath(path));
  } catch {
    throw new ArtifactError(`${path}: missing sidecar ${sidecarPath(path)} (incomplete write?)`);
  }
  let sidecar: Sidecar;
  try {
    sidecar = JSON.parse(text);
  } catch (err) {
    throw new ArtifactError(`${sidecarPath(path)}: not valid JSON: ${(err as Error).message}`);
  }
  if (sidecar.format !== format) {
    throw new ArtifactError(
      `${path}: expected format '${format}', sidecar says '${sidecar.format}'`,
    );
  }
  if (sidecar.version !== version) {
    throw new ArtifactError(
      `${path}: expected ${format} version ${version}, sidecar says ${sidecar.version}`,
    );
  }
  let size: number;
  try {
    size = (await Deno.stat(path)).size;
  } catch {
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

/** True when `path` has a valid sidecar of this format whose `sources` equal `sources`. */
export async function artifactIsCurrent(
  path: string,
  format: string,
  version: number,
  sources: Record<string, unknown>,
): Promise<boolean> {
  try {
    const sidecar = await readSidecar(path, format, version);
    return JSON.stringify(sidecar.sources ?? {}) === JSON.stringify(sources);
  } catch {
    return false;
  }
}
