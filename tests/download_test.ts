/**
 * Tests for lib/data/download.ts against a local HTTP server (127.0.0.1, random port) that
 * serves a generated .tar.gz with Range support and can drop a connection or corrupt a byte.
 * @module
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import * as tar from "tar-stream";
import { DownloadError, downloadFile, extractTarGz, md5File } from "../lib/data/download.ts";
import { Rng } from "../lib/io/rng.ts";

type Member = { name: string; data?: Uint8Array; type?: "file" | "directory" | "symlink" };

/** A gzipped tar built with tar-stream's packer. */
async function makeTarGz(members: Member[]): Promise<Uint8Array> {
  const pack = tar.pack();
  const chunks: Uint8Array[] = [];
  const collected = (async () => {
    for await (const chunk of pack as AsyncIterable<Uint8Array>) chunks.push(chunk);
  })();
  for (const m of members) {
    if (m.type === "directory") pack.entry({ name: m.name, type: "directory" });
    else if (m.type === "symlink") pack.entry({ name: m.name, type: "symlink", linkname: "/etc" });
    else pack.entry({ name: m.name }, m.data ?? new Uint8Array());
  }
  pack.finalize();
  await collected;
  return new Uint8Array(gzipSync(Buffer.concat(chunks)));
}

function randomBytes(n: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.nextUint32() & 255;
  return out;
}

function md5(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("hex");
}

/** Serves `body` with Range support; `dropAfter` bytes then breaks the first response. */
function serve(body: Uint8Array, opts: { dropAfter?: number; corruptAt?: number } = {}) {
  const log: { range: string | null; status: number }[] = [];
  let dropsLeft = opts.dropAfter === undefined ? 0 : 1;
  const served = body.slice();
  if (opts.corruptAt !== undefined) served[opts.corruptAt] ^= 0xff;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const range = req.headers.get("range");
    const m = range ? /^bytes=(\d+)-$/.exec(range) : null;
    const start = m ? Number(m[1]) : 0;
    if (start >= served.length && m) {
      log.push({ range, status: 416 });
      return new Response(null, { status: 416 });
    }
    const slice = served.subarray(start);
    const status = m ? 206 : 200;
    log.push({ range, status });
    const headers: Record<string, string> = { "content-length": String(slice.length) };
    if (m) headers["content-range"] = `bytes ${start}-${served.length - 1}/${served.length}`;
    if (dropsLeft > 0) {
      dropsLeft--;
      const cut = opts.dropAfter!;
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(slice.slice(0, cut));
        },
        async pull(c) {
          await new Promise((r) => setTimeout(r, 20));
          c.close(); // Shorter than content-length: the server aborts the connection.
        },
      });
      return new Response(stream, { status, headers });
    }
    return new Response(slice, { status, headers });
  });
  const url = `http://127.0.0.1:${server.addr.port}/cifar-10-binary.tar.gz`;
  return { server, url, log };
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

const payload = randomBytes(300_000, 1);
const archiveMembers: Member[] = [
  { name: "cifar-10-batches-bin/", type: "directory" },
  { name: "cifar-10-batches-bin/test_batch.bin", data: payload },
  { name: "cifar-10-batches-bin/batches.meta.txt", data: new TextEncoder().encode("a\nb\n") },
];

Deno.test("downloadFile: full download, md5 verified, then extractTarGz puts files in place", async () => {
  const tgz = await makeTarGz(archiveMembers);
  const { server, url, log } = serve(tgz);
  const dir = await Deno.makeTempDir();
  try {
    const dest = join(dir, "cifar-10-binary.tar.gz");
    const seen: number[] = [];
    const r = await downloadFile(url, dest, { md5: md5(tgz), onProgress: (d) => seen.push(d) });
    assert.equal(r.bytes, tgz.length);
    assert.equal(r.md5, md5(tgz));
    assert.equal(r.resumedBytes, 0);
    assert.equal(seen.at(-1), tgz.length);
    assert.deepEqual(log, [{ range: null, status: 200 }]);
    assert.deepEqual(await listDir(dir), ["cifar-10-binary.tar.gz"]);
    assert.equal(await md5File(dest), md5(tgz));

    const out = join(dir, "data");
    const ex = await extractTarGz(dest, out);
    assert.deepEqual(ex.entries, ["cifar-10-batches-bin"]);
    assert.equal(ex.files, 2);
    assert.deepEqual(await listDir(out), ["cifar-10-batches-bin"]);
    assert.deepEqual(
      await Deno.readFile(join(out, "cifar-10-batches-bin/test_batch.bin")),
      payload,
    );
    await assert.rejects(() => extractTarGz(dest, out), /already exists/);
    assert.deepEqual(await listDir(out), ["cifar-10-batches-bin"]);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("downloadFile: dropped connection keeps .part, next call resumes with Range", async () => {
  const tgz = await makeTarGz(archiveMembers);
  const cut = 100_000;
  const { server, url, log } = serve(tgz, { dropAfter: cut });
  const dir = await Deno.makeTempDir();
  try {
    const dest = join(dir, "a.tar.gz");
    await assert.rejects(
      () => downloadFile(url, dest, { md5: md5(tgz), retries: 0 }),
      (e: unknown) =>
        e instanceof DownloadError && /run the command again to resume/.test(e.message),
    );
    const partSize = (await Deno.stat(dest + ".part")).size;
    assert.ok(partSize >= cut && partSize < tgz.length, `part size ${partSize}`);
    const r = await downloadFile(url, dest, { md5: md5(tgz) });
    assert.equal(r.resumedBytes, partSize);
    assert.equal(log[1].range, `bytes=${partSize}-`);
    assert.equal(log[1].status, 206);
    assert.equal(await md5File(dest), md5(tgz));
    assert.deepEqual(await listDir(dir), ["a.tar.gz"]);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("downloadFile: automatic resume within one call after a drop", async () => {
  const tgz = await makeTarGz(archiveMembers);
  const { server, url, log } = serve(tgz, { dropAfter: 50_000 });
  const dir = await Deno.makeTempDir();
  try {
    const dest = join(dir, "a.tar.gz");
    const r = await downloadFile(url, dest, { md5: md5(tgz), retryDelayMs: 1 });
    assert.equal(r.requests, 2);
    assert.equal(log[1].status, 206);
    assert.deepEqual(await Deno.readFile(dest), tgz);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("downloadFile: a corrupted byte fails the md5 and leaves nothing in place", async () => {
  const tgz = await makeTarGz(archiveMembers);
  const { server, url } = serve(tgz, { corruptAt: 1234 });
  const dir = await Deno.makeTempDir();
  try {
    const dest = join(dir, "a.tar.gz");
    await assert.rejects(
      () => downloadFile(url, dest, { md5: md5(tgz) }),
      (e: unknown) =>
        e instanceof DownloadError && e.kind === "checksum" && e.message.includes(md5(tgz)),
    );
    assert.deepEqual(await listDir(dir), []);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("downloadFile: unreachable server fails fast as a network error", async () => {
  const { server, url } = serve(new Uint8Array(1));
  await server.shutdown();
  const dir = await Deno.makeTempDir();
  try {
    const t0 = performance.now();
    await assert.rejects(
      () => downloadFile(url, join(dir, "x"), { retries: 5 }),
      (e: unknown) => e instanceof DownloadError && e.kind === "network",
    );
    assert.ok(performance.now() - t0 < 5000);
    assert.deepEqual(await listDir(dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("extractTarGz: refuses ../, absolute and symlink members, leaves nothing behind", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const cases: [string, Member[], RegExp][] = [
      ["dotdot", [{ name: "ok/a.txt", data: new Uint8Array([1]) }, { name: "../evil" }], /\.\./],
      ["nested", [{ name: "ok/../../evil", data: new Uint8Array([1]) }], /\.\./],
      ["absolute", [{ name: "/tmp/devise-evil-abs" }], /absolute/],
      [
        "symlink",
        [{ name: "ok/", type: "directory" }, { name: "ok/link", type: "symlink" }],
        /symlink/,
      ],
    ];
    for (const [label, members, why] of cases) {
      const archive = join(dir, `${label}.tar.gz`);
      await Deno.writeFile(archive, await makeTarGz(members));
      const out = join(dir, `out-${label}`);
      await Deno.mkdir(out);
      await assert.rejects(
        () => extractTarGz(archive, out),
        (e: unknown) => e instanceof DownloadError && e.kind === "archive" && why.test(e.message),
        label,
      );
      assert.deepEqual(await listDir(out), [], label);
    }
    const names = await listDir(dir);
    assert.ok(!names.includes("evil"), "nothing written above the target");
    await assert.rejects(() => Deno.stat("/tmp/devise-evil-abs"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("extractTarGz: corrupt gzip names the archive and leaves nothing behind", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const tgz = await makeTarGz(archiveMembers);
    tgz[tgz.length >> 1] ^= 0xff;
    const archive = join(dir, "bad.tar.gz");
    await Deno.writeFile(archive, tgz);
    const out = join(dir, "out");
    await assert.rejects(
      () => extractTarGz(archive, out),
      (e: unknown) => e instanceof DownloadError && e.message.includes("bad.tar.gz"),
    );
    assert.deepEqual(await listDir(out), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task download: fetch + md5 + extract + check against the local server", async () => {
  // Tiny CIFAR-10 in the official archive layout: 2 records per batch file, labels 0..9.
  const record = (label: number, seed: number) => {
    const r = randomBytes(3073, seed);
    r[0] = label;
    return r;
  };
  const batch = (seed: number) => Buffer.concat([record(seed % 10, seed), record(9, seed + 100)]);
  const members: Member[] = [
    { name: "cifar-10-batches-bin/", type: "directory" },
    ...[1, 2, 3, 4, 5].map((b) => ({
      name: `cifar-10-batches-bin/data_batch_${b}.bin`,
      data: batch(b),
    })),
    { name: "cifar-10-batches-bin/test_batch.bin", data: batch(7) },
    {
      name: "cifar-10-batches-bin/batches.meta.txt",
      data: new TextEncoder().encode(
        "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n",
      ),
    },
  ];
  const tgz = await makeTarGz(members);
  const { server, url } = serve(tgz);
  const dir = await Deno.makeTempDir();
  try {
    const task = new URL("../tasks/download.ts", import.meta.url).pathname;
    const args = [
      "run",
      "-A",
      task,
      "--dataset",
      "cifar10",
      "--data-dir",
      join(dir, "d"),
      "--url",
      url,
    ];
    const run = async (extra: string[]) =>
      await new Deno.Command(Deno.execPath(), {
        args: [...args, ...extra, "--json", "--quiet", "--out", join(dir, "run")],
        stdout: "piped",
        stderr: "piped",
      }).output();
    const bad = await run(["--md5", "0".repeat(32)]);
    assert.equal(bad.code, 3); // bad input data (lib/io/errors.ts)
    assert.match(new TextDecoder().decode(bad.stderr), /md5 .* does not match/);
    assert.deepEqual(await listDir(join(dir, "d")), []);

    const ok = await run(["--md5", md5(tgz)]);
    assert.equal(ok.code, 0, new TextDecoder().decode(ok.stderr));
    const metrics = JSON.parse(new TextDecoder().decode(ok.stdout));
    assert.equal(metrics.download.md5, md5(tgz));
    const splits = metrics.datasets.cifar10.splits;
    assert.equal(splits.train.records, 10);
    assert.equal(splits.test.records, 2);
    assert.equal(splits.test.perClassMax, 1);
    assert.deepEqual(await listDir(join(dir, "d")), ["cifar-10-batches-bin"]);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
