/**
 * The native module on any machine: it loads, reports its variants, and
 * without a GPU says so with NO_GPU instead of crashing.
 */
import { native } from '../../lib/native';
import { Device, DeviceTensor, probe } from '../../lib/device';
import { compiledTiles, compiledVariants } from '../../lib/linear';

const gpu = probe().available;

describe('native module', () => {
  test('loads and exposes the documented surface', () => {
    for (const name of ['probe', 'deviceCount', 'deviceProperties', 'gemm', 'variants', 'workspaceBytes', 'dequantizeWeights', 'fp16Gemm', 'hasCublas', 'delay'])
      expect(typeof (native as unknown as Record<string, unknown>)[name]).toBe('function');
    for (const name of ['DeviceBuffer', 'Stream', 'Event'])
      expect(typeof (native as unknown as Record<string, unknown>)[name]).toBe('function');
  });

  test('lists every compiled variant: 1-4 row blocks x two tiles x two quantization modes x two pipeline depths', () => {
    const variants = compiledVariants();
    expect(variants).toHaveLength(32);
    expect(new Set(variants.map((v) => v.stages)).size).toBe(2);
    expect(compiledTiles()).toEqual(expect.arrayContaining([{ tileK: 128, tileN: 128 }, { tileK: 64, tileN: 256 }]));
    for (const v of variants) {
      expect([1, 2, 3, 4]).toContain(v.mBlocks);
      expect([128, -1]).toContain(v.groupSize);
      // four pipeline stages must fit the 99 KiB a block may use on sm_86/sm_89,
      // the deep ones the 227 KiB of sm_90 (on sm_80 the launcher falls back
      // to 4 stages where 8 do not fit its 163 KiB)
      expect(v.sharedMemoryBytes).toBeLessThanOrEqual((v.stages === 4 ? 99 : 227) * 1024);
    }
  });

  test('sizes the workspace: one counter per 64-row problem and 128 columns, one 64 KiB slot per SM', () => {
    expect(native.workspaceBytes(4096, 16, 132)).toBe(16 * 32 * 4 + 132 * 65536);
    expect(native.workspaceBytes(192, 1, 10)).toBe(16 + 10 * 65536); // 2 counters, rounded up to 16 bytes
  });

  test('native calls reject arguments of the wrong class with BAD_ARGUMENT, before any CUDA call', () => {
    const fake = {} as never;
    expect(() =>
      native.gemm(fake, 0, fake, 0, fake, 0, fake, 0, fake, 0, fake, 1, 64, 128, 128, 128, 128, 0, 1),
    ).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT', message: 'Expected a Stream for stream' }));
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
