/**
 * Tiny quantized model directories for the loader's tests: a few quantized
 * layers of one format (written by checkpoint-formats.ts from known
 * weights) plus the tensors a Llama-style checkpoint has besides them
 * (embeddings, norms, a bias, an F32 and an I64 tensor), single-file or
 * sharded with one layer's tensors split across shards.
 */
import { toHalves } from '../../lib/fp16';
import { awqConfig, awqTensors, gptqConfig, gptqTensors, marlinConfig, marlinTensors } from './checkpoint-formats';
import { type FormatCase, type FormatLayerData, randomFormatLayer } from './format-reference';
import { type RawTensor, bytesOf, writeModelDir } from './safetensors-bytes';

export interface TinyModelCase extends FormatCase {
  title: string;
  method: 'gptq' | 'awq' | 'marlin';
  /** GPTQ checkpoint_format (default gptq: v1 zero points). */
  format?: 'gptq' | 'gptq_v2';
}

export const TINY_LAYERS = ['model.layers.0.self_attn.q_proj', 'model.layers.0.mlp.down_proj', 'model.layers.1.mlp.up_proj'];

/** The tensors that are not quantized layers: name, dtype, shape, bytes. */
export function plainTensors(dtype: 'float16' | 'bfloat16', random: () => number): RawTensor[] {
  const st = dtype === 'bfloat16' ? 'BF16' : 'F16';
  const halves = (count: number) => bytesOf(toHalves(Array.from({ length: count }, () => random() * 2 - 1), dtype));
  return [
    { name: 'model.embed_tokens.weight', dtype: st, shape: [32, 64], bytes: halves(32 * 64) },
    { name: 'model.norm.weight', dtype: st, shape: [64], bytes: halves(64) },
    { name: `${TINY_LAYERS[1]}.bias`, dtype: st, shape: [64], bytes: halves(64) },
    { name: 'lm_head.scale', dtype: 'F32', shape: [2, 3], bytes: bytesOf(Float32Array.from([1, -2, 3.5, 0.25, 7, -0.125])) },
    { name: 'model.rotary.inv_freq_steps', dtype: 'I64', shape: [3], bytes: bytesOf(BigInt64Array.from([1n, 2n, 3n])) },
  ];
}

export interface TinyModel {
  dir: string;
  layers: Map<string, FormatLayerData>;
  plain: RawTensor[];
  config: Record<string, unknown>;
}

/** Writes a tiny model of case `c` into `dir` (sharded into 3 files, or one). */
export function writeTinyModel(dir: string, c: TinyModelCase, sharded: boolean, random: () => number, extra: RawTensor[] = []): TinyModel {
  const layers = new Map<string, FormatLayerData>();
  const tensors: RawTensor[] = [];
  for (const name of TINY_LAYERS) {
    const data = randomFormatLayer(c, random);
    layers.set(name, data);
    const w = data.quantized;
    if (c.method === 'gptq') tensors.push(...gptqTensors(name, w, { convention: c.format === 'gptq_v2' ? 'v2' : 'v1' }));
    else if (c.method === 'awq') tensors.push(...awqTensors(name, w));
    else tensors.push(...marlinTensors(name, w), { name: `${name}.workspace`, dtype: 'I32', shape: [16], bytes: new Uint8Array(64) });
  }
  const plain = plainTensors(c.dtype, random);
  tensors.push(...plain, ...extra);
  const config =
    c.method === 'gptq'
      ? gptqConfig({ bits: c.bits, groupSize: c.groupSize, sym: !c.zeroPoints, descAct: c.actOrder !== undefined, format: c.format })
      : c.method === 'awq'
        ? awqConfig(c)
        : marlinConfig(c);
  config.architectures = ['LlamaForCausalLM'];
  // Round-robin over 3 shards puts each layer's tensors in different files.
  writeModelDir(dir, config, tensors, sharded ? 3 : 1);
  return { dir, layers, plain, config };
}
