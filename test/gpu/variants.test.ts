/**
 * Every compiled tile variant, forced, across the edge cases of the work
 * split: row blocks 1-4 and several 64-row problems (also split over
 * launches), stripes that start mid-column and columns reduced across
 * several blocks (few SMs), k that leaves the pipeline with remainders,
 * and n = 64 x odd (a partial last column tile).
 */
import { Device } from '../../lib/device';
import { chooseKernel, compiledTiles, compiledVariants } from '../../lib/chooser';
import { describeGpu } from '../helpers/gpu';
import { checkGemm, randomLayer, type RandomLayer } from '../helpers/gemm-check';
import { SEED, rng } from '../helpers/random';

describeGpu(`every tile variant (seed ${SEED})`, () => {
  const random = rng(SEED + 20);
  let device: Device;
  let layers: Record<string, RandomLayer>;

  beforeAll(() => {
    device = Device.get(0);
    layers = {
      g128: randomLayer(device, 768, 320, 128, random), // n = 64 * 5
      g1: randomLayer(device, 768, 320, -1, random),
    };
  });
  afterAll(() => Object.values(layers).forEach((l) => l.layer.dispose()));

  const tiles = () => compiledTiles();
  test('the addon compiled both documented tiles', () => {
    expect(tiles().map((t) => `${t.tileK}x${t.tileN}`).sort()).toEqual(['128x128', '64x256']);
  });

  test('each variant runs at one pipeline depth on this GPU, the deepest its shared memory allows', () => {
    // The code this GPU runs: its own architecture's, or the PTX of an older one.
    const arch = chooseKernel({ m: 16, inFeatures: 768, outFeatures: 320 }, device).codeArch;
    const here = compiledVariants().filter((v) => v.arch === arch);
    expect(here.length).toBeGreaterThan(0);
    for (const v of here) {
      expect(v.sharedMemoryBytes).toBeLessThanOrEqual(device.properties.sharedMemPerBlockOptin);
      expect(v.stages).toBeGreaterThanOrEqual(2);
    }
    // A forced tile runs at its variant's depth, which is the one depth that may be forced.
    for (const tile of tiles()) {
      const depth = here.find((v) => v.tileK === tile.tileK && v.tileN === tile.tileN && v.dtype === 'float16' && v.bits === 4 && v.groupSize === 128 && !v.zeroPoints && v.mBlocks === 4)?.stages;
      expect({ tile, stages: chooseKernel({ m: 64, inFeatures: 768, outFeatures: 320 }, device, { tile }).stages }).toEqual({ tile, stages: depth });
      expect(chooseKernel({ m: 64, inFeatures: 768, outFeatures: 320 }, device, { tile, stages: depth }).stages).toBe(depth);
    }
  });

  // rows: 1..4 blocks of 16 (one partial), and > 64 rows: several problems, and
  // with maxPar 2 several launches (130 = 2 x 64 + 2, 200 = 2 x 64 + 72).
  const batches = [1, 7, 16, 17, 33, 48, 64, 65, 130, 200];
  for (const [tileK, tileN] of [[128, 128], [64, 256]]) {
    for (const key of ['g128', 'g1']) {
      for (const sms of [0, 5]) {
        test.each(batches)(`${tileK}x${tileN} ${key} sms=${sms || 'all'} maxPar=2: m = %i`, async (m) => {
          const { failure } = await checkGemm(device, layers[key], m, random, { tile: { tileK, tileN }, sms, maxPar: 2 });
          expect(failure).toBeUndefined();
        });
      }
    }
  }
});

describeGpu(`k and n edge cases (seed ${SEED})`, () => {
  const random = rng(SEED + 30);
  let device: Device;
  beforeAll(() => {
    device = Device.get(0);
  });

  // k = 128 (a single stage), 640 and 1152 (5 and 9 stages: not a multiple
  // of the pipeline depth), each over 1..6 blocks so that stripes of 1, 2,
  // 3... stages start and end mid-column.
  for (const k of [128, 640, 1152]) {
    for (const groupSize of [128, -1] as const) {
      test(`k = ${k}, group ${groupSize}: every stripe split over 1..6 SMs, both tiles, m = 1 and 40`, async () => {
        const l = randomLayer(device, k, 256, groupSize, random);
        try {
          for (const tile of [{ tileK: 128, tileN: 128 }, { tileK: 64, tileN: 256 }])
            for (let sms = 1; sms <= 6; sms++)
              for (const m of [1, 40]) {
                const { failure } = await checkGemm(device, l, m, random, { tile, sms });
                expect({ tile, sms, m, failure }).toStrictEqual({ tile, sms, m, failure: undefined });
              }
        } finally {
          l.layer.dispose();
        }
      });
    }
  }

  for (const n of [64, 192, 832]) {
    test(`n = ${n} (64 x odd), both tiles and quantization modes`, async () => {
      for (const groupSize of [128, -1] as const) {
        const l = randomLayer(device, 512, n, groupSize, random);
        try {
          for (const tile of [{ tileK: 128, tileN: 128 }, { tileK: 64, tileN: 256 }])
            for (const m of [3, 64, 100]) {
              const { failure } = await checkGemm(device, l, m, random, { tile });
              expect({ groupSize, tile, m, failure }).toStrictEqual({ groupSize, tile, m, failure: undefined });
            }
        } finally {
          l.layer.dispose();
        }
      }
    });
  }
});
