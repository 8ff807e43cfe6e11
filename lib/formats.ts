/**
 * Weight formats: what a quantized layer stores and how the kernels read it.
 *
 * A weight q (an unsigned integer of `bits` bits) in row r, column c stands
 * for  w = (q - z) * s  with s = scale[group(r), c] and z the zero point:
 * stored per (group, column) when `zeroPoints` (AWQ, GPTQ sym=false), else
 * 2^(bits-1) (8 or 128; symmetric). group(r) = r / groupSize, or 0 when
 * groupSize is -1 (one scale per output column), or g_idx[r] for act-order
 * layers. Activations, scales and outputs share one 16-bit type, `dtype`;
 * the kernels accumulate in FP32.
 */
import { type GroupSize, type WeightBits, checkBits, checkGroupSize } from './shapes';
import { KERNEL_TABLE_FILE } from './table';
import { invalid, isObject } from './validate';

/** The 16-bit type of activations, scales and outputs. */
export type ActivationDType = 'float16' | 'bfloat16';

/** A weight format: activation type, bits per weight, group size, zero points. */
export interface WeightFormat {
  /** Activations, scales and outputs (default 'float16'). */
  dtype: ActivationDType;
  /** Bits per weight (default 4). */
  bits: WeightBits;
  /** Rows of k per scale group, or -1 for one group per column (default 128). */
  groupSize: GroupSize;
  /** Stored zero points (asymmetric); false: symmetric, z = 2^(bits-1) (default false). */
  zeroPoints: boolean;
}

/** FP16 activations, 4-bit symmetric weights, groups of 128: the format of the original MARLIN kernel. */
export const DEFAULT_FORMAT: Readonly<WeightFormat> = Object.freeze({
  dtype: 'float16',
  bits: 4,
  groupSize: 128,
  zeroPoints: false,
});

export const ACTIVATION_DTYPES: readonly ActivationDType[] = Object.freeze(
  KERNEL_TABLE_FILE.formats.activations as ActivationDType[],
);

export function checkActivationDType(dtype: unknown, name = 'dtype'): ActivationDType {
  if (!(ACTIVATION_DTYPES as readonly unknown[]).includes(dtype))
    throw invalid('BAD_DTYPE', name, ACTIVATION_DTYPES.map((d) => `'${d}'`).join(' or '), dtype);
  return dtype as ActivationDType;
}

/** A complete, checked format from a partial one (missing fields take the defaults). */
export function checkFormat(format: unknown = {}, name = 'format'): WeightFormat {
  if (!isObject(format)) throw invalid('BAD_ARGUMENT', name, 'a format object { dtype, bits, groupSize, zeroPoints }', format);
  const f = format as Partial<WeightFormat>;
  const zeroPoints = f.zeroPoints ?? DEFAULT_FORMAT.zeroPoints;
  if (typeof zeroPoints !== 'boolean') throw invalid('BAD_ARGUMENT', `${name}.zeroPoints`, 'a boolean', zeroPoints);
  return {
    dtype: checkActivationDType(f.dtype ?? DEFAULT_FORMAT.dtype, `${name}.dtype`),
    bits: checkBits(f.bits ?? DEFAULT_FORMAT.bits, `${name}.bits`),
    groupSize: checkGroupSize(f.groupSize ?? DEFAULT_FORMAT.groupSize, `${name}.groupSize`),
    zeroPoints,
  };
}

/** "float16/4-bit/g128/symmetric", as the native messages write it. */
export function describeFormat(f: WeightFormat): string {
  return `${f.dtype}/${f.bits}-bit/${f.groupSize === -1 ? 'per-column' : `g${f.groupSize}`}/${f.zeroPoints ? 'zero-points' : 'symmetric'}`;
}

/** The implicit zero point of symmetric formats. */
export function symmetricZero(bits: WeightBits): number {
  return 1 << (bits - 1);
}

/**
 * Whether the kernels run a format on scaled zero points (grouped formats
 * with zero points; csrc/kernels/common/format.h uses_scaled_zeros, which the
 * addon checks this against): per (group, column) zs = (2^(bits-1) - z) * s,
 * rounded once to the activation type, and each weight is
 * (q - 2^(bits-1)) * s + zs, rounded once more: it differs from the exact
 * (q - z) * s by at most half a unit in the last place of zs plus its own
 * final rounding (docs/formats.md).
 */
export function usesScaledZeros(format: WeightFormat): boolean {
  return format.zeroPoints && format.groupSize !== -1;
}
