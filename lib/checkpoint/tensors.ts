/**
 * What the converters share: the tensor type they take (what the
 * safetensors reader returns, or anything of that shape), checks of dtype
 * and shape with messages that name the layer and tensor, and the
 * decisions common to the formats (scale dtype, symmetric zero points,
 * trivial g_idx).
 */
import type { ActivationDType } from '../formats';
import { symmetricZero } from '../formats';
import type { QuantizedWeights } from '../quantize';
import type { GroupSize, WeightBits } from '../shapes';
import { isObject } from '../validate';
import { type SafetensorsDType, badCheckpoint, dtypeSize, isSafetensorsDType, typedView } from './safetensors';

/** A checkpoint tensor: dtype, row-major shape and little-endian data (e.g. a reader's Tensor). */
export interface CheckpointTensor {
  /** Element type. */
  dtype: SafetensorsDType;
  /** Dimensions, outermost first (row-major). */
  shape: readonly number[];
  /** The data, little-endian: exactly (product of shape) x element size bytes. */
  data: ArrayBufferView;
}

/**
 * A GPTQ or AWQ layer converted but for its weights: QuantizedWeights
 * without q, plus the stored qweight words and their layout. The CPU
 * converters unpack q from it; the repack (lib/repack.ts) packs the words
 * into the Marlin layout directly, on the GPU or the CPU.
 */
export interface CheckpointLayer extends Omit<QuantizedWeights, 'q' | 'bits' | 'dtype'> {
  /** 'gptq': [k * bits / 32, n] words packed along k; 'awq': [k, n * bits / 32] words interleaved along n. */
  layout: 'gptq' | 'awq';
  /** The stored qweight words, row-major in `layout`'s arrangement. */
  qweight: Int32Array;
  /** Bits per weight (4 or 8). */
  bits: WeightBits;
  /** Type of the scales (and of the layer's activations): 'bfloat16' for BF16 scales, else 'float16'. */
  dtype: ActivationDType;
}

/** Where a layer's tensors come from, for messages: the layer's name (its tensors' prefix) and the file or model. */
export interface LayerSource {
  /** The layer's name, the prefix of its tensors' names (default 'layer'). */
  name?: string;
  /** The checkpoint file or directory (default: the layer's name stands alone). */
  file?: string;
}

export function where(source: LayerSource): { layer: string; file: string } {
  const layer = source.name ?? 'layer';
  return { layer, file: source.file ?? layer };
}

/** Checks one tensor of a layer: present, one of `dtypes`, and of `shape` (null entries: any size). */
export function checkTensor(
  source: LayerSource,
  name: string,
  tensor: unknown,
  dtypes: readonly SafetensorsDType[],
  shape: ReadonlyArray<number | null>,
  hint = '',
): CheckpointTensor {
  const { layer, file } = where(source);
  const full = `${layer}.${name}`;
  if (tensor === undefined) throw badCheckpoint(file, `the layer has no ${name} tensor${hint}`, { tensor: full });
  if (!isObject(tensor) || !isSafetensorsDType(tensor.dtype) || !Array.isArray(tensor.shape) || !ArrayBuffer.isView(tensor.data))
    throw badCheckpoint(file, 'not a tensor { dtype, shape, data }', { tensor: full });
  const t = tensor as unknown as CheckpointTensor;
  const want = `${dtypes.join(' or ')} [${shape.map((d) => d ?? '?').join(', ')}]`;
  const got = `${t.dtype} [${t.shape.join(', ')}]`;
  if (!dtypes.includes(t.dtype) || t.shape.length !== shape.length || shape.some((d, i) => d !== null && d !== t.shape[i]))
    throw badCheckpoint(file, `expected ${want}${hint} but the checkpoint holds ${got}`, { tensor: full });
  const elements = t.shape.reduce((a, b) => a * b, 1);
  const size = dtypeSize(t.dtype);
  if (t.data.byteLength !== elements * size)
    throw badCheckpoint(file, `its data holds ${t.data.byteLength} bytes, not the ${elements * size} of ${got}`, { tensor: full });
  return t;
}

function bytes(t: CheckpointTensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** The int32 words of a tensor (a view when aligned). */
export function int32Words(t: CheckpointTensor): Int32Array {
  return typedView('I32', bytes(t));
}

/** The layer's activation dtype from its scales' dtype. */
export function scaleDtype(t: CheckpointTensor): ActivationDType {
  return t.dtype === 'BF16' ? 'bfloat16' : 'float16';
}

/** A copy of a scales tensor's 16-bit patterns (the result owns its data). */
export function scaleBits(t: CheckpointTensor): Uint16Array {
  return typedView('F16', bytes(t)).slice();
}

/** Whether every zero point is the symmetric one (the layer then loads as symmetric: same weights, faster kernel). */
export function allSymmetric(zeros: Uint8Array, bits: WeightBits): boolean {
  const z = symmetricZero(bits);
  for (let i = 0; i < zeros.length; i++) if (zeros[i] !== z) return false;
  return true;
}

/** Whether g_idx is row / groupSize for every row (or all 0 per-channel): no act-order needed. */
export function trivialGIdx(gIdx: Int32Array, groupSize: GroupSize): boolean {
  if (groupSize === -1) return gIdx.every((g) => g === 0);
  for (let i = 0; i < gIdx.length; i++) if (gIdx[i] !== Math.floor(i / groupSize)) return false;
  return true;
}

/** Rows of scales for k rows: ceil(k / groupSize), or 1 per-channel. */
export function groupCount(k: number, groupSize: GroupSize): number {
  return groupSize === -1 ? 1 : Math.ceil(k / groupSize);
}
