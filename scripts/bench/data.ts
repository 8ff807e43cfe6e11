/**
 * Random host data for timing. Any Int32Array is a valid Marlin-packed
 * matrix (and any one a valid set of packed zero points), so weights need no
 * quantization; 16-bit values come from a table of 65536 random values
 * indexed by random bytes, because converting tens of millions of floats one
 * by one would take seconds per layer.
 */
import { randomFillSync } from 'node:crypto';

import type { ActivationDType } from '../../lib/formats';
import { toHalves } from '../../lib/fp16';
import type { PackedLayer } from '../../lib/linear';
import { type WeightBits, scaleRows } from '../../lib/shapes';
import type { BenchFormat } from './formats';

/** k n bits / 32 random words: a random `bits`-bit [k, n] matrix in the Marlin layout. */
export function randomPackedWeights(k: number, n: number, bits: WeightBits = 4): Int32Array {
  return randomFill(new Int32Array((k * n * bits) / 32));
}

/** `length` random bit patterns of `dtype` (FP16 by default), uniform in [lo, hi). */
export function randomHalves(length: number, lo: number, hi: number, dtype: ActivationDType = 'float16'): Uint16Array {
  const pool = toHalves(Float32Array.from({ length: 65536 }, () => lo + (hi - lo) * Math.random()), dtype);
  const out = randomFill(new Uint16Array(length));
  for (let i = 0; i < out.length; i++) out[i] = pool[out[i]];
  return out;
}

/** A random order of the rows 0..k-1: an act-order layer whose groups need no padding (k kernel rows). */
export function randomRowOrder(k: number): Int32Array {
  const rows = Int32Array.from({ length: k }, (_, i) => i);
  for (let i = k - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [rows[i], rows[j]] = [rows[j], rows[i]];
  }
  return rows;
}

/**
 * A random [k, n] layer of `format`: random packed weights (and zero points),
 * positive scales, and for act-order a random row order. Scales shrink with
 * the bits (by 2^(4 - bits)) so that weights span the same range whatever
 * the bits: within ±0.19 when symmetric, ±0.36 with zero points.
 */
export function randomPackedLayer(k: number, n: number, format: BenchFormat): PackedLayer {
  const groups = scaleRows(k, format.groupSize);
  const scale = 2 ** (4 - format.bits) / 64;
  return {
    packedWeights: randomPackedWeights(k, n, format.bits),
    packedScales: randomHalves(groups * n, 0.5 * scale, 1.5 * scale, format.dtype),
    packedZeros: format.zeroPoints ? randomZeros((groups * n) / 4, format.bits) : undefined,
    rows: format.actOrder ? randomRowOrder(k) : undefined,
    inFeatures: k,
    outFeatures: n,
    groupSize: format.groupSize,
    bits: format.bits,
    dtype: format.dtype,
  };
}

/** Random packed zero points: a byte each, in 0..2^bits - 1 like the weights. */
function randomZeros(words: number, bits: number): Int32Array {
  const z = randomFill(new Int32Array(words));
  if (bits === 4) for (let i = 0; i < z.length; i++) z[i] &= 0x0f0f0f0f;
  return z;
}

/** randomFillSync takes at most 2^31 - 1 bytes at a time. */
function randomFill<T extends Int32Array | Uint16Array>(array: T): T {
  const chunk = 1 << 30;
  const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
  for (let at = 0; at < bytes.length; at += chunk) randomFillSync(bytes.subarray(at, at + chunk));
  return array;
}
