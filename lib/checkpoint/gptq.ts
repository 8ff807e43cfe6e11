/**
 * GPTQ checkpoint tensors of one linear layer -> QuantizedWeights, on the
 * CPU. docs/formats.md ("GPTQ") is the specification: qweight I32
 * [k / pf, n] packed along k (row i·pf + j in bits bits·j of word [i, c]),
 * qzeros I32 [groups, n / pf] packed along n, scales F16/BF16 [groups, n],
 * g_idx I32 [k]; pf = 32 / bits. Zero points are stored minus one in the
 * v1 convention, read back as GPTQModel does by adding 0x11111111 (4 bits)
 * or 0x01010101 (8 bits) to each word; as they are in v2.
 *
 * What the stored tensors say wins over the config's flags: zero points
 * that are all 2^(bits-1) load as symmetric (else with zero points, even
 * under sym: true), and g_idx is used whenever it is not row / group_size
 * (whatever desc_act says). Nothing is transposed: GPTQ's tensors already
 * put k first.
 */
import type { QuantizedWeights } from '../quantize';
import type { GptqConfig } from './config';
import { badCheckpoint } from './safetensors';
import {
  type CheckpointLayer,
  type CheckpointTensor,
  type LayerSource,
  allSymmetric,
  checkTensor,
  groupCount,
  int32Words,
  scaleBits,
  scaleDtype,
  trivialGIdx,
  where,
} from './tensors';

/** The tensors of one GPTQ layer, by their names in the checkpoint without the layer prefix. */
export interface GptqTensors {
  /** I32 [k * bits / 32, n]: weights packed along k. */
  qweight: CheckpointTensor;
  /** Absent: symmetric (only with sym: true). */
  qzeros?: CheckpointTensor;
  /** F16 or BF16 [groups, n]. */
  scales: CheckpointTensor;
  /** Absent: row / group_size. */
  g_idx?: CheckpointTensor;
}

/** What is added to each qzeros word of a v1 checkpoint: one to every field, carries included. */
export function v1ZeroOffset(bits: 4 | 8): number {
  return bits === 4 ? 0x11111111 : 0x01010101;
}

/** The [k, n] q values of a qweight tensor packed along k. */
function unpackAlongK(words: Int32Array, k: number, n: number, bits: 4 | 8): Uint8Array {
  const pf = 32 / bits;
  const mask = (1 << bits) - 1;
  const q = new Uint8Array(k * n);
  for (let i = 0; i < k / pf; i++) {
    const row = words.subarray(i * n, (i + 1) * n);
    for (let j = 0; j < pf; j++) {
      const shift = bits * j;
      const out = (i * pf + j) * n;
      for (let c = 0; c < n; c++) q[out + c] = (row[c] >>> shift) & mask;
    }
  }
  return q;
}

/** The [groups, n] zero points of a qzeros tensor packed along n, `offset` added to each word first. */
function unpackZeros(words: Int32Array, groups: number, n: number, bits: 4 | 8, offset: number): Uint8Array {
  const pf = 32 / bits;
  const mask = (1 << bits) - 1;
  const zeros = new Uint8Array(groups * n);
  for (let w = 0; w < (groups * n) / pf; w++) {
    const word = (words[w] + offset) | 0;
    for (let j = 0; j < pf; j++) zeros[w * pf + j] = (word >>> (bits * j)) & mask;
  }
  return zeros;
}

/** g_idx as int32 (I32 or I64 in the checkpoint), each value checked against the group count. */
function readGIdx(t: CheckpointTensor, groups: number, source: LayerSource): Int32Array {
  const { layer, file } = where(source);
  const view = t.dtype === 'I64' ? new BigInt64Array(t.data.buffer, t.data.byteOffset, t.data.byteLength / 8) : int32Words(t);
  const out = new Int32Array(view.length);
  for (let r = 0; r < view.length; r++) {
    const g = Number(view[r]);
    if (!(g >= 0 && g < groups))
      throw badCheckpoint(file, `row ${r} is in group ${g}, outside 0..${groups - 1} (the scales hold ${groups} groups)`, { tensor: `${layer}.g_idx` });
    out[r] = g;
  }
  return out;
}

/**
 * Converts one GPTQ layer's tensors to QuantizedWeights ([k, n] q, scales
 * [groups, n], zero points unless symmetric, gIdx for act-order).
 * `source` names the layer and file in error messages.
 */
export function gptqToQuantized(tensors: GptqTensors, config: GptqConfig, source: LayerSource = {}): QuantizedWeights {
  const { qweight, layout: _, ...rest } = gptqLayer(tensors, config, source);
  return { q: unpackAlongK(qweight, rest.inFeatures, rest.outFeatures, rest.bits), ...rest };
}

/**
 * One GPTQ layer with everything converted but its weights, which stay the
 * stored qweight words (for the repack, lib/repack.ts): the checks,
 * decisions and small arrays of gptqToQuantized, which adds q to them.
 */
export function gptqLayer(tensors: GptqTensors, config: GptqConfig, source: LayerSource = {}): CheckpointLayer {
  const { file } = where(source);
  const { bits, groupSize } = config;
  const pf = 32 / bits;
  const qweight = checkTensor(source, 'qweight', tensors.qweight, ['I32'], [null, null], ` (${bits}-bit: [k / ${pf}, n])`);
  const k = qweight.shape[0] * pf;
  const n = qweight.shape[1];
  const groups = groupCount(k, groupSize);
  const scales = checkTensor(source, 'scales', tensors.scales, ['F16', 'BF16'], [groups, n], ` (k=${k}, group_size ${groupSize})`);
  let zeros: Uint8Array | undefined;
  if (tensors.qzeros !== undefined) {
    if (n % pf !== 0) throw badCheckpoint(file, `n=${n} output features do not fill whole ${bits}-bit qzeros words (${pf} each)`, { tensor: `${where(source).layer}.qzeros` });
    const qzeros = checkTensor(source, 'qzeros', tensors.qzeros, ['I32'], [groups, n / pf]);
    zeros = unpackZeros(int32Words(qzeros), groups, n, bits, config.zeroConvention === 'v1' ? v1ZeroOffset(bits) : 0);
    if (allSymmetric(zeros, bits)) zeros = undefined;
  } else if (!config.sym) {
    checkTensor(source, 'qzeros', undefined, ['I32'], [groups, n / pf], ' (sym is false: zero points must be stored)');
  }

  let gIdx: Int32Array | undefined;
  if (tensors.g_idx !== undefined) gIdx = readGIdx(checkTensor(source, 'g_idx', tensors.g_idx, ['I32', 'I64'], [k]), groups, source);
  const whole = groupSize === -1 || k % groupSize === 0;
  if (gIdx && whole && trivialGIdx(gIdx, groupSize)) gIdx = undefined;
  if (!gIdx && !whole) gIdx = Int32Array.from({ length: k }, (_, r) => Math.floor(r / groupSize)); // a short last group
  let s = scaleBits(scales);
  if (gIdx) {
    // Groups past the last one any row uses carry nothing: drop them.
    const used = gIdx.reduce((m, g) => Math.max(m, g + 1), 0);
    if (used < groups) {
      s = s.slice(0, used * n);
      zeros = zeros?.slice(0, used * n);
    }
  }

  const out: CheckpointLayer = {
    layout: 'gptq',
    qweight: int32Words(qweight),
    scales: s,
    inFeatures: k,
    outFeatures: n,
    groupSize,
    bits,
    dtype: scaleDtype(scales),
  };
  if (zeros) out.zeros = zeros;
  if (gIdx) out.gIdx = gIdx;
  return out;
}
