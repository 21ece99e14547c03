import assert from "node:assert/strict";

// Runs wherever Deno finds a Vulkan WebGPU adapter: a GPU's driver, or the software lavapipe
// (`apt-get install mesa-vulkan-drivers`); skipped where there is none. Vulkan only unless
// DENO_WEBGPU_BACKEND says otherwise: without a Vulkan driver wgpu falls back to OpenGL, which on
// Mesa's software llvmpipe takes over a minute for this test (lavapipe: a few seconds).
const ENV = { NO_COLOR: "1", DENO_WEBGPU_BACKEND: Deno.env.get("DENO_WEBGPU_BACKEND") ?? "vulkan" };

async function _hasAdapter(): Promise<boolean> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "console.log(!!(await navigator.gpu?.requestAdapter()))"],
    stdout: "piped",
    stderr: "null",
    env: ENV,
  }).output().catch(() => null);
  return out !== null && new TextDecoder().decode(out.stdout).trim() === "true";
}
const adapter = await _hasAdapter();

Deno.test({
  name:
    "webgpu backend: gradients and one SGD step match the cpu backend (conv+bn, ResNet-8); uploads use writeBuffer",
  ignore: !adapter,
  fn: async () => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("./fixtures/webgpu_check.ts", import.meta.url).pathname],
      stdout: "piped",
      stderr: "piped",
      env: ENV,
    }).output();
    const dec = new TextDecoder();
    assert.equal(out.code, 0, dec.decode(out.stderr).slice(-2000));
    const r = JSON.parse(dec.decode(out.stdout).trim().split("\n").at(-1)!);
    assert.equal(r.backend, "webgpu");
    for (const name of ["conv", "resnet8"]) {
      const m = r.results[name];
      assert.ok(m.gradients >= 5 && m.gradMaxAbs > 1e-3, `${name}: gradients are all zero`);
      // float32 on both; only the order of the sums differs
      assert.ok(m.gradMaxAbsDiff < 1e-4, `${name}: max |grad webgpu - cpu| = ${m.gradMaxAbsDiff}`);
      assert.ok(m.weightsAfterMaxAbsDiff < 1e-4, `${name}: weights after the step differ`);
      assert.ok(Math.abs(m.loss0.webgpu - m.loss0.cpu) < 1e-4, `${name}: loss ${m.loss0}`);
      assert.ok(m.loss1.webgpu < m.loss0.webgpu, `${name}: one SGD step did not lower the loss`);
    }
    // uploads go through queue.writeBuffer (38 ms per mapped range on NVIDIA under Deno)
    assert.equal(r.uploads.mappedRanges, 0, "a CPU value was uploaded through a mapped buffer");
    assert.deepEqual(r.uploads.values, [[1.5, -2, Math.fround(3e-7)], [7, -8, 2 ** 30], [0, 1, 0]]);
  },
});

Deno.test("webgpu backend: refused with exit code 4 and a reason where there is no adapter", async () => {
  const code = `
    import { selectBackend } from ${
    JSON.stringify(new URL("../lib/backend/select.ts", import.meta.url).href)
  };
    import { exitCodeOf } from ${
    JSON.stringify(new URL("../lib/io/errors.ts", import.meta.url).href)
  };
    try { await selectBackend("webgpu", { allowSlow: true }); console.log("{}"); }
    catch (e) { console.log(JSON.stringify({ name: e.name, code: exitCodeOf(e), message: e.message })); }`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", DENO_WEBGPU_BACKEND: "none" }, // wgpu with no backend: no adapter
  }).output();
  const dec = new TextDecoder();
  assert.equal(out.code, 0, dec.decode(out.stderr).slice(-2000));
  const r = JSON.parse(dec.decode(out.stdout).trim().split("\n").at(-1)!);
  assert.equal(r.name, "BackendError");
  assert.equal(r.code, 4);
  assert.match(r.message, /no WebGPU adapter.*Vulkan.*--backend tensorflow or cpu/s);
});
