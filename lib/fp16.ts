/**
 * FP16 on the JS side. Node 20 has no Float16Array, so FP16 data crosses the
 * native boundary as Uint16Array bit patterns; every conversion lives here.
 * FP32 -> FP16 uses @petamoriken/float16 (round to nearest even, bulk);
 * FP16 -> FP32 reads a 65536-entry table, which is ~10x faster than
 * iterating its Float16Array.
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
