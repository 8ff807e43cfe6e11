/**
 * The round-to-nearest loops of quantize(), over a range of columns: the
 * synchronous quantize() runs them over every column on the calling thread,
 * quantizeAsync() gives each worker thread a range (lib/worker.ts), with
 * rows and results in arrays of its own columns. Columns
 * are independent (a scale belongs to one group of one column), so both run
 * the same arithmetic on the same values and give the same bits.
 *
 * Three passes over the rows, each a plain loop over typed arrays:
 *   1. the range of every (group, column): lo = min(W, 0), hi = max(W, 0),
 *      stopping at the first weight that is not finite;
 *   2. the scales, rounded to the dtype, and the zero points;
 *   3. q = clamp(round(W / scale) + z, 0, 2^bits - 1).
 * Problems are returned as findings (plain data that can cross threads);
 * quantize.ts turns them into MarlinErrors.
 */
import type { ActivationDType } from './formats';
import { fromHalves, toHalves } from './fp16';
import type { WeightBits } from './shapes';

/** What the loops need to know about the layer. */
export interface RtnProblem {
  k: number;
  n: number;
  bits: WeightBits;
  zeroPoints: boolean;
  dtype: ActivationDType;
  /** [k] group of every row. */
  group: Int32Array;
  groups: number;
}

/**
 * Where the weights of a row are: array[offset + col] for the columns being
 * quantized, once seek(row) has returned (it may wait for the row to
 * arrive: quantizeAsync sends rows to its workers as it copies them).
 */
export interface RowSource {
  array: Float32Array | Float64Array;
  offset: number;
  seek(row: number): void;
  /** Rows 0..row will not be read again: the source may free them. */
  release?(row: number): void;
}

/** The rows of a [k, n] row-major matrix. */
export function matrixRows(w: Float32Array | Float64Array, n: number): RowSource {
  const source: RowSource = {
    array: w,
    offset: 0,
    seek(row) {
      source.offset = row * n;
    },
  };
  return source;
}

/**
 * Where the results go: arrays holding columns col0 .. col0 + stride - 1,
 * element (row, col) of q at row * stride + col - col0, and (group, col) of
 * the scales and zero points likewise. quantize() passes full arrays
 * (stride n, col0 0); a worker, arrays of its own columns only. With
 * `blockRows`, q holds only the block of rows being quantized, row at
 * (row - block.from) * stride (a worker packing each block as it is done:
 * quantizeColumns' onBlock).
 */
export interface RtnOutput {
  q: Uint8Array;
  scales: Uint16Array;
  zeros?: Uint8Array;
  stride: number;
  col0: number;
  blockRows?: boolean;
}

/**
 * The first problem in a range of columns: a weight that is not finite (the
 * first in row-major order), else a scale the dtype cannot hold (the first
 * in [groups, n] order). Indices are over the whole matrix.
 */
export type RtnFinding =
  | { kind: 'weight'; index: number; value: number }
  | { kind: 'scale'; index: number; raw: number; range: number };


/** The implicit zero point of symmetric formats (formats.ts symmetricZero, without its imports). */
const symmetricZero = (bits: WeightBits): number => 1 << (bits - 1);

// Module-level references: inside a vm context (jest), every read of a
// global such as `Math` goes through the context's interceptor, which made
// the q loop 15x slower there.
const { floor, max, min, round } = Math;
const { isFinite } = Number;

/** 0.5 - 2^-54, the largest double below 0.5: Math.round gives 0, Math.floor(x + 0.5) 1. */
const JUST_BELOW_HALF = 0.49999999999999994;

/** The work quantizeColumns does over `width` columns, in progress() elements. */
export function rtnWork(k: number, width: number): number {
  return 2 * k * width;
}

/**
 * The rows quantizeColumns() handles at once: [from, to) holding every row
 * of groups [g0, g1). Where groups are runs of consecutive rows (group[row]
 * never decreases, by at most 1: plain group sizes and per-channel) each
 * group is a block, so a RowSource may drop rows once their block is done;
 * otherwise (act-order's g_idx) one block holds every row.
 */
export interface RowBlock {
  from: number;
  to: number;
  g0: number;
  g1: number;
}

export function rowBlocks(p: Pick<RtnProblem, 'k' | 'group' | 'groups'>): RowBlock[] {
  const { k, group, groups } = p;
  const all = [{ from: 0, to: k, g0: 0, g1: groups }];
  if (k === 0 || group[0] !== 0 || group[k - 1] !== groups - 1) return all;
  for (let row = 1; row < k; row++) {
    const step = group[row] - group[row - 1];
    if (step !== 0 && step !== 1) return all;
  }
  const blocks: RowBlock[] = [];
  for (let from = 0; from < k; ) {
    let to = from + 1;
    while (to < k && group[to] === group[from]) to++;
    blocks.push({ from, to, g0: group[from], g1: group[from] + 1 });
    from = to;
  }
  return blocks;
}

/** The most rows of one block of rowBlocks(p): what a RowSource must hold at once. */
export function blockRows(p: Pick<RtnProblem, 'k' | 'group' | 'groups'>): number {
  return rowBlocks(p).reduce((most, b) => Math.max(most, b.to - b.from), 0);
}

/**
 * Quantizes columns [c0, c1) of the [k, n] weights into `out`, one block of
 * rows at a time (rowBlocks). Returns the first problem found (`out` is then
 * partly written, to be thrown away), or undefined. A weight that is not
 * finite is reported before any scale problem, wherever they are: after a
 * scale problem the remaining rows are only checked. Each row is released
 * (rows.release) once its block is done, also after a scale problem; a
 * weight that is not finite ends the call at once, releasing nothing more
 * (lib/quantize-async.ts stops sending to a worker that is done).
 * progress() is called after each row of each pass with the elements done.
 * onBlock(block) is called once a block's q rows are written (not after a
 * scale problem); returning false ends the call (the caller keeps why).
 */
export function quantizeColumns(
  rows: RowSource,
  p: RtnProblem,
  out: RtnOutput,
  c0: number,
  c1: number,
  progress?: (elements: number) => void,
  onBlock?: (block: RowBlock) => boolean,
): RtnFinding | undefined {
  const { groups } = p;
  const width = c1 - c0;
  // lo and hi of every (group, column), [groups, width]: lo[g * width + col - c0].
  const lo = new Float64Array(groups * width);
  const hi = new Float64Array(groups * width);
  let scaleFinding: RtnFinding | undefined;
  for (const block of rowBlocks(p)) {
    const weightFinding = rangesOfRows(rows, p, lo, hi, block, c0, c1, progress);
    if (weightFinding) return weightFinding;
    if (!scaleFinding) {
      const levels = groupLevels(p, lo, hi, block, width, c0);
      if ('kind' in levels) scaleFinding = levels;
      else {
        for (let g = block.g0; g < block.g1; g++) {
          const local = (g - block.g0) * width;
          out.scales.set(levels.halves.subarray(local, local + width), g * out.stride + c0 - out.col0);
          out.zeros?.set(levels.z.subarray(local, local + width), g * out.stride + c0 - out.col0);
        }
        quantizeRows(rows, p, out, levels, block, c0, c1, progress);
        if (onBlock && !onBlock(block)) return undefined;
      }
    }
    for (let row = block.from; row < block.to; row++) rows.release?.(row);
  }
  return scaleFinding;
}

/** Pass 1 over a block: lo and hi of its groups, or the first weight that is not finite. */
function rangesOfRows(
  rows: RowSource,
  p: RtnProblem,
  lo: Float64Array,
  hi: Float64Array,
  block: RowBlock,
  c0: number,
  c1: number,
  progress: ((elements: number) => void) | undefined,
): RtnFinding | undefined {
  const { n, group } = p;
  const width = c1 - c0;
  for (let row = block.from; row < block.to; row++) {
    rows.seek(row);
    const w = rows.array;
    const first = rows.offset;
    // lo[g * width + col - c0] is addressed as lo[base + col].
    const base = group[row] * width - c0;
    // v - v is 0 for every finite v and NaN for NaN and the infinities: a
    // row's sum is NaN if it holds one, without a branch per weight.
    let notFinite = 0;
    for (let col = c0; col < c1; col++) {
      const v = w[first + col];
      notFinite += v - v;
      if (v < lo[base + col]) lo[base + col] = v;
      else if (v > hi[base + col]) hi[base + col] = v;
    }
    if (notFinite !== 0)
      for (let col = c0; col < c1; col++) {
        const v = w[first + col];
        if (v - v !== 0) return { kind: 'weight', index: row * n + col, value: v };
      }
    progress?.(width);
  }
  return undefined;
}

/** A block's scales (rounded to the dtype: halves, and their values s) and zero points, [g1 - g0, width]. */
interface Levels {
  halves: Uint16Array;
  s: ReturnType<typeof fromHalves>;
  z: Uint8Array;
}

/**
 * Pass 2 over a block's groups: scales rounded to the dtype (elementwise, so
 * the same whatever the range of columns or rows), then the zero points; or
 * the first scale the dtype cannot hold.
 */
function groupLevels(p: RtnProblem, lo: Float64Array, hi: Float64Array, block: RowBlock, width: number, c0: number): Levels | RtnFinding {
  const maxq = (1 << p.bits) - 1;
  const from = block.g0 * width;
  const count = (block.g1 - block.g0) * width;
  const raw = new Float64Array(count);
  const steps = p.zeroPoints ? maxq : symmetricZero(p.bits) - 0.5;
  for (let i = 0; i < count; i++)
    raw[i] = p.zeroPoints ? (hi[from + i] - lo[from + i]) / steps : max(hi[from + i], -lo[from + i]) / steps;
  const halves = toHalves(raw, p.dtype);
  const s = fromHalves(halves, p.dtype);
  for (let i = 0; i < count; i++)
    if (!isFinite(s[i])) {
      const g = block.g0 + floor(i / width);
      const c = i % width;
      return { kind: 'scale', index: g * p.n + c0 + c, raw: raw[i], range: hi[from + i] - lo[from + i] };
    }
  const z = new Uint8Array(count);
  if (p.zeroPoints) {
    for (let i = 0; i < count; i++) z[i] = s[i] > 0 ? min(maxq, max(0, round(-lo[from + i] / s[i]))) : 0;
  } else {
    z.fill(symmetricZero(p.bits));
  }
  return { halves, s, z };
}

/**
 * Pass 3 over a block: q. A zero scale (an all-zero group, or one below the
 * dtype's range) encodes every weight as the zero point. Math.round(x) costs
 * a mispredicted branch per weight in V8; Math.floor(x + 0.5) is the same
 * number for every x except 0.5 - 2^-54 (x + 0.5 rounds up to 1) and
 * |x| >= 2^52 (clamped below either way), so that one value is special-cased.
 */
function quantizeRows(
  rows: RowSource,
  p: RtnProblem,
  out: RtnOutput,
  levels: Levels,
  block: RowBlock,
  c0: number,
  c1: number,
  progress: ((elements: number) => void) | undefined,
): void {
  const { group } = p;
  const maxq = (1 << p.bits) - 1;
  const width = c1 - c0;
  const { s, z } = levels;
  const q = out.q;
  for (let row = block.from; row < block.to; row++) {
    rows.seek(row);
    const w = rows.array;
    const first = rows.offset;
    const base = (group[row] - block.g0) * width - c0;
    const to = (out.blockRows ? row - block.from : row) * out.stride - out.col0;
    for (let col = c0; col < c1; col++) {
      const scale = s[base + col];
      let step = z[base + col];
      if (scale > 0) {
        const x = w[first + col] / scale;
        step += x === JUST_BELOW_HALF ? 0 : floor(x + 0.5);
      }
      q[to + col] = step < 0 ? 0 : step > maxq ? maxq : step;
    }
    progress?.(width);
  }
}
