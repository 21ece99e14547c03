/**
 * Fault drills: real task subprocesses (`deno run -A tasks/<task>.ts`) on tiny fixtures, killed
 * with SIGKILL at seeded random points, then checked: no partial artifact passes validation, and
 * a re-run ends with the same checksums / metrics as an uninterrupted run. Then faults: disk full
 * (64 KiB tmpfs), read-only output (tmpfs remounted ro), missing data folder, corrupt checkpoint
 * and mismatched vectors each give a clear error and leave existing artifacts byte-identical.
 * Mount-based drills are skipped (ignored) where `mount` is not permitted.
 *
 * `deno task bench --drills` runs this file and prints drills run/passed.
 * @module
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import * as tar from "tar-stream";
import { readSidecar, sha256File, sidecarPath } from "../lib/io/artifact.ts";
import { Rng } from "../lib/io/rng.ts";
import { loadDeviseModel } from "../lib/devise/train.ts";
import { loadCheckpoint } from "../lib/vision/checkpoint.ts";
import { writeTinyCifar } from "../lib/vision/fixture.ts";
import { makeWordVectors } from "../lib/text/vectors.ts";
import { writeWord2vecBinary } from "../lib/text/word2vec_io.ts";
import { indexPathFor } from "../lib/zeroshot/index.ts";
import { syntheticVectors } from "../lib/zeroshot/synthetic.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const decoder = new TextDecoder();
/** Kill points come from this generator, so a failing drill replays the same way. */
const killRng = new Rng(20261128);

// ---------------------------------------------------------------- helpers

function _spawn(task: string, args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(ROOT, "tasks", `${task}.ts`), ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
}

/** Runs a task to the end; returns its exit code, stdout and stderr. */
async function _run(task: string, args: string[]) {
  const out = await _spawn(task, args).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** Runs a task that must succeed; returns the JSON on its last stdout line. */
async function _runOk(task: string, args: string[]): Promise<Record<string, unknown>> {
  const r = await _run(task, args);
  assert.equal(r.code, 0, `${task} ${args.join(" ")} failed:\n${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!);
}

/** Runs a task that must fail; returns its stderr. */
async function _runFails(task: string, args: string[]): Promise<string> {
  const r = await _run(task, args);
  assert.notEqual(r.code, 0, `${task} should have failed:\n${r.stdout}\n${r.stderr}`);
  return r.stderr;
}

const _sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function _exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/**
 * Spawns a task, waits until `ready()` (polled every few ms), then a seeded random extra delay
 * in [0, jitterMs), and sends SIGKILL. Returns whether the kill interrupted it (it may finish).
 */
async function _killDuring(
  task: string,
  args: string[],
  ready: () => Promise<boolean>,
  jitterMs: number,
): Promise<boolean> {
  const child = _spawn(task, args);
  let done = false;
  const status = child.status.then((s) => (done = true, s));
  const t0 = performance.now();
  while (!done && !(await ready())) {
    assert.ok(performance.now() - t0 < 30_000, `${task}: never became ready to kill`);
    await _sleep(2);
  }
  if (!done) await _sleep(Math.floor(killRng.next() * jitterMs));
  if (!done) child.kill("SIGKILL");
  const s = await status;
  await child.stdout.cancel().catch(() => {});
  await child.stderr.cancel().catch(() => {});
  const killed = s.signal === "SIGKILL";
  console.error(
    `  ${task}: ${killed ? "killed" : "finished before the kill"} after ${
      ((performance.now() - t0) / 1000).toFixed(2)
    } s`,
  );
  return killed;
}

/** Runs a task to the end (must succeed); returns its JSON and wall seconds. */
async function _timedOk(task: string, args: string[]) {
  const t0 = performance.now();
  const json = await _runOk(task, args);
  return { json, seconds: (performance.now() - t0) / 1000 };
}

/**
 * Kills a run at a seeded random fraction (30–80 %) of an uninterrupted run's wall time, retrying
 * with shorter delays if it finished first; asserts that one attempt was interrupted.
 * `beforeEach` resets the output between attempts (a finished attempt would be reused).
 */
async function _killAtRandom(
  task: string,
  args: string[],
  refSeconds: number,
  beforeEach: () => Promise<void>,
): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    await beforeEach();
    const delayMs = 1000 * refSeconds * (0.3 + 0.5 * killRng.next()) * 0.6 ** attempt;
    const t0 = performance.now();
    const ready = () => Promise.resolve(performance.now() - t0 >= delayMs);
    console.error(
      `  ${task}: kill at ${(delayMs / 1000).toFixed(2)} s of a ${refSeconds.toFixed(2)} s run`,
    );
    if (await _killDuring(task, args, ready, 1)) return;
  }
  assert.fail(`${task}: every run finished before its kill`);
}

/** Every file under `dir` (relative path -> sha256). */
async function _snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = join(d, e.name);
      if (e.isDirectory) await walk(p);
      else if (e.isFile) out[relative(dir, p)] = await sha256File(p);
    }
  };
  await walk(dir);
  return out;
}

/**
 * "No partial artifact is taken as valid": every data file under `dir` whose sidecar exists must
 * pass validation including its checksum; a file without a sidecar is rejected by every loader.
 * Returns the names of the valid artifacts.
 */
async function _assertNoFalseValid(dir: string): Promise<string[]> {
  const valid: string[] = [];
  if (!(await _exists(dir))) return valid; // killed before it made the folder
  for (const [rel] of Object.entries(await _snapshot(dir))) {
    const path = join(dir, rel);
    if (rel.endsWith(".json") || !(await _exists(sidecarPath(path)))) continue;
    let side: { format?: string; version?: number; sha256?: string };
    try {
      side = JSON.parse(await Deno.readTextFile(sidecarPath(path)));
    } catch {
      continue; // unparseable sidecar: readSidecar rejects it
    }
    if (!side.format || !side.sha256) continue;
    await readSidecar(path, side.format, side.version!, { verifyChecksum: true });
    valid.push(rel);
  }
  return valid;
}

// Shared tiny fixtures, built once on first use.
let _cifar: Promise<string> | null = null;
function _tinyCifar(): Promise<string> {
  return _cifar ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "drill-cifar-" });
    // Shared by several drills; removed when the test process ends.
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    await writeTinyCifar(dir, { trainCount: 160, testCount: 32, classes: 4, seed: 3 });
    return dir;
  })();
}

const PRETRAIN_ARGS = [
  ...["--backend", "cpu", "--depth", "8", "--width", "0.25", "--input-size", "8"],
  ...["--epochs", "3", "--batch-size", "16", "--lr", "0.05", "--seed", "4", "--quiet", "--json"],
];
let _pretrained: Promise<{ dir: string; metrics: Record<string, unknown> }> | null = null;
/** An uninterrupted tiny pretraining run (the reference for the kill drills). */
function _refPretrain() {
  return _pretrained ??= (async () => {
    const data = await _tinyCifar();
    const dir = join(data, "ref-pretrain");
    const metrics = await _runOk("pretrain", [...PRETRAIN_ARGS, "--data-dir", data, "--out", dir]);
    return { dir, metrics };
  })();
}

function _stripTimes(curve: Record<string, number>[]) {
  return curve.map(({ seconds: _s, imagesPerSecond: _i, ...rest }) => rest);
}

// Whether this machine lets us mount a tmpfs (root in a VM: yes; containers: often not).
async function _probeMount(): Promise<string | null> {
  const dir = await Deno.makeTempDir({ prefix: "drill-mount-probe-" });
  try {
    const m = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir],
      stderr: "piped",
    }).output();
    if (!m.success) return `mount failed: ${decoder.decode(m.stderr).trim()}`;
    await new Deno.Command("umount", { args: [dir] }).output();
    return null;
  } catch (err) {
    return `mount not runnable: ${(err as Error).message}`;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
const mountProblem = await _probeMount();
if (mountProblem) {
  console.error(`drills: skipping disk-full and read-only drills (${mountProblem})`);
}

async function _mount(dir: string, options: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const m = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", options, "tmpfs", dir],
    stderr: "piped",
  }).output();
  assert.ok(m.success, decoder.decode(m.stderr));
}

async function _umount(dir: string): Promise<void> {
  await new Deno.Command("umount", { args: [dir] }).output();
}

// A small corpus with the words tasks/word2vec.ts looks up, and a word-sim file for --eval.
async function _corpus(dir: string): Promise<{ corpus: string; sim: string }> {
  const rng = new Rng(11);
  const words = [
    ...["cat", "truck", "ship", "airplane", "frog", "dog", "car", "bird", "horse", "deer"],
    ...Array.from({ length: 140 }, (_, i) => `w${i}`),
  ];
  const lines: string[] = [];
  for (let s = 0; s < 1500; s++) {
    const n = 6 + rng.int(10);
    const toks = Array.from({ length: n }, () => words[Math.floor(words.length * rng.next() ** 2)]);
    lines.push(toks.join(" "));
  }
  const corpus = join(dir, "corpus.txt");
  await Deno.writeTextFile(corpus, lines.join("\n") + "\n");
  const sim = join(dir, "sim.txt");
  await Deno.writeTextFile(sim, "cat dog 8\ncar truck 9\nship frog 1\nbird airplane 5\n");
  return { corpus, sim };
}

function _w2vArgs(c: { corpus: string; sim: string }, vectorsDir: string, out: string, dim = 16) {
  return [
    ...["--corpus", c.corpus, "--no-default-corpus", "--threads", "1", "--dim", String(dim)],
    ...["--epochs", "4", "--min-count", "2", "--seed", "3", "--eval", c.sim],
    ...["--vectors-dir", vectorsDir, "--out", out, "--quiet", "--json"],
  ];
}

let _features: Promise<{ dir: string; seconds: number }> | null = null;
/** Features extracted (uninterrupted) from the reference pretraining run, and the wall time. */
function _refFeatures(): Promise<{ dir: string; seconds: number }> {
  return _features ??= (async () => {
    const data = await _tinyCifar();
    const ref = await _refPretrain();
    const dir = join(data, "feat-ref");
    const args = [..._extractArgs(data, ref.dir, dir), "--out", join(data, "ex-ref")];
    return { dir, seconds: (await _timedOk("extract", args)).seconds };
  })();
}

function _extractArgs(data: string, checkpoint: string, features: string): string[] {
  return [
    ...["--checkpoint", checkpoint, "--data-dir", data, "--backend", "cpu", "--batch-size", "8"],
    ...["--features", features, "--quiet", "--json"],
  ];
}

// DeViSE inputs: the extracted gap features, the tiny CIFAR labels and 8-d vectors for every
// label name of the fixture (fine0..fine99, class0..class9); `drop` leaves the last fine ones out.
async function _deviseInputs(dir: string, drop = 0) {
  const rng = new Rng(5);
  const names = [
    ...Array.from({ length: 100 - drop }, (_, i) => `fine${i}`),
    ...Array.from({ length: 10 }, (_, i) => `class${i}`),
  ];
  const vectors = join(dir, `labels-${drop}.txt`);
  const rows = names.map((w) =>
    `${w} ${Array.from({ length: 8 }, () => rng.normal().toFixed(5)).join(" ")}`
  );
  await Deno.writeTextFile(vectors, `${names.length} 8\n${rows.join("\n")}\n`);
  return { features: (await _refFeatures()).dir, data: await _tinyCifar(), vectors };
}

function _deviseArgs(
  inputs: { features: string; data: string; vectors: string },
  out: string,
): string[] {
  return [
    ...["--features", inputs.features, "--data-dir", inputs.data, "--layer", "gap"],
    ...["--vectors", inputs.vectors, "--out", out],
    ...["--epochs", "80", "--batch-size", "32", "--backend", "cpu", "--json"],
  ];
}

// ---------------------------------------------------------------- kill -9 drills

/** A CIFAR-10 style archive: test_batch.bin, one data batch and the label names. */
async function _cifar10TarGz(): Promise<{ tgz: Uint8Array; files: Record<string, Uint8Array> }> {
  const rng = new Rng(8);
  const records = (n: number) => {
    const b = new Uint8Array(n * 3073);
    for (let i = 0; i < b.length; i++) b[i] = i % 3073 === 0 ? rng.int(10) : rng.int(256);
    return b;
  };
  const files: Record<string, Uint8Array> = {
    "cifar-10-batches-bin/test_batch.bin": records(20),
    "cifar-10-batches-bin/batches.meta.txt": new TextEncoder().encode(
      Array.from({ length: 10 }, (_, i) => `class${i}`).join("\n") + "\n",
    ),
  };
  const pack = tar.pack();
  const chunks: Uint8Array[] = [];
  const collected = (async () => {
    for await (const chunk of pack as AsyncIterable<Uint8Array>) chunks.push(chunk);
  })();
  pack.entry({ name: "cifar-10-batches-bin/", type: "directory" });
  for (const [name, data] of Object.entries(files)) pack.entry({ name }, data);
  pack.finalize();
  await collected;
  return { tgz: new Uint8Array(gzipSync(Buffer.concat(chunks))), files };
}

/** Serves `body` slowly (1 KiB every 4 ms) with Range support; counts bytes sent. */
function _slowServer(body: Uint8Array) {
  const stats = { sent: 0, requests: 0 };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    stats.requests++;
    const m = /^bytes=(\d+)-$/.exec(req.headers.get("range") ?? "");
    const start = m ? Number(m[1]) : 0;
    if (m && start >= body.length) return new Response(null, { status: 416 });
    const slice = body.subarray(start);
    let off = 0;
    const stream = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (off >= slice.length) return c.close();
        await _sleep(4);
        const chunk = slice.slice(off, off + 1024);
        off += chunk.length;
        stats.sent += chunk.length;
        c.enqueue(chunk);
      },
    });
    const headers: Record<string, string> = { "content-length": String(slice.length) };
    if (m) headers["content-range"] = `bytes ${start}-${body.length - 1}/${body.length}`;
    return new Response(stream, { status: m ? 206 : 200, headers });
  });
  return { server, url: `http://127.0.0.1:${server.addr.port}/cifar-10-binary.tar.gz`, stats };
}

Deno.test("drill: kill -9 during download (twice), re-run resumes to the same files", async () => {
  const { tgz, files } = await _cifar10TarGz();
  const md5 = (await import("node:crypto")).createHash("md5").update(tgz).digest("hex");
  const { server, url, stats } = _slowServer(tgz);
  const dir = await Deno.makeTempDir({ prefix: "drill-download-" });
  try {
    const args = ["--dataset", "cifar10", "--data-dir", dir, "--url", url, "--md5", md5];
    const part = join(dir, "cifar-10-binary.tar.gz.part");
    for (let kill = 0; kill < 2; kill++) {
      const before = stats.sent;
      const target = before + 4096 + Math.floor(killRng.next() * (tgz.length - before) / 3);
      const killed = await _killDuring(
        "download",
        [...args, "--quiet", "--out", join(dir, `run${kill}`)],
        () => Promise.resolve(stats.sent >= target),
        5,
      );
      assert.ok(killed, "the download finished before the kill");
      // Nothing extracted, and --check does not accept the folder.
      assert.equal(await _exists(join(dir, "cifar-10-batches-bin")), false);
      assert.ok((await Deno.stat(part)).size < tgz.length, "part file is partial");
      const check = await _runFails("download", [
        "--check",
        "--dataset",
        "cifar10",
        "--data-dir",
        dir,
      ]);
      assert.match(check, /cifar|CIFAR/);
    }
    const metrics = await _runOk("download", [
      ...args,
      "--quiet",
      "--json",
      "--out",
      join(dir, "final"),
    ]);
    const dl = metrics.download as { resumedBytes: number; md5: string };
    assert.ok(dl.resumedBytes > 0, "the re-run resumed the partial file");
    assert.equal(dl.md5, md5);
    for (const [name, data] of Object.entries(files)) {
      assert.deepEqual(await Deno.readFile(join(dir, name)), data, `${name} differs`);
    }
    assert.equal(await _exists(part), false);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("drill: kill -9 repeatedly during pretraining (incl. mid-checkpoint write), resume: same curve", async () => {
  const data = await _tinyCifar();
  const ref = await _refPretrain();
  const out = join(data, "killed-pretrain");
  const ckpts = join(out, "checkpoints");
  const args = [...PRETRAIN_ARGS, "--data-dir", data, "--out", out, "--resume"];
  // Kill 1: the moment a checkpoint's temp folder appears (a write in progress).
  let midWrite = false;
  const writing = async () => {
    try {
      for await (const e of Deno.readDir(ckpts)) {
        if (e.name.startsWith(".tmp-")) return midWrite = true;
      }
    } catch { /* not created yet */ }
    return await _exists(join(ckpts, "last.json")); // the write was too quick to see: kill now
  };
  // Kills 2-3: a seeded random point after the run has started (its config.json exists).
  const started = () => _exists(join(out, "config.json"));
  let interrupted = 0;
  for (const [ready, jitter] of [[writing, 3], [started, 2500], [started, 2500]] as const) {
    if (await _exists(join(out, "metrics.json"))) break;
    if (await _killDuring("pretrain", args, ready, jitter)) interrupted++;
    // Whatever was interrupted, `last` is absent or a complete checkpoint that validates.
    const last = await loadCheckpoint(ckpts, "last").catch((e) => e as Error);
    assert.ok(!(last instanceof Error), `invalid checkpoint after a kill: ${last}`);
    await _assertNoFalseValid(out);
    await Deno.remove(join(out, "config.json")).catch(() => {});
  }
  assert.ok(interrupted >= 1, "no kill interrupted the run");
  console.error(`  pretrain: first kill ${midWrite ? "inside" : "just after"} a checkpoint write`);
  const metrics = await _runOk("pretrain", args);
  assert.equal(metrics.top1, ref.metrics.top1);
  assert.equal(metrics.testLoss, ref.metrics.testLoss);
  const curve = (dir: string) =>
    Deno.readTextFile(join(dir, "curves.json")).then((t) => _stripTimes(JSON.parse(t)));
  assert.deepEqual(await curve(out), await curve(ref.dir));
  const wRef = await loadCheckpoint(join(ref.dir, "checkpoints"), "last");
  const wOut = await loadCheckpoint(ckpts, "last");
  assert.equal(wOut!.weights.sha256, wRef!.weights.sha256, "final weights identical");
});

Deno.test("drill: kill -9 during extraction, re-run: same feature checksums", async () => {
  const data = await _tinyCifar();
  const ref = await _refPretrain();
  const refFeat = await _refFeatures(), killed = join(data, "feat-killed");
  const args = [..._extractArgs(data, ref.dir, killed), "--out", join(data, "ex-killed")];
  // Past start-up (the run folder exists), then a seeded random delay within the run.
  const started = () => _exists(join(data, "ex-killed", "config.json"));
  let interrupted = false;
  for (let attempt = 0; attempt < 3 && !interrupted; attempt++) {
    await Deno.remove(killed, { recursive: true }).catch(() => {});
    await Deno.remove(join(data, "ex-killed"), { recursive: true }).catch(() => {});
    interrupted = await _killDuring("extract", args, started, 600 * refFeat.seconds / 2 ** attempt);
  }
  assert.ok(interrupted, "extract: every run finished before its kill");
  await _assertNoFalseValid(killed);
  await _runOk("extract", args);
  const strip = (s: Record<string, string>) =>
    Object.fromEntries(
      Object.entries(s).filter(([k]) => !k.includes(".tmp-") && !k.endsWith(".json")),
    );
  const want = strip(await _snapshot(refFeat.dir));
  assert.ok(
    Object.keys(want).length >= 6,
    `expected 3 splits × 2+ kinds, got ${Object.keys(want)}`,
  );
  assert.deepEqual(strip(await _snapshot(killed)), want);
});

Deno.test("drill: kill -9 during DeViSE training, re-run: same model and metrics", async () => {
  const dir = await Deno.makeTempDir({ prefix: "drill-devise-" });
  try {
    const inputs = await _deviseInputs(dir);
    const { json: ref, seconds } = await _timedOk("devise", _deviseArgs(inputs, join(dir, "ref")));
    const out = join(dir, "killed");
    await _killAtRandom("devise", _deviseArgs(inputs, out), seconds, async () => {
      await Deno.remove(out, { recursive: true }).catch(() => {});
    });
    const model = join(out, "model.f32");
    if (await _exists(sidecarPath(model))) await loadDeviseModel(model); // complete => valid
    await _assertNoFalseValid(out);
    const again = await _runOk("devise", _deviseArgs(inputs, out));
    assert.deepEqual(again.hit, ref.hit);
    assert.equal(
      await sha256File(model),
      await sha256File(join(dir, "ref", "model.f32")),
      "model differs from the uninterrupted run",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** 4000 clustered 32-d unit vectors as a word2vec binary file (no sidecar). */
async function _indexVectors(path: string, seed: number): Promise<void> {
  const v = syntheticVectors(4000, 32, { seed, clusters: 40 });
  const words = Array.from({ length: 4000 }, (_, i) => `w${i}`);
  await writeWord2vecBinary(path, makeWordVectors(words, 32, v.data));
}

/** The index's sidecar and file agree (what openOrBuildIndex needs to reuse it). */
async function _indexConsistent(indexPath: string): Promise<boolean> {
  let side;
  try {
    side = JSON.parse(await Deno.readTextFile(sidecarPath(indexPath)));
  } catch {
    return false; // no sidecar: the index is rebuilt, never reused
  }
  const file = indexPath;
  assert.equal((await Deno.stat(file)).size, side.bytes, `${file}: size differs from its sidecar`);
  assert.equal(await sha256File(file), side.sha256, `${file}: sha256 differs from its sidecar`);
  return true;
}

const INDEX_ARGS = ["--m", "16", "--ef-construction", "200", "--queries", "200", "--json"];
/** The index task's flags with its index folder inside the test's temp folder. */
const indexArgs = (dir: string) => [...INDEX_ARGS, "--index-dir", dir];

Deno.test("drill: kill -9 during index build, re-run: same index file and recall", async () => {
  const dir = await Deno.makeTempDir({ prefix: "drill-index-" });
  try {
    const refVec = join(dir, "ref.bin"), vec = join(dir, "v.bin");
    await _indexVectors(refVec, 2);
    await Deno.copyFile(refVec, vec);
    const { json: ref, seconds } = await _timedOk("index", [
      ...["--vectors", refVec, "--out", join(dir, "run-ref"), ...indexArgs(dir)],
    ]);
    const indexPath = indexPathFor(vec, { m: 16, efConstruction: 200 }, dir);
    const args = ["--vectors", vec, "--out", join(dir, "run"), ...indexArgs(dir)];
    await _killAtRandom("index", args, seconds, async () => {
      for (const p of [indexPath, sidecarPath(indexPath)]) await Deno.remove(p).catch(() => {});
    });
    await _indexConsistent(indexPath);
    const again = await _runOk("index", args);
    assert.equal(again.recallAt10, ref.recallAt10);
    assert.equal(
      await sha256File(indexPath),
      await sha256File(indexPathFor(refVec, { m: 16, efConstruction: 200 }, dir)),
      "index differs from the uninterrupted build",
    );
    assert.ok(await _indexConsistent(indexPath));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("drill: kill -9 during word2vec training, re-run: same vectors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "drill-w2v-" });
  try {
    const c = await _corpus(dir);
    const long = ["--epochs", "1000"]; // long enough (~2 s) to be hit mid-training
    const { json: ref, seconds } = await _timedOk("word2vec", [
      ..._w2vArgs(c, join(dir, "vec-ref"), join(dir, "run-ref")),
      ...long,
    ]);
    assert.equal(ref.reused, false);
    const vecDir = join(dir, "vec"), out = join(dir, "run");
    await _killAtRandom("word2vec", [..._w2vArgs(c, vecDir, out), ...long], seconds, async () => {
      await Deno.remove(vecDir, { recursive: true }).catch(() => {});
    });
    await _assertNoFalseValid(vecDir);
    await _runOk("word2vec", [..._w2vArgs(c, vecDir, join(dir, "run2")), ...long]);
    const same = async () => {
      for (const ext of ["bin", "txt"]) {
        assert.equal(
          await sha256File(join(vecDir, `skipgram-16.${ext}`)),
          await sha256File(join(dir, "vec-ref", `skipgram-16.${ext}`)),
          `skipgram-16.${ext} differs from the uninterrupted run`,
        );
      }
    };
    await same();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// Found by this drill: word2vec used to reuse a valid .bin without checking the .txt.
Deno.test({
  name: "drill: word2vec killed between the .bin and .txt writes, re-run restores the .txt",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "drill-w2v-txt-" });
    try {
      const c = await _corpus(dir);
      const vecDir = join(dir, "vec");
      await _runOk("word2vec", _w2vArgs(c, vecDir, join(dir, "run1")));
      const txt = join(vecDir, "skipgram-16.txt");
      const want = await sha256File(txt);
      // The state SIGKILL leaves after the .bin and its sidecar, before the .txt is renamed.
      await Deno.remove(txt);
      await Deno.remove(sidecarPath(txt));
      await _runOk("word2vec", _w2vArgs(c, vecDir, join(dir, "run2")));
      assert.equal(await _exists(txt), true, "the re-run did not restore skipgram-16.txt");
      assert.equal(await sha256File(txt), want);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// ---------------------------------------------------------------- faults

Deno.test({
  name: "fault: disk full (64 KiB tmpfs) gives ENOSPC, no half file, other artifacts intact",
  ignore: mountProblem !== null,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "drill-full-" });
    const full = join(dir, "full");
    try {
      const c = await _corpus(dir);
      await _mount(full, "size=64k");
      // An existing valid artifact set (small vectors) sits in the folder before the run.
      await _runOk("word2vec", _w2vArgs(c, full, join(dir, "run0"), 4));
      const before = await _snapshot(full);
      // 128-d vectors (~80 KB .bin) cannot fit next to them.
      const err = await _runFails("word2vec", _w2vArgs(c, full, join(dir, "run1"), 128));
      assert.match(err, /No space left on device|os error 28/);
      const after = await _snapshot(full);
      for (const [k, v] of Object.entries(before)) assert.equal(after[k], v, `${k} changed`);
      assert.deepEqual(Object.keys(after).filter((k) => k.includes(".tmp-")), [], "temp left");
      for (const name of ["skipgram-128.bin", "skipgram-128.txt"]) {
        assert.equal(await _exists(join(full, name)), false, `${name} half-written`);
        assert.equal(await _exists(sidecarPath(join(full, name))), false);
      }
      await _assertNoFalseValid(full);
    } finally {
      await _umount(full);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "fault: read-only output folder gives a clear error, existing artifacts intact",
  ignore: mountProblem !== null,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "drill-ro-" });
    const ro = join(dir, "ro");
    try {
      const c = await _corpus(dir);
      await _mount(ro, "size=1m");
      await _runOk("word2vec", _w2vArgs(c, ro, join(dir, "run0")));
      const before = await _snapshot(ro);
      const remount = await new Deno.Command("mount", { args: ["-o", "remount,ro", ro] }).output();
      assert.ok(remount.success, "remount ro");
      // --force: retrain and try to replace the vectors in the read-only folder.
      const err = await _runFails("word2vec", [..._w2vArgs(c, ro, join(dir, "run1")), "--force"]);
      assert.match(err, /folder .*ro is not writable/);
      assert.deepEqual(await _snapshot(ro), before);
      assert.ok((await _assertNoFalseValid(ro)).includes("skipgram-16.bin"));
    } finally {
      await _umount(ro);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("fault: missing data folder names the folder and what to do", async () => {
  const dir = await Deno.makeTempDir({ prefix: "drill-missing-" });
  try {
    const missing = join(dir, "no-such-data");
    const err = await _runFails("pretrain", [
      ...PRETRAIN_ARGS,
      ...["--data-dir", missing, "--out", join(dir, "run")],
    ]);
    assert.ok(err.includes(missing), `error should name ${missing}:\n${err}`);
    assert.match(err, /cifar/i);
    assert.equal(await _exists(missing), false, "nothing created at the missing path");
    const check = await _runFails("download", ["--check", "--data-dir", missing]);
    assert.ok(check.includes(missing) && /--data-dir|DEVISE_DATA_DIR/.test(check), check);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fault: corrupt checkpoint is refused by extract and --resume; artifacts intact", async () => {
  const data = await _tinyCifar();
  const ref = await _refPretrain();
  const dir = await Deno.makeTempDir({ prefix: "drill-corrupt-" });
  try {
    const run = join(dir, "run");
    await new Deno.Command("cp", { args: ["-r", ref.dir, run] }).output();
    const last = JSON.parse(await Deno.readTextFile(join(run, "checkpoints", "last.json")));
    const weights = join(run, "checkpoints", last.dir, "weights.bin");
    const bytes = await Deno.readFile(weights);
    bytes[bytes.length >> 1] ^= 0xff; // same size, wrong content
    await Deno.writeFile(weights, bytes);
    const before = await _snapshot(run);
    const feats = join(run, "features");
    const err = await _runFails("extract", [
      ...["--checkpoint", run, "--which", "last", "--data-dir", data, "--backend", "cpu"],
      ...["--features", feats, "--out", join(dir, "ex")],
    ]);
    assert.match(err, /weights\.bin.*(sha256|checksum)|(sha256|checksum).*weights\.bin/s);
    assert.equal(await _exists(feats), false, "no features from a corrupt checkpoint");
    const resume = await _runFails("pretrain", [
      ...PRETRAIN_ARGS,
      "--data-dir",
      data,
      "--out",
      run,
      "--resume",
    ]);
    assert.match(resume, /weights\.bin/);
    const after = await _snapshot(run);
    for (const [k, v] of Object.entries(before)) {
      if (k === "config.json" || k === "log.txt") continue; // the run log may be appended to
      assert.equal(after[k], v, `${k} changed`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fault: label vectors missing half the labels: clear error, model intact", async () => {
  const dir = await Deno.makeTempDir({ prefix: "drill-mismatch-" });
  try {
    const out = join(dir, "run");
    await _runOk("devise", _deviseArgs(await _deviseInputs(dir), out));
    const before = await _snapshot(out);
    // Vectors with no entry for fine50..fine99.
    const err = await _runFails("devise", _deviseArgs(await _deviseInputs(dir, 50), out));
    assert.match(err, /fine50/);
    assert.match(err, /labels-50\.txt/, "the error names the vectors file");
    const after = await _snapshot(out);
    for (const [k, v] of Object.entries(before)) {
      // The run log is appended to; the new run's config and metrics replace the old ones.
      if (k === "config.json" || k === "log.txt" || k === "metrics.json") continue;
      assert.equal(after[k], v, `${k} changed`);
    }
    // The finished run's metrics are kept; the failed run says so, in its log too.
    assert.equal(after["metrics.previous.json"], before["metrics.json"]);
    const failed = JSON.parse(await Deno.readTextFile(join(out, "metrics.json")));
    assert.equal(failed.status, "failed");
    assert.match(failed.error, /fine50/);
    assert.match(await Deno.readTextFile(join(out, "log.txt")), /failed: .*fine50.*\n$/);
    await loadDeviseModel(join(out, "model.f32"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fault: vectors changed or index corrupt under an index: refused with the reason", async () => {
  const dir = await Deno.makeTempDir({ prefix: "drill-index-mismatch-" });
  try {
    const vec = join(dir, "v.bin");
    await _indexVectors(vec, 2);
    const indexPath = indexPathFor(vec, { m: 16, efConstruction: 200 }, dir);
    const first = await _runOk("index", [
      "--vectors",
      vec,
      "--out",
      join(dir, "r1"),
      ...indexArgs(dir),
    ]);
    assert.equal(first.reused, false);
    const reuse = await _run("index", [
      "--vectors",
      vec,
      "--out",
      join(dir, "r2"),
      ...indexArgs(dir),
    ]);
    assert.equal(JSON.parse(reuse.stdout).reused, true);
    // Other vectors of the same shape under the same name: the old index must not be used.
    await _indexVectors(vec, 3);
    const changed = await _run("index", [
      "--vectors",
      vec,
      "--out",
      join(dir, "r3"),
      ...indexArgs(dir),
    ]);
    assert.equal(changed.code, 0, changed.stderr);
    assert.match(changed.stderr, /vectors changed/);
    assert.equal(JSON.parse(changed.stdout).reused, false);
    // A corrupt index file (same size): detected by its checksum, not loaded.
    const bytes = await Deno.readFile(indexPath);
    bytes[bytes.length >> 1] ^= 0xff;
    await Deno.writeFile(indexPath, bytes);
    const corrupt = await _run("index", [
      "--vectors",
      vec,
      "--out",
      join(dir, "r4"),
      ...indexArgs(dir),
    ]);
    assert.equal(corrupt.code, 0, corrupt.stderr);
    assert.match(corrupt.stderr, /sha256 does not match|corrupt/);
    assert.equal(JSON.parse(corrupt.stdout).reused, false);
    assert.ok(await _indexConsistent(indexPath));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Starts `task`, sends SIGINT as soon as a `*.tmp-*` file shows up in `watch` (the artifact is
 * being written), and returns the exit status; null when the run finished before a temp file
 * was seen.
 */
async function _interruptWhileWriting(
  task: string,
  args: string[],
  watch: string,
): Promise<Deno.CommandStatus | null> {
  const child = _spawn(task, args);
  let done = false;
  const status = child.status.then((s) => (done = true, s));
  const t0 = performance.now();
  let sent = false;
  while (!done && performance.now() - t0 < 60_000) {
    const names = await Array.fromAsync(Deno.readDir(watch)).catch(() => []);
    if (names.some((e) => e.name.includes(".tmp-"))) {
      child.kill("SIGINT");
      sent = true;
      break;
    }
    await _sleep(1);
  }
  const s = await status;
  await child.stdout.cancel().catch(() => {});
  await child.stderr.cancel().catch(() => {});
  return sent ? s : null;
}

Deno.test("drill: SIGINT during word2vec's vector write: no temp file left, the run says interrupted", async () => {
  const dir = await Deno.makeTempDir({ prefix: "drill-sigint-w2v-" });
  try {
    // 20,000 distinct words, so that writing the vectors takes long enough to be caught at it.
    const words = Array.from({ length: 20_000 }, (_, i) => `word${i}`);
    const rng = new Rng(3);
    const lines = Array.from(
      { length: 8_000 },
      () => Array.from({ length: 12 }, () => words[rng.int(words.length)]).join(" "),
    );
    const corpus = join(dir, "corpus.txt");
    await Deno.writeTextFile(corpus, lines.join("\n") + "\n");
    const vecDir = join(dir, "vec");
    await Deno.mkdir(vecDir);
    const args = (out: string) => [
      ...["--corpus", corpus, "--no-default-corpus", "--threads", "1", "--dim", "200"],
      ...["--epochs", "1", "--min-count", "1", "--vectors-dir", vecDir, "--out", out, "--quiet"],
    ];
    let status: Deno.CommandStatus | null = null;
    for (let attempt = 0; attempt < 5 && !status; attempt++) {
      await Deno.remove(vecDir, { recursive: true }).catch(() => {});
      await Deno.mkdir(vecDir);
      status = await _interruptWhileWriting("word2vec", args(join(dir, `run${attempt}`)), vecDir);
    }
    assert.ok(status, "never caught the vectors write");
    assert.equal(status.code, 130);
    assert.deepEqual([...Deno.readDirSync(vecDir)].filter((e) => e.name.includes(".tmp-")), []);
    await _assertNoFalseValid(vecDir);
    const runs = [...Deno.readDirSync(dir)].filter((e) => e.name.startsWith("run")).map((e) =>
      e.name
    );
    const last = join(dir, runs.sort().at(-1)!);
    assert.equal(
      JSON.parse(await Deno.readTextFile(join(last, "metrics.json"))).status,
      "interrupted",
    );
    assert.match(await Deno.readTextFile(join(last, "log.txt")), /interrupted: .*\n$/);
    // A stale temp of a dead process is swept when the same artifact is written next time.
    const stale = join(vecDir, "skipgram-200.bin.tmp-999999-deadbeef");
    await Deno.writeTextFile(stale, "");
    await _runOk("word2vec", [...args(join(dir, "again")), "--json"]);
    assert.equal(await _exists(stale), false);
    assert.ok((await _assertNoFalseValid(vecDir)).includes("skipgram-200.bin"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("drill: SIGINT during an index write: no temp file, no sidecar, a re-run builds it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "drill-sigint-index-" });
  try {
    const ix = join(dir, "ix");
    await Deno.mkdir(ix);
    const args = (out: string) => [
      ...["--synthetic", "60000,32", "--m", "16", "--ef-construction", "40", "--queries", "10"],
      ...["--index-dir", ix, "--out", out, "--quiet", "--json"],
    ];
    let status: Deno.CommandStatus | null = null;
    for (let attempt = 0; attempt < 4 && !status; attempt++) {
      for (const e of Deno.readDirSync(ix)) await Deno.remove(join(ix, e.name));
      status = await _interruptWhileWriting("index", args(join(dir, `run${attempt}`)), ix);
    }
    assert.ok(status, "never caught the index write");
    assert.equal(status.code, 130);
    const left = [...Deno.readDirSync(ix)].map((e) => e.name);
    assert.deepEqual(left.filter((n) => n.includes(".tmp-") || n.endsWith(".json")), []);
    const again = await _runOk("index", args(join(dir, "again")));
    assert.equal(again.reused, false);
    assert.ok(await _indexConsistent(join(ix, "synthetic-n60000-d32-s1-c0.hnsw-m16-ef40.bin")));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
