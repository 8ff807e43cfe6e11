/**
 * Random layers in any weight format, built straight from q, scales, zero
 * points and gIdx (not through quantize()), their float64 weights computed
 * here from those arrays in the input row order, and a per-element check
 * of a GEMM output against the float64 product.
 *
 * The bound, per output element (i, j), with S = sum_k |x_ik| |w_kj|:
 *   |got - ref| <= epsOut |ref| + (epsW + epsAcc) S (1 + epsOut) + abs
 * - epsOut: the output's one rounding to the dtype (unit roundoff: 2^-11
 *   FP16, 2^-8 BF16);
 * - epsW: grouped formats round each weight (q - z) s once to the dtype
 *   (same unit); per-channel formats scale the FP32 sums instead (one FP32
 *   rounding, 2^-24: 1e-6 is ample). Grouped zero-point formats run on
 *   scaled zero points (lib/formats.ts usesScaledZeros): zs = (2^(bits-1) - z) s
 *   rounded once, then w = (q - 2^(bits-1)) s + zs rounded once, within
 *   epsW (|w| + |zs|) (1 + epsW) of (q - z) s, so S sums |x| (|w| + |zs|) there;
 * - epsAcc: FP32 accumulation on the tensor cores and across warps and
 *   blocks. Products of two 16-bit values are exact in FP32; each k16 mma
 *   step may lose up to ~17 FP32 ulps of the largest addend (alignment and
 *   truncation; Fasi et al. 2021), i.e. about k 2^-23 S over k rows. Twice
 *   that, k 2^-22 S, is used (k = the kernel's rows, act-order padding
 *   included: padding adds exact zeros).
 * - abs: 1e-6 for outputs near zero (FP16 subnormal spacing is 2^-24).
 */
import { type ActivationDType, type WeightFormat, describeFormat, symmetricZero, usesScaledZeros } from '../../lib/formats';
import { fromHalves, toHalves } from '../../lib/fp16';
import type { QuantizedWeights } from '../../lib/quantize';
import { relativeError } from '../../lib/testing';
import type { GroupSize, WeightBits } from '../../lib/shapes';
import { uniform } from './random';

/** Act-order group assignment: a shuffled row / groupSize, or groups of the given sizes in a random order. */
export type GroupAssignment = { kind: 'shuffled' } | { kind: 'sizes'; sizes: readonly number[] };

export interface FormatCase extends WeightFormat {
  k: number;
  n: number;
  actOrder?: GroupAssignment;
}

export function caseName(c: FormatCase): string {
  const order = !c.actOrder ? '' : c.actOrder.kind === 'shuffled' ? ' act-order (shuffled)' : ` act-order (groups of ${c.actOrder.sizes.join('/')} rows)`;
  return `${describeFormat(c)}${order} k=${c.k} n=${c.n}`;
}

/** Unit roundoff of a 16-bit float type (half its machine epsilon). */
export function unitRoundoff(dtype: ActivationDType): number {
  return dtype === 'float16' ? 2 ** -11 : 2 ** -8;
}

/** `values` in a random order (Fisher-Yates). */
export function shuffled(values: Int32Array, random: () => number): Int32Array {
  const out = values.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
  return out;
}

/** gIdx for an act-order case (its groups are numbered 0..groups-1). */
export function groupIndex(k: number, groupSize: number, assignment: GroupAssignment, random: () => number): Int32Array {
  if (assignment.kind === 'shuffled') return shuffled(Int32Array.from({ length: k }, (_, row) => Math.floor(row / groupSize)), random);
  const total = assignment.sizes.reduce((a, b) => a + b, 0);
  if (total !== k) throw new Error(`group sizes add up to ${total}, not k=${k}`);
  const g = new Int32Array(k);
  let row = 0;
  assignment.sizes.forEach((size, group) => {
    g.fill(group, row, row + size);
    row += size;
  });
  return shuffled(g, random);
}

export interface FormatLayerData {
  quantized: QuantizedWeights;
  /** [k, n] float64 weights (q - z) s, input row order. */
  w64: Float64Array;
  /** |w64|. */
  absW: Float64Array;
  /**
   * [k, n] bit patterns in the dtype of the weights as the kernels compute
   * them: w64 rounded once, or for scaled-zero formats (q - 2^(bits-1)) s + zs
   * rounded once (zs = (2^(bits-1) - z) s rounded once; see the bound above).
   */
  kernelW: Uint16Array;
  /** [k, n] |zs| of each weight's group and column, scaled-zero formats only. */
  absZs?: Float64Array;
  /** Group of each input row. */
  group: Int32Array;
}

/**
 * Random q (every value of `bits` bits), zero points (every value) or the
 * symmetric zero point, and scales of both signs with magnitudes in
 * [0.5, 1.5] / 2^(bits + 2) (outputs of order 1 for k of a few hundred;
 * every nonzero weight a normal number in both dtypes).
 */
export function randomFormatLayer(c: FormatCase, random: () => number): FormatLayerData {
  const { k, n, bits, dtype, groupSize, zeroPoints } = c;
  const levels = 1 << bits;
  const group = c.actOrder
    ? groupIndex(k, groupSize, c.actOrder, random)
    : Int32Array.from({ length: k }, (_, row) => (groupSize === -1 ? 0 : Math.floor(row / groupSize)));
  const groups = Math.max(...group) + 1;
  const q = new Uint8Array(k * n);
  for (let i = 0; i < q.length; i++) q[i] = Math.floor(random() * levels);
  const zeros = zeroPoints ? Uint8Array.from({ length: groups * n }, () => Math.floor(random() * levels)) : undefined;
  const magnitudes = uniform(groups * n, random, 1);
  const scales = toHalves(
    Array.from(magnitudes, (v) => (Math.sign(v) || 1) * (0.5 + Math.abs(v)) * 2 ** -(bits + 2)),
    dtype,
  );

  // w = (q - z) * s in float64, each row with its own group's scale and zero point
  const s = fromHalves(scales, dtype);
  const mid = symmetricZero(bits);
  // Scaled-zero formats: zs per (group, column), rounded once; the kernels' weight is (q - mid) s + zs rounded
  // once (both terms and their sum exact in float64).
  const zs = zeros && usesScaledZeros(c) ? fromHalves(toHalves(Array.from(zeros, (z, i) => (mid - z) * s[i]), dtype), dtype) : undefined;
  const w64 = new Float64Array(k * n);
  const absW = new Float64Array(k * n);
  const kernel = new Float64Array(k * n);
  const absZs = zs ? new Float64Array(k * n) : undefined;
  for (let row = 0; row < k; row++) {
    const g = group[row];
    for (let col = 0; col < n; col++) {
      const z = zeros ? zeros[g * n + col] : mid;
      const at = row * n + col;
      const w = (q[at] - z) * s[g * n + col];
      w64[at] = w;
      absW[at] = Math.abs(w);
      kernel[at] = zs ? (q[at] - mid) * s[g * n + col] + zs[g * n + col] : w;
      if (absZs && zs) absZs[at] = Math.abs(zs[g * n + col]);
    }
  }
  const quantized: QuantizedWeights = { q, scales, inFeatures: k, outFeatures: n, groupSize, bits, dtype };
  if (zeros) quantized.zeros = zeros;
  if (c.actOrder) quantized.gIdx = group;
  const data: FormatLayerData = { quantized, w64, absW, kernelW: toHalves(kernel, dtype), group };
  if (absZs) data.absZs = absZs;
  return data;
}

/** Random activations in the dtype: bit patterns and their exact values. */
export function randomActivations(m: number, k: number, dtype: ActivationDType, random: () => number): { bits: Uint16Array; values: Float32Array } {
  const bits = toHalves(uniform(m * k, random), dtype);
  return { bits, values: fromHalves(bits, dtype) };
}

/** ref = x W and S = |x| |W| (|x| (|W| + |zs|) for scaled-zero formats) in float64 for the listed rows of x ([m, k]). */
export function referenceRows(
  x: ArrayLike<number>,
  data: Pick<FormatLayerData, 'w64' | 'absW' | 'absZs'>,
  k: number,
  n: number,
  rows: readonly number[],
): { ref: Float64Array; absSum: Float64Array } {
  const ref = new Float64Array(rows.length * n);
  const absSum = new Float64Array(rows.length * n);
  const { w64, absW, absZs } = data;
  rows.forEach((row, r) => {
    const acc = ref.subarray(r * n, (r + 1) * n);
    const abs = absSum.subarray(r * n, (r + 1) * n);
    for (let kk = 0; kk < k; kk++) {
      const xv = x[row * k + kk];
      if (xv === 0) continue;
      const xa = Math.abs(xv);
      const base = kk * n;
      for (let j = 0; j < n; j++) {
        acc[j] += xv * w64[base + j];
        abs[j] += xa * (absZs ? absW[base + j] + absZs[base + j] : absW[base + j]);
      }
    }
  });
  return { ref, absSum };
}

export interface ElementBound {
  epsOut: number;
  epsW: number;
  epsAcc: number;
  abs: number;
}

/** The per-element bound's terms for a format and the kernel's k (see the file comment). */
export function boundFor(format: WeightFormat, kernelK: number): ElementBound {
  const epsOut = unitRoundoff(format.dtype);
  return { epsOut, epsW: format.groupSize === -1 ? 1e-6 : epsOut, epsAcc: kernelK * 2 ** -22, abs: 1e-6 };
}

export interface ElementCheck {
  /** Elements of the checked rows over their bound (or not finite). */
  violations: number;
  /** Output elements (all rows) that are not finite: unwritten (poison) or overflowed. */
  nonFinite: number;
  /** The element with the largest |got - ref| / bound. */
  worst: { row: number; col: number; got: number; ref: number; bound: number; ratio: number };
  /** ||got - ref|| / ||ref|| over the checked rows. */
  relError: number;
}

/**
 * Checks `got` ([m, n], every element) for finiteness and the listed rows
 * against ref / absSum (one row of n per listed row) within the bound.
 */
export function checkElements(
  got: ArrayLike<number>,
  n: number,
  rows: readonly number[],
  ref: Float64Array,
  absSum: Float64Array,
  b: ElementBound,
): ElementCheck {
  let nonFinite = 0;
  for (let i = 0; i < got.length; i++) if (!Number.isFinite(got[i])) nonFinite++;
  let violations = 0;
  let worst = { row: -1, col: -1, got: NaN, ref: NaN, bound: NaN, ratio: -1 };
  const picked = new Float64Array(rows.length * n);
  rows.forEach((row, r) => {
    for (let col = 0; col < n; col++) {
      const g = got[row * n + col];
      const e = ref[r * n + col];
      picked[r * n + col] = g;
      const bound = b.epsOut * Math.abs(e) + (b.epsW + b.epsAcc) * absSum[r * n + col] * (1 + b.epsOut) + b.abs;
      const diff = Math.abs(g - e);
      const ratio = Number.isFinite(diff) ? diff / bound : Infinity;
      if (!(diff <= bound)) violations++;
      if (ratio > worst.ratio) worst = { row, col, got: g, ref: e, bound, ratio };
    }
  });
  return { violations, nonFinite, worst, relError: relativeError(picked, ref) };
}

/** One line for a failure message. */
export function describeCheck(c: ElementCheck): string {
  const w = c.worst;
  return (
    `${c.violations} elements over the bound, ${c.nonFinite} not finite, relative error ${c.relError.toExponential(3)}; ` +
    `worst (row ${w.row}, col ${w.col}): got ${w.got}, ref ${w.ref}, |diff| ${Math.abs(w.got - w.ref).toExponential(3)}, ` +
    `bound ${w.bound.toExponential(3)} (x${w.ratio.toFixed(3)})`
  );
}

/**
 * Distance in representable 16-bit values between two bit patterns of the
 * same dtype (both zeros count as one value). Works for FP16 and BF16: both
 * are sign-magnitude with the magnitude's order equal to the integer order.
 */
export function ulpDistance(a: number, b: number): number {
  const ordinal = (bits: number) => (bits & 0x8000 ? -(bits & 0x7fff) : bits);
  return Math.abs(ordinal(a) - ordinal(b));
}

/** The whole-format list the GPU suite walks: every dtype x bits x group size x zero points. */
export function everyFormat(): WeightFormat[] {
  const out: WeightFormat[] = [];
  for (const dtype of ['float16', 'bfloat16'] as const)
    for (const bits of [4, 8] as WeightBits[])
      for (const groupSize of [32, 64, 128, -1] as GroupSize[]) for (const zeroPoints of [false, true]) out.push({ dtype, bits, groupSize, zeroPoints });
  return out;
}
