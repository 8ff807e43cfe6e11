/**
 * The wgmma family (sm_90a) on an H100-class GPU: which calls the chooser
 * gives it, and that what it computes is right. Every format it covers
 * (4-bit symmetric, FP16 and BF16, groups of 32/64/128 and per column) runs
 * at batch sizes from its threshold up, on shapes with partial tiles (n =
 * 320: one whole 256-column tile and a quarter of one; k = 1152: nine
 * 128-deep stages), outputs NaN-poisoned first, every element of the checked
 * rows within its per-element bound of float64 (test/helpers/format-reference.ts).
 * Then the properties the family promises: a row's result does not depend
 * on the batch around it, repeats are bit-identical, it agrees with the mma
 * family within the bound, and a captured graph replays it exactly.
 *
 * formats.test.ts covers the same family through its m = 1024 and identity
 * (x = I, m = k) cases; this suite is where its choice and edges are pinned.
 * On other GPUs (or builds without sm_90) the suite says so and skips.
 */
import { Device, DeviceTensor } from '../../lib/device';
import { type WeightFormat } from '../../lib/formats';
import { fromHalves, toHalves } from '../../lib/fp16';
import { QuantizedLinear, type RunOptions } from '../../lib/linear';
import { native } from '../../lib/native';
import { firstDifference } from '../helpers/compare';
import {
  type FormatLayerData,
  boundFor,
  checkElements,
  describeCheck,
  everyFormat,
  randomActivations,
  randomFormatLayer,
  referenceRows,
  ulpDistance,
} from '../helpers/format-reference';
import { HAS_GPU, describeGpu } from '../helpers/gpu';
import { SEED, rng, sampleRows } from '../helpers/random';

const K = 1152;
const N = 320;
/** The family's threshold (csrc/kernels/table.json minBatch), one past, a partial 128-row tile, several tiles. */
const BATCHES = [256, 257, 383, 1000];
const SAMPLED_ROWS = 24;
const RELATIVE_SANITY = 1e-2;
const COVERED: WeightFormat[] = everyFormat().filter((f) => f.bits === 4 && !f.zeroPoints);
/** These layers are narrow (2 column tiles): the chooser keeps them on mma, so the suite forces the family. */
const WGMMA: RunOptions = { family: 'wgmma' };

const onHopper = ((): boolean => {
  if (!HAS_GPU) return false;
  const d = Device.get(0);
  return d.properties.major === 9 && d.properties.minor === 0 && native.build().archs.includes(90);
})();
if (HAS_GPU && !onHopper)
  process.stderr.write('\n*** marlin-node: wgmma suite SKIPPED: GPU 0 is not compute capability 9.0 or this build has no sm_90\n\n');
const describeHopper = onHopper ? describeGpu : (name: string, body: () => void) => describeGpu(name, () => describe.skip('needs sm_90', body));

describeHopper(`wgmma family on sm_90 (seed ${SEED})`, () => {
  const random = rng(SEED + 150);
  let device: Device;
  beforeAll(() => {
    device = Device.get(0);
  });

  /** y = x W for m random rows, poisoned first; the rows checked against float64, and y. */
  async function run(layer: QuantizedLinear, data: FormatLayerData, m: number, options: RunOptions = WGMMA) {
    const dtype = layer.format.dtype;
    const x = randomActivations(m, K, dtype, random);
    using xt = DeviceTensor.from(device, x.bits, [m, K], dtype);
    using out = device.empty([m, N], dtype);
    out.fill(0xff);
    layer.forward(xt, { out, ...options });
    const bits = await out.toHost();
    const rows = sampleRows(m, SAMPLED_ROWS, random);
    const { ref, absSum } = referenceRows(x.values, data, K, N, rows);
    const check = checkElements(fromHalves(bits, dtype), N, rows, ref, absSum, boundFor(layer.format, layer.kernelK));
    const ok = check.violations === 0 && check.nonFinite === 0 && check.relError < RELATIVE_SANITY;
    return { failure: ok ? undefined : `m=${m}: ${describeCheck(check)}`, x, bits };
  }

  for (const format of COVERED) {
    const name = `${format.dtype}/g${format.groupSize}`;
    describe(name, () => {
      let layer: QuantizedLinear;
      let data: FormatLayerData;
      beforeAll(() => {
        data = randomFormatLayer({ ...format, k: K, n: N }, random);
        layer = QuantizedLinear.fromQuantized(data.quantized, { device });
      });
      afterAll(() => layer.dispose());

      test('forced, it runs any batch in one launch; by default this narrow layer stays on mma', () => {
        for (const m of BATCHES) expect(layer.plan(m, WGMMA)).toMatchObject({ family: 'wgmma', launches: 1, tileK: 128, tileN: 256 });
        // 2 column tiles x 8 row tiles = 16 blocks: under half the SMs (chooser.test.ts pins the rule).
        expect(layer.plan(1000).family).toBe('mma');
      });

      test('forward(identity) returns every weight exactly: its own dequantization and placement', async () => {
        const dtype = format.dtype;
        const eye = new Float32Array(K * K);
        for (let i = 0; i < K; i++) eye[i * K + i] = 1;
        using x = DeviceTensor.from(device, toHalves(eye, dtype), [K, K], dtype);
        using out = device.empty([K, N], dtype);
        out.fill(0xff);
        layer.forward(x, { out, ...WGMMA });
        const got = await out.toHost();
        const expected = toHalves(data.w64, dtype);
        let wrong = 0;
        for (let i = 0; i < got.length; i++) if (ulpDistance(got[i], expected[i]) !== 0 || !Number.isFinite(fromHalves(got.subarray(i, i + 1), dtype)[0])) wrong++;
        expect(wrong).toBe(0);
      });

      test(`forward() for m in ${BATCHES.join(', ')}: every checked element within its bound`, async () => {
        const failures: string[] = [];
        for (const m of BATCHES) {
          const { failure } = await run(layer, data, m);
          if (failure) failures.push(failure);
        }
        expect(failures).toEqual([]);
      });

      test('a row\'s result does not depend on the rows around it, and repeats are bit-identical', async () => {
        const dtype = format.dtype;
        const m = 1000;
        const x = randomActivations(m, K, dtype, random);
        using xt = DeviceTensor.from(device, x.bits, [m, K], dtype);
        using out = device.empty([m, N], dtype);
        out.fill(0xff);
        layer.forward(xt, { out, ...WGMMA });
        const whole = await out.toHost();
        out.fill(0xff);
        layer.forward(xt, { out, ...WGMMA });
        expect(firstDifference(await out.toHost(), whole)).toBe(-1);
        // The last 256 rows on their own (another row tile split, another grid).
        const first = m - 256;
        using tail = DeviceTensor.from(device, x.bits.subarray(first * K), [256, K], dtype);
        using tailOut = device.empty([256, N], dtype);
        tailOut.fill(0xff);
        layer.forward(tail, { out: tailOut, ...WGMMA });
        expect(firstDifference(await tailOut.toHost(), whole.subarray(first * N))).toBe(-1);
      });

      test('agrees with the mma family within the bound', async () => {
        const wg = await run(layer, data, 300);
        const mma = await run(layer, data, 300, { family: 'mma' });
        expect([wg.failure, mma.failure]).toEqual([undefined, undefined]);
      });
    });
  }

  test('the chooser\'s own pick on a wide layer: a captured graph replays it bit for bit, also after new inputs', async () => {
    const format = COVERED[0];
    const n = 4096; // 16 column tiles x 8 row tiles = 128 blocks: over half the SMs, so the chooser takes wgmma
    const m = 1024;
    const data = randomFormatLayer({ ...format, k: 256, n }, random);
    using layer = QuantizedLinear.fromQuantized(data.quantized, { device });
    using stream = device.createStream();
    expect(layer.plan(m).family).toBe(16 * 8 * 2 >= device.multiProcessorCount ? 'wgmma' : 'mma');
    using x = DeviceTensor.from(device, randomActivations(m, 256, format.dtype, random).bits, [m, 256], format.dtype);
    using out = device.empty([m, n], format.dtype);
    layer.reserve({ maxBatch: m, stream });
    layer.forward(x, { out, stream });
    const direct = await out.toHost(stream);
    out.fill(0xff, stream);
    using graph = stream.capture(() => layer.forward(x, { out, stream }));
    graph.launch();
    expect(firstDifference(await out.toHost(stream), direct)).toBe(-1);
    const next = randomActivations(m, 256, format.dtype, random).bits;
    x.upload(next, stream);
    graph.launch();
    const replayed = await out.toHost(stream);
    layer.forward(x, { out, stream });
    expect(firstDifference(replayed, await out.toHost(stream))).toBe(-1);
  });
});
