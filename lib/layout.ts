/**
 * The Marlin layout (CPU): how packed weights, scales and zero points are
 * ordered so that every kernel load is one 16-byte vector and every value
 * lands where the tensor cores want it. For 4-bit symmetric weights this is
 * the published Marlin format: data packed by the reference Marlin tools
 * loads unchanged. csrc/kernels/packing.h holds the same mapping for the GPU.
 *
 * Weights. The [k, n] matrix of q values is cut into 16x16 blocks. A k16 row
 * of blocks becomes one row of n * bits / 2 int32 words. Lane l of an mma
 * (g = l / 4, t = l % 4) needs, from each block, rows 2t, 2t+1, 2t+8, 2t+9
 * of column g (first n8 half) and of column g + 8 (second half).
 *
 * 4 bits: per 64 columns 128 words = 32 lanes x 4 words, word j of lane l
 * holding block j; nibble i (bits 4i..4i+3) of a word is
 *   i:   0     1      2      3      4       5      6       7
 *   row  2t    2t+8   2t     2t+8   2t+1    2t+9   2t+1    2t+9
 *   col  g     g      g+8    g+8    g       g      g+8     g+8
 * 8 bits: per 64 columns 256 words = 2 parts (blocks 0-1, 2-3) x 32 lanes x
 * 4 words; word 2 * (j % 2) + h of lane l in part j / 2 holds half h of
 * block j, byte i being row [2t, 2t+8, 2t+1, 2t+9][i] of column g + 8h.
 *
 * Scales, grouped (one row per group): within each 64 columns, the 8x8
 * arrangement is transposed: packed position 8i + j holds column i + 8j.
 * Scales, per-channel (one row): within each 32 columns, packed position
 * 8i + j holds column 2i + [0, 1, 8, 9, 16, 17, 24, 25][j].
 *
 * Zero points (one row per group, n / 4 words): one byte each whatever the
 * weight width (the kernel turns a byte into its subtrahend with one byte
 * permute); per 64 columns, for each g = 0..7 the columns g, g+8, ..., g+56
 * (one mma lane's) in order: byte i % 4 of word 2g + i / 4 = column g + 8i.
 */
import { type GroupSize, type WeightBits, checkBits, checkGroupSize, scaleRows } from './shapes';
import { invalid } from './validate';

/** Word index and bit shift of element (row, col) of a [k, n] weight matrix. */
export function weightPosition(row: number, col: number, n: number, bits: WeightBits = 4): { word: number; shift: number } {
  const r = row & 15;
  const cc = col & 15;
  const j = (col >> 4) & 3;
  const h = cc >> 3;
  const lane = (cc & 7) * 4 + ((r & 7) >> 1);
  if (bits === 4)
    return { word: (row >> 4) * 2 * n + (col >> 6) * 128 + lane * 4 + j, shift: 4 * ((r & 1) * 4 + h * 2 + (r >> 3)) };
  return {
    word: (row >> 4) * 4 * n + (col >> 6) * 256 + (j >> 1) * 128 + lane * 4 + (j & 1) * 2 + h,
    shift: 8 * ((r & 1) * 2 + (r >> 3)),
  };
}

/** Packed position of scale column `col` within its row. */
export function scalePosition(col: number, groupSize: GroupSize): number {
  if (groupSize === -1) {
    const c = col & 31;
    return (col & ~31) + 8 * ((c & 7) >> 1) + 2 * (c >> 3) + (c & 1);
  }
  const c = col & 63;
  return (col & ~63) + 8 * (c & 7) + (c >> 3);
}

/** Word (within its row of n / 4) and bit shift of the zero point of column `col`. */
export function zeroPosition(col: number): { word: number; shift: number } {
  const i = (col & 63) >> 3;
  return { word: (col >> 6) * 16 + 2 * (col & 7) + (i >> 2), shift: 8 * (i & 3) };
}

function checkMatrix(k: number, n: number, length: number, what: string): void {
  if (!Number.isSafeInteger(k) || k <= 0 || k % 16 !== 0) throw invalid('BAD_SHAPE', 'k', 'a positive multiple of 16', k);
  if (!Number.isSafeInteger(n) || n <= 0 || n % 64 !== 0) throw invalid('BAD_SHAPE', 'n', 'a positive multiple of 64', n);
  if (length !== k * n) throw invalid('BAD_SHAPE', what, `${k * n} values (k=${k} x n=${n})`, length);
}

/**
 * Calls visit(index in [k, n], word, bit shift) for every element: the
 * mapping of weightPosition, without an object per element (layers have
 * tens of millions of weights).
 */
function forEachPosition(k: number, n: number, bits: WeightBits, visit: (i: number, word: number, shift: number) => void): void {
  for (let row = 0; row < k; row++) {
    const r = row & 15;
    const laneT = (r & 7) >> 1;
    if (bits === 4) {
      const rowWord = (row >> 4) * 2 * n;
      const shiftRow = 4 * ((r & 1) * 4 + (r >> 3));
      for (let col = 0, i = row * n; col < n; col++, i++) {
        const cc = col & 15;
        const word = rowWord + (col >> 6) * 128 + ((cc & 7) * 4 + laneT) * 4 + ((col >> 4) & 3);
        visit(i, word, shiftRow + 8 * (cc >> 3));
      }
    } else {
      const rowWord = (row >> 4) * 4 * n;
      const shift = 8 * ((r & 1) * 2 + (r >> 3));
      for (let col = 0, i = row * n; col < n; col++, i++) {
        const cc = col & 15;
        const j = (col >> 4) & 3;
        const word = rowWord + (col >> 6) * 256 + (j >> 1) * 128 + ((cc & 7) * 4 + laneT) * 4 + (j & 1) * 2 + (cc >> 3);
        visit(i, word, shift);
      }
    }
  }
}

/** Packs [k, n] q values (0..2^bits - 1, row-major) into the [k / 16, n * bits / 2] int32 Marlin layout. */
export function packWeights(q: Uint8Array, k: number, n: number, bits: WeightBits = 4): Int32Array {
  checkBits(bits);
  checkMatrix(k, n, q.length, 'q');
  const max = (1 << bits) - 1;
  const packed = new Int32Array((k * n * bits) / 32);
  forEachPosition(k, n, bits, (i, word, shift) => {
    const v = q[i];
    if (v > max) throw invalid('BAD_ARGUMENT', `q[${i}]`, `a value in 0..${max}`, v);
    packed[word] |= v << shift;
  });
  return packed;
}

/** Inverse of packWeights: [k, n] q values from the Marlin layout. */
export function unpackWeights(packed: Int32Array, k: number, n: number, bits: WeightBits = 4): Uint8Array {
  checkBits(bits);
  checkMatrix(k, n, (packed.length * 32) / bits, `packed weights (x${32 / bits} values)`);
  const mask = (1 << bits) - 1;
  const q = new Uint8Array(k * n);
  forEachPosition(k, n, bits, (i, word, shift) => {
    q[i] = (packed[word] >>> shift) & mask;
  });
  return q;
}

function checkRows(length: number, rows: number, n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n <= 0 || n % 64 !== 0) throw invalid('BAD_SHAPE', 'n', 'a positive multiple of 64', n);
  if (length !== rows * n) throw invalid('BAD_SHAPE', what, `${rows * n} values (${rows} x n=${n})`, length);
}

function checkScales(length: number, k: number, n: number, groupSize: GroupSize): number {
  checkGroupSize(groupSize);
  if (!Number.isSafeInteger(k) || k <= 0 || (groupSize !== -1 && k % groupSize !== 0))
    throw invalid('BAD_SHAPE', 'k', groupSize === -1 ? 'a positive integer' : `a positive multiple of ${groupSize}`, k);
  const rows = scaleRows(k, groupSize);
  checkRows(length, rows, n, 'scales');
  return rows;
}

/** Reorders [rows, n] 16-bit scales (natural order) into the Marlin order. */
export function packScales(scales: Uint16Array, k: number, n: number, groupSize: GroupSize): Uint16Array {
  const rows = checkScales(scales.length, k, n, groupSize);
  const out = new Uint16Array(scales.length);
  for (let r = 0; r < rows; r++)
    for (let col = 0; col < n; col++) out[r * n + scalePosition(col, groupSize)] = scales[r * n + col];
  return out;
}

/** Inverse of packScales. */
export function unpackScales(packed: Uint16Array, k: number, n: number, groupSize: GroupSize): Uint16Array {
  const rows = checkScales(packed.length, k, n, groupSize);
  const out = new Uint16Array(packed.length);
  for (let r = 0; r < rows; r++)
    for (let col = 0; col < n; col++) out[r * n + col] = packed[r * n + scalePosition(col, groupSize)];
  return out;
}

/** Packs [rows, n] zero points (0..2^bits - 1, natural order) into [rows, n / 4] int32 words. */
export function packZeros(zeros: Uint8Array, rows: number, n: number, bits: WeightBits): Int32Array {
  checkBits(bits);
  checkRows(zeros.length, rows, n, 'zeros');
  const max = (1 << bits) - 1;
  const wordsPerRow = n / 4;
  const out = new Int32Array(rows * wordsPerRow);
  for (let col = 0; col < n; col++) {
    const { word, shift } = zeroPosition(col);
    for (let r = 0; r < rows; r++) {
      const v = zeros[r * n + col];
      if (v > max) throw invalid('BAD_ARGUMENT', `zeros[${r * n + col}]`, `a value in 0..${max}`, v);
      out[r * wordsPerRow + word] |= v << shift;
    }
  }
  return out;
}

/** Inverse of packZeros. */
export function unpackZeros(packed: Int32Array, rows: number, n: number, bits: WeightBits): Uint8Array {
  checkBits(bits);
  checkRows(packed.length * 4, rows, n, 'packed zeros (x4 values)');
  const max = (1 << bits) - 1;
  const wordsPerRow = n / 4;
  const out = new Uint8Array(rows * n);
  for (let col = 0; col < n; col++) {
    const { word, shift } = zeroPosition(col);
    for (let r = 0; r < rows; r++) {
      const v = (packed[r * wordsPerRow + word] >>> shift) & 255;
      if (v > max) throw invalid('BAD_ARGUMENT', `packed zero point (row ${r}, column ${col})`, `a value in 0..${max}`, v);
      out[r * n + col] = v;
    }
  }
  return out;
}
