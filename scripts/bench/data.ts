/**
 * Random host data for timing. Any Int32Array is a valid Marlin-packed
 * matrix, so weights need no quantization; FP16 values come from a table of
 * 65536 random halves indexed by random bytes, because converting tens of
 * millions of floats one by one with toHalf would take seconds per layer.
 */
import { randomFillSync } from 'node:crypto';

import { toHalf } from '../../lib/fp16';

/** k/16 x 2n random words: a random 4-bit [k, n] matrix in the Marlin layout. */
export function randomPackedWeights(k: number, n: number): Int32Array {
  return randomFill(new Int32Array((k * n) / 8));
}

/** `length` random FP16 bit patterns, uniform in [lo, hi). */
export function randomHalves(length: number, lo: number, hi: number): Uint16Array {
  const pool = toHalf(Float32Array.from({ length: 65536 }, () => lo + (hi - lo) * Math.random()));
  const out = randomFill(new Uint16Array(length));
  for (let i = 0; i < out.length; i++) out[i] = pool[out[i]];
  return out;
}

/** randomFillSync takes at most 2^31 - 1 bytes at a time. */
function randomFill<T extends Int32Array | Uint16Array>(array: T): T {
  const chunk = 1 << 30;
  const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
  for (let at = 0; at < bytes.length; at += chunk) randomFillSync(bytes.subarray(at, at + chunk));
  return array;
}
