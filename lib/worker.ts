/**
 * The script of marlin-node's worker threads (started by workers.ts): runs
 * the ColumnTask in workerData over rows read in place or received from
 * the caller, reports progress about every 256K elements, and ends with
 * its result, whose arrays are transferred, not copied. Anything it throws
 * reaches the caller as the worker's 'error'.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type MessagePort, parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';

import { type ColumnTask, type RowsMessage, resultBuffers, runColumnTask } from './column-task';
import { type RowSource, matrixRows } from './rtn';
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

/**
 * Frees an ArrayBuffer now, on this thread: transferring it into a clone
 * that is dropped at once releases its memory. Left to the end, a worker's
 * copy of its columns (half a GB for a large layer) is freed while the
 * thread exits, which the event loop's thread waits for (stalls of 20-60
 * ms measured).
 */
function freeNow(buffer: ArrayBuffer): void {
  structuredClone(undefined, { transfer: [buffer] });
}

/**
 * The rows the caller sends (RowsMessages, in order), read from the port
 * as they are needed; seek() sleeps until the row has come. Rows are
 * sought in order, twice per block of rows (two passes, lib/rtn.ts), so a
 * cursor finds each chunk. Once the last pass is past a chunk its buffer
 * goes back to the caller, which fills it with rows to come (no fresh
 * memory per chunk: the page faults of fresh buffers cost more system time
 * than the quantizing, measured); past the last row it is freed here.
 */
function receivedRows(port: MessagePort, signal: Int32Array, k: number, c0: number, width: number): RowSource {
  const chunks: RowsMessage[] = [];
  let received = 0;
  let at = 0;
  let freed = 0;
  const source: RowSource = {
    array: new Float32Array(0),
    offset: 0,
    seek(row) {
      while (row >= received) {
        // Read the signal before looking: a message posted after the look
        // has changed it, so the wait returns at once.
        const seen = Atomics.load(signal, 0);
        const next = receiveMessageOnPort(port);
        if (next) {
          const message = next.message as RowsMessage;
          chunks.push(message);
          received = message.to;
        } else {
          Atomics.wait(signal, 0, seen, 100);
        }
      }
      if (row < chunks[at].from) at = freed;
      while (row >= chunks[at].to) at++;
      source.array = chunks[at].data;
      source.offset = (row - chunks[at].from) * width - c0;
    },
    release(row) {
      while (freed < chunks.length && chunks[freed].to <= row + 1) {
        const buffer = chunks[freed++].data.buffer as ArrayBuffer;
        if (received < k) port.postMessage({ type: 'chunk', buffer } satisfies WorkerMessage, [buffer]);
        else freeNow(buffer);
      }
    },
  };
  return source;
}

const port = parentPort;
if (!port) throw new Error('lib/worker runs only as a worker thread');
const post = (message: WorkerMessage, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);

lowerPriority();
const task = workerData as ColumnTask;
const { weights } = task;
let rows: RowSource;
if ('shared' in weights) {
  const { buffer, byteOffset, length, type } = weights.shared;
  rows = matrixRows(type === 'float32' ? new Float32Array(buffer, byteOffset, length) : new Float64Array(buffer, byteOffset, length), task.problem.n);
} else {
  rows = receivedRows(port, new Int32Array(weights.sent.signal), task.problem.k, task.c0, task.c1 - task.c0);
}
let pending = 0;
const result = runColumnTask(task, rows, (elements) => {
  pending += elements;
  if (pending >= PROGRESS_EVERY) {
    post({ type: 'progress', amount: pending });
    pending = 0;
  }
});
if (pending > 0) post({ type: 'progress', amount: pending });
post({ type: 'done', result }, resultBuffers(result));
