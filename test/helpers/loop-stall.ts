/**
 * How long the event loop was held while some asynchronous work ran: a 1 ms
 * interval records when it gets to run, and the longest gap between two of
 * its turns (or between the start, a turn and the end) is the longest stall.
 */
import { performance } from 'node:perf_hooks';

export interface Stalls<T> {
  value: T;
  /** Longest time (ms) the loop could not run the interval. */
  longestMs: number;
  /** How many times the interval ran: enough turns show the loop was watched. */
  turns: number;
  elapsedMs: number;
}

export async function watchLoop<T>(work: () => Promise<T>): Promise<Stalls<T>> {
  const start = performance.now();
  let last = start;
  let longestMs = 0;
  let turns = 0;
  const mark = (): void => {
    const now = performance.now();
    longestMs = Math.max(longestMs, now - last);
    last = now;
  };
  const timer = setInterval(() => {
    turns++;
    mark();
  }, 1);
  try {
    // work() itself runs here, synchronously up to its first await: a stall
    // in starting the operation counts too.
    const value = await work();
    mark();
    return { value, longestMs, turns, elapsedMs: performance.now() - start };
  } finally {
    clearInterval(timer);
  }
}

/** Milliseconds the JS thread spends on `fn` (best of `repeats`). */
export function timeOnThread(fn: () => void, repeats = 3): number {
  let best = Infinity;
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}
