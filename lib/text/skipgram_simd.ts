/**
 * The skip-gram negative-sampling update as a tiny hand-assembled WebAssembly SIMD function, so
 * the dot products and axpys run 4 floats at a time (V8 does not vectorise JS loops). The
 * weights live in a shared `WebAssembly.Memory`, so Hogwild workers update the same rows.
 *
 * `pair(l1, targets, n, alpha, neu, rowBytes, expTable)` does, for one (context, center) pair:
 * `neu = 0; for k < n: t = targets[k]; label = k == 0; f = syn0[l1]·syn1[t];
 * g = (label − σ(f))·alpha; neu += g·syn1[t]; syn1[t] += g·syn0[l1]; then syn0[l1] += neu`,
 * with all arguments byte offsets into memory and rows padded to a multiple of 4 floats.
 *
 * @example
 * ```ts
 * const memory = new WebAssembly.Memory({ initial: 16, maximum: 16, shared: true });
 * const pair = instantiatePairKernel(memory);
 * pair(l1Bytes, targetsBytes, 6, 0.025, neuBytes, rowBytes, expBytes);
 * ```
 * @module
 */
import { EXP_TABLE_SIZE, MAX_EXP } from "./sigmoid_table.ts";

/** The kernel's JS signature (all pointers are byte offsets into the shared memory). */
export type PairKernel = (
  l1: number,
  targets: number,
  n: number,
  alpha: number,
  neu: number,
  rowBytes: number,
  expTable: number,
) => void;

// Opcodes used below (core and 0xfd-prefixed SIMD).
const I32 = 0x7f, F32 = 0x7d, V128 = 0x7b;
const GET = 0x20, SET = 0x21, TEE = 0x22;
const I32_CONST = 0x41, F32_CONST = 0x43;
const I32_ADD = 0x6a, I32_LT_U = 0x49, I32_EQZ = 0x45, I32_LOAD = 0x28, F32_LOAD = 0x2a;
const F32_ADD = 0x92, F32_SUB = 0x93, F32_MUL = 0x94, F32_GT = 0x5e, F32_LT = 0x5d;
const F32_CONVERT_I32_U = 0xb3, I32_TRUNC_F32_S = 0xa8, I32_SHL = 0x74;
const LOOP = 0x03, IF = 0x04, ELSE = 0x05, END = 0x0b, BR_IF = 0x0d, VOID = 0x40;
const F32_RESULT = 0x7d;
const SIMD = 0xfd;
const V128_LOAD = 0x00, V128_STORE = 0x0b, V128_CONST = 0x0c, F32X4_SPLAT = 0x13;
const F32X4_EXTRACT = 0x1f, F32X4_ADD = 0xe4, F32X4_MUL = 0xe6;

function _uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

function _f32(x: number): number[] {
  return [...new Uint8Array(new Float32Array([x]).buffer)];
}

const _simd = (op: number) => [SIMD, ..._uleb(op)];
const _mem = (align: number) => [align, 0];
const _vload = () => [..._simd(V128_LOAD), ..._mem(4)];
const _vstore = () => [..._simd(V128_STORE), ..._mem(4)];

/** The function body: params 0..6 as in {@link PairKernel}, then locals. */
function _body(): number[] {
  // params: 0 l1, 1 targets, 2 n, 3 alpha(f32), 4 neu, 5 rowBytes, 6 exp
  const [L1, TG, N, ALPHA, NEU, ROW, EXP] = [0, 1, 2, 3, 4, 5, 6];
  // locals: 7 k, 8 t, 9 j (i32); 10 f, 11 g (f32); 12 acc, 13 gv, 14 x (v128)
  const [K, T, J, F, G, ACC, GV, X] = [7, 8, 9, 10, 11, 12, 13, 14];
  const zeroV = [..._simd(V128_CONST), ...new Array(16).fill(0)];
  const addr = (base: number) => [GET, base, GET, J, I32_ADD];
  const jLoopTail = [GET, J, I32_CONST, 16, I32_ADD, TEE, J, GET, ROW, I32_LT_U, BR_IF, 0, END];
  const locals = [3, 3, I32, 2, F32, 3, V128];
  // deno-fmt-ignore
  return [
    ..._uleb(locals[0]), ...locals.slice(1),
    // neu = 0
    I32_CONST, 0, SET, J,
    LOOP, VOID, ...addr(NEU), ...zeroV, ..._vstore(), ...jLoopTail,
    I32_CONST, 0, SET, K,
    LOOP, VOID,
    // t = targets[k]
    GET, TG, GET, K, I32_CONST, 2, I32_SHL, I32_ADD, I32_LOAD, ..._mem(2), SET, T,
    // acc = Σ syn0[l1+j] * syn1[t+j], 4 lanes at a time
    ...zeroV, SET, ACC, I32_CONST, 0, SET, J,
    LOOP, VOID,
    GET, ACC, ...addr(L1), ..._vload(), ...addr(T), ..._vload(), ..._simd(F32X4_MUL),
    ..._simd(F32X4_ADD), SET, ACC,
    ...jLoopTail,
    GET, ACC, ..._simd(F32X4_EXTRACT), 0, GET, ACC, ..._simd(F32X4_EXTRACT), 1, F32_ADD,
    GET, ACC, ..._simd(F32X4_EXTRACT), 2, GET, ACC, ..._simd(F32X4_EXTRACT), 3, F32_ADD,
    F32_ADD, SET, F,
    // g = (label - sigmoid(f)) * alpha with label = (k == 0); sigmoid from the table
    GET, K, I32_EQZ, F32_CONVERT_I32_U,
    GET, F, F32_CONST, ..._f32(MAX_EXP), F32_GT,
    IF, F32_RESULT, F32_CONST, ..._f32(1),
    ELSE,
    GET, F, F32_CONST, ..._f32(-MAX_EXP), F32_LT,
    IF, F32_RESULT, F32_CONST, ..._f32(0),
    ELSE,
    GET, EXP, GET, F, F32_CONST, ..._f32(MAX_EXP), F32_ADD,
    F32_CONST, ..._f32(EXP_TABLE_SIZE / MAX_EXP / 2), F32_MUL, I32_TRUNC_F32_S,
    I32_CONST, 2, I32_SHL, I32_ADD, F32_LOAD, ..._mem(2),
    END,
    END,
    F32_SUB, GET, ALPHA, F32_MUL, TEE, G,
    ..._simd(F32X4_SPLAT), SET, GV,
    // neu += g * syn1[t]; syn1[t] += g * syn0[l1]
    I32_CONST, 0, SET, J,
    LOOP, VOID,
    ...addr(T), ..._vload(), SET, X,
    ...addr(NEU), ...addr(NEU), ..._vload(), GET, GV, GET, X, ..._simd(F32X4_MUL),
    ..._simd(F32X4_ADD), ..._vstore(),
    ...addr(T), GET, X, GET, GV, ...addr(L1), ..._vload(), ..._simd(F32X4_MUL),
    ..._simd(F32X4_ADD), ..._vstore(),
    ...jLoopTail,
    GET, K, I32_CONST, 1, I32_ADD, TEE, K, GET, N, I32_LT_U, BR_IF, 0,
    END,
    // syn0[l1] += neu
    I32_CONST, 0, SET, J,
    LOOP, VOID,
    ...addr(L1), ...addr(L1), ..._vload(), ...addr(NEU), ..._vload(), ..._simd(F32X4_ADD),
    ..._vstore(),
    ...jLoopTail,
    END,
  ];
}

function _section(id: number, bytes: number[]): number[] {
  return [id, ..._uleb(bytes.length), ...bytes];
}

/**
 * The kernel module's bytes: imports `env.mem` (shared memory of `pages` 64 KiB pages), exports
 * `pair`.
 *
 * @example
 * ```ts
 * WebAssembly.validate(pairKernelBytes(16)); // true where SIMD is supported
 * ```
 */
export function pairKernelBytes(pages: number): Uint8Array<ArrayBuffer> {
  const type = [1, 0x60, 7, I32, I32, I32, F32, I32, I32, I32, 0];
  const name = (s: string) => [..._uleb(s.length), ...new TextEncoder().encode(s)];
  const imports = [1, ...name("env"), ...name("mem"), 0x02, 0x03, ..._uleb(pages), ..._uleb(pages)];
  const body = _body();
  const code = [1, ..._uleb(body.length), ...body];
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ..._section(1, type),
    ..._section(2, imports),
    ..._section(3, [1, 0]),
    ..._section(7, [1, ...name("pair"), 0x00, 0]),
    ..._section(10, code),
  ]);
}

/**
 * Instantiates the kernel on a shared memory (its page count must equal its maximum).
 *
 * @example
 * ```ts
 * const pair = instantiatePairKernel(new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }));
 * ```
 */
export function instantiatePairKernel(memory: WebAssembly.Memory): PairKernel {
  const pages = memory.buffer.byteLength / 65536;
  const module = new WebAssembly.Module(pairKernelBytes(pages));
  const instance = new WebAssembly.Instance(module, { env: { mem: memory } });
  return instance.exports.pair as PairKernel;
}

/** True when this runtime can compile the SIMD kernel. */
export function simdSupported(): boolean {
  try {
    return WebAssembly.validate(pairKernelBytes(1));
  } catch {
    return false;
  }
}
