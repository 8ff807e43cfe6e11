/**
 * AWQ (GEMM layout) checkpoint tensors of one linear layer ->
 * QuantizedWeights, on the CPU. docs/formats.md ("AWQ") is the
 * specification: qweight I32 [k, n / pf] packed along n, field j of word
 * [r, i] holding column i·pf + ORDER[j] (ORDER = [0, 2, 4, 6, 1, 3, 5, 7]
 * for 4 bits, [0, 2, 1, 3] for 8), qzeros I32 [groups, n / pf] the same
 * way, scales F16/BF16 [groups, n]; zero points always stored as they are.
 * Zero points that are all 2^(bits-1) load as symmetric (same weights).
 */
import type { QuantizedWeights } from '../quantize';
import type { AwqConfig } from './config';
import { badCheckpoint } from './safetensors';
import { type CheckpointLayer, type CheckpointTensor, type LayerSource, allSymmetric, checkTensor, int32Words, scaleBits, scaleDtype, where } from './tensors';

/** The tensors of one AWQ layer, by their names in the checkpoint without the layer prefix. */
export interface AwqTensors {
  /** I32 [k, n * bits / 32]: weights packed (interleaved) along n. */
  qweight: CheckpointTensor;
  /** I32 [groups, n * bits / 32]: zero points packed like qweight. */
  qzeros: CheckpointTensor;
  /** F16 or BF16 [groups, n]. */
  scales: CheckpointTensor;
}

/** Column (within its word's group of 32 / bits) held by each field of an AWQ word, lowest field first. */
export function awqOrder(bits: 4 | 8): readonly number[] {
  return bits === 4 ? [0, 2, 4, 6, 1, 3, 5, 7] : [0, 2, 1, 3];
}

/** [rows, n] values from [rows, n / pf] AWQ words. */
function unpackInterleaved(words: Int32Array, rows: number, n: number, bits: 4 | 8): Uint8Array {
  const pf = 32 / bits;
  const mask = (1 << bits) - 1;
  const order = awqOrder(bits);
  const out = new Uint8Array(rows * n);
  const perWord = new Int32Array(pf); // column offset of each field
  for (let j = 0; j < pf; j++) perWord[j] = order[j];
  for (let w = 0; w < (rows * n) / pf; w++) {
    const word = words[w];
    const base = w * pf; // words run along n, then rows: word w covers elements w·pf .. w·pf + pf - 1
    for (let j = 0; j < pf; j++) out[base + perWord[j]] = (word >>> (bits * j)) & mask;
  }
  return out;
}

/**
 * Converts one AWQ layer's tensors to QuantizedWeights ([k, n] q, scales
 * [groups, n], zero points unless they are all 2^(bits-1)).
 * `source` names the layer and file in error messages.
 */
export function awqToQuantized(tensors: AwqTensors, config: AwqConfig, source: LayerSource = {}): QuantizedWeights {
  const { qweight, layout: _, ...rest } = awqLayer(tensors, config, source);
  return { q: unpackInterleaved(qweight, rest.inFeatures, rest.outFeatures, rest.bits), ...rest };
}

/** One AWQ layer with everything converted but its weights (the stored qweight words): see gptqLayer. */
export function awqLayer(tensors: AwqTensors, config: AwqConfig, source: LayerSource = {}): CheckpointLayer {
  const { layer, file } = where(source);
  const { bits, groupSize } = config;
  const pf = 32 / bits;
  const qweight = checkTensor(source, 'qweight', tensors.qweight, ['I32'], [null, null], ` (${bits}-bit: [k, n / ${pf}])`);
  const k = qweight.shape[0];
  const n = qweight.shape[1] * pf;
  if (groupSize !== -1 && k % groupSize !== 0)
    throw badCheckpoint(file, `k=${k} input rows are not a whole number of groups of ${groupSize} (AWQ needs k % group_size = 0)`, { tensor: `${layer}.qweight` });
  const groups = groupSize === -1 ? 1 : k / groupSize;
  const scales = checkTensor(source, 'scales', tensors.scales, ['F16', 'BF16'], [groups, n], ` (k=${k}, group_size ${groupSize})`);
  const qzeros = checkTensor(source, 'qzeros', tensors.qzeros, ['I32'], [groups, n / pf]);
  let zeros: Uint8Array | undefined = unpackInterleaved(int32Words(qzeros), groups, n, bits);
  if (allSymmetric(zeros, bits)) zeros = undefined;
  const out: CheckpointLayer = {
    layout: 'awq',
    qweight: int32Words(qweight),
    scales: scaleBits(scales),
    inFeatures: k,
    outFeatures: n,
    groupSize,
    bits,
    dtype: scaleDtype(scales),
  };
  if (zeros) out.zeros = zeros;
  return out;
}
