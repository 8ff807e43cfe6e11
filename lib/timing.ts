/**
 * GPU timing for benchmarks. A wait kernel holds the stream while the host
 * queues every call with an event pair around it; the GPU then runs them
 * back to back, so each pair measures GPU time only, not launch gaps.
 */
import { Event, type Stream } from './device';
import { callNative } from './errors';
import { native } from './native';

/** What timeCalls() measured. */
export interface GpuTimes {
  /** GPU microseconds of each call, in order. */
  times: number[];
  /** Largest idle gap between consecutive calls (µs): large means the host could not keep up. */
  maxGapUs: number;
}

/**
 * Runs `calls` on `stream` (each must queue its GPU work on it) and returns
 * the GPU time of each. `hostBudgetUs` is how long the stream is held while
 * the host queues: it must exceed the host time to queue all calls.
 *
 * @param stream - The stream every call queues its work on.
 * @param calls - The calls to time, run once each, in order.
 * @param hostBudgetUs - How long the stream is held, in µs (default 2000 + 50 per call).
 */
export async function timeCalls(stream: Stream, calls: ReadonlyArray<() => void>, hostBudgetUs = 2000 + 50 * calls.length): Promise<GpuTimes> {
  const events: Event[] = [];
  try {
    for (let i = 0; i < 2 * calls.length; i++) events.push(stream.device.createEvent());
    callNative(() => native.delay(stream.native, hostBudgetUs));
    calls.forEach((call, i) => {
      events[2 * i].record(stream);
      call();
      events[2 * i + 1].record(stream);
    });
    await stream.synchronize();
    const times = calls.map((_, i) => events[2 * i].elapsedMs(events[2 * i + 1]) * 1000);
    let maxGapUs = 0;
    for (let i = 1; i < calls.length; i++) maxGapUs = Math.max(maxGapUs, events[2 * i - 1].elapsedMs(events[2 * i]) * 1000);
    return { times, maxGapUs };
  } finally {
    for (const e of events) e.dispose();
  }
}

/**
 * The median of a non-empty list.
 *
 * @param values - The numbers (not changed).
 */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
