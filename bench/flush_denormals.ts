/**
 * Preload for an experiment, not for use: sets the x86-64 flush-to-zero (FTZ) and
 * denormals-are-zero (DAZ) bits of MXCSR before any task code runs, so TensorFlow's threads,
 * created later, inherit them. It measures how much denormal floats cost a run:
 *
 * ```sh
 * deno run -A tasks/train.ts --data-dir ../shared/data --visual V --finetune-epochs 3 --out A
 * deno run -A --preload bench/flush_denormals.ts tasks/train.ts ... --out B   # same flags
 * ```
 *
 * Measured on fine-tuning (README, fourth session): no effect beyond the machine's drift.
 *
 * Through glibc's `fegetenv`/`fesetenv` (its x86-64 `fenv_t` keeps MXCSR at byte 28), read back
 * to check. Not in the library: the bits hold for the whole thread, so JavaScript's own float
 * arithmetic would flush denormal doubles too (`Number.MIN_VALUE` is one).
 * @module
 */
const MXCSR_OFFSET = 28, FENV_BYTES = 32, FTZ_DAZ = 0x8040;

if (Deno.build.arch !== "x86_64" || Deno.build.os !== "linux") {
  throw new Error(`flush_denormals: x86-64 Linux only, not ${Deno.build.arch} ${Deno.build.os}`);
}
const libm = Deno.dlopen("libm.so.6", {
  fegetenv: { parameters: ["buffer"], result: "i32" },
  fesetenv: { parameters: ["buffer"], result: "i32" },
});
const env = new Uint8Array(FENV_BYTES);
const view = new DataView(env.buffer);
if (libm.symbols.fegetenv(env) !== 0) throw new Error("flush_denormals: fegetenv failed");
const before = view.getUint32(MXCSR_OFFSET, true);
view.setUint32(MXCSR_OFFSET, before | FTZ_DAZ, true);
if (libm.symbols.fesetenv(env) !== 0) throw new Error("flush_denormals: fesetenv failed");
env.fill(0);
libm.symbols.fegetenv(env);
const after = view.getUint32(MXCSR_OFFSET, true);
if ((after & FTZ_DAZ) !== FTZ_DAZ) {
  throw new Error(`flush_denormals: MXCSR is 0x${after.toString(16)} after setting FTZ and DAZ`);
}
console.error(
  `flush_denormals: MXCSR 0x${before.toString(16)} -> 0x${after.toString(16)} (FTZ, DAZ on)`,
);
