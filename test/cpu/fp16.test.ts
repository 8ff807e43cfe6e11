import { fromBfloat16, fromHalf, fromHalves, halfToNumber, roundToHalf, toBfloat16, toHalf, toHalves } from '../../lib/fp16';

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

describe('BF16 conversion', () => {
  test('every BF16 bit pattern but NaN survives fromBfloat16 then toBfloat16 unchanged', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const again = toBfloat16(fromBfloat16(all));
    const changed: string[] = [];
    for (let bits = 0; bits < 65536; bits++) {
      const nan = (bits & 0x7f80) === 0x7f80 && (bits & 0x007f) !== 0;
      if (!nan && again[bits] !== bits) changed.push(`0x${bits.toString(16)} -> 0x${again[bits].toString(16)}`);
    }
    expect(changed.slice(0, 5)).toEqual([]);
  });

  test('decodes to the top half of an FP32 (exact values)', () => {
    expect([...fromBfloat16(Uint16Array.from([0x3f80, 0xc000, 0x3f00, 0x4300, 0x7f7f, 0x0001]))]).toEqual([
      1,
      -2,
      0.5,
      128,
      (2 - 2 ** -7) * 2 ** 127,
      2 ** -133,
    ]);
  });

  test('rounds to nearest, ties to even', () => {
    // BF16 has 8 significant bits: around 1 the step is 2^-7.
    expect(toBfloat16([1 + 2 ** -8])[0]).toBe(0x3f80); // tie between 1 (even) and 1 + 2^-7: down
    expect(toBfloat16([1 + 3 * 2 ** -8])[0]).toBe(0x3f82); // tie between 1 + 2^-7 and 1 + 2^-6 (even): up
    expect(toBfloat16([1 + 2 ** -8 + 2 ** -16])[0]).toBe(0x3f81); // just above the tie: up
    expect(toBfloat16([1 + 2 ** -8 - 2 ** -16])[0]).toBe(0x3f80); // just below: down
    expect(toBfloat16([-(1 + 2 ** -8)])[0]).toBe(0xbf80); // sign-magnitude: the same for negatives
    expect(toBfloat16([-(1 + 3 * 2 ** -8)])[0]).toBe(0xbf82);
    expect(toBfloat16([(2 - 2 ** -8) * 2 ** 127])[0]).toBe(0x7f80); // halfway to the next binade: even = infinity
    expect(toBfloat16([3.4028234663852886e38])[0]).toBe(0x7f80); // FP32's largest: above BF16's, rounds to infinity
    expect(toBfloat16([2 ** -134])[0]).toBe(0x0000); // half the smallest subnormal: tie to even (zero)
    expect(toBfloat16([3 * 2 ** -134])[0]).toBe(0x0002); // 1.5 x the smallest subnormal: tie to even (2)
  });

  test('keeps infinities and NaN, and the sign of zero', () => {
    expect([...toBfloat16([Infinity, -Infinity])]).toEqual([0x7f80, 0xff80]);
    const nan = toBfloat16([NaN])[0];
    expect((nan & 0x7f80) === 0x7f80 && (nan & 0x7f) !== 0).toBe(true); // a NaN, not an infinity
    expect(Number.isNaN(fromBfloat16(Uint16Array.of(nan))[0])).toBe(true);
    expect(Number.isNaN(fromBfloat16(Uint16Array.of(0x7f81))[0])).toBe(true); // any NaN pattern decodes to NaN
    expect(fromBfloat16(Uint16Array.of(0x7f80))[0]).toBe(Infinity);
    expect(fromBfloat16(Uint16Array.of(0xff80))[0]).toBe(-Infinity);
    expect([...toBfloat16([0, -0])]).toEqual([0x0000, 0x8000]);
    expect(Object.is(fromBfloat16(Uint16Array.of(0x8000))[0], -0)).toBe(true);
    expect(Object.is(fromBfloat16(Uint16Array.of(0x0000))[0], 0)).toBe(true);
    expect(toBfloat16([-(2 ** -140)])[0]).toBe(0x8000); // underflows to negative zero
  });

  test('toHalves / fromHalves dispatch on the dtype', () => {
    const values = [1.5, -0.09375, 3];
    expect([...toHalves(values, 'float16')]).toEqual([...toHalf(values)]);
    expect([...toHalves(values, 'bfloat16')]).toEqual([...toBfloat16(values)]);
    expect([...fromHalves(toHalves(values, 'float16'), 'float16')]).toEqual(values);
    expect([...fromHalves(toHalves(values, 'bfloat16'), 'bfloat16')]).toEqual(values);
  });
});
