/**
 * Every weight format on the GPU: FP16 and BF16 activations, 4 and 8 bits,
 * groups of 32/64/128 rows or per-channel, symmetric or with zero points,
 * and act-order layers (shuffled gIdx, unequal group sizes: padded kernel
 * groups). Layers are built from random q / scales / zero points directly
 * (not through quantize()); the float64 weights are computed by the test
 * from those arrays in input row order; every output element of the
 * checked rows must lie within a per-element bound of the float64 product
 * (test/helpers/format-reference.ts explains the bound). Then, exactly:
 * x = I must return every weight as the GEMM computes it (rounded once;
 * grouped zero points: on scaled zero points, kernelW), and
 * dequantizeWeights() every weight rounded once; repeats are bit-identical.
 *
 * Shapes keep the CPU reference cheap and cover partial tiles: k = 640 or
 * 384 (5 or 3 stages of 128, not multiples of 256), n = 192 or 320 (64 x
 * odd). Rows of the reference are sampled for m >= 200.
 */
import { Device, DeviceTensor } from '../../lib/device';
import { type ActivationDType, type WeightFormat } from '../../lib/formats';
import { fromHalves, toHalves } from '../../lib/fp16';
import { type Tile } from '../../lib/chooser';
import { QuantizedLinear } from '../../lib/linear';
import { firstDifference } from '../helpers/compare';
import {
  type FormatCase,
  type FormatLayerData,
  boundFor,
  caseName,
  checkElements,
  describeCheck,
  everyFormat,
  randomActivations,
  randomFormatLayer,
  referenceRows,
  ulpDistance,
} from '../helpers/format-reference';
import { describeGpu } from '../helpers/gpu';
import { SEED, rng, sampleRows, uniform } from '../helpers/random';

/** Batch sizes: one row, a partial m16 block, whole and partial 64-row problems, several problems. */
const BATCHES = [1, 3, 16, 17, 64, 65, 200, 1024];
/** Batches of at least this many rows check a sample of rows against float64 (first, last and 30 more). */
const SAMPLE_FROM = 200;
const SAMPLED_ROWS = 30;
/** Sanity bound on ||got - ref|| / ||ref|| (the per-element bound is the real check). */
const RELATIVE_SANITY = 1e-2;

const SHAPES = [
  { k: 640, n: 192 },
  { k: 384, n: 320 },
];

const CASES: FormatCase[] = [
  ...everyFormat().map((f, i) => ({ ...f, ...SHAPES[i % 2] })),
  // act-order: equal groups in a shuffled order (no padding)
  { dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: false, k: 640, n: 192, actOrder: { kind: 'shuffled' } },
  { dtype: 'bfloat16', bits: 4, groupSize: 32, zeroPoints: true, k: 384, n: 320, actOrder: { kind: 'shuffled' } },
  // unequal groups: short kernel groups padded with zero weights (384 -> 512 kernel rows)
  { dtype: 'bfloat16', bits: 8, groupSize: 64, zeroPoints: true, k: 384, n: 192, actOrder: { kind: 'sizes', sizes: [100, 30, 200, 54] } },
  { dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: true, k: 384, n: 320, actOrder: { kind: 'sizes', sizes: [200, 56, 128] } },
  // padding inside groups and at the end of k (23 kernel groups of 32 -> 768 rows), and an empty group
  { dtype: 'float16', bits: 8, groupSize: 32, zeroPoints: false, k: 640, n: 192, actOrder: { kind: 'sizes', sizes: [150, 3, 0, 290, 197] } },
  // k not a multiple of 16: only act-order layers take it (x's columns are gathered into kernel rows)
  { dtype: 'bfloat16', bits: 4, groupSize: 64, zeroPoints: false, k: 300, n: 192, actOrder: { kind: 'sizes', sizes: [70, 100, 130] } },
];

interface Built {
  c: FormatCase;
  data: FormatLayerData;
  layer: QuantizedLinear;
}

describeGpu(`every weight format against float64, per element (seed ${SEED})`, () => {
  const random = rng(SEED + 90);
  let device: Device;

  beforeAll(() => {
    device = Device.get(0);
  });

  /** x (random, in the layer's dtype) times the layer, output poisoned first: a failure line, or undefined. */
  async function runAndCheck(b: Built, m: number, options: { sms?: number; tile?: Tile } = {}): Promise<string | undefined> {
    const { k, n, dtype } = b.c;
    const x = randomActivations(m, k, dtype, random);
    using xt = DeviceTensor.from(device, x.bits, [m, k], dtype);
    using out = device.empty([m, n], dtype);
    out.fill(0xff); // NaN in FP16 and BF16: an element left unwritten cannot pass
    b.layer.forward(xt, { out, ...options });
    const got = fromHalves(await out.toHost(), dtype);
    const rows = m >= SAMPLE_FROM ? sampleRows(m, SAMPLED_ROWS, random) : Array.from({ length: m }, (_, i) => i);
    const { ref, absSum } = referenceRows(x.values, b.data, k, n, rows);
    const check = checkElements(got, n, rows, ref, absSum, boundFor(b.layer.format, b.layer.kernelK));
    const ok = check.violations === 0 && check.nonFinite === 0 && check.relError < RELATIVE_SANITY;
    const tile = options.tile ? ` tile ${options.tile.tileK}x${options.tile.tileN}` : '';
    return ok ? undefined : `m=${m}${options.sms ? ` sms=${options.sms}` : ''}${tile}: ${describeCheck(check)}`;
  }

  for (const c of CASES) {
    describe(caseName(c), () => {
      let built: Built | undefined;
      beforeAll(() => {
        const data = randomFormatLayer(c, random);
        const layer = QuantizedLinear.fromQuantized(data.quantized, { device });
        built = { c, data, layer };
      });
      afterAll(() => built?.layer.dispose());

      test('the layer has the format and shape it was given', () => {
        const { layer } = built!;
        const expected: WeightFormat = { dtype: c.dtype, bits: c.bits, groupSize: c.groupSize, zeroPoints: c.zeroPoints };
        expect(layer.format).toEqual(expected);
        expect([layer.inFeatures, layer.outFeatures, layer.actOrder]).toEqual([c.k, c.n, c.actOrder !== undefined]);
        expect(layer.kernelK % 128).toBe(0);
        if (!c.actOrder) expect(layer.kernelK).toBe(c.k);
      });

      test(`forward() for m in ${BATCHES.join(', ')}: every element within its bound`, async () => {
        const failures: string[] = [];
        for (const m of BATCHES) {
          const failure = await runAndCheck(built!, m);
          if (failure) failures.push(failure);
        }
        expect(failures).toEqual([]);
      });

      test('repeated runs with reductions across blocks (sms: 7, m = 200) are bit-identical and within bounds', async () => {
        const { k, n, dtype } = c;
        const m = 200;
        const x = toHalves(uniform(m * k, random), dtype);
        using xt = DeviceTensor.from(device, x, [m, k], dtype);
        const outputs: Uint16Array[] = [];
        for (let run = 0; run < 2; run++) {
          using out = device.empty([m, n], dtype);
          out.fill(0xff);
          built!.layer.forward(xt, { out, sms: 7 });
          outputs.push(await out.toHost());
        }
        expect(firstDifference(outputs[1], outputs[0])).toBe(-1);
        expect(await runAndCheck(built!, m, { sms: 7 })).toBeUndefined();
      });

      // With x = I every output is one product 1 * w plus exact zeros, so the GEMM must return each
      // weight exactly as it computes it (kernelW): (q - z) s rounded once (grouped: in the dtype before
      // the mma; per-channel: the exact FP32 product rounded at the output), or for grouped zero points
      // (q - 2^(bits-1)) s + zs rounded once. This catches small dequantization errors (a zero point off
      // by one, one wrong weight) that the per-element bound is too wide to see.
      test('forward(identity) returns every weight exactly: the GEMM\'s own dequantization', async () => {
        const { k, n, dtype } = c;
        const eye = new Float32Array(k * k);
        for (let i = 0; i < k; i++) eye[i * k + i] = 1;
        using x = DeviceTensor.from(device, toHalves(eye, dtype), [k, k], dtype);
        using out = device.empty([k, n], dtype);
        out.fill(0xff);
        built!.layer.forward(x, { out });
        const got = await out.toHost();
        const expected = built!.data.kernelW;
        const values = fromHalves(got, dtype);
        const bad: string[] = [];
        let count = 0;
        for (let i = 0; i < got.length; i++)
          if (!Number.isFinite(values[i]) || ulpDistance(got[i], expected[i]) !== 0) {
            if (count++ < 5) bad.push(`(${Math.floor(i / n)}, ${i % n}): got ${values[i]}, expected ${built!.data.w64[i]}`);
          }
        if (count > 5) bad.push(`... ${count} weights in all`);
        expect(bad).toEqual([]);
      });

      test('dequantizeWeights() is (q - z) s rounded once to the dtype, rows in input order', async () => {
        const { k, n, dtype } = c;
        using out = device.empty([k, n], dtype);
        out.fill(0xff);
        built!.layer.dequantizeWeights({ out });
        const got = await out.toHost();
        const expected = toHalves(built!.data.w64, dtype); // exact products, one rounding
        const values = fromHalves(got, dtype);
        const bad: string[] = [];
        for (let i = 0; i < got.length && bad.length < 5; i++)
          if (!Number.isFinite(values[i]) || ulpDistance(got[i], expected[i]) > 1)
            bad.push(`(${Math.floor(i / n)}, ${i % n}): got ${values[i]}, expected ${built!.data.w64[i]}`);
        expect(bad).toEqual([]);
      });
    });
  }

  // The cases above have slices of at most 5 stages, shorter than the pipeline. Here slices run far
  // longer than it (few blocks over a deep k, several slices per block), on both tiles, with x's rows
  // at odd element strides (k = 2999: the plain gather kernel) and 16-byte ones (k = 2048: the gather
  // from a row staged in shared memory), at one and two 16-row blocks.
  describe('act-order on long slices, both tiles, few blocks', () => {
    const CASES_LONG: FormatCase[] = [
      { dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: true, k: 2999, n: 256, actOrder: { kind: 'shuffled' } },
      { dtype: 'bfloat16', bits: 8, groupSize: 32, zeroPoints: false, k: 2048, n: 512, actOrder: { kind: 'sizes', sizes: [1000, 24, 0, 1000, 24] } },
    ];
    const TILES: Tile[] = [
      { tileK: 128, tileN: 128 },
      { tileK: 64, tileN: 256 },
    ];
    for (const c of CASES_LONG) {
      test(caseName(c), async () => {
        const data = randomFormatLayer(c, random);
        using layer = QuantizedLinear.fromQuantized(data.quantized, { device });
        const b: Built = { c, data, layer };
        const failures: string[] = [];
        for (const tile of TILES)
          for (const sms of [1, 3, 0])
            for (const m of [1, 5, 16, 17]) {
              const failure = await runAndCheck(b, m, { sms, tile });
              if (failure) failures.push(failure);
            }
        expect(failures).toEqual([]);
      });
    }
  });
});

describeGpu(`forward() refuses bad operands before queuing anything (seed ${SEED})`, () => {
  const random = rng(SEED + 91);
  let device: Device;
  const layers: Partial<Record<ActivationDType, QuantizedLinear>> = {};
  const k = 256;
  const n = 128;
  const m = 4;

  beforeAll(() => {
    device = Device.get(0);
    for (const dtype of ['float16', 'bfloat16'] as const) {
      const data = randomFormatLayer({ dtype, bits: 8, groupSize: 64, zeroPoints: true, k, n }, random);
      layers[dtype] = QuantizedLinear.fromQuantized(data.quantized, { device });
    }
  });
  afterAll(() => Object.values(layers).forEach((l) => l?.dispose()));

  /** The output still holds the poison: nothing wrote to it. */
  async function untouched(t: DeviceTensor): Promise<boolean> {
    const host = (await t.toHost()) as Uint16Array;
    return host.every((v) => v === 0xffff);
  }

  test.each([
    ['float16', 'bfloat16'],
    ['bfloat16', 'float16'],
  ] as const)('a %s layer refuses %s activations (BAD_DTYPE) and leaves out untouched', async (layerType, xType) => {
    const layer = layers[layerType]!;
    using x = device.upload(toHalves(uniform(m * k, random), xType), [m, k], xType);
    using out = device.empty([m, n], layerType);
    out.fill(0xff);
    expect(() => layer.forward(x, { out })).toThrow(expect.objectContaining({ code: 'BAD_DTYPE', message: expect.stringContaining(layerType) }));
    expect(await untouched(out)).toBe(true);
  });

  test('a float16 layer refuses an out of another dtype (BAD_DTYPE) or shape (BAD_SHAPE)', async () => {
    const layer = layers.float16!;
    using x = device.upload(toHalves(uniform(m * k, random), 'float16'), [m, k], 'float16');
    using bf16Out = device.empty([m, n], 'bfloat16');
    using wideOut = device.empty([m, n + 64], 'float16');
    using tallOut = device.empty([m + 1, n], 'float16');
    using flatOut = device.empty([m * n], 'float16');
    for (const t of [bf16Out, wideOut, tallOut, flatOut]) t.fill(0xff);
    expect(() => layer.forward(x, { out: bf16Out })).toThrow(expect.objectContaining({ code: 'BAD_DTYPE' }));
    expect(() => layer.forward(x, { out: wideOut })).toThrow(expect.objectContaining({ code: 'BAD_SHAPE' }));
    expect(() => layer.forward(x, { out: tallOut })).toThrow(expect.objectContaining({ code: 'BAD_SHAPE' }));
    expect(() => layer.forward(x, { out: flatOut })).toThrow(expect.objectContaining({ code: 'BAD_SHAPE' }));
    for (const t of [bf16Out, wideOut, tallOut, flatOut]) expect(await untouched(t)).toBe(true);
    // the layer still works after the refusals
    using out = device.empty([m, n], 'float16');
    out.fill(0xff);
    layer.forward(x, { out });
    const values = fromHalves(await out.toHost(), 'float16');
    expect(values.every((v) => Number.isFinite(v))).toBe(true);
  });

  test('a bfloat16 layer refuses a float16 out and x of the wrong width', async () => {
    const layer = layers.bfloat16!;
    using x = device.upload(toHalves(uniform(m * k, random), 'bfloat16'), [m, k], 'bfloat16');
    using narrowX = device.upload(toHalves(uniform(m * (k - 128), random), 'bfloat16'), [m, k - 128], 'bfloat16');
    using f16Out = device.empty([m, n], 'float16');
    using out = device.empty([m, n], 'bfloat16');
    f16Out.fill(0xff);
    out.fill(0xff);
    expect(() => layer.forward(x, { out: f16Out })).toThrow(expect.objectContaining({ code: 'BAD_DTYPE' }));
    expect(() => layer.forward(narrowX, { out })).toThrow(expect.objectContaining({ code: 'BAD_SHAPE' }));
    expect(await untouched(f16Out)).toBe(true);
    expect(await untouched(out)).toBe(true);
  });
});
