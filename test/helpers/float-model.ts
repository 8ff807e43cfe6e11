/**
 * Tiny float model directories (Llama layout) for the quantize command's
 * tests, written with saveSafetensors (not the command's streaming writer):
 * config.json, one file or `shards` shards with an index, a tokenizer and
 * a generation config, and a 1-D bias on each q_proj. Returns every
 * tensor written, by name.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { INDEX_FILE, SINGLE_FILE, type TensorToWrite, saveSafetensors } from '../../lib/checkpoint/safetensors';
import { toHalves } from '../../lib/fp16';
import { uniform } from './random';

export interface FloatModelSpec {
  dtype: 'float16' | 'bfloat16';
  layers: number;
  hidden: number;
  intermediate: number;
  vocab: number;
  /** 1: model.safetensors; more: shards and an index. */
  shards: number;
}

export interface FloatTensor {
  dtype: 'F16' | 'BF16';
  shape: number[];
  data: Uint16Array;
}

export const LINEAR_NAMES = ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj'];

export async function writeFloatModel(dir: string, s: FloatModelSpec, random: () => number): Promise<Map<string, FloatTensor>> {
  const dtype = s.dtype === 'float16' ? 'F16' : 'BF16';
  const tensors = new Map<string, FloatTensor>();
  const add = (name: string, shape: number[], scale: number) => {
    const count = shape.reduce((a, b) => a * b, 1);
    tensors.set(name, { dtype, shape, data: toHalves(uniform(count, random, scale), s.dtype) });
  };
  add('model.embed_tokens.weight', [s.vocab, s.hidden], 1);
  for (let i = 0; i < s.layers; i++) {
    const p = `model.layers.${i}`;
    add(`${p}.input_layernorm.weight`, [s.hidden], 1);
    add(`${p}.post_attention_layernorm.weight`, [s.hidden], 1);
    for (const m of LINEAR_NAMES) {
      const [n, k] = m === 'mlp.down_proj' ? [s.hidden, s.intermediate] : m.startsWith('mlp.') ? [s.intermediate, s.hidden] : [s.hidden, s.hidden];
      add(`${p}.${m}.weight`, [n, k], 0.05 * (i + 1));
    }
    add(`${p}.self_attn.q_proj.bias`, [s.hidden], 0.1);
  }
  add('model.norm.weight', [s.hidden], 1);
  add('lm_head.weight', [s.vocab, s.hidden], 0.5);

  await fs.promises.mkdir(dir, { recursive: true });
  const names = [...tensors.keys()];
  const per = Math.ceil(names.length / s.shards);
  const weightMap: Record<string, string> = {};
  for (let i = 0; i < s.shards; i++) {
    const file = s.shards === 1 ? SINGLE_FILE : `model-${String(i + 1).padStart(5, '0')}-of-${String(s.shards).padStart(5, '0')}.safetensors`;
    const part: Record<string, TensorToWrite> = {};
    for (const name of names.slice(i * per, (i + 1) * per)) {
      part[name] = tensors.get(name)!;
      weightMap[name] = file;
    }
    await saveSafetensors(path.join(dir, file), part, { format: 'pt' });
  }
  if (s.shards > 1) await fs.promises.writeFile(path.join(dir, INDEX_FILE), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  const config = { architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: s.hidden, intermediate_size: s.intermediate, num_hidden_layers: s.layers, vocab_size: s.vocab, torch_dtype: s.dtype };
  await fs.promises.writeFile(path.join(dir, 'config.json'), JSON.stringify(config));
  await fs.promises.writeFile(path.join(dir, 'tokenizer.json'), '{"version": "1.0"}');
  await fs.promises.writeFile(path.join(dir, 'generation_config.json'), '{"bos_token_id": 1}');
  await fs.promises.writeFile(path.join(dir, 'README.md'), 'not copied');
  return tensors;
}
