/**
 * A float model directory (config.json + safetensors, FP16 or BF16) to a
 * GPTQ checkpoint directory that vLLM and transformers load: what
 * `npx marlin-node quantize` does. The decisions live here:
 *   - which tensors are quantized: 2-D `.weight`s of the linear projections
 *     inside the transformer blocks (isQuantizedLinear); embeddings,
 *     lm_head, norms and biases are copied as they are;
 *   - the checkpoint: GPTQ tensors (lib/gptq-quantize.ts) with FP16 scales,
 *     zero points in the v1 convention (checkpoint_format "gptq"),
 *     desc_act false, and config.json's quantization_config
 *     (gptqQuantizationConfig);
 *   - the files: shards of at most maxShardBytes with an index when there
 *     is more than one, tokenizer and generation files copied.
 * Streaming: tensors are read, quantized and written one at a time; the
 * next tensor is read and the last one's results written while a layer is
 * on the GPU, so host memory holds about three tensors at most.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { INDEX_FILE, SINGLE_FILE, type SafetensorsModel, type Tensor, type TensorEntry, badCheckpoint, dtypeSize, openSafetensors } from './checkpoint/safetensors';
import { SafetensorsWriter } from './checkpoint/writer';
import { MarlinError } from './errors';
import type { ActivationDType } from './formats';
import { type GptqLayerTensors, type GptqQuantizeOptions, gptqShapeProblem, gptqTensorShapes } from './gptq-quantize';
import type { GroupSize, WeightBits } from './shapes';
import { isObject } from './validate';

/** Quantizes one layer's [outFeatures, inFeatures] weights, as a checkpoint stores them (GptqQuantizer.quantize, or the host path in tests). */
export type LayerQuantizer = (weights: Uint16Array, inFeatures: number, outFeatures: number, options: GptqQuantizeOptions) => Promise<GptqLayerTensors>;

/** How quantizeModel() quantizes: the GPTQ format and the function that quantizes each layer. */
export interface QuantizeModelOptions {
  /** Bits per weight (4 or 8). */
  bits: WeightBits;
  /** Input features per scale group, or -1 for one group per output feature. */
  groupSize: GroupSize;
  /** Symmetric (GPTQ sym: true) or min/max zero points. */
  sym: boolean;
  /** Quantizes each linear weight (e.g. a GptqQuantizer's quantize, bound to it). */
  quantize: LayerQuantizer;
  /** Largest shard in bytes (default 5 GB, as transformers' save_pretrained); a larger tensor gets a shard of its own. */
  maxShardBytes?: number;
  /** Called after each input tensor is done (quantized or copied). */
  onProgress?: (p: QuantizeProgress) => void;
}

/** quantizeModel()'s progress, passed to onProgress after each input tensor. */
export interface QuantizeProgress {
  /** Input tensors done so far. */
  tensorsDone: number;
  /** Input tensors in all. */
  tensors: number;
  /** Bytes of input tensors done, of all. */
  bytesDone: number;
  /** Bytes of all input tensors' data. */
  bytes: number;
  /** The tensor just done. */
  name: string;
}

/** What quantizeModel() did. */
export interface QuantizeModelReport {
  /** Layers quantized. */
  quantized: number;
  /** Tensors copied as they are (everything but the quantized linear weights). */
  copied: number;
  /** Bytes of the input tensors' data. */
  inputBytes: number;
  /** Bytes of the safetensors files written (headers included). */
  outputBytes: number;
  /** Output files written, in order (shards, index, config.json, copied files). */
  files: string[];
  /** Wall-clock time of the whole call, in seconds. */
  seconds: number;
}

/** transformers' save_pretrained default ("5GB"). */
export const DEFAULT_MAX_SHARD_BYTES = 5_000_000_000;

/**
 * Files copied along when present: tokenizer and generation settings
 * (everything a loader needs besides config.json and the weights).
 */
const COPIED_FILES = /^(tokenizer(_config)?\.json|tokenizer\.model|special_tokens_map\.json|added_tokens\.json|generation_config\.json|vocab\.(json|txt)|merges\.txt|chat_template\.(json|jinja)|preprocessor_config\.json)$/;

/**
 * Projections inside transformer blocks: `<...>layers.<i>.<...>.<module>.weight`
 * whose module is a linear layer of the attention or MLP (q/k/v/o_proj,
 * qkv_proj, gate/up/down_proj, gate_up_proj and other *_proj; fc1/fc2,
 * dense*, query_key_value, w1/w2/w3, c_attn/c_proj/c_fc of other families).
 * MoE routers (`mlp.gate`) are left in float, as vLLM keeps them.
 */
const BLOCK_LINEAR = /(^|\.)(layers|h|blocks)\.\d+\.(.+\.)?([a-z0-9_]*_proj|fc[12]|dense|dense_h_to_4h|dense_4h_to_h|query_key_value|w[123]|c_attn|c_proj|c_fc)\.weight$/;

/** Whether a tensor is a linear weight the command quantizes (its name, and 2-D). */
export function isQuantizedLinear(name: string, shape: readonly number[]): boolean {
  return shape.length === 2 && BLOCK_LINEAR.test(name);
}

/** The quantization_config of the checkpoint written: GPTQ as AutoGPTQ and GPTQModel write it, which vLLM and transformers read. */
export function gptqQuantizationConfig(o: { bits: WeightBits; groupSize: GroupSize; sym: boolean }, version: string): Record<string, unknown> {
  return {
    quant_method: 'gptq',
    bits: o.bits,
    group_size: o.groupSize,
    desc_act: false,
    sym: o.sym,
    static_groups: false,
    true_sequential: true,
    lm_head: false,
    // Not used by RTN; transformers' GPTQConfig wants a value in (0, 1).
    damp_percent: 0.01,
    checkpoint_format: 'gptq',
    meta: { quantizer: [`marlin-node:${version}`], method: 'rtn' },
  };
}

/** One tensor of the output and where it comes from. */
interface Planned {
  /** Input tensor name. */
  source: string;
  quantize: boolean;
  /** Output tensors: GPTQ's four, or the input itself. */
  outputs: TensorEntry[];
  inputBytes: number;
}

const FLOAT_DTYPES: Record<string, ActivationDType> = { F16: 'float16', BF16: 'bfloat16' };
const bytesOf = (e: TensorEntry): number => e.shape.reduce((a, b) => a * b, 1) * dtypeSize(e.dtype);

function plan(model: SafetensorsModel, o: QuantizeModelOptions): Planned[] {
  const out: Planned[] = [];
  // Input order (shard by shard, in file order): reads go forward through each file.
  const names = model.names().sort((a, b) => {
    const ia = model.info(a);
    const ib = model.info(b);
    return ia.file === ib.file ? ia.fileOffset - ib.fileOffset : 0;
  });
  for (const name of names) {
    const info = model.info(name);
    if (!isQuantizedLinear(name, info.shape)) {
      out.push({ source: name, quantize: false, outputs: [{ name, dtype: info.dtype, shape: info.shape }], inputBytes: info.byteLength });
      continue;
    }
    if (!(info.dtype in FLOAT_DTYPES))
      throw badCheckpoint(info.file, `a linear weight to quantize must be F16 or BF16, not ${info.dtype}`, { tensor: name });
    const [outFeatures, inFeatures] = info.shape;
    const problem = gptqShapeProblem(inFeatures, outFeatures, o.bits, o.groupSize);
    if (problem)
      throw badCheckpoint(info.file, `[${outFeatures}, ${inFeatures}] (out, in) cannot be quantized to ${o.bits} bits, group ${o.groupSize}: ${problem}`, { tensor: name });
    const prefix = name.slice(0, -'.weight'.length);
    const shapes = gptqTensorShapes(inFeatures, outFeatures, o.bits, o.groupSize);
    out.push({
      source: name,
      quantize: true,
      outputs: [
        { name: `${prefix}.qweight`, dtype: 'I32', shape: shapes.qweight },
        { name: `${prefix}.qzeros`, dtype: 'I32', shape: shapes.qzeros },
        { name: `${prefix}.scales`, dtype: 'F16', shape: shapes.scales },
        { name: `${prefix}.g_idx`, dtype: 'I32', shape: shapes.g_idx },
      ],
      inputBytes: info.byteLength,
    });
  }
  return out;
}

/** Output tensors in shards of at most maxBytes each (in plan order; an oversized tensor alone). */
function shard(entries: TensorEntry[], maxBytes: number): TensorEntry[][] {
  const shards: TensorEntry[][] = [];
  let current: TensorEntry[] = [];
  let size = 0;
  for (const e of entries) {
    const bytes = bytesOf(e);
    if (current.length > 0 && size + bytes > maxBytes) {
      shards.push(current);
      current = [];
      size = 0;
    }
    current.push(e);
    size += bytes;
  }
  if (current.length > 0 || shards.length === 0) shards.push(current);
  return shards;
}

/** transformers' shard names: model-00001-of-00003.safetensors. */
export function shardName(index: number, count: number): string {
  return count === 1 ? SINGLE_FILE : `model-${String(index + 1).padStart(5, '0')}-of-${String(count).padStart(5, '0')}.safetensors`;
}

async function readConfig(dir: string): Promise<Record<string, unknown>> {
  const file = path.join(dir, 'config.json');
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (error) {
    throw badCheckpoint(file, 'cannot be read: a model directory needs its config.json', { cause: error });
  }
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (error) {
    throw badCheckpoint(file, `is not JSON (${(error as Error).message})`, { cause: error });
  }
  if (!isObject(config) || Array.isArray(config)) throw badCheckpoint(file, 'is not a JSON object');
  if ('quantization_config' in config) throw badCheckpoint(file, 'the model is already quantized (config.json has a quantization_config)');
  return config;
}

/** The out directory: created if missing; refused if it is the input or holds files. */
async function prepareOut(inDir: string, outDir: string): Promise<void> {
  if (path.resolve(inDir) === path.resolve(outDir)) throw new MarlinError('BAD_ARGUMENT', `the output directory ${outDir} is the input directory`);
  let entries: string[] = [];
  try {
    entries = await fs.promises.readdir(outDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new MarlinError('BAD_ARGUMENT', `the output directory ${outDir} cannot be read (${(error as Error).message})`);
  }
  if (entries.length > 0) throw new MarlinError('BAD_ARGUMENT', `the output directory ${outDir} is not empty (${entries.length} entries): give a new or empty one`);
  await fs.promises.mkdir(outDir, { recursive: true });
}

/** Quantizes a float model directory into a GPTQ checkpoint directory (see the module comment). */
export async function quantizeModel(inDir: string, outDir: string, o: QuantizeModelOptions): Promise<QuantizeModelReport> {
  const start = process.hrtime.bigint();
  const config = await readConfig(inDir);
  await prepareOut(inDir, outDir);
  const model = await openSafetensors(inDir);
  const writers: SafetensorsWriter[] = [];
  const files: string[] = [];
  try {
    const planned = plan(model, o);
    const entries = planned.flatMap((p) => p.outputs);
    const groups = shard(entries, o.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES);
    const writerOf = new Map<string, SafetensorsWriter>();
    for (let i = 0; i < groups.length; i++) {
      // transformers refuses safetensors files whose metadata lacks format "pt".
      const w = await SafetensorsWriter.create(path.join(outDir, shardName(i, groups.length)), groups[i], { format: 'pt' });
      writers.push(w);
      for (const e of groups[i]) writerOf.set(e.name, w);
    }

    const options: GptqQuantizeOptions = { bits: o.bits, groupSize: o.groupSize, zeroPoints: !o.sym, scaleDtype: 'float16', zeroConvention: 'v1' };
    const totalBytes = planned.reduce((a, p) => a + p.inputBytes, 0);
    let bytesDone = 0;
    let quantized = 0;
    const read = (i: number): Promise<Tensor> => model.read(planned[i].source);
    let next: Promise<Tensor> | undefined = planned.length > 0 ? read(0) : undefined;
    let writing: Promise<unknown> = Promise.resolve();
    for (let i = 0; i < planned.length; i++) {
      const p = planned[i];
      const tensor = await next!;
      // Read the next tensor while this one is on the GPU and the last one is written.
      next = i + 1 < planned.length ? read(i + 1) : undefined;
      next?.catch(() => undefined); // awaited next turn; an early exit must not leave it unhandled
      let outputs: Array<[string, ArrayBufferView]>;
      if (p.quantize) {
        const [outFeatures, inFeatures] = tensor.shape;
        let t: GptqLayerTensors;
        try {
          t = await o.quantize(tensor.data as Uint16Array, inFeatures, outFeatures, { ...options, inputDtype: FLOAT_DTYPES[tensor.dtype] });
        } catch (error) {
          // The quantizer's refusals (a weight that is not finite, a scale past FP16) are faults of the input.
          if ((error as MarlinError).code !== 'BAD_ARGUMENT') throw error;
          throw badCheckpoint(model.info(p.source).file, `cannot be quantized: ${(error as Error).message}`, { tensor: p.source, cause: error });
        }
        outputs = [
          [p.outputs[0].name, t.qweight],
          [p.outputs[1].name, t.qzeros],
          [p.outputs[2].name, t.scales],
          [p.outputs[3].name, t.gIdx],
        ];
        quantized++;
      } else {
        outputs = [[p.source, tensor.data]];
      }
      await writing;
      writing = Promise.all(outputs.map(([name, data]) => writerOf.get(name)!.write(name, data)));
      writing.catch(() => undefined);
      bytesDone += p.inputBytes;
      o.onProgress?.({ tensorsDone: i + 1, tensors: planned.length, bytesDone, bytes: totalBytes, name: p.source });
    }
    await writing;
    for (const w of writers) {
      await w.close();
      files.push(w.file);
    }

    if (groups.length > 1) {
      const weightMap: Record<string, string> = {};
      for (const name of entries.map((e) => e.name).sort()) weightMap[name] = path.basename(writerOf.get(name)!.file);
      const total = entries.reduce((a, e) => a + bytesOf(e), 0);
      const index = path.join(outDir, INDEX_FILE);
      await fs.promises.writeFile(index, `${JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2)}\n`);
      files.push(index);
    }
    const configFile = path.join(outDir, 'config.json');
    const version = (JSON.parse(await fs.promises.readFile(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
    await fs.promises.writeFile(configFile, `${JSON.stringify({ ...config, quantization_config: gptqQuantizationConfig(o, version) }, null, 2)}\n`);
    files.push(configFile);
    for (const name of (await fs.promises.readdir(inDir)).sort()) {
      if (!COPIED_FILES.test(name)) continue;
      await fs.promises.copyFile(path.join(inDir, name), path.join(outDir, name));
      files.push(path.join(outDir, name));
    }
    return {
      quantized,
      copied: planned.length - quantized,
      inputBytes: totalBytes,
      outputBytes: writers.reduce((a, w) => a + w.layout.byteLength, 0),
      files,
      seconds: Number(process.hrtime.bigint() - start) / 1e9,
    };
  } catch (error) {
    await Promise.all(writers.map((w) => w.abort()));
    throw error;
  } finally {
    await model.close();
  }
}
