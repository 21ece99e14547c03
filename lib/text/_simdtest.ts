import { instantiatePairKernel, simdSupported } from "./skipgram_simd.ts";
import { EXP_TABLE_SIZE, MAX_EXP, sigmoidTable } from "./skipgram.ts";
console.log("simd", simdSupported());
const mem = new WebAssembly.Memory({ initial: 4, maximum: 4, shared: true });
const pair = instantiatePairKernel(mem);
const f = new Float32Array(mem.buffer);
const i32 = new Int32Array(mem.buffer);
const dim = 8, row = 32;
const exp = 1024;
f.set(sigmoidTable(), exp / 4);
const syn0 = 8192, syn1 = 16384, tg = 256, neu = 512;
for (let i = 0; i < 64; i++) {
  f[syn0 / 4 + i] = Math.sin(i);
  f[syn1 / 4 + i] = Math.cos(i * 1.3) * 0.5;
}
const ref0 = Float32Array.from(f.subarray(syn0 / 4, syn0 / 4 + 64)),
  ref1 = Float32Array.from(f.subarray(syn1 / 4, syn1 / 4 + 64));
const targets = [3, 5, 0], alpha = 0.1, w = 2;
targets.forEach((t, k) => i32[tg / 4 + k] = syn1 + t * row);
pair(syn0 + w * row, tg, 3, alpha, neu, row, exp);
// reference
const e = sigmoidTable();
const n1 = new Float64Array(dim);
targets.forEach((t, k) => {
  let d = 0;
  for (let j = 0; j < dim; j++) d += ref0[w * dim + j] * ref1[t * dim + j];
  const label = k === 0 ? 1 : 0;
  const g = d > MAX_EXP
    ? (label - 1) * alpha
    : d < -MAX_EXP
    ? label * alpha
    : (label - e[((d + MAX_EXP) * EXP_TABLE_SIZE / MAX_EXP / 2) | 0]) * alpha;
  for (let j = 0; j < dim; j++) {
    n1[j] += g * ref1[t * dim + j];
    ref1[t * dim + j] += g * ref0[w * dim + j];
  }
});
for (let j = 0; j < dim; j++) ref0[w * dim + j] += n1[j];
let md = 0;
for (let i = 0; i < 64; i++) {
  md = Math.max(md, Math.abs(ref0[i] - f[syn0 / 4 + i]), Math.abs(ref1[i] - f[syn1 / 4 + i]));
}
console.log("maxdiff", md);
