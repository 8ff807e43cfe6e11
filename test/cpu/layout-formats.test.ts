/**
 * The Marlin layout for every weight width and for zero points, checked bit
 * for bit against an independent construction (test/helpers/independent-
 * format.ts: word after word, as the mma lanes consume them), plus
 * hand-computed positions, round trips and the packers' argument checks.
 */
import { packWeights, packZeros, unpackWeights, unpackZeros } from '../../lib/layout';
import { weightPosition, zeroPosition } from '../../lib/testing';
import { firstDifference } from '../helpers/compare';
import { independentPackWeights, independentPackZeros } from '../helpers/independent-format';
import { SEED, rng } from '../helpers/random';

const random = rng(SEED + 60);

/** Random values of `bits` bits (every value reachable, including 0 and the maximum). */
function randomValues(length: number, bits: 4 | 8): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(random() * (1 << bits));
  return out;
}

const code = (c: string) => expect.objectContaining({ code: c });

const WEIGHT_SHAPES: Array<[number, number]> = [
  [16, 64],
  [48, 128],
  [128, 192],
  [384, 320],
];

describe(`weight packing, 4 and 8 bits (seed ${SEED})`, () => {
  for (const bits of [4, 8] as const) {
    test.each(WEIGHT_SHAPES)(`${bits}-bit: packWeights matches the lane-by-lane construction for k=%i, n=%i`, (k, n) => {
      const q = randomValues(k * n, bits);
      const ours = packWeights(q, k, n, bits);
      expect(ours.length).toBe((k * n * bits) / 32);
      expect(firstDifference(ours, independentPackWeights(q, k, n, bits))).toBe(-1);
    });

    test.each(WEIGHT_SHAPES)(`${bits}-bit: unpack(pack(q)) is the identity for k=%i, n=%i`, (k, n) => {
      const q = randomValues(k * n, bits);
      expect(firstDifference(unpackWeights(packWeights(q, k, n, bits), k, n, bits), q)).toBe(-1);
    });
  }

  test('each 8-bit value lands in exactly one byte of its own (a one-hot q sets one byte)', () => {
    const k = 32;
    const n = 128;
    for (const [row, col] of [
      [0, 0],
      [9, 8],
      [17, 100],
      [31, 127],
    ]) {
      const q = new Uint8Array(k * n);
      q[row * n + col] = 0xa5;
      const packed = packWeights(q, k, n, 8);
      const { word, shift } = weightPosition(row, col, n, 8);
      const nonzero = [...packed.keys()].filter((i) => packed[i] !== 0);
      expect(nonzero).toEqual([word]);
      expect(packed[word] >>> 0).toBe((0xa5 << shift) >>> 0);
    }
  });

  test('8-bit positions, hand-computed from the fragment description', () => {
    // Per 64 columns: part (block / 2) x 128 words, lane (4 * (col % 8) + (row % 8) / 2) x 4 words,
    // word 2 * (block % 2) + half; byte [row 2t, 2t+8, 2t+1, 2t+9] -> shift 0, 8, 16, 24.
    expect(weightPosition(0, 0, 64, 8)).toEqual({ word: 0, shift: 0 });
    expect(weightPosition(8, 0, 64, 8)).toEqual({ word: 0, shift: 8 }); // row 2t+8
    expect(weightPosition(1, 0, 64, 8)).toEqual({ word: 0, shift: 16 }); // row 2t+1
    expect(weightPosition(9, 0, 64, 8)).toEqual({ word: 0, shift: 24 }); // row 2t+9
    expect(weightPosition(0, 8, 64, 8)).toEqual({ word: 1, shift: 0 }); // second n8 half
    expect(weightPosition(0, 16, 64, 8)).toEqual({ word: 2, shift: 0 }); // block 1
    expect(weightPosition(0, 24, 64, 8)).toEqual({ word: 3, shift: 0 }); // block 1, second half
    expect(weightPosition(0, 32, 64, 8)).toEqual({ word: 128, shift: 0 }); // block 2: part 1
    expect(weightPosition(0, 56, 64, 8)).toEqual({ word: 131, shift: 0 }); // block 3, second half
    expect(weightPosition(2, 0, 64, 8)).toEqual({ word: 4, shift: 0 }); // lane 1
    expect(weightPosition(0, 1, 64, 8)).toEqual({ word: 16, shift: 0 }); // lane 4
    expect(weightPosition(7, 7, 64, 8)).toEqual({ word: 4 * 31, shift: 16 }); // lane 31, row 2t+1
    expect(weightPosition(0, 64, 128, 8)).toEqual({ word: 256, shift: 0 }); // next 64 columns
    expect(weightPosition(16, 0, 128, 8)).toEqual({ word: 512, shift: 0 }); // next k16 row: 4n words
    // last element of a [32, 128] matrix: the last word, top byte
    expect(weightPosition(31, 127, 128, 8)).toEqual({ word: 512 + 256 + 128 + 4 * 31 + 3, shift: 24 });
  });
});

describe(`zero-point packing, 4 and 8 bits (seed ${SEED})`, () => {
  const ZERO_SHAPES: Array<[number, number]> = [
    [1, 64],
    [3, 192],
    [5, 320],
    [12, 128],
  ];
  for (const bits of [4, 8] as const) {
    test.each(ZERO_SHAPES)(`${bits}-bit: packZeros matches the lane-by-lane construction for rows=%i, n=%i`, (rows, n) => {
      const z = randomValues(rows * n, bits);
      const ours = packZeros(z, rows, n, bits);
      expect(ours.length).toBe((rows * n) / 4); // a byte per zero point, whatever the weight width
      expect(firstDifference(ours, independentPackZeros(z, rows, n))).toBe(-1);
    });

    test.each(ZERO_SHAPES)(`${bits}-bit: unpack(pack(zeros)) is the identity for rows=%i, n=%i`, (rows, n) => {
      const z = randomValues(rows * n, bits);
      expect(firstDifference(unpackZeros(packZeros(z, rows, n, bits), rows, n, bits), z)).toBe(-1);
    });
  }

  test('positions: words 2g, 2g+1 of each 64 columns, byte i % 4 of word 2g + i / 4 = column g + 8i', () => {
    expect(zeroPosition(0)).toEqual({ word: 0, shift: 0 });
    expect(zeroPosition(8)).toEqual({ word: 0, shift: 8 });
    expect(zeroPosition(24)).toEqual({ word: 0, shift: 24 });
    expect(zeroPosition(32)).toEqual({ word: 1, shift: 0 });
    expect(zeroPosition(1)).toEqual({ word: 2, shift: 0 });
    expect(zeroPosition(63)).toEqual({ word: 15, shift: 24 });
    expect(zeroPosition(64)).toEqual({ word: 16, shift: 0 });
    expect(zeroPosition(64 + 33)).toEqual({ word: 19, shift: 0 });
  });

  test('packed words are little-endian fields: hand-built rows', () => {
    // 4-bit zero points take a byte each too: column g + 8i -> word 2g + i / 4, byte i % 4.
    const z4 = new Uint8Array(64);
    z4[0] = 0x1; // word 0, byte 0
    z4[8] = 0x2; // word 0, byte 1
    z4[56] = 0xf; // word 1, byte 3
    z4[3 + 8 * 2] = 0x7; // word 6, byte 2
    const p4 = packZeros(z4, 1, 64, 4);
    const expected4 = new Array<number>(16).fill(0);
    expected4[0] = 0x00000201;
    expected4[1] = 0x0f000000;
    expected4[6] = 0x00070000;
    expect([...p4].map((w) => w >>> 0)).toEqual(expected4);
    // 8 bits, one row of 64: column g + 8i -> word 2g + i / 4, byte i % 4.
    const z8 = new Uint8Array(64);
    z8[0] = 0x11; // word 0, byte 0
    z8[24] = 0xff; // word 0, byte 3
    z8[32] = 0x80; // word 1, byte 0
    z8[7 + 8 * 6] = 0x42; // word 15, byte 2
    const p8 = packZeros(z8, 1, 64, 8);
    const expected = new Array<number>(16).fill(0);
    expected[0] = 0xff000011;
    expected[1] = 0x00000080;
    expected[15] = 0x00420000;
    expect([...p8].map((w) => w >>> 0)).toEqual(expected);
  });
});

describe('packers reject what the layout cannot hold', () => {
  test('values out of range: 4-bit weights and zero points above 15', () => {
    const q = new Uint8Array(16 * 64);
    q[100] = 16;
    expect(() => packWeights(q, 16, 64, 4)).toThrow(code('BAD_ARGUMENT'));
    expect(() => packWeights(q, 16, 64, 4)).toThrow(/q\[100\]/);
    expect(() => packWeights(q, 16, 64, 8)).not.toThrow(); // 16 is a valid 8-bit value
    const z = new Uint8Array(2 * 64);
    z[70] = 200;
    expect(() => packZeros(z, 2, 64, 4)).toThrow(code('BAD_ARGUMENT'));
    expect(() => packZeros(z, 2, 64, 4)).toThrow(/zeros\[70\]/);
    expect(() => packZeros(z, 2, 64, 8)).not.toThrow();
  });

  test('bad shapes and widths', () => {
    for (const bits of [4, 8] as const) {
      expect(() => packWeights(new Uint8Array(8 * 64), 8, 64, bits)).toThrow(code('BAD_SHAPE')); // k not a multiple of 16
      expect(() => packWeights(new Uint8Array(16 * 96), 16, 96, bits)).toThrow(code('BAD_SHAPE')); // n not a multiple of 64
      expect(() => packWeights(new Uint8Array(16 * 64 - 1), 16, 64, bits)).toThrow(code('BAD_SHAPE')); // length
      expect(() => unpackWeights(new Int32Array((16 * 64 * bits) / 32 + 1), 16, 64, bits)).toThrow(code('BAD_SHAPE'));
      expect(() => packZeros(new Uint8Array(64), 2, 64, bits)).toThrow(code('BAD_SHAPE')); // 2 rows need 128
      expect(() => packZeros(new Uint8Array(32), 1, 32, bits)).toThrow(code('BAD_SHAPE')); // n not a multiple of 64
      expect(() => unpackZeros(new Int32Array((64 * bits) / 32 - 1), 1, 64, bits)).toThrow(code('BAD_SHAPE'));
    }
    // 8-bit weights take twice the words of 4-bit ones: a 4-bit buffer is the wrong size.
    expect(() => unpackWeights(new Int32Array((16 * 64 * 4) / 32), 16, 64, 8)).toThrow(code('BAD_SHAPE'));
    expect(() => packWeights(new Uint8Array(16 * 64), 16, 64, 3 as never)).toThrow(code('BAD_ARGUMENT'));
    expect(() => packZeros(new Uint8Array(64), 1, 64, 2 as never)).toThrow(code('BAD_ARGUMENT'));
    expect(() => unpackZeros(new Int32Array(8), 1, 64, 16 as never)).toThrow(code('BAD_ARGUMENT'));
  });
});
