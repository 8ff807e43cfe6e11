/**
 * The decode family (sm_90a) on an H100-class GPU: which calls it takes (the
 * shipped kernel table's `choose` entries give it small batches of some
 * layers; any call up to its rows can force it with `family: 'decode'`),
 * and that what it computes is right. Every grouped format (4-
 * and 8-bit, symmetric or with zero points, FP16 and BF16, groups of
 * 32/64/128) runs at every batch size it takes (1 to 8 rows), on a layer
 * whose n and k are not multiples of 256 (n = 320: five 64-column strips;
 * k = 4608: 288 rows of 16, 9 for each of the 32 warps the chooser gives a
 * strip here, so each runs a pass of its main loop without clamps, then one
 * with), outputs NaN-poisoned first, every element of
 * every row within its per-element bound of float64
 * (test/helpers/format-reference.ts). Then the properties it promises: a
 * row's result does not depend on the rows around it or on m, repeats are
 * bit-identical, a captured graph replays it exactly, it agrees with the mma
 * family within the bound, and every k split the chooser can pick (table.json
 * `shares`: warps per block x blocks per cluster) sums right.
 * On other GPUs (or builds without sm_90) the suite says so and skips.
 */
import { chooseKernel } from '../../lib/chooser';
import { Device, DeviceTensor } from '../../lib/device';
import { type WeightFormat } from '../../lib/formats';
import { fromHalves, toHalves } from '../../lib/fp16';
import { QuantizedLinear, type RunOptions } from '../../lib/linear';
import { KERNEL_TABLE_FILE } from '../../lib/table';
import { firstDifference } from '../helpers/compare';
import { expectCode } from '../helpers/expect-code';
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
import { describeEachFormat, forwardChecked, forwardPoisoned, hopperSuite } from '../helpers/hopper';
import { SEED, rng } from '../helpers/random';

const K = 4608;
const N = 320;
const DECODE = KERNEL_TABLE_FILE.families.find((f) => f.name === 'decode');
/** The most rows the family runs (its tallest tile, table.json rows). */
const MAX_ROWS = Math.max(...(DECODE?.rows ?? [0]));
const BATCHES = Array.from({ length: MAX_ROWS }, (_, i) => i + 1);
const COVERED: WeightFormat[] = everyFormat().filter((f) => (DECODE?.formats?.groupSizes ?? []).includes(f.groupSize));
const FORCED: RunOptions = { family: 'decode' };

/**
 * Bytes of weights the busiest SM streams beyond an even share when the family's blocks (strips x splits) are dealt
 * out ceil(blocks / SMs) to an SM (chooser.cc decode_excess_bytes, written again here).
 */
const excessBytes = (k: number, n: number, bits: number, splits: number, sms: number): number => {
  const strip = (k * 64 * bits) / 8;
  const blocks = (n / 64) * splits;
  return Math.floor((strip * (Math.ceil(blocks / sms) * sms - blocks)) / (splits * sms));
};

/** Whether a `choose` entry of the table gives the family m rows of `format` on a k x n layer planned as `p` on `device`. */
const chosen = (format: WeightFormat, m: number, p: { warps: number; splits: number }, device: Device, k = K, n = N): boolean =>
  (DECODE?.choose ?? []).some(
    (c) =>
      m <= (c.maxBatch ?? 0) &&
      (c.bits ?? [format.bits]).includes(format.bits) &&
      (c.zeroPoints ?? [format.zeroPoints]).includes(format.zeroPoints) &&
      p.warps * p.splits >= (c.minShares ?? 0) &&
      p.warps * p.splits <= (c.maxShares ?? Infinity) &&
      k >= (c.minK ?? 0) &&
      (c.minMemoryGBpsPerSm === undefined ||
        device.properties.peakMemoryGBps >= c.minMemoryGBpsPerSm * device.properties.multiProcessorCount) &&
      (c.maxExcessKiB === undefined ||
        excessBytes(k, n, format.bits, p.splits, device.properties.multiProcessorCount) <= c.maxExcessKiB * 1024),
  );

const describeHopper = hopperSuite('decode', DECODE !== undefined);

describeHopper(`decode family on sm_90 (seed ${SEED})`, () => {
  const random = rng(SEED + 170);
  let device: Device;
  beforeAll(() => {
    device = Device.get(0);
  });

  /** y = x W for m random rows, poisoned first; every row checked against float64. */
  const run = (layer: QuantizedLinear, data: FormatLayerData, m: number, options: RunOptions = {}) =>
    forwardChecked(device, layer, data, m, random, options);

  describeEachFormat(COVERED, K, N, random, (format, f) => {
    test(`forced, it takes 1 to ${MAX_ROWS} rows in one launch; the default plan takes it where the table's choose entries say`, () => {
      // Enough k16 rows per warp for a pass of the main loop without clamps (2 x depth): the suite runs both kinds.
      const p = f.layer.plan(1, FORCED);
      expect(K / 16 / (p.warps * p.splits)).toBeGreaterThanOrEqual(2 * (DECODE?.depth ?? 4));
      // Five strips: the table's largest shares entry (on the shipped table, the kernel capped to five blocks per SM).
      expect(p.warps * p.splits).toBe(Math.max(...(DECODE?.shares ?? []).map((e) => e.shares)));
      for (let m = 1; m <= MAX_ROWS; m++) {
        expect(f.layer.plan(m, FORCED)).toMatchObject({ family: 'decode', launches: 1, tileK: 16, tileN: 64, rowBlocks: [1] });
        expect(f.layer.plan(m).family).toBe(chosen(format, m, p, device) ? 'decode' : 'mma');
      }
      expect(f.layer.plan(MAX_ROWS + 1).family).toBe('mma');
    });

    test('8 rows of the identity return those rows of W exactly, at the start, the middle and the end of k: its own dequantization and placement', async () => {
      const dtype = format.dtype;
      const inexact: string[] = [];
      for (const first of [0, 2300, K - 8]) {
        const eye = new Float32Array(8 * K);
        for (let i = 0; i < 8; i++) eye[i * K + first + i] = 1;
        using x = DeviceTensor.from(device, toHalves(eye, dtype), [8, K], dtype);
        using out = device.empty([8, N], dtype);
        const got = await forwardPoisoned(f.layer, x, out, FORCED);
        const expected = f.data.kernelW.subarray(first * N, (first + 8) * N);
        let wrong = 0;
        for (let i = 0; i < got.length; i++) if (ulpDistance(got[i], expected[i]) !== 0) wrong++;
        if (wrong) inexact.push(`rows ${first}..${first + 7}: ${wrong} of ${got.length} wrong`);
      }
      expect(inexact).toEqual([]);
    });

    test(`forward() for m = ${BATCHES.join(', ')}: every element of every row within its bound`, async () => {
      const failures: string[] = [];
      for (const m of BATCHES) {
        const { failure } = await run(f.layer, f.data, m, FORCED);
        if (failure) failures.push(failure);
      }
      expect(failures).toEqual([]);
    });

    test('a row\'s result does not depend on m or the rows around it; repeats and a captured graph are bit-identical', async () => {
      const dtype = format.dtype;
      const m = MAX_ROWS;
      const x = randomActivations(m, K, dtype, random);
      // Every copy on the stream the calls run on: a copy queued on another stream (the device's) may land after
      // the call that reads it (seen once, under load: a row alone differed from the same row of the whole batch).
      using stream = device.createStream();
      using xt = DeviceTensor.from(device, x.bits, [m, K], dtype, stream);
      using out = device.empty([m, N], dtype);
      const whole = await forwardPoisoned(f.layer, xt, out, { ...FORCED, stream });
      expect(whole.indexOf(0xffff)).toBe(-1); // every element written (0xffff: the NaN fill)
      expect(firstDifference(await forwardPoisoned(f.layer, xt, out, { ...FORCED, stream }), whole)).toBe(-1);
      // Each row alone, and the last three rows in another order.
      for (let row = 0; row < m; row++) {
        using one = DeviceTensor.from(device, x.bits.subarray(row * K, (row + 1) * K), [1, K], dtype, stream);
        using oneOut = device.empty([1, N], dtype);
        expect({ row, diff: firstDifference(await forwardPoisoned(f.layer, one, oneOut, { ...FORCED, stream }), whole.subarray(row * N, (row + 1) * N)) }).toEqual({ row, diff: -1 });
      }
      const order = [m - 1, m - 3, m - 2];
      const shuffled = new Uint16Array(3 * K);
      order.forEach((row, i) => shuffled.set(x.bits.subarray(row * K, (row + 1) * K), i * K));
      using three = DeviceTensor.from(device, shuffled, [3, K], dtype, stream);
      using threeOut = device.empty([3, N], dtype);
      const got = await forwardPoisoned(f.layer, three, threeOut, { ...FORCED, stream });
      order.forEach((row, i) => expect({ row, diff: firstDifference(got.subarray(i * N, (i + 1) * N), whole.subarray(row * N, (row + 1) * N)) }).toEqual({ row, diff: -1 }));
      out.fill(0xff, stream);
      using graph = stream.capture(() => f.layer.forward(xt, { ...FORCED, out, stream }));
      graph.launch();
      expect(firstDifference(await out.toHost(stream), whole)).toBe(-1);
    });

    test('on the same input, it and the mma family are each within the bound of float64', async () => {
      const dtype = format.dtype;
      const m = 5;
      const x = randomActivations(m, K, dtype, random);
      using xt = DeviceTensor.from(device, x.bits, [m, K], dtype);
      using out = device.empty([m, N], dtype);
      const rows = Array.from({ length: m }, (_, i) => i);
      const { ref, absSum } = referenceRows(x.values, f.data, K, N, rows);
      const failures: string[] = [];
      for (const options of [FORCED, { family: 'mma' as const }]) {
        const got = fromHalves(await forwardPoisoned(f.layer, xt, out, options), dtype);
        const check = checkElements(got, N, rows, ref, absSum, boundFor(f.layer.format, f.layer.kernelK));
        if (check.violations > 0 || check.nonFinite > 0) failures.push(`${options.family}: ${describeCheck(check)}`);
      }
      expect(failures).toEqual([]);
    });
  });

  test('every k split the chooser can pick (table.json shares) sums right: layers sized for each entry on this GPU', async () => {
    const sms = device.multiProcessorCount;
    const warpsPerSm = DECODE?.warpsPerSm ?? 16;
    const failures: string[] = [];
    const shares = DECODE?.shares ?? [];
    // The widest entry whose kernel is not capped: its layer gets rows for passes without clamps (the per-format
    // layers above run the capped kernel's; the uncapped kernels of the other entries get one row a warp, which
    // keeps this test's JS reference small: their layers have the most strips).
    const longest = shares.filter((e) => e.blocksPerSm === undefined).pop();
    for (const entry of shares) {
      // strips = floor(warpsPerSm x SMs / shares): the chooser aims at exactly this entry (and k has rows for it).
      const n = 64 * Math.max(1, Math.floor((warpsPerSm * sms) / entry.shares));
      // k: at least one k16 row per share (the chooser caps shares at the rows); for `longest`, a pass of every
      // warp's main loop without clamps, then one with (2 x depth + 1 k16 rows a share), in multiples of 128.
      const rows = entry === longest ? 2 * (DECODE?.depth ?? 4) + 1 : 1;
      const k = Math.max(128, 128 * Math.ceil((16 * entry.shares * rows) / 128));
      // FP16 4-bit g32 for blocks of one split, BF16 8-bit g128 with zero points for clusters.
      const format = COVERED[entry.shares % 2 === 0 && entry.splits > 1 ? COVERED.length - 1 : 0];
      const data = randomFormatLayer({ ...format, k, n }, random);
      using layer = QuantizedLinear.fromQuantized(data.quantized, { device });
      expect({ n, plan: layer.plan(3, FORCED) }).toMatchObject({ n, plan: { family: 'decode', warps: entry.warps, splits: entry.splits, blocks: (n / 64) * entry.splits } });
      for (const m of [1, 8]) {
        const { failure } = await run(layer, data, m, FORCED);
        if (failure) failures.push(`shares ${entry.shares} (${format.dtype}/u${format.bits}/g${format.groupSize}): ${failure}`);
      }
    }
    expect(failures).toEqual([]);
  }, 300_000);

  test('the default plan of Llama-sized layers on this GPU (its SMs and memory bandwidth): decode where the choose entries say', () => {
    // Layers of every share count on 132 SMs, with k on both sides of the entries' bounds: Llama-2 7B, 13B and 70B,
    // 8192 x 28672 (4 shares, k 8192, 155 KiB of excess) and 1024 x 6400 (16 shares, 8 KiB).
    const shapes = [
      [4096, 12288], [4096, 4096], [4096, 22016], [11008, 4096], [5120, 5120], [13824, 5120],
      [8192, 10240], [8192, 8192], [8192, 57344], [28672, 8192], [8192, 28672], [1024, 6400],
    ];
    const wrong: string[] = [];
    for (const format of COVERED)
      for (const [k, n] of shapes) {
        const layer = (m: number) => ({ m, inFeatures: k, outFeatures: n, format });
        const forced = chooseKernel(layer(1), device, FORCED);
        for (const m of [1, 4, MAX_ROWS, MAX_ROWS + 1]) {
          const want = m <= MAX_ROWS && chosen(format, m, forced, device, k, n);
          if ((chooseKernel(layer(m), device).family === 'decode') !== want) wrong.push(`${k}x${n} m ${m} ${JSON.stringify(format)}: decode ${!want}`);
        }
      }
    expect(wrong).toEqual([]);
  });

  // The per-format layer above is cut into 32 shares (the capped kernel; zero points and 8-bit hold scales per group there); this one into 8 (the
  // uncapped kernel, scales per row in flight): both kernels of every format run.
  test('k of one stage (8 rows of 16): 8 shares, each warp one row, clamped passes only, every format', async () => {
    for (const format of COVERED) {
      const data = randomFormatLayer({ ...format, k: 128, n: 128 }, random);
      using layer = QuantizedLinear.fromQuantized(data.quantized, { device });
      const p = layer.plan(8, FORCED);
      expect(p.family).toBe('decode');
      // A shares entry without blocksPerSm: the uncapped kernel.
      expect(DECODE?.shares?.find((e) => e.shares === p.warps * p.splits)).toMatchObject({ shares: 8 });
      expect(DECODE?.shares?.find((e) => e.shares === p.warps * p.splits)?.blocksPerSm).toBeUndefined();
      expect((await run(layer, data, 8, FORCED)).failure).toBeUndefined();
    }
  });

  test('refused: more rows than its tile, a per-column format, the mma family\'s options or splits with it', () => {
    const data = randomFormatLayer({ ...COVERED[0], k: K, n: N }, random);
    using layer = QuantizedLinear.fromQuantized(data.quantized, { device });
    using x = device.empty([MAX_ROWS + 1, K], 'float16');
    using out = device.empty([MAX_ROWS + 1, N], 'float16');
    expectCode(() => layer.forward(x, { out, ...FORCED }), 'BAD_ARGUMENT');
    using x1 = device.empty([1, K], 'float16');
    using out1 = device.empty([1, N], 'float16');
    for (const o of [{ splits: 2 }, { maxPar: 4 }, { sms: 8 }, { tile: { tileK: 128, tileN: 128 } }])
      expectCode(() => layer.forward(x1, { out: out1, ...FORCED, ...o }), 'BAD_ARGUMENT');
    const perColumn = randomFormatLayer({ ...COVERED[0], groupSize: -1, k: K, n: N }, random);
    using channel = QuantizedLinear.fromQuantized(perColumn.quantized, { device });
    expect(channel.plan(1).family).toBe('mma');
    expectCode(() => channel.forward(x1, { out: out1, ...FORCED }), 'BAD_ARGUMENT');
  });
});
