/**
 * Marlin-format checkpoint tensors of one linear layer (quant_method
 * marlin, or checkpoint_format marlin / is_marlin_format) -> QuantizedWeights
 * or straight to a PackedLayer. docs/formats.md ("Marlin format"): B I32
 * [k / 16, 2n] in the published Marlin layout (4-bit, symmetric), s
 * F16 [groups, n] in the Marlin scale order. That is the layout
 * lib/layout.ts packs, so the data needs no repacking: marlinToPacked()
 * hands it to fromPacked() as it is; marlinToQuantized() unpacks it for
 * callers that want q and scales in natural order.
 */
import type { PackedLayer } from '../linear';
import { unpackScales, unpackWeights } from '../layout';
import type { QuantizedWeights } from '../quantize';
import type { MarlinConfig } from './config';
import { badCheckpoint } from './safetensors';
import { type CheckpointTensor, type LayerSource, checkTensor, int32Words, scaleBits, scaleDtype, where } from './tensors';

/** The tensors of one Marlin-format layer, by their names in the checkpoint without the layer prefix. */
export interface MarlinTensors {
  /** I32 [k / 16, 2n]: 4-bit weights in the Marlin layout. */
  B: CheckpointTensor;
  /** F16 or BF16 [groups, n]: scales in the Marlin scale order. */
  s: CheckpointTensor;
}

function checked(tensors: MarlinTensors, config: MarlinConfig, source: LayerSource) {
  const { layer, file } = where(source);
  const B = checkTensor(source, 'B', tensors.B, ['I32'], [null, null], ' (4-bit Marlin layout: [k / 16, 2n])');
  const k = B.shape[0] * 16;
  const n = B.shape[1] / 2;
  if (!Number.isInteger(n) || n % 64 !== 0)
    throw badCheckpoint(file, `its ${B.shape[1]} words per row make n=${n}, not a multiple of 64 (the Marlin layout's unit)`, { tensor: `${layer}.B` });
  const { groupSize } = config;
  if (groupSize !== -1 && k % groupSize !== 0)
    throw badCheckpoint(file, `k=${k} input rows are not a whole number of groups of ${groupSize}`, { tensor: `${layer}.B` });
  const groups = groupSize === -1 ? 1 : k / groupSize;
  const s = checkTensor(source, 's', tensors.s, ['F16', 'BF16'], [groups, n], ` (k=${k}, group_size ${groupSize})`);
  return { B, s, k, n, groupSize };
}

/** The layer as QuantizedWeights ([k, n] q and natural-order scales; 4-bit symmetric). */
export function marlinToQuantized(tensors: MarlinTensors, config: MarlinConfig, source: LayerSource = {}): QuantizedWeights {
  const { B, s, k, n, groupSize } = checked(tensors, config, source);
  return {
    q: unpackWeights(int32Words(B), k, n, 4),
    scales: unpackScales(scaleBits(s), k, n, groupSize),
    inFeatures: k,
    outFeatures: n,
    groupSize,
    bits: 4,
    dtype: scaleDtype(s),
  };
}

/** The layer as it is stored, ready for QuantizedLinear.fromPacked (no repacking). */
export function marlinToPacked(tensors: MarlinTensors, config: MarlinConfig, source: LayerSource = {}): PackedLayer {
  const { B, s, k, n, groupSize } = checked(tensors, config, source);
  return {
    packedWeights: int32Words(B).slice(),
    packedScales: scaleBits(s),
    inFeatures: k,
    outFeatures: n,
    groupSize,
    bits: 4,
    dtype: scaleDtype(s),
  };
}
