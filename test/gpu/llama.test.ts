/**
 * Llama-2-7B layer shapes at the batch sizes of serving. Every output
 * element is checked to be written; the float64 reference, per element,
 * covers sampled rows (first, last and random ones): a full float64 product of a 4096 x
 * 22016 layer at m = 256 would take minutes in JS.
 */
import { Device } from '../../lib/device';
import { describeGpu } from '../helpers/gpu';
import { checkGemm, randomLayer } from '../helpers/gemm-check';
import { SEED, rng } from '../helpers/random';

const SHAPES: Array<[string, number, number]> = [
  ['qkv', 4096, 12288],
  ['o', 4096, 4096],
  ['gate+up', 4096, 22016],
  ['down', 11008, 4096],
];

describeGpu(`Llama-2-7B layers (seed ${SEED})`, () => {
  const random = rng(SEED + 40);
  let device: Device;
  beforeAll(() => {
    device = Device.get(0);
  });

  for (const [name, k, n] of SHAPES) {
    for (const groupSize of [128, -1] as const) {
      test(`${name} (k=${k}, n=${n}), group ${groupSize}: m = 1, 16, 64, 256`, async () => {
        const l = randomLayer(device, k, n, groupSize, random);
        try {
          for (const m of [1, 16, 64, 256]) {
            const { failure, rowsChecked } = await checkGemm(device, l, m, random, { rows: 3 });
            expect(rowsChecked).toBeGreaterThan(0);
            expect({ m, failure }).toStrictEqual({ m, failure: undefined });
          }
        } finally {
          l.layer.dispose();
        }
      });
    }
  }
});
