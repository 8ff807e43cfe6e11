/**
 * The Marlin layout (CPU): how packed weights, scales and zero points are
 * ordered so that every kernel load is one 16-byte vector and every value
 * lands where the tensor cores want it. For 4-bit symmetric weights this is
 * the published Marlin format: data packed by the reference Marlin tools
 * loads unchanged. csrc/kernels/packing.h holds the same mapping for the GPU.
 *
 * Weights. The [k, n] matrix of q values (k = inFeatures rows, n =
 * outFeatures columns) is cut into 16x16 blocks. A k16 row of blocks
 * becomes one row of n * bits / 2 int32 words. Lane l of an mma
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

/**
 * Word index and bit shift of element (row, col) of a packed
 * [inFeatures, outFeatures] weight matrix of `bits`-bit values.
 *
 * @param row - Input feature (row of the [inFeatures, outFeatures] matrix).
 * @param col - Output feature (column).
 * @param outFeatures - Columns of the matrix.
 * @param bits - Bits per weight, 4 (default) or 8.
 */
export function weightPosition(
  row: number,
  col: number,
  outFeatures: number,
  bits: WeightBits = 4,
): {
  /** Index of the int32 word in the packed weights (flat, row-major). */
  word: number;
  /** Bit position of the value's lowest bit in that word. */
  shift: number;
} {
  const n = outFeatures;
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

/**
 * Packed position of scale column `col` within its row (one row per group).
 *
 * @param col - Output feature (column of the [groups, outFeatures] scales).
 * @param groupSize - The layer's group size (-1: one group per column, which has its own order).
 */
export function scalePosition(col: number, groupSize: GroupSize): number {
  if (groupSize === -1) {
    const c = col & 31;
    return (col & ~31) + 8 * ((c & 7) >> 1) + 2 * (c >> 3) + (c & 1);
  }
  const c = col & 63;
  return (col & ~63) + 8 * (c & 7) + (c >> 3);
}

/**
 * Word (within its row of outFeatures / 4) and bit shift of the zero point of column `col`.
 *
 * @param col - Output feature (column of the [groups, outFeatures] zero points).
 */
export function zeroPosition(col: number): {
  /** Index of the int32 word within its group's row of outFeatures / 4 words. */
  word: number;
  /** Bit position of the zero point's byte in that word (0, 8, 16 or 24). */
  shift: number;
} {
  const i = (col & 63) >> 3;
  return { word: (col >> 6) * 16 + 2 * (col & 7) + (i >> 2), shift: 8 * (i & 3) };
}

function checkMatrix(k: number, n: number, length: number, what: string): void {
  if (!Number.isSafeInteger(k) || k <= 0 || k % 16 !== 0) throw invalid('BAD_SHAPE', 'inFeatures', 'a positive multiple of 16', k);
  checkOutFeatures(n);
  if (length !== k * n) throw invalid('BAD_SHAPE', what, `${k * n} values (inFeatures ${k} x outFeatures ${n})`, length);
}

function checkOutFeatures(n: number): void {
  if (!Number.isSafeInteger(n) || n <= 0 || n % 64 !== 0) throw invalid('BAD_SHAPE', 'outFeatures', 'a positive multiple of 64', n);
}

/**
 * Packs one k16 block of rows of a [k, n] weight matrix, columns [c0, c1)
 * (whole 64-column units), into `out` from word `base` on (the block's row
 * of words starting at column c0: 32 * bits words per 64 columns): the
 * mapping of weightPosition, with each word gathered from its 8 (4-bit) or
 * 4 (8-bit) values and written once (tens of millions of weights: no call
 * or read-modify-write per element). Row r of the block (0..15) is read
 * from sources[r][offsets[r] + col], so act-order rows and padding can come
 * from anywhere. Returns false if a value does not fit `bits` (the words
 * written are then meaningless).
 */
export function packWeightBlock(
  sources: readonly Uint8Array[],
  offsets: Int32Array,
  bits: WeightBits,
  out: Int32Array,
  base: number,
  c0: number,
  c1: number,
): boolean {
  let seen = 0;
  const unitWords = 32 * bits;
  // Lane l = 4g + t takes rows 2t, 2t+1, 2t+8, 2t+9 of columns g and g+8 of each 16-column block.
  for (let t = 0; t < 4; t++) {
    const a0 = sources[2 * t];
    const a1 = sources[2 * t + 1];
    const a8 = sources[2 * t + 8];
    const a9 = sources[2 * t + 9];
    const o0 = offsets[2 * t];
    const o1 = offsets[2 * t + 1];
    const o8 = offsets[2 * t + 8];
    const o9 = offsets[2 * t + 9];
    for (let unit = c0; unit < c1; unit += 64) {
      const words = base + ((unit - c0) >> 6) * unitWords + t * 4;
      if (bits === 4) {
        // word 4l + j = nibbles (row, col) 2t,g | 2t+8,g | 2t,g+8 | 2t+8,g+8 | 2t+1,g | 2t+9,g | 2t+1,g+8 | 2t+9,g+8
        for (let g = 0; g < 8; g++)
          for (let j = 0; j < 4; j++) {
            const c = unit + 16 * j + g;
            const x0 = a0[o0 + c], x8 = a8[o8 + c], y0 = a0[o0 + c + 8], y8 = a8[o8 + c + 8];
            const x1 = a1[o1 + c], x9 = a9[o9 + c], y1 = a1[o1 + c + 8], y9 = a9[o9 + c + 8];
            seen |= x0 | x8 | y0 | y8 | x1 | x9 | y1 | y9;
            out[words + g * 16 + j] = x0 | (x8 << 4) | (y0 << 8) | (y8 << 12) | (x1 << 16) | (x9 << 20) | (y1 << 24) | (y9 << 28);
          }
      } else {
        // word 4l + 2(j % 2) + h of part j / 2 = bytes (row) 2t | 2t+8 | 2t+1 | 2t+9 of column g + 8h
        for (let g = 0; g < 8; g++)
          for (let j = 0; j < 4; j++)
            for (let h = 0; h < 2; h++) {
              const c = unit + 16 * j + 8 * h + g;
              const x0 = a0[o0 + c], x8 = a8[o8 + c], x1 = a1[o1 + c], x9 = a9[o9 + c];
              seen |= x0 | x8 | x1 | x9;
              out[words + (j >> 1) * 128 + g * 16 + (j & 1) * 2 + h] = x0 | (x8 << 8) | (x1 << 16) | (x9 << 24);
            }
      }
    }
  }
  return seen < 1 << bits;
}

/** Index of the first value of values[from..to) above `max`, or -1. */
export function firstAbove(values: Uint8Array, from: number, to: number, max: number): number {
  for (let i = from; i < to; i++) if (values[i] > max) return i;
  return -1;
}

/**
 * Packs [inFeatures, outFeatures] q values (0..2^bits - 1, row-major) into
 * the [inFeatures / 16, outFeatures * bits / 2] int32 Marlin layout.
 * Throws BAD_SHAPE for a shape the layout cannot hold, BAD_ARGUMENT for a
 * value above 2^bits - 1.
 *
 * @param q - [inFeatures, outFeatures] row-major values.
 * @param inFeatures - Rows of q: a positive multiple of 16.
 * @param outFeatures - Columns of q.
 * @param bits - Bits per weight, 4 (default) or 8.
 */
export function packWeights(q: Uint8Array, inFeatures: number, outFeatures: number, bits: WeightBits = 4): Int32Array {
  const k = inFeatures;
  const n = outFeatures;
  checkBits(bits);
  checkMatrix(k, n, q.length, 'q');
  const packed = new Int32Array((k * n * bits) / 32);
  const sources = new Array<Uint8Array>(16).fill(q);
  const offsets = new Int32Array(16);
  for (let block = 0; block < k / 16; block++) {
    for (let r = 0; r < 16; r++) offsets[r] = (16 * block + r) * n;
    if (!packWeightBlock(sources, offsets, bits, packed, (block * n * bits) / 2, 0, n)) {
      const bad = firstAbove(q, 16 * block * n, 16 * (block + 1) * n, (1 << bits) - 1);
      throw invalid('BAD_ARGUMENT', `q[${bad}]`, `a value in 0..${(1 << bits) - 1}`, q[bad]);
    }
  }
  return packed;
}

/**
 * Inverse of packWeights: [inFeatures, outFeatures] q values from the
 * Marlin layout (through weightPosition, a check of packWeightBlock's
 * arithmetic).
 *
 * @param packed - [inFeatures / 16, outFeatures * bits / 2] int32 words.
 * @param inFeatures - Rows of the result: a positive multiple of 16.
 * @param outFeatures - Columns of the result.
 * @param bits - Bits per weight, 4 (default) or 8.
 */
export function unpackWeights(packed: Int32Array, inFeatures: number, outFeatures: number, bits: WeightBits = 4): Uint8Array {
  const k = inFeatures;
  const n = outFeatures;
  checkBits(bits);
  checkMatrix(k, n, (packed.length * 32) / bits, `packed weights (x${32 / bits} values)`);
  const mask = (1 << bits) - 1;
  const q = new Uint8Array(k * n);
  for (let row = 0; row < k; row++)
    for (let col = 0; col < n; col++) {
      const { word, shift } = weightPosition(row, col, n, bits);
      q[row * n + col] = (packed[word] >>> shift) & mask;
    }
  return q;
}

function checkRows(length: number, rows: number, n: number, what: string): void {
  checkOutFeatures(n);
  if (length !== rows * n) throw invalid('BAD_SHAPE', what, `${rows * n} values (${rows} rows x outFeatures ${n})`, length);
}

function checkScales(length: number, k: number, n: number, groupSize: GroupSize): number {
  checkGroupSize(groupSize);
  if (!Number.isSafeInteger(k) || k <= 0 || (groupSize !== -1 && k % groupSize !== 0))
    throw invalid('BAD_SHAPE', 'inFeatures', groupSize === -1 ? 'a positive integer' : `a positive multiple of ${groupSize}`, k);
  const rows = scaleRows(k, groupSize);
  checkRows(length, rows, n, 'scales');
  return rows;
}

/**
 * Reorders [groups, outFeatures] 16-bit scales (natural order) into the
 * Marlin order; groups = inFeatures / groupSize (1 per-channel).
 * Throws BAD_SHAPE when scales.length is not groups * outFeatures.
 *
 * @param scales - [groups, outFeatures] row-major bit patterns.
 * @param inFeatures - Input features of the layer (sets the number of groups).
 * @param outFeatures - Columns of the scales.
 * @param groupSize - Input rows per group, or -1 for one group per column.
 */
export function packScales(scales: Uint16Array, inFeatures: number, outFeatures: number, groupSize: GroupSize): Uint16Array {
  const n = outFeatures;
  const rows = checkScales(scales.length, inFeatures, n, groupSize);
  const out = new Uint16Array(scales.length);
  for (let r = 0; r < rows; r++)
    for (let col = 0; col < n; col++) out[r * n + scalePosition(col, groupSize)] = scales[r * n + col];
  return out;
}

/**
 * Inverse of packScales.
 *
 * @param packed - [groups, outFeatures] bit patterns in the Marlin order.
 * @param inFeatures - Input features of the layer (sets the number of groups).
 * @param outFeatures - Columns of the scales.
 * @param groupSize - Input rows per group, or -1 for one group per column.
 */
export function unpackScales(packed: Uint16Array, inFeatures: number, outFeatures: number, groupSize: GroupSize): Uint16Array {
  const n = outFeatures;
  const rows = checkScales(packed.length, inFeatures, n, groupSize);
  const out = new Uint16Array(packed.length);
  for (let r = 0; r < rows; r++)
    for (let col = 0; col < n; col++) out[r * n + col] = packed[r * n + scalePosition(col, groupSize)];
  return out;
}

/**
 * Packs [rows, outFeatures] zero points (0..2^bits - 1, natural order; a row per group) into [rows, outFeatures / 4] int32 words.
 * Throws BAD_ARGUMENT for a value above 2^bits - 1.
 *
 * @param zeros - [rows, outFeatures] row-major zero points.
 * @param rows - Rows (groups).
 * @param outFeatures - Columns.
 * @param bits - Bits per weight (4 or 8): bounds the values.
 */
export function packZeros(zeros: Uint8Array, rows: number, outFeatures: number, bits: WeightBits): Int32Array {
  const n = outFeatures;
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

/**
 * Inverse of packZeros.
 *
 * @param packed - [rows, outFeatures / 4] int32 words, a byte per zero point.
 * @param rows - Rows (groups).
 * @param outFeatures - Columns.
 * @param bits - Bits per weight (4 or 8): a byte above 2^bits - 1 throws BAD_ARGUMENT.
 */
export function unpackZeros(packed: Int32Array, rows: number, outFeatures: number, bits: WeightBits): Uint8Array {
  const n = outFeatures;
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
