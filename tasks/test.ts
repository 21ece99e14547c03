/**
 * Runs the test suite (`deno test -A tests/`) and ends with one plain line `N passed, N failed`,
 * which CI reads. Extra arguments go to `deno test` (e.g. a filter).
 *
 * ```sh
 * deno task test
 * deno task test --filter hinge
 * ```
 * @module
 */

const extra = Deno.args;
const child = new Deno.Command(Deno.execPath(), {
  args: ["test", "-A", "--no-check=remote", ...extra, "tests/"],
  stdout: "piped",
  stderr: "inherit",
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
// deno test's summary: "ok | 12 passed (3 steps) | 0 failed (3s)" or "FAILED | 1 passed | 2 failed".
// deno-lint-ignore no-control-regex -- strip ANSI colour codes
const clean = text.replace(/\x1b\[[0-9;]*m/g, "");
const summary = [...clean.matchAll(/^(?:ok|FAILED) \| (\d+) passed.*?\| (\d+) failed/gm)].at(-1);
const passed = summary ? Number(summary[1]) : 0;
let failed = summary ? Number(summary[2]) : 0;
if (!status.success && failed === 0) failed = 1; // a crash or type error before any summary
console.log(`${passed} passed, ${failed} failed`);
Deno.exit(status.success && passed > 0 ? 0 : 1);
