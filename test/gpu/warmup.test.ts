/**
 * QuantizedLinear.warmup(): one call per kernel the batch sizes up to
 * maxBatch use, on scratch buffers, then a wait. Checked here: it runs
 * exactly the batches warmupBatches() lists, with the forward() options it
 * was given, through the native run; on a layer wide enough that the plans
 * change tile (and, on H100-class GPUs, family and tile height) with the
 * batch, those batches use every kernel any batch up to maxBatch uses; the
 * layer then computes what a layer that never warmed up computes, bit for
 * bit; batch invariance picks other (fixed-tile) kernels; bad options and
 * disposed layers are refused before anything runs (graph.test.ts: a
 * capturing stream); a failing call stops it with its error, its scratch
 * freed.
 */
import { warmupBatches } from '../../lib/chooser';
import { Device, DeviceTensor, type Stream } from '../../lib/device';
import { QuantizedLinear } from '../../lib/linear';
import type { NativeGemm, NativeOverrides } from '../../lib/native';
import { firstDifference } from '../helpers/compare';
import { type FormatCase, randomActivations, randomFormatLayer } from '../helpers/format-reference';
import { nativeGemmOf, observeNative } from '../helpers/gemm-check';
import { describeGpu } from '../helpers/gpu';
import { SEED, rng } from '../helpers/random';

// 8192 columns: from 65 rows the default tile is 64x256 (the kernel table's
// minN rule), and on compute capability 9.0 the wgmma family takes 49 rows
// and more (32 output tiles), at both tile heights; batch invariance keeps
// one tile. k is small so the layer is cheap.
const CASE: FormatCase = { dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: false, k: 256, n: 8192 };
const MAX_BATCH = 300;

/** Records the rows and overrides of every native run() of one layer (observeNative). */
function recordRuns(gemm: NativeGemm): { rows: number[]; overrides: Array<NativeOverrides | undefined>; restore(): void } {
  const rows: number[] = [];
  const overrides: Array<NativeOverrides | undefined> = [];
  // run(a, c, workspace, stream, m, scratch, overrides): lib/linear.ts forward()
  const { restore } = observeNative(gemm, 'run', (args) => {
    rows.push(args[4] as number);
    overrides.push(args[6] as NativeOverrides | undefined);
  });
  return { rows, overrides, restore };
}

/** The kernels a plan uses: family, tile, row blocks (lib/chooser.ts warmupBatches). */
function kernelsOf(layer: QuantizedLinear, ms: number[], options = {}): Set<string> {
  return new Set(
    ms.flatMap((m) => {
      const p = layer.plan(m, options);
      return p.rowBlocks.map((r) => `${p.family} ${p.tileK}x${p.tileN} ${r}`);
    }),
  );
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

  const input = (m: number) => DeviceTensor.from(device, randomActivations(m, CASE.k, 'float16', random).bits, [m, CASE.k], 'float16', stream);

  async function forwardBits(layer: QuantizedLinear, x: DeviceTensor<'float16'>, options = {}): Promise<Uint16Array> {
    using y = layer.forward(x, { ...options, stream });
    return await y.toHost(stream);
  }

  test(`runs one call for each batch warmupBatches() lists, which together use every kernel of 1..${MAX_BATCH} rows`, async () => {
    using pair = layers();
    const { layer } = pair;
    const expected = warmupBatches(MAX_BATCH, (m) => layer.plan(m));
    expect(expected[0]).toBe(1);
    // More than one tile (or family) among the plans: the list has something to find.
    expect(new Set([...kernelsOf(layer, expected)].map((key) => key.split(' ').slice(0, 2).join(' '))).size).toBeGreaterThan(1);
    expect(kernelsOf(layer, expected)).toEqual(kernelsOf(layer, Array.from({ length: MAX_BATCH }, (_, i) => i + 1)));
    const runs = recordRuns(nativeGemmOf(layer));
    try {
      expect(await layer.warmup({ maxBatch: MAX_BATCH, stream })).toEqual(expected);
      expect(runs.rows).toEqual(expected);
      expect(runs.overrides.every((o) => o === undefined)).toBe(true); // the default plans
    } finally {
      runs.restore();
    }
  });

  test('afterwards the layer computes what a layer that never warmed up computes, bit for bit', async () => {
    using pair = layers();
    const { layer, twin } = pair;
    const m = 7;
    using x = input(m);
    using out = DeviceTensor.empty(device, [m, CASE.n], 'float16');
    layer.forward(x, { out, stream });
    layer.forward(x, { out, stream }); // bound now; warmup's calls take the binding away
    await layer.warmup({ maxBatch: 64, stream });
    out.fill(0xff, stream);
    layer.forward(x, { out, stream });
    expect(firstDifference(await out.toHost(stream), await forwardBits(twin, x))).toBe(-1);
    for (const rows of [1, 33, 64, 200]) {
      using xr = input(rows);
      expect(firstDifference(await forwardBits(layer, xr), await forwardBits(twin, xr))).toBe(-1);
    }
  });

  test('the forward() options it is given pick its kernels: batch invariance runs its fixed-tile, one-problem plans', async () => {
    using pair = layers();
    const { layer, twin } = pair;
    const invariant = warmupBatches(MAX_BATCH, (m) => layer.plan(m, { batchInvariant: true }));
    expect(invariant).not.toEqual(warmupBatches(MAX_BATCH, (m) => layer.plan(m)));
    const runs = recordRuns(nativeGemmOf(layer));
    try {
      expect(await layer.warmup({ maxBatch: MAX_BATCH, stream, batchInvariant: true })).toEqual(invariant);
      expect(runs.rows).toEqual(invariant);
      const tile = layer.plan(1, { batchInvariant: true });
      for (const o of runs.overrides) expect(o).toMatchObject({ maxPar: 1, tileK: tile.tileK, tileN: tile.tileN });
    } finally {
      runs.restore();
    }
    using x = input(3);
    expect(firstDifference(await forwardBits(layer, x, { batchInvariant: true }), await forwardBits(twin, x, { batchInvariant: true }))).toBe(-1);
  });

  test('refuses bad options before it runs anything, and a disposed layer', async () => {
    using pair = layers();
    const { layer, twin } = pair;
    const runs = recordRuns(nativeGemmOf(layer));
    try {
      for (const options of [{ maxBatch: 0 }, { maxBatch: 1.5 }, { maxBatch: 4, family: 'nope' }, { maxBatch: 4, splits: 99 }])
        await expect(layer.warmup({ ...options, stream } as never)).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
      await expect(layer.warmup(null as never)).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
      expect(runs.rows).toEqual([]);
    } finally {
      runs.restore();
    }
    twin.dispose();
    await expect(twin.warmup({ maxBatch: 4, stream })).rejects.toMatchObject({ code: 'DISPOSED' });
  });

  test('a call that fails: rejects with its error after the calls before it, runs nothing after it, frees every scratch tensor, and the layer still computes', async () => {
    using pair = layers();
    const { layer, twin } = pair;
    layer.reserve({ maxBatch: MAX_BATCH, stream }); // the workspace exists before the allocations are counted
    const batches = warmupBatches(MAX_BATCH, (m) => layer.plan(m));
    expect(batches.length).toBeGreaterThan(2);
    const rows: number[] = [];
    const { restore } = observeNative(nativeGemmOf(layer), 'run', (args) => {
      rows.push(args[4] as number);
      if (rows.length === 2) throw Object.assign(new Error('injected launch failure'), { code: 'CUDA_ERROR', cudaError: 719 });
    });
    const created = jest.spyOn(DeviceTensor, 'empty');
    try {
      await expect(layer.warmup({ maxBatch: MAX_BATCH, stream })).rejects.toMatchObject({ code: 'CUDA_ERROR', cudaError: 719, message: 'injected launch failure' });
      expect(rows).toEqual(batches.slice(0, 2));
      // An input and an output for each of the two calls, all freed.
      const scratch = created.mock.results.map((r) => r.value as DeviceTensor);
      expect(scratch.map((t) => t.shape[0])).toEqual([batches[0], batches[0], batches[1], batches[1]]);
      expect(scratch.every((t) => t.disposed)).toBe(true);
    } finally {
      created.mockRestore();
      restore();
    }
    for (const m of [1, batches[1], MAX_BATCH]) {
      using x = input(m);
      expect(firstDifference(await forwardBits(layer, x), await forwardBits(twin, x))).toBe(-1);
    }
  });
});
