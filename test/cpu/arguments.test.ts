/**
 * Shapes and types are checked in TypeScript before any native call, so
 * these run (and must fail the same way) with or without a GPU.
 */
import { QuantizedLinear } from '../../lib/linear';
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
    [100, 64, /k \(input features\)/],
    [128, 96, /n \(output features\)/],
    [0, 64, /k/],
    [128, -64, /n/],
    [128.5, 64, /k/],
  ])('k=%p, n=%p is rejected with BAD_SHAPE', (k, n, what) => {
    expect(() => checkWeightShape(k, n)).toThrow(expect.objectContaining({ code: 'BAD_SHAPE', message: expect.stringMatching(what) }));
  });

  test('messages say what was expected and what was received', () => {
    expect(() => checkWeightShape(100, 64)).toThrow('Expected a positive multiple of 128 for k (input features) but received number 100');
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
    expect(() => QuantizedLinear.fromPacked({ ...good, groupSize: 64 as never })).toThrow(
      expect.objectContaining({ code: 'BAD_SHAPE' }),
    );
  });

  test('fromWeights rejects unsupported shapes before quantizing', () => {
    expect(() => QuantizedLinear.fromWeights(new Float32Array(100 * 64), 100, 64)).toThrow(
      expect.objectContaining({ code: 'BAD_SHAPE' }),
    );
  });
});
