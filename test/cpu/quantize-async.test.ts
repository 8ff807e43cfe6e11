/**
 * quantizeAsync() and quantizeAndPackAsync(): the bits of quantize() and
 * packQuantized() in every format, whatever the split over threads; the
 * same MarlinError codes for bad input; progress; and no worker thread
 * left once the Promise settles. (Here, under jest, the workers run
 * lib/worker.ts through ts-node: each takes about half a second to start.)
 */
import * as os from 'node:os';
import { isSharedArrayBuffer } from 'node:util/types';

import { QuantizedLinear } from '../../lib/linear';
import { packQuantized } from '../../lib/pack-layer';
import { type QuantizedWeights, quantize } from '../../lib/quantize';
import { quantizeAndPackAsync, quantizeAsync } from '../../lib/quantize-async';
import * as ringModule from '../../lib/row-ring';
import * as workers from '../../lib/workers';
import { liveWorkers } from '../../lib/workers';
import { firstDifference } from '../helpers/compare';
import { HAS_GPU } from '../helpers/gpu';
import { timeOnThread, watchLoop } from '../helpers/loop-stall';
import { FORMAT_CASES, type FormatCase, caseName, caseOptions, caseWeights } from '../helpers/quantize-cases';
import { SEED, rng, uniform } from '../helpers/random';

const random = rng(SEED + 110);
const code = (c: string) => expect.objectContaining({ code: c });

function expectSameQuantized(ours: QuantizedWeights, sync: QuantizedWeights): void {
  const { q, scales, zeros, ...fields } = ours;
  const { q: syncQ, scales: syncScales, zeros: syncZeros, ...syncFields } = sync;
  expect(fields).toEqual(syncFields);
  expect(fields.gIdx).toBe(sync.gIdx);
  expect(firstDifference(q, syncQ)).toBe(-1);
  expect(firstDifference(scales, syncScales)).toBe(-1);
  expect(zeros === undefined).toBe(syncZeros === undefined);
  if (zeros) expect(firstDifference(zeros, syncZeros!)).toBe(-1);
}

afterEach(() => expect(liveWorkers()).toBe(0));

describe(`quantizeAsync() (seed ${SEED})`, () => {
  const k = 256;
  const n = 192; // three 64-column units: two threads split them 2 + 1

  // Every group size with half of the dtype x bits x zero-point combinations
  // (each pair of those values still meets), and every act-order case: each
  // worker thread starts ts-node here, about half a second; test/cpu/rtn.test.ts
  // checks the loops themselves in every format.
  const odd = (c: FormatCase) => ((c.dtype === 'bfloat16' ? 1 : 0) + (c.bits === 8 ? 1 : 0) + (c.zeroPoints ? 1 : 0)) % 2 === 1;
  test.each(FORMAT_CASES.filter((c) => c.gIdx || !odd(c)).map((c) => [caseName(c), c] as const))('gives the bits of quantize(): %s', async (_name, c) => {
    const w = caseWeights(k, n, random);
    const options = caseOptions(c, k, random);
    expectSameQuantized(await quantizeAsync(w, k, n, { ...options, threads: 2 }), quantize(w, k, n, options));
  });

  test.each([1, 3, 5])('gives the same bits split over %i thread(s), n = 320', async (threads) => {
    const w = caseWeights(128, 320, random);
    const options = { bits: 8, zeroPoints: true, dtype: 'bfloat16', groupSize: 32 } as const;
    expectSameQuantized(await quantizeAsync(w, 128, 320, { ...options, threads }), quantize(w, 128, 320, options));
  });

  test('takes a Float64Array, an array of numbers, the group size as 4th argument, weights on a SharedArrayBuffer, and n not a multiple of 64', async () => {
    const w = Float64Array.from(caseWeights(128, 100, random));
    expectSameQuantized(await quantizeAsync(w, 128, 100, { threads: 2 }), quantize(w, 128, 100));
    expectSameQuantized(await quantizeAsync(Array.from(w), 128, 100, 32), quantize(w, 128, 100, 32));
    const shared = new Float32Array(new SharedArrayBuffer(128 * 128 * 4));
    shared.set(caseWeights(128, 128, random));
    expectSameQuantized(await quantizeAsync(shared, 128, 128, { threads: 2 }), quantize(shared, 128, 128));
  });

  test("takes weights given [n, k] (layout 'out-in') as quantize() does, sent or shared, and names a bad one by its index there", async () => {
    const w = caseWeights(128, 192, random); // [n = 192, k = 128]
    const options = { layout: 'out-in', bits: 4, zeroPoints: true, groupSize: 64 } as const;
    const sync = quantize(w, 128, 192, options);
    expectSameQuantized(await quantizeAsync(w, 128, 192, { ...options, threads: 2 }), sync);
    const shared = new Float32Array(new SharedArrayBuffer(w.byteLength));
    shared.set(w);
    expectSameQuantized(await quantizeAsync(shared, 128, 192, { ...options, threads: 2 }), sync);
    // In 'in-out' order these differ: the test would fail if the layout were ignored.
    expect(firstDifference(quantize(w, 128, 192, { ...options, layout: 'in-out' }).q, sync.q)).not.toBe(-1);
    const bad = w.slice();
    bad[5 * 128 + 7] = Number.NaN; // output 5, input 7
    const thrown = (() => {
      try {
        quantize(bad, 128, 192, options);
      } catch (error) {
        return error as Error;
      }
    })();
    expect(thrown?.message).toMatch(/weights\[647\] \(output 5, input 7; layout 'out-in'\)/);
    await expect(quantizeAsync(bad, 128, 192, { ...options, threads: 2 })).rejects.toMatchObject({ code: 'BAD_ARGUMENT', message: thrown!.message });
  });

  test('reports non-decreasing progress, ending with exactly 1', async () => {
    const fractions: number[] = [];
    await quantizeAsync(uniform(1024 * 1024, random), 1024, 1024, { threads: 2, onProgress: (f) => fractions.push(f) });
    expect(fractions.length).toBeGreaterThan(2);
    expect(fractions.every((f, i) => f >= 0 && (i === 0 || f >= fractions[i - 1]))).toBe(true);
    expect(fractions.filter((f) => f === 1)).toHaveLength(1);
    expect(fractions[fractions.length - 1]).toBe(1);
  });

  test('rejects what quantize() throws, with the same code and message', async () => {
    const w = uniform(128 * 128, random);
    const cases: Array<[unknown, number, number, unknown]> = [
      [new Uint16Array(128 * 128), 128, 128, {}], // FP16 bit patterns
      [w, 100, 128, {}], // length
      [w, 128, 128, { groupSize: 48 }],
      [w, 128, 128, { bits: 3 }],
      [w, 128, 128, { dtype: 'float32' }],
      [w, 128, 128, { zeroPoints: 1 }],
      [w, 128, 128, { groupSize: 64, gIdx: new Int32Array(127) }],
      [[1, 2, 'three'], 1, 3, {}],
    ];
    for (const [weights, kk, nn, options] of cases) {
      let expected: unknown;
      try {
        quantize(weights as never, kk, nn, options as never);
      } catch (error) {
        expected = error;
      }
      expect(expected).toBeDefined();
      await expect(quantizeAsync(weights as never, kk, nn, options as never)).rejects.toThrow(expected as Error);
      await expect(quantizeAsync(weights as never, kk, nn, options as never)).rejects.toEqual(code((expected as { code: string }).code));
    }
  });

  test('rejects the first weight quantize() finds not finite, and a scale the dtype cannot hold, with the same message', async () => {
    const w = uniform(128 * 256, random);
    w[100 * 256 + 200] = NaN; // found last in row order by the thread of columns 192..255
    w[101 * 256 + 3] = Infinity;
    w[7 * 256 + 130] = -Infinity; // the first in row order
    expect(() => quantize(w, 128, 256)).toThrow(/row 7, column 130/);
    await expect(quantizeAsync(w, 128, 256, { threads: 4 })).rejects.toEqual(
      expect.objectContaining({ code: 'BAD_ARGUMENT', message: expect.stringMatching(/row 7, column 130/) }),
    );
    const big = uniform(128 * 256, random);
    big[5 * 256 + 250] = 1e6; // its FP16 scale overflows
    big[9 * 256 + 70] = 2e6;
    let expected: Error | undefined;
    try {
      quantize(big, 128, 256);
    } catch (error) {
      expected = error as Error;
    }
    await expect(quantizeAsync(big, 128, 256, { threads: 4 })).rejects.toThrow(expected!.message);
  });

  test('sends rows through rings smaller than the layer (they wrap around), in both layouts, and the bits are those of quantize()', async () => {
    // n = 4096: chunks of 64 rows (SLICE / n). Group 128: blocks of 128
    // rows read in the ring, which holds two blocks and a chunk (320 rows);
    // per-channel and act-order: one block of every row, copied out of a
    // ring of 8 chunks (512 rows). k = 2048 goes round each ring 4-6 times.
    const kk = 2048;
    const nn = 4096;
    const w = uniform(kk * nn, random);
    const wt = new Float32Array(kk * nn);
    for (let r = 0; r < kk; r++) for (let c = 0; c < nn; c++) wt[c * kk + r] = w[r * nn + c];
    const rings: Array<{ rows: number; inPlace: boolean }> = [];
    const Ring = ringModule.RingWriter;
    const ring = jest.spyOn(ringModule, 'RingWriter').mockImplementation((spec) => {
      rings.push({ rows: spec.rows, inPlace: spec.inPlace });
      return new Ring(spec);
    });
    try {
      const inPlace = { rows: 320, inPlace: true };
      const copied = { rows: 512, inPlace: false };
      const cases = [
        { options: { groupSize: 128 }, ring: inPlace },
        { options: { groupSize: 128, layout: 'out-in' }, ring: inPlace },
        { options: { groupSize: -1, layout: 'out-in' }, ring: copied },
        { options: { groupSize: 128, gIdx: Int32Array.from({ length: kk }, (_, i) => (i * 7919) % 16) }, ring: copied },
      ] as const;
      for (const { options, ring: expected } of cases) {
        const weights = 'layout' in options ? wt : w;
        const sync = quantize(weights, kk, nn, options);
        rings.length = 0;
        expectSameQuantized(await quantizeAsync(weights, kk, nn, { ...options, threads: 2 }), sync);
        expect({ options, rings }).toEqual({ options, rings: [expected, expected] });
        // Packing as each group is quantized (no act-order), or after (act-order): the bytes of packQuantized.
        const packed = await quantizeAndPackAsync(weights, kk, nn, { ...options, threads: 1 });
        const syncPacked = packQuantized(sync);
        expect(firstDifference(packed.packedWeights, syncPacked.packedWeights)).toBe(-1);
        expect(firstDifference(packed.packedScales, syncPacked.packedScales)).toBe(-1);
      }
    } finally {
      ring.mockRestore();
    }
  }, 60_000);

  test('settles when a worker stops early at a weight that is not finite while its ring is full', async () => {
    // Rings of 512 rows (as above) for k = 2048: a worker that stops at
    // row 0 must not leave the sender waiting for room, on one thread or
    // with another thread still working.
    const kk = 2048;
    const nn = 4096;
    for (const [threads, at] of [
      [1, 0],
      [2, 0],
      [2, 2048 + 5],
    ] as const) {
      const w = uniform(kk * nn, random);
      w[at] = threads === 1 ? Number.NaN : Number.POSITIVE_INFINITY;
      await expect(quantizeAsync(w, kk, nn, { groupSize: 128, threads })).rejects.toEqual(
        expect.objectContaining({ code: 'BAD_ARGUMENT', message: expect.stringMatching(new RegExp(`row 0, column ${at}\\b`)) }),
      );
      await expect(quantizeAndPackAsync(w, kk, nn, { groupSize: 128, threads })).rejects.toEqual(code('BAD_ARGUMENT'));
    }
  }, 60_000);

  test('rejects bad threads and onProgress with BAD_ARGUMENT', async () => {
    const w = uniform(128 * 64, random);
    for (const threads of [0, 1.5, -1, '2'])
      await expect(quantizeAsync(w, 128, 64, { threads: threads as never })).rejects.toEqual(code('BAD_ARGUMENT'));
    await expect(quantizeAsync(w, 128, 64, { onProgress: 'yes' as never })).rejects.toEqual(code('BAD_ARGUMENT'));
  });

  test('an onProgress that throws stops the work and rejects with its error', async () => {
    const oops = new Error('progress callback failed');
    await expect(
      quantizeAsync(uniform(512 * 1024, random), 512, 1024, {
        threads: 2,
        onProgress: () => {
          throw oops;
        },
      }),
    ).rejects.toBe(oops);
  });
});

describe(`quantizeAndPackAsync() (seed ${SEED})`, () => {
  const k = 256;
  const n = 192;

  // Packing does not depend on the dtype (scales are bit patterns): both
  // widths, with and without zero points, grouped and per-channel scales,
  // and every act-order case (padding rows of zero points or of 2^(bits-1)).
  const packCases = FORMAT_CASES.filter((c) => (c.dtype === 'float16' && (c.groupSize === 64 || c.groupSize === -1)) || c.gIdx);
  test.each(packCases.map((c) => [caseName(c), c] as const))(
    'gives packQuantized(quantize()) bit for bit: %s',
    async (_name, c) => {
      const w = caseWeights(k, n, random);
      const options = caseOptions(c, k, random);
      const ours = await quantizeAndPackAsync(w, k, n, { ...options, threads: 2 });
      const sync = packQuantized(quantize(w, k, n, options));
      expect(firstDifference(ours.packedWeights, sync.packedWeights)).toBe(-1);
      expect(firstDifference(ours.packedScales, sync.packedScales)).toBe(-1);
      expect(ours.packedZeros === undefined).toBe(sync.packedZeros === undefined);
      if (ours.packedZeros) expect(firstDifference(ours.packedZeros, sync.packedZeros!)).toBe(-1);
      expect(ours.rows).toEqual(sync.rows);
      const { packedWeights, packedScales, packedZeros, rows, ...fields } = ours;
      expect(fields).toEqual({ inFeatures: k, outFeatures: n, groupSize: c.groupSize, bits: c.bits, dtype: c.dtype });
      // plain memory: a device upload takes no SharedArrayBuffer
      for (const a of [packedWeights, packedScales, packedZeros, rows]) if (a) expect(isSharedArrayBuffer(a.buffer)).toBe(false);
    },
  );

  test('checks the layer against the kernels before any work: k not a multiple of 128 is BAD_SHAPE', async () => {
    await expect(quantizeAndPackAsync(uniform(64 * 64, random), 64, 64, { groupSize: 32 })).rejects.toEqual(code('BAD_SHAPE'));
    await expect(quantizeAndPackAsync(uniform(128 * 100, random), 128, 100, {})).rejects.toEqual(code('BAD_SHAPE'));
  });
});

describe('QuantizedLinear.fromWeightsAsync', () => {
  test('checks the shape, then finds the device, before any work', async () => {
    const w = uniform(256 * 128, random);
    await expect(QuantizedLinear.fromWeightsAsync(w, 256, 100)).rejects.toEqual(code('BAD_SHAPE'));
    if (!HAS_GPU) {
      const run = jest.spyOn(workers, 'runWorkers');
      await expect(QuantizedLinear.fromWeightsAsync(w, 256, 128, { threads: 2 })).rejects.toEqual(code('NO_GPU'));
      expect(run).not.toHaveBeenCalled();
      run.mockRestore();
    }
  });
});

describe('the event loop during a large quantizeAsync', () => {
  /** Longest acceptable stall (ms), watched with a 1 ms interval. */
  const STALL_LIMIT_MS = 30;

  test('is never held for more than 30 ms, while the same work on the JS thread would hold it far longer', async () => {
    const k = 4096;
    const n = 8192; // 33.5 M weights: copied in, quantized, returned
    const w = uniform(k * n, random);
    // The same work on the JS thread: if it fit within the limit, the check
    // below could not tell the two apart.
    let sync: QuantizedWeights | undefined;
    const onThreadMs = timeOnThread(() => (sync = quantize(w, k, n)), 1);
    expect(onThreadMs).toBeGreaterThan(3 * STALL_LIMIT_MS);
    // A large allocation makes V8 collect garbage soon after; let it run before watching.
    await new Promise((resolve) => setTimeout(resolve, 100));
    // One core is left to the event loop: with a busy thread on every core the
    // OS, not this code, decides when the loop runs.
    const threads = Math.max(1, os.availableParallelism() - 1);
    const watched = await watchLoop(() => quantizeAsync(w, k, n, { threads }));
    process.stdout.write(
      `quantizeAsync of ${k}x${n} on ${threads} thread(s): ${watched.elapsedMs.toFixed(0)} ms, longest loop stall ` +
        `${watched.longestMs.toFixed(1)} ms over ${watched.turns} turns (quantize() on the JS thread: ${onThreadMs.toFixed(0)} ms)\n`,
    );
    expect(watched.turns).toBeGreaterThan(20);
    expect(watched.longestMs).toBeLessThan(STALL_LIMIT_MS);
    expectSameQuantized(watched.value, sync!);
  });
});
