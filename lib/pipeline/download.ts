/**
 * `deno task download`: fetches and unpacks the official CIFAR binary archives (resumable, md5
 * checked, safe extraction), or with `check` verifies the data already in the data folder (record
 * counts, classes, channel statistics, checksums) without any network.
 *
 * ```sh
 * deno task download --dataset cifar100
 * deno task download --data-dir ../shared/data --check --json
 * ```
 * @module
 */
import { basename, join } from "node:path";
import { Progress } from "../cli/progress.ts";
import { startRun } from "../cli/run.ts";
import {
  channelStats,
  CifarDataError,
  type CifarDataset,
  type CifarSplitName,
  classCounts,
  findCifarFolder,
  loadCifar,
  locateSplitFiles,
  NUM_CLASSES,
  NUM_COARSE_CLASSES,
  OFFICIAL_RECORDS,
} from "../data/cifar.ts";
import { DownloadError, downloadFile, extractTarGz } from "../data/download.ts";
import { UnavailableError, UsageError } from "../io/errors.ts";
import { writeImageFolder } from "../images/folder.ts";

/** Official archives and their md5 sums (from https://www.cs.toronto.edu/~kriz/cifar.html). */
export const CIFAR_ARCHIVES: Readonly<Record<CifarDataset, { url: string; md5: string }>> = {
  cifar100: {
    url: "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
    md5: "03b5dce01913d631647c71ecec9e9cb8",
  },
  cifar10: {
    url: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    md5: "c32a1d4ab5d03f1284b67883e8d87530",
  },
};

/** What `deno task download` is asked to do. */
export interface DownloadRequest {
  /** Empty: cifar100 for a download, every dataset found for `check`. */
  dataset: CifarDataset | "";
  dataDir: string;
  check: boolean;
  url: string;
  md5: string;
  keepArchive: boolean;
  /** Also write the dataset's test split as an ImageFolder tree of PNGs into this folder. */
  exportImages: string;
  out: string;
  json: boolean;
  quiet: boolean;
}

/**
 * The whole of `deno task download` (see the module doc).
 *
 * @example
 * ```ts
 * await download({ dataset: "", dataDir: "../shared/data", check: true, url: "", md5: "",
 *   keepArchive: false, out: "", json: true, quiet: false });
 * ```
 */
export async function download(request: DownloadRequest): Promise<Record<string, unknown>> {
  if (request.check && (request.url || request.md5)) {
    throw new UsageError("--url/--md5 make no sense with --check (no network is used)");
  }
  const { out, json, quiet, ...settings } = request;
  const run = await startRun("download", out, { ...settings }, { quiet });
  const dataDir = request.dataDir;
  const metrics: Record<string, unknown> = { dataDir, mode: request.check ? "check" : "download" };
  if (request.check) {
    const requested = request.dataset ? [request.dataset] : null;
    metrics.datasets = await _checkAll(dataDir, requested, run.log);
  } else {
    const dataset = request.dataset || "cifar100";
    metrics.download = await _download(dataset, dataDir, request, run);
    metrics.datasets = await _checkAll(dataDir, [dataset], run.log);
  }
  if (request.exportImages) {
    const dataset = request.dataset || "cifar10";
    const split = await loadCifar(dataDir, dataset, "test");
    const written = await writeImageFolder(
      request.exportImages,
      split.images,
      split.labels,
      split.labelNames,
    );
    run.log(
      `${dataset} test: ${written.files} lossless PNGs in ${written.classes.length} class folders under ` +
        request.exportImages,
    );
    metrics.exported = { dir: request.exportImages, files: written.files, dataset };
  }
  await run.finish(metrics, json);
  return metrics;
}

/**
 * Makes sure `dataDir` holds `dataset` (both splits): fetches and unpacks the official archive
 * when it does not (what `train` does for a newcomer who has only the repository and internet).
 * Returns true when it downloaded.
 *
 * @example
 * ```ts
 * await ensureCifar("data", "cifar100", run);
 * ```
 */
export async function ensureCifar(
  dataDir: string,
  dataset: CifarDataset,
  run: { log: (line: string) => void; logFileOnly: (line: string) => void; quiet: boolean },
): Promise<boolean> {
  if (await _completeFolder(dataDir, dataset)) return false;
  run.log(`${dataset}: not found under ${dataDir}; downloading the official archive`);
  await _download(dataset, dataDir, { url: "", md5: "", keepArchive: false }, run);
  return true;
}

/** Summary of one split, as printed by `--check`. */
interface SplitSummary {
  found: boolean;
  reason?: string;
  records?: number;
  officialRecords?: number;
  classes?: number;
  perClassMin?: number;
  perClassMax?: number;
  coarsePerClassMin?: number;
  coarsePerClassMax?: number;
  mean?: number[];
  std?: number[];
  sha256?: string;
}

async function _download(
  dataset: CifarDataset,
  dataDir: string,
  flags: { url: string; md5: string; keepArchive: boolean },
  run: { log: (line: string) => void; logFileOnly: (line: string) => void; quiet: boolean },
): Promise<Record<string, unknown>> {
  const log = run.log;
  const present = await _completeFolder(dataDir, dataset);
  if (present) {
    log(`${dataset}: ${present} already holds both splits; verifying it instead of downloading`);
    return { skipped: true, folder: present };
  }
  const md5 = flags.md5 || CIFAR_ARCHIVES[dataset].md5;
  const url = flags.url || CIFAR_ARCHIVES[dataset].url;
  const archive = join(dataDir, basename(new URL(url).pathname) || `${dataset}.tar.gz`);
  log(`${dataset}: fetching ${url} -> ${archive}`);
  let bar: Progress | null = null;
  let shownKiB = 0;
  const startMs = performance.now();
  let result;
  try {
    result = await downloadFile(url, archive, {
      md5,
      onProgress(done, total) {
        bar ??= new Progress("download", Math.ceil((total ?? 0) / 1024), { unit: "KiB", run });
        const kib = Math.floor(done / 1024);
        if (kib > shownKiB) bar.tick(kib - shownKiB);
        shownKiB = Math.max(shownKiB, kib);
      },
    });
  } catch (err) {
    if (err instanceof DownloadError && err.kind === "network") {
      throw new UnavailableError(
        `${err.message}\nNo network? Copy the CIFAR binary files to a folder and point ` +
          `--data-dir (or DEVISE_DATA_DIR) at it, e.g. DIR/cifar-100-binary/{train,test}.bin[.gz] ` +
          `or DIR/cifar-10-batches-bin/, then run 'deno task download --data-dir DIR --check'.`,
      );
    }
    throw err;
  } finally {
    (bar as Progress | null)?.done();
  }
  const downloadSeconds = (performance.now() - startMs) / 1000;
  log(`${dataset}: md5 ${result.md5} ok (${result.bytes} bytes, resumed ${result.resumedBytes})`);
  const extracted = await extractTarGz(archive, dataDir);
  log(`${dataset}: extracted ${extracted.files} files into ${dataDir}/${extracted.entries[0]}`);
  if (!flags.keepArchive) await Deno.remove(archive);
  return {
    url,
    archive,
    bytes: result.bytes,
    md5: result.md5,
    resumedBytes: result.resumedBytes,
    downloadSeconds,
    extracted: extracted.entries,
    archiveKept: flags.keepArchive,
  };
}

/** The dataset folder when both splits' files are present, else null. */
async function _completeFolder(dataDir: string, dataset: CifarDataset): Promise<string | null> {
  try {
    const folder = await findCifarFolder(dataDir, dataset);
    await locateSplitFiles(folder, dataset, "train");
    await locateSplitFiles(folder, dataset, "test");
    return folder;
  } catch (err) {
    if (err instanceof CifarDataError && err.kind === "missing") return null;
    throw err;
  }
}

/** Checks every requested dataset (or every one found when `requested` is null). */
async function _checkAll(
  dataDir: string,
  requested: CifarDataset[] | null,
  log: (line: string) => void,
): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const dataset of requested ?? (["cifar100", "cifar10"] as CifarDataset[])) {
    let folder: string;
    try {
      folder = await findCifarFolder(dataDir, dataset);
    } catch (err) {
      if (requested) throw err;
      log(`${dataset}: not found (${(err as Error).message.split(":")[0]})`);
      out[dataset] = { found: false };
      continue;
    }
    const splits: Record<string, SplitSummary> = {};
    for (const split of ["train", "test"] as CifarSplitName[]) {
      splits[split] = await _checkSplit(dataDir, dataset, split);
      const s = splits[split];
      log(
        s.found
          ? `${dataset} ${split}: ${s.records} records (official ${s.officialRecords}), ` +
            `${s.classes} classes x ${s.perClassMin}..${s.perClassMax}, mean ${_fmt(s.mean!)} std ${
              _fmt(s.std!)
            }`
          : `${dataset} ${split}: not present (${s.reason})`,
      );
    }
    if (!splits.train.found && !splits.test.found) {
      throw new CifarDataError(
        `${folder}: neither the train nor the test split is there`,
        "missing",
      );
    }
    out[dataset] = { found: true, folder, splits };
  }
  if (!Object.values(out).some((d) => (d as { found: boolean }).found)) {
    throw new CifarDataError(
      `no CIFAR data under '${dataDir}' (looked for cifar-100-binary/, cifar-10-binary/, ` +
        `cifar-10-batches-bin/). Pass --data-dir or set DEVISE_DATA_DIR, or run ` +
        `'deno task download --dataset cifar100'.`,
      "missing",
    );
  }
  return out;
}

async function _checkSplit(
  dataDir: string,
  dataset: CifarDataset,
  split: CifarSplitName,
): Promise<SplitSummary> {
  let s;
  try {
    s = await loadCifar(dataDir, dataset, split);
  } catch (err) {
    if (err instanceof CifarDataError && err.kind === "missing") {
      return { found: false, reason: err.message };
    }
    throw err;
  }
  const counts = classCounts(s.labels, NUM_CLASSES[dataset]);
  const coarse = s.coarseLabels ? classCounts(s.coarseLabels, NUM_COARSE_CLASSES) : null;
  const { mean, std } = channelStats(s.images);
  return {
    found: true,
    records: s.count,
    officialRecords: OFFICIAL_RECORDS[dataset][split],
    classes: counts.length,
    perClassMin: Math.min(...counts),
    perClassMax: Math.max(...counts),
    ...(coarse
      ? { coarsePerClassMin: Math.min(...coarse), coarsePerClassMax: Math.max(...coarse) }
      : {}),
    mean,
    std,
    sha256: s.sha256,
  };
}

function _fmt(values: number[]): string {
  return `(${values.map((v) => v.toFixed(4)).join(", ")})`;
}
