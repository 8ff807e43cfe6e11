/**
 * The shape and format rules of the kernels and their packed layout, read
 * from the kernel table (lib/table.ts); the native launcher checks the same
 * numbers, generated from the same table.
 */
import { KERNEL_TABLE_FILE } from './table';
import { invalid, isPositiveInteger } from './validate';

/** inFeatures (k) must be a multiple of this (whole 128-deep k tiles and scale groups), except in act-order layers. */
export const K_MULTIPLE: number = KERNEL_TABLE_FILE.shape.kMultiple;
/** outFeatures (n) must be a multiple of this (64-column units of the Marlin layout). */
export const N_MULTIPLE: number = KERNEL_TABLE_FILE.shape.nMultiple;
/** The default scale group size (input features per scale). */
export const GROUP_SIZE = 128;
/** Scale group sizes the kernels take; -1 means one group per output column (per-channel). */
export const GROUP_SIZES: readonly GroupSize[] = Object.freeze(KERNEL_TABLE_FILE.formats.groupSizes as GroupSize[]);
/** Input features per scale (and zero point), or -1 for one per output feature (per-channel). */
export type GroupSize = 32 | 64 | 128 | -1;
/** Weight widths the kernels take. */
export const WEIGHT_BITS: readonly WeightBits[] = Object.freeze(KERNEL_TABLE_FILE.formats.bits as WeightBits[]);
/** Bits per weight. */
export type WeightBits = 4 | 8;

export function checkGroupSize(groupSize: unknown, name = 'groupSize'): GroupSize {
  if (!(GROUP_SIZES as readonly unknown[]).includes(groupSize))
    throw invalid('BAD_SHAPE', name, `one of ${GROUP_SIZES.join(', ')} (-1: per-channel)`, groupSize);
  return groupSize as GroupSize;
}

export function checkBits(bits: unknown, name = 'bits'): WeightBits {
  if (!(WEIGHT_BITS as readonly unknown[]).includes(bits)) throw invalid('BAD_ARGUMENT', name, WEIGHT_BITS.join(' or '), bits);
  return bits as WeightBits;
}

/**
 * Throws BAD_SHAPE unless k (the kernel's rows: inFeatures, unless `kName`
 * says otherwise) and n (outFeatures) are sizes the kernel supports.
 */
export function checkWeightShape(k: unknown, n: unknown, kName = 'inFeatures'): void {
  if (!isPositiveInteger(k) || k % K_MULTIPLE !== 0) throw invalid('BAD_SHAPE', kName, `a positive multiple of ${K_MULTIPLE}`, k);
  if (!isPositiveInteger(n) || n % N_MULTIPLE !== 0) throw invalid('BAD_SHAPE', 'outFeatures', `a positive multiple of ${N_MULTIPLE}`, n);
}

/** Rows of scales (and zero points): k / groupSize groups, or 1 per-channel. */
export function scaleRows(k: number, groupSize: GroupSize): number {
  return groupSize === -1 ? 1 : k / groupSize;
}
