/**
 * Layer tensors the converters refuse (BAD_CHECKPOINT naming the file,
 * the layer's tensor, and what was expected against what is stored), and
 * the loaders' config check.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { awqToQuantized, gptqToQuantized, marlinToQuantized, openSafetensors, readQuantizedLayer } from '../../lib/checkpoint';
import { type GptqConfig, parseQuantizationConfig } from '../../lib/checkpoint/config';
import { QuantizedLinear } from '../../lib/linear';
import { awqConfig, gptqConfig, gptqTensors } from '../helpers/checkpoint-formats';
import { randomFormatLayer } from '../helpers/format-reference';
import { SEED, rng } from '../helpers/random';
import { writeModelDir } from '../helpers/safetensors-bytes';

const random = rng(SEED + 710);
const bad = (message: RegExp | string) => expect.objectContaining({ code: 'BAD_CHECKPOINT', message: typeof message === 'string' ? expect.stringContaining(message) : expect.stringMatching(message) });

const i32 = (shape: number[]) => ({ dtype: 'I32' as const, shape, data: new Int32Array(shape.reduce((a, b) => a * b, 1)) });
const f16 = (shape: number[], dtype: 'F16' | 'BF16' | 'F32' = 'F16') => ({
  dtype,
  shape,
  data: dtype === 'F32' ? new Float32Array(shape.reduce((a, b) => a * b, 1)) : new Uint16Array(shape.reduce((a, b) => a * b, 1)),
});

describe('GPTQ tensors that do not fit: BAD_CHECKPOINT naming the layer and tensor', () => {
  const config = parseQuantizationConfig({ quant_method: 'gptq', bits: 4, group_size: 128, sym: false }) as GptqConfig;
  const source = { name: 'model.layers.3.mlp.up_proj', file: '/m/model.safetensors' };
  // k = 32 * 8 = 256, n = 64, 2 groups
  const good = () => ({ qweight: i32([32, 64]), qzeros: i32([2, 8]), scales: f16([2, 64]), g_idx: i32([256]) });

  test('the well-formed layer converts', () => {
    expect(gptqToQuantized(good(), config, source)).toMatchObject({ inFeatures: 256, outFeatures: 64, groupSize: 128, bits: 4 });
  });

  test('a missing qweight', () => {
    const t: Record<string, unknown> = good();
    delete t.qweight;
    expect(() => gptqToQuantized(t as never, config, source)).toThrow(bad("/m/model.safetensors: tensor 'model.layers.3.mlp.up_proj.qweight': the layer has no qweight tensor"));
  });

  test('scales of another dtype', () => {
    expect(() => gptqToQuantized({ ...good(), scales: f16([2, 64], 'F32') }, config, source)).toThrow(
      bad(/tensor 'model.layers.3.mlp.up_proj.scales': expected F16 or BF16 \[2, 64\] .* but the checkpoint holds F32 \[2, 64\]/),
    );
  });

  test('scales with the wrong number of groups', () => {
    expect(() => gptqToQuantized({ ...good(), scales: f16([4, 64]) }, config, source)).toThrow(bad(/scales': expected F16 or BF16 \[2, 64\] \(k=256, group_size 128\) but the checkpoint holds F16 \[4, 64\]/));
  });

  test('qzeros of the wrong width', () => {
    expect(() => gptqToQuantized({ ...good(), qzeros: i32([2, 16]) }, config, source)).toThrow(bad(/qzeros': expected I32 \[2, 8\] but the checkpoint holds I32 \[2, 16\]/));
  });

  test('a g_idx of the wrong length', () => {
    expect(() => gptqToQuantized({ ...good(), g_idx: i32([255]) }, config, source)).toThrow(bad(/g_idx': expected I32 or I64 \[256\]/));
  });

  test('a g_idx naming a group past the scales', () => {
    const t = good();
    (t.g_idx.data as Int32Array)[17] = 2;
    expect(() => gptqToQuantized(t, config, source)).toThrow(bad(/g_idx': row 17 is in group 2, outside 0..1 \(the scales hold 2 groups\)/));
  });

  test('sym: false without qzeros', () => {
    const t: Record<string, unknown> = good();
    delete t.qzeros;
    expect(() => gptqToQuantized(t as never, config, source)).toThrow(bad(/no qzeros tensor \(sym is false: zero points must be stored\)/));
  });

  test('data shorter than its shape says', () => {
    expect(() => gptqToQuantized({ ...good(), qweight: { dtype: 'I32', shape: [32, 64], data: new Int32Array(10) } }, config, source)).toThrow(bad(/qweight': its data holds 40 bytes, not the 8192/));
  });

  test('something that is not a tensor', () => {
    expect(() => gptqToQuantized({ ...good(), scales: new Uint16Array(128) as never }, config, source)).toThrow(bad(/scales': not a tensor/));
  });
});

describe('AWQ and Marlin tensors that do not fit', () => {
  test('AWQ: k not a whole number of groups', () => {
    const config = parseQuantizationConfig(awqConfig({ bits: 4, groupSize: 128 }));
    expect(() => awqToQuantized({ qweight: i32([200, 8]), qzeros: i32([2, 8]), scales: f16([2, 64]) }, config as never, { name: 'l' })).toThrow(
      bad(/k=200 input rows are not a whole number of groups of 128/),
    );
  });

  test('AWQ: qzeros missing', () => {
    const config = parseQuantizationConfig(awqConfig({ bits: 8, groupSize: 64 }));
    expect(() => awqToQuantized({ qweight: i32([128, 16]), scales: f16([2, 64]) } as never, config as never, { name: 'l' })).toThrow(bad("tensor 'l.qzeros': the layer has no qzeros tensor"));
  });

  test('Marlin: n not a multiple of 64', () => {
    const config = parseQuantizationConfig({ quant_method: 'marlin', group_size: 128 });
    expect(() => marlinToQuantized({ B: i32([8, 96]), s: f16([1, 48]) }, config as never, { name: 'l' })).toThrow(bad(/tensor 'l.B': its 96 words per row make n=48, not a multiple of 64/));
  });
});

describe('reading a layer from a file names the file', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'marlin-layers-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('a layer whose scales are missing from the checkpoint', async () => {
    const data = randomFormatLayer({ dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: false, k: 256, n: 64 }, random);
    const tensors = gptqTensors('model.layers.0.q_proj', data.quantized, { convention: 'v1' }).filter((t) => !t.name.endsWith('.scales'));
    writeModelDir(dir, undefined, tensors);
    await using model = await openSafetensors(dir);
    await expect(readQuantizedLayer(model, 'model.layers.0.q_proj', gptqConfig({ bits: 4, groupSize: 128, sym: true, descAct: false }))).rejects.toMatchObject(
      bad(`${path.join(dir, 'model.safetensors')}: tensor 'model.layers.0.q_proj.scales': the layer has no scales tensor`),
    );
  });
});

describe('QuantizedLinear.fromGptq / fromAwq / fromMarlin check the config before anything else', () => {
  test("a loader given another format's config names the one to use", () => {
    expect(() => QuantizedLinear.fromGptq({} as never, awqConfig({ bits: 4, groupSize: 128 }))).toThrow(bad('QuantizedLinear.fromGptq() was given a awq checkpoint\'s config: use QuantizedLinear.fromAwq()'));
    expect(() => QuantizedLinear.fromAwq({} as never, { quant_method: 'marlin', group_size: 128 })).toThrow(bad('use QuantizedLinear.fromMarlin()'));
    expect(() => QuantizedLinear.fromMarlin({} as never, gptqConfig({ bits: 4, groupSize: 128, sym: true, descAct: false }))).toThrow(bad('use QuantizedLinear.fromGptq()'));
  });

  test('an unsupported config is refused before the tensors are looked at', () => {
    expect(() => QuantizedLinear.fromGptq({} as never, { quant_method: 'gptq', bits: 2, group_size: 128 })).toThrow(bad('bits 2 is not supported'));
  });
});
