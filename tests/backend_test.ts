import assert from "node:assert/strict";

/** Runs a fixture script in its own process and parses its last stdout line as JSON. */
async function _runFixture(name: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(`./fixtures/${name}`, import.meta.url).pathname],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", TF_CPP_MIN_LOG_LEVEL: "2" },
  }).output();
  const dec = new TextDecoder();
  assert.equal(out.code, 0, dec.decode(out.stderr).slice(-2000));
  return JSON.parse(dec.decode(out.stdout).trim().split("\n").at(-1)!);
}

// Needs the native backend that `deno task setup` builds; DEVISE_SKIP_NATIVE_TESTS=1 skips.
Deno.test({
  name: "native ReluGrad (tensorflow backend): same gradients as tfjs's formula, no Step kernel",
  ignore: Deno.env.get("DEVISE_SKIP_NATIVE_TESTS") === "1",
  fn: async () => {
    const r = await _runFixture("native_grads_check.ts");
    assert.equal(r.backend, "tensorflow");
    assert.equal(r.nativeActive, true);
    assert.equal(r.usedNativeKernel, true);
    assert.equal(r.usedStep, false);
    assert.ok(r.nonzero > r.size / 4, `only ${r.nonzero} of ${r.size} gradients are nonzero`);
    assert.ok(r.maxAbsDiff < 1e-4, `max |native - tfjs| = ${r.maxAbsDiff}`);
  },
});

Deno.test({
  name:
    "native batch norm (tensorflow backend): outputs, gradients, moving averages as tfjs-layers",
  ignore: Deno.env.get("DEVISE_SKIP_NATIVE_TESTS") === "1",
  fn: async () => {
    const r = await _runFixture("native_grads_check.ts");
    assert.equal(r.bnNativeActive, true);
    assert.equal(r.bnCompared, 1 + 3 + 4); // y, gradients of x/gamma/beta, the 4 weights after
    // One fused op instead of tfjs's moments (Mean, ...) and its own FusedBatchNorm kernel.
    assert.ok(
      !r.bnKernels.includes("Mean") && !r.bnKernels.includes("FusedBatchNorm"),
      r.bnKernels,
    );
    assert.equal(r.bnMovingChanged, true);
    assert.ok(r.bnMaxRelDiff < 1e-4, `max relative |native - tfjs-layers| = ${r.bnMaxRelDiff}`);
  },
});
