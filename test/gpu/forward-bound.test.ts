/**
 * forward()'s bound calls: once a layer sees the same x, out and stream
 * twice running (default plan), it binds a native call to them and later
 * calls skip the addon's argument handling. Checked here: it binds (and
 * only then), a bound call computes what the unbound path computes bit for
 * bit with x's current contents, it lets go when any argument changes
 * (another x or out, the stream's workspace replaced, overrides), disposed
 * tensors still throw DISPOSED, and a bound call captured into a graph
 * replays correctly.
 */
import { DEFAULT_KERNEL_TABLE, setKernelTable } from '../../lib/chooser';
import { Device, DeviceTensor, type Stream } from '../../lib/device';
import type { ActivationDType } from '../../lib/formats';
import { QuantizedLinear } from '../../lib/linear';
import type { NativeGemm } from '../../lib/native';
import { firstDifference } from '../helpers/compare';
import { expectCode } from '../helpers/expect-code';
import { type FormatCase, randomActivations, randomFormatLayer } from '../helpers/format-reference';
import { nativeGemmOf, observeNative } from '../helpers/gemm-check';
import { describeGpu } from '../helpers/gpu';
import { SEED, rng } from '../helpers/random';

const CASE: FormatCase = { dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: true, k: 256, n: 384 };

/** Counts calls of a native method of one object (observeNative). */
function countCalls(gemm: NativeGemm, name: 'run' | 'bind'): { calls: number; restore(): void } {
  const counter = { calls: 0 };
  const { restore } = observeNative(gemm, name, () => void counter.calls++);
  return Object.assign(counter, { restore });
}

describeGpu(`forward() binds the arguments it sees twice running (seed ${SEED})`, () => {
  const random = rng(SEED + 150);
  let device: Device;
  let stream: Stream;

  beforeAll(() => {
    device = Device.get(0);
    stream = device.createStream();
  });
  afterAll(() => stream.dispose());

  // Each layer has a twin with the same weights that computes the references,
  // so that checking a result does not touch the layer's own binding.
  const twins = new Map<QuantizedLinear, QuantizedLinear>();
  afterEach(() => {
    for (const twin of twins.values()) twin.dispose();
    twins.clear();
  });
  const layerOf = (c: FormatCase = CASE): QuantizedLinear => {
    const quantized = randomFormatLayer(c, random).quantized;
    const layer = QuantizedLinear.fromQuantized(quantized, { device, stream });
    twins.set(layer, QuantizedLinear.fromQuantized(quantized, { device, stream }));
    return layer;
  };
  const input = (m: number, k: number, dtype: ActivationDType = 'float16'): DeviceTensor<ActivationDType> =>
    DeviceTensor.from(device, randomActivations(m, k, dtype, random).bits, [m, k], dtype, stream);

  /** What the unbound path computes: the layer's twin, a fresh output each call (never bound). */
  async function reference(layer: QuantizedLinear, x: DeviceTensor<ActivationDType>): Promise<Uint16Array> {
    using y = twins.get(layer)!.forward(x, { stream });
    return (await y.toHost(stream));
  }

  test('binds on the second call with the same arguments, then runs without the addon argument path, bit for bit, reading x as it is now', async () => {
    using layer = layerOf();
    const m = 5;
    using x = input(m, layer.inFeatures);
    using out = DeviceTensor.empty(device, [m, layer.outFeatures], 'float16');
    const gemm = nativeGemmOf(layer);
    const run = countCalls(gemm, 'run');
    const bind = countCalls(gemm, 'bind');
    try {
      for (let i = 0; i < 5; i++) layer.forward(x, { out, stream });
      expect({ run: run.calls, bind: bind.calls }).toEqual({ run: 2, bind: 1 });
      expect(firstDifference((await out.toHost(stream)), await reference(layer, x))).toBe(-1);
      // New contents in the same x: the bound call reads them.
      for (let i = 0; i < 3; i++) {
        x.upload(randomActivations(m, layer.inFeatures, 'float16', random).bits, stream);
        layer.forward(x, { out, stream });
        expect(firstDifference((await out.toHost(stream)), await reference(layer, x))).toBe(-1);
      }
      expect(bind.calls).toBe(1);
    } finally {
      run.restore();
      bind.restore();
    }
  });

  test('other arguments take the checked path, and the result is still right: another x or out, overrides, batch invariance', async () => {
    using layer = layerOf();
    const m = 3;
    using x = input(m, layer.inFeatures);
    using x2 = input(m, layer.inFeatures);
    using out = DeviceTensor.empty(device, [m, layer.outFeatures], 'float16');
    using out2 = DeviceTensor.empty(device, [m, layer.outFeatures], 'float16');
    layer.forward(x, { out, stream });
    layer.forward(x, { out, stream }); // bound
    const run = countCalls(nativeGemmOf(layer), 'run');
    try {
      layer.forward(x2, { out, stream });
      expect(firstDifference((await out.toHost(stream)), await reference(layer, x2))).toBe(-1);
      layer.forward(x, { out: out2, stream });
      expect(firstDifference((await out2.toHost(stream)), await reference(layer, x))).toBe(-1);
      layer.forward(x, { out, stream, stages: layer.plan(m, { family: 'mma' }).stages });
      layer.forward(x, { out, stream, batchInvariant: true });
      expect(firstDifference((await out.toHost(stream)), await reference(layer, x))).toBe(-1);
      // Four forward() calls, all checked (the references run on the twin).
      expect(run.calls).toBe(4);
      // Those calls dropped the binding of (x, out) (a layer holds the
      // buffers of its last call only): two more calls bind it again.
      run.calls = 0;
      for (let i = 0; i < 4; i++) layer.forward(x, { out, stream });
      expect(run.calls).toBe(2);
    } finally {
      run.restore();
    }
  });

  test("lets go when the stream's workspace is replaced (grown by a wider layer), and stays right", async () => {
    using small = layerOf({ ...CASE, n: 128 });
    const m = 4;
    using x = input(m, small.inFeatures);
    using out = DeviceTensor.empty(device, [m, small.outFeatures], 'float16');
    small.forward(x, { out, stream });
    small.forward(x, { out, stream }); // bound, with the stream's workspace of now
    using wide = layerOf({ ...CASE, n: 8192 });
    using wideOut = DeviceTensor.empty(device, [m, wide.outFeatures], 'float16');
    const before = stream.workspace;
    wide.forward(x, { out: wideOut, stream });
    expect(stream.workspace).not.toBe(before);
    const run = countCalls(nativeGemmOf(small), 'run');
    try {
      small.forward(x, { out, stream });
      expect(run.calls).toBe(1);
      expect(firstDifference((await out.toHost(stream)), await reference(small, x))).toBe(-1);
    } finally {
      run.restore();
    }
  });

  test('a bound call plans again when the kernel table changes: it computes what an unbound call under the new table computes', async () => {
    // 4096 x 4096 at m = 16: a 128x128 and a 64x256 tile split each column's
    // sum differently, so their FP16 outputs differ in some bits; a bound
    // call still on its old plan would give the old tile's bits.
    const c: FormatCase = { dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: false, k: 4096, n: 4096 };
    using layer = layerOf(c);
    const m = 16;
    using x = input(m, layer.inFeatures);
    using out = DeviceTensor.empty(device, [m, layer.outFeatures], 'float16');
    const tileOf = (t: { tileK: number; tileN: number }) => ({ maxBatch: Infinity, tileK: t.tileK, tileN: t.tileN });
    try {
      setKernelTable({ default: [tileOf({ tileK: 128, tileN: 128 })] });
      layer.forward(x, { out, stream });
      layer.forward(x, { out, stream }); // bound, planned with 128x128
      const before = (await out.toHost(stream));
      expect(firstDifference(before, await reference(layer, x))).toBe(-1);
      setKernelTable({ default: [tileOf({ tileK: 64, tileN: 256 })] });
      expect(layer.plan(m).tileN).toBe(256);
      const run = countCalls(nativeGemmOf(layer), 'run');
      try {
        layer.forward(x, { out, stream });
        expect(run.calls).toBe(0); // still the bound call
      } finally {
        run.restore();
      }
      const after = (await out.toHost(stream));
      const unbound = await reference(layer, x);
      expect(firstDifference(after, unbound)).toBe(-1);
      // The two tiles do give different bits here, so the check above could tell.
      expect(firstDifference(before, unbound)).not.toBe(-1);
    } finally {
      setKernelTable(DEFAULT_KERNEL_TABLE);
    }
  });

  test('a disposed x, out or layer still throws DISPOSED after binding', async () => {
    const layer = layerOf();
    const m = 2;
    const x = input(m, layer.inFeatures);
    const out = DeviceTensor.empty(device, [m, layer.outFeatures], 'float16');
    layer.forward(x, { out, stream });
    layer.forward(x, { out, stream }); // bound
    out.dispose();
    expectCode(() => layer.forward(x, { out, stream }), 'DISPOSED');
    x.dispose();
    using out2 = DeviceTensor.empty(device, [m, layer.outFeatures], 'float16');
    expectCode(() => layer.forward(x, { out: out2, stream }), 'DISPOSED');
    using x3 = input(m, layer.inFeatures);
    layer.forward(x3, { out: out2, stream });
    layer.forward(x3, { out: out2, stream }); // bound again
    layer.dispose();
    expectCode(() => layer.forward(x3, { out: out2, stream }), 'DISPOSED');
    await stream.synchronize();
  });

  test('a bound call captured into a graph replays what the direct call computes, with new inputs between replays', async () => {
    using layer = layerOf({ ...CASE, dtype: 'bfloat16' });
    const m = 7;
    using x = input(m, layer.inFeatures, 'bfloat16');
    using out = DeviceTensor.empty(device, [m, layer.outFeatures], 'bfloat16');
    layer.reserve({ maxBatch: m, stream });
    layer.forward(x, { out, stream });
    layer.forward(x, { out, stream }); // bound
    const run = countCalls(nativeGemmOf(layer), 'run');
    const graph = stream.capture(() => {
      layer.forward(x, { out, stream });
    });
    try {
      expect(run.calls).toBe(0);
      for (let i = 0; i < 2; i++) {
        x.upload(randomActivations(m, layer.inFeatures, 'bfloat16', random).bits, stream);
        graph.launch(stream);
        expect(firstDifference((await out.toHost(stream)), await reference(layer, x))).toBe(-1);
      }
    } finally {
      run.restore();
      graph.dispose();
    }
  });
});
