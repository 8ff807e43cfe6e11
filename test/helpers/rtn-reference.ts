/**
 * Independent references for the fast loops of lib/rtn.ts and
 * lib/pack-layer.ts: RTN written the straightforward way (one element at a
 * time, Math.round), and the packing of a layer as fromQuantized composed it
 * before (a reordered copy of q for act-order, then packWeights,
 * packScales and packZeros).
 */
import { kernelOrder, toKernelOrder, trivialGroups } from '../../lib/act-order';
import { type ActivationDType, symmetricZero } from '../../lib/formats';
import { fromHalves, toHalves } from '../../lib/fp16';
import { packScales, packWeights, packZeros } from '../../lib/layout';
import { type QuantizedWeights, checkQuantized } from '../../lib/quantize';
import { type GroupSize, type WeightBits, scaleRows } from '../../lib/shapes';

export interface ReferenceFormat {
  dtype: ActivationDType;
  bits: WeightBits;
  zeroPoints: boolean;
  groupSize: GroupSize;
  gIdx?: Int32Array;
}

/** q, scales and zero points of RTN, element by element (weights finite, scales in range). */
export function referenceRtn(w: ArrayLike<number>, k: number, n: number, f: ReferenceFormat): { q: Uint8Array; scales: Uint16Array; zeros?: Uint8Array } {
  const group = (row: number): number => (f.gIdx ? f.gIdx[row] : f.groupSize === -1 ? 0 : Math.floor(row / f.groupSize));
  let groups = 0;
  for (let row = 0; row < k; row++) groups = Math.max(groups, group(row) + 1);
  const maxq = 2 ** f.bits - 1;
  const lo = new Float64Array(groups * n);
  const hi = new Float64Array(groups * n);
  for (let row = 0; row < k; row++)
    for (let col = 0; col < n; col++) {
      const i = group(row) * n + col;
      lo[i] = Math.min(lo[i], w[row * n + col]);
      hi[i] = Math.max(hi[i], w[row * n + col]);
    }
  const raw = Array.from(lo, (l, i) => (f.zeroPoints ? (hi[i] - l) / maxq : Math.max(hi[i], -l) / (symmetricZero(f.bits) - 0.5)));
  const scales = toHalves(raw, f.dtype);
  const s = fromHalves(scales, f.dtype);
  const zeros = f.zeroPoints ? Uint8Array.from(s, (scale, i) => (scale > 0 ? Math.min(maxq, Math.max(0, Math.round(-lo[i] / scale))) : 0)) : undefined;
  const q = new Uint8Array(k * n);
  for (let row = 0; row < k; row++)
    for (let col = 0; col < n; col++) {
      const i = group(row) * n + col;
      const z = zeros ? zeros[i] : symmetricZero(f.bits);
      const step = s[i] > 0 ? Math.round(w[row * n + col] / s[i]) + z : z;
      q[row * n + col] = Math.min(maxq, Math.max(0, step));
    }
  return zeros ? { q, scales, zeros } : { q, scales };
}

/** The packed arrays of a layer as fromQuantized built them before packQuantized. */
export function referencePack(quantized: QuantizedWeights): { packedWeights: Int32Array; packedScales: Uint16Array; packedZeros?: Int32Array; rows?: Int32Array } {
  const { bits, groups } = checkQuantized(quantized);
  const { inFeatures: k, outFeatures: n, groupSize, gIdx } = quantized;
  if (gIdx && !trivialGroups(gIdx, groupSize)) {
    const order = kernelOrder(gIdx, groups, groupSize);
    const kernel = toKernelOrder(quantized, bits, order);
    return {
      packedWeights: packWeights(kernel.q, order.kernelK, n, bits),
      packedScales: packScales(kernel.scales, order.kernelK, n, groupSize),
      packedZeros: kernel.zeros ? packZeros(kernel.zeros, order.kernelK / groupSize, n, bits) : undefined,
      rows: order.rows,
    };
  }
  return {
    packedWeights: packWeights(quantized.q, k, n, bits),
    packedScales: packScales(quantized.scales, k, n, groupSize),
    packedZeros: quantized.zeros ? packZeros(quantized.zeros, scaleRows(k, groupSize), n, bits) : undefined,
  };
}
