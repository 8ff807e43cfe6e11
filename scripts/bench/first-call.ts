/**
 * `npm run bench -- --first-call`: what the first forward() of a process
 * costs, at each layer and batch size, next to the calls after it, with
 * nothing prepared, after layer.reserve() and after layer.warmup(). The
 * first call of a process pays once for what later calls reuse (V8's first
 * run of forward()'s code, the kernel's first launch and load, the
 * workspace), so each measurement is a fresh Node process
 * (first-call-child.ts), run a few times. Times are wall µs of forward()
 * plus a stream wait, as a server sees them. Back-to-back calls are not the
 * whole control: a call after the host has been busy elsewhere for a few
 * milliseconds (here, making the batch's x) costs several times a
 * back-to-back one even when nothing in it is new (run 22: the GPU idles).
 * So each child also times an "again" call: new x and out made the same way
 * after the steady calls, the first call's situation minus whatever is paid
 * only once. Importing this loads nothing native; the children load the addon.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';

import { median } from '../../lib/timing';
import { BenchFailure } from './fail';
import { formatTable } from './table';

/** How a child prepares its layers before the timed calls. */
export type FirstCallSetup = 'none' | 'reserve' | 'warmup';
export const FIRST_CALL_SETUPS: readonly FirstCallSetup[] = ['none', 'reserve', 'warmup'];
/** Fresh processes per setup. */
export const FIRST_CALL_RUNS = 3;
/** Calls after the first, whose median is the steady cost. */
export const STEADY_CALLS = 20;
/** The layers --first-call measures by default: a 7B attention projection and its MLP's first layer. */
export const FIRST_CALL_SHAPES: ReadonlyArray<{ k: number; n: number }> = [
  { k: 4096, n: 4096 },
  { k: 4096, n: 11008 },
];

/** What one child process runs (passed as JSON on its command line). */
export interface FirstCallJob {
  device: number;
  setup: FirstCallSetup;
  shapes: Array<{ k: number; n: number }>;
  batches: number[];
}

/** One child's figures for one layer and batch. */
export interface FirstCallSample {
  k: number;
  n: number;
  m: number;
  firstUs: number;
  steadyUs: number;
  /** A call with new x and out made the same way as the first call's, after the steady calls. */
  againUs: number;
}

/** One table row: a setup, layer and batch over the runs. */
export interface FirstCallRow {
  setup: FirstCallSetup;
  k: number;
  n: number;
  m: number;
  /** The first call of each run, µs. */
  firstUs: number[];
  /** Each run's steady cost (median of STEADY_CALLS calls), µs. */
  steadyUs: number[];
  /** Each run's "again" call (FirstCallSample.againUs), µs. */
  againUs: number[];
}

const CHILD = path.join(__dirname, 'first-call-child.ts');

/** Runs one child process (ts-node, like the bench itself) and returns its samples. */
function runChild(job: FirstCallJob): Promise<FirstCallSample[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-r', require.resolve('ts-node/register/transpile-only'), CHILD, JSON.stringify(job)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{'))
        return reject(new BenchFailure(`--first-call: the ${job.setup} process failed (exit ${code}): ${err.trim().split('\n').pop() ?? ''}`));
      resolve((JSON.parse(line) as { rows: FirstCallSample[] }).rows);
    });
  });
}

/** Every setup FIRST_CALL_RUNS times, each in a fresh process, one after the other. */
export async function measureFirstCalls(
  device: number,
  shapes: ReadonlyArray<{ k: number; n: number }>,
  batches: readonly number[],
  onProgress: (what: string) => void = () => {},
): Promise<FirstCallRow[]> {
  const rows = new Map<string, FirstCallRow>();
  for (const setup of FIRST_CALL_SETUPS)
    for (let run = 0; run < FIRST_CALL_RUNS; run++) {
      onProgress(`first calls, ${setup}, process ${run + 1} of ${FIRST_CALL_RUNS}`);
      for (const s of await runChild({ device, setup, shapes: [...shapes], batches: [...batches] })) {
        const key = `${setup} ${s.k} ${s.n} ${s.m}`;
        const row = rows.get(key) ?? { setup, k: s.k, n: s.n, m: s.m, firstUs: [], steadyUs: [], againUs: [] };
        row.firstUs.push(s.firstUs);
        row.steadyUs.push(s.steadyUs);
        row.againUs.push(s.againUs);
        rows.set(key, row);
      }
    }
  return [...rows.values()];
}

/**
 * The table: per setup, layer and batch, the first call's median and range
 * over the runs, the steady cost, the "again" call, and the first call
 * against each.
 */
export function formatFirstCalls(rows: readonly FirstCallRow[], gpu: string): string {
  const body = rows.map((r) => {
    const first = median(r.firstUs);
    const steady = median(r.steadyUs);
    const again = median(r.againUs);
    return [
      r.setup,
      `${r.k}x${r.n}`,
      String(r.m),
      first.toFixed(0),
      `${Math.min(...r.firstUs).toFixed(0)}-${Math.max(...r.firstUs).toFixed(0)}`,
      steady.toFixed(0),
      `${(first / steady).toFixed(1)}x`,
      again.toFixed(0),
      `${(first / again).toFixed(1)}x`,
    ];
  });
  return (
    `${gpu}: the first forward() of a fresh process against the calls after it\n` +
    `(wall µs of forward() + a stream wait; median of ${FIRST_CALL_RUNS} processes per setup, the range over them;\n` +
    ` steady: median of ${STEADY_CALLS} back-to-back calls; again: one call with new x and out made as the first call's were,\n` +
    ` after the steady calls; layers and batches in order, so a later row's first call is at a new shape)\n` +
    formatTable(['setup', 'layer', 'batch', 'first µs', 'range', 'steady µs', 'vs steady', 'again µs', 'vs again'], body, { indent: '  ' }) +
    '\n'
  );
}
