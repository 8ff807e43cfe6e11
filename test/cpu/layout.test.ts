import { packScales, packWeights, unpackScales, unpackWeights } from '../../lib/layout';
import { scalePosition, weightPosition } from '../../lib/testing';
import { MarlinError } from '../../lib/errors';
import { publishedPackScales, publishedPackWeights } from '../helpers/published-format';
import { firstDifference } from '../helpers/compare';
import { SEED, nibbles, rng } from '../helpers/random';

const random = rng(SEED);

function randomHalves(length: number): Uint16Array {
  const out = new Uint16Array(length);
  for (let i = 0; i < length; i++) out[i] = (random() * 0x7c00) | 0;
  return out;
}

describe(`Marlin weight layout (seed ${SEED})`, () => {
  test.each([
    [16, 64],
    [128, 192],
    [256, 512],
    [1024, 320],
  ])('unpack(pack(q)) is the identity for k=%i, n=%i', (k, n) => {
    const q = nibbles(k * n, random);
    expect(firstDifference(unpackWeights(packWeights(q, k, n), k, n), q)).toBe(-1);
  });

  test.each([
    [16, 64],
    [128, 256],
    [384, 192],
  ])('matches the published packing bit for bit for k=%i, n=%i', (k, n) => {
    const q = nibbles(k * n, random);
    expect(firstDifference(packWeights(q, k, n), publishedPackWeights(q, k, n))).toBe(-1);
  });

  test('places 4-bit elements where the mma fragments expect them (hand-computed)', () => {
    // lane = 4 * (col % 8) + (row % 8) / 2, word = lane * 4 + n16 block,
    // nibble = 4 * (row odd) + 2 * (col % 16 >= 8) + (row % 16 >= 8); shift = 4 * nibble
    expect(weightPosition(0, 0, 64)).toEqual({ word: 0, shift: 0 });
    expect(weightPosition(1, 0, 64)).toEqual({ word: 0, shift: 16 });
    expect(weightPosition(8, 0, 64)).toEqual({ word: 0, shift: 4 });
    expect(weightPosition(9, 8, 64)).toEqual({ word: 0, shift: 28 });
    expect(weightPosition(0, 8, 64)).toEqual({ word: 0, shift: 8 });
    expect(weightPosition(2, 0, 64)).toEqual({ word: 4, shift: 0 }); // lane 1
    expect(weightPosition(0, 1, 64)).toEqual({ word: 16, shift: 0 }); // lane 4
    expect(weightPosition(0, 16, 64)).toEqual({ word: 1, shift: 0 }); // n16 block 1
    expect(weightPosition(7, 7, 64)).toEqual({ word: 4 * 31, shift: 16 }); // lane 31
    expect(weightPosition(0, 64, 128)).toEqual({ word: 128, shift: 0 }); // next 64 columns
    expect(weightPosition(16, 0, 128)).toEqual({ word: 256, shift: 0 }); // next k16 row: 2n words
    expect(weightPosition(31, 127, 128)).toEqual({ word: 256 + 128 + 4 * 31 + 3, shift: 28 });
  });

  test('writes each value into its nibble of a little-endian word', () => {
    const q = new Uint8Array(16 * 64);
    q[1 * 64 + 0] = 0xa; // row 1, col 0 -> word 0, nibble 4
    q[8 * 64 + 8] = 0x3; // row 8, col 8 -> word 0, nibble 3
    const packed = packWeights(q, 16, 64);
    expect(packed[0] >>> 0).toBe(0x000a3000);
    expect(packed.slice(1).every((w) => w === 0)).toBe(true);
  });

  test('rejects shapes the layout cannot hold', () => {
    expect(() => packWeights(new Uint8Array(8 * 64), 8, 64)).toThrow(expect.objectContaining({ code: 'BAD_SHAPE' }));
    expect(() => packWeights(new Uint8Array(16 * 96), 16, 96)).toThrow(expect.objectContaining({ code: 'BAD_SHAPE' }));
    expect(() => packWeights(new Uint8Array(10), 16, 64)).toThrow(MarlinError);
    expect(() => unpackWeights(new Int32Array(3), 16, 64)).toThrow(expect.objectContaining({ code: 'BAD_SHAPE' }));
  });

  test('rejects values outside 0..15', () => {
    const q = new Uint8Array(16 * 64);
    q[5] = 16;
    expect(() => packWeights(q, 16, 64)).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
  });
});

describe(`Marlin scale order (seed ${SEED})`, () => {
  test.each([128, -1] as const)('unpack(pack(s)) is the identity, group %i', (groupSize) => {
    const k = 512;
    const n = 320;
    const rows = groupSize === -1 ? 1 : k / groupSize;
    const s = randomHalves(rows * n);
    expect(firstDifference(unpackScales(packScales(s, k, n, groupSize), k, n, groupSize), s)).toBe(-1);
  });

  test.each([128, -1] as const)('matches the published order, group %i', (groupSize) => {
    const k = 256;
    const n = 192;
    const rows = groupSize === -1 ? 1 : k / groupSize;
    const s = randomHalves(rows * n);
    expect(packScales(s, k, n, groupSize)).toEqual(publishedPackScales(s, groupSize === -1));
  });

  test('grouped: int4 number g of 64 columns holds columns g, g+8, ..., g+56', () => {
    for (let g = 0; g < 8; g++) for (let j = 0; j < 8; j++) expect(scalePosition(g + 8 * j, 128)).toBe(8 * g + j);
    expect(scalePosition(64 + 9, 128)).toBe(64 + 8 * 1 + 1);
  });

  test('per-channel: int4 number t of 32 columns holds 2t, 2t+1, 2t+8, 2t+9, ..., 2t+25', () => {
    const offsets = [0, 1, 8, 9, 16, 17, 24, 25];
    for (let t = 0; t < 4; t++) offsets.forEach((o, j) => expect(scalePosition(2 * t + o, -1)).toBe(8 * t + j));
    expect(scalePosition(32 + 2, -1)).toBe(32 + 8);
  });

  test('rejects a scale count that does not match k, n and the group size', () => {
    expect(() => packScales(new Uint16Array(64), 256, 64, 128)).toThrow(expect.objectContaining({ code: 'BAD_SHAPE' }));
    expect(() => packScales(new Uint16Array(64), 256, 64, 64)).toThrow(expect.objectContaining({ code: 'BAD_SHAPE' }));
  });
});
