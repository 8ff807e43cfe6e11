import { fromHalf, halfToNumber, roundToHalf, toHalf } from '../../lib/fp16';

describe('FP16 conversion', () => {
  test('encodes exact values to their IEEE bit patterns', () => {
    expect([...toHalf([0, 1, -2, 0.5, 65504, -0, 2 ** -24])]).toEqual([0x0000, 0x3c00, 0xc000, 0x3800, 0x7bff, 0x8000, 0x0001]);
  });

  test('rounds to nearest, ties to even', () => {
    // 1 + 2^-11 lies halfway between 1 and 1 + 2^-10: ties go to the even mantissa (1).
    expect(toHalf([1 + 2 ** -11])[0]).toBe(0x3c00);
    expect(toHalf([1 + 3 * 2 ** -11])[0]).toBe(0x3c02);
    expect(roundToHalf(0.1)).toBeCloseTo(0.0999755859375, 12);
  });

  test('overflows to infinity and keeps NaN', () => {
    expect(toHalf([70000])[0]).toBe(0x7c00);
    expect(Number.isNaN(halfToNumber(toHalf([NaN])[0]))).toBe(true);
  });

  test('decodes every finite bit pattern back to the same bits', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const values = fromHalf(all);
    const again = toHalf(values);
    for (let bits = 0; bits < 65536; bits++) {
      const exponent = (bits >> 10) & 0x1f;
      if (exponent === 0x1f) continue; // Inf / NaN
      expect(again[bits]).toBe(bits);
    }
  });
});
