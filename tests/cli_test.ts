import assert from "node:assert/strict";
import { join } from "node:path";
import { type FlagSpec, helpText, kebab, parseFlags, UsageError } from "../lib/cli/args.ts";
import { startRun } from "../lib/cli/run.ts";
import { formatSeconds } from "../lib/cli/progress.ts";
import {
  ArtifactError,
  artifactIsCurrent,
  readArtifact,
  readSidecar,
  sidecarPath,
  writeArtifact,
  writeFileAtomic,
} from "../lib/io/artifact.ts";
import { Rng } from "../lib/io/rng.ts";

const spec = {
  epochs: { type: "number", default: 30, help: "passes" },
  backend: { type: "string", default: "auto", help: "which", choices: ["auto", "cpu"] },
  json: { type: "boolean", default: false, help: "json out" },
  batchSize: { type: "number", default: 128, help: "images per step" },
  corpus: { type: "list", default: [], help: "files" },
} as const satisfies FlagSpec;
const info = { task: "demo", summary: "A demo." };

Deno.test("parseFlags: defaults, kebab-case, numbers, lists, --no-", () => {
  const f = parseFlags(spec, [], info);
  assert.deepEqual(f, {
    _: [],
    epochs: 30,
    backend: "auto",
    json: false,
    batchSize: 128,
    corpus: [],
  });
  const g = parseFlags(
    spec,
    ["--epochs", "3", "--batch-size=64", "--json", "--corpus", "a.txt,b.txt", "--corpus", "c"],
    info,
  );
  assert.equal(g.epochs, 3);
  assert.equal(g.batchSize, 64);
  assert.equal(g.json, true);
  assert.deepEqual(g.corpus, ["a.txt", "b.txt", "c"]);
  assert.equal(parseFlags(spec, ["--json", "--no-json"], info).json, false);
  assert.equal(kebab("epochSeconds"), "epoch-seconds");
});

Deno.test("parseFlags: unknown flag, bad number, bad choice, positional are usage errors", () => {
  assert.throws(() => parseFlags(spec, ["--epoch", "3"], info), UsageError);
  assert.throws(() => parseFlags(spec, ["--epochs", "many"], info), /expects a number/);
  assert.throws(() => parseFlags(spec, ["--backend", "tpu"], info), /must be one of auto\|cpu/);
  assert.throws(() => parseFlags(spec, ["stray"], info), UsageError);
});

const domains = {
  epochs: { type: "number", default: 3, integer: true, min: 1, help: "passes" },
  dropout: { type: "number", min: 0, max: 1, exclusiveMax: true, help: "rate (preset)" },
  layers: { type: "list", choices: ["gap", "act"], minItems: 1, help: "layers (preset)" },
  rates: { type: "list", default: ["0.5"], numbers: { min: 0, max: 1 }, help: "rates" },
  vectors: { type: "string", default: "", required: true, help: "vectors" },
  dataDir: { type: "string", default: "", path: "dir", help: "data" },
  out: { type: "string", default: "", path: "writable-dir", help: "out" },
} as const satisfies FlagSpec;

Deno.test("parseFlags: each flag's domain is checked before any work, naming the flag", async () => {
  const ok = ["--vectors", "v.bin"];
  const f = parseFlags(domains, ok, info);
  // No default: undefined unless given (presets fill it).
  assert.equal(f.dropout, undefined);
  assert.equal(f.layers, undefined);
  assert.deepEqual(parseFlags(domains, [...ok, "--layers", "act,gap"], info).layers, [
    "act",
    "gap",
  ]);
  const refused: [string[], RegExp][] = [
    [["--epochs=-3"], /--epochs must be >= 1, got '-3'/],
    [["--epochs", "-3"], /'--epochs' argument is ambiguous.*\n.*\n.*--epochs=-XYZ/],
    [["--epochs", "1.5"], /--epochs expects a whole number, got '1.5'/],
    [["--epochs", "0"], /--epochs must be >= 1/],
    [["--epochs", "1e999"], /--epochs expects a finite number/],
    [["--epochs", "NaN"], /--epochs expects a number/],
    [["--dropout", "1"], /--dropout must be < 1, got '1'/],
    [["--dropout=-0.1"], /--dropout must be >= 0/],
    [["--layers", "gap,bn"], /--layers: 'bn' not one of gap\|act/],
    [["--layers", ","], /--layers needs at least 1 item/],
    [["--rates", "0.5,2"], /--rates must be <= 1, got '2'/],
    [["--data-dir", "/no/such/dir"], /--data-dir \/no\/such\/dir: no such folder/],
    [["--data-dir", "deno.json"], /--data-dir deno.json: not a folder/],
    [["--out", "deno.json/x"], /--out deno.json\/x: .*deno.json is a file, not a folder/],
  ];
  for (const [args, pattern] of refused) {
    assert.throws(() => parseFlags(domains, [...ok, ...args], info), pattern, args.join(" "));
    assert.throws(() => parseFlags(domains, [...ok, ...args], info), UsageError);
  }
  assert.throws(() => parseFlags(domains, [], info), /--vectors is required/);
  // A folder that does not exist yet is fine for --out when its parent is a folder.
  const tmp = await Deno.makeTempDir();
  assert.equal(
    parseFlags(domains, [...ok, "--out", join(tmp, "a", "b")], info).out,
    join(tmp, "a", "b"),
  );
  await Deno.remove(tmp, { recursive: true });
});

Deno.test("parseFlags: positionals only where the task declares them", () => {
  const withPaths = { ...info, positionals: { name: "PATH", help: "images", min: 1 } };
  assert.deepEqual(parseFlags(spec, ["a.jpg", "--json", "b.png"], withPaths)._, ["a.jpg", "b.png"]);
  assert.throws(() => parseFlags(spec, ["--json"], withPaths), /at least 1 PATH/);
  assert.throws(() => parseFlags(spec, ["a.jpg"], info), /unexpected argument 'a.jpg'/);
  assert.match(helpText(spec, withPaths), /deno task demo \[flags\] PATH\.\.\./);
});

Deno.test("helpText lists every flag with its default", () => {
  const text = helpText(spec, { ...info, examples: ["deno task demo --epochs 3"] });
  for (const flag of ["--epochs", "--backend", "--json", "--batch-size", "--corpus", "--help"]) {
    assert.ok(text.includes(flag), flag);
  }
  assert.match(text, /\[default: 128\]/);
  assert.match(text, /deno task demo --epochs 3/);
});

Deno.test("formatSeconds", () => {
  assert.equal(formatSeconds(5), "5s");
  assert.equal(formatSeconds(125), "2m05s");
  assert.equal(formatSeconds(3720), "1h02m");
  assert.equal(formatSeconds(Infinity), "?");
});

Deno.test("artifacts: atomic write, sidecar validation, corruption and staleness detected", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "sub", "feat.f32");
  const data = new Uint8Array(new Float32Array([1, 2, 3]).buffer);
  const side = await writeArtifact(path, data, {
    format: "demo",
    version: 1,
    shape: [3],
    sources: { a: "x" },
  });
  assert.equal(side.bytes, 12);
  const back = await readArtifact(path, "demo", 1);
  assert.deepEqual(back.data, data);
  assert.equal(await artifactIsCurrent(path, "demo", 1, { a: "x" }), true);
  assert.equal(await artifactIsCurrent(path, "demo", 1, { a: "y" }), false);
  await assert.rejects(readSidecar(path, "other", 1), /expected format 'other'/);
  await assert.rejects(readSidecar(path, "demo", 2), /version 2/);
  // A flipped byte with the same size is caught by the checksum.
  const bad = data.slice();
  bad[0] ^= 1;
  await Deno.writeFile(path, bad);
  await assert.rejects(readArtifact(path, "demo", 1), ArtifactError);
  // A truncated file is caught by the size check without hashing.
  await Deno.writeFile(path, data.subarray(0, 8));
  await assert.rejects(readSidecar(path, "demo", 1), /8 bytes on disk, sidecar expects 12/);
  // No sidecar: treated as incomplete.
  await Deno.remove(sidecarPath(path));
  await assert.rejects(readSidecar(path, "demo", 1), /missing sidecar/);
  // No temp files are left behind.
  const names = [...Deno.readDirSync(join(dir, "sub"))].map((e) => e.name);
  assert.deepEqual(names.filter((n) => n.includes(".tmp-")), []);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("writeFileAtomic: a failed rename leaves the target and no temp file", async () => {
  const dir = await Deno.makeTempDir();
  const target = join(dir, "taken");
  await Deno.mkdir(join(target, "child"), { recursive: true });
  // Renaming a file over a non-empty directory fails even for root.
  await assert.rejects(writeFileAtomic(target, "new"));
  assert.ok((await Deno.stat(join(target, "child"))).isDirectory);
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["taken"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("startRun writes config.json once, metrics.json with status, and the log", async () => {
  const dir = await Deno.makeTempDir();
  const run = await startRun("demo", join(dir, "run"), { seed: 1, backend: "cpu" }, {
    quiet: true,
  });
  run.log("hello");
  run.logFileOnly("progress line");
  await run.finish({ top1: 0.5 }, false);
  const config = JSON.parse(await Deno.readTextFile(join(dir, "run", "config.json")));
  assert.equal(config.seed, 1);
  assert.equal(config.backend, "cpu");
  assert.equal(config.task, "demo");
  assert.equal(config.versions.deno, Deno.version.deno);
  assert.equal(config.pid, Deno.pid);
  // This checkout is a git repository: the commit ties a number to the code that printed it.
  assert.match(config.git.commit, /^[0-9a-f]{40}$/);
  assert.equal(typeof config.git.dirty, "boolean");
  const metrics = JSON.parse(await Deno.readTextFile(join(dir, "run", "metrics.json")));
  assert.equal(metrics.status, "ok");
  assert.equal(metrics.task, "demo");
  assert.equal(metrics.top1, 0.5);
  assert.ok(metrics.wallSeconds >= 0);
  assert.equal(
    await Deno.readTextFile(join(dir, "run", "log.txt")),
    "hello\nprogress line\n",
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("Rng: seeded, state round-trips, permutation is a permutation", () => {
  const a = new Rng(7);
  const b = new Rng(7);
  assert.deepEqual([a.next(), a.next()], [b.next(), b.next()]);
  assert.notEqual(new Rng(8).next(), new Rng(7).next());
  const saved = a.state();
  const x = [a.next(), a.next(), a.int(10)];
  const c = Rng.fromState(saved);
  assert.deepEqual([c.next(), c.next(), c.int(10)], x);
  const p = new Rng(1).permutation(100);
  assert.deepEqual([...p].sort((u, v) => u - v), [...Array(100).keys()]);
  let sum = 0;
  const r = new Rng(3);
  for (let i = 0; i < 10000; i++) sum += r.next();
  assert.ok(Math.abs(sum / 10000 - 0.5) < 0.02);
  assert.throws(() => Rng.fromState([1, 2]), /4 uint32s/);
});

Deno.test("an open run busy in a synchronous loop is still killed at once by SIGTERM", async () => {
  const dir = await Deno.makeTempDir();
  const script = join(dir, "busy.ts");
  const runModule = new URL("../lib/cli/run.ts", import.meta.url).href;
  await Deno.writeTextFile(
    script,
    `import { startRun } from "${runModule}";
await startRun("demo", ${JSON.stringify(join(dir, "run"))}, {}, { quiet: true });
console.log("ready");
const t0 = Date.now();
while (Date.now() - t0 < 30_000) { /* an epoch's synchronous steps */ }
`,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.getReader();
  await reader.read(); // "ready"
  const t0 = performance.now();
  child.kill("SIGTERM");
  const status = await child.status;
  reader.releaseLock();
  await child.stdout.cancel();
  assert.ok(performance.now() - t0 < 5000, "the signal waited for the loop");
  assert.equal(status.signal, "SIGTERM");
  await Deno.remove(dir, { recursive: true });
});
