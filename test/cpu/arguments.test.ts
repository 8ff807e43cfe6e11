/**
 * Shapes and types are checked in TypeScript before any native call, so
 * these run (and must fail the same way) with or without a GPU.
 */
import { Device } from '../../lib/device';
import { type PackedLayer, QuantizedLinear } from '../../lib/linear';
import type { QuantizedWeights } from '../../lib/quantize';
import { checkWeightShape } from '../../lib/shapes';

const layer = (k: number, n: number, groupSize: 128 | -1 = 128) => ({
  packedWeights: new Int32Array((k * n) / 8),
  packedScales: new Uint16Array((groupSize === -1 ? 1 : k / 128) * n),
  inFeatures: k,
  outFeatures: n,
  groupSize,
});

describe('argument checks', () => {
  test.each([
    [100, 64, /for inFeatures /],
    [128, 96, /for outFeatures /],
    [0, 64, /for inFeatures /],
    [128, -64, /for outFeatures /],
    [128.5, 64, /for inFeatures /],
  ])('inFeatures %p, outFeatures %p is rejected with BAD_SHAPE', (k, n, what) => {
    expect(() => checkWeightShape(k, n)).toThrow(expect.objectContaining({ code: 'BAD_SHAPE', message: expect.stringMatching(what) }));
  });

  test('messages say what was expected and what was received', () => {
    expect(() => checkWeightShape(100, 64)).toThrow('Expected a positive multiple of 128 for inFeatures but received number 100');
  });

  test('fromPacked rejects a wrong word count, a wrong scale count and wrong element types', () => {
    const good = layer(256, 128);
    expect(() => QuantizedLinear.fromPacked({ ...good, packedWeights: new Int32Array(7) })).toThrow(
      expect.objectContaining({ code: 'BAD_SHAPE' }),
    );
    expect(() => QuantizedLinear.fromPacked({ ...good, packedScales: new Uint16Array(3) })).toThrow(
      expect.objectContaining({ code: 'BAD_SHAPE' }),
    );
    expect(() => QuantizedLinear.fromPacked({ ...good, packedWeights: new Uint32Array(4096) as never })).toThrow(
      expect.objectContaining({ code: 'BAD_DTYPE' }),
    );
    expect(() => QuantizedLinear.fromPacked({ ...good, packedScales: new Float32Array(256) as never })).toThrow(
      expect.objectContaining({ code: 'BAD_DTYPE' }),
    );
    expect(() => QuantizedLinear.fromPacked({ ...good, groupSize: 64 })).toThrow(
      expect.objectContaining({ code: 'BAD_SHAPE' }),
    );
  });

  test('fromWeights rejects unsupported shapes before quantizing', () => {
    expect(() => QuantizedLinear.fromWeights(new Float32Array(100 * 64), 100, 64)).toThrow(
      expect.objectContaining({ code: 'BAD_SHAPE' }),
    );
  });
});

describe('layer argument checks come before any device use', () => {
  const k = 256;
  const n = 128;
  let deviceGet: jest.SpyInstance;

  beforeEach(() => {
    // A check that ran only after Device.get() would report 'device used' (or NO_GPU) instead of its code.
    deviceGet = jest.spyOn(Device, 'get').mockImplementation(() => {
      throw new Error('device used');
    });
  });
  afterEach(() => {
    const calls = deviceGet.mock.calls.length;
    deviceGet.mockRestore();
    expect(calls).toBe(0);
  });

  const quantized = (over: Partial<QuantizedWeights> = {}): QuantizedWeights => ({
    q: new Uint8Array(k * n).fill(3),
    scales: new Uint16Array((k / 128) * n).fill(0x3c00),
    inFeatures: k,
    outFeatures: n,
    groupSize: 128,
    ...over,
  });
  const rejects = (fn: () => unknown, code: string, message?: RegExp) =>
    expect(fn).toThrow(expect.objectContaining({ code, ...(message ? { message: expect.stringMatching(message) } : {}) }));

  test('the spy sees a valid layer reach the device (so the checks below are meaningful)', () => {
    expect(() => QuantizedLinear.fromQuantized(quantized())).toThrow('device used');
    expect(deviceGet).toHaveBeenCalledTimes(1);
    deviceGet.mockClear();
  });

  test('fromQuantized: zero points of the wrong length or type', () => {
    rejects(() => QuantizedLinear.fromQuantized(quantized({ zeros: new Uint8Array(n) })), 'BAD_SHAPE', /zeros/);
    rejects(() => QuantizedLinear.fromQuantized(quantized({ zeros: new Uint8Array(3 * n) })), 'BAD_SHAPE', /zeros/);
    rejects(() => QuantizedLinear.fromQuantized(quantized({ zeros: new Uint16Array(2 * n) as never })), 'BAD_DTYPE', /zeros/);
    const big = new Uint8Array(2 * n);
    big[5] = 16; // not a 4-bit value
    rejects(() => QuantizedLinear.fromQuantized(quantized({ zeros: big })), 'BAD_ARGUMENT', /zeros\[5\]/);
  });

  test('fromQuantized: gIdx of the wrong length, negative, out of the scales\' range, or with per-channel scales', () => {
    const gIdx = Int32Array.from({ length: k }, (_, r) => (r * 5) % 2); // act-order: two interleaved groups
    rejects(() => QuantizedLinear.fromQuantized(quantized({ gIdx: gIdx.subarray(1) })), 'BAD_SHAPE', /gIdx/);
    const negative = gIdx.slice();
    negative[3] = -1;
    rejects(() => QuantizedLinear.fromQuantized(quantized({ gIdx: negative })), 'BAD_ARGUMENT', /gIdx\[3\]/);
    // group 2 of scales that hold groups 0 and 1
    const outside = gIdx.slice();
    outside[7] = 2;
    rejects(() => QuantizedLinear.fromQuantized(quantized({ gIdx: outside })), 'BAD_ARGUMENT', /below 2.*gIdx\[7\]/);
    rejects(() => QuantizedLinear.fromQuantized(quantized({ gIdx: Array.from(gIdx) as never })), 'BAD_DTYPE', /gIdx/);
    // act-order needs kernel groups: not per-channel; and n must still fit the layout
    const oneGroup = Int32Array.from({ length: k }, (_, r) => r % 2);
    rejects(
      () => QuantizedLinear.fromQuantized(quantized({ groupSize: -1, gIdx: oneGroup, scales: new Uint16Array(2 * n) })),
      'BAD_ARGUMENT',
      /groupSize/,
    );
    rejects(
      () => QuantizedLinear.fromQuantized({ ...quantized({ gIdx }), outFeatures: 96, q: new Uint8Array(k * 96), scales: new Uint16Array(2 * 96) }),
      'BAD_SHAPE',
      /for outFeatures /,
    );
  });

  test('fromQuantized: dimensions under their 0.1.0 names, k and n, are refused with the new names', () => {
    const { inFeatures, outFeatures, ...rest } = quantized();
    const old = { ...rest, k: inFeatures, n: outFeatures } as never;
    rejects(() => QuantizedLinear.fromQuantized(old), 'BAD_ARGUMENT', /^quantized\.k and quantized\.n are now called quantized\.inFeatures and quantized\.outFeatures$/);
  });

  test('fromQuantized: unsupported bits and dtypes', () => {
    rejects(() => QuantizedLinear.fromQuantized(quantized({ bits: 3 as never })), 'BAD_ARGUMENT', /bits/);
    rejects(() => QuantizedLinear.fromQuantized(quantized({ dtype: 'float32' as never })), 'BAD_DTYPE', /dtype/);
    rejects(() => QuantizedLinear.fromQuantized(quantized({ groupSize: 16 as never })), 'BAD_SHAPE', /groupSize/);
  });

  const packed = (over: Partial<PackedLayer> = {}): PackedLayer => ({
    packedWeights: new Int32Array((k * n) / 8),
    packedScales: new Uint16Array((k / 128) * n),
    inFeatures: k,
    outFeatures: n,
    groupSize: 128,
    ...over,
  });

  test('fromPacked: zero points of the wrong length or type', () => {
    // A byte per zero point whatever the weight width: 2 groups x n bytes = n / 2 words.
    rejects(() => QuantizedLinear.fromPacked(packed({ packedZeros: new Int32Array(n / 2 - 1) })), 'BAD_SHAPE', /packedZeros/);
    rejects(() => QuantizedLinear.fromPacked(packed({ packedZeros: new Int32Array((2 * n * 4) / 32) })), 'BAD_SHAPE', /packedZeros/); // nibbles: too few
    rejects(() => QuantizedLinear.fromPacked(packed({ packedZeros: new Uint8Array(2 * n) as never })), 'BAD_DTYPE', /packedZeros/);
    rejects(
      () => QuantizedLinear.fromPacked(packed({ bits: 8, packedWeights: new Int32Array((k * n) / 4), packedZeros: new Int32Array(n / 2 + 1) })),
      'BAD_SHAPE',
      /packedZeros/,
    );
  });

  test('fromPacked: act-order rows out of range or of a length the kernel cannot run', () => {
    const rows = Int32Array.from({ length: k }, (_, r) => k - 1 - r);
    const tooFar = rows.slice();
    tooFar[10] = k;
    rejects(() => QuantizedLinear.fromPacked(packed({ rows: tooFar })), 'BAD_ARGUMENT', /rows\[10\]/);
    const belowPadding = rows.slice();
    belowPadding[11] = -2;
    rejects(() => QuantizedLinear.fromPacked(packed({ rows: belowPadding })), 'BAD_ARGUMENT', /rows\[11\]/);
    rejects(() => QuantizedLinear.fromPacked(packed({ rows: rows.subarray(0, 200) })), 'BAD_SHAPE');
    rejects(() => QuantizedLinear.fromPacked(packed({ rows: Array.from(rows) as never })), 'BAD_DTYPE', /rows/);
    // more input rows than kernel rows: the native layer refuses it (inputK <= k), so TS must first
    rejects(() => QuantizedLinear.fromPacked(packed({ rows, inFeatures: k + 44 })), 'BAD_SHAPE', /for inFeatures /);
  });

  test('fromPacked: unsupported bits and dtypes, and a word count for the other width', () => {
    rejects(() => QuantizedLinear.fromPacked(packed({ bits: 3 as never })), 'BAD_ARGUMENT', /bits/);
    rejects(() => QuantizedLinear.fromPacked(packed({ dtype: 'float32' as never })), 'BAD_DTYPE', /dtype/);
    rejects(() => QuantizedLinear.fromPacked(packed({ bits: 8 })), 'BAD_SHAPE', /packedWeights/); // 4-bit word count
  });
});
