/**
 * The round-to-nearest loops of quantize(), over a range of columns: the
 * synchronous quantize() runs them over every column on the calling thread,
 * quantizeAsync() gives each worker thread a range (lib/worker.ts). Columns
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

/** Where the results go; every array is full size ([k, n] or [groups, n]), the loops write their columns. */
export interface RtnOutput {
  q: Uint8Array;
  scales: Uint16Array;
  zeros?: Uint8Array;
}

/**
 * The first problem in a range of columns: a weight that is not finite (the
 * first in row-major order), else a scale the dtype cannot hold (the first
 * in [groups, n] order). Indices are over the whole matrix.
 */
export type RtnFinding =
  | { kind: 'weight'; index: number; value: number }
  | { kind: 'scale'; index: number; raw: number; range: number };

export interface RtnHooks {
  /** Called before row `row` is first read: rows may still be arriving (quantizeAsync copies them in). */
  waitForRow?(row: number): void;
  /** Called after each row of each pass with the elements it covered. */
  progress?(elements: number): void;
}

/** The implicit zero point of symmetric formats (formats.ts symmetricZero, without its imports). */
const symmetricZero = (bits: WeightBits): number => 1 << (bits - 1);

/** 0.5 - 2^-54, the largest double below 0.5: Math.round gives 0, Math.floor(x + 0.5) 1. */
const JUST_BELOW_HALF = 0.49999999999999994;

/** The work quantizeColumns does over `width` columns, in progress() elements. */
export function rtnWork(k: number, width: number): number {
  return 2 * k * width;
}

/**
 * Quantizes columns [c0, c1) of the [k, n] row-major weights `w` into `out`.
 * Returns the first problem found (nothing is written to `out` then), or
 * undefined.
 */
export function quantizeColumns(
  w: Float32Array | Float64Array,
  p: RtnProblem,
  out: RtnOutput,
  c0: number,
  c1: number,
  hooks: RtnHooks = {},
): RtnFinding | undefined {
  const { k, n, group, groups } = p;
  const width = c1 - c0;
  const maxq = (1 << p.bits) - 1;
  const { waitForRow, progress } = hooks;

  // Pass 1: lo and hi of every (group, column), local [groups, width].
  // lo[g * width + col - c0] is addressed as lo[base + col], base = g * width - c0.
  const lo = new Float64Array(groups * width);
  const hi = new Float64Array(groups * width);
  for (let row = 0; row < k; row++) {
    waitForRow?.(row);
    const base = group[row] * width - c0;
    const first = row * n;
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
        if (v - v !== 0) return { kind: 'weight', index: first + col, value: v };
      }
    progress?.(width);
  }

  // Pass 2: scales rounded to the dtype (elementwise, so the same whatever
  // the range of columns), then the zero points.
  const raw = new Float64Array(groups * width);
  const steps = p.zeroPoints ? maxq : symmetricZero(p.bits) - 0.5;
  for (let i = 0; i < raw.length; i++) raw[i] = p.zeroPoints ? (hi[i] - lo[i]) / steps : Math.max(hi[i], -lo[i]) / steps;
  const halves = toHalves(raw, p.dtype);
  const s = fromHalves(halves, p.dtype);
  for (let g = 0; g < groups; g++)
    for (let c = 0; c < width; c++) {
      const i = g * width + c;
      if (!Number.isFinite(s[i])) return { kind: 'scale', index: g * n + c0 + c, raw: raw[i], range: hi[i] - lo[i] };
    }
  const z = new Uint8Array(groups * width);
  if (p.zeroPoints) {
    for (let i = 0; i < z.length; i++) z[i] = s[i] > 0 ? Math.min(maxq, Math.max(0, Math.round(-lo[i] / s[i]))) : 0;
  } else {
    z.fill(symmetricZero(p.bits));
  }
  for (let g = 0; g < groups; g++) {
    out.scales.set(halves.subarray(g * width, (g + 1) * width), g * n + c0);
    out.zeros?.set(z.subarray(g * width, (g + 1) * width), g * n + c0);
  }

  // Pass 3: q. A zero scale (an all-zero group, or one below the dtype's
  // range) encodes every weight as the zero point. Math.round(x) costs a
  // mispredicted branch per weight in V8; Math.floor(x + 0.5) is the same
  // number for every x except 0.5 - 2^-54 (x + 0.5 rounds up to 1) and
  // |x| >= 2^52 (clamped below either way), so that one value is special-cased.
  const q = out.q;
  for (let row = 0; row < k; row++) {
    const base = group[row] * width - c0;
    const first = row * n;
    for (let col = c0; col < c1; col++) {
      const scale = s[base + col];
      let step = z[base + col];
      if (scale > 0) {
        const x = w[first + col] / scale;
        step += x === JUST_BELOW_HALF ? 0 : Math.floor(x + 0.5);
      }
      q[first + col] = step < 0 ? 0 : step > maxq ? maxq : step;
    }
    progress?.(width);
  }
  return undefined;
}
