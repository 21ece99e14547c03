import hnswlib from "hnswlib-node";
import { Rng } from "../lib/io/rng.ts";
const n = Number(Deno.args[0] ?? 50000), d = 300;
const rng = new Rng(1);
const data = new Float32Array(n * d);
for (let i = 0; i < n; i++) { let s = 0; for (let j = 0; j < d; j++) { const v = rng.normal(); data[i*d+j] = v; s += v*v; } s = 1/Math.sqrt(s); for (let j = 0; j < d; j++) data[i*d+j] *= s; }
let t = performance.now();
let acc = 0;
for (let i = 0; i < n; i++) { const a = Array.from(data.subarray(i*d, (i+1)*d)); acc += a[0]; }
console.log("Array.from per row us", (performance.now()-t)*1000/n);
t = performance.now();
const arr = new Array(d);
for (let i = 0; i < n; i++) { for (let j = 0; j < d; j++) arr[j] = data[i*d+j]; acc += arr[0]; }
console.log("reuse array per row us", (performance.now()-t)*1000/n, acc>1e9);
const idx = new hnswlib.HierarchicalNSW("cosine", d);
idx.initIndex(n, 16, 200, 100);
t = performance.now();
for (let i = 0; i < n; i++) { for (let j = 0; j < d; j++) arr[j] = data[i*d+j]; idx.addPoint(arr, i); }
const s = (performance.now()-t)/1000;
console.log("build s", s, "rate", n/s);
idx.setEf(100);
t = performance.now();
for (let q = 0; q < 1000; q++) { const i = q*7 % n; for (let j = 0; j < d; j++) arr[j] = data[i*d+j]; idx.searchKnn(arr, 10); }
console.log("qps ef100", 1000/((performance.now()-t)/1000));
