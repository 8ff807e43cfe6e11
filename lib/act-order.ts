/**
 * Act-order layers: weights quantized in an order of their own, with the
 * group of each input row given by g_idx (GPTQ desc_act). The kernels read
 * groups of groupSize consecutive rows, so at load time the rows are sorted
 * by group into "kernel rows":
 *   - each group's rows, in input order, fill ceil(count / groupSize) kernel
 *     groups, which all take the group's scales (and zero points);
 *   - a kernel group left short is padded with rows of zero weight (q = z),
 *     as is the end, up to a multiple of K_MULTIPLE;
 *   - rows[r] is the input row of kernel row r, -1 for padding.
 * At run time x's columns are gathered in the same order (padding reads 0),
 * so x W is computed exactly, whatever g_idx holds. A g_idx that already
 * reads row / groupSize needs none of this (`trivialGroups`).
 */
import { symmetricZero } from './formats';
import type { QuantizedWeights } from './quantize';
import { type GroupSize, type WeightBits, K_MULTIPLE } from './shapes';

/** Whether gIdx assigns row i to group i / groupSize for every row (no reordering needed). */
export function trivialGroups(gIdx: Int32Array, groupSize: GroupSize): boolean {
  if (groupSize === -1) return gIdx.every((g) => g === 0);
  for (let i = 0; i < gIdx.length; i++) if (gIdx[i] !== ((i / groupSize) | 0)) return false;
  return true;
}

export interface KernelOrder {
  /** [kernelK] input row of each kernel row, -1 for padding. */
  rows: Int32Array;
  /** [kernelK / groupSize] input group of each kernel group. */
  groupOf: Int32Array;
  kernelK: number;
}

/** The kernel row order for `gIdx` (values 0..groups-1) and kernel groups of `groupSize` rows. */
export function kernelOrder(gIdx: Int32Array, groups: number, groupSize: number): KernelOrder {
  const counts = new Int32Array(groups);
  for (const g of gIdx) counts[g]++;
  let kernelGroups = 0;
  for (const c of counts) kernelGroups += Math.ceil(c / groupSize);
  const kernelK = Math.max(K_MULTIPLE, Math.ceil((kernelGroups * groupSize) / K_MULTIPLE) * K_MULTIPLE);
  const rows = new Int32Array(kernelK).fill(-1);
  const groupOf = new Int32Array(kernelK / groupSize);
  // First kernel row of each input group, then a stable placement by input row.
  const start = new Int32Array(groups);
  let next = 0;
  for (let g = 0; g < groups; g++) {
    start[g] = next;
    const spans = Math.ceil(counts[g] / groupSize);
    for (let s = 0; s < spans; s++) groupOf[next / groupSize + s] = g;
    next += spans * groupSize;
  }
  const filled = new Int32Array(groups);
  for (let row = 0; row < gIdx.length; row++) {
    const g = gIdx[row];
    rows[start[g] + filled[g]++] = row;
  }
  return { rows, groupOf, kernelK };
}

/**
 * The weights of `quantized` in kernel row order: q rows moved (padding q =
 * the zero point), scales and zero points repeated per kernel group.
 */
export function toKernelOrder(
  quantized: QuantizedWeights,
  bits: WeightBits,
  order: KernelOrder,
): { q: Uint8Array; scales: Uint16Array; zeros?: Uint8Array } {
  const { outFeatures: n } = quantized;
  const { rows, groupOf, kernelK } = order;
  const groupSize = kernelK / groupOf.length;
  const q = new Uint8Array(kernelK * n);
  const scales = new Uint16Array(groupOf.length * n);
  const zeros = quantized.zeros ? new Uint8Array(groupOf.length * n) : undefined;
  for (let kg = 0; kg < groupOf.length; kg++) {
    const src = groupOf[kg] * n;
    scales.set(quantized.scales.subarray(src, src + n), kg * n);
    zeros?.set(quantized.zeros!.subarray(src, src + n), kg * n);
  }
  for (let r = 0; r < kernelK; r++) {
    const dst = q.subarray(r * n, (r + 1) * n);
    const input = rows[r];
    if (input >= 0) dst.set(quantized.q.subarray(input * n, (input + 1) * n));
    else if (zeros) dst.set(zeros.subarray(((r / groupSize) | 0) * n, (((r / groupSize) | 0) + 1) * n));
    else dst.fill(symmetricZero(bits));
  }
  return zeros ? { q, scales, zeros } : { q, scales };
}
