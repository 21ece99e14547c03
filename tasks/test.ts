/**
 * Runs the test suite (`deno test -A tests/`) and ends with one plain line `N passed, N failed`,
 * which CI reads. Extra arguments go to `deno test` (e.g. a filter). Run folders a test does not
 * place itself go to a temporary `DEVISE_RUNS_DIR`; afterwards the checkout's `data/` stage
 * folders are compared with before, and anything a test left there counts as a failure (tests
 * write only under temporary folders).
 *
 * ```sh
 * deno task test
 * deno task test --filter hinge
 * ```
 * @module
 */
import { join } from "node:path";

/** The checkout's folders that only runs and stages write to. */
const GUARDED = ["runs", "index", "pipeline", "vectors", "cache", "features"].map((d) =>
  join("data", d)
);

function _listing(): Set<string> {
  const names = new Set<string>();
  for (const dir of GUARDED) {
    try {
      for (const e of Deno.readDirSync(dir)) names.add(join(dir, e.name));
    } catch { /* the folder does not exist */ }
  }
  return names;
}

/** Runs the suite; returns the exit code. */
async function main(): Promise<number> {
  const before = _listing();
  const runs = await Deno.makeTempDir({ prefix: "devise-test-runs-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", "--no-check=remote", ...Deno.args, "tests/"],
    stdout: "piped",
    stderr: "inherit",
    env: { DEVISE_RUNS_DIR: runs },
  }).spawn();

  // Stream deno test's report through while keeping it to count the results.
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    const s = decoder.decode(chunk, { stream: true });
    text += s;
    await Deno.stdout.write(chunk);
  }
  const status = await child.status;
  await Deno.remove(runs, { recursive: true }).catch(() => {});
  // deno test's summary: "ok | 12 passed (3 steps) | 0 failed (3s)" or "FAILED | 1 passed | 2 failed".
  // deno-lint-ignore no-control-regex -- strip ANSI colour codes
  const clean = text.replace(/\x1b\[[0-9;]*m/g, "");
  const summary = [...clean.matchAll(/^(?:ok|FAILED) \| (\d+) passed.*?\| (\d+) failed/gm)].at(-1);
  const passed = summary ? Number(summary[1]) : 0;
  let failed = summary ? Number(summary[2]) : 0;
  if (!status.success && failed === 0) failed = 1; // a crash or type error before any summary
  const left = [..._listing()].filter((p) => !before.has(p));
  if (left.length) {
    console.log(`tests left files in the checkout (write under a temp folder): ${left.join(", ")}`);
    failed++;
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 && passed > 0 ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main());
