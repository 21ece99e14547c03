/**
 * Where the pipeline's word vectors come from (`--vectors`): our own skip-gram vectors (trained
 * by `deno task word2vec` on the offline corpus, reused when valid), Google's pretrained files
 * by name (downloaded from a configurable URL with resume and progress), a local file, or a URL.
 *
 * @example
 * ```ts
 * const v = await resolveVectors({ source: "skipgram", dim: 200, epochs: 10 }, run);
 * v.path; // data/vectors/skipgram-200.bin
 * ```
 * @module
 */
import { basename, join } from "node:path";
import type { Run } from "../cli/run.ts";
import { Progress } from "../cli/progress.ts";
import { downloadFile } from "../data/download.ts";
import { sha256File } from "../io/artifact.ts";

/** What `--vectors` and its companion flags resolved to. */
export interface VectorsChoice {
  /** `skipgram`, `googlenews`, `freebase`, a file path, or an http(s) URL. */
  source: string;
  /** Skip-gram vector length (skipgram only). */
  dim: number;
  /** Skip-gram epochs (skipgram only). */
  epochs: number;
  /** Retrofit the skip-gram vectors to WordNet (skipgram only). */
  retrofit?: "none" | "wordnet";
  /** Data folder (its word-sim/ sets are evaluated after training). */
  dataDir?: string;
  /** Folder for trained and downloaded vectors (default `data/vectors`). */
  vectorsDir?: string;
  /** Overrides the named source's download URL. */
  url?: string;
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

/** A resolved vectors file. */
export interface ResolvedVectors {
  path: string;
  sha256: string;
  /** How it was obtained. */
  origin: "trained" | "reused" | "downloaded" | "file";
}

/** Resolves (training or downloading if needed) the vectors file for a {@link VectorsChoice}. */
export async function resolveVectors(choice: VectorsChoice, run: Run): Promise<ResolvedVectors> {
  const dir = choice.vectorsDir ?? join("data", "vectors");
  if (choice.source === "skipgram") return await _skipgram(choice, dir, run);
  const named = NAMED_VECTORS[choice.source];
  if (named || /^https?:\/\//.test(choice.source)) {
    const url = choice.url || (named ? Deno.env.get(named.env) ?? named.url : choice.source);
    const path = join(dir, named ? named.file : basename(new URL(url).pathname));
    if (!await _exists(path)) {
      run.log(`   downloading ${url} -> ${path}`);
      let bar: Progress | undefined;
      try {
        await downloadFile(url, path, {
          onProgress: (done, total) => {
            bar ??= new Progress("vectors", total ?? 0, { unit: "B" });
            bar.tick(done - bar.count);
          },
        });
      } catch (err) {
        throw new Error(
          `could not download ${choice.source} vectors from ${url}: ${(err as Error).message}\n` +
            `Offline? Put the file at ${path}, or pass --vectors PATH` +
            (named ? ` (or set ${named.env} / --vectors-url to a mirror)` : ""),
        );
      } finally {
        bar?.done();
      }
      return { path, sha256: await sha256File(path), origin: "downloaded" };
    }
    return { path, sha256: await sha256File(path), origin: "file" };
  }
  if (!await _exists(choice.source)) {
    throw new Error(
      `--vectors ${choice.source}: no such file (expected skipgram, googlenews, freebase, a path ` +
        "to a word2vec .bin/.txt/.vec file, or a URL)",
    );
  }
  return { path: choice.source, sha256: await sha256File(choice.source), origin: "file" };
}

/**
 * Runs `deno task word2vec` (which reuses valid vectors at its output path) in a subprocess, so
 * its multi-threaded workers and memory are gone before the next stage.
 */
async function _skipgram(choice: VectorsChoice, dir: string, run: Run): Promise<ResolvedVectors> {
  const args = [
    "run",
    "-A",
    new URL("../../tasks/word2vec.ts", import.meta.url).pathname,
    "--dim",
    String(choice.dim),
    "--epochs",
    String(choice.epochs),
    "--vectors-dir",
    dir,
    "--retrofit",
    choice.retrofit ?? "none",
    ...(choice.dataDir ? ["--data-dir", choice.dataDir] : []),
    "--out",
    join(run.dir, "word2vec"),
    "--json",
  ];
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`deno task word2vec failed (exit ${out.code}); see above`);
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  const metrics = JSON.parse(lines.at(-1)!);
  const path = metrics.vectors as string;
  return {
    path,
    sha256: await sha256File(path),
    origin: metrics.reused ? "reused" : "trained",
  };
}

async function _exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}
