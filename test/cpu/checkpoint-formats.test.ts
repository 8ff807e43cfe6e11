/**
 * GPTQ, AWQ and Marlin checkpoints -> QuantizedWeights, on the CPU.
 * Each case starts from known q, zero points, scales and g_idx (random,
 * test/helpers/format-reference.ts) and the float64 weights they stand
 * for; test/helpers/checkpoint-formats.ts writes them as docs/formats.md
 * specifies (no code shared with lib/checkpoint), into a single file and
 * into three shards with each layer's tensors spread over them. Reading the
 * layer back must give the same q, scales, zero points and gIdx bit for
 * bit, and dequantize() the same float64 weights.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { openSafetensors, quantizedLayerNames, readQuantizedLayer, readQuantizationConfig } from '../../lib/checkpoint';
import { type ActivationDType } from '../../lib/formats';
import { fromHalves } from '../../lib/fp16';
import { type QuantizedWeights, dequantize } from '../../lib/quantize';
import type { GroupSize, WeightBits } from '../../lib/shapes';
import { awqConfig, awqTensors, gptqConfig, gptqTensors, marlinConfig, marlinTensors } from '../helpers/checkpoint-formats';
import { firstDifference } from '../helpers/compare';
import { type FormatLayerData, type GroupAssignment, randomFormatLayer } from '../helpers/format-reference';
import { SEED, rng } from '../helpers/random';
import type { RawTensor } from '../helpers/safetensors-bytes';
import { writeModelDir } from '../helpers/safetensors-bytes';

const random = rng(SEED + 700);
let root: string;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'marlin-formats-'));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
let counter = 0;
const freshDir = () => path.join(root, `model-${counter++}`);

interface Layer {
  dtype: ActivationDType;
  bits: WeightBits;
  groupSize: GroupSize;
  zeroPoints: boolean;
  k: number;
  n: number;
  actOrder?: GroupAssignment;
}

/** (q - z) s in float64, from the arrays themselves (after any patching of zero points). */
function weightsOf(w: QuantizedWeights): Float64Array {
  const bits = w.bits ?? 4;
  const s = fromHalves(w.scales, w.dtype ?? 'float16');
  const out = new Float64Array(w.inFeatures * w.outFeatures);
  for (let r = 0; r < w.inFeatures; r++) {
    const g = w.gIdx ? w.gIdx[r] : w.groupSize === -1 ? 0 : Math.floor(r / w.groupSize);
    for (let c = 0; c < w.outFeatures; c++) out[r * w.outFeatures + c] = (w.q[r * w.outFeatures + c] - (w.zeros ? w.zeros[g * w.outFeatures + c] : 2 ** (bits - 1))) * s[g * w.outFeatures + c];
  }
  return out;
}

/** A random layer; zero points (if any) include 0 and the maximum in the first columns (v1 borrows, carries). */
function layer(c: Layer): { data: FormatLayerData; w64: Float64Array } {
  const data = randomFormatLayer(c, random);
  const z = data.quantized.zeros;
  if (z) {
    const max = (1 << c.bits) - 1;
    [0, 0, max, 0, 1, max, 0, max].forEach((v, i) => (z[i] = v)); // zeros next to each other and at a word's top field
    z[z.length - 1] = 0;
  }
  return { data, w64: weightsOf(data.quantized) };
}

/** Checks a converted layer against the one the checkpoint was written from. */
function expectSame(got: QuantizedWeights, want: QuantizedWeights, w64: Float64Array): void {
  expect({ inFeatures: got.inFeatures, outFeatures: got.outFeatures, bits: got.bits, dtype: got.dtype, groupSize: got.groupSize }).toEqual({
    inFeatures: want.inFeatures,
    outFeatures: want.outFeatures,
    bits: want.bits,
    dtype: want.dtype,
    groupSize: want.groupSize,
  });
  expect(firstDifference(got.q, want.q)).toBe(-1);
  expect(firstDifference(got.scales, want.scales)).toBe(-1);
  expect(got.zeros === undefined).toBe(want.zeros === undefined);
  if (want.zeros) expect(firstDifference(got.zeros!, want.zeros)).toBe(-1);
  expect(got.gIdx === undefined).toBe(want.gIdx === undefined);
  if (want.gIdx) expect(firstDifference(got.gIdx!, want.gIdx)).toBe(-1);
  expect(firstDifference(dequantize(got), w64)).toBe(-1);
}

/** Writes the layer (plus a float tensor around it) single-file or in 3 shards, reads it back. */
async function roundTrip(config: Record<string, unknown>, tensors: RawTensor[], sharded: boolean, name = 'model.layers.0.mlp.down_proj'): Promise<QuantizedWeights> {
  const dir = freshDir();
  const norm: RawTensor = { name: 'model.norm.weight', dtype: 'F32', shape: [4], bytes: new Uint8Array(16) };
  writeModelDir(dir, config, [norm, ...tensors], sharded ? 3 : 1);
  const parsed = await readQuantizationConfig(dir);
  await using model = await openSafetensors(dir);
  if (sharded) expect(new Set(tensors.map((t) => model.info(t.name).file)).size).toBeGreaterThan(1);
  expect(quantizedLayerNames(model.names(), parsed)).toEqual([name]);
  return await readQuantizedLayer(model, name, parsed); // awaited before `model` closes
}

const PREFIX = 'model.layers.0.mlp.down_proj';

describe(`GPTQ checkpoints (seed ${SEED})`, () => {
  interface GptqCase extends Layer {
    title: string;
    format?: 'gptq' | 'gptq_v2';
    sym: boolean;
    descAct: boolean;
  }
  const CASES: GptqCase[] = [
    { title: 'v1 sym 4-bit g128 FP16 (zero points 8 stored as 7: loads symmetric)', dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: false, k: 384, n: 192, sym: true, descAct: false },
    { title: 'v2 sym 8-bit g64 BF16', format: 'gptq_v2', dtype: 'bfloat16', bits: 8, groupSize: 64, zeroPoints: false, k: 256, n: 128, sym: true, descAct: false },
    { title: 'v1 asym 4-bit g32 BF16 (zero points of 0 borrow from the field above)', format: 'gptq', dtype: 'bfloat16', bits: 4, groupSize: 32, zeroPoints: true, k: 256, n: 192, sym: false, descAct: false },
    { title: 'v1 asym 8-bit per-channel FP16', format: 'gptq', dtype: 'float16', bits: 8, groupSize: -1, zeroPoints: true, k: 256, n: 128, sym: false, descAct: false },
    { title: 'v2 asym 8-bit g128 FP16', format: 'gptq_v2', dtype: 'float16', bits: 8, groupSize: 128, zeroPoints: true, k: 384, n: 64, sym: false, descAct: false },
    { title: 'v2 asym 4-bit g64 BF16', format: 'gptq_v2', dtype: 'bfloat16', bits: 4, groupSize: 64, zeroPoints: true, k: 192, n: 128, sym: false, descAct: false },
    { title: 'act-order (shuffled g_idx) v1 sym 4-bit g128 FP16', dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: false, k: 384, n: 128, sym: true, descAct: true, actOrder: { kind: 'shuffled' } },
    { title: 'act-order (shuffled g_idx) v2 asym 8-bit g32 BF16', format: 'gptq_v2', dtype: 'bfloat16', bits: 8, groupSize: 32, zeroPoints: true, k: 256, n: 64, sym: false, descAct: true, actOrder: { kind: 'shuffled' } },
    { title: 'act-order (shuffled g_idx) v1 asym 4-bit g64 FP16', dtype: 'float16', bits: 4, groupSize: 64, zeroPoints: true, k: 256, n: 128, sym: false, descAct: true, actOrder: { kind: 'shuffled' } },
  ];

  for (const c of CASES)
    for (const sharded of [false, true])
      test(`${c.title}, ${sharded ? 'sharded' : 'single file'}`, async () => {
        const { data, w64 } = layer(c);
        const convention = c.format === 'gptq_v2' ? 'v2' : 'v1';
        const got = await roundTrip(gptqConfig({ ...c, format: c.format }), gptqTensors(PREFIX, data.quantized, { convention }), sharded);
        expectSame(got, data.quantized, w64);
      });

  test('act-order with unequal groups: scale rows no row uses are dropped', async () => {
    // 4 groups used, but GPTQ stores ceil(384 / 64) = 6 rows of scales and zero points
    const c: Layer = { dtype: 'float16', bits: 4, groupSize: 64, zeroPoints: true, k: 384, n: 128, actOrder: { kind: 'sizes', sizes: [100, 30, 200, 54] } };
    const { data, w64 } = layer(c);
    const tensors = gptqTensors(PREFIX, data.quantized, { convention: 'v1', groups: 6 });
    expect(tensors.find((t) => t.name.endsWith('.scales'))!.shape).toEqual([6, 128]);
    const got = await roundTrip(gptqConfig({ bits: 4, groupSize: 64, sym: false, descAct: true }), tensors, false);
    expectSame(got, data.quantized, w64);
  });

  test('v1 zero points written field by field (AutoGPTQ pack, all >= 1) read the same as word-wise (GPTQModel)', async () => {
    const { data } = layer({ dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: true, k: 256, n: 128 });
    data.quantized.zeros = data.quantized.zeros!.map((z) => Math.max(z, 1));
    const w64 = weightsOf(data.quantized);
    const config = gptqConfig({ bits: 4, groupSize: 128, sym: false, descAct: false, format: 'gptq' });
    const byFields = gptqTensors(PREFIX, data.quantized, { convention: 'v1', v1Writer: 'fields' });
    const byWord = gptqTensors(PREFIX, data.quantized, { convention: 'v1', v1Writer: 'word' });
    expect(Buffer.compare(byFields[1].bytes, byWord[1].bytes)).toBe(0);
    expectSame(await roundTrip(config, byFields, false), data.quantized, w64);
  });

  test('a checkpoint without qzeros and g_idx under sym: true loads symmetric with row / group_size groups', async () => {
    const { data, w64 } = layer({ dtype: 'bfloat16', bits: 8, groupSize: 128, zeroPoints: false, k: 256, n: 64 });
    const tensors = gptqTensors(PREFIX, data.quantized, { convention: 'v1', omitZeros: true, omitGIdx: true });
    expect(tensors.map((t) => t.name.split('.').pop())).toEqual(['qweight', 'scales']);
    expectSame(await roundTrip(gptqConfig({ bits: 8, groupSize: 128, sym: true, descAct: false }), tensors, true), data.quantized, w64);
  });

  test('the convention matters: v2 words read as v1 give every zero point plus one', async () => {
    const { data } = layer({ dtype: 'float16', bits: 8, groupSize: 128, zeroPoints: true, k: 128, n: 64 });
    data.quantized.zeros = data.quantized.zeros!.map((z) => Math.min(z, 254));
    const got = await roundTrip(gptqConfig({ bits: 8, groupSize: 128, sym: false, descAct: false, format: 'gptq' }), gptqTensors(PREFIX, data.quantized, { convention: 'v2' }), false);
    expect(Array.from(got.zeros!)).toEqual(Array.from(data.quantized.zeros, (z) => z + 1));
  });

  test('stored zero points win over the flags: sym: true with other zero points keeps them', async () => {
    const { data, w64 } = layer({ dtype: 'float16', bits: 4, groupSize: 64, zeroPoints: true, k: 128, n: 64 });
    const got = await roundTrip(gptqConfig({ bits: 4, groupSize: 64, sym: true, descAct: false }), gptqTensors(PREFIX, data.quantized, { convention: 'v1' }), false);
    expectSame(got, data.quantized, w64);
  });

  test('the stored g_idx wins over the flags: desc_act: false with a shuffled g_idx is act-order', async () => {
    const { data, w64 } = layer({ dtype: 'float16', bits: 4, groupSize: 32, zeroPoints: false, k: 128, n: 64, actOrder: { kind: 'shuffled' } });
    const got = await roundTrip(gptqConfig({ bits: 4, groupSize: 32, sym: true, descAct: false }), gptqTensors(PREFIX, data.quantized, { convention: 'v1' }), false);
    expectSame(got, data.quantized, w64);
  });
});

describe(`AWQ checkpoints (seed ${SEED})`, () => {
  const CASES: Array<Layer & { title: string }> = [
    { title: '4-bit g128 FP16', dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: true, k: 384, n: 192 },
    { title: '4-bit g32 BF16', dtype: 'bfloat16', bits: 4, groupSize: 32, zeroPoints: true, k: 128, n: 64 },
    { title: '8-bit g64 BF16', dtype: 'bfloat16', bits: 8, groupSize: 64, zeroPoints: true, k: 256, n: 128 },
    { title: '4-bit per-channel FP16', dtype: 'float16', bits: 4, groupSize: -1, zeroPoints: true, k: 256, n: 64 },
  ];
  for (const c of CASES)
    for (const sharded of [false, true])
      test(`${c.title}, ${sharded ? 'sharded' : 'single file'}`, async () => {
        const { data, w64 } = layer(c);
        expectSame(await roundTrip(awqConfig(c), awqTensors(PREFIX, data.quantized), sharded), data.quantized, w64);
      });

  test('zero points that are all 2^(bits-1) load as symmetric', async () => {
    const { data, w64 } = layer({ dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: false, k: 256, n: 64 });
    const got = await roundTrip(awqConfig({ bits: 4, groupSize: 128 }), awqTensors(PREFIX, data.quantized), false);
    expect(got.zeros).toBeUndefined();
    expectSame(got, data.quantized, w64);
  });
});

describe(`Marlin-format checkpoints (seed ${SEED})`, () => {
  const CASES: Array<Layer & { title: string }> = [
    { title: '4-bit g128 FP16 (the published format)', dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: false, k: 384, n: 192 },
    { title: '4-bit per-channel FP16', dtype: 'float16', bits: 4, groupSize: -1, zeroPoints: false, k: 256, n: 128 },
    { title: '4-bit g64 BF16', dtype: 'bfloat16', bits: 4, groupSize: 64, zeroPoints: false, k: 256, n: 64 },
  ];
  for (const c of CASES)
    for (const sharded of [false, true])
      test(`${c.title}, ${sharded ? 'sharded' : 'single file'}`, async () => {
        const { data, w64 } = layer(c);
        expectSame(await roundTrip(marlinConfig(c), marlinTensors(PREFIX, data.quantized), sharded), data.quantized, w64);
      });

  test("quant_method: 'marlin' and is_marlin_format are the same format", async () => {
    const { data, w64 } = layer({ dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: false, k: 128, n: 64 });
    const tensors = marlinTensors(PREFIX, data.quantized);
    expectSame(await roundTrip({ quantization_config: { quant_method: 'marlin', group_size: 128 } }, tensors, false), data.quantized, w64);
    expectSame(await roundTrip({ quantization_config: { bits: 4, group_size: 128, is_marlin_format: true } }, tensors, false), data.quantized, w64);
  });
});

describe('a model of several layers', () => {
  test('every quantized layer is found by name and read on its own', async () => {
    const dir = freshDir();
    const names = ['model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.o_proj', 'model.layers.1.mlp.up_proj'];
    const layers = names.map(() => layer({ dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: true, k: 256, n: 64 }));
    const tensors = names.flatMap((name, i) => gptqTensors(name, layers[i].data.quantized, { convention: 'v2' }));
    writeModelDir(dir, gptqConfig({ bits: 4, groupSize: 128, sym: false, descAct: false, format: 'gptq_v2' }), tensors, 2);
    const config = await readQuantizationConfig(dir);
    await using model = await openSafetensors(dir);
    expect(quantizedLayerNames(model.names(), config)).toEqual(names);
    for (const [i, name] of names.entries()) expectSame(await readQuantizedLayer(model, name, config), layers[i].data.quantized, layers[i].w64);
  });
});
