/**
 * The quantization_config of a checkpoint (config.json, or the older
 * quantize_config.json / quant_config.json), parsed into what the
 * converters need. docs/formats.md ("quantization_config") lists every
 * field, its default and what is refused; anything this package cannot
 * load faithfully is BAD_CHECKPOINT naming the field and its value.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { GROUP_SIZES, type GroupSize, type WeightBits } from '../shapes';
import { isObject } from '../validate';
import { badCheckpoint } from './safetensors';

/** GPTQ's zero-point conventions: 'v1' stores z - 1 (checkpoint_format "gptq"), 'v2' stores z ("gptq_v2"). */
export type GptqZeroConvention = 'v1' | 'v2';

/** A GPTQ checkpoint's quantization_config, parsed (quant_method: gptq). */
export interface GptqConfig {
  /** Discriminant: a GPTQ checkpoint. */
  readonly kind: 'gptq';
  /** Bits per weight (4 or 8). */
  readonly bits: WeightBits;
  /** Input rows per scale group; -1: one group per output column. */
  readonly groupSize: GroupSize;
  /** As the config says; the stored zero points decide the loaded format (docs/formats.md). */
  readonly sym: boolean;
  /** As the config says; the stored g_idx decides act-order. */
  readonly descAct: boolean;
  /** How stored zero points relate to the real ones: 'v2' for checkpoint_format "gptq_v2", else 'v1'. */
  readonly zeroConvention: GptqZeroConvention;
}

/** An AWQ checkpoint's quantization_config, parsed (quant_method: awq, GEMM layout). */
export interface AwqConfig {
  /** Discriminant: an AWQ checkpoint. */
  readonly kind: 'awq';
  /** Bits per weight (4 or 8). */
  readonly bits: WeightBits;
  /** Input rows per scale group; -1: one group per output column. */
  readonly groupSize: GroupSize;
}

/** A Marlin-format checkpoint's quantization_config, parsed (4-bit symmetric FP16). */
export interface MarlinConfig {
  /** Discriminant: a Marlin-format checkpoint. */
  readonly kind: 'marlin';
  /** Bits per weight: always 4. */
  readonly bits: 4;
  /** Input rows per scale group; -1: one group per output column. */
  readonly groupSize: GroupSize;
}

/** A parsed quantization_config of any supported format; `kind` tells which. */
export type QuantizationConfig = GptqConfig | AwqConfig | MarlinConfig;

const parsed = new WeakSet<object>();

/** Whether `config` came from parseQuantizationConfig (so it needs no parsing again). */
export function isParsedConfig(config: unknown): config is QuantizationConfig {
  return isObject(config) && parsed.has(config);
}

function freeze<T extends QuantizationConfig>(config: T): T {
  Object.freeze(config);
  parsed.add(config);
  return config;
}

/**
 * Parses a quantization config: a whole config.json object (its
 * `quantization_config` is used), or the quantization config itself.
 * `source` names it in error messages (e.g. the file it came from).
 */
export function parseQuantizationConfig(config: unknown, source = 'quantization_config'): QuantizationConfig {
  if (isParsedConfig(config)) return config;
  if (!isObject(config) || Array.isArray(config)) throw badCheckpoint(source, 'the quantization config is not an object');
  let q: Record<string, unknown> = config;
  if (isObject(config.quantization_config)) {
    q = config.quantization_config as Record<string, unknown>;
    source = `${source} (quantization_config)`;
  } else if ('quantization_config' in config) {
    throw badCheckpoint(source, 'its quantization_config is not an object');
  }
  // Field names are case-insensitive in AutoGPTQ's reader; AWQ's synonyms too.
  const fields = new Map<string, unknown>();
  for (const [key, value] of Object.entries(q)) fields.set(key.toLowerCase(), value);
  const get = (...names: string[]): unknown => {
    for (const name of names) if (fields.has(name)) return fields.get(name);
    return undefined;
  };
  const fail = (what: string) => badCheckpoint(source, what);
  const lower = (name: string, value: unknown): string | undefined => {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') throw fail(`${name} ${JSON.stringify(value)} is not a string`);
    return value.toLowerCase();
  };
  const flag = (name: string, fallback: boolean): boolean => {
    const value = get(name);
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'boolean') throw fail(`${name} ${JSON.stringify(value)} is not a boolean`);
    return value;
  };

  const version = lower('version', get('version'));
  const format = lower('checkpoint_format', get('checkpoint_format') ?? get('format'));
  let method = lower('quant_method', get('quant_method'));
  if (method === undefined) method = version === 'gemm' ? 'awq' : 'gptq';
  if (method === 'gptq' && (format === 'marlin' || flag('is_marlin_format', false))) method = 'marlin';
  if (method !== 'gptq' && method !== 'awq' && method !== 'marlin')
    throw fail(`quant_method ${JSON.stringify(method)} is not supported (gptq, awq or marlin)`);

  const bitsValue = get('bits', 'w_bit');
  if (bitsValue === undefined && method !== 'marlin') throw fail('bits is missing');
  const bits = bitsValue === undefined ? 4 : bitsValue;
  if (bits !== 4 && bits !== 8) throw fail(`bits ${JSON.stringify(bits)} is not supported (4 or 8)`);
  const groupValue = get('group_size', 'q_group_size');
  if (groupValue === undefined) throw fail('group_size is missing');
  if (!(GROUP_SIZES as readonly unknown[]).includes(groupValue))
    throw fail(`group_size ${JSON.stringify(groupValue)} is not supported (${GROUP_SIZES.join(', ')}; -1: one group per column)`);
  const groupSize = groupValue as GroupSize;

  const packDtype = lower('pack_dtype', get('pack_dtype'));
  if (packDtype !== undefined && packDtype !== 'int32') throw fail(`pack_dtype ${JSON.stringify(packDtype)} is not supported (int32)`);
  const dynamic = get('dynamic');
  if (dynamic !== undefined && dynamic !== null && !(isObject(dynamic) && Object.keys(dynamic).length === 0))
    throw fail('dynamic (per-module overrides of the quantization) is not supported');

  if (method === 'marlin') {
    if (bits !== 4) throw fail(`bits ${bits} is not the Marlin format's (4)`);
    if (!flag('sym', true)) throw fail('sym false is not the Marlin format (symmetric only)');
    if (flag('desc_act', false) && groupSize !== -1) throw fail('desc_act true is not the Marlin format (no act-order)');
    return freeze<MarlinConfig>({ kind: 'marlin', bits: 4, groupSize });
  }
  if (method === 'awq') {
    if (version !== undefined && version !== 'gemm')
      throw fail(`AWQ version ${JSON.stringify(version)} is not supported (the GEMM layout, version "gemm")`);
    if (!flag('zero_point', true)) throw fail('AWQ zero_point false is not supported (the GEMM layout always stores zero points)');
    return freeze<AwqConfig>({ kind: 'awq', bits, groupSize });
  }
  if (format !== undefined && format !== 'gptq' && format !== 'gptq_v2')
    throw fail(`checkpoint_format ${JSON.stringify(format)} is not supported for GPTQ (gptq, gptq_v2 or marlin)`);
  return freeze<GptqConfig>({
    kind: 'gptq',
    bits,
    groupSize,
    sym: flag('sym', true),
    descAct: flag('desc_act', false),
    zeroConvention: format === 'gptq_v2' ? 'v2' : 'v1',
  });
}

/** Files a model directory's quantization config is looked for in, in order. */
export const CONFIG_FILES = ['config.json', 'quantize_config.json', 'quant_config.json'] as const;

/**
 * Reads a model directory's quantization config: config.json's
 * quantization_config, else quantize_config.json, else quant_config.json.
 */
export async function readQuantizationConfig(dir: string): Promise<QuantizationConfig> {
  const tried: string[] = [];
  for (const name of CONFIG_FILES) {
    const file = path.join(dir, name);
    let text: string;
    try {
      text = await fs.promises.readFile(file, 'utf8');
    } catch {
      tried.push(name);
      continue;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw badCheckpoint(file, `is not JSON (${(error as Error).message})`, { cause: error });
    }
    if (name === 'config.json' && !(isObject(json) && 'quantization_config' in json)) {
      tried.push(`${name} (no quantization_config)`);
      continue;
    }
    return parseQuantizationConfig(json, file);
  }
  throw badCheckpoint(dir, `no quantization config: tried ${tried.join(', ')}`);
}
