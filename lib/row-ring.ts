/**
 * Rows of weights on their way from the event loop's thread to a worker
 * (quantizeAsync, quantizeAndPackAsync): a ring on a SharedArrayBuffer per
 * worker, written by the event loop and read by the worker (in place, or
 * copied out: see ringRows), with two counters in its header instead of
 * messages.
 *
 * Why not messages of transferred ArrayBuffers (the first design): once
 * an isolate has detached an ArrayBuffer, V8 checks every typed array
 * access for detachment, and a worker handing buffers back detaches them.
 * Its loops ran 11-12% slower for it (measured), and the caller's thread,
 * which detached what it sent, ran its own typed-array code slower from
 * then on. Nothing here is ever transferred.
 *
 * Layout of the buffer: a header of HEADER_BYTES (two Int32 counters, a
 * cache line apart so that the two threads do not write the same line),
 * then `rows` rows of `width` weights (float32 or float64). Row r of the
 * columns (r counted from 0 over the whole layer) lives in ring row r mod
 * rows. WRITTEN counts the rows written so far, RELEASED those the worker
 * is done with (read in place, or copied out); the writer keeps WRITTEN -
 * RELEASED <= rows. Both are
 * read and written with Atomics, whose ordering makes the rows written
 * before a store of WRITTEN visible to the worker that loads it.
 */
import type { WeightType } from './column-task';
import type { RowSource } from './rtn';

const HEADER_BYTES = 128;
/** Int32 index of the rows written, and of the rows released (64 bytes further on). */
const WRITTEN = 0;
const RELEASED = 16;

/** A ring as a worker's task carries it (structured-cloned: the buffer is shared, not copied). */
export interface RingSpec {
  buffer: SharedArrayBuffer;
  /** Rows the ring holds. */
  rows: number;
  /** Weights per row: the task's columns. */
  width: number;
  type: WeightType;
  /**
   * The worker reads rows in the ring itself and releases them as rtn does
   * (a block at a time): set only where a block of rows and a chunk fit in
   * it with room for the next block to come in meanwhile (groups that are
   * runs of rows). Otherwise it copies rows out as they come (act-order
   * and per-channel, where one block holds every row).
   */
  inPlace: boolean;
}

const BYTES: Record<WeightType, number> = { float32: 4, float64: 8 };

const headerOf = (spec: RingSpec): Int32Array => new Int32Array(spec.buffer, 0, HEADER_BYTES / 4);

function dataOf(spec: RingSpec): Float32Array | Float64Array {
  const length = spec.rows * spec.width;
  return spec.type === 'float32' ? new Float32Array(spec.buffer, HEADER_BYTES, length) : new Float64Array(spec.buffer, HEADER_BYTES, length);
}

/** The bytes a ring of `rows` rows of `width` weights takes. */
export function ringBytes(rows: number, width: number, type: WeightType): number {
  return HEADER_BYTES + rows * width * BYTES[type];
}

// Atomics.waitAsync is in ES2024; the typings here stop at ES2022.
type WaitAsync = (array: Int32Array, index: number, value: number, timeout?: number) => { async: boolean; value: Promise<string> | string };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

/** The event loop's end of a ring: it writes rows in order and waits (without blocking) for room. */
export class RingWriter {
  readonly data: Float32Array | Float64Array;
  private readonly header: Int32Array;

  constructor(readonly spec: RingSpec) {
    this.header = headerOf(spec);
    this.data = dataOf(spec);
    // A ring may come from an earlier call (lib/quantize-async.ts keeps a pool).
    Atomics.store(this.header, WRITTEN, 0);
    Atomics.store(this.header, RELEASED, 0);
  }

  /** Where row `row` starts in `data`. */
  rowStart(row: number): number {
    return (row % this.spec.rows) * this.spec.width;
  }

  /** Whether rows up to `to` (exclusive) fit beside those the worker still has to copy. */
  hasRoom(to: number): boolean {
    return to - Atomics.load(this.header, RELEASED) <= this.spec.rows;
  }

  /**
   * Resolves once rows up to `to` fit, or `give()` says to stop waiting (a
   * worker that is done or failed releases nothing more): wake() makes it
   * look again.
   */
  async room(to: number, give: () => boolean): Promise<void> {
    for (;;) {
      const released = Atomics.load(this.header, RELEASED);
      if (to - released <= this.spec.rows || give()) return;
      const wait = waitAsync(this.header, RELEASED, released);
      if (wait.async) await wait.value;
    }
  }

  /** Makes the rows before `to` visible to the worker, and wakes it. */
  publish(to: number): void {
    Atomics.store(this.header, WRITTEN, to);
    Atomics.notify(this.header, WRITTEN);
  }

  /** Wakes a room() waiting on this ring, to look at its give() again. */
  wake(): void {
    Atomics.notify(this.header, RELEASED);
  }
}

/**
 * The worker's end: a RowSource over columns [c0, c0 + width) of the
 * layer's rows, sleeping in seek() until a row is written. Rows are sought
 * in blocks (lib/rtn.ts rowBlocks: each sought twice, in order) and
 * released once their block is done. In place (spec.inPlace) the rows are
 * read in the ring and released there; otherwise each row is copied into a
 * buffer of the worker's own of `keep` rows (the largest block) as soon as
 * it is written and released in the ring at once, so that a small ring
 * serves blocks of every row. dispose() frees that buffer.
 */
export function ringRows(spec: RingSpec, c0: number, keep: number): RowSource & { dispose(): void } {
  const { width } = spec;
  const header = headerOf(spec);
  const ring = dataOf(spec);
  // Waits for rows up to `row` (inclusive) to be written; returns how many are.
  const waitFor = (row: number): number => {
    let written = Atomics.load(header, WRITTEN);
    while (row >= written) {
      // A timeout, so that a terminated thread gets to notice.
      Atomics.wait(header, WRITTEN, written, 100);
      written = Atomics.load(header, WRITTEN);
    }
    return written;
  };
  // Tells the writer that rows before `end` may be overwritten.
  const releaseBefore = (end: number): void => {
    Atomics.store(header, RELEASED, end);
    Atomics.notify(header, RELEASED);
  };
  if (spec.inPlace) {
    let written = 0;
    const source = {
      array: ring,
      offset: 0,
      seek(row: number): void {
        if (row >= written) written = waitFor(row);
        source.offset = (row % spec.rows) * width - c0;
      },
      release(row: number): void {
        releaseBefore(row + 1);
      },
      dispose(): void {},
    };
    return source;
  }
  let rows: Float32Array | Float64Array = spec.type === 'float32' ? new Float32Array(keep * width) : new Float64Array(keep * width);
  let copied = 0;
  let first = 0;
  const source = {
    array: rows,
    offset: 0,
    seek(row: number): void {
      while (row >= copied) {
        const written = waitFor(copied);
        // Rows of the block being worked on (row < first + keep), so none
        // still needed is overwritten.
        const end = Math.min(written, first + keep);
        for (let r = copied; r < end; r++) {
          const from = (r % spec.rows) * width;
          rows.set(ring.subarray(from, from + width), (r % keep) * width);
        }
        copied = end;
        releaseBefore(copied);
      }
      source.offset = (row % keep) * width - c0;
    },
    release(row: number): void {
      first = row + 1;
    },
    dispose(): void {
      // Transferred into a clone that is dropped: freed now, not while the
      // thread exits (which the event loop's thread would wait for). Last,
      // as it detaches (see above).
      structuredClone(undefined, { transfer: [rows.buffer as ArrayBuffer] });
      rows = new Float32Array(0);
      source.array = rows;
    },
  };
  return source;
}
