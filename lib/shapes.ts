/**
 * The shape rules of the kernel and its packed format, in one place (the
 * native launcher checks the same numbers in csrc/kernels/gemm.h).
 */
import { invalid } from './validate';
import { isPositiveInteger } from './validate';

/** k must be a multiple of this (whole 128-deep pipeline stages and scale groups). */
export const K_MULTIPLE = 128;
/** n must be a multiple of this (64-column units of the Marlin layout). */
export const N_MULTIPLE = 64;
/** The scale group size; -1 means one scale per output column (per-channel). */
export const GROUP_SIZE = 128;
export type GroupSize = 128 | -1;

export function checkGroupSize(groupSize: unknown, name = 'groupSize'): GroupSize {
  if (groupSize !== 128 && groupSize !== -1) throw invalid('BAD_SHAPE', name, '128 or -1 (per-channel)', groupSize);
  return groupSize;
}

/** Throws BAD_SHAPE unless k and n are sizes the kernel supports. */
export function checkWeightShape(k: unknown, n: unknown): void {
  if (!isPositiveInteger(k) || k % K_MULTIPLE !== 0)
    throw invalid('BAD_SHAPE', 'k (input features)', `a positive multiple of ${K_MULTIPLE}`, k);
  if (!isPositiveInteger(n) || n % N_MULTIPLE !== 0)
    throw invalid('BAD_SHAPE', 'n (output features)', `a positive multiple of ${N_MULTIPLE}`, n);
}

/** Rows of scales: k / 128 groups, or 1 for per-channel scales. */
export function scaleRows(k: number, groupSize: GroupSize): number {
  return groupSize === -1 ? 1 : k / groupSize;
}
