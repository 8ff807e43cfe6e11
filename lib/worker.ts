/**
 * The script of marlin-node's worker threads (started by workers.ts): runs
 * the ColumnTask in workerData over rows read in place or received from
 * the caller through a ring (lib/row-ring.ts), reports progress about
 * every 256K elements, and ends with its result, whose arrays are
 * transferred, not copied. Anything it throws reaches the caller as the
 * worker's 'error'.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';

import { type ColumnTask, resultBuffers, runColumnTask } from './column-task';
import { ringRows } from './row-ring';
import { type RowSource, blockRows, matrixRows } from './rtn';
import type { WorkerMessage } from './workers';

/** Elements between two progress messages (a few ms of work). */
const PROGRESS_EVERY = 1 << 18;
/** The nice value workers run at: below the event loop's thread. */
const WORKER_NICE = 10;

/**
 * Runs this thread at a lower priority than the event loop's (Linux sets
 * the nice value of one thread through its id, /proc/thread-self). With
 * as many busy workers as cores, the event loop's thread otherwise waits
 * for a time slice: stalls of 20-35 ms measured on 2 cores, 5 ms with this.
 */
function lowerPriority(): void {
  try {
    const tid = Number(path.basename(fs.readlinkSync('/proc/thread-self')));
    os.setPriority(tid, Math.max(os.getPriority(tid), WORKER_NICE));
  } catch {
    // Not Linux, or not allowed: the normal priority.
  }
}

const port = parentPort;
if (!port) throw new Error('lib/worker runs only as a worker thread');
const post = (message: WorkerMessage, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);

lowerPriority();
const task = workerData as ColumnTask;
const { weights } = task;
let rows: RowSource & { dispose?(): void };
if ('shared' in weights) {
  const { buffer, byteOffset, length, type } = weights.shared;
  rows = matrixRows(type === 'float32' ? new Float32Array(buffer, byteOffset, length) : new Float64Array(buffer, byteOffset, length), task.problem.n);
} else {
  rows = ringRows(weights.ring, task.c0, blockRows(task.problem));
}
let pending = 0;
const result = runColumnTask(task, rows, (elements) => {
  pending += elements;
  if (pending >= PROGRESS_EVERY) {
    post({ type: 'progress', amount: pending });
    pending = 0;
  }
});
rows.dispose?.();
if (pending > 0) post({ type: 'progress', amount: pending });
post({ type: 'done', result }, resultBuffers(result));
