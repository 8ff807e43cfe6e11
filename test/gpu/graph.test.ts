/**
 * CUDA graphs from JS (stream.capture): a replay computes exactly what the
 * same calls compute when made directly, bit for bit, for chains of layers
 * of several formats (act-order included), batch sizes with one and with
 * several launches, and inputs changed between replays; what a capture
 * cannot record throws NOT_CAPTURABLE and leaves the stream working; a
 * graph keeps the memory it uses alive; and the layer's reserve().
 */
import { Device, DeviceTensor, type Graph, type Stream } from '../../lib/device';
import { MarlinError, callNative } from '../../lib/errors';
import type { ActivationDType } from '../../lib/formats';
import { QuantizedLinear } from '../../lib/linear';
import { native } from '../../lib/native';
import { firstDifference } from '../helpers/compare';
import { expectCode } from '../helpers/expect-code';
import { type FormatCase, randomActivations, randomFormatLayer } from '../helpers/format-reference';
import { nativeGemmOf } from '../helpers/gemm-check';
import { describeGpu } from '../helpers/gpu';
import { SEED, rng } from '../helpers/random';

/**
 * A chain of layers y_{i+1} = y_i W_i, widths 256 -> 384 -> 256 -> 256 -> 128 (k multiples of 128). Two act-order
 * layers follow each other: the second's gather rewrites the stream's gather buffer that the first's GEMM, the
 * kernel just before it, reads (under programmatic dependent launch it must wait for that GEMM first).
 */
function chainCases(dtype: ActivationDType): FormatCase[] {
  return [
    { dtype, bits: 4, groupSize: 128, zeroPoints: false, k: 256, n: 384 },
    { dtype, bits: 8, groupSize: 64, zeroPoints: true, k: 384, n: 256, actOrder: { kind: 'shuffled' } },
    { dtype, bits: 4, groupSize: 32, zeroPoints: false, k: 256, n: 256, actOrder: { kind: 'shuffled' } },
    { dtype, bits: 4, groupSize: -1, zeroPoints: false, k: 256, n: 128 },
  ];
}

describeGpu(`CUDA graphs: stream.capture() and graph.launch() (seed ${SEED})`, () => {
  const random = rng(SEED + 120);
  let device: Device;
  let stream: Stream;

  beforeAll(() => {
    device = Device.get(0);
    stream = device.createStream();
  });
  afterAll(() => stream.dispose());

  /** Layers of a chain, their input and one output per layer, for m rows. */
  function makeChain(dtype: ActivationDType, m: number) {
    const layers = chainCases(dtype).map((c) => QuantizedLinear.fromQuantized(randomFormatLayer(c, random).quantized, { device }));
    // x is copied on `stream`, where the tests run the chain first (or order their other streams after it).
    const x = DeviceTensor.from(device, randomActivations(m, layers[0].inFeatures, dtype, random).bits, [m, layers[0].inFeatures], dtype, stream);
    const outs = layers.map((l) => DeviceTensor.empty(device, [m, l.outFeatures], dtype));
    const run = (s: Stream): void => {
      let input = x;
      layers.forEach((l, i) => {
        l.forward(input, { out: outs[i], stream: s });
        input = outs[i];
      });
    };
    const dispose = (): void => {
      for (const t of [x, ...outs]) t.dispose();
      for (const l of layers) l.dispose();
    };
    return { layers, x, outs, run, dispose };
  }

  async function readAll(ts: readonly DeviceTensor[], s: Stream): Promise<Uint16Array[]> {
    return Promise.all(ts.map((t) => t.toHost(s) as Promise<Uint16Array>));
  }

  for (const dtype of ['float16', 'bfloat16'] as const)
    for (const m of [1, 16, 200])
      test(`${dtype}, m=${m}: a replay equals the direct calls bit for bit, also after new inputs`, async () => {
        const chain = makeChain(dtype, m);
        try {
          for (const l of chain.layers) l.reserve({ maxBatch: m, stream });
          chain.run(stream); // direct
          const direct = await readAll(chain.outs, stream);
          for (const t of chain.outs) t.fill(0xff, stream); // poison: the replay must rewrite every element
          const graph = stream.capture(() => chain.run(stream));
          try {
            expect(graph.nodes).toBeGreaterThanOrEqual(chain.layers.length);
            graph.launch();
            const replayed = await readAll(chain.outs, stream);
            replayed.forEach((r, i) => expect(firstDifference(r, direct[i])).toBe(-1));

            // New input through upload, replay twice, against direct calls on the same input.
            chain.x.upload(randomActivations(m, chain.layers[0].inFeatures, dtype, random).bits, stream);
            graph.launch();
            graph.launch(stream);
            const again = await readAll(chain.outs, stream);
            chain.run(stream);
            const directAgain = await readAll(chain.outs, stream);
            again.forEach((r, i) => expect(firstDifference(r, directAgain[i])).toBe(-1));
            expect(firstDifference(again[2], direct[2])).not.toBe(-1); // the input did change
          } finally {
            graph.dispose();
          }
        } finally {
          await stream.synchronize();
          chain.dispose();
        }
      });

  /**
   * A chain of m rows run with a process-wide launch setting off, then on (direct calls, `repeats` times back to
   * back, and a graph captured with it on, replayed `replays` times): the results with it on must equal those
   * without, bit for bit. `setting(on?)` sets it when given and returns it, like native.programmaticLaunch().
   */
  async function expectSettingKeepsResults(m: number, setting: (on?: boolean) => boolean, repeats: number, replays: number): Promise<void> {
    const chain = makeChain('float16', m);
    const before = setting();
    try {
      for (const l of chain.layers) l.reserve({ maxBatch: m, stream });
      expect(setting(false)).toBe(false);
      chain.run(stream);
      const plain = await readAll(chain.outs, stream);
      expect(setting(true)).toBe(true);
      for (const t of chain.outs) t.fill(0xff, stream);
      for (let i = 0; i < repeats; i++) chain.run(stream);
      const direct = await readAll(chain.outs, stream);
      const graph = stream.capture(() => chain.run(stream));
      for (const t of chain.outs) t.fill(0xff, stream);
      for (let i = 0; i < replays; i++) graph.launch();
      const replayed = await readAll(chain.outs, stream);
      graph.dispose();
      direct.forEach((r, i) => expect(firstDifference(r, plain[i])).toBe(-1));
      replayed.forEach((r, i) => expect(firstDifference(r, plain[i])).toBe(-1));
    } finally {
      setting(before);
      await stream.synchronize();
      chain.dispose();
    }
  }

  // Back to back, each kernel may start under the previous one.
  test('with programmatic dependent launch, direct calls and replays equal those without, bit for bit', () =>
    expectSettingKeepsResults(130, (on) => native.programmaticLaunch(on), 3, 2));

  // The weights' L2 streaming window (common/launch.cuh) changes where bytes are cached, never a result: this checks
  // that launches and captures with the attribute run and compute what launches without it do (not that the
  // attribute took effect, which only the bench sees; on a GPU without access-policy windows both runs are plain).
  for (const m of [1, 200])
    test(`m=${m}: with the weights' L2 streaming window, direct calls and replays equal those without, bit for bit`, () =>
      expectSettingKeepsResults(m, (on) => native.streamingWeights(on), 1, 1));

  test('a replay on another stream, ordered by an event, gives the same result', async () => {
    const chain = makeChain('float16', 5);
    const other = device.createStream();
    try {
      for (const l of chain.layers) l.reserve({ maxBatch: 5, stream });
      chain.run(stream);
      const direct = await readAll(chain.outs, stream);
      const graph = stream.capture(() => chain.run(stream));
      for (const t of chain.outs) t.fill(0, stream);
      const filled = device.createEvent();
      filled.record(stream);
      other.waitFor(filled);
      graph.launch(other);
      const got = await readAll(chain.outs, other);
      got.forEach((r, i) => expect(firstDifference(r, direct[i])).toBe(-1));
      graph.dispose();
      filled.dispose();
    } finally {
      await other.synchronize();
      other.dispose();
      chain.dispose();
    }
  });

  test('what a capture cannot record fails with NOT_CAPTURABLE, and the stream keeps working', async () => {
    const chain = makeChain('float16', 3);
    try {
      for (const l of chain.layers) l.reserve({ maxBatch: 3, stream });
      chain.run(stream);
      const expected = await readAll(chain.outs, stream);
      // Each throws at once or returns a Promise that rejects (toHost, synchronize).
      const attempts: Array<[string, () => unknown]> = [
        ['a new tensor', () => DeviceTensor.empty(device, [4], 'float16')],
        ['forward() without out', () => chain.layers[0].forward(chain.x, { stream })],
        ['toHost()', () => chain.outs[0].toHost(stream)],
        ['toHost() of another stream', () => chain.outs[0].toHost(device.stream)],
        ['upload()', () => chain.x.upload(new Uint16Array(chain.x.length), stream)],
        ['stream.synchronize()', () => stream.synchronize()],
        ['device.synchronize()', () => device.synchronize()],
        ['layer.warmup()', () => chain.layers[0].warmup({ maxBatch: 2, stream })],
      ];
      for (const [what, attempt] of attempts) {
        let thrown: unknown;
        let returned: unknown;
        const graph = stream.capture(() => {
          chain.run(stream);
          try {
            returned = attempt();
          } catch (error) {
            thrown = error;
          }
        });
        graph.dispose();
        if (thrown === undefined) {
          expect([what, returned]).toEqual([what, expect.any(Promise)]);
          thrown = await (returned as Promise<unknown>).then(
            () => new Error(`${what} did not fail`),
            (error: unknown) => error,
          );
        }
        expect([what, thrown instanceof MarlinError && thrown.code]).toEqual([what, 'NOT_CAPTURABLE']);
        expect(stream.capturing).toBe(false);
        // The stream still runs work, and runs it right.
        for (const t of chain.outs) t.fill(0, stream);
        chain.run(stream);
        const got = await readAll(chain.outs, stream);
        got.forEach((r, i) => expect(firstDifference(r, expected[i])).toBe(-1));
      }

      // A record function that throws: the error propagates, nothing is recorded.
      const failure = new Error('record failed');
      expect(() =>
        stream.capture(() => {
          chain.run(stream);
          throw failure;
        }),
      ).toThrow(failure);
      expect(stream.capturing).toBe(false);
      for (const t of chain.outs) t.fill(0, stream);
      chain.run(stream);
      const after = await readAll(chain.outs, stream);
      after.forEach((r, i) => expect(firstDifference(r, expected[i])).toBe(-1));
    } finally {
      await stream.synchronize();
      chain.dispose();
    }
  });

  test('a capture needs the workspace reserved when the stream has none large enough', async () => {
    const fresh = device.createStream();
    const chain = makeChain('float16', 2);
    try {
      await device.synchronize();
      const error = expectCode(() => fresh.capture(() => chain.run(fresh)), 'NOT_CAPTURABLE');
      expect(error.message).toMatch(/reserve/);
      expect(fresh.capturing).toBe(false);
      for (const l of chain.layers) l.reserve({ maxBatch: 2, stream: fresh });
      const graph = fresh.capture(() => chain.run(fresh));
      graph.launch();
      const replayed = await readAll(chain.outs, fresh);
      chain.run(fresh);
      const direct = await readAll(chain.outs, fresh);
      replayed.forEach((r, i) => expect(firstDifference(r, direct[i])).toBe(-1));
      graph.dispose();
    } finally {
      await fresh.synchronize();
      fresh.dispose();
      chain.dispose();
    }
  });

  test('a record function that returns a Promise is refused and nothing is recorded', async () => {
    // eslint-disable-next-line @typescript-eslint/no-misused-promises -- the mistake under test
    const error = expectCode(() => stream.capture(async () => undefined), 'BAD_ARGUMENT');
    expect(error.message).toMatch(/synchronous/);
    expect(stream.capturing).toBe(false);
    expectCode(() => stream.capture('not a function' as unknown as () => void), 'BAD_ARGUMENT');
    await stream.synchronize();
  });

  test('the graph keeps the memory it uses: layers and tensors disposed before a replay', async () => {
    const chain = makeChain('float16', 4);
    let graph: Graph | undefined;
    const last = chain.layers.length - 1;
    const keep = DeviceTensor.empty(device, [4, chain.layers[last].outFeatures], 'float16');
    try {
      for (const l of chain.layers) l.reserve({ maxBatch: 4, stream });
      chain.run(stream);
      const direct = await readAll(chain.outs, stream);
      graph = stream.capture(() => {
        chain.run(stream);
        keep.copyFrom(chain.outs[last] as DeviceTensor<'float16'>, stream);
      });
      // Everything but `keep` goes: the layers, x and the outputs.
      chain.dispose();
      for (const l of chain.layers) expect(() => l.forward(chain.x, { stream })).toThrow(MarlinError);
      keep.fill(0, stream);
      graph.launch();
      expect(firstDifference(await keep.toHost(stream), direct[last])).toBe(-1);
    } finally {
      graph?.dispose();
      await stream.synchronize();
      keep.dispose();
    }
  });

  test('reserve() also sets up the kernels of every batch size up to maxBatch (act-order included), and refuses what a plan refuses', async () => {
    const chain = makeChain('bfloat16', 300);
    try {
      for (const l of chain.layers) l.reserve({ maxBatch: 300, stream });
      chain.run(stream);
      await stream.synchronize();
      const gemm = nativeGemmOf(chain.layers[0]);
      expectCode(() => callNative(() => gemm.prepareKernels(0)), 'BAD_ARGUMENT');
      expectCode(() => callNative(() => gemm.prepareKernels(16, { tileK: 32, tileN: 32 })), 'BAD_ARGUMENT');
      // reserve() queues nothing: during a capture the graph stays empty.
      const graph = stream.capture(() => chain.layers[1].reserve({ maxBatch: 300, stream }));
      expect(graph.nodes).toBe(0);
      graph.dispose();
      expectCode(() => chain.layers[0].reserve({ maxBatch: 4, stream, maxPar: 0 }), 'BAD_ARGUMENT');
    } finally {
      chain.dispose();
    }
  });

  test('dispose(): launch after it throws DISPOSED; disposing twice is fine', () => {
    const graph = stream.capture(() => undefined); // an empty graph is a graph
    expect(graph.nodes).toBe(0);
    graph.dispose();
    graph.dispose();
    expect(graph.disposed).toBe(true);
    expectCode(() => graph.launch(), 'DISPOSED');
  });
});
