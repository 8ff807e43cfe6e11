/**
 * Round-to-nearest INT4 quantization with FP16 scales (CPU).
 *
 * Weights W are [k, n] row-major (k input features, n output features; the
 * layer computes y = x W). A weight becomes q in 0..15 with
 *   W ~ (q - 8) * scale[group(row), col],
 * a group being 128 consecutive rows of one column, or the whole column
 * (groupSize -1). The scale is max|W| / 7.5 over the group, rounded to FP16,
 * so every weight is within scale / 2 of its dequantized value (the largest
 * positive one is clipped from 7.5 to 7 steps).
 */
import { toHalf, fromHalf } from './fp16';
import { checkGroupSize, scaleRows, type GroupSize } from './shapes';
import { invalid } from './validate';

export interface QuantizedWeights {
  /** [k, n] row-major values 0..15 (weight = (q - 8) * scale). */
  q: Uint8Array;
  /** [k / 128, n] (or [1, n] per-channel) FP16 bit patterns, natural order. */
  scales: Uint16Array;
  k: number;
  n: number;
  groupSize: GroupSize;
}

/** Steps between 0 and the largest magnitude of a group. */
const STEPS = 7.5;

function checkDims(k: number, n: number, length: number, groupSize: GroupSize): void {
  if (!Number.isSafeInteger(k) || k <= 0) throw invalid('BAD_SHAPE', 'k', 'a positive integer', k);
  if (!Number.isSafeInteger(n) || n <= 0) throw invalid('BAD_SHAPE', 'n', 'a positive integer', n);
  if (groupSize !== -1 && k % groupSize !== 0)
    throw invalid('BAD_SHAPE', 'k', `a multiple of the group size ${groupSize}`, k);
  if (length !== k * n) throw invalid('BAD_SHAPE', 'weights', `${k * n} values (k=${k} x n=${n})`, length);
}

export function quantize(
  weights: ArrayLike<number>,
  k: number,
  n: number,
  groupSize: GroupSize = 128,
): QuantizedWeights {
  checkGroupSize(groupSize);
  checkDims(k, n, weights.length, groupSize);
  const rowsPerGroup = groupSize === -1 ? k : groupSize;
  const groups = scaleRows(k, groupSize);
  const absMax = new Float64Array(groups * n);
  for (let row = 0; row < k; row++) {
    const base = ((row / rowsPerGroup) | 0) * n;
    for (let col = 0, i = row * n; col < n; col++, i++) {
      const a = Math.abs(weights[i]);
      if (!(a <= absMax[base + col])) absMax[base + col] = Number.isNaN(a) ? absMax[base + col] : a;
    }
  }
  for (let i = 0; i < absMax.length; i++) {
    if (!Number.isFinite(absMax[i])) throw invalid('BAD_ARGUMENT', 'weights', 'finite values', absMax[i]);
    absMax[i] /= STEPS;
  }
  const scales = toHalf(absMax);
  const scaleValues = fromHalf(scales);
  const q = new Uint8Array(k * n);
  for (let row = 0; row < k; row++) {
    const base = ((row / rowsPerGroup) | 0) * n;
    for (let col = 0, i = row * n; col < n; col++, i++) {
      const s = scaleValues[base + col];
      // A zero scale (all-zero group, or one below FP16's range) encodes zeros.
      const step = s > 0 ? Math.round(weights[i] / s) : 0;
      q[i] = step < -8 ? 0 : step > 7 ? 15 : step + 8;
    }
  }
  return { q, scales, k, n, groupSize };
}

/** The [k, n] weights that `quantized` stands for, (q - 8) * scale in float64. */
export function dequantize(quantized: QuantizedWeights): Float64Array {
  const { q, scales, k, n, groupSize } = quantized;
  checkDims(k, n, q.length, groupSize);
  const rowsPerGroup = groupSize === -1 ? k : groupSize;
  const scaleValues = fromHalf(scales);
  const out = new Float64Array(k * n);
  for (let row = 0; row < k; row++) {
    const base = ((row / rowsPerGroup) | 0) * n;
    for (let col = 0, i = row * n; col < n; col++, i++) out[i] = (q[i] - 8) * scaleValues[base + col];
  }
  return out;
}
