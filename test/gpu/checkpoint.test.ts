/**
 * Layers loaded from GPTQ, AWQ and Marlin-format checkpoints on the GPU.
 * Each case writes a small synthetic checkpoint with
 * test/helpers/checkpoint-formats.ts (from known q, zero points, scales
 * and g_idx, as docs/formats.md specifies), reads it back with the
 * safetensors reader (single file or three shards), and loads the layer
 * with QuantizedLinear.fromGptq / fromAwq / fromMarlin. Then:
 * - the layer has the format the stored data says (zero points that are
 *   all 2^(bits-1) load as symmetric, a shuffled g_idx as act-order);
 * - forward() is within the per-element bound of the float64 product with
 *   the weights the case started from (test/helpers/format-reference.ts);
 * - forward() equals, bit for bit, the layer fromQuantized() builds from
 *   the same q, scales, zero points and gIdx.
 * And fromWeights() with layout 'out-in' equals 'in-out' bit for bit.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { openSafetensors, readLayerTensors, readQuantizationConfig } from '../../lib/checkpoint';
import { Device, DeviceTensor } from '../../lib/device';
import { type WeightFormat } from '../../lib/formats';
import { fromHalves, toHalves } from '../../lib/fp16';
import { QuantizedLinear } from '../../lib/linear';
import { awqConfig, awqTensors, gptqConfig, gptqTensors, marlinConfig, marlinTensors } from '../helpers/checkpoint-formats';
import { firstDifference } from '../helpers/compare';
import {
  type FormatCase,
  type FormatLayerData,
  boundFor,
  checkElements,
  describeCheck,
  randomActivations,
  randomFormatLayer,
  referenceRows,
} from '../helpers/format-reference';
import { describeGpu } from '../helpers/gpu';
import { SEED, rng, uniform } from '../helpers/random';
import { type RawTensor, writeModelDir } from '../helpers/safetensors-bytes';

const BATCHES = [1, 16, 65];
const PREFIX = 'model.layers.7.mlp.down_proj';

interface CheckpointCase extends FormatCase {
  title: string;
  method: 'gptq' | 'awq' | 'marlin';
  /** GPTQ: checkpoint_format (default gptq, the v1 zero points). */
  format?: 'gptq' | 'gptq_v2';
  sharded: boolean;
  /** GPTQ: rows of scales to store (unused groups beyond the used ones). */
  groups?: number;
}

const CASES: CheckpointCase[] = [
  { title: 'GPTQ v1 sym', method: 'gptq', dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: false, k: 384, n: 192, sharded: false },
  { title: 'GPTQ v2 asym', method: 'gptq', format: 'gptq_v2', dtype: 'bfloat16', bits: 8, groupSize: 64, zeroPoints: true, k: 256, n: 128, sharded: true },
  { title: 'GPTQ v1 asym per-channel', method: 'gptq', dtype: 'bfloat16', bits: 4, groupSize: -1, zeroPoints: true, k: 256, n: 64, sharded: false },
  { title: 'GPTQ act-order (shuffled g_idx)', method: 'gptq', dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: false, k: 384, n: 128, sharded: true, actOrder: { kind: 'shuffled' } },
  {
    title: 'GPTQ act-order (unequal groups, unused scale rows)',
    method: 'gptq',
    format: 'gptq_v2',
    dtype: 'bfloat16',
    bits: 8,
    groupSize: 32,
    zeroPoints: true,
    k: 256,
    n: 64,
    sharded: false,
    actOrder: { kind: 'sizes', sizes: [70, 3, 120, 63] },
    groups: 8,
  },
  { title: 'AWQ 4-bit', method: 'awq', dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: true, k: 384, n: 192, sharded: true },
  { title: 'AWQ 8-bit', method: 'awq', dtype: 'bfloat16', bits: 8, groupSize: 32, zeroPoints: true, k: 256, n: 128, sharded: false },
  { title: 'Marlin format', method: 'marlin', dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: false, k: 384, n: 192, sharded: false },
  { title: 'Marlin format per-channel', method: 'marlin', dtype: 'float16', bits: 4, groupSize: -1, zeroPoints: false, k: 256, n: 128, sharded: true },
];

function checkpointOf(c: CheckpointCase, data: FormatLayerData): { config: Record<string, unknown>; tensors: RawTensor[] } {
  const w = data.quantized;
  if (c.method === 'gptq')
    return {
      config: gptqConfig({ bits: c.bits, groupSize: c.groupSize, sym: !c.zeroPoints, descAct: c.actOrder !== undefined, format: c.format }),
      tensors: gptqTensors(PREFIX, w, { convention: c.format === 'gptq_v2' ? 'v2' : 'v1', groups: c.groups }),
    };
  if (c.method === 'awq') return { config: awqConfig(c), tensors: awqTensors(PREFIX, w) };
  return { config: marlinConfig(c), tensors: marlinTensors(PREFIX, w) };
}

describeGpu(`layers loaded from checkpoints against float64, per element (seed ${SEED})`, () => {
  const random = rng(SEED + 730);
  let device: Device;
  let root: string;

  beforeAll(() => {
    device = Device.get(0);
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'marlin-gpu-checkpoint-'));
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  for (const [index, c] of CASES.entries()) {
    describe(`${c.title}: ${c.dtype} ${c.bits}-bit group ${c.groupSize} k=${c.k} n=${c.n}, ${c.sharded ? 'sharded' : 'single file'}`, () => {
      let data: FormatLayerData;
      let layer: QuantizedLinear | undefined;
      let direct: QuantizedLinear | undefined;

      beforeAll(async () => {
        data = randomFormatLayer(c, random);
        const dir = path.join(root, `case-${index}`);
        const { config, tensors } = checkpointOf(c, data);
        writeModelDir(dir, config, tensors, c.sharded ? 3 : 1);
        const parsed = await readQuantizationConfig(dir);
        await using model = await openSafetensors(dir);
        const read = await readLayerTensors(model, PREFIX, parsed);
        const options = { device, name: PREFIX };
        layer =
          c.method === 'gptq'
            ? QuantizedLinear.fromGptq(read as never, parsed, options)
            : c.method === 'awq'
              ? QuantizedLinear.fromAwq(read as never, parsed, options)
              : QuantizedLinear.fromMarlin(read as never, parsed, options);
        direct = QuantizedLinear.fromQuantized(data.quantized, { device });
      });
      afterAll(() => {
        layer?.dispose();
        direct?.dispose();
      });

      test('the layer has the format and shape of the stored data', () => {
        const expected: WeightFormat = { dtype: c.dtype, bits: c.bits, groupSize: c.groupSize, zeroPoints: c.zeroPoints };
        expect(layer!.format).toEqual(expected);
        expect([layer!.inFeatures, layer!.outFeatures, layer!.actOrder]).toEqual([c.k, c.n, c.actOrder !== undefined]);
      });

      test(`forward() for m in ${BATCHES.join(', ')}: within the per-element bound, and bit-identical to fromQuantized()`, async () => {
        const failures: string[] = [];
        for (const m of BATCHES) {
          const x = randomActivations(m, c.k, c.dtype, random);
          using xt = DeviceTensor.from(device, x.bits, [m, c.k], c.dtype);
          using out = device.empty([m, c.n], c.dtype);
          using ref = device.empty([m, c.n], c.dtype);
          out.fill(0xff); // NaN: an element left unwritten cannot pass
          layer!.forward(xt, { out });
          direct!.forward(xt, { out: ref });
          const gotBits = await out.toHost();
          const got = fromHalves(gotBits, c.dtype);
          const rows = Array.from({ length: m }, (_, i) => i);
          const { ref: want, absSum } = referenceRows(x.values, data, c.k, c.n, rows);
          const check = checkElements(got, c.n, rows, want, absSum, boundFor(layer!.format, layer!.kernelK));
          if (check.violations > 0 || check.nonFinite > 0) failures.push(`m=${m}: ${describeCheck(check)}`);
          const same = firstDifference(gotBits, await ref.toHost());
          if (same !== -1) failures.push(`m=${m}: element ${same} differs from the fromQuantized() layer`);
        }
        expect(failures).toEqual([]);
      });
    });
  }
});

describeGpu(`fromWeights() with layout 'out-in' (seed ${SEED})`, () => {
  test("[n, k] weights with layout 'out-in' give the layer [k, n] weights give, bit for bit", async () => {
    const random = rng(SEED + 731);
    const device = Device.get(0);
    const k = 256;
    const n = 128;
    const m = 8;
    const w = uniform(k * n, random, 1);
    const wT = new Float32Array(k * n);
    for (let r = 0; r < k; r++) for (let c = 0; c < n; c++) wT[c * k + r] = w[r * n + c];
    using a = QuantizedLinear.fromWeights(w, k, n, { device, groupSize: 64, zeroPoints: true });
    using b = QuantizedLinear.fromWeights(wT, k, n, { device, groupSize: 64, zeroPoints: true, layout: 'out-in' });
    using x = DeviceTensor.from(device, toHalves(uniform(m * k, random), 'float16'), [m, k], 'float16');
    using ya = a.forward(x);
    using yb = b.forward(x);
    expect(firstDifference(await yb.toHost(), await ya.toHost())).toBe(-1);
  });
});
