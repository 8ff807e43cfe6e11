/**
 * From quantized weights to the PackedLayer the kernels read: the checks of
 * QuantizedLinear.fromQuantized, the row order of act-order layers, and the
 * packing of weights, scales and zero points over a range of columns, so
 * that worker threads can each pack theirs into one shared buffer
 * (lib/worker.ts). packQuantized() runs the same loops over every column.
 *
 * An act-order layer is packed straight from q in input order: kernel row r
 * reads input row rows[r], and a padding row (rows[r] = -1) reads the zero
 * point of its group, exactly what packWeights(toKernelOrder(...).q) holds,
 * without a reordered copy of q.
 */
import { kernelOrder, trivialGroups } from './act-order';
import type { MarlinError } from './errors';
import { type ActivationDType, type WeightFormat, checkFormat, symmetricZero } from './formats';
import { firstAbove, packWeightBlock, scalePosition, zeroPosition } from './layout';
import { type QuantizedWeights, checkQuantized } from './quantize';
import { type GroupSize, type WeightBits, N_MULTIPLE, checkWeightShape, scaleRows } from './shapes';
import { invalid, isPositiveInteger } from './validate';

/** Weights already in the Marlin layout (e.g. from the reference Marlin tools, or packWeights). */
export interface PackedLayer {
  /** [kernel rows / 16, outFeatures * bits / 2] int32 words in the Marlin layout (kernel rows: inFeatures, or rows.length with act-order). */
  packedWeights: Int32Array;
  /** [groups, outFeatures] 16-bit scales (dtype bit patterns) in the Marlin order. */
  packedScales: Uint16Array;
  /** [groups, outFeatures / 4] int32 words of packed zero points, a byte each (formats with zero points). */
  packedZeros?: Int32Array;
  /** Act-order: the input row of each kernel row (-1: padding); the kernel rows are its length. */
  rows?: Int32Array;
  /** Input features: columns of x. */
  inFeatures: number;
  /** Output features: columns of y. */
  outFeatures: number;
  /** Input rows per scale group, or -1 for one group per output column. */
  groupSize: GroupSize;
  /** Default 4. */
  bits?: WeightBits;
  /** Activations, scales and outputs; default 'float16'. */
  dtype?: ActivationDType;
}

/** The shape of a layer in the kernels' order; plain data, so it can be sent to a worker. */
export interface LayerPlan {
  k: number;
  n: number;
  format: WeightFormat;
  /** Rows the kernel runs over: k, or more with act-order padding. */
  kernelK: number;
  /** Rows of packed scales (and zero points). */
  kernelGroups: number;
  /** Act-order: the input row of each kernel row, -1 for padding. */
  rows?: Int32Array;
  /** Act-order: the input group of each kernel group. */
  groupOf?: Int32Array;
}

/** What is known of quantized weights before they exist: enough to plan their layer. */
export interface LayerShape {
  k: number;
  n: number;
  groupSize: GroupSize;
  bits: WeightBits;
  dtype: ActivationDType;
  zeroPoints: boolean;
  gIdx?: Int32Array;
  /** Groups of the quantized scales (gIdx's largest + 1, or k / groupSize). */
  groups: number;
}

/** Checks that the kernels can run the layer, and plans its rows: the checks of fromQuantized. */
export function planLayer(shape: LayerShape): LayerPlan {
  const { k, n, groupSize, gIdx } = shape;
  const format = checkFormat({ dtype: shape.dtype, bits: shape.bits, groupSize, zeroPoints: shape.zeroPoints });
  if (gIdx && !trivialGroups(gIdx, groupSize)) {
    if (groupSize === -1) throw invalid('BAD_ARGUMENT', 'groupSize', 'a group size (32, 64 or 128) for an act-order layer (gIdx)', groupSize);
    if (!isPositiveInteger(n) || n % N_MULTIPLE !== 0)
      throw invalid('BAD_SHAPE', 'outFeatures', `a positive multiple of ${N_MULTIPLE}`, n);
    const order = kernelOrder(gIdx, shape.groups, groupSize);
    return { k, n, format, kernelK: order.kernelK, kernelGroups: order.kernelK / groupSize, rows: order.rows, groupOf: order.groupOf };
  }
  checkWeightShape(k, n);
  return { k, n, format, kernelK: k, kernelGroups: scaleRows(k, groupSize) };
}

/** A value packLayerColumns cannot pack: q[index] or zeros[index] (in the quantized arrays) above 2^bits - 1. */
export interface PackFinding {
  what: 'q' | 'zeros';
  index: number;
  value: number;
}

export function packFindingError(f: PackFinding, bits: WeightBits): MarlinError {
  return invalid('BAD_ARGUMENT', `${f.what}[${f.index}]`, `a value in 0..${(1 << bits) - 1}`, f.value);
}

/** The packed arrays of a plan. */
export interface PackedArrays {
  packedWeights: Int32Array;
  packedScales: Uint16Array;
  packedZeros?: Int32Array;
}

/**
 * Packed arrays holding columns col0 .. col0 + stride - 1 of a layer (all
 * of them, stride n and col0 0, or a worker's share): per k16 block of
 * rows stride * bits / 2 words of weights, per group stride scales and
 * stride / 4 words of zero points, each in the Marlin order within its
 * 64-column units.
 */
export interface PackedOutput extends PackedArrays {
  stride: number;
  col0: number;
}

/**
 * Quantized arrays holding columns col0 .. col0 + stride - 1: (row, col) of
 * q at (row - row0) * stride + col - col0 (row0: q's first row, default 0:
 * a worker packing as it quantizes keeps one group of rows at a time),
 * (group, col) of the scales and zero points at group * stride + col - col0.
 */
export interface QuantizedSource {
  q: Uint8Array;
  scales: Uint16Array;
  zeros?: Uint8Array;
  stride: number;
  col0: number;
  row0?: number;
}

/** Elements of each packed array of a plan, for `columns` of its columns (default all). */
export function packedLengths(plan: LayerPlan, columns = plan.n): { weights: number; scales: number; zeros: number } {
  const { kernelK, kernelGroups, format } = plan;
  return { weights: (kernelK * columns * format.bits) / 32, scales: kernelGroups * columns, zeros: format.zeroPoints ? (kernelGroups * columns) / 4 : 0 };
}

/** The work packLayerColumns does over `width` columns, in progress() elements. */
export function packWork(plan: LayerPlan, width: number): number {
  return plan.kernelK * width;
}

/**
 * Packs columns [c0, c1) (whole 64-column units) of quantized `src` into
 * `out` (zeroed). Returns the first value that does not fit (weights in
 * row-major order, then zero points column by column), or undefined.
 */
export function packLayerColumns(
  plan: LayerPlan,
  src: QuantizedSource,
  out: PackedOutput,
  c0: number,
  c1: number,
  progress?: (elements: number) => void,
): PackFinding | undefined {
  return packWeightRows(plan, src, out, c0, c1, 0, plan.kernelK, progress) ?? packGroupColumns(plan, src, out, c0, c1);
}

/**
 * The weights of kernel rows [from, to) (multiples of 16) of columns
 * [c0, c1) into `out`: packLayerColumns without the scales and zero points.
 * Returns the first value that does not fit, or undefined.
 */
export function packWeightRows(
  plan: LayerPlan,
  src: QuantizedSource,
  out: PackedOutput,
  c0: number,
  c1: number,
  from: number,
  to: number,
  progress?: (elements: number) => void,
): PackFinding | undefined {
  const { n, kernelK, rows, groupOf } = plan;
  const row0 = src.row0 ?? 0;
  const { bits, groupSize } = plan.format;
  const max = (1 << bits) - 1;
  const groupRows = groupSize === -1 ? kernelK : groupSize;
  let symmetricRow: Uint8Array | undefined;
  // Where kernel row r's values are: q (its input row), the zero points of
  // its group (act-order padding: q = z is a weight of exactly 0), or a
  // row of the symmetric zero point; sources[i][offsets[i] + col].
  const sources = new Array<Uint8Array>(16);
  const offsets = new Int32Array(16);
  const sourceRows = new Int32Array(16);
  const blockWords = (out.stride * bits) / 2;
  const unitWords = 32 * bits;
  for (let block = from / 16; block < to / 16; block++) {
    for (let i = 0; i < 16; i++) {
      const r = 16 * block + i;
      const input = rows ? rows[r] : r;
      if (input >= 0) {
        sources[i] = src.q;
        sourceRows[i] = input;
      } else if (src.zeros) {
        sources[i] = src.zeros;
        sourceRows[i] = groupOf![(r / groupRows) | 0];
      } else {
        sources[i] = symmetricRow ??= new Uint8Array(src.stride).fill(symmetricZero(bits));
        sourceRows[i] = 0;
      }
      offsets[i] = (sourceRows[i] - (sources[i] === src.q ? row0 : 0)) * src.stride - src.col0;
    }
    const base = block * blockWords + ((c0 - out.col0) >> 6) * unitWords;
    if (!packWeightBlock(sources, offsets, bits, out.packedWeights, base, c0, c1)) {
      for (let i = 0; i < 16; i++) {
        const bad = firstAbove(sources[i], offsets[i] + c0, offsets[i] + c1, max);
        if (bad >= 0) return { what: sources[i] === src.q ? 'q' : 'zeros', index: sourceRows[i] * n + bad - offsets[i], value: sources[i][bad] };
      }
    }
    progress?.(16 * (c1 - c0));
  }
  return undefined;
}

/**
 * The scales and zero points of columns [c0, c1) of `src` into `out`
 * (zeroed), per kernel group (act-order: the input group's). Returns the
 * first zero point that does not fit, or undefined. packLayerColumns ends
 * with it; the repack (lib/repack.ts), which packs the weights elsewhere,
 * calls it alone.
 */
export function packGroupColumns(
  plan: LayerPlan,
  src: Omit<QuantizedSource, 'q'>,
  out: Omit<PackedOutput, 'packedWeights'>,
  c0: number,
  c1: number,
): PackFinding | undefined {
  const { n, kernelGroups, groupOf } = plan;
  const { bits, groupSize } = plan.format;
  const max = (1 << bits) - 1;
  for (let g = 0; g < kernelGroups; g++) {
    const from = (groupOf ? groupOf[g] : g) * src.stride - src.col0;
    const to = g * out.stride - out.col0;
    for (let col = c0; col < c1; col++) out.packedScales[to + scalePosition(col, groupSize)] = src.scales[from + col];
  }
  if (src.zeros && out.packedZeros) {
    const wordsPerRow = out.stride / 4;
    for (let col = c0; col < c1; col++) {
      const { word, shift } = zeroPosition(col);
      for (let g = 0; g < kernelGroups; g++) {
        const group = groupOf ? groupOf[g] : g;
        const v = src.zeros[group * src.stride + col - src.col0];
        if (v > max) return { what: 'zeros', index: group * n + col, value: v };
        out.packedZeros[g * wordsPerRow + word - out.col0 / 4] |= v << shift;
      }
    }
  }
  return undefined;
}

/**
 * Packs quantized weights (see quantize()) into the layout the kernels
 * read: any format, with zero points when `zeros` is given, act-order when
 * `gIdx` is. QuantizedLinear.fromQuantized uploads the result.
 */
export function packQuantized(quantized: QuantizedWeights): PackedLayer {
  const { bits, dtype, groups } = checkQuantized(quantized);
  const { inFeatures: k, outFeatures: n, groupSize, gIdx, zeros } = quantized;
  const plan = planLayer({ k, n, groupSize, bits, dtype, zeroPoints: zeros !== undefined, gIdx, groups });
  const lengths = packedLengths(plan);
  const layer: PackedLayer = {
    packedWeights: new Int32Array(lengths.weights),
    packedScales: new Uint16Array(lengths.scales),
    packedZeros: zeros ? new Int32Array(lengths.zeros) : undefined,
    rows: plan.rows,
    inFeatures: k,
    outFeatures: n,
    groupSize,
    bits,
    dtype,
  };
  const source = { q: quantized.q, scales: quantized.scales, zeros, stride: n, col0: 0 };
  const finding = packLayerColumns(plan, source, { ...(layer as PackedArrays), stride: n, col0: 0 }, 0, n);
  if (finding) throw packFindingError(finding, bits);
  return layer;
}
