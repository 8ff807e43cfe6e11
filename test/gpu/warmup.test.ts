/**
 * QuantizedLinear.warmup(): one call per kernel the batch sizes up to
 * maxBatch use, on scratch buffers, then a wait. Checked here: it runs
 * exactly the batches warmupBatches() lists, through the native run; it
 * leaves the layer computing what a layer that never warmed up computes,
 * bit for bit (also after a bound call, which it drops); the forward()
 * options it is given choose its kernels (batch invariance); it refuses bad
 * options, disposed layers and (graph.test.ts) capturing streams.
 */
import { warmupBatches } from '../../lib/chooser';
import { Device, DeviceTensor, type Stream } from '../../lib/device';
import { QuantizedLinear } from '../../lib/linear';
import type { NativeGemm } from '../../lib/native';
import { firstDifference } from '../helpers/compare';
import { type FormatCase, randomActivations, randomFormatLayer } from '../helpers/format-reference';
import { nativeGemmOf } from '../helpers/gemm-check';
import { describeGpu } from '../helpers/gpu';
import { SEED, rng } from '../helpers/random';

const CASE: FormatCase = { dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: false, k: 256, n: 384 };

/** Records the m of every native run() of one layer (an own property shadows the addon's read-only method). */
function recordRuns(gemm: NativeGemm): { rows: number[]; restore(): void } {
  const original = Reflect.get(gemm, 'run') as (...args: unknown[]) => unknown;
  const record = { rows: [] as number[], restore: () => void Reflect.deleteProperty(gemm, 'run') };
  Object.defineProperty(gemm, 'run', {
    configurable: true,
    value: (...args: unknown[]) => {
      record.rows.push(args[4] as number);
      return original.apply(gemm, args);
    },
  });
  return record;
}

describeGpu(`QuantizedLinear.warmup() (seed ${SEED})`, () => {
  const random = rng(SEED + 170);
  let device: Device;
  let stream: Stream;

  beforeAll(() => {
    device = Device.get(0);
    stream = device.createStream();
  });
  afterAll(() => stream.dispose());

  /** The layer and a twin with the same weights that never warms up; disposing the pair disposes both. */
  function layers(): { layer: QuantizedLinear; twin: QuantizedLinear; [Symbol.dispose](): void } {
    const quantized = randomFormatLayer(CASE, random).quantized;
    const layer = QuantizedLinear.fromQuantized(quantized, { device, stream });
    const twin = QuantizedLinear.fromQuantized(quantized, { device, stream });
    return { layer, twin, [Symbol.dispose]: () => (layer.dispose(), twin.dispose()) };
  }

  async function forwardBits(layer: QuantizedLinear, x: DeviceTensor<'float16'>): Promise<Uint16Array> {
    using y = layer.forward(x, { stream });
    return await y.toHost(stream);
  }

  test('runs one call for each batch warmupBatches() lists, which together use every kernel of 1..maxBatch rows, and waits for them', async () => {
    using pair = layers();
    const { layer } = pair;
    const maxBatch = 300;
    const expected = warmupBatches(maxBatch, (m) => layer.plan(m));
    expect(expected[0]).toBe(1);
    const kernels = (ms: number[]) => new Set(ms.flatMap((m) => { const p = layer.plan(m); return p.rowBlocks.map((r) => `${p.family} ${p.tileK}x${p.tileN} ${r}`); }));
    expect(kernels(expected)).toEqual(kernels(Array.from({ length: maxBatch }, (_, i) => i + 1)));
    const runs = recordRuns(nativeGemmOf(layer));
    try {
      expect(await layer.warmup({ maxBatch, stream })).toEqual(expected);
      expect(runs.rows).toEqual(expected);
    } finally {
      runs.restore();
    }
  });

  test('afterwards the layer computes what a layer that never warmed up computes, bit for bit, also after dropping a bound call', async () => {
    using pair = layers();
    const { layer, twin } = pair;
    const m = 7;
    using x = DeviceTensor.from(device, randomActivations(m, CASE.k, 'float16', random).bits, [m, CASE.k], 'float16', stream);
    using out = DeviceTensor.empty(device, [m, CASE.n], 'float16');
    layer.forward(x, { out, stream });
    layer.forward(x, { out, stream }); // bound now
    await layer.warmup({ maxBatch: 64, stream });
    out.fill(0xff, stream);
    layer.forward(x, { out, stream });
    const expected = await forwardBits(twin, x);
    expect(firstDifference(await out.toHost(stream), expected)).toBe(-1);
    for (const rows of [1, 33, 64]) {
      using xr = DeviceTensor.from(device, randomActivations(rows, CASE.k, 'float16', random).bits, [rows, CASE.k], 'float16', stream);
      expect(firstDifference(await forwardBits(layer, xr), await forwardBits(twin, xr))).toBe(-1);
    }
  });

  test('the forward() options it is given pick its kernels: batch invariance runs the fixed-tile plans', async () => {
    using pair = layers();
    const { layer, twin } = pair;
    const runs = recordRuns(nativeGemmOf(layer));
    try {
      const batches = await layer.warmup({ maxBatch: 100, stream, batchInvariant: true });
      expect(batches).toEqual(warmupBatches(100, (m) => layer.plan(m, { batchInvariant: true })));
      expect(runs.rows).toEqual(batches);
    } finally {
      runs.restore();
    }
    const m = 3;
    using x = DeviceTensor.from(device, randomActivations(m, CASE.k, 'float16', random).bits, [m, CASE.k], 'float16', stream);
    using a = layer.forward(x, { stream, batchInvariant: true });
    using b = twin.forward(x, { stream, batchInvariant: true });
    expect(firstDifference(await a.toHost(stream), await b.toHost(stream))).toBe(-1);
  });

  test('refuses bad options before it runs anything, and a disposed layer', async () => {
    const { layer, twin } = layers();
    twin.dispose();
    const runs = recordRuns(nativeGemmOf(layer));
    try {
      for (const options of [{ maxBatch: 0 }, { maxBatch: 1.5 }, { maxBatch: 4, family: 'nope' }, { maxBatch: 4, splits: 99 }])
        await expect(layer.warmup(options as never)).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
      await expect(layer.warmup(null as never)).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
      expect(runs.rows).toEqual([]);
    } finally {
      runs.restore();
    }
    await expect(twin.warmup({ maxBatch: 4, stream })).rejects.toMatchObject({ code: 'DISPOSED' });
    layer.dispose();
    await expect(layer.warmup({ maxBatch: 4, stream })).rejects.toMatchObject({ code: 'DISPOSED' });
  });
});
