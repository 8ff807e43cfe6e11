/**
 * The GPTQ quantizer's host path (the GPU kernels' per-group code, run on
 * the CPU) against lib/rtn.ts: the same tensors, bit for bit, as
 * quantize() + the GPTQ writing of docs/formats.md, on random and
 * edge-case weights of every format; and the same errors.
 */
import { MarlinError } from '../../lib/errors';
import { fromHalves, toHalves } from '../../lib/fp16';
import { gptqQuantizeOnHost, gptqTensorShapes, gptqZeroWordOffset } from '../../lib/gptq-quantize';
import { quantize } from '../../lib/quantize';
import { firstDifference } from '../helpers/compare';
import { GPTQ_CASES, expectedGptq, gptqBytes, gptqCaseName, gptqCaseWeights } from '../helpers/gptq-cases';
import { SEED, rng } from '../helpers/random';

const random = rng(SEED + 707);

/** The error quantize() throws for the same weights, or undefined. */
function cpuError(weights: Uint16Array, n: number, k: number, dtype: 'float16' | 'bfloat16', scaleDtype: 'float16' | 'bfloat16'): unknown {
  try {
    quantize(fromHalves(weights, dtype), k, n, { layout: 'out-in', dtype: scaleDtype });
  } catch (error) {
    return error;
  }
  return undefined;
}

describe(`gptqQuantizeOnHost against quantize() (seed ${SEED})`, () => {
  test.each(GPTQ_CASES.map((c) => [gptqCaseName(c), c] as const))('%s', (_name, c) => {
    const n = 64;
    const k = 512;
    const w = gptqCaseWeights(n, k, c.bits, c.groupSize, c.inputDtype, random);
    const ours = gptqBytes(gptqQuantizeOnHost(w, k, n, c));
    const expected = expectedGptq(w, n, k, c);
    for (const name of ['scales', 'qzeros', 'qweight', 'g_idx'] as const) expect([name, firstDifference(ours[name], expected[name])]).toEqual([name, -1]);
  });

  test('shapes are those of a GPTQ checkpoint', () => {
    const t = gptqQuantizeOnHost(new Uint16Array(64 * 256), 256, 64, { bits: 8, groupSize: 64 });
    const shapes = gptqTensorShapes(256, 64, 8, 64);
    expect(shapes).toEqual({ qweight: [64, 64], qzeros: [4, 16], scales: [4, 64], g_idx: [256] });
    expect([t.qweight.length, t.qzeros.length, t.scales.length, t.gIdx.length]).toEqual([64 * 64, 4 * 16, 4 * 64, 256]);
    expect([t.outFeatures, t.inFeatures]).toEqual([64, 256]);
    expect(t).not.toHaveProperty('n');
    expect(t).not.toHaveProperty('k');
  });

  test('argument errors name outFeatures and inFeatures, as the rest of the API does', () => {
    const refused = (w: Uint16Array, outFeatures: number, inFeatures: number, options = {}) => {
      try {
        gptqQuantizeOnHost(w, inFeatures, outFeatures, options);
      } catch (error) {
        return (error as MarlinError).message;
      }
      return undefined;
    };
    expect(refused(new Uint16Array(128), 0, 128)).toBe('Expected a positive integer for outFeatures (rows of the [out, in] weights) but received number 0');
    expect(refused(new Uint16Array(128), 8, 1.5)).toBe('Expected a positive integer for inFeatures (columns of the [out, in] weights) but received number 1.5');
    expect(refused(new Uint16Array(8 * 192), 8, 192)).toBe('Cannot write GPTQ tensors: inFeatures 192 is not a multiple of the group size 128');
    expect(refused(new Uint16Array(12 * 128), 12, 128)).toBe('Cannot write GPTQ tensors: outFeatures 12 does not fill whole 4-bit qzeros words (8 columns each)');
    expect(refused(new Uint16Array(8 * 100), 8, 100, { groupSize: -1 })).toBe('Cannot write GPTQ tensors: inFeatures 100 does not fill whole 4-bit qweight words (8 rows each)');
    expect(refused(new Uint16Array(10), 8, 128)).toMatch(/^Expected 1024 values \(\[outFeatures 8, inFeatures 128\]\) for weights but received /);
    expect(refused(new Float32Array(8 * 128) as unknown as Uint16Array, 8, 128)).toMatch(/\(\[outFeatures, inFeatures\], as checkpoints store a linear weight\)/);
    for (const message of [refused(new Uint16Array(128), 0, 128), refused(new Uint16Array(8 * 192), 8, 192), refused(new Uint16Array(10), 8, 128)])
      expect(message).not.toMatch(/\b[nk]\b|[nk]=/);
  });

  test('v1 zero words are the v2 words minus one per field (what lib/checkpoint/gptq.ts adds back); v2 words as they are', () => {
    const w = gptqCaseWeights(32, 128, 4, 128, 'float16', random);
    const v1 = gptqQuantizeOnHost(w, 128, 32, { zeroPoints: true });
    const v2 = gptqQuantizeOnHost(w, 128, 32, { zeroPoints: true, zeroConvention: 'v2' });
    expect(gptqZeroWordOffset(4, 'v1')).toBe(0x11111111);
    expect(gptqZeroWordOffset(8, 'v1')).toBe(0x01010101);
    expect(Array.from(v1.qzeros, (word) => (word + 0x11111111) | 0)).toEqual(Array.from(v2.qzeros));
    // Symmetric: every field of a v1 word holds 8 - 1.
    expect(new Set(gptqQuantizeOnHost(w, 128, 32, {}).qzeros)).toEqual(new Set([0x77777777]));
  });

  test.each([
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['-Infinity', -Infinity],
  ])('a weight that is %s throws the MarlinError quantize() throws', (_name, bad) => {
    const n = 16;
    const k = 256;
    for (const dtype of ['float16', 'bfloat16'] as const) {
      const w = gptqCaseWeights(n, k, 4, 128, dtype, random);
      w[5 * k + 200] = toHalves([bad], dtype)[0]; // output 5, input 200
      w[9 * k + 3] = toHalves([bad], dtype)[0]; // a later one in [n, k] order, but earlier in [k, n] order
      const expected = cpuError(w, n, k, dtype, 'float16');
      expect(expected).toBeInstanceOf(MarlinError);
      expect((expected as Error).message).toContain('input 3');
      expect(() => gptqQuantizeOnHost(w, k, n, { inputDtype: dtype })).toThrow(expect.objectContaining({ code: (expected as MarlinError).code, message: (expected as Error).message }));
    }
  });

  test('a scale FP16 cannot hold (BF16 weights past 65504 x 7.5) throws the MarlinError quantize() throws', () => {
    const n = 16;
    const k = 256;
    const w = gptqCaseWeights(n, k, 4, 128, 'bfloat16', random);
    w[7 * k + 130] = toHalves([1e6], 'bfloat16')[0];
    w[3 * k + 250] = toHalves([-3e38], 'bfloat16')[0];
    const expected = cpuError(w, n, k, 'bfloat16', 'float16') as MarlinError;
    expect(expected).toBeInstanceOf(MarlinError);
    expect(expected.message).toContain('group 1, column 3');
    expect(() => gptqQuantizeOnHost(w, k, n, { inputDtype: 'bfloat16' })).toThrow(expect.objectContaining({ code: expected.code, message: expected.message }));
    // BF16 scales hold it.
    expect(() => gptqQuantizeOnHost(w, k, n, { inputDtype: 'bfloat16', scaleDtype: 'bfloat16' })).not.toThrow();
  });

  test('shapes that do not make whole words or groups are BAD_SHAPE before any work', () => {
    expect(() => gptqQuantizeOnHost(new Uint16Array(8 * 192), 192, 8, {})).toThrow(expect.objectContaining({ code: 'BAD_SHAPE', message: expect.stringContaining('group size 128') }));
    expect(() => gptqQuantizeOnHost(new Uint16Array(12 * 128), 128, 12, {})).toThrow(expect.objectContaining({ code: 'BAD_SHAPE', message: expect.stringContaining('qzeros') }));
    expect(() => gptqQuantizeOnHost(new Uint16Array(8 * 100), 100, 8, { groupSize: -1 })).toThrow(expect.objectContaining({ code: 'BAD_SHAPE', message: expect.stringContaining('qweight') }));
    expect(() => gptqQuantizeOnHost(new Uint16Array(10), 128, 8, {})).toThrow(expect.objectContaining({ code: 'BAD_SHAPE' }));
    expect(() => gptqQuantizeOnHost(new Float32Array(8 * 128) as unknown as Uint16Array, 128, 8, {})).toThrow(expect.objectContaining({ code: 'BAD_DTYPE' }));
  });
});
