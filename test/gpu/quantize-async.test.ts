/**
 * On a GPU: QuantizedLinear.fromWeightsAsync (quantized and packed on
 * worker threads) uploads the layer fromWeights() builds, bit for bit.
 */
import { Device } from '../../lib/device';
import { QuantizedLinear } from '../../lib/linear';
import { firstDifference } from '../helpers/compare';
import { describeGpu } from '../helpers/gpu';
import { SEED, rng, uniform } from '../helpers/random';

describeGpu(`fromWeightsAsync on the GPU (seed ${SEED})`, () => {
  test('fromWeightsAsync uploads the layer fromWeights() builds, act-order included', async () => {
    const random = rng(SEED + 120);
    const device = Device.get(0);
    const k = 512;
    const n = 256;
    const w = uniform(k * n, random);
    // five groups of about 102 rows: kernel groups of 64 rows with padding
    const gIdx = Int32Array.from({ length: k }, (_, row) => (row * 7) % 5);
    for (const options of [{ groupSize: 128 as const }, { groupSize: 64 as const, zeroPoints: true, bits: 8 as const, gIdx }]) {
      using sync = QuantizedLinear.fromWeights(w, k, n, { ...options, device });
      using offThread = await QuantizedLinear.fromWeightsAsync(w, k, n, { ...options, device, threads: 2 });
      expect(offThread.kernelK).toBe(sync.kernelK);
      const [a, b] = await Promise.all([offThread.weights.toHost(), sync.weights.toHost()]);
      expect(firstDifference(a, b)).toBe(-1);
      const [sa, sb] = await Promise.all([offThread.scales.toHost(), sync.scales.toHost()]);
      expect(firstDifference(sa, sb)).toBe(-1);
      expect(offThread.zeros === undefined).toBe(sync.zeros === undefined);
      if (sync.zeros) expect(firstDifference(await offThread.zeros!.toHost(), await sync.zeros.toHost())).toBe(-1);
      if (sync.rows) expect(firstDifference(await offThread.rows!.toHost(), await sync.rows.toHost())).toBe(-1);
    }
  });
});
