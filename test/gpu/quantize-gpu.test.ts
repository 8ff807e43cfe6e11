/**
 * The GPTQ quantizer on the GPU against lib/rtn.ts, bit for bit: every
 * bits / group / sym / dtype case on random and edge-case weights (the
 * expected tensors are quantize() + docs/formats.md's GPTQ writing), a
 * 7B-sized layer against the host path, and the same errors as quantize().
 * Then the round trip: `marlin-node quantize` on a tiny FP16 model
 * directory, each layer loaded with QuantizedLinear.fromGptq through
 * lib/checkpoint, gives the outputs of quantize() + fromQuantized() on the
 * same weights, bit for bit.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { main } from '../../lib/cli';
import { openSafetensors, readLayerTensors, readQuantizationConfig } from '../../lib/checkpoint';
import { Device, DeviceTensor } from '../../lib/device';
import { MarlinError } from '../../lib/errors';
import { fromHalves, toHalves } from '../../lib/fp16';
import { GptqQuantizer, gptqQuantizeOnGpu, gptqQuantizeOnHost } from '../../lib/gptq-quantize';
import { QuantizedLinear } from '../../lib/linear';
import { quantize } from '../../lib/quantize';
import { firstDifference } from '../helpers/compare';
import { LINEAR_NAMES, writeFloatModel } from '../helpers/float-model';
import { GPTQ_CASES, expectedGptq, gptqBytes, gptqCaseName, gptqCaseWeights } from '../helpers/gptq-cases';
import { describeGpu } from '../helpers/gpu';
import { SEED, rng, uniform } from '../helpers/random';

const random = rng(SEED + 909);

describeGpu(`GPTQ quantizer on the GPU (seed ${SEED})`, () => {
  let device: Device;
  let quantizer: GptqQuantizer;
  beforeAll(() => {
    device = Device.get(0);
    quantizer = new GptqQuantizer(device);
  });
  afterAll(() => quantizer.dispose());

  test.each(GPTQ_CASES.map((c) => [gptqCaseName(c), c] as const))('%s: the tensors of quantize(), bit for bit', async (_name, c) => {
    // n = 200: the last block of warps is partly empty; k = 1024: several groups.
    const n = 200;
    const k = 1024;
    const w = gptqCaseWeights(n, k, c.bits, c.groupSize, c.inputDtype, random);
    const ours = gptqBytes(await quantizer.quantize(w, k, n, c));
    const expected = expectedGptq(w, n, k, c);
    for (const name of ['scales', 'qzeros', 'qweight', 'g_idx'] as const) expect([name, firstDifference(ours[name], expected[name])]).toEqual([name, -1]);
  });

  test('a 7B-sized layer (11008 x 4096), after a smaller one in the same buffers: the host path, bit for bit', async () => {
    const small = gptqCaseWeights(64, 512, 4, 128, 'float16', random);
    await quantizer.quantize(small, 512, 64, {});
    const n = 11008;
    const k = 4096;
    const w = toHalves(uniform(n * k, random, 0.05), 'float16');
    for (const options of [{}, { bits: 8, groupSize: -1, zeroPoints: true } as const]) {
      const ours = gptqBytes(await quantizer.quantize(w, k, n, options));
      const host = gptqBytes(gptqQuantizeOnHost(w, k, n, options));
      for (const name of ['scales', 'qzeros', 'qweight', 'g_idx'] as const) expect([name, firstDifference(ours[name], host[name])]).toEqual([name, -1]);
    }
  });

  test('non-finite weights and scales past FP16 throw the MarlinError quantize() throws; the quantizer goes on', async () => {
    const n = 64;
    const k = 512;
    for (const [dtype, value, at] of [
      ['float16', NaN, [5, 300]],
      ['float16', -Infinity, [63, 0]],
      ['bfloat16', Infinity, [0, 511]],
      ['bfloat16', 3e38, [9, 130]],
    ] as const) {
      const w = gptqCaseWeights(n, k, 4, 128, dtype, random);
      w[at[0] * k + at[1]] = toHalves([value], dtype)[0];
      let expected: unknown;
      try {
        quantize(fromHalves(w, dtype), k, n, { layout: 'out-in' });
      } catch (error) {
        expected = error;
      }
      expect(expected).toBeInstanceOf(MarlinError);
      await expect(quantizer.quantize(w, k, n, { inputDtype: dtype })).rejects.toMatchObject({
        code: (expected as MarlinError).code,
        message: (expected as MarlinError).message,
      });
    }
    const w = gptqCaseWeights(n, k, 4, 128, 'float16', random);
    expect(gptqBytes(await gptqQuantizeOnGpu(w, k, n, {}, device)).qweight).toEqual(gptqBytes(gptqQuantizeOnHost(w, k, n, {})).qweight);
  });
});

describeGpu(`marlin-node quantize -> fromGptq: the outputs of quantize() + fromQuantized() (seed ${SEED})`, () => {
  let tmp: string;
  let device: Device;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'marlin-quantize-gpu-'));
    device = Device.get(0);
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test.each([
    ['4-bit g128 sym', ['--bits', '4', '--group', '128', '--sym'], 4, 128, false],
    ['8-bit g64 asym', ['--bits', '8', '--group', '64', '--asym'], 8, 64, true],
    ['4-bit per-channel asym', ['--group', '-1', '--asym'], 4, -1, true],
  ] as const)('%s', async (name, flags, bits, groupSize, zeroPoints) => {
    const inDir = path.join(tmp, `${name}-in`);
    const outDir = path.join(tmp, `${name}-out`);
    const tensors = await writeFloatModel(inDir, { dtype: 'float16', layers: 2, hidden: 256, intermediate: 512, vocab: 64, shards: 2 }, random);
    expect(await main(['quantize', inDir, outDir, ...flags, '--max-shard-size', '300KB'])).toBe(0);
    const config = await readQuantizationConfig(outDir);
    await using model = await openSafetensors(outDir);
    const failures: string[] = [];
    for (let layer = 0; layer < 2; layer++)
      for (const m of LINEAR_NAMES) {
        const prefix = `model.layers.${layer}.${m}`;
        const w = tensors.get(`${prefix}.weight`)!;
        const [n, k] = w.shape;
        using loaded = QuantizedLinear.fromGptq((await readLayerTensors(model, prefix, config)) as never, config, { device, name: prefix });
        using direct = QuantizedLinear.fromQuantized(quantize(fromHalves(w.data, 'float16'), k, n, { layout: 'out-in', bits, groupSize, zeroPoints }), { device });
        for (const rows of [1, 16, 64]) {
          using x = DeviceTensor.from(device, toHalves(uniform(rows * k, random), 'float16'), [rows, k], 'float16');
          using a = device.empty([rows, n], 'float16');
          using b = device.empty([rows, n], 'float16');
          a.fill(0xff);
          b.fill(0x00);
          loaded.forward(x, { out: a });
          direct.forward(x, { out: b });
          const diff = firstDifference(await a.toHost(), await b.toHost());
          if (diff !== -1) failures.push(`${prefix} m=${rows}: element ${diff} differs`);
        }
      }
    expect(failures).toEqual([]);
  });
});
