/**
 * IEEE binary16 conversion through the platform's `Float16Array` (round to nearest even, overflow
 * to ±Infinity, NaN kept), for feature files and word vectors stored at half precision. Halves are
 * kept as their `Uint16Array` bit patterns so files and buffers stay plain bytes.
 *
 * @example
 * ```ts
 * const bits = float32ToFloat16(new Float32Array([1.5, 1e6]));
 * float16ToFloat32(bits); // Float32Array [1.5, Infinity]
 * floatToHalf(1); // 0x3c00
 * ```
 * @module
 */

const _f16 = new Float16Array(1);
const _u16 = new Uint16Array(_f16.buffer);

/**
 * float32 values → binary16 bit patterns.
 *
 * @example
 * ```ts
 * float32ToFloat16(new Float32Array([1]))[0]; // 0x3c00
 * ```
 */
export function float32ToFloat16(values: Float32Array): Uint16Array {
  return new Uint16Array(Float16Array.from(values).buffer);
}

/**
 * binary16 bit patterns → float32 values.
 *
 * @example
 * ```ts
 * float16ToFloat32(new Uint16Array([0x3c00]))[0]; // 1
 * ```
 */
export function float16ToFloat32(bits: Uint16Array): Float32Array {
  return Float32Array.from(new Float16Array(bits.buffer, bits.byteOffset, bits.length));
}

/**
 * One number → binary16 bits.
 *
 * @example
 * ```ts
 * floatToHalf(65504); // 0x7bff
 * ```
 */
export function floatToHalf(value: number): number {
  _f16[0] = value;
  return _u16[0];
}

/**
 * binary16 bits → number.
 *
 * @example
 * ```ts
 * halfToFloat(0x3c00); // 1
 * ```
 */
export function halfToFloat(bits: number): number {
  _u16[0] = bits;
  return _f16[0];
}
