/**
 * Bad input never crashes, hangs or succeeds: each case a hostile user found (issue 14), through
 * the real tasks: the exit code, a message naming the flag or file, nothing left behind, and a
 * correct run afterwards. Plus a property check over every numeric flag of every task's spec.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type FlagSpec, kebab, numberProblem, parseFlags } from "../lib/cli/args.ts";
import { UsageError } from "../lib/io/errors.ts";
import { Rng } from "../lib/io/rng.ts";
import { writeTinyCifar } from "../lib/vision/fixture.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const decoder = new TextDecoder();

async function run(task: string, args: string[], cwd = ROOT) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(ROOT, "tasks", `${task}.ts`), ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    signal: AbortSignal.timeout(120_000), // a hang fails the test instead of the suite
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of Deno.readDirSync(d)) {
      const p = join(d, e.name);
      out.push(p.slice(dir.length + 1));
      if (e.isDirectory) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

Deno.test("1, 2, 9: nonsense numbers are usage errors naming the flag, before any work", async () => {
  const dir = await Deno.makeTempDir();
  const cases: [string, string[], RegExp][] = [
    ["index", ["--synthetic", "200,8", "--m", "0", "--queries", "10"], /--m must be >= 2/],
    ["index", ["--synthetic", "200,8", "--m=-4"], /--m must be >= 2/],
    ["index", ["--synthetic", "200,8", "--m", "1"], /--m must be >= 2/],
    ["index", ["--synthetic", "200,8", "--queries", "0"], /--queries must be >= 1/],
    ["devise", ["--vectors", "v.txt", "--batch-size", "0"], /--batch-size must be >= 1/],
    ["devise", ["--vectors", "v.txt", "--epochs", "0"], /--epochs must be >= 1/],
    ["pretrain", ["--epochs=-3"], /--epochs must be >= 1, got '-3'/],
    ["pretrain", ["--epochs", "1.5"], /--epochs expects a whole number/],
    ["pretrain", ["--width", "0"], /--width must be >= 0.0625/],
    ["pretrain", ["--lr", "0"], /--lr must be > 0/],
    ["pretrain", ["--batch-size", "0"], /--batch-size must be >= 1/],
    ["train", ["--preset", "quick", "--dropout", "2"], /--dropout must be < 1/],
    ["train", ["--budget", "soon"], /--budget expects a duration/],
    ["zeroshot", ["--k", "0"], /--k must be >= 1/],
    ["predict", ["--k", "3"], /at least 1 PATH/],
  ];
  for (const [task, args, pattern] of cases) {
    const r = await run(task, [...args, "--out", join(dir, "run")]);
    assert.equal(r.code, 2, `${task} ${args.join(" ")}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, pattern, `${task} ${args.join(" ")}`);
  }
  // Refused before any work: no run folder was made.
  assert.deepEqual(listing(dir), []);
  // The boundary values themselves work.
  const ok = await run("index", [
    ...["--synthetic", "200,8", "--m", "2", "--queries", "10", "--index-dir", join(dir, "ix")],
    ...["--out", join(dir, "ok"), "--json", "--quiet"],
  ]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(JSON.parse(ok.stdout).m, 2);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("property: every numeric flag of every task refuses what lies outside its domain", async () => {
  const rng = new Rng(14);
  let checked = 0;
  for (const file of [...Deno.readDirSync(join(ROOT, "tasks"))].map((e) => e.name).sort()) {
    const mod = await import(join(ROOT, "tasks", file));
    const spec = mod.spec as FlagSpec | undefined;
    if (!spec) continue; // tasks without flags of their own (test)
    const info = {
      task: file.replace(/\.ts$/, ""),
      summary: "",
      positionals: { name: "X", help: "" },
    };
    // Required string flags get a value, so the numbers are what is tested.
    const base = Object.entries(spec).flatMap(([name, def]) =>
      def.type === "string" && def.required
        ? [`--${kebab(name)}=${def.path === "dir" ? ROOT : "x"}`]
        : []
    );
    for (const [name, def] of Object.entries(spec)) {
      if (def.type !== "number") continue;
      const lo = def.min ?? -1e6, hi = def.max ?? 1e6;
      const values = [
        lo,
        hi,
        lo - 1,
        hi + 1,
        lo - 1e-9,
        0,
        -1,
        0.5,
        1.5,
        1e999,
        -1e999,
        NaN,
        lo + (hi - lo) * rng.next(),
        Math.round(lo + (hi - lo) * rng.next()),
      ];
      for (const v of values) {
        const flag = `--${kebab(name)}`;
        const args = [...base, `${flag}=${v}`];
        let parsed: Record<string, unknown> | undefined;
        try {
          parsed = parseFlags(spec, args, info);
        } catch (err) {
          assert.ok(err instanceof UsageError, `${info.task} ${flag}=${v}: ${err}`);
          assert.ok((err as Error).message.includes(flag), `${info.task} ${flag}=${v}: ${err}`);
          assert.ok(numberProblem(Number(v), def) !== null || !Number.isFinite(v), `${flag}=${v}`);
          continue;
        }
        // Accepted: then it lies in the domain the spec states.
        assert.equal(numberProblem(parsed[name] as number, def), null, `${info.task} ${flag}=${v}`);
        checked++;
      }
    }
  }
  assert.ok(checked > 100, `${checked} accepted values checked`);
});

Deno.test("3, 10: non-finite vectors are refused by every reader, with file and line; URLs are fetched", async () => {
  const dir = await Deno.makeTempDir();
  for (const bad of ["nan", "Infinity", "1e999"]) {
    const path = join(dir, `v-${bad}.txt`);
    await Deno.writeTextFile(path, `2 3\ncat 1 2 3\ndog 4 ${bad} 6\n`);
    for (
      const [task, args] of [
        ["word2vec", ["--vectors", path]],
        ["index", ["--vectors", path, "--index-dir", join(dir, "ix")]],
      ] as const
    ) {
      const r = await run(task, [...args, "--out", join(dir, `r-${task}-${bad}`), "--quiet"]);
      assert.equal(r.code, 3, `${task} ${bad}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`v-${bad}\\.txt:3: value 2 of "dog": expected a finite`));
      // The failed run says so at the end of its log and in its metrics.
      const log = await Deno.readTextFile(join(dir, `r-${task}-${bad}`, "log.txt"));
      assert.match(log, /failed: .*expected a finite number.*\n$/);
      const m = JSON.parse(await Deno.readTextFile(join(dir, `r-${task}-${bad}`, "metrics.json")));
      assert.equal(m.status, "failed");
      assert.equal(m.exitCode, 3);
    }
  }
  assert.ok(!listing(dir).some((p) => p.includes(".tmp-")));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("4: zeroshot --from something that is not a finished train run names the file and field", async () => {
  const dir = await Deno.makeTempDir();
  const write = async (name: string, text: string) => {
    await Deno.mkdir(join(dir, name));
    await Deno.writeTextFile(join(dir, name, "metrics.json"), text);
    return join(dir, name);
  };
  const envelope = { format: "devise-run", version: 1, status: "ok" };
  const cases: [string, RegExp][] = [
    [await write("empty", "{}"), /metrics\.json: field 'format' should be 'devise-run'/],
    [await write("broken", "{not json"), /broken\/metrics\.json: not valid JSON/],
    [
      await write("pretrain", JSON.stringify({ ...envelope, task: "pretrain", top1: 0.5 })),
      /this is a 'pretrain' run, not a train run/,
    ],
    [
      await write("devise", JSON.stringify({ ...envelope, task: "devise" })),
      /this is a 'devise' run, not a train run/,
    ],
    [
      await write(
        "failed",
        JSON.stringify({ ...envelope, task: "train", status: "failed", error: "boom" }),
      ),
      /ended with status 'failed' \(boom\)/,
    ],
    [
      await write(
        "partial",
        JSON.stringify({ ...envelope, task: "train", backend: "cpu", preset: "quick" }),
      ),
      /field 'visual' should be an object, found nothing/,
    ],
  ];
  for (const [from, pattern] of cases) {
    const r = await run("zeroshot", ["--from", from, "--out", join(dir, "zs"), "--quiet"]);
    assert.equal(r.code, 3, `${from}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.doesNotMatch(r.stderr, /TypeError/);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("6: a folder (or a symlink loop) where a data file belongs is named, not 'missing'", async () => {
  const dir = await Deno.makeTempDir();
  await writeTinyCifar(dir, { trainCount: 20, testCount: 10, classes: 4, seed: 1 });
  const c100 = join(dir, "cifar-100-binary");
  await Deno.remove(join(c100, "train.bin"));
  await Deno.mkdir(join(c100, "train.bin.gz"));
  const check = await run("download", [
    "--check",
    "--dataset",
    "cifar100",
    "--data-dir",
    dir,
    "--out",
    join(dir, "r1"),
  ]);
  assert.equal(check.code, 3, check.stderr);
  assert.match(check.stderr, /train\.bin\.gz: expected a CIFAR data file, found a folder/);
  const pre = await run("pretrain", [
    "--data-dir",
    dir,
    "--limit",
    "16",
    "--epochs",
    "1",
    "--backend",
    "cpu",
    "--out",
    join(dir, "r2"),
  ]);
  assert.equal(pre.code, 3, pre.stderr);
  assert.match(pre.stderr, /train\.bin\.gz: expected a CIFAR data file, found a folder/);
  await Deno.remove(join(c100, "train.bin.gz"));
  await Deno.symlink("train.bin.gz", join(c100, "train.bin.gz.loop"));
  await Deno.rename(join(c100, "train.bin.gz.loop"), join(c100, "train.bin.gz")); // points at itself
  const loop = await run("download", [
    "--check",
    "--dataset",
    "cifar100",
    "--data-dir",
    dir,
    "--out",
    join(dir, "r3"),
  ]);
  assert.equal(loop.code, 3, loop.stderr);
  assert.match(loop.stderr, /train\.bin\.gz: .*(loop|symbolic links)/i);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("5: downloaded vectors are validated before they are cached; a bad cache entry is refetched", async () => {
  const dir = await Deno.makeTempDir();
  let body = "2 3\ncat 1 2\n"; // wrong number count: not a vectors file
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    () => new Response(body),
  );
  const url = `http://127.0.0.1:${server.addr.port}/v.txt`;
  try {
    const { fetchVectors } = await import("../lib/pipeline/vectors.ts");
    const lines: string[] = [];
    const sink = { log: (l: string) => lines.push(l), logFileOnly: () => {}, quiet: true };
    const path = join(dir, "cache", "v.txt");
    await assert.rejects(
      fetchVectors(url, path, sink as never),
      /downloaded http:.*v\.txt is not a vectors file: .*expected 3 numbers.*nothing was cached/,
    );
    assert.deepEqual(listing(join(dir, "cache")), []);
    body = "2 3\ncat 1 2 3\ndog 4 5 6\n";
    assert.equal(await fetchVectors(url, path, sink as never), path);
    // Bytes changed under the cache entry: moved aside, fetched again, and said so.
    await Deno.writeTextFile(path, "2 3\ncat 9 9 9\ndog 9 9 9\n");
    assert.equal(await fetchVectors(url, path, sink as never), path);
    assert.match(lines.join("\n"), /failed validation .*moved it to .*v\.txt\.invalid-/);
    assert.equal(await Deno.readTextFile(path), body);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("11: a rejected --resume leaves the run's config.json as it was", async () => {
  const dir = await Deno.makeTempDir();
  await writeTinyCifar(dir, { trainCount: 32, testCount: 16, classes: 4, seed: 1 });
  const args = [
    ...["--data-dir", dir, "--depth", "8", "--width", "0.25", "--input-size", "8"],
    ...["--batch-size", "16", "--backend", "cpu", "--limit", "32", "--out", join(dir, "run")],
  ];
  const first = await run("pretrain", [...args, "--epochs", "1", "--quiet"]);
  assert.equal(first.code, 0, first.stderr);
  const config = await Deno.readTextFile(join(dir, "run", "config.json"));
  const again = await run("pretrain", [...args, "--epochs", "2", "--resume", "--quiet"]);
  assert.equal(again.code, 2, again.stderr);
  assert.match(again.stderr, /--resume: .* was trained with a different config/);
  assert.equal(await Deno.readTextFile(join(dir, "run", "config.json")), config);
  await Deno.remove(dir, { recursive: true });
});
