/**
 * DeviceTensor.toHost() on a GPU: a large result never holds the event loop
 * for long, the result is complete when the Promise resolves, and it shows
 * the tensor as of the call (stream order), even if the tensor is disposed
 * or overwritten right after.
 */
import { Device, DeviceTensor } from '../../lib/device';
import { native } from '../../lib/native';
import { firstDifference } from '../helpers/compare';
import { describeGpu } from '../helpers/gpu';
import { timeOnThread, watchLoop } from '../helpers/loop-stall';

const MB = 1024 * 1024;
/** Longest acceptable stall of the event loop during a readback (ms). */
const STALL_LIMIT_MS = 20;

/** n int32 values, value i = i ^ seed: every misplaced or missing word shows. */
function pattern(n: number, seed: number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = i ^ seed;
  return a;
}

describeGpu('toHost() off the event loop', () => {
  let device: Device;
  beforeAll(() => {
    device = Device.get(0);
  });

  test('a 200 MB toHost() never holds the event loop more than 20 ms', async () => {
    const n = (200 * MB) / 4;
    const data = pattern(n, 0x2545f491);
    using t = DeviceTensor.from(device, data, [n], 'int32');
    // The first readback of this size pins a staging block on the calling
    // thread (once; the pool keeps it). Reported, not held to the limit.
    const first = await watchLoop(() => t.toHost());
    expect(firstDifference(first.value, data)).toBe(-1);
    // What the copy out of staging costs on the JS thread, where it ran
    // before: if this machine did it within the limit, the check below could
    // not tell the two apart.
    const onThreadMs = timeOnThread(() => new Int32Array(n).set(first.value));
    expect(onThreadMs).toBeGreaterThan(STALL_LIMIT_MS);

    const watched = await watchLoop(() => t.toHost());
    process.stdout.write(
      `${device.name}: 200 MB toHost() ${watched.elapsedMs.toFixed(1)} ms, longest loop stall ` +
        `${watched.longestMs.toFixed(1)} ms over ${watched.turns} turns; first call (pins staging) ` +
        `${first.longestMs.toFixed(1)} ms; the copy on the JS thread ${onThreadMs.toFixed(1)} ms\n`,
    );
    expect(watched.turns).toBeGreaterThan(3);
    expect(watched.longestMs).toBeLessThan(STALL_LIMIT_MS);
    expect(firstDifference(watched.value, data)).toBe(-1);
  });

  test('toHost() shows the tensor as of the call, not work queued after it', async () => {
    const n = (8 * MB) / 4;
    const data = pattern(n, 77);
    using t = DeviceTensor.from(device, data, [n], 'int32');
    native.delay(device.stream.native, 20000); // hold the stream so the overwrite is queued before the copy runs
    const result = t.toHost();
    t.fill(0xff);
    expect(firstDifference(await result, data)).toBe(-1);
    expect((await t.toHost())[0]).toBe(-1);
  });

  test('disposing a tensor while its toHost() is in flight still gives its contents', async () => {
    const n = (8 * MB) / 4;
    const data = pattern(n, 1234);
    const t = DeviceTensor.from(device, data, [n], 'int32');
    native.delay(device.stream.native, 20000);
    const result = t.toHost();
    t.dispose(); // frees the memory after the queued copy
    expect(firstDifference(await result, data)).toBe(-1);
  });

  test('readbacks of many sizes in flight at once each resolve with their own data', async () => {
    const sizes = [1, 3, 1000, 65536 / 4 + 1, (3 * MB) / 4, 17];
    const tensors = sizes.map((n, i) => DeviceTensor.from(device, pattern(n, i * 7919), [n], 'int32'));
    try {
      const results = await Promise.all(tensors.map((t) => t.toHost()));
      results.forEach((r, i) => expect(firstDifference(r, pattern(sizes[i], i * 7919))).toBe(-1));
    } finally {
      for (const t of tensors) t.dispose();
    }
  });
});
