/**
 * `npm run make-float-model -- <out-dir> [--layers N] [--dtype float16|bfloat16]
 *   [--hidden H] [--intermediate I] [--vocab V] [--max-shard-size BYTES]`
 *
 * Writes a synthetic float model directory with Llama-2-7B's shapes by
 * default (hidden 4096, intermediate 11008, vocabulary 32000, 32 layers:
 * 13.5 GB in FP16), to time `marlin-node quantize` where no real model can
 * be downloaded. config.json (LlamaForCausalLM), shards of at most 5 GB
 * with model.safetensors.index.json, a generation_config.json. Weights are
 * uniform in [-0.05, 0.05): one 64 MiB pool of random 16-bit values
 * reused from a different offset for each tensor (timing does not care,
 * and generating 7 billion random numbers would take minutes). Streams:
 * one tensor in memory at a time.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { INDEX_FILE, SINGLE_FILE, type TensorEntry } from '../lib/checkpoint/safetensors';
import { SafetensorsWriter } from '../lib/checkpoint/writer';
import { toHalves } from '../lib/fp16';

const USAGE = 'usage: make-float-model <out-dir> [--layers N] [--dtype float16|bfloat16] [--hidden H] [--intermediate I] [--vocab V] [--max-shard-size BYTES]';

function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      layers: { type: 'string' },
      dtype: { type: 'string' },
      hidden: { type: 'string' },
      intermediate: { type: 'string' },
      vocab: { type: 'string' },
      'max-shard-size': { type: 'string' },
    },
  });
  const int = (v: string | undefined, fallback: number, name: string): number => {
    const x = v === undefined ? fallback : Number(v);
    if (!Number.isSafeInteger(x) || x <= 0) throw new Error(`--${name} takes a positive integer, not ${v}\n${USAGE}`);
    return x;
  };
  if (positionals.length !== 1) throw new Error(USAGE);
  const dtype = values.dtype ?? 'float16';
  if (dtype !== 'float16' && dtype !== 'bfloat16') throw new Error(`--dtype takes float16 or bfloat16\n${USAGE}`);
  return write(positionals[0], {
    layers: int(values.layers, 32, 'layers'),
    hidden: int(values.hidden, 4096, 'hidden'),
    intermediate: int(values.intermediate, 11008, 'intermediate'),
    vocab: int(values.vocab, 32000, 'vocab'),
    dtype,
    maxShardBytes: int(values['max-shard-size'], 5e9, 'max-shard-size'),
  });
}

interface Spec {
  layers: number;
  hidden: number;
  intermediate: number;
  vocab: number;
  dtype: 'float16' | 'bfloat16';
  maxShardBytes: number;
}

/** The tensors of a Llama model, in the order transformers saves them. */
function tensors(s: Spec): TensorEntry[] {
  const dtype = s.dtype === 'float16' ? 'F16' : 'BF16';
  const out: TensorEntry[] = [{ name: 'model.embed_tokens.weight', dtype, shape: [s.vocab, s.hidden] }];
  for (let i = 0; i < s.layers; i++) {
    const p = `model.layers.${i}`;
    out.push({ name: `${p}.input_layernorm.weight`, dtype, shape: [s.hidden] });
    for (const m of ['q_proj', 'k_proj', 'v_proj', 'o_proj']) out.push({ name: `${p}.self_attn.${m}.weight`, dtype, shape: [s.hidden, s.hidden] });
    out.push({ name: `${p}.mlp.gate_proj.weight`, dtype, shape: [s.intermediate, s.hidden] });
    out.push({ name: `${p}.mlp.up_proj.weight`, dtype, shape: [s.intermediate, s.hidden] });
    out.push({ name: `${p}.mlp.down_proj.weight`, dtype, shape: [s.hidden, s.intermediate] });
    out.push({ name: `${p}.post_attention_layernorm.weight`, dtype, shape: [s.hidden] });
  }
  out.push({ name: 'model.norm.weight', dtype, shape: [s.hidden] });
  out.push({ name: 'lm_head.weight', dtype, shape: [s.vocab, s.hidden] });
  return out;
}

const elements = (e: TensorEntry): number => e.shape.reduce((a, b) => a * b, 1);

async function write(dir: string, s: Spec): Promise<void> {
  const start = Date.now();
  await fs.promises.mkdir(dir, { recursive: true });
  const all = tensors(s);
  const shards: TensorEntry[][] = [[]];
  let size = 0;
  for (const e of all) {
    if (shards[shards.length - 1].length > 0 && size + elements(e) * 2 > s.maxShardBytes) {
      shards.push([]);
      size = 0;
    }
    shards[shards.length - 1].push(e);
    size += elements(e) * 2;
  }
  const name = (i: number) =>
    shards.length === 1 ? SINGLE_FILE : `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`;

  const poolLength = 32 << 20;
  const pool = new Float32Array(poolLength);
  let x = 0x9e3779b9;
  for (let i = 0; i < poolLength; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    pool[i] = ((x >>> 0) / 4294967296 - 0.5) * 0.1;
  }
  const halves = toHalves(pool, s.dtype);
  const norm = toHalves([1], s.dtype)[0];

  let written = 0;
  const weightMap: Record<string, string> = {};
  for (let i = 0; i < shards.length; i++) {
    const w = await SafetensorsWriter.create(path.join(dir, name(i)), shards[i], { format: 'pt' });
    for (const [j, e] of shards[i].entries()) {
      const data = new Uint16Array(elements(e));
      if (e.shape.length === 1) data.fill(norm);
      else for (let at = 0, from = (j * 7919) % poolLength; at < data.length; at += poolLength - from, from = 0) data.set(halves.subarray(from, Math.min(poolLength, from + data.length - at)), at);
      await w.write(e.name, data);
      weightMap[e.name] = name(i);
      written += data.byteLength;
    }
    await w.close();
    process.stderr.write(`${name(i)}: ${(written / 1e9).toFixed(2)} GB written\n`);
  }
  if (shards.length > 1)
    await fs.promises.writeFile(path.join(dir, INDEX_FILE), `${JSON.stringify({ metadata: { total_size: written }, weight_map: weightMap }, null, 2)}\n`);
  const config = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: s.hidden,
    intermediate_size: s.intermediate,
    num_hidden_layers: s.layers,
    num_attention_heads: Math.max(1, Math.floor(s.hidden / 128)),
    num_key_value_heads: Math.max(1, Math.floor(s.hidden / 128)),
    vocab_size: s.vocab,
    max_position_embeddings: 4096,
    rms_norm_eps: 1e-5,
    hidden_act: 'silu',
    torch_dtype: s.dtype,
    tie_word_embeddings: false,
    bos_token_id: 1,
    eos_token_id: 2,
  };
  await fs.promises.writeFile(path.join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  await fs.promises.writeFile(path.join(dir, 'generation_config.json'), `${JSON.stringify({ bos_token_id: 1, eos_token_id: 2 }, null, 2)}\n`);
  process.stderr.write(`${dir}: ${(written / 1e9).toFixed(2)} GB in ${shards.length} shard(s), ${((Date.now() - start) / 1000).toFixed(1)} s\n`);
}

main().catch((error: Error) => {
  process.stderr.write(`${error.message}\n`);
  process.exitCode = 2;
});
