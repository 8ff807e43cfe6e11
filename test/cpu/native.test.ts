/**
 * The native module on any machine: it loads, reports its variants, and
 * without a GPU says so with NO_GPU instead of crashing.
 */
import { native } from '../../lib/native';
import { Device, DeviceTensor, probe } from '../../lib/device';
import { compiledTiles, compiledVariants } from '../../lib/chooser';
import { KERNEL_TABLE_FILE } from '../../lib/table';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { variantCount } = require('../../scripts/gen-kernels.js') as { variantCount: (table: unknown, archs: number[]) => number };

const gpu = probe().available;

describe('native module', () => {
  test('loads and exposes the documented surface', () => {
    for (const name of ['probe', 'deviceCount', 'deviceProperties', 'variants', 'build', 'codeArch', 'plan', 'tileRules', 'setTileRules', 'resetTileRules', 'workspaceBytes', 'fp16Gemm', 'hasCublas', 'delay'])
      expect(typeof (native as unknown as Record<string, unknown>)[name]).toBe('function');
    for (const name of ['DeviceBuffer', 'Stream', 'Event', 'Gemm'])
      expect(typeof (native as unknown as Record<string, unknown>)[name]).toBe('function');
  });

  test('compiles every combination of the kernel table: mma once per built architecture, wgmma and decode for sm_90a when sm_90 is built', () => {
    const t = KERNEL_TABLE_FILE;
    const { archs } = native.build();
    const mma = t.families.find((f) => f.name === 'mma')!;
    const wgmma = t.families.find((f) => f.name === 'wgmma')!;
    const formats = t.formats.activations.length * t.formats.groupSizes.length;
    const mmaCount = formats * t.formats.bits.length * t.formats.zeroPoints.length * mma.tiles.length * mma.rowBlocks!.length * archs.length;
    const wgmmaCount = archs.includes(wgmma.arch!) ? formats * wgmma.formats!.bits!.length * wgmma.formats!.zeroPoints!.length * wgmma.tiles.length * wgmma.rows!.length : 0;
    const decode = t.families.find((f) => f.name === 'decode')!;
    const decodeCount = archs.includes(decode.arch!)
      ? t.formats.activations.length * decode.formats!.groupSizes!.length * t.formats.bits.length * t.formats.zeroPoints.length * decode.rows!.length
      : 0;
    // The generator's own count (prebuild.js checks shipped addons with it) agrees.
    expect(variantCount(t, archs)).toBe(mmaCount + wgmmaCount + decodeCount);
    const variants = compiledVariants();
    expect(variants).toHaveLength(mmaCount + wgmmaCount + decodeCount);
    const key = (v: (typeof variants)[number]) => `${v.family}/${v.dtype}/${v.bits}/${v.groupSize}/${v.zeroPoints}/${v.tileK}x${v.tileN}/${v.mBlocks}/${v.arch}`;
    expect(new Set(variants.map(key)).size).toBe(variants.length);
    expect(compiledTiles()).toEqual(expect.arrayContaining(mma.tiles));
    for (const v of variants) {
      expect(t.formats.groupSizes).toContain(v.groupSize);
      expect(archs).toContain(v.arch);
      if (v.family === 'mma') {
        expect(mma.rowBlocks).toContain(v.mBlocks);
        expect(v).toMatchObject({ stageK: v.tileK, streamK: false });
      } else if (v.family === 'decode') {
        expect(v).toMatchObject({ arch: decode.arch, tileK: 16, stageK: 16, tileN: 64, stages: decode.depth, evictFirst: false, streamK: false });
        expect(decode.formats!.groupSizes).toContain(v.groupSize);
        expect(decode.rows).toContain(v.mBlocks * 8);
      } else {
        // A stage of two k tiles: the 32-, 48- and 64-row tiles of symmetric 4-bit formats (wgmma/kernel.cuh units_per_stage).
        const twoTiles = v.mBlocks <= 4 && v.bits === 4 && !v.zeroPoints;
        // Stream-k: the 32-, 48- and 64-row tiles, and the 128-row one of FP16 4-bit grouped formats (Tile::kStreamK).
        const streamK = v.mBlocks <= 4 || (v.dtype === 'float16' && v.bits === 4 && v.groupSize > 0);
        expect(v).toMatchObject({ family: 'wgmma', arch: wgmma.arch, tileK: 128, stageK: twoTiles ? 256 : 128, tileN: 256, streamK });
        expect(wgmma.formats!.bits).toContain(v.bits);
        expect(wgmma.formats!.zeroPoints).toContain(v.zeroPoints);
        expect(wgmma.rows).toContain(v.mBlocks * 16);
      }
    }
  });

  test('the build reports the table\'s shape rules', () => {
    expect(native.build()).toMatchObject({
      kMultiple: KERNEL_TABLE_FILE.shape.kMultiple,
      nMultiple: KERNEL_TABLE_FILE.shape.nMultiple,
      rowsPerProblem: KERNEL_TABLE_FILE.shape.rowsPerProblem,
    });
  });

  test('sizes the workspace: one counter per 64-row problem and 128 columns and at least one per SM, two 64 KiB slots per SM', () => {
    // Two slots: a wgmma stream-k block of the 128-row tile posts a 128 x 256 FP32 partial.
    const slots = 2 * 65536;
    expect(native.workspaceBytes(4096, 16, 132)).toBe(16 * 32 * 4 + 132 * slots);
    // 16 x 8 = 128 counters, fewer than the SMs: one per SM (a wgmma stream-k block's).
    expect(native.workspaceBytes(1024, 16, 132)).toBe(132 * 4 + 132 * slots);
    expect(native.workspaceBytes(192, 1, 10)).toBe(48 + 10 * slots); // 10 counters (2 per problem and column), rounded up to 16 bytes
  });

  test('native calls reject arguments of the wrong class with BAD_ARGUMENT, before any CUDA call', () => {
    const fake = {} as never;
    expect(() => new native.Gemm(fake)).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
    expect(() =>
      new native.Gemm({ weights: fake, scales: fake, zeros: null, rows: null, n: 64, k: 128, inputK: 128, format: { dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: false } }),
    ).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT', message: 'Expected a DeviceBuffer for weights' }));
    expect(() =>
      new native.Gemm({ weights: fake, scales: fake, zeros: null, rows: null, n: 64, k: 100, inputK: 100, format: { dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: false } }),
    ).toThrow(expect.objectContaining({ code: 'BAD_SHAPE' }));
    expect(() => native.delay(fake, 10)).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
  });

  test('probe() describes the machine without throwing', () => {
    const p = probe();
    expect(typeof p.available).toBe('boolean');
    expect(p.runtimeVersion).toBeGreaterThanOrEqual(12000);
    if (p.available) {
      expect(p.reason).toBeNull();
      expect(p.devices.some((d) => d.usable)).toBe(true);
    } else {
      expect(p.code).toBe('NO_GPU');
      expect(typeof p.reason).toBe('string');
      expect(p.reason!.length).toBeGreaterThan(10);
    }
  });
});

(gpu ? describe.skip : describe)('without a GPU', () => {
  test('Device.get() throws NO_GPU with the reason', () => {
    expect(() => Device.get(0)).toThrow(expect.objectContaining({ code: 'NO_GPU', name: 'MarlinError' }));
  });

  test('allocating device memory throws NO_GPU, not a crash', () => {
    expect(() => new native.DeviceBuffer(0, 1024)).toThrow(expect.objectContaining({ code: 'NO_GPU' }));
  });

  test('deviceCount() is 0', () => {
    expect(Device.count()).toBe(0);
  });

  test('DeviceTensor.empty() refuses a fake device with NO_GPU', () => {
    const fake = { index: 0 } as unknown as Device;
    expect(() => DeviceTensor.empty(fake, [4], 'float16')).toThrow(expect.objectContaining({ code: 'NO_GPU' }));
  });
});
