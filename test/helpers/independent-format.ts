/**
 * The Marlin layout of weights and zero points re-derived from its
 * description (the comments of lib/layout.ts, csrc/kernels/packing.h and
 * csrc/kernels/mma/dequant.cuh), without lib/layout.ts's index arithmetic:
 * the packed arrays are written front to back, word after word, in the
 * order the kernel reads them, each word assembled from the values one mma
 * lane needs for one fragment. Tests compare lib/layout.ts against these.
 *
 * What an mma lane consumes. For one 16x16 block of B, lane l (g = l / 4,
 * t = l % 4) holds column g of the first n8 half and column g + 8 of the
 * second, rows 2t, 2t+1 (register 0) and 2t+8, 2t+9 (register 1).
 *
 * A packed weight row covers 16 rows of W; it is a run of 64-column units.
 * - 4 bits, per unit: for lane 0..31, for block 0..3 one word whose nibbles
 *   are (row, column) = (2t, g) (2t+8, g) (2t, g+8) (2t+8, g+8) (2t+1, g)
 *   (2t+9, g) (2t+1, g+8) (2t+9, g+8).
 * - 8 bits, per unit: two parts (blocks 0-1, then 2-3); in each, for lane
 *   0..31, the four words (first block, half 0) (first block, half 1)
 *   (second block, half 0) (second block, half 1); a word's bytes are rows
 *   2t, 2t+8, 2t+1, 2t+9 of its column g + 8 * half.
 * Zero points, per group row and 64-column unit: for g = 0..7 the lane's
 * columns g, g+8, ..., g+56 in order, one byte each whatever the weight
 * width: two words of 4 bytes.
 */

/** Appends 32-bit words built from small fields, lowest field first. */
class WordWriter {
  readonly words: Int32Array;
  private at = 0;

  constructor(count: number) {
    this.words = new Int32Array(count);
  }

  /** One word from `fields` values of `width` bits each, field 0 in the lowest bits. */
  push(fields: readonly number[], width: number): void {
    if (fields.length * width !== 32) throw new Error(`a word needs ${32 / width} fields of ${width} bits, got ${fields.length}`);
    let word = 0;
    for (let f = fields.length - 1; f >= 0; f--) word = word * 2 ** width + fields[f];
    this.words[this.at++] = word | 0; // two's complement: ToInt32 of the unsigned value
  }

  /** The words, after checking that exactly `count` were written. */
  done(): Int32Array {
    if (this.at !== this.words.length) throw new Error(`wrote ${this.at} words, expected ${this.words.length}`);
    return this.words;
  }
}

/** A lane's column within each n8 half (g) and its row pair index (t). */
function laneCells(lane: number): { g: number; t: number } {
  return { g: Math.floor(lane / 4), t: lane % 4 };
}

/** [k, n] row-major q values of `bits` bits in the Marlin layout, built lane by lane. */
export function independentPackWeights(q: Uint8Array, k: number, n: number, bits: 4 | 8): Int32Array {
  if (k % 16 !== 0 || n % 64 !== 0 || q.length !== k * n) throw new Error(`bad shape k=${k}, n=${n}, length ${q.length}`);
  const out = new WordWriter((k * n * bits) / 32);
  const at = (row: number, col: number) => q[row * n + col];
  for (let top = 0; top < k; top += 16) {
    for (let unit = 0; unit < n; unit += 64) {
      if (bits === 4) {
        for (let lane = 0; lane < 32; lane++) {
          const { g, t } = laneCells(lane);
          for (let block = 0; block < 4; block++) {
            const left = unit + 16 * block + g; // column of the first n8 half
            const right = left + 8; // and of the second
            const r0 = top + 2 * t; // rows 2t, 2t+1 (register 0) and 2t+8, 2t+9 (register 1)
            out.push(
              [
                at(r0, left),
                at(r0 + 8, left),
                at(r0, right),
                at(r0 + 8, right),
                at(r0 + 1, left),
                at(r0 + 9, left),
                at(r0 + 1, right),
                at(r0 + 9, right),
              ],
              4,
            );
          }
        }
      } else {
        for (let part = 0; part < 2; part++) {
          for (let lane = 0; lane < 32; lane++) {
            const { g, t } = laneCells(lane);
            for (const block of [2 * part, 2 * part + 1]) {
              for (const half of [0, 1]) {
                const col = unit + 16 * block + 8 * half + g;
                const r0 = top + 2 * t;
                out.push([at(r0, col), at(r0 + 8, col), at(r0 + 1, col), at(r0 + 9, col)], 8);
              }
            }
          }
        }
      }
    }
  }
  return out.done();
}

/** [rows, n] zero points in the packed order (a byte each), built lane by lane. */
export function independentPackZeros(zeros: Uint8Array, rows: number, n: number): Int32Array {
  if (n % 64 !== 0 || zeros.length !== rows * n) throw new Error(`bad shape rows=${rows}, n=${n}, length ${zeros.length}`);
  const out = new WordWriter(rows * n / 4);
  for (let row = 0; row < rows; row++) {
    for (let unit = 0; unit < n; unit += 64) {
      for (let g = 0; g < 8; g++) {
        // the zero points of the 8 columns lane group g dequantizes: g, g+8, ..., g+56
        const mine: number[] = [];
        for (let i = 0; i < 8; i++) mine.push(zeros[row * n + unit + g + 8 * i]);
        out.push(mine.slice(0, 4), 8);
        out.push(mine.slice(4), 8);
      }
    }
  }
  return out.done();
}
