/**
 * The last step of every download, tested without a GPU: the copy from
 * staging memory into the result runs off the JS thread, lands every byte
 * before the Promise resolves, and never holds the event loop for long.
 * (native.readbackSelfTest runs that copy from a host block whose 32-bit
 * word i is i ^ seed; test/gpu/readback.test.ts does the same through
 * DeviceTensor.toHost on a GPU.)
 */
import { native } from '../../lib/native';
import { timeOnThread, watchLoop } from '../helpers/loop-stall';

const MB = 1024 * 1024;
/** Longest acceptable stall of the event loop during a readback (ms). */
const STALL_LIMIT_MS = 20;

/** Index of the first word that is not i ^ seed, or -1. */
function firstWrongWord(bytes: ArrayBuffer, seed: number): number {
  const words = new Uint32Array(bytes);
  for (let i = 0; i < words.length; i++) if (words[i] !== ((i ^ seed) >>> 0)) return i;
  return -1;
}

describe('off-thread readback copy', () => {
  test('every byte has landed when the Promise resolves', async () => {
    const bytes = new ArrayBuffer(3 * MB + 12);
    await native.readbackSelfTest(bytes, 0x9e3779b9);
    expect(firstWrongWord(bytes, 0x9e3779b9)).toBe(-1);
  });

  test('an empty destination resolves', async () => {
    await expect(native.readbackSelfTest(new ArrayBuffer(0), 1)).resolves.toBeUndefined();
  });

  test('readbacks started together each complete, in the order they were started', async () => {
    const order: number[] = [];
    const buffers = [5, 1, 3].map((mb) => new ArrayBuffer(mb * MB));
    await Promise.all(buffers.map((b, i) => native.readbackSelfTest(b, i + 1).then(() => order.push(i))));
    expect(order).toEqual([0, 1, 2]);
    buffers.forEach((b, i) => expect(firstWrongWord(b, i + 1)).toBe(-1));
  });

  test('a 200 MB readback never holds the event loop more than 20 ms', async () => {
    const size = 200 * MB;
    const first = new ArrayBuffer(size);
    await native.readbackSelfTest(first, 7); // the copy's own pages are warm after this; the destination's never are
    // What the same copy costs on the JS thread (as download() did before it
    // moved off-thread): if this machine did it within the limit, the check
    // below could not tell the two apart.
    const source = new Uint8Array(first);
    const onThreadMs = timeOnThread(() => new Uint8Array(size).set(source));
    expect(onThreadMs).toBeGreaterThan(STALL_LIMIT_MS);

    const bytes = new ArrayBuffer(size);
    // A large allocation makes V8 collect garbage soon after (a pause of
    // several ms with jest's heap, nothing to do with the copy): let it run
    // before watching. (The GPU test keeps it: toHost allocates its result.)
    await new Promise((resolve) => setTimeout(resolve, 100));
    const watched = await watchLoop(() => native.readbackSelfTest(bytes, 0x5eed));
    process.stdout.write(
      `200 MB readback: ${watched.elapsedMs.toFixed(1)} ms, longest loop stall ${watched.longestMs.toFixed(1)} ms ` +
        `over ${watched.turns} turns (the same copy on the JS thread: ${onThreadMs.toFixed(1)} ms)\n`,
    );
    expect(watched.turns).toBeGreaterThan(3);
    expect(watched.longestMs).toBeLessThan(STALL_LIMIT_MS);
    expect(firstWrongWord(bytes, 0x5eed)).toBe(-1);
  });

  test('the destination must be an ArrayBuffer: views and other values are BAD_ARGUMENT', () => {
    for (const bad of [new Uint8Array(16), new DataView(new ArrayBuffer(16)), 16, null])
      expect(() => native.readbackSelfTest(bad as never, 1)).toThrow(
        expect.objectContaining({ code: 'BAD_ARGUMENT', message: 'Expected an ArrayBuffer for destination' }),
      );
  });
});
