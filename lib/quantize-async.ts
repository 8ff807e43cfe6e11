/**
 * Quantizing and packing off the event loop. quantizeAsync() and
 * quantizeAndPackAsync() give each worker thread a range of columns
 * (column-task.ts, run by worker.ts) and produce the bits of quantize() and
 * packQuantized(): the threads run the same loops (rtn.ts, pack-layer.ts).
 * The event loop only checks arguments and moves memory, a slice (about a
 * millisecond) per turn: it is never held for long.
 *
 * Memory. The event loop copies each thread's columns of the weights, a
 * chunk of rows at a time, into a ring shared with that thread
 * (lib/row-ring.ts; pooled across calls); a thread starts on its first
 * rows while the rest are copied. Where groups are runs of rows a thread
 * reads them in the ring, which holds two groups and a chunk of its
 * columns (7.6 MB per thread for 8192 x 28672 float32 weights on 4
 * threads); with act-order or per-channel it copies every row into a
 * buffer of its own first (the weights once more in all). Weights already
 * on a SharedArrayBuffer (read from a file straight into one, say) are
 * read in place instead, with no copy. Each thread returns its columns of
 * the results, transferred; the event loop places them into the result
 * arrays, so q is held twice at the end.
 */
import * as os from 'node:os';
import { isSharedArrayBuffer } from 'node:util/types';

import { type ColumnTask, type ColumnTaskResult, type TaskWeights, type WeightType, weightType } from './column-task';
import { type LayerPlan, type PackFinding, type PackedLayer, packFindingError, packWork, packedLengths, planLayer } from './pack-layer';
import {
  type QuantizeOptions,
  type QuantizedWeights,
  checkWeightsArray,
  findingError,
  quantizeOptions,
  rowGroups,
} from './quantize';
import { type RingSpec, RingWriter, ringBytes } from './row-ring';
import { type RtnFinding, type RtnProblem, blockRows, rtnWork } from './rtn';
import type { GroupSize } from './shapes';
import { invalid, isObject, isPositiveInteger } from './validate';
import { libraryWorker, runWorkers } from './workers';

/** What the worker-thread calls take beyond the work itself: progress, threads. */
export interface AsyncOptions {
  /**
   * Called with the fraction of the work done, from 0 to 1, never
   * decreasing, at most about a thousand times; last with 1 once the
   * result is ready. If it throws, the work stops and the Promise rejects
   * with that error.
   */
  onProgress?: (fraction: number) => void;
  /**
   * Worker threads at most (default: os.availableParallelism(), fewer for
   * small layers: one per 4 million weights). Each takes whole 64-column
   * units, so a layer of n columns uses at most n / 64.
   */
  threads?: number;
}

/** The options of quantizeAsync(), quantizeAndPackAsync() and QuantizedLinear.fromWeightsAsync(). */
export type QuantizeAsyncOptions = QuantizeOptions & AsyncOptions;

/** Elements copied per turn of the event loop (1-2 MB: about a millisecond, page faults included). */
const SLICE = 1 << 18;
/** Weights per worker thread when `threads` is not given. */
const WEIGHTS_PER_THREAD = 1 << 22;

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function asyncOptions(arg: GroupSize | QuantizeAsyncOptions | undefined): AsyncOptions {
  if (!isObject(arg)) return {};
  const { onProgress, threads } = arg as AsyncOptions;
  if (onProgress !== undefined && typeof onProgress !== 'function') throw invalid('BAD_ARGUMENT', 'onProgress', 'a function', onProgress);
  if (threads !== undefined && !isPositiveInteger(threads)) throw invalid('BAD_ARGUMENT', 'threads', 'a positive integer', threads);
  return { onProgress, threads };
}

/**
 * The checks of quantize() on the weights (same codes, same order). An
 * array of numbers is checked and copied into a Float64Array a slice at a
 * time, so that a large one does not hold the loop either.
 */
async function checkWeights(weights: unknown, k: number, n: number): Promise<Float32Array | Float64Array> {
  if (!Array.isArray(weights)) return checkWeightsArray(weights, k, n) as Float32Array | Float64Array;
  const copy = new Float64Array(weights.length);
  for (let start = 0; start < weights.length; start += SLICE) {
    for (let i = start; i < Math.min(weights.length, start + SLICE); i++) {
      const v: unknown = weights[i];
      if (typeof v !== 'number') throw invalid('BAD_DTYPE', 'weights', 'a Float32Array, Float64Array or array of numbers', weights);
      copy[i] = v;
    }
    await yieldToLoop();
  }
  return checkWeightsArray(copy, k, n) as Float64Array;
}

/** Column ranges for `parts` threads: whole 64-column units, the last one ending at n. */
function splitColumns(n: number, parts: number): Array<[number, number]> {
  const units = Math.ceil(n / 64);
  const bound = (i: number): number => Math.min(n, Math.round((i * units) / parts) * 64);
  return Array.from({ length: parts }, (_, i) => [bound(i), bound(i + 1)]);
}

function threadCount(requested: number | undefined, k: number, n: number): number {
  const wanted = requested ?? Math.min(os.availableParallelism(), Math.ceil((k * n) / WEIGHTS_PER_THREAD));
  return Math.max(1, Math.min(wanted, Math.ceil(n / 64)));
}

interface Progress {
  add(amount: number): void;
  finish(): void;
}

/** Calls onProgress with non-decreasing fractions below 1, at steps of at least 1/1000; finish() reports 1. */
function progressOf(total: number, onProgress: ((fraction: number) => void) | undefined): Progress {
  let done = 0;
  let reported = 0;
  return {
    add(amount) {
      done += amount;
      const fraction = done / total;
      if (onProgress && fraction < 1 && fraction - reported >= 1e-3) {
        reported = fraction;
        onProgress(fraction);
      }
    },
    finish() {
      onProgress?.(1);
    },
  };
}

/**
 * The problem quantize() would report first: a weight that is not finite
 * (smallest index), then a scale out of range, then a value packing
 * refuses.
 */
function firstFinding(results: ColumnTaskResult[]): RtnFinding | PackFinding | undefined {
  const found = results.map((r) => r.finding).filter((f): f is RtnFinding | PackFinding => f !== undefined);
  const rank = (f: RtnFinding | PackFinding): number => ('kind' in f ? (f.kind === 'weight' ? 0 : 1) : 2);
  return found.sort((a, b) => rank(a) - rank(b) || a.index - b.index)[0];
}

/** A checked request: the problem, its weights, and the threads' column ranges. */
interface Request {
  problem: RtnProblem;
  weights: Float32Array | Float64Array;
  ranges: Array<[number, number]>;
  async: AsyncOptions;
  options: ReturnType<typeof quantizeOptions>;
}

async function checkRequest(weights: unknown, k: number, n: number, opts: GroupSize | QuantizeAsyncOptions | undefined): Promise<Request> {
  const options = quantizeOptions(opts);
  const async = asyncOptions(opts);
  const w = await checkWeights(weights, k, n);
  const { group, groups } = rowGroups(k, options.groupSize, options.gIdx);
  const problem: RtnProblem = { k, n, bits: options.bits, zeroPoints: options.zeroPoints, dtype: options.dtype, group, groups };
  return { problem, weights: w, ranges: splitColumns(n, threadCount(async.threads, k, n)), async, options };
}

/** Rows of a ring: this many chunks of rows (about a millisecond of copying each) in flight per worker. */
const RING_CHUNKS = 8;
/** Rings kept for later calls: at most this many, for this long after the last call. */
const POOLED_RINGS = 64;
const POOL_IDLE_MS = 5000;

/**
 * Rings (a few MB each) kept between calls, so that a model quantized
 * layer after layer does not leave a trail of shared buffers for the
 * garbage collector, and their pages are not faulted in again per call.
 */
const ringPool: SharedArrayBuffer[] = [];
let poolTimer: ReturnType<typeof setTimeout> | undefined;

function takeRing(bytes: number): SharedArrayBuffer {
  const i = ringPool.findIndex((b) => b.byteLength >= bytes);
  return i >= 0 ? ringPool.splice(i, 1)[0] : new SharedArrayBuffer(bytes);
}

function poolRings(rings: readonly RingWriter[]): void {
  ringPool.push(...rings.map((r) => r.spec.buffer));
  ringPool.splice(0, Math.max(0, ringPool.length - POOLED_RINGS));
  clearTimeout(poolTimer);
  poolTimer = setTimeout(() => (ringPool.length = 0), POOL_IDLE_MS);
  poolTimer.unref();
}

/**
 * Writes each worker's columns of the weights into its ring, in chunks of
 * about SLICE weights, a round of chunks per turn of the event loop,
 * waiting (without blocking) where a ring is full. A worker that is done
 * (a problem found early) gets nothing more.
 */
async function sendRows(request: Request, rings: readonly RingWriter[], done: readonly boolean[], stopped: () => boolean): Promise<void> {
  const { weights: w, ranges } = request;
  const { k, n } = request.problem;
  const rowsPerChunk = chunkRows(n);
  for (let from = 0; from < k && !stopped(); from += rowsPerChunk) {
    const to = Math.min(k, from + rowsPerChunk);
    for (let i = 0; i < ranges.length && !stopped(); i++) {
      const ring = rings[i];
      if (!ring.hasRoom(to)) await ring.room(to, () => done[i] || stopped());
      if (stopped()) break;
      if (done[i]) continue;
      const [c0, c1] = ranges[i];
      const data = ring.data;
      if (request.options.layout === 'out-in') {
        // Weights given [n, k]: column c of W is row c of the array.
        for (let col = c0; col < c1; col++)
          for (let row = from; row < to; row++) data[ring.rowStart(row) + col - c0] = w[col * k + row];
      } else {
        for (let row = from; row < to; row++) data.set(w.subarray(row * n + c0, row * n + c1), ring.rowStart(row));
      }
      ring.publish(to);
    }
    await yieldToLoop();
  }
}

/** Rows per chunk sent: about SLICE weights. */
const chunkRows = (n: number): number => Math.max(1, Math.floor(SLICE / n));

/**
 * A ring for `width` columns. Where groups are runs of rows the worker
 * reads them in place, so the ring holds two blocks and a chunk: the
 * sender fills the next block while the worker quantizes one (with less,
 * it waited for every block: 4 threads ran 15-30% slower, measured).
 * Otherwise (one block of every row) the worker copies rows out as they
 * come, and a few chunks suffice.
 */
function ringSpec(problem: RtnProblem, width: number, type: WeightType): RingSpec {
  const chunk = chunkRows(problem.n);
  const block = blockRows(problem);
  const inPlace = block < problem.k;
  const rows = Math.min(problem.k, inPlace ? 2 * block + chunk : RING_CHUNKS * chunk);
  return { buffer: takeRing(ringBytes(rows, width, type)), rows, width, type, inPlace };
}

/**
 * Runs one task per column range (`plan`: packing too) while their rows
 * are sent, and returns their results; throws the first problem found,
 * as quantize() would.
 */
async function runTasks(request: Request, plan: LayerPlan | undefined, progress: Progress): Promise<ColumnTaskResult[]> {
  const { weights: w, problem, ranges } = request;
  // Workers read shared weights in place as [k, n]; [n, k] ones are sent transposed.
  const shared = isSharedArrayBuffer(w.buffer) && request.options.layout === 'in-out';
  const type = weightType(w);
  const rings = shared ? [] : ranges.map(([c0, c1]) => new RingWriter(ringSpec(problem, c1 - c0, type)));
  const tasks = ranges.map(([c0, c1], i): ColumnTask => {
    const weights: TaskWeights = shared
      ? { shared: { buffer: w.buffer, byteOffset: w.byteOffset, length: w.length, type } }
      : { ring: rings[i].spec };
    return { c0, c1, problem, weights, plan };
  });
  const done = ranges.map(() => false);
  const run = runWorkers(
    libraryWorker(),
    tasks,
    (amount) => progress.add(amount),
    (i) => {
      done[i] = true;
      rings[i]?.wake();
    },
  );
  let stopped = false;
  // Observed at once: a failure while rows are being sent must not go
  // unhandled, nor leave sendRows waiting for room in a ring.
  run.results.catch(() => {
    stopped = true;
    for (const r of rings) r.wake();
  });
  let results: ColumnTaskResult[];
  try {
    if (!shared) {
      try {
        await sendRows(request, rings, done, () => stopped);
      } catch (error) {
        run.stop(error);
      }
    }
    results = (await run.results) as ColumnTaskResult[];
  } finally {
    // Every thread has exited once results settle: nothing reads the rings any more.
    poolRings(rings);
  }
  const found = firstFinding(results);
  if (found && 'kind' in found)
    throw findingError(found, problem.n, problem.dtype, request.options.layout === 'out-in' ? problem.k : undefined);
  if (found) throw packFindingError(found, problem.bits);
  return results;
}

/**
 * Copies each part (rows of partStride elements) into `full` (rows of
 * fullStride) from column offsets[i] on, a slice per turn of the event loop.
 */
async function placeColumns<T extends Uint8Array | Uint16Array | Int32Array>(
  full: T,
  fullStride: number,
  parts: readonly T[],
  partStrides: readonly number[],
  offsets: readonly number[],
): Promise<T> {
  let copied = 0;
  for (let i = 0; i < parts.length; i++) {
    const stride = partStrides[i];
    const rows = parts[i].length / stride;
    for (let r = 0; r < rows; r++) {
      full.set(parts[i].subarray(r * stride, (r + 1) * stride), r * fullStride + offsets[i]);
      copied += stride;
      if (copied >= SLICE) {
        copied = 0;
        await yieldToLoop();
      }
    }
  }
  return full;
}

/**
 * quantize() on worker threads: the same checks (rejected with the same
 * MarlinError codes and messages), the same bits. `weights` must not
 * change until the Promise settles.
 */
export async function quantizeAsync(
  weights: ArrayLike<number>,
  inFeatures: number,
  outFeatures: number,
  opts?: GroupSize | QuantizeAsyncOptions,
): Promise<QuantizedWeights> {
  const k = inFeatures;
  const n = outFeatures;
  const request = await checkRequest(weights, k, n, opts);
  const { problem, options, ranges } = request;
  const progress = progressOf(
    ranges.reduce((sum, [c0, c1]) => sum + rtnWork(k, c1 - c0), 0),
    request.async.onProgress,
  );
  const results = await runTasks(request, undefined, progress);
  const widths = ranges.map(([c0, c1]) => c1 - c0);
  const starts = ranges.map(([c0]) => c0);
  const q = await placeColumns(new Uint8Array(k * n), n, results.map((r) => r.q!), widths, starts);
  const scales = await placeColumns(new Uint16Array(problem.groups * n), n, results.map((r) => r.scales!), widths, starts);
  const result: QuantizedWeights = { q, scales, inFeatures: k, outFeatures: n, groupSize: options.groupSize, bits: options.bits, dtype: options.dtype };
  if (options.zeroPoints) result.zeros = await placeColumns(new Uint8Array(problem.groups * n), n, results.map((r) => r.zeros!), widths, starts);
  if (options.gIdx) result.gIdx = options.gIdx;
  progress.finish();
  return result;
}

/**
 * packQuantized(quantize(weights, inFeatures, outFeatures, options)) on worker threads: each
 * quantizes and packs its columns. Checks the layer's shape against the
 * kernels before any work. The result is ready for
 * QuantizedLinear.fromPacked.
 */
export async function quantizeAndPackAsync(
  weights: ArrayLike<number>,
  inFeatures: number,
  outFeatures: number,
  opts?: QuantizeAsyncOptions,
): Promise<PackedLayer> {
  const k = inFeatures;
  const n = outFeatures;
  const request = await checkRequest(weights, k, n, opts);
  const { problem, options, ranges } = request;
  const plan = planLayer({ ...problem, groupSize: options.groupSize, gIdx: options.gIdx });
  const progress = progressOf(
    ranges.reduce((sum, [c0, c1]) => sum + rtnWork(k, c1 - c0) + packWork(plan, c1 - c0), 0),
    request.async.onProgress,
  );
  const packed = (await runTasks(request, plan, progress)).map((r) => r.packed!);
  const { bits } = plan.format;
  const lengths = packedLengths(plan);
  const widths = ranges.map(([c0, c1]) => c1 - c0);
  const layer: PackedLayer = {
    packedWeights: await placeColumns(
      new Int32Array(lengths.weights),
      (n * bits) / 2,
      packed.map((p) => p.packedWeights),
      widths.map((w) => (w * bits) / 2),
      ranges.map(([c0]) => (c0 * bits) / 2),
    ),
    packedScales: await placeColumns(
      new Uint16Array(lengths.scales),
      n,
      packed.map((p) => p.packedScales),
      widths,
      ranges.map(([c0]) => c0),
    ),
    packedZeros: plan.format.zeroPoints
      ? await placeColumns(
          new Int32Array(lengths.zeros),
          n / 4,
          packed.map((p) => p.packedZeros!),
          widths.map((w) => w / 4),
          ranges.map(([c0]) => c0 / 4),
        )
      : undefined,
    rows: plan.rows,
    inFeatures: k,
    outFeatures: n,
    groupSize: options.groupSize,
    bits,
    dtype: options.dtype,
  };
  progress.finish();
  return layer;
}
