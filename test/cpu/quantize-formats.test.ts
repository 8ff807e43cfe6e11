/**
 * quantize() in every format: 4 and 8 bits, symmetric and with zero points,
 * FP16 and BF16 scales, groups of 32/64/128 rows or per-channel, and
 * act-order group assignments (gIdx). Every weight must come back from
 * dequantize() within half a step, plus what the scale's own rounding to
 * the dtype can add over the steps between the zero point and the extremes.
 */
import { type ActivationDType, symmetricZero } from '../../lib/formats';
import { fromBfloat16, fromHalf, fromHalves, toBfloat16, toHalf } from '../../lib/fp16';
import { type QuantizedWeights, dequantize, quantize } from '../../lib/quantize';
import { type GroupSize, type WeightBits } from '../../lib/shapes';
import { SEED, rng, uniform } from '../helpers/random';

const random = rng(SEED + 70);
const code = (c: string) => expect.objectContaining({ code: c });

/** Unit roundoff of the scale type: 2^-11 (FP16, 11 significant bits) or 2^-8 (BF16, 8 bits). */
const UNIT: Record<ActivationDType, number> = { float16: 2 ** -11, bfloat16: 2 ** -8 };

/**
 * [k, n] test weights: columns of different ranges (so scales differ),
 * column 1 all positive and column 2 all negative (lo = 0 or hi = 0 for
 * zero points), and column 3 all zeros (every group of it is all-zero).
 */
function testWeights(k: number, n: number): Float32Array {
  const w = uniform(k * n, random, 1);
  for (let row = 0; row < k; row++) {
    for (let col = 0; col < n; col++) {
      const i = row * n + col;
      const range = 0.05 + 3 * ((col * 37) % 11) / 11;
      w[i] *= range;
      if (col === 1) w[i] = Math.abs(w[i]);
      if (col === 2) w[i] = -Math.abs(w[i]);
      if (col === 3) w[i] = 0;
    }
  }
  return w;
}

/** The group of every row: gIdx, or row / groupSize, or 0 (per-channel). */
function groupsOf(k: number, groupSize: GroupSize, gIdx?: Int32Array): Int32Array {
  if (gIdx) return gIdx;
  return Int32Array.from({ length: k }, (_, row) => (groupSize === -1 ? 0 : Math.floor(row / groupSize)));
}

/** `values` in a random order (Fisher-Yates). */
function shuffled(values: Int32Array): Int32Array {
  const g = values.slice();
  for (let i = g.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [g[i], g[j]] = [g[j], g[i]];
  }
  return g;
}

/** gIdx that puts rows into groups of `groupSize` in a random order (a shuffled row / groupSize). */
function shuffledGroups(k: number, groupSize: number): Int32Array {
  return shuffled(Int32Array.from({ length: k }, (_, row) => Math.floor(row / groupSize)));
}

interface Case {
  dtype: ActivationDType;
  bits: WeightBits;
  zeroPoints: boolean;
  groupSize: GroupSize;
  gIdx?: 'shuffled' | 'unequal';
}

const CASES: Case[] = [];
for (const dtype of ['float16', 'bfloat16'] as const)
  for (const bits of [4, 8] as const)
    for (const zeroPoints of [false, true])
      for (const groupSize of [32, 64, 128, -1] as const) CASES.push({ dtype, bits, zeroPoints, groupSize });
CASES.push({ dtype: 'float16', bits: 4, zeroPoints: false, groupSize: 64, gIdx: 'shuffled' });
CASES.push({ dtype: 'bfloat16', bits: 8, zeroPoints: true, groupSize: 32, gIdx: 'shuffled' });
CASES.push({ dtype: 'float16', bits: 4, zeroPoints: true, groupSize: 128, gIdx: 'unequal' });
CASES.push({ dtype: 'bfloat16', bits: 4, zeroPoints: false, groupSize: 128, gIdx: 'unequal' });

const name = (c: Case) => `${c.dtype} ${c.bits}-bit ${c.zeroPoints ? 'zero points' : 'symmetric'} group ${c.groupSize}${c.gIdx ? ` gIdx ${c.gIdx}` : ''}`;

describe(`quantize() in every format (seed ${SEED})`, () => {
  const k = 256;
  const n = 64;

  test.each(CASES.map((c) => [name(c), c] as const))('%s', (_label, c) => {
    const w = testWeights(k, n);
    let gIdx: Int32Array | undefined;
    if (c.gIdx === 'shuffled') gIdx = shuffledGroups(k, c.groupSize);
    // group 0: 200 rows, group 1: 56 rows, interleaved at random
    if (c.gIdx === 'unequal') gIdx = shuffled(Int32Array.from({ length: k }, (_, row) => (row < 200 ? 0 : 1)));
    const qw = quantize(w, k, n, { dtype: c.dtype, bits: c.bits, zeroPoints: c.zeroPoints, groupSize: c.groupSize, gIdx });
    const group = groupsOf(k, c.groupSize, gIdx);
    const groups = Math.max(...group) + 1;
    const maxq = (1 << c.bits) - 1;

    // shape and format fields
    expect(qw).toMatchObject({ inFeatures: k, outFeatures: n, bits: c.bits, dtype: c.dtype, groupSize: c.groupSize });
    expect(qw.q.length).toBe(k * n);
    expect(qw.scales.length).toBe(groups * n);
    expect(qw.gIdx).toBe(gIdx);
    if (c.zeroPoints) expect(qw.zeros?.length).toBe(groups * n);
    else expect(qw.zeros).toBeUndefined();

    // scales: bit patterns of the dtype, finite, non-negative, the rounded range / steps
    const roundTrip = c.dtype === 'bfloat16' ? toBfloat16(fromBfloat16(qw.scales)) : toHalf(fromHalf(qw.scales));
    expect([...roundTrip]).toEqual([...qw.scales]);
    const s = fromHalves(qw.scales, c.dtype);
    const lo = new Float64Array(groups * n);
    const hi = new Float64Array(groups * n);
    for (let row = 0; row < k; row++)
      for (let col = 0; col < n; col++) {
        const i = group[row] * n + col;
        lo[i] = Math.min(lo[i], w[row * n + col]);
        hi[i] = Math.max(hi[i], w[row * n + col]);
      }
    const scaleProblems: string[] = [];
    for (let i = 0; i < s.length; i++) {
      const raw = c.zeroPoints ? (hi[i] - lo[i]) / maxq : Math.max(hi[i], -lo[i]) / (symmetricZero(c.bits) - 0.5);
      if (!(Number.isFinite(s[i]) && s[i] >= 0 && Math.abs(s[i] - raw) <= UNIT[c.dtype] * (1 + 2 ** -10) * raw))
        scaleProblems.push(`scale ${i}: ${s[i]} for a raw ${raw}`);
    }
    expect(scaleProblems.slice(0, 5)).toEqual([]);

    // zero points and q in range
    if (qw.zeros) expect(qw.zeros.every((z) => z <= maxq)).toBe(true);
    expect(qw.q.every((v) => v <= maxq)).toBe(true);

    // every weight within half a step, plus the scale rounding over the steps to the extremes
    const steps = c.zeroPoints ? maxq : symmetricZero(c.bits) - 0.5;
    const deq = dequantize(qw);
    const violations: string[] = [];
    for (let row = 0; row < k; row++) {
      for (let col = 0; col < n; col++) {
        const i = row * n + col;
        const scale = s[group[row] * n + col];
        const bound = scale * (0.5 + steps * UNIT[c.dtype]) * (1 + 2 * UNIT[c.dtype]) + 1e-12;
        if (!(Math.abs(w[i] - deq[i]) <= bound))
          violations.push(`(${row}, ${col}): w=${w[i]} q=${qw.q[i]} deq=${deq[i]} scale=${scale} bound=${bound}`);
      }
    }
    expect(violations.slice(0, 5)).toEqual([]);

    // all-zero groups (column 3) encode exact zeros; so does any exact zero weight
    for (let row = 0; row < k; row++) {
      expect(deq[row * n + 3]).toBe(0);
      expect(s[group[row] * n + 3]).toBe(0);
    }
  });

  test('dequantize() reads (q - z) * s with the stored zero points, per group of gIdx', () => {
    const kk = 64;
    const nn = 64;
    const gIdx = Int32Array.from({ length: kk }, (_, row) => (row * 7) % 2); // two interleaved groups
    const scales = toBfloat16(Array.from({ length: 2 * nn }, (_, i) => (i < nn ? 0.5 : -0.25)));
    const zeros = Uint8Array.from({ length: 2 * nn }, (_, i) => (i < nn ? 3 : 250));
    const q = Uint8Array.from({ length: kk * nn }, (_, i) => i % 256);
    const qw: QuantizedWeights = { q, scales, zeros, gIdx, inFeatures: kk, outFeatures: nn, groupSize: 32, bits: 8, dtype: 'bfloat16' };
    const deq = dequantize(qw);
    for (const [row, col] of [
      [0, 0],
      [1, 5],
      [2, 63],
      [63, 17],
    ]) {
      const g = gIdx[row];
      expect(deq[row * nn + col]).toBe((q[row * nn + col] - (g === 0 ? 3 : 250)) * (g === 0 ? 0.5 : -0.25));
    }
  });

  test('symmetric formats use z = 2^(bits - 1): 8 for 4 bits, 128 for 8 bits', () => {
    for (const bits of [4, 8] as const) {
      const qw = quantize(new Float32Array(128 * 64), 128, 64, { bits, groupSize: 128 });
      expect(qw.q.every((v) => v === 1 << (bits - 1))).toBe(true);
      expect(dequantize(qw).every((v) => v === 0)).toBe(true);
    }
  });
});

describe('quantize() input traps', () => {
  const k = 128;
  const n = 64;

  test('FP16 bit patterns (a Uint16Array) are refused with BAD_DTYPE, naming fromHalf', () => {
    const bits = toHalf(uniform(k * n, random));
    expect(() => quantize(bits as never, k, n)).toThrow(code('BAD_DTYPE'));
    expect(() => quantize(bits as never, k, n)).toThrow(/fromHalf/);
    expect(() => quantize(bits as never, k, n, { dtype: 'bfloat16', bits: 8 })).toThrow(code('BAD_DTYPE'));
  });

  test.each([NaN, Infinity, -Infinity])('a weight of %p is BAD_ARGUMENT, naming its row and column', (bad) => {
    const w = uniform(k * n, random);
    w[5 * n + 9] = bad;
    for (const opts of [{}, { bits: 8 as const, zeroPoints: true, dtype: 'bfloat16' as const }]) {
      expect(() => quantize(w, k, n, opts)).toThrow(code('BAD_ARGUMENT'));
      expect(() => quantize(w, k, n, opts)).toThrow(/row 5, column 9/);
    }
  });

  test('a value whose scale overflows FP16 is BAD_ARGUMENT (BF16 holds it)', () => {
    const w = uniform(k * n, random);
    w[7] = 1e6; // 1e6 / 7.5 and 1e6 / 15 are both above 65504
    expect(() => quantize(w, k, n)).toThrow(code('BAD_ARGUMENT'));
    expect(() => quantize(w, k, n, { zeroPoints: true })).toThrow(code('BAD_ARGUMENT'));
    expect(() => quantize(w, k, n, { bits: 8 })).not.toThrow(); // 1e6 / 127.5 fits
    const bf = quantize(w, k, n, { dtype: 'bfloat16' });
    expect(Number.isFinite(fromBfloat16(bf.scales)[7])).toBe(true);
  });

  test('gIdx of the wrong length is BAD_SHAPE; a negative group is BAD_ARGUMENT; a non-Int32Array is BAD_DTYPE', () => {
    const w = uniform(k * n, random);
    expect(() => quantize(w, k, n, { groupSize: 64, gIdx: new Int32Array(k - 1) })).toThrow(code('BAD_SHAPE'));
    expect(() => quantize(w, k, n, { groupSize: 64, gIdx: new Int32Array(k + 1) })).toThrow(code('BAD_SHAPE'));
    const negative = new Int32Array(k);
    negative[17] = -1;
    expect(() => quantize(w, k, n, { groupSize: 64, gIdx: negative })).toThrow(code('BAD_ARGUMENT'));
    expect(() => quantize(w, k, n, { groupSize: 64, gIdx: negative })).toThrow(/gIdx\[17\]/);
    expect(() => quantize(w, k, n, { groupSize: 64, gIdx: Array.from({ length: k }, () => 0) as never })).toThrow(code('BAD_DTYPE'));
  });

  test('bad formats: bits 3, a float32 dtype, a group size of 16, a non-boolean zeroPoints', () => {
    const w = uniform(k * n, random);
    expect(() => quantize(w, k, n, { bits: 3 as never })).toThrow(code('BAD_ARGUMENT'));
    expect(() => quantize(w, k, n, { dtype: 'float32' as never })).toThrow(code('BAD_DTYPE'));
    expect(() => quantize(w, k, n, { groupSize: 16 as never })).toThrow(code('BAD_SHAPE'));
    expect(() => quantize(w, k, n, { zeroPoints: 1 as never })).toThrow(code('BAD_ARGUMENT'));
  });
});
