/**
 * quantization_config parsing (lib/checkpoint/config.ts): the configs
 * AutoGPTQ, GPTQModel, AutoAWQ and the Marlin tools write, their defaults
 * and synonyms, and BAD_CHECKPOINT naming the field for every setting this
 * package cannot load (docs/formats.md, "quantization_config").
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { isParsedConfig, parseQuantizationConfig, readQuantizationConfig } from '../../lib/checkpoint/config';

describe('what each tool writes', () => {
  test('AutoGPTQ config.json: gptq, v1 zero points unless checkpoint_format says gptq_v2', () => {
    const q = { bits: 4, group_size: 128, damp_percent: 0.01, desc_act: true, sym: true, true_sequential: true, quant_method: 'gptq', model_name_or_path: null };
    expect(parseQuantizationConfig({ quantization_config: q })).toEqual({ kind: 'gptq', bits: 4, groupSize: 128, sym: true, descAct: true, zeroConvention: 'v1' });
    expect(parseQuantizationConfig({ ...q, checkpoint_format: 'gptq_v2' })).toMatchObject({ kind: 'gptq', zeroConvention: 'v2' });
  });

  test("GPTQModel: 'format' stands for checkpoint_format; pack_dtype int32 and an empty dynamic are fine", () => {
    expect(
      parseQuantizationConfig({ bits: 8, group_size: -1, desc_act: false, sym: false, method: 'gptq', quant_method: 'gptq', format: 'gptq_v2', pack_dtype: 'int32', dynamic: {} }),
    ).toEqual({ kind: 'gptq', bits: 8, groupSize: -1, sym: false, descAct: false, zeroConvention: 'v2' });
  });

  test('older quantize_config.json without quant_method is GPTQ with sym and desc_act defaults', () => {
    expect(parseQuantizationConfig({ bits: 4, group_size: 64 })).toEqual({ kind: 'gptq', bits: 4, groupSize: 64, sym: true, descAct: false, zeroConvention: 'v1' });
  });

  test("AutoAWQ: quant_method awq, version gemm; the old quant_config.json's w_bit / q_group_size / version GEMM", () => {
    expect(parseQuantizationConfig({ quantization_config: { quant_method: 'awq', zero_point: true, group_size: 128, bits: 4, version: 'gemm' } })).toEqual({
      kind: 'awq',
      bits: 4,
      groupSize: 128,
    });
    expect(parseQuantizationConfig({ zero_point: true, q_group_size: 64, w_bit: 4, version: 'GEMM' })).toEqual({ kind: 'awq', bits: 4, groupSize: 64 });
  });

  test('Marlin format: checkpoint_format marlin, is_marlin_format, or quant_method marlin', () => {
    const marlin = { kind: 'marlin', bits: 4, groupSize: 128 };
    expect(parseQuantizationConfig({ quant_method: 'gptq', bits: 4, group_size: 128, sym: true, desc_act: false, checkpoint_format: 'marlin' })).toEqual(marlin);
    expect(parseQuantizationConfig({ bits: 4, group_size: 128, is_marlin_format: true })).toEqual(marlin);
    expect(parseQuantizationConfig({ quant_method: 'marlin', group_size: 128 })).toEqual(marlin);
    expect(parseQuantizationConfig({ quant_method: 'Marlin', group_size: -1 })).toEqual({ ...marlin, groupSize: -1 });
  });

  test('a parsed config is frozen and passes through unchanged', () => {
    const c = parseQuantizationConfig({ bits: 4, group_size: 128 });
    expect(Object.isFrozen(c)).toBe(true);
    expect(isParsedConfig(c)).toBe(true);
    expect(parseQuantizationConfig(c)).toBe(c);
    expect(isParsedConfig({ ...c })).toBe(false);
  });
});

describe('refused: BAD_CHECKPOINT naming the field, the value and the source', () => {
  const CASES: Array<[string, Record<string, unknown>, RegExp]> = [
    ['another quantization method', { quant_method: 'bitsandbytes', bits: 4, group_size: 128 }, /quant_method "bitsandbytes" is not supported \(gptq, awq or marlin\)/],
    ['3-bit weights', { quant_method: 'gptq', bits: 3, group_size: 128 }, /bits 3 is not supported \(4 or 8\)/],
    ['bits missing', { quant_method: 'gptq', group_size: 128 }, /bits is missing/],
    ['a group size of 256', { quant_method: 'gptq', bits: 4, group_size: 256 }, /group_size 256 is not supported \(32, 64, 128, -1/],
    ['group_size missing', { quant_method: 'awq', bits: 4 }, /group_size is missing/],
    ['another GPTQ checkpoint format', { quant_method: 'gptq', bits: 4, group_size: 128, checkpoint_format: 'bitblas' }, /checkpoint_format "bitblas" is not supported for GPTQ/],
    ['64-bit packing words', { quant_method: 'gptq', bits: 4, group_size: 128, pack_dtype: 'int64' }, /pack_dtype "int64" is not supported \(int32\)/],
    ['per-module overrides', { quant_method: 'gptq', bits: 4, group_size: 128, dynamic: { '+:.*\\.1\\..*': { bits: 8 } } }, /dynamic \(per-module overrides/],
    ['AWQ without zero points', { quant_method: 'awq', bits: 4, group_size: 128, zero_point: false }, /AWQ zero_point false is not supported/],
    ['the AWQ GEMV layout', { quant_method: 'awq', bits: 4, group_size: 128, version: 'gemv' }, /AWQ version "gemv" is not supported/],
    ['an 8-bit Marlin format', { quant_method: 'marlin', bits: 8, group_size: 128 }, /bits 8 is not the Marlin format's \(4\)/],
    ['an asymmetric Marlin format', { quant_method: 'gptq', bits: 4, group_size: 128, sym: false, checkpoint_format: 'marlin' }, /sym false is not the Marlin format/],
    ['a flag of the wrong type', { quant_method: 'gptq', bits: 4, group_size: 128, sym: 'yes' }, /sym "yes" is not a boolean/],
  ];
  for (const [what, config, message] of CASES)
    test(what, () => {
      expect(() => parseQuantizationConfig({ quantization_config: config }, '/models/m/config.json')).toThrow(
        expect.objectContaining({ code: 'BAD_CHECKPOINT', message: expect.stringMatching(message) }),
      );
      expect(() => parseQuantizationConfig({ quantization_config: config }, '/models/m/config.json')).toThrow(/^\/models\/m\/config.json \(quantization_config\): /);
    });

  test('something that is not an object', () => {
    expect(() => parseQuantizationConfig([4])).toThrow(expect.objectContaining({ code: 'BAD_CHECKPOINT' }));
    expect(() => parseQuantizationConfig({ quantization_config: 'gptq' })).toThrow(/quantization_config is not an object/);
  });
});

describe('readQuantizationConfig(dir)', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'marlin-config-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("reads config.json's quantization_config", async () => {
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ model_type: 'llama', quantization_config: { quant_method: 'awq', bits: 4, group_size: 128, zero_point: true } }));
    expect(await readQuantizationConfig(dir)).toEqual({ kind: 'awq', bits: 4, groupSize: 128 });
  });

  test('falls back to quantize_config.json when config.json has none', async () => {
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ model_type: 'llama' }));
    fs.writeFileSync(path.join(dir, 'quantize_config.json'), JSON.stringify({ bits: 8, group_size: 32, sym: true, desc_act: true }));
    expect(await readQuantizationConfig(dir)).toMatchObject({ kind: 'gptq', bits: 8, groupSize: 32, descAct: true });
  });

  test('no config at all, and a config.json that is not JSON, are BAD_CHECKPOINT naming the files', async () => {
    await expect(readQuantizationConfig(dir)).rejects.toMatchObject({
      code: 'BAD_CHECKPOINT',
      message: expect.stringMatching(/no quantization config: tried config.json, quantize_config.json, quant_config.json/),
    });
    fs.writeFileSync(path.join(dir, 'config.json'), '{"quantization_config": ');
    await expect(readQuantizationConfig(dir)).rejects.toMatchObject({ code: 'BAD_CHECKPOINT', message: expect.stringContaining(`${path.join(dir, 'config.json')}: is not JSON`) });
  });
});
