/**
 * Round-to-nearest (RTN) quantization on the CPU, for every weight format.
 *
 * Weights W are [inFeatures, outFeatures] row-major ([k, n] in GEMM terms;
 * the layer computes y = x W). PyTorch's nn.Linear, and checkpoints of float
 * weights, store the transpose, [outFeatures, inFeatures]: pass those with
 * layout 'out-in'.
 * A weight becomes an unsigned q of `bits` bits with
 *   W ~ (q - z) * scale[group(row), col]
 * (see formats.ts). Per group:
 * - symmetric: scale = max|W| / (2^(bits-1) - 1/2), z = 2^(bits-1), so every
 *   weight is within scale / 2 of its value (the largest positive one is
 *   clipped by half a step);
 * - zero points (asymmetric, min/max): with lo = min(W, 0), hi = max(W, 0),
 *   scale = (hi - lo) / (2^bits - 1), z = round(-lo / scale).
 * Scales are rounded to the format's dtype (FP16 or BF16) before q is chosen.
 */
import type { MarlinError } from './errors';
import { type ActivationDType, checkActivationDType, symmetricZero } from './formats';
import { fromHalves } from './fp16';
import { type RtnFinding, type RtnProblem, matrixRows, quantizeColumns } from './rtn';
import { type GroupSize, type WeightBits, checkBits, checkGroupSize, scaleRows } from './shapes';
import { checkDimensionNames, invalid, isObject } from './validate';

/**
 * Weights quantized in one of the formats (see quantize()), in natural
 * order: what quantize() and the checkpoint converters return, and what
 * QuantizedLinear.fromQuantized() and packQuantized() take.
 */
export interface QuantizedWeights {
  /** [inFeatures, outFeatures] row-major values 0..2^bits - 1. */
  q: Uint8Array;
  /** [groups, outFeatures] 16-bit bit patterns of `dtype`, natural order. */
  scales: Uint16Array;
  /** [groups, outFeatures] zero points (0..2^bits - 1); absent: symmetric. */
  zeros?: Uint8Array;
  /** [inFeatures] group of each input row (act-order, any order); absent: row / groupSize. */
  gIdx?: Int32Array;
  /** Input features: rows of q, columns of x (k of the GEMM). */
  inFeatures: number;
  /** Output features: columns of q and of y (n of the GEMM). */
  outFeatures: number;
  /** Rows per group (or -1: one group per column). With gIdx, the size of the kernel's groups. */
  groupSize: GroupSize;
  /** Default 4. */
  bits?: WeightBits;
  /** Type of the scales (and of the layer's activations); default 'float16'. */
  dtype?: ActivationDType;
}

/**
 * How weights are laid out: 'in-out' is [inFeatures, outFeatures] row-major
 * (W of y = x W), 'out-in' is [outFeatures, inFeatures] (nn.Linear.weight, a
 * checkpoint's float weight), transposed before use.
 */
export type WeightLayout = 'in-out' | 'out-in';

/** How quantize() (and fromWeights(), quantizeAsync()) quantize: the format, and the order of the weights given. */
export interface QuantizeOptions {
  /** Order of the weights: 'in-out' ([inFeatures, outFeatures], the default) or 'out-in' (as nn.Linear and checkpoints store them). */
  layout?: WeightLayout;
  /** Rows per scale group, or -1 for one per column (default 128). */
  groupSize?: GroupSize;
  /** Bits per weight (default 4). */
  bits?: WeightBits;
  /** Asymmetric, with a zero point per group and column (default false). */
  zeroPoints?: boolean;
  /** Type of the scales and of the layer's activations (default 'float16'). */
  dtype?: ActivationDType;
  /** Group of each row, in any order (act-order); default row / groupSize. */
  gIdx?: Int32Array;
}

/** Checks the weights and dimensions given to quantize() and quantizeAsync(); k and n are inFeatures and outFeatures. */
export function checkWeightsArray(weights: unknown, k: number, n: number): ArrayLike<number> {
  if (weights instanceof Uint16Array)
    throw invalid(
      'BAD_DTYPE',
      'weights',
      'numbers (a Float32Array, Float64Array or array); FP16 bit patterns must be converted with fromHalf() first',
      weights,
    );
  const numeric =
    weights instanceof Float32Array || weights instanceof Float64Array || (Array.isArray(weights) && weights.every((v) => typeof v === 'number'));
  if (!numeric) throw invalid('BAD_DTYPE', 'weights', 'a Float32Array, Float64Array or array of numbers', weights);
  const w = weights as ArrayLike<number>;
  if (!Number.isSafeInteger(k) || k <= 0) throw invalid('BAD_SHAPE', 'inFeatures', 'a positive integer', k);
  if (!Number.isSafeInteger(n) || n <= 0) throw invalid('BAD_SHAPE', 'outFeatures', 'a positive integer', n);
  if (w.length !== k * n) throw invalid('BAD_SHAPE', 'weights', `${k * n} values (inFeatures ${k} x outFeatures ${n})`, w);
  return w;
}

/** The group of every row and the number of groups. */
export function rowGroups(k: number, groupSize: GroupSize, gIdx: Int32Array | undefined): { group: Int32Array; groups: number } {
  if (gIdx !== undefined) {
    if (!(gIdx instanceof Int32Array)) throw invalid('BAD_DTYPE', 'gIdx', 'an Int32Array', gIdx);
    if (gIdx.length !== k) throw invalid('BAD_SHAPE', 'gIdx', `${k} entries (one per input feature)`, gIdx);
    let groups = 0;
    for (let i = 0; i < k; i++) {
      if (gIdx[i] < 0) throw invalid('BAD_ARGUMENT', `gIdx[${i}]`, 'a group index >= 0', gIdx[i]);
      groups = Math.max(groups, gIdx[i] + 1);
    }
    return { group: gIdx, groups };
  }
  if (groupSize !== -1 && k % groupSize !== 0) throw invalid('BAD_SHAPE', 'inFeatures', `a multiple of the group size ${groupSize}`, k);
  const group = new Int32Array(k);
  if (groupSize !== -1) for (let i = 0; i < k; i++) group[i] = (i / groupSize) | 0;
  return { group, groups: scaleRows(k, groupSize) };
}

export function quantizeOptions(arg: GroupSize | QuantizeOptions | undefined): Required<Omit<QuantizeOptions, 'gIdx'>> & { gIdx?: Int32Array } {
  const o: QuantizeOptions = arg === undefined ? {} : isObject(arg) ? arg : { groupSize: arg as GroupSize };
  const zeroPoints = o.zeroPoints ?? false;
  if (typeof zeroPoints !== 'boolean') throw invalid('BAD_ARGUMENT', 'zeroPoints', 'a boolean', zeroPoints);
  const layout = o.layout ?? 'in-out';
  if (layout !== 'in-out' && layout !== 'out-in')
    throw invalid('BAD_ARGUMENT', 'layout', "'in-out' ([inFeatures, outFeatures]) or 'out-in' ([outFeatures, inFeatures], as nn.Linear stores it)", layout);
  return {
    layout,
    groupSize: checkGroupSize(o.groupSize ?? 128),
    bits: checkBits(o.bits ?? 4),
    zeroPoints,
    dtype: checkActivationDType(o.dtype ?? 'float16'),
    gIdx: o.gIdx,
  };
}

/** [cols, rows] row-major from [rows, cols] row-major. */
function transposed(w: ArrayLike<number>, rows: number, cols: number): Float32Array | Float64Array {
  const out = w instanceof Float32Array ? new Float32Array(w.length) : new Float64Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0, i = r * cols; c < cols; c++, i++) out[c * rows + r] = w[i];
  return out;
}

/**
 * The MarlinError for a problem quantizeColumns found. With `outInK` (the k
 * of weights given as [n, k], layout 'out-in') a weight is named by its
 * index in the array the caller gave.
 */
export function findingError(f: RtnFinding, n: number, dtype: ActivationDType, outInK?: number): MarlinError {
  if (f.kind === 'weight') {
    const row = Math.floor(f.index / n);
    const col = f.index % n;
    const name =
      outInK === undefined
        ? `weights[${f.index}] (row ${row}, column ${col})`
        : `weights[${col * outInK + row}] (output ${col}, input ${row}; layout 'out-in')`;
    return invalid('BAD_ARGUMENT', name, 'a finite number', f.value);
  }
  return invalid(
    'BAD_ARGUMENT',
    'weights',
    `values whose scales fit ${dtype} (group ${Math.floor(f.index / n)}, column ${f.index % n} needs ${f.raw.toExponential(3)})`,
    `a range of ${f.range.toExponential(3)}`,
  );
}

/**
 * Quantizes weights with RTN: [inFeatures, outFeatures] (layout 'in-out',
 * the default) or [outFeatures, inFeatures] (layout 'out-in', as nn.Linear
 * and checkpoints store them). The fourth argument is the group size (as in
 * earlier versions) or the options. Holds the calling thread for the whole
 * layer (about 20 ns a weight); quantizeAsync() does the same work on worker
 * threads.
 */
export function quantize(weights: ArrayLike<number>, inFeatures: number, outFeatures: number, opts?: GroupSize | QuantizeOptions): QuantizedWeights {
  const k = inFeatures;
  const n = outFeatures;
  const o = quantizeOptions(opts);
  const given = checkWeightsArray(weights, k, n);
  const outIn = o.layout === 'out-in';
  const oriented = outIn ? transposed(given, n, k) : given;
  const w = oriented instanceof Float32Array || oriented instanceof Float64Array ? oriented : Float64Array.from(oriented);
  const { group, groups } = rowGroups(k, o.groupSize, o.gIdx);
  const out: QuantizedWeights = {
    q: new Uint8Array(k * n),
    scales: new Uint16Array(groups * n),
    inFeatures: k,
    outFeatures: n,
    groupSize: o.groupSize,
    bits: o.bits,
    dtype: o.dtype,
  };
  if (o.zeroPoints) out.zeros = new Uint8Array(groups * n);
  const problem: RtnProblem = { k, n, bits: o.bits, zeroPoints: o.zeroPoints, dtype: o.dtype, group, groups };
  const finding = quantizeColumns(matrixRows(w, n), problem, { q: out.q, scales: out.scales, zeros: out.zeros, stride: n, col0: 0 }, 0, n);
  if (finding) throw findingError(finding, n, o.dtype, outIn ? k : undefined);
  if (o.gIdx) out.gIdx = o.gIdx;
  return out;
}

/** Checks a QuantizedWeights and returns its group count and format fields with defaults. */
export function checkQuantized(quantized: QuantizedWeights): {
  bits: WeightBits;
  dtype: ActivationDType;
  groups: number;
  group: Int32Array;
} {
  if (!isObject(quantized)) throw invalid('BAD_ARGUMENT', 'quantized', 'a QuantizedWeights object', quantized);
  checkDimensionNames(quantized, 'quantized');
  const { q, scales, zeros, inFeatures: k, outFeatures: n } = quantized;
  const bits = checkBits(quantized.bits ?? 4, 'quantized.bits');
  const dtype = checkActivationDType(quantized.dtype ?? 'float16', 'quantized.dtype');
  const groupSize = checkGroupSize(quantized.groupSize, 'quantized.groupSize');
  if (!Number.isSafeInteger(k) || k <= 0) throw invalid('BAD_SHAPE', 'quantized.inFeatures', 'a positive integer', k);
  if (!Number.isSafeInteger(n) || n <= 0) throw invalid('BAD_SHAPE', 'quantized.outFeatures', 'a positive integer', n);
  if (!(q instanceof Uint8Array)) throw invalid('BAD_DTYPE', 'quantized.q', 'a Uint8Array', q);
  if (q.length !== k * n) throw invalid('BAD_SHAPE', 'quantized.q', `${k * n} values ([inFeatures ${k}, outFeatures ${n}])`, q);
  if (!(scales instanceof Uint16Array)) throw invalid('BAD_DTYPE', 'quantized.scales', `a Uint16Array of ${dtype} bit patterns`, scales);
  const { group, groups } = rowGroups(k, groupSize, quantized.gIdx);
  if (quantized.gIdx !== undefined && scales.length % n === 0 && scales.length / n < groups) {
    const row = quantized.gIdx.findIndex((g) => g >= scales.length / n);
    throw invalid('BAD_ARGUMENT', `quantized.gIdx[${row}]`, `a group below ${scales.length / n} (the scales hold ${scales.length / n} groups)`, quantized.gIdx[row]);
  }
  if (scales.length !== groups * n) throw invalid('BAD_SHAPE', 'quantized.scales', `${groups * n} values ([${groups} groups, outFeatures ${n}])`, scales);
  if (zeros !== undefined) {
    if (!(zeros instanceof Uint8Array)) throw invalid('BAD_DTYPE', 'quantized.zeros', 'a Uint8Array', zeros);
    if (zeros.length !== groups * n) throw invalid('BAD_SHAPE', 'quantized.zeros', `${groups * n} values ([${groups} groups, outFeatures ${n}])`, zeros);
  }
  return { bits, dtype, groups, group };
}

/** The [inFeatures, outFeatures] weights that `quantized` stands for, (q - z) * scale in float64. */
export function dequantize(quantized: QuantizedWeights): Float64Array {
  const { bits, dtype, group } = checkQuantized(quantized);
  const { q, zeros, inFeatures: k, outFeatures: n } = quantized;
  const s = fromHalves(quantized.scales, dtype);
  const out = new Float64Array(k * n);
  for (let row = 0; row < k; row++) {
    const base = group[row] * n;
    for (let col = 0, i = row * n; col < n; col++, i++)
      out[i] = (q[i] - (zeros ? zeros[base + col] : symmetricZero(bits))) * s[base + col];
  }
  return out;
}
