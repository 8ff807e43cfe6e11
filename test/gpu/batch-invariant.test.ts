/**
 * forward(x, { batchInvariant: true }): every row's output is bit-identical
 * whatever the batch size and whatever the other rows are, in several
 * formats (act-order included) and for batch sizes with one launch and with
 * several; the option refuses the overrides it sets itself.
 */
import { Device, DeviceTensor } from '../../lib/device';
import { MarlinError } from '../../lib/errors';
import { QuantizedLinear } from '../../lib/linear';
import { firstDifference } from '../helpers/compare';
import { type FormatCase, caseName, randomActivations, randomFormatLayer } from '../helpers/format-reference';
import { describeGpu } from '../helpers/gpu';
import { SEED, rng } from '../helpers/random';

const CASES: FormatCase[] = [
  { dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: false, k: 1024, n: 320 },
  { dtype: 'bfloat16', bits: 8, groupSize: 64, zeroPoints: true, k: 512, n: 512 },
  { dtype: 'float16', bits: 4, groupSize: 32, zeroPoints: true, k: 640, n: 192, actOrder: { kind: 'shuffled' } },
  // wide: the 64 x 256 tile
  { dtype: 'float16', bits: 4, groupSize: -1, zeroPoints: false, k: 256, n: 16384 },
];
const BATCHES = [1, 2, 15, 16, 17, 33, 64, 65, 130, 300, 1024];
const ALL = 1024;

describeGpu(`batch-invariant forward() (seed ${SEED})`, () => {
  const random = rng(SEED + 130);
  let device: Device;
  beforeAll(() => {
    device = Device.get(0);
  });

  for (const c of CASES)
    test(`${caseName(c)}: rows equal bit for bit at m = ${BATCHES.join(', ')} and in a shuffled batch`, async () => {
      const layer = QuantizedLinear.fromQuantized(randomFormatLayer(c, random).quantized, { device });
      const { k, n, dtype } = c;
      const x = randomActivations(ALL, k, dtype, random).bits;
      const rowsOf = async (m: number, source: Uint16Array): Promise<Uint16Array> => {
        using xt = DeviceTensor.from(device, source.subarray(0, m * k), [m, k], dtype);
        using out = device.empty([m, n], dtype);
        out.fill(0xff);
        layer.forward(xt, { out, batchInvariant: true });
        return await out.toHost();
      };
      try {
        const full = await rowsOf(ALL, x);
        expect(full.indexOf(0xffff)).toBe(-1); // every element written (the poison is NaN 0xffff)
        const failures: string[] = [];
        for (const m of BATCHES) {
          const got = await rowsOf(m, x);
          const at = firstDifference(got, full.subarray(0, m * n));
          if (at !== -1) failures.push(`m=${m}: first difference at row ${Math.floor(at / n)}, column ${at % n}`);
        }
        // The first 300 rows in a random order: each row's output moves with it, unchanged.
        const order = Array.from({ length: 300 }, (_, i) => i).sort(() => random() - 0.5);
        const shuffled = new Uint16Array(300 * k);
        order.forEach((from, to) => shuffled.set(x.subarray(from * k, (from + 1) * k), to * k));
        const got = await rowsOf(300, shuffled);
        order.forEach((from, to) => {
          if (firstDifference(got.subarray(to * n, (to + 1) * n), full.subarray(from * n, (from + 1) * n)) !== -1)
            failures.push(`shuffled: row ${from} (now ${to}) differs`);
        });
        expect(failures.slice(0, 10)).toEqual([]);
        // One launch per 64 rows, every one on the tile of a one-row batch.
        const plan = layer.plan(300, { batchInvariant: true });
        const one = layer.plan(1, { family: 'mma' }); // the mma family's tile, whatever family a kernel table gives one row
        expect([plan.maxPar, plan.launches, plan.tileK, plan.tileN]).toEqual([1, 5, one.tileK, one.tileN]);
        // And on as many blocks at every batch size (the default plan's count can change with m: alignedBlocks).
        for (const m of [1, 16, 17, 300]) expect(layer.plan(m, { batchInvariant: true }).blocks).toBe(device.multiProcessorCount);
      } finally {
        layer.dispose();
      }
    });

  test('batchInvariant refuses tile and maxPar overrides', () => {
    const layer = QuantizedLinear.fromQuantized(randomFormatLayer(CASES[0], random).quantized, { device });
    try {
      for (const extra of [{ maxPar: 2 }, { tile: { tileK: 128, tileN: 128 } }]) {
        let caught: unknown;
        try {
          layer.plan(100, { batchInvariant: true, ...extra });
        } catch (error) {
          caught = error;
        }
        expect(caught instanceof MarlinError && caught.code).toBe('BAD_ARGUMENT');
      }
    } finally {
      layer.dispose();
    }
  });
});
