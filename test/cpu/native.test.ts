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
    for (const name of ['probe', 'deviceCount', 'deviceProperties', 'gemm', 'variants', 'workspaceInts'])
      expect(typeof (native as unknown as Record<string, unknown>)[name]).toBe('function');
    for (const name of ['DeviceBuffer', 'Stream', 'Event'])
      expect(typeof (native as unknown as Record<string, unknown>)[name]).toBe('function');
  });

  test('lists every compiled variant: 1-4 row blocks x two tiles x two quantization modes', () => {
    const variants = compiledVariants();
    expect(variants).toHaveLength(16);
    expect(compiledTiles()).toEqual(expect.arrayContaining([{ tileK: 128, tileN: 128 }, { tileK: 64, tileN: 256 }]));
    for (const v of variants) {
      expect([1, 2, 3, 4]).toContain(v.mBlocks);
      expect([128, -1]).toContain(v.groupSize);
      // four pipeline stages must fit the 99 KiB a block may use on sm_86/sm_89
      expect(v.sharedMemoryBytes).toBeLessThanOrEqual(99 * 1024);
    }
  });

  test('sizes the lock workspace by n and maxPar', () => {
    expect(native.workspaceInts(4096, 16)).toBe(16 * 32);
    expect(native.workspaceInts(192, 1)).toBe(2);
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
