/**
 * Quantized checkpoints on the CPU: safetensors files, the quantization
 * config, and converters from each format's tensors of one linear layer
 * to QuantizedWeights (docs/formats.md). Nothing here loads the native
 * addon; QuantizedLinear.fromGptq / fromAwq / fromMarlin upload the result.
 *
 * A whole-model loader (and a GPU repack kernel) build on these pieces:
 * quantizedLayerNames() finds the layers, readQuantizedLayer() reads and
 * converts one at a time.
 */
import type { QuantizedWeights } from '../quantize';
import { type AwqTensors, awqToQuantized } from './awq';
import { type QuantizationConfig, parseQuantizationConfig } from './config';
import { type GptqTensors, gptqToQuantized } from './gptq';
import { type MarlinTensors, marlinToQuantized } from './marlin';
import type { Tensor } from './safetensors';
import type { CheckpointTensor, LayerSource } from './tensors';

export * from './safetensors';
export { SafetensorsWriter } from './writer';
export * from './config';
export { type CheckpointLayer, type CheckpointTensor, type LayerSource } from './tensors';
export { type GptqTensors, gptqLayer, gptqToQuantized, v1ZeroOffset } from './gptq';
export { type AwqTensors, awqLayer, awqOrder, awqToQuantized } from './awq';
export { type MarlinTensors, marlinToPacked, marlinToQuantized } from './marlin';

/** The tensors of a quantized layer in each format: suffixes after the layer's name. */
export const LAYER_TENSORS = Object.freeze({
  /** GPTQ: qweight, qzeros (optional when symmetric), scales, g_idx (optional). */
  gptq: Object.freeze(['qweight', 'qzeros', 'scales', 'g_idx']),
  /** AWQ: qweight, qzeros, scales. */
  awq: Object.freeze(['qweight', 'qzeros', 'scales']),
  /** Marlin format: B (packed weights), s (scales). */
  marlin: Object.freeze(['B', 's']),
} as const);

/** Tensor suffix that marks a quantized linear layer in each format. */
const MARKER = { gptq: 'qweight', awq: 'qweight', marlin: 'B' } as const;

/** Names of the quantized linear layers among tensor names (e.g. 'model.layers.0.mlp.down_proj'), in order. */
export function quantizedLayerNames(tensorNames: Iterable<string>, config: unknown): string[] {
  const suffix = `.${MARKER[parseQuantizationConfig(config).kind]}`;
  const out: string[] = [];
  for (const name of tensorNames) if (name.endsWith(suffix)) out.push(name.slice(0, -suffix.length));
  return out;
}

/** Converts one layer's tensors (suffix -> tensor) in the config's format to QuantizedWeights. */
export function toQuantized(tensors: Readonly<Record<string, CheckpointTensor | undefined>>, config: unknown, source: LayerSource = {}): QuantizedWeights {
  const c = parseQuantizationConfig(config);
  switch (c.kind) {
    case 'gptq':
      return gptqToQuantized(tensors as unknown as GptqTensors, c, source);
    case 'awq':
      return awqToQuantized(tensors as unknown as AwqTensors, c, source);
    case 'marlin':
      return marlinToQuantized(tensors as unknown as MarlinTensors, c, source);
  }
}

/** Anything tensors can be read from by name: a SafetensorsModel or SafetensorsFile. */
export interface TensorSource {
  /** The checkpoint file or directory, named in error messages. */
  readonly path: string;
  /** Whether a tensor of this name is here. */
  has(name: string): boolean;
  /** Reads the tensor of this name. */
  read(name: string): Promise<Tensor>;
}

/** Reads the tensors of layer `name` that the format uses (those present), one at a time. */
export async function readLayerTensors(from: TensorSource, name: string, config: unknown): Promise<Record<string, Tensor>> {
  const out: Record<string, Tensor> = {};
  for (const suffix of LAYER_TENSORS[parseQuantizationConfig(config).kind]) {
    const full = `${name}.${suffix}`;
    if (from.has(full)) out[suffix] = await from.read(full);
  }
  return out;
}

/** Reads and converts one quantized layer of a checkpoint; errors name the file and the tensor. */
export async function readQuantizedLayer(from: TensorSource, name: string, config: unknown): Promise<QuantizedWeights> {
  const parsed: QuantizationConfig = parseQuantizationConfig(config);
  return toQuantized(await readLayerTensors(from, name, parsed), parsed, { name, file: from.path });
}
