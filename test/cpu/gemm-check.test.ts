/**
 * The GPU suite's GEMM check (test/helpers/gemm-check.ts) on outputs made
 * here on the CPU: the float64 product rounded to FP16 passes, and one
 * element set to zero fails, also where the relative error over the whole
 * output (the check's former criterion) stays under its tolerance.
 */
import { fromHalf, toHalf } from '../../lib/fp16';
import { relativeError } from '../../lib/reference';
import { referenceRows } from '../helpers/format-reference';
import { RELATIVE_TOLERANCE, checkOutput, randomWeights, weights64 } from '../helpers/gemm-check';
import { SEED, rng, uniform } from '../helpers/random';

describe(`GEMM output check (seed ${SEED})`, () => {
  const random = rng(SEED + 200);
  // 64 x 4096 outputs: one element of typical size is about 1e-3 of the whole.
  const m = 64;
  const k = 128;
  const n = 4096;
  const l = randomWeights(k, n, 128, random);
  const x = fromHalf(toHalf(uniform(m * k, random)));
  const all = Array.from({ length: m }, (_, i) => i);
  const { ref } = referenceRows(x, weights64(l), k, n, all);
  const exact = toHalf(Float32Array.from(ref)); // the product, rounded once to FP16

  test('passes the float64 product rounded to FP16', () => {
    const r = checkOutput(l, k, x, m, exact);
    expect(r.failure).toBeUndefined();
    expect(r.check).toMatchObject({ violations: 0, nonFinite: 0 });
  });

  test('fails one zeroed element that the relative error over the output would let pass', () => {
    // the element whose magnitude is nearest half the output's RMS
    const rms = Math.sqrt(ref.reduce((s, v) => s + v * v, 0) / ref.length);
    let pick = 0;
    for (let i = 1; i < ref.length; i++) if (Math.abs(Math.abs(ref[i]) - rms / 2) < Math.abs(Math.abs(ref[pick]) - rms / 2)) pick = i;
    const zeroed = exact.slice();
    zeroed[pick] = 0;
    expect(relativeError(fromHalf(zeroed), ref)).toBeLessThan(RELATIVE_TOLERANCE);

    const r = checkOutput(l, k, x, m, zeroed);
    expect(r.check.violations).toBe(1);
    expect(r.check.worst).toMatchObject({ row: Math.floor(pick / n), col: pick % n, got: 0 });
    expect(r.failure).toMatch(/^1 elements over the bound/);
  });

  test('fails a zeroed element in any row it checks, and an unwritten (NaN) one in any row', () => {
    const rows = [0, 17, m - 1];
    const zeroed = exact.slice();
    zeroed[17 * n + 5] = 0;
    expect(checkOutput(l, k, x, m, zeroed, rows).check.violations).toBe(ref[17 * n + 5] === 0 ? 0 : 1);
    const poisoned = exact.slice();
    poisoned[30 * n + 9] = 0xffff; // NaN, in a row the reference does not cover
    const r = checkOutput(l, k, x, m, poisoned, rows);
    expect(r.check).toMatchObject({ violations: 0, nonFinite: 1 });
    expect(r.failure).toMatch(/1 not finite/);
  });
});
