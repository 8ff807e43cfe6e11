/**
 * Worker threads for CPU work that would hold the event loop (quantizing
 * and packing large layers). runWorkers() starts one thread per job, hands
 * progress messages to the caller, and settles only once every thread has
 * exited: resolved with each job's result, or rejected with the first
 * failure (the other threads are terminated first). Threads are started
 * per call and never kept: none is left running once the Promise settles.
 *
 * A worker posts { type: 'progress', amount } as often as it likes and
 * ends with { type: 'done', result }; exiting without 'done', throwing, or
 * exiting with a non-zero code is a failure.
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

import { MarlinError } from './errors';

/** A script to run in worker threads, and what it needs to start. */
export interface WorkerEntry {
  file: string;
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
}

export type WorkerMessage = { type: 'progress'; amount: number } | { type: 'done'; result: unknown };

/**
 * lib/worker: worker.js beside this file once compiled (dist/); under
 * ts-node or jest, where this file is lib/workers.ts, worker.ts through
 * ts-node's register hook (a development dependency, like TypeScript).
 */
export function libraryWorker(): WorkerEntry {
  if (path.extname(__filename) !== '.ts') return { file: path.join(__dirname, 'worker.js') };
  let register: string;
  try {
    register = require.resolve('ts-node/register/transpile-only');
  } catch (error) {
    throw new MarlinError('WORKER_FAILED', 'worker threads started from lib/*.ts need ts-node (a development dependency); run the compiled package (dist/) instead', { cause: error });
  }
  return {
    file: path.join(__dirname, 'worker.ts'),
    execArgv: ['--require', register],
    env: { ...process.env, TS_NODE_PROJECT: path.join(__dirname, '..', 'tsconfig.json') },
  };
}

let running = 0;

/** Worker threads started by runWorkers that have not exited yet (tests check none are left). */
export function liveWorkers(): number {
  return running;
}

/** A failure of worker `index` as a MarlinError (out of memory keeps its own code). */
function workerError(index: number, error: unknown): MarlinError {
  if (error instanceof MarlinError) return error;
  const e = error as { code?: unknown; message?: unknown } | undefined;
  const message = typeof e?.message === 'string' ? e.message : String(error);
  const outOfMemory = e?.code === 'ERR_WORKER_OUT_OF_MEMORY' || /allocation failed/i.test(message);
  return new MarlinError(outOfMemory ? 'OUT_OF_MEMORY' : 'WORKER_FAILED', `worker thread ${index} failed: ${message}`, { cause: error });
}

export interface WorkerRun {
  /** Each job's result, in job order. */
  results: Promise<unknown[]>;
  /** Terminates every thread; `results` rejects with `reason` (unless it already settled). */
  stop(reason: unknown): void;
}

/**
 * Runs one thread of `entry` per element of `jobs` (its workerData).
 * onProgress gets every progress amount; if it throws, the run fails with
 * that error. onDone gets the index of a worker that posted its result:
 * it reads nothing more, even when it stopped early at a problem in the
 * weights.
 */
export function runWorkers(
  entry: WorkerEntry,
  jobs: readonly unknown[],
  onProgress: (amount: number) => void,
  onDone?: (index: number) => void,
): WorkerRun {
  const workers: Worker[] = [];
  const results = new Array<unknown>(jobs.length);
  const finished = new Array<boolean>(jobs.length).fill(false);
  let failure: { error: unknown } | undefined;
  let settle: (() => void) | undefined;
  let exited = 0;

  const stop = (error: unknown): void => {
    if (failure) return;
    failure = { error };
    for (const w of workers) void w.terminate();
  };
  const promise = new Promise<unknown[]>((resolve, reject) => {
    settle = () => (failure ? reject(failure.error) : resolve(results));
  });

  for (let i = 0; i < jobs.length && !failure; i++) {
    let worker: Worker;
    try {
      worker = new Worker(entry.file, { workerData: jobs[i], execArgv: entry.execArgv, env: entry.env });
    } catch (error) {
      stop(workerError(i, error));
      break;
    }
    running++;
    workers.push(worker);
    worker.on('message', (message: WorkerMessage) => {
      if (failure) return;
      if (message?.type === 'done') {
        results[i] = message.result;
        finished[i] = true;
        onDone?.(i);
      } else if (message?.type === 'progress') {
        try {
          onProgress(message.amount);
        } catch (error) {
          stop(error);
        }
      }
    });
    worker.on('error', (error) => stop(workerError(i, error)));
    worker.on('exit', (code) => {
      running--;
      if (code !== 0) stop(workerError(i, `exited with code ${code}`));
      else if (!finished[i]) stop(workerError(i, 'exited before finishing its job'));
      if (++exited === workers.length) settle!();
    });
  }
  if (workers.length === 0) settle!();
  return { results: promise, stop };
}
