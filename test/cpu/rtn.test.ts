/**
 * The fast loops give the bits of the straightforward ones: quantize()
 * against RTN written element by element with Math.round, and
 * packQuantized() against packing as fromQuantized composed it before (a
 * reordered copy of q for act-order, then packWeights, packScales,
 * packZeros), in every format.
 */
import { packQuantized } from '../../lib/pack-layer';
import { quantize } from '../../lib/quantize';
import { firstDifference } from '../helpers/compare';
import { FORMAT_CASES, caseName, caseOptions, caseWeights } from '../helpers/quantize-cases';
import { SEED, rng } from '../helpers/random';
import { referencePack, referenceRtn } from '../helpers/rtn-reference';

const random = rng(SEED + 90);

describe(`quantize() against element-by-element RTN (seed ${SEED})`, () => {
  test.each(FORMAT_CASES.map((c) => [caseName(c), c] as const))('%s', (_name, c) => {
    const k = 256;
    const n = 192;
    const w = caseWeights(k, n, random);
    const options = caseOptions(c, k, random);
    const ours = quantize(w, k, n, options);
    const reference = referenceRtn(w, k, n, { ...c, gIdx: options.gIdx });
    expect(firstDifference(ours.scales, reference.scales)).toBe(-1);
    expect(firstDifference(ours.q, reference.q)).toBe(-1);
    if (c.zeroPoints) expect(firstDifference(ours.zeros!, reference.zeros!)).toBe(-1);
  });

  test('rounds ties away from zero upwards and 0.5 - 2^-54 steps down, as Math.round does', () => {
    // One group of 128 rows in column 0 whose largest magnitude is 3.75: the
    // FP16 scale is 3.75 / 7.5 = 0.5 exactly, so w / scale = 2 w, exactly.
    const steps = [0.5 - 2 ** -54, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, -(0.5 - 2 ** -54), 7.5, -7.5];
    const w = new Float64Array(128 * 64);
    steps.forEach((x, row) => (w[row * 64] = x / 2));
    w[127 * 64] = 3.75;
    const q = quantize(w, 128, 64, 128).q;
    expect(steps.map((_, row) => q[row * 64] - 8)).toEqual([0, 1, 0, 2, -1, 3, -2, 0, 7, -7]);
    expect(firstDifference(q, referenceRtn(w, 128, 64, { dtype: 'float16', bits: 4, zeroPoints: false, groupSize: 128 }).q)).toBe(-1);
  });
});

describe(`packQuantized() against the composed packing (seed ${SEED})`, () => {
  test.each(FORMAT_CASES.map((c) => [caseName(c), c] as const))('%s', (_name, c) => {
    const k = 256;
    const n = 192;
    const quantized = quantize(caseWeights(k, n, random), k, n, caseOptions(c, k, random));
    const ours = packQuantized(quantized);
    const reference = referencePack(quantized);
    expect(firstDifference(ours.packedWeights, reference.packedWeights)).toBe(-1);
    expect(firstDifference(ours.packedScales, reference.packedScales)).toBe(-1);
    if (c.zeroPoints) expect(firstDifference(ours.packedZeros!, reference.packedZeros!)).toBe(-1);
    else expect(ours.packedZeros).toBeUndefined();
    expect(ours.rows).toEqual(reference.rows);
    expect(ours).toMatchObject({ inFeatures: k, outFeatures: n, groupSize: c.groupSize, bits: c.bits, dtype: c.dtype });
  });

  test('a q or zero point that does not fit the width is BAD_ARGUMENT naming its index', () => {
    const quantized = quantize(caseWeights(128, 64, random), 128, 64, { zeroPoints: true });
    quantized.q[70] = 16;
    expect(() => packQuantized(quantized)).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT', message: expect.stringContaining('q[70]') }));
    quantized.q[70] = 15;
    quantized.zeros![9] = 200;
    expect(() => packQuantized(quantized)).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT', message: expect.stringContaining('zeros[9]') }));
  });
});
