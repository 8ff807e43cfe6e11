/**
 * The worker-thread runner (lib/workers.ts) with small scripts of known
 * behaviour (test/fixtures/workers.js): results in job order, progress
 * passed on, every failure a rejection, and no thread left running once
 * the Promise settles, whatever happened.
 */
import * as path from 'node:path';

import { MarlinError } from '../../lib/errors';
import * as workers from '../../lib/workers';
import { quantizeAsync } from '../../lib/quantize-async';
import { libraryWorker, liveWorkers, runWorkers } from '../../lib/workers';

const FIXTURE = { file: path.join(__dirname, '..', 'fixtures', 'workers.js') };
const job = (behave: string, value = 0) => ({ behave, value });

afterEach(() => {
  jest.restoreAllMocks();
  expect(liveWorkers()).toBe(0);
});

describe('runWorkers', () => {
  test('resolves with each job\'s result in job order, once every thread has exited', async () => {
    const progress: number[] = [];
    const run = runWorkers(FIXTURE, [job('double', 1), job('double', 2), job('double', 3)], (amount) => progress.push(amount));
    expect(liveWorkers()).toBe(3);
    await expect(run.results).resolves.toEqual([{ doubled: 2 }, { doubled: 4 }, { doubled: 6 }]);
    expect(progress.reduce((a, b) => a + b, 0)).toBe(9);
    expect(liveWorkers()).toBe(0);
  });

  test('a thread that throws rejects the run with WORKER_FAILED and its message; the others are terminated', async () => {
    const run = runWorkers(FIXTURE, [job('hang'), job('throw'), job('hang')], () => {});
    const error = await run.results.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MarlinError);
    expect(error).toMatchObject({ code: 'WORKER_FAILED', message: expect.stringContaining('fixture worker failed') });
    expect(liveWorkers()).toBe(0);
  });

  test('a thread that exits with a non-zero code, or without its result, is a failure', async () => {
    await expect(runWorkers(FIXTURE, [job('exit')], () => {}).results).rejects.toMatchObject({
      code: 'WORKER_FAILED',
      message: expect.stringContaining('exited with code 3'),
    });
    await expect(runWorkers(FIXTURE, [job('double'), job('forget')], () => {}).results).rejects.toMatchObject({
      code: 'WORKER_FAILED',
      message: expect.stringContaining('worker thread 1 failed: exited before finishing'),
    });
  });

  test('a script that cannot be loaded is a failure', async () => {
    await expect(runWorkers({ file: path.join(__dirname, 'no-such-worker.js') }, [job('double')], () => {}).results).rejects.toMatchObject({
      code: 'WORKER_FAILED',
    });
  });

  test('stop() terminates every thread and rejects with its reason; an onProgress that throws does the same', async () => {
    const run = runWorkers(FIXTURE, [job('hang'), job('hang')], () => {});
    const reason = new Error('stopped by the caller');
    run.stop(reason);
    await expect(run.results).rejects.toBe(reason);
    const oops = new Error('progress failed');
    const failing = runWorkers(FIXTURE, [job('double'), job('hang')], () => {
      throw oops;
    });
    await expect(failing.results).rejects.toBe(oops);
  });

  test('no jobs: resolves at once with no results', async () => {
    await expect(runWorkers(FIXTURE, [], () => {}).results).resolves.toEqual([]);
  });
});

describe('quantizeAsync on failing threads', () => {
  test('rejects with WORKER_FAILED when a worker fails, and leaves none running', async () => {
    jest.spyOn(workers, 'libraryWorker').mockReturnValue({ file: path.join(__dirname, '..', 'fixtures', 'failing-worker.js') });
    await expect(quantizeAsync(new Float32Array(128 * 256), 128, 256, { threads: 2 })).rejects.toMatchObject({
      code: 'WORKER_FAILED',
      message: expect.stringContaining('quantization worker failed'),
    });
  });

  test('the library\'s own worker script is lib/worker.ts here, run through ts-node', () => {
    const entry = libraryWorker();
    expect(entry.file).toBe(path.join(__dirname, '..', '..', 'lib', 'worker.ts'));
    expect(entry.execArgv).toEqual(['--require', require.resolve('ts-node/register/transpile-only')]);
  });
});
