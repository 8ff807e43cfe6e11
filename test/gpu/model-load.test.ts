/**
 * loadQuantizedModel on the GPU, on tiny checkpoints of every supported
 * format (test/helpers/tiny-model.ts: written from known weights by the
 * independent writers), single-file and sharded:
 * - every layer's weights, dequantized on the GPU, equal the float64
 *   reference (q - z) * s rounded once to the dtype, element by element;
 * - forward() equals, bit for bit, the layer fromQuantized() builds from
 *   the same weights, and the GPU repack's packed arrays equal the CPU
 *   path's (repack: 'cpu');
 * - the other tensors arrive in their dtype with their bytes; progress
 *   ends at the totals;
 * - a load that fails on its last layer frees what it had put on the GPU
 *   (device memory back to where it was) and names the file and tensor;
 * - a load of a few hundred MB never stalls the event loop for long.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Device, DeviceTensor } from '../../lib/device';
import { fromHalves, toHalves } from '../../lib/fp16';
import type { QuantizedLinear } from '../../lib/linear';
import { QuantizedLinear as Linear } from '../../lib/linear';
import { type LoadProgress, loadQuantizedModel } from '../../lib/model';
import { firstDifference } from '../helpers/compare';
import { randomActivations } from '../helpers/format-reference';
import { describeGpu } from '../helpers/gpu';
import { watchLoop } from '../helpers/loop-stall';
import { SEED, rng } from '../helpers/random';
import { bytesOf } from '../helpers/safetensors-bytes';
import { TINY_LAYERS, type TinyModelCase, writeTinyModel } from '../helpers/tiny-model';

const CASES: TinyModelCase[] = [
  { title: 'GPTQ v1 sym', method: 'gptq', dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: false, k: 256, n: 192 },
  { title: 'GPTQ v2 asym 8-bit', method: 'gptq', format: 'gptq_v2', dtype: 'bfloat16', bits: 8, groupSize: 64, zeroPoints: true, k: 256, n: 128 },
  { title: 'GPTQ v1 asym per-channel', method: 'gptq', dtype: 'bfloat16', bits: 4, groupSize: -1, zeroPoints: true, k: 128, n: 576 },
  { title: 'GPTQ act-order shuffled', method: 'gptq', dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: false, k: 384, n: 128, actOrder: { kind: 'shuffled' } },
  {
    title: 'GPTQ act-order with padding, zero points',
    method: 'gptq',
    format: 'gptq_v2',
    dtype: 'bfloat16',
    bits: 8,
    groupSize: 32,
    zeroPoints: true,
    k: 256,
    n: 64,
    actOrder: { kind: 'sizes', sizes: [70, 3, 120, 63] },
  },
  { title: 'AWQ 4-bit', method: 'awq', dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: true, k: 256, n: 704 },
  { title: 'AWQ 8-bit', method: 'awq', dtype: 'bfloat16', bits: 8, groupSize: 32, zeroPoints: true, k: 128, n: 128 },
  { title: 'Marlin format', method: 'marlin', dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: false, k: 256, n: 128 },
];

async function packedArrays(layer: QuantizedLinear): Promise<Array<Uint16Array | Int32Array | Float32Array>> {
  const out = [await layer.weights.toHost(), await layer.scales.toHost()];
  if (layer.zeros) out.push(await layer.zeros.toHost());
  if (layer.rows) out.push(await layer.rows.toHost());
  return out;
}

describeGpu(`loadQuantizedModel on tiny checkpoints (seed ${SEED})`, () => {
  const random = rng(SEED + 760);
  let device: Device;
  let root: string;
  beforeAll(() => {
    device = Device.get(0);
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'marlin-gpu-load-'));
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  for (const [index, c] of CASES.entries())
    for (const sharded of [false, true])
      test(`${c.title}: ${c.dtype} ${c.bits}-bit g${c.groupSize} k=${c.k} n=${c.n}, ${sharded ? 'sharded' : 'single file'}`, async () => {
        const tiny = writeTinyModel(path.join(root, `case-${index}-${sharded}`), c, sharded, random);
        const reports: LoadProgress[] = [];
        using model = await loadQuantizedModel(tiny.dir, { device, onProgress: (p) => reports.push(p) });
        using cpu = c.method === 'marlin' ? undefined : await loadQuantizedModel(tiny.dir, { device, repack: 'cpu' });
        const failures: string[] = [];

        expect([...model.layers.keys()].sort()).toEqual([...TINY_LAYERS].sort());
        expect(model.config.architectures).toEqual(['LlamaForCausalLM']);
        for (const [name, data] of tiny.layers) {
          const layer = model.layers.get(name)!;
          expect([layer.inFeatures, layer.outFeatures, layer.actOrder]).toEqual([c.k, c.n, c.actOrder !== undefined]);
          // Dequantized on the GPU: (q - z) * s rounded once, against float64 rounded once.
          using w = layer.dequantizeWeights();
          const got = fromHalves(await w.toHost(), c.dtype);
          const want = fromHalves(toHalves(Array.from(data.w64), c.dtype), c.dtype);
          const bad = got.findIndex((v, i) => v !== want[i]);
          if (bad !== -1) failures.push(`${name}: weight ${bad} (row ${Math.floor(bad / c.n)}) is ${got[bad]}, the reference ${want[bad]}`);

          using direct = Linear.fromQuantized(data.quantized, { device });
          for (const m of [1, 17]) {
            const x = randomActivations(m, c.k, c.dtype, random);
            using xt = DeviceTensor.from(device, x.bits, [m, c.k], c.dtype);
            using y = layer.forward(xt);
            using ref = direct.forward(xt);
            const i = firstDifference(await y.toHost(), await ref.toHost());
            if (i !== -1) failures.push(`${name}: m=${m} output ${i} differs from fromQuantized()`);
          }
          if (cpu) {
            const [a, b] = [await packedArrays(layer), await packedArrays(cpu.layers.get(name)!)];
            a.forEach((arr, j) => {
              const i = firstDifference(arr, b[j]);
              if (i !== -1 || arr.length !== b[j].length) failures.push(`${name}: packed array ${j} differs from the CPU repack at ${i}`);
            });
          }
        }
        for (const t of tiny.plain) {
          if (t.dtype === 'I64') {
            expect(model.hostTensors.get(t.name)?.data).toEqual(new BigInt64Array(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength / 8));
            continue;
          }
          const d = model.tensors.get(t.name);
          expect(d?.dtype).toBe({ F16: 'float16', BF16: 'bfloat16', F32: 'float32' }[t.dtype as 'F16']);
          expect(d?.shape).toEqual(t.shape);
          expect(firstDifference(bytesOf(await d!.toHost()), t.bytes)).toBe(-1);
        }
        expect(failures).toEqual([]);
        const last = reports[reports.length - 1];
        expect(last.bytes).toBe(last.totalBytes);
        expect(last.tensors).toBe(last.totalTensors);
        expect(reports.every((r, i) => i === 0 || (r.bytes >= reports[i - 1].bytes && r.tensors >= reports[i - 1].tensors))).toBe(true);
      });

  test('a load that fails on its last layer frees what it put on the GPU, and names the file and tensor', async () => {
    const c = CASES[0];
    // A well-formed model first: the context, the stream and the allocator settle.
    const good = writeTinyModel(path.join(root, 'good'), c, false, random);
    (await loadQuantizedModel(good.dir, { device })).dispose();
    await device.synchronize();
    const bad = 'model.layers.9.mlp.gate_proj';
    const extra = [
      { name: `${bad}.qweight`, dtype: 'I32', shape: [c.k / 8, c.n], bytes: new Uint8Array(c.k * c.n / 2) },
      { name: `${bad}.scales`, dtype: 'F16', shape: [5, c.n], bytes: new Uint8Array(5 * c.n * 2) },
    ];
    const broken = writeTinyModel(path.join(root, 'broken'), c, false, random, extra);
    const before = device.memoryInfo().free;
    await expect(loadQuantizedModel(broken.dir, { device })).rejects.toMatchObject({
      code: 'BAD_CHECKPOINT',
      message: expect.stringContaining(`${bad}.scales`),
    });
    await expect(loadQuantizedModel(broken.dir, { device })).rejects.toMatchObject({ message: expect.stringContaining(path.join(broken.dir, 'model.safetensors')) });
    await device.synchronize();
    expect(device.memoryInfo().free).toBe(before);
  });

  test('loading a few hundred MB never stalls the event loop for long', async () => {
    const c: TinyModelCase = { title: 'big', method: 'gptq', dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: false, k: 128, n: 64 };
    const embed = new Uint8Array(256 << 20); // 256 MiB of F16 zeros: streamed in pieces
    const qweight = new Uint8Array((4096 * 8192) / 2); // one 4096 x 8192 4-bit layer: 16 MiB
    const extra = [
      { name: 'model.embed_big.weight', dtype: 'F16', shape: [embed.length / 2 / 4096, 4096], bytes: embed },
      { name: 'model.layers.5.mlp.up_proj.qweight', dtype: 'I32', shape: [4096 / 8, 8192], bytes: qweight },
      { name: 'model.layers.5.mlp.up_proj.scales', dtype: 'F16', shape: [32, 8192], bytes: bytesOf(toHalves(new Array(32 * 8192).fill(0.5), 'float16')) },
    ];
    const dir = path.join(root, 'big');
    writeTinyModel(dir, c, true, random, extra);
    const { value: model, longestMs, turns } = await watchLoop(() => loadQuantizedModel(dir, { device }));
    model.dispose();
    expect(turns).toBeGreaterThan(10);
    // Pieces of 8 MiB from pageable memory take about a millisecond each; leave room for a slow host.
    expect(longestMs).toBeLessThan(50);
  });
});
