/**
 * Events, stream.waitFor() and device.memoryInfo() on a GPU. A delay kernel
 * (native.delay) holds a stream for a known time, so "waits for X" and
 * "does not wait for Y" are differences of tens of milliseconds.
 */
import { performance } from 'node:perf_hooks';

import { Device, DeviceTensor, Event } from '../../lib/device';
import { native } from '../../lib/native';
import { describeGpu, HAS_GPU } from '../helpers/gpu';

const MS = 1000; // microseconds

/** Resolves after one turn of the event loop. */
const turn = () => new Promise((resolve) => setImmediate(resolve));

describeGpu('Event and stream ordering', () => {
  let device: Device;
  beforeAll(() => {
    device = Device.get(0);
  });

  test('event.synchronize() waits for the work before the record, not the work after it', async () => {
    using stream = device.createStream();
    using event = device.createEvent();
    native.delay(stream.native, 40 * MS);
    event.record(stream);
    native.delay(stream.native, 400 * MS);
    const t0 = performance.now();
    let settled = false;
    const done = event.synchronize().then(() => (settled = true));
    await turn();
    expect(settled).toBe(false); // the loop turned while the GPU worked
    await done;
    const eventMs = performance.now() - t0;
    await stream.synchronize();
    const streamMs = performance.now() - t0;
    expect(eventMs).toBeGreaterThan(30);
    expect(eventMs).toBeLessThan(250);
    expect(streamMs).toBeGreaterThan(400);
  });

  test('recording the event again or disposing it does not change what a pending synchronize() waits for', async () => {
    using slow = device.createStream();
    using fast = device.createStream();
    const event = device.createEvent();
    native.delay(fast.native, 40 * MS);
    event.record(fast);
    const first = event.synchronize();
    native.delay(slow.native, 400 * MS);
    event.record(slow); // moves the event to a point 400 ms away
    const second = event.synchronize();
    event.dispose();
    const t0 = performance.now();
    await first;
    expect(performance.now() - t0).toBeLessThan(250);
    await second;
    expect(performance.now() - t0).toBeGreaterThan(300);
  });

  test('a never-recorded event synchronizes at once', async () => {
    using event = new Event(device);
    await expect(event.synchronize()).resolves.toBeUndefined();
  });

  test('stream.waitFor(event) orders work on one stream after work on another', async () => {
    using producer = device.createStream();
    using consumer = device.createStream();
    using event = device.createEvent();
    using source = device.empty([1 << 20], 'int32');
    using target = device.empty([1 << 20], 'int32');
    for (const ordered of [false, true]) {
      source.fill(0x00, producer);
      target.fill(0x00, consumer);
      await Promise.all([producer.synchronize(), consumer.synchronize()]);
      native.delay(producer.native, 50 * MS); // the producer writes late
      source.fill(0x11, producer);
      event.record(producer);
      if (ordered) consumer.waitFor(event);
      target.copyFrom(source, consumer);
      const out = await target.toHost(consumer);
      // Unordered, the copy runs before the fill (the control: the test can fail).
      expect(out.every((v) => v === 0x11111111)).toBe(ordered);
      expect(out.every((v) => v === 0)).toBe(!ordered);
      await producer.synchronize();
    }
  });

  test('elapsedMs() gives the GPU time between two completed events', async () => {
    using stream = device.createStream();
    using start = device.createEvent();
    using end = device.createEvent();
    start.record(stream);
    native.delay(stream.native, 20 * MS);
    end.record(stream);
    await end.synchronize();
    const ms = start.elapsedMs(end);
    expect(ms).toBeGreaterThan(19);
    expect(ms).toBeLessThan(40);
  });

  test('elapsedMs() before the events complete is CUDA_ERROR "not ready", and the device stays usable', async () => {
    using stream = device.createStream();
    using start = device.createEvent();
    using end = device.createEvent();
    native.delay(stream.native, 100 * MS);
    start.record(stream);
    end.record(stream);
    expect(() => start.elapsedMs(end)).toThrow(expect.objectContaining({ code: 'CUDA_ERROR', cudaError: 600, name: 'MarlinError' }));
    await end.synchronize();
    expect(start.elapsedMs(end)).toBeGreaterThanOrEqual(0);
    using t = DeviceTensor.from(device, Int32Array.of(1, 2, 3), [3], 'int32');
    expect(Array.from(await t.toHost())).toEqual([1, 2, 3]);
  });

  test('use after dispose is DISPOSED; dispose twice is safe', async () => {
    const event = device.createEvent();
    event.dispose();
    event.dispose();
    expect(event.disposed).toBe(true);
    expect(() => event.record()).toThrow(expect.objectContaining({ code: 'DISPOSED' }));
    await expect(event.synchronize()).rejects.toMatchObject({ code: 'DISPOSED' });
    expect(() => device.stream.waitFor(event)).toThrow(expect.objectContaining({ code: 'DISPOSED' }));
  });

  test('memoryInfo() reports the device total and sees an allocation', () => {
    const before = device.memoryInfo();
    expect(before.total).toBe(device.properties.totalGlobalMem);
    expect(before.free).toBeGreaterThan(0);
    expect(before.free).toBeLessThanOrEqual(before.total);
    const gib = 1 << 30;
    using block = device.empty([gib / 4], 'int32');
    const after = device.memoryInfo();
    expect(before.free - after.free).toBeGreaterThanOrEqual(0.9 * gib);
    block.dispose();
  });
});

// Two GPUs: memoryInfo() asks the device it is called on, and a stream may
// wait for another device's event.
const twoGpus = HAS_GPU && Device.count() > 1;
describeGpu('Event and memoryInfo across devices', () => {
  (twoGpus ? test : test.skip)('memoryInfo() of each device counts only its own allocations', () => {
    const [d0, d1] = [Device.get(0), Device.get(1)];
    const before = [d0.memoryInfo(), d1.memoryInfo()];
    const gib = 1 << 30;
    using block = d1.empty([gib / 4], 'int32');
    const after = [d0.memoryInfo(), d1.memoryInfo()];
    expect(before[1].free - after[1].free).toBeGreaterThanOrEqual(0.9 * gib);
    expect(Math.abs(before[0].free - after[0].free)).toBeLessThan(0.5 * gib);
    block.dispose();
  });

  (twoGpus ? test : test.skip)('a stream waits for an event of another device', async () => {
    const [d0, d1] = [Device.get(0), Device.get(1)];
    using event = d0.createEvent();
    using s0 = d0.createStream();
    using s1 = d1.createStream();
    native.delay(s0.native, 100 * MS);
    event.record(s0);
    s1.waitFor(event);
    const t0 = performance.now();
    await s1.synchronize();
    expect(performance.now() - t0).toBeGreaterThan(60);
    expect(() => event.record(s1)).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
  });
});
