/**
 * 16-bit floats on the JS side. Node 20 has no Float16Array, so FP16 and
 * BF16 data cross the native boundary as Uint16Array bit patterns; every
 * conversion lives here.
 * FP32 -> FP16 uses @petamoriken/float16 (round to nearest even, bulk);
 * FP16 -> FP32 reads a 65536-entry table, which is ~10x faster than
 * iterating its Float16Array. BF16 is the top half of an FP32: conversions
 * are bit operations on a Float32Array's words (round to nearest even).
 */
import { Float16Array, getFloat16 } from '@petamoriken/float16';

let table: Float32Array | undefined;

function halfTable(): Float32Array {
  if (!table) {
    table = new Float32Array(65536);
    const view = new DataView(new ArrayBuffer(2));
    for (let bits = 0; bits < 65536; bits++) {
      view.setUint16(0, bits, true);
      table[bits] = getFloat16(view, 0, true);
    }
  }
  return table;
}

/** FP16 bit patterns of `values`, rounded to nearest even. */
export function toHalf(values: ArrayLike<number>): Uint16Array {
  const halves = new Float16Array(values.length);
  halves.set(values);
  return new Uint16Array(halves.buffer, halves.byteOffset, halves.length);
}

/** The FP32 values of FP16 bit patterns. */
export function fromHalf(bits: Uint16Array): Float32Array {
  const t = halfTable();
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = t[bits[i]];
  return out;
}

/** One FP16 bit pattern as a number. */
export function halfToNumber(bits: number): number {
  return halfTable()[bits & 0xffff];
}

/** `value` rounded to the nearest FP16 number. */
export function roundToHalf(value: number): number {
  return halfTable()[toHalf([value])[0]];
}

/**
 * BF16 bit patterns of `values`: each rounded to FP32, then to BF16 (nearest
 * even; NaN stays NaN). Values between two BF16 numbers by less than FP32's
 * precision can round differently than a direct rounding would.
 */
export function toBfloat16(values: ArrayLike<number>): Uint16Array {
  const f32 = Float32Array.from(values);
  const words = new Uint32Array(f32.buffer);
  const out = new Uint16Array(f32.length);
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if ((w & 0x7f800000) === 0x7f800000 && (w & 0x007fffff) !== 0) {
      out[i] = (w >>> 16) | 0x0040; // quiet NaN
      continue;
    }
    out[i] = (w + 0x7fff + ((w >>> 16) & 1)) >>> 16;
  }
  return out;
}

/** The FP32 values of BF16 bit patterns (exact). */
export function fromBfloat16(bits: Uint16Array): Float32Array {
  const words = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) words[i] = bits[i] << 16;
  return new Float32Array(words.buffer);
}

/** Bit patterns of `values` in a 16-bit float type. */
export function toHalves(values: ArrayLike<number>, dtype: 'float16' | 'bfloat16'): Uint16Array {
  return dtype === 'bfloat16' ? toBfloat16(values) : toHalf(values);
}

/** Values of 16-bit float bit patterns. */
export function fromHalves(bits: Uint16Array, dtype: 'float16' | 'bfloat16'): Float32Array {
  return dtype === 'bfloat16' ? fromBfloat16(bits) : fromHalf(bits);
}
