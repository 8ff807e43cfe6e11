/**
 * The wgmma family (sm_90a) on an H100-class GPU: which calls the chooser
 * gives it, and that what it computes is right. Every format it covers
 * (4- and 8-bit, symmetric or with zero points, FP16 and BF16, groups of
 * 32/64/128 and per column: all of the table's) runs
 * at batch sizes from its threshold up, on shapes with partial tiles (n =
 * 320: one whole 256-column tile and a quarter of one; k = 1152: nine
 * 128-deep k tiles), outputs NaN-poisoned first, every element of the checked
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
import { WGMMA_SPLITS, compiledVariants } from '../../lib/chooser';
import { KERNEL_TABLE_FILE } from '../../lib/table';
import { firstDifference } from '../helpers/compare';
import { expectCode } from '../helpers/expect-code';
import {
  type FormatLayerData,
  everyFormat,
  randomActivations,
  randomFormatLayer,
  ulpDistance,
} from '../helpers/format-reference';
import { describeEachFormat, forwardChecked, forwardPoisoned, hopperSuite } from '../helpers/hopper';
import { SEED, rng } from '../helpers/random';

const K = 1152;
const N = 320;
/**
 * Each tile height (csrc/kernels/table.json rows: 32, 48, 64, 96, 128)
 * whole or partial, one past a tile, a partial last 128-row tile, several
 * tiles.
 */
const BATCHES = [1, 31, 45, 64, 80, 100, 128, 257, 383, 1000];
const SAMPLED_ROWS = 24;
const COVERED: WeightFormat[] = everyFormat();
/** These layers are narrow (2 column tiles): the chooser keeps them on mma, so the suite forces the family. */
const WGMMA: RunOptions = { family: 'wgmma' };
const WGMMA_ROWS = KERNEL_TABLE_FILE.families.find((f) => f.name === 'wgmma')?.rows ?? [];
/** Forced split counts run here; nine 128-deep k tiles: 8 splits leave some blocks one, 2 an uneven share (and, where a stage holds two, shares that end mid-stage). */
const SPLIT_BATCHES = [1, 40, 77, 256, 383];
/** Forced stream-k: every format up to 64 rows (the 32-, 48- and 64-row tiles); above, STREAM_K_BATCHES_128. */
const STREAM_K: RunOptions = { streamK: true };
const STREAM_K_BATCHES = [1, 31, 45, 64];
/** Formats whose 96- and 128-row tiles have stream-k too (the variant list's `streamK`), and the batches it runs there (65: the 96-row tile). */
const streamK128 = (f: WeightFormat) =>
  compiledVariants().some((v) => v.family === 'wgmma' && v.mBlocks === 8 && v.streamK && v.dtype === f.dtype && v.bits === f.bits && v.groupSize === f.groupSize && v.zeroPoints === f.zeroPoints);
const STREAM_K_BATCHES_128 = [65, 100, 257];
const streamKBatches = (f: WeightFormat) => [...STREAM_K_BATCHES, ...(streamK128(f) ? STREAM_K_BATCHES_128 : [])];

const describeHopper = hopperSuite('wgmma');

describeHopper(`wgmma family on sm_90 (seed ${SEED})`, () => {
  const random = rng(SEED + 150);
  let device: Device;
  beforeAll(() => {
    device = Device.get(0);
  });

  /** y = x W for m random rows, poisoned first; the rows checked against float64, and y. */
  const run = (layer: QuantizedLinear, data: FormatLayerData, m: number, options: RunOptions = WGMMA) =>
    forwardChecked(device, layer, data, m, random, options, SAMPLED_ROWS);

  /** Elements of y = I W that are not exactly the dequantized weight (or not finite). */
  function inexactWeights(got: Uint16Array, data: FormatLayerData, dtype: WeightFormat['dtype']): number {
    const expected = data.kernelW;
    let wrong = 0;
    for (let i = 0; i < got.length; i++) if (ulpDistance(got[i], expected[i]) !== 0 || !Number.isFinite(fromHalves(got.subarray(i, i + 1), dtype)[0])) wrong++;
    return wrong;
  }

  describeEachFormat(COVERED, K, N, random, (format, f) => {
    test('forced, it runs any batch of this narrow layer in one launch (fewer tiles than a wave); by default the layer takes it only with enough rows', () => {
      for (const m of BATCHES) expect(f.layer.plan(m, WGMMA)).toMatchObject({ family: 'wgmma', launches: 1, tileK: 128, tileN: 256 });
      // 2 column tiles: 8 row tiles make the 16 output tiles the chooser asks for (chooser.test.ts pins the rule).
      expect(f.layer.plan(896).family).toBe('mma');
      expect(f.layer.plan(1000).family).toBe('wgmma');
    });

    test('forward(identity) returns every weight exactly, unsplit and split 8 ways: its own dequantization and placement (split, each element is one split\'s, the others add zeros)', async () => {
      const dtype = format.dtype;
      const eye = new Float32Array(K * K);
      for (let i = 0; i < K; i++) eye[i * K + i] = 1;
      using x = DeviceTensor.from(device, toHalves(eye, dtype), [K, K], dtype);
      using out = device.empty([K, N], dtype);
      for (const options of [{ splits: 1 }, { splits: 8 }])
        expect({ options, inexact: inexactWeights(await forwardPoisoned(f.layer, x, out, options), f.data, dtype) }).toEqual({ options, inexact: 0 });
    });

    test(`forward() for m in ${BATCHES.join(', ')}: every checked element within its bound`, async () => {
      const failures: string[] = [];
      for (const m of BATCHES) {
        const { failure } = await run(f.layer, f.data, m);
        if (failure) failures.push(failure);
      }
      expect(failures).toEqual([]);
    });

    test('at a fixed split count a row\'s result does not depend on the rows around it, and repeats are bit-identical', async () => {
      const dtype = format.dtype;
      const m = 1000;
      // The chooser's split count depends on m; each split count sums k in its own order.
      const fixed: RunOptions = { family: 'wgmma', splits: 2 };
      const x = randomActivations(m, K, dtype, random);
      using xt = DeviceTensor.from(device, x.bits, [m, K], dtype);
      using out = device.empty([m, N], dtype);
      const whole = await forwardPoisoned(f.layer, xt, out, fixed);
      expect(firstDifference(await forwardPoisoned(f.layer, xt, out, fixed), whole)).toBe(-1);
      // The last 256 rows on their own (another row tile split, another grid).
      const first = m - 256;
      using tail = DeviceTensor.from(device, x.bits.subarray(first * K), [256, K], dtype);
      using tailOut = device.empty([256, N], dtype);
      expect(firstDifference(await forwardPoisoned(f.layer, tail, tailOut, fixed), whole.subarray(first * N))).toBe(-1);
    });

    test('agrees with the mma family within the bound', async () => {
      const wg = await run(f.layer, f.data, 300);
      const mma = await run(f.layer, f.data, 300, { family: 'mma' });
      expect([wg.failure, mma.failure]).toEqual([undefined, undefined]);
    });

    test(`split-k, splits ${WGMMA_SPLITS.join(', ')} at m in ${SPLIT_BATCHES.join(', ')}: every checked element within its bound`, async () => {
      const failures: string[] = [];
      for (const splits of WGMMA_SPLITS)
        for (const m of SPLIT_BATCHES) {
          const rows = WGMMA_ROWS.find((r) => r >= m) ?? WGMMA_ROWS[WGMMA_ROWS.length - 1];
          const tiles = Math.ceil(N / 256) * Math.ceil(m / rows);
          expect(f.layer.plan(m, { splits })).toMatchObject({ family: 'wgmma', splits, blocks: tiles * splits, launches: 1, rowBlocks: [rows / 16] });
          const { failure } = await run(f.layer, f.data, m, { splits });
          if (failure) failures.push(`splits ${splits}: ${failure}`);
        }
      expect(failures).toEqual([]);
    });

    test(`stream-k at m in ${streamKBatches(format).join(', ')} (each tile that has it; 2 tiles x 9 k tiles on 18 blocks: a tile's last block adds 8 partials): within the bound, every element written, repeats and a graph bit-identical`, async () => {
      const dtype = format.dtype;
      const failures: string[] = [];
      using stream = device.createStream();
      for (const m of streamKBatches(format)) {
        const rows = WGMMA_ROWS.find((r) => r >= m) ?? WGMMA_ROWS[WGMMA_ROWS.length - 1];
        const units = 2 * Math.ceil(m / rows) * (K / 128);
        expect(f.layer.plan(m, STREAM_K)).toMatchObject({ family: 'wgmma', streamK: true, splits: 1, tailTiles: 0, launches: 1, blocks: Math.min(device.multiProcessorCount, units), rowBlocks: [rows / 16] });
        const checked = await run(f.layer, f.data, m, STREAM_K);
        if (checked.failure) failures.push(checked.failure);
        expect(checked.bits.indexOf(0xffff)).toBe(-1); // every element written (0xffff: the NaN fill)
        // Copies on the calls' stream (a copy on the device's stream could land after a call that reads it).
        using xt = DeviceTensor.from(device, checked.x.bits, [m, K], dtype, stream);
        using out = device.empty([m, N], dtype);
        const options = { ...STREAM_K, stream };
        // The mma family's blocks wait on the same workspace counters (zero on entry): its result before and after.
        const mma = await forwardPoisoned(f.layer, xt, out, { stream, family: 'mma' });
        expect(firstDifference(await forwardPoisoned(f.layer, xt, out, options), checked.bits)).toBe(-1);
        // Another x between two calls: a counter left set would let the next call add this one's stale partials.
        using other = DeviceTensor.from(device, randomActivations(m, K, dtype, random).bits, [m, K], dtype, stream);
        expect(firstDifference(await forwardPoisoned(f.layer, other, out, options), checked.bits)).not.toBe(-1);
        expect(firstDifference(await forwardPoisoned(f.layer, xt, out, options), checked.bits)).toBe(-1);
        expect(firstDifference(await forwardPoisoned(f.layer, xt, out, { stream, family: 'mma' }), mma)).toBe(-1);
        out.fill(0xff, stream);
        using graph = stream.capture(() => f.layer.forward(xt, { ...options, out }));
        graph.launch();
        graph.launch();
        expect(firstDifference(await out.toHost(stream), checked.bits)).toBe(-1);
      }
      expect(failures).toEqual([]);
    });

    test('split-k: repeats are bit-identical for every split count, in a captured graph too', async () => {
      const dtype = format.dtype;
      const m = 200;
      using stream = device.createStream();
      using xt = DeviceTensor.from(device, randomActivations(m, K, dtype, random).bits, [m, K], dtype, stream);
      using out = device.empty([m, N], dtype);
      for (const splits of WGMMA_SPLITS) {
        const first = await forwardPoisoned(f.layer, xt, out, { stream, splits });
        expect(first.indexOf(0xffff)).toBe(-1); // every element written (0xffff: the NaN fill)
        expect(firstDifference(await forwardPoisoned(f.layer, xt, out, { stream, splits }), first)).toBe(-1);
        out.fill(0xff, stream);
        using graph = stream.capture(() => f.layer.forward(xt, { out, stream, splits }));
        graph.launch();
        expect(firstDifference(await out.toHost(stream), first)).toBe(-1);
      }
    });
  });

  describe('split-k: refusals and edges', () => {
    test('more splits than k tiles: the blocks with none add zeros (k = 256: 2 k tiles, 8 splits)', async () => {
      for (const format of COVERED.filter((f) => f.groupSize === 128)) {
        const data = randomFormatLayer({ ...format, k: 256, n: N }, random);
        using layer = QuantizedLinear.fromQuantized(data.quantized, { device });
        expect(layer.plan(77, { splits: 8 })).toMatchObject({ family: 'wgmma', splits: 8 });
        expect((await run(layer, data, 77, { splits: 8 })).failure).toBeUndefined();
      }
    });

    test('a split count the family does not run, or splits with the mma family or its options, is refused', () => {
      const data = randomFormatLayer({ ...COVERED[0], k: K, n: N }, random);
      using layer = QuantizedLinear.fromQuantized(data.quantized, { device });
      using x = device.empty([4, K], 'float16');
      using out = device.empty([4, N], 'float16');
      for (const splits of [0, 9, 16, 1.5, -1])
        expectCode(() => layer.forward(x, { out, splits }), 'BAD_ARGUMENT');
      expectCode(() => layer.forward(x, { out, splits: 2, family: 'mma' }), 'BAD_ARGUMENT');
      expectCode(() => layer.forward(x, { out, splits: 2, tile: { tileK: 128, tileN: 128 } }), 'BAD_ARGUMENT');
    });
  });

  describe('stream-k: block runs that cross tiles, tiles that cross many blocks', () => {
    // `tile`: the tile height the case runs on (the smallest of the table's rows that holds m).
    const tileOf = (m: number) => WGMMA_ROWS.find((r) => r >= m) ?? WGMMA_ROWS[WGMMA_ROWS.length - 1];
    const cases = (sms: number) => [
      // 2 k tiles per tile, more tiles than SMs: most runs end in one tile and start in the next. (In the 48- and
      // 64-row tiles of symmetric 4-bit formats a stage holds two k tiles: runs that start at a tile's second begin
      // mid-stage.)
      { what: 'k 256, 40 rows, SMs + 5 tiles', m: 40, k: 256, n: 256 * (sms + 5) },
      { what: 'k 256, 56 rows, SMs + 5 tiles', m: 56, k: 256, n: 256 * (sms + 5) },
      // 100 k tiles per tile, 3 tiles: a tile's last block adds the partials of some 40 blocks below it, in order.
      { what: 'k 12800, 3 tiles (the last partial)', m: 64, k: 12800, n: 640 },
      // The 32-row tile: 3 k tiles per tile on 64 tiles, runs of 1 or 2 k tiles, so shares start and end
      // mid-stage, and a share's last stage often has one of its two k tiles.
      { what: 'k 384, 24 rows, 64 tiles', m: 24, k: 384, n: 256 * 64 },
      // The 32-row tile, 100 k tiles per tile on 2 tiles (the last partial): runs of 1 or 2 k tiles from odd
      // k tiles; 17 of 32 rows.
      { what: 'k 12800, 17 rows, 2 tiles', m: 17, k: 12800, n: 384 },
      // The 128-row tile (FP16 4-bit grouped formats only): 2 row tiles (the last partial) x 69 column tiles on
      // 132 SMs, runs of 2 or 3 k tiles that cross tiles and row tiles.
      { what: 'k 256, 200 rows, 2 x 69 tiles', m: 200, k: 256, n: 256 * 69 },
      // The 96-row tile (FP16 4-bit grouped formats): 20 tiles x 10 k tiles on 132 SMs, runs of 1 or 2 k tiles
      // that cross tiles; 16 of 96 rows missing.
      { what: 'k 1280, 80 rows, 20 tiles', m: 80, k: 1280, n: 256 * 20 },
    ].map((c) => ({ ...c, tile: tileOf(c.m) }));
    // The first and last formats of the list (FP16 4-bit g32 symmetric: stages of two k tiles at 32, 48 and 64 rows;
    // BF16 8-bit per-column with zero points: one, and no stream-k in its 128-row tile), and, at 32 rows, FP16
    // 4-bit g128 symmetric: the tile that scales each k tile's sums after its wgmmas.
    const formats = [
      { format: COVERED[0], tiles: WGMMA_ROWS },
      { format: { ...COVERED[0], groupSize: 128 as const }, tiles: [32] },
      { format: COVERED[COVERED.length - 1], tiles: WGMMA_ROWS.filter((r) => r <= 64) },
    ];
    for (const { format, tiles: heights } of formats)
      test(`${format.dtype}/u${format.bits}/g${format.groupSize}/${format.zeroPoints ? 'zp' : 'sym'}, ${heights.join(', ')}-row tiles: within the bound, every element written, repeats bit-identical`, async () => {
        const sms = device.multiProcessorCount;
        using stream = device.createStream();
        // (A 128-row case where the tile has no stream-k would be refused: the plan check below says which.)
        for (const c of cases(sms).filter((c) => heights.includes(c.tile))) {
          const data = randomFormatLayer({ ...format, k: c.k, n: c.n }, random);
          using layer = QuantizedLinear.fromQuantized(data.quantized, { device });
          const rows = c.tile;
          const tiles = Math.ceil(c.n / 256) * Math.ceil(c.m / rows);
          expect({ what: c.what, plan: layer.plan(c.m, STREAM_K) }).toMatchObject({
            what: c.what,
            plan: { family: 'wgmma', streamK: true, launches: 1, blocks: Math.min(sms, (tiles * c.k) / 128), rowBlocks: [rows / 16] },
          });
          const checked = await run(layer, data, c.m, STREAM_K);
          expect({ what: c.what, failure: checked.failure }).toEqual({ what: c.what, failure: undefined });
          expect(checked.bits.indexOf(0xffff)).toBe(-1);
          using xt = DeviceTensor.from(device, checked.x.bits, [c.m, c.k], format.dtype, stream);
          using out = device.empty([c.m, c.n], format.dtype);
          expect(firstDifference(await forwardPoisoned(layer, xt, out, { ...STREAM_K, stream }), checked.bits)).toBe(-1);
          // Another x in between: each call's counters end at zero, or this one's partials would leak into the next.
          using other = DeviceTensor.from(device, randomActivations(c.m, c.k, format.dtype, random).bits, [c.m, c.k], format.dtype, stream);
          await forwardPoisoned(layer, other, out, { ...STREAM_K, stream });
          expect(firstDifference(await forwardPoisoned(layer, xt, out, { ...STREAM_K, stream }), checked.bits)).toBe(-1);
          // Split counts only: another order of the sums, within the bound too.
          expect((await run(layer, data, c.m, { streamK: false, family: 'wgmma' })).failure).toBeUndefined();
        }
      }, 300_000); // (seven cases at every tile height: 73 s alone on an H100, over the default 120 s beside other suites)

    test('refused: with splits, the mma family or its options, batch invariance, above 64 rows on a BF16 layer, or not a boolean; false keeps split counts', () => {
      // BF16: its 96- and 128-row tiles have no stream-k (above 64 rows only FP16 4-bit grouped formats do).
      const data = randomFormatLayer({ ...COVERED[COVERED.length - 1], dtype: 'bfloat16', k: K, n: N }, random);
      using layer = QuantizedLinear.fromQuantized(data.quantized, { device });
      using x = device.empty([65, K], 'bfloat16');
      using out = device.empty([65, N], 'bfloat16');
      using x64 = device.empty([64, K], 'bfloat16');
      using out64 = device.empty([64, N], 'bfloat16');
      expectCode(() => layer.forward(x64, { out: out64, streamK: true, splits: 2 }), 'BAD_ARGUMENT');
      expectCode(() => layer.forward(x64, { out: out64, streamK: true, family: 'mma' }), 'BAD_ARGUMENT');
      expectCode(() => layer.forward(x64, { out: out64, streamK: true, family: 'decode' }), 'BAD_ARGUMENT');
      expectCode(() => layer.forward(x64, { out: out64, streamK: true, tile: { tileK: 128, tileN: 128 } }), 'BAD_ARGUMENT');
      expectCode(() => layer.forward(x64, { out: out64, streamK: true, batchInvariant: true }), 'BAD_ARGUMENT');
      expectCode(() => layer.forward(x, { out, streamK: true }), 'BAD_ARGUMENT');
      expectCode(() => layer.forward(x64, { out: out64, streamK: 1 as unknown as boolean }), 'BAD_ARGUMENT');
      expect(layer.plan(64, { family: 'wgmma', streamK: false }).streamK).toBe(false);
      expect(layer.plan(65, { family: 'wgmma', streamK: false })).toMatchObject({ family: 'wgmma', streamK: false, rowBlocks: [6] });
      expect(layer.plan(97, { family: 'wgmma', streamK: false })).toMatchObject({ family: 'wgmma', streamK: false, rowBlocks: [8] });
    });
  });

  describe('a last, partial wave of output tiles: a second launch runs it split', () => {
    const k = 1536; // 12 k tiles: the tail's split count has room
    const m = 1500; // 12 row tiles of 128, the last partial: a raster band of 8 and a partial one of 4
    const rowTiles = 12;
    // Split counts only: the chooser prices stream-k below the two launches on the FP16 4-bit grouped formats.
    const SPLIT_PLANS: RunOptions = { streamK: false };
    /**
     * Output tile of element (row, col) in the kernel's raster order (wgmma/kernel.cuh: bands of 8 row tiles,
     * column by column): the test's own copy of that rule, to check which launch wrote which element.
     */
    const tileOf = (row: number, col: number, colTiles: number, rowTiles: number): number => {
      const rowTile = Math.floor(row / 128);
      const band = Math.floor(rowTile / 8);
      const height = Math.min(8, rowTiles - band * 8);
      return band * 8 * colTiles + Math.floor(col / 256) * height + (rowTile - band * 8);
    };
    for (const format of [COVERED[0], COVERED[COVERED.length - 1]])
      test(`${format.dtype}/u${format.bits}/g${format.groupSize}/${format.zeroPoints ? 'zp' : 'sym'}: within the bound, each launch writes its own tiles, repeats and a graph bit-identical`, async () => {
        const sms = device.multiProcessorCount;
        const colTiles = Math.ceil(sms / rowTiles) + 1; // 12 x that: a whole wave and part of another
        const n = 256 * colTiles;
        const tiles = rowTiles * colTiles;
        const data = randomFormatLayer({ ...format, k, n }, random);
        using layer = QuantizedLinear.fromQuantized(data.quantized, { device });
        const plan = layer.plan(m, SPLIT_PLANS);
        expect(plan).toMatchObject({ family: 'wgmma', launches: 2, splits: 1 });
        expect(plan.tailTiles).toBeGreaterThan(0);
        expect(plan.tailTiles).toBeLessThan(sms);
        expect(plan.tailSplits).toBeGreaterThan(1);
        expect(plan.blocks).toBe(tiles - plan.tailTiles + plan.tailTiles * plan.tailSplits);
        // Forced splits keep one launch.
        expect(layer.plan(m, { splits: 1 })).toMatchObject({ launches: 1, tailTiles: 0, tailSplits: 1, blocks: tiles });

        const checked = await run(layer, data, m, SPLIT_PLANS);
        expect(checked.failure).toBeUndefined();
        const two = checked.bits;
        expect(two.indexOf(0xffff)).toBe(-1); // every element written (0xffff: the NaN fill)
        using stream = device.createStream();
        using xt = DeviceTensor.from(device, checked.x.bits, [m, k], format.dtype, stream);
        using out = device.empty([m, n], format.dtype);
        expect(firstDifference(await forwardPoisoned(layer, xt, out, { ...SPLIT_PLANS, stream }), two)).toBe(-1);
        out.fill(0xff, stream);
        using graph = stream.capture(() => layer.forward(xt, { ...SPLIT_PLANS, out, stream }));
        graph.launch();
        expect(firstDifference(await out.toHost(stream), two)).toBe(-1);
        // The same call again, twice: the second takes the bound path (its planned launches kept).
        expect(firstDifference(await forwardPoisoned(layer, xt, out, { ...SPLIT_PLANS, stream }), two)).toBe(-1);
        expect(firstDifference(await forwardPoisoned(layer, xt, out, { ...SPLIT_PLANS, stream }), two)).toBe(-1);
        // Against one unsplit launch: the first launch's tiles are the same sums in the same order, bit for bit; only
        // the tail's (split: another order) may differ.
        const one = await forwardPoisoned(layer, xt, out, { stream, splits: 1 });
        let outsideTail = 0;
        let inTail = 0;
        for (let i = 0; i < one.length; i++) {
          if (one[i] === two[i]) continue;
          if (tileOf(Math.floor(i / n), i % n, colTiles, rowTiles) >= tiles - plan.tailTiles) inTail++;
          else outsideTail++;
        }
        expect({ outsideTail }).toEqual({ outsideTail: 0 });
        expect(inTail).toBeGreaterThan(0); // the tail did run split
      });
  });

  test('the chooser\'s own pick on a wide layer: a captured graph replays it bit for bit, also after new inputs', async () => {
    const format = COVERED[0];
    const n = 4096; // 16 column tiles x 8 row tiles = 128 output tiles: the chooser takes wgmma
    const m = 1024;
    const data = randomFormatLayer({ ...format, k: 256, n }, random);
    using layer = QuantizedLinear.fromQuantized(data.quantized, { device });
    using stream = device.createStream();
    expect(layer.plan(m).family).toBe('wgmma');
    using x = DeviceTensor.from(device, randomActivations(m, 256, format.dtype, random).bits, [m, 256], format.dtype, stream);
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
