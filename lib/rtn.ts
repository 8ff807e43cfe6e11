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
 * (stride n, col0 0); a worker, arrays of its own columns only.
 */
export interface RtnOutput {
  q: Uint8Array;
  scales: Uint16Array;
  zeros?: Uint8Array;
  stride: number;
  col0: number;
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
 * Quantizes columns [c0, c1) of the [k, n] weights into `out`. Returns the
 * first problem found (nothing is written to `out` then), or undefined.
 * progress() is called after each row of each pass with the elements done.
 */
export function quantizeColumns(
  rows: RowSource,
  p: RtnProblem,
  out: RtnOutput,
  c0: number,
  c1: number,
  progress?: (elements: number) => void,
): RtnFinding | undefined {
  const { k, n, group, groups } = p;
  const width = c1 - c0;
  const maxq = (1 << p.bits) - 1;

  // Pass 1: lo and hi of every (group, column), local [groups, width].
  // lo[g * width + col - c0] is addressed as lo[base + col], base = g * width - c0.
  const lo = new Float64Array(groups * width);
  const hi = new Float64Array(groups * width);
  for (let row = 0; row < k; row++) {
    rows.seek(row);
    const w = rows.array;
    const first = rows.offset;
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

  // Pass 2: scales rounded to the dtype (elementwise, so the same whatever
  // the range of columns), then the zero points.
  const raw = new Float64Array(groups * width);
  const steps = p.zeroPoints ? maxq : symmetricZero(p.bits) - 0.5;
  for (let i = 0; i < raw.length; i++) raw[i] = p.zeroPoints ? (hi[i] - lo[i]) / steps : max(hi[i], -lo[i]) / steps;
  const halves = toHalves(raw, p.dtype);
  const s = fromHalves(halves, p.dtype);
  for (let g = 0; g < groups; g++)
    for (let c = 0; c < width; c++) {
      const i = g * width + c;
      if (!isFinite(s[i])) return { kind: 'scale', index: g * n + c0 + c, raw: raw[i], range: hi[i] - lo[i] };
    }
  const z = new Uint8Array(groups * width);
  if (p.zeroPoints) {
    for (let i = 0; i < z.length; i++) z[i] = s[i] > 0 ? min(maxq, max(0, round(-lo[i] / s[i]))) : 0;
  } else {
    z.fill(symmetricZero(p.bits));
  }
  for (let g = 0; g < groups; g++) {
    out.scales.set(halves.subarray(g * width, (g + 1) * width), g * out.stride + c0 - out.col0);
    out.zeros?.set(z.subarray(g * width, (g + 1) * width), g * out.stride + c0 - out.col0);
  }

  // Pass 3: q. A zero scale (an all-zero group, or one below the dtype's
  // range) encodes every weight as the zero point. Math.round(x) costs a
  // mispredicted branch per weight in V8; Math.floor(x + 0.5) is the same
  // number for every x except 0.5 - 2^-54 (x + 0.5 rounds up to 1) and
  // |x| >= 2^52 (clamped below either way), so that one value is special-cased.
  const q = out.q;
  for (let row = 0; row < k; row++) {
    rows.seek(row);
    const w = rows.array;
    const first = rows.offset;
    const base = group[row] * width - c0;
    const to = row * out.stride - out.col0;
    for (let col = c0; col < c1; col++) {
      const scale = s[base + col];
      let step = z[base + col];
      if (scale > 0) {
        const x = w[first + col] / scale;
        step += x === JUST_BELOW_HALF ? 0 : floor(x + 0.5);
      }
      q[to + col] = step < 0 ? 0 : step > maxq ? maxq : step;
    }
    rows.release?.(row);
    progress?.(width);
  }
  return undefined;
}
