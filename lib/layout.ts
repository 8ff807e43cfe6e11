/**
 * The Marlin layout (CPU): how packed INT4 weights and FP16 scales are
 * ordered so that every kernel load is one 16-byte vector and every value
 * lands where the tensor cores want it. This is the published Marlin format:
 * data packed by the reference Marlin tools loads unchanged.
 *
 * Weights. The [k, n] matrix of q values is cut into 16x16 blocks. A k16 row
 * of blocks becomes one row of 2n int32 words; within it, each 64 columns
 * (4 blocks) take 128 words = 32 lanes x 4 words, word j of lane l holding
 * the 8 values that mma lane l needs from block j. With g = l / 4 (column
 * within an n8 half) and t = l % 4, nibble i of that word (bits 4i..4i+3) is
 *   i:   0     1      2      3      4       5      6       7
 *   row  2t    2t+8   2t     2t+8   2t+1    2t+9   2t+1    2t+9
 *   col  g     g      g+8    g+8    g       g      g+8     g+8
 * so nibbles (0,4) and (1,5) are the two FP16 pairs of the first n8 half and
 * (2,6), (3,7) those of the second after one shift by 8 (csrc/kernels/dequant.cuh).
 *
 * Scales, grouped (one row per 128 rows of k): within each 64 columns, the
 * 8x8 arrangement is transposed: packed position 8i + j holds column i + 8j.
 * Scales, per-channel (one row): within each 32 columns, packed position
 * 8i + j holds column 2i + [0, 1, 8, 9, 16, 17, 24, 25][j].
 */
import { type GroupSize, checkGroupSize, scaleRows } from './shapes';
import { invalid } from './validate';

/** Word index and nibble of element (row, col) of a [k, n] weight matrix. */
export function weightPosition(row: number, col: number, n: number): { word: number; nibble: number } {
  const r = row & 15;
  const cc = col & 15;
  const lane = (cc & 7) * 4 + ((r & 7) >> 1);
  const word = (row >> 4) * 2 * n + (col >> 6) * 128 + lane * 4 + ((col >> 4) & 3);
  const nibble = (r & 1) * 4 + (cc >> 3) * 2 + (r >> 3);
  return { word, nibble };
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

function checkWeights(k: number, n: number, length: number, what: string): void {
  if (!Number.isSafeInteger(k) || k <= 0 || k % 16 !== 0) throw invalid('BAD_SHAPE', 'k', 'a positive multiple of 16', k);
  if (!Number.isSafeInteger(n) || n <= 0 || n % 64 !== 0) throw invalid('BAD_SHAPE', 'n', 'a positive multiple of 64', n);
  if (length !== k * n) throw invalid('BAD_SHAPE', what, `${k * n} values (k=${k} x n=${n})`, length);
}

/** Packs [k, n] q values (0..15, row-major) into the [k / 16, 2n] int32 Marlin layout. */
export function packWeights(q: Uint8Array, k: number, n: number): Int32Array {
  checkWeights(k, n, q.length, 'q');
  const packed = new Int32Array((k * n) / 8);
  forEachPosition(k, n, (i, word, shift) => {
    const v = q[i];
    if (v > 15) throw invalid('BAD_ARGUMENT', `q[${i}]`, 'a value in 0..15', v);
    packed[word] |= v << shift;
  });
  return packed;
}

/** Inverse of packWeights: [k, n] q values from the Marlin layout. */
export function unpackWeights(packed: Int32Array, k: number, n: number): Uint8Array {
  checkWeights(k, n, packed.length * 8, 'packed weights (x8 nibbles)');
  const q = new Uint8Array(k * n);
  forEachPosition(k, n, (i, word, shift) => {
    q[i] = (packed[word] >>> shift) & 15;
  });
  return q;
}

/**
 * Calls visit(index in [k, n], word, bit shift) for every element: the
 * mapping of weightPosition, without an object per element (layers have
 * tens of millions of weights).
 */
function forEachPosition(k: number, n: number, visit: (i: number, word: number, shift: number) => void): void {
  for (let row = 0; row < k; row++) {
    const r = row & 15;
    const rowWord = (row >> 4) * 2 * n;
    const laneT = (r & 7) >> 1;
    const shiftRow = 4 * ((r & 1) * 4 + (r >> 3));
    for (let col = 0, i = row * n; col < n; col++, i++) {
      const cc = col & 15;
      const word = rowWord + (col >> 6) * 128 + ((cc & 7) * 4 + laneT) * 4 + ((col >> 4) & 3);
      visit(i, word, shiftRow + 8 * (cc >> 3));
    }
  }
}

function checkScales(length: number, k: number, n: number, groupSize: GroupSize): number {
  checkGroupSize(groupSize);
  if (!Number.isSafeInteger(n) || n <= 0 || n % 64 !== 0) throw invalid('BAD_SHAPE', 'n', 'a positive multiple of 64', n);
  if (!Number.isSafeInteger(k) || k <= 0 || (groupSize !== -1 && k % groupSize !== 0))
    throw invalid('BAD_SHAPE', 'k', groupSize === -1 ? 'a positive integer' : `a positive multiple of ${groupSize}`, k);
  const rows = scaleRows(k, groupSize);
  if (length !== rows * n) throw invalid('BAD_SHAPE', 'scales', `${rows * n} values (${rows} x n=${n})`, length);
  return rows;
}

/** Reorders [rows, n] FP16 scales (natural order) into the Marlin order. */
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
