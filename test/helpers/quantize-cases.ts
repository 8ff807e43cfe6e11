/**
 * The quantization formats tests run over (every dtype, width, group size,
 * with and without zero points, plus act-order group assignments) and
 * weights that exercise them: columns of different ranges, an all-positive,
 * an all-negative and an all-zero column.
 */
import type { ActivationDType } from '../../lib/formats';
import type { QuantizeOptions } from '../../lib/quantize';
import type { GroupSize, WeightBits } from '../../lib/shapes';
import { uniform } from './random';

export interface FormatCase {
  dtype: ActivationDType;
  bits: WeightBits;
  zeroPoints: boolean;
  groupSize: GroupSize;
  /** Act-order: rows in groups of groupSize in a random order, or two groups of unequal sizes interleaved. */
  gIdx?: 'shuffled' | 'unequal';
}

export const FORMAT_CASES: readonly FormatCase[] = (() => {
  const cases: FormatCase[] = [];
  for (const dtype of ['float16', 'bfloat16'] as const)
    for (const bits of [4, 8] as const)
      for (const zeroPoints of [false, true])
        for (const groupSize of [32, 64, 128, -1] as const) cases.push({ dtype, bits, zeroPoints, groupSize });
  cases.push({ dtype: 'float16', bits: 4, zeroPoints: false, groupSize: 64, gIdx: 'shuffled' });
  cases.push({ dtype: 'bfloat16', bits: 8, zeroPoints: true, groupSize: 32, gIdx: 'shuffled' });
  cases.push({ dtype: 'float16', bits: 4, zeroPoints: true, groupSize: 128, gIdx: 'unequal' });
  cases.push({ dtype: 'bfloat16', bits: 4, zeroPoints: false, groupSize: 128, gIdx: 'unequal' });
  return cases;
})();

export const caseName = (c: FormatCase): string =>
  `${c.dtype} ${c.bits}-bit ${c.zeroPoints ? 'zero points' : 'symmetric'} group ${c.groupSize}${c.gIdx ? ` gIdx ${c.gIdx}` : ''}`;

/** `values` in a random order (Fisher-Yates). */
export function shuffled(values: Int32Array, random: () => number): Int32Array {
  const g = values.slice();
  for (let i = g.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [g[i], g[j]] = [g[j], g[i]];
  }
  return g;
}

/** The quantize() options of a case for k rows (a fresh random gIdx for act-order cases). */
export function caseOptions(c: FormatCase, k: number, random: () => number): QuantizeOptions {
  let gIdx: Int32Array | undefined;
  if (c.gIdx === 'shuffled') gIdx = shuffled(Int32Array.from({ length: k }, (_, row) => Math.floor(row / c.groupSize)), random);
  // group 0: about 4/5 of the rows, group 1 the rest, interleaved at random
  if (c.gIdx === 'unequal') gIdx = shuffled(Int32Array.from({ length: k }, (_, row) => (row < Math.ceil((k * 4) / 5) ? 0 : 1)), random);
  return { dtype: c.dtype, bits: c.bits, zeroPoints: c.zeroPoints, groupSize: c.groupSize, gIdx };
}

/**
 * [k, n] test weights: columns of different ranges (so scales differ),
 * column 1 all positive and column 2 all negative (lo = 0 or hi = 0 for
 * zero points), and column 3 all zeros (every group of it is all-zero).
 */
export function caseWeights(k: number, n: number, random: () => number): Float32Array {
  const w = uniform(k * n, random, 1);
  for (let row = 0; row < k; row++) {
    for (let col = 0; col < n; col++) {
      const i = row * n + col;
      w[i] *= 0.05 + (3 * ((col * 37) % 11)) / 11;
      if (col === 1) w[i] = Math.abs(w[i]);
      if (col === 2) w[i] = -Math.abs(w[i]);
      if (col === 3) w[i] = 0;
    }
  }
  return w;
}
