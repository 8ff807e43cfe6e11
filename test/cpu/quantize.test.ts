import { dequantize, quantize } from '../../lib/quantize';
import { fromHalf } from '../../lib/fp16';
import { SEED, rng, uniform } from '../helpers/random';

const random = rng(SEED + 1);

describe(`RTN INT4 quantization (seed ${SEED})`, () => {
  test.each([128, -1] as const)('keeps every weight within half a step of its value, group %i', (groupSize) => {
    const k = 512;
    const n = 64;
    const w = uniform(k * n, random, 3);
    const qw = quantize(w, k, n, groupSize);
    const deq = dequantize(qw);
    const scales = fromHalf(qw.scales);
    const rowsPerGroup = groupSize === -1 ? k : groupSize;
    const violations: string[] = [];
    for (let row = 0; row < k; row++) {
      for (let col = 0; col < n; col++) {
        const i = row * n + col;
        const s = scales[Math.floor(row / rowsPerGroup) * n + col];
        // half a step, plus the scale's own FP16 rounding (relative 2^-11 of 7.5 steps)
        if (qw.q[i] > 15 || Math.abs(w[i] - deq[i]) > s * (0.5 + 7.5 * 2 ** -11) + 1e-12)
          violations.push(`(${row}, ${col}): w=${w[i]} q=${qw.q[i]} deq=${deq[i]} scale=${s}`);
      }
    }
    expect(violations.slice(0, 5)).toEqual([]);
  });

  test('one scale per 128 rows of each column, max|w| / 7.5 in FP16', () => {
    const k = 256;
    const n = 64;
    const w = uniform(k * n, random);
    w[3 * n + 5] = -4; // column 5, group 0
    w[200 * n + 5] = 6; // column 5, group 1
    const qw = quantize(w, k, n, 128);
    const s = fromHalf(qw.scales);
    expect(qw.scales.length).toBe(2 * n);
    expect(s[5]).toBeCloseTo(4 / 7.5, 3);
    expect(s[n + 5]).toBeCloseTo(6 / 7.5, 3);
    expect(qw.q[3 * n + 5]).toBe(0); // -4 / fp16(4 / 7.5) = -7.502 steps rounds to -8 (q = 0)
    expect(qw.q[200 * n + 5]).toBe(15); // +7.502 steps rounds to 8, clamped to 7 (q = 15)
  });

  test('reports a weight that is not finite before a scale the dtype cannot hold, whichever group comes first', () => {
    // Groups are quantized one at a time (lib/rtn.ts rowBlocks): group 0's
    // overflowing scale is met before group 1's NaN, which still wins.
    const k = 256;
    const n = 64;
    const w = uniform(k * n, random);
    w[5 * n + 3] = 1e6; // group 0: its FP16 scale overflows
    expect(() => quantize(w, k, n, 128)).toThrow(/scale/);
    w[200 * n + 9] = Number.NaN; // group 1
    expect(() => quantize(w, k, n, 128)).toThrow(/row 200, column 9/);
  });

  test('per-channel uses one scale row', () => {
    const qw = quantize(uniform(256 * 64, random), 256, 64, -1);
    expect(qw.scales.length).toBe(64);
  });

  test('an all-zero group quantizes to the zero point and back to zeros', () => {
    const qw = quantize(new Float32Array(128 * 64), 128, 64, 128);
    expect(qw.q.every((v) => v === 8)).toBe(true);
    expect(dequantize(qw).every((v) => v === 0)).toBe(true);
  });

  test('rejects mismatched lengths, bad group sizes and non-finite weights', () => {
    expect(() => quantize(new Float32Array(10), 128, 64)).toThrow(expect.objectContaining({ code: 'BAD_SHAPE' }));
    expect(() => quantize(new Float32Array(100 * 64), 100, 64, 128)).toThrow(expect.objectContaining({ code: 'BAD_SHAPE' }));
    expect(() => quantize(new Float32Array(128 * 64), 128, 64, 48 as never)).toThrow(expect.objectContaining({ code: 'BAD_SHAPE' }));
    const w = new Float32Array(128 * 64);
    w[7] = Infinity;
    expect(() => quantize(w, 128, 64)).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
  });
});
