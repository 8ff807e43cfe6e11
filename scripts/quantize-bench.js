#!/usr/bin/env node
/**
 * `npm run bench:quantize -- [--shape K,N] [--threads 1,2,4] [--repeats 3] [--shared]`:
 * wall time of quantize() (and quantize + packQuantized) on the JS thread
 * against quantizeAsync() (and quantizeAndPackAsync()) on worker threads,
 * with the longest event-loop stall of each, on this machine's CPU. Runs the
 * compiled package (dist/, built by `npm ci` or `npx tsc -p
 * tsconfig.build.json`), so that workers start as they do for users; the
 * modules are required directly, so no GPU or addon is needed.
 */
'use strict';
const os = require('node:os');
const { parseArgs } = require('node:util');

const dist = (name) => require(`../dist/${name}`);
const { quantize } = dist('quantize');
const { packQuantized } = dist('pack-layer');
const { quantizeAsync, quantizeAndPackAsync } = dist('quantize-async');

const USAGE = `usage: npm run bench:quantize -- [options]
  --shape K,N     layer [k, n] (default 8192,28672: Llama-2-70B's MLP up/gate)
  --threads LIST  worker threads to time (default 1,2,...,os.availableParallelism())
  --repeats N     runs of each, the median is reported (default 3)
  --shared        weights on a SharedArrayBuffer (used in place, no copy)
`;

function options(argv) {
  const { values } = parseArgs({
    args: argv,
    options: { shape: { type: 'string' }, threads: { type: 'string' }, repeats: { type: 'string' }, shared: { type: 'boolean' }, help: { type: 'boolean' } },
  });
  if (values.help) return undefined;
  const [k, n] = (values.shape ?? '8192,28672').split(',').map(Number);
  const cores = os.availableParallelism();
  const threads = values.threads
    ? values.threads.split(',').map(Number)
    : Array.from(new Set([1, 2, 4, cores].filter((t) => t <= cores)));
  return { k, n, threads, repeats: Number(values.repeats ?? 3), shared: values.shared === true };
}

/** Milliseconds of `work` and the longest time the event loop could not run a 1 ms interval. */
async function watched(work) {
  const start = performance.now();
  let last = start;
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 1);
  try {
    const value = await work();
    longest = Math.max(longest, performance.now() - last);
    return { ms: performance.now() - start, stall: longest, value };
  } finally {
    clearInterval(timer);
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const same = (a, b) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;

async function main() {
  const o = options(process.argv.slice(2));
  if (!o) return void process.stdout.write(USAGE);
  const { k, n } = o;
  const cpus = os.cpus();
  process.stdout.write(
    `${cpus[0]?.model ?? 'unknown CPU'}: ${cpus.length} CPUs, availableParallelism ${os.availableParallelism()}, Node ${process.version}\n` +
      `layer ${k} x ${n} (${((k * n) / 1e6).toFixed(1)} M weights), 4-bit, groups of 128, FP16 scales; weights ${o.shared ? 'on a SharedArrayBuffer' : 'in a plain Float32Array'}; median of ${o.repeats}\n`,
  );
  const w = new Float32Array(o.shared ? new SharedArrayBuffer(k * n * 4) : k * n);
  let x = 0x2545f491;
  for (let i = 0; i < w.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    w[i] = (x >>> 0) / 4294967296 - 0.5;
  }
  const rows = [];
  const time = async (name, work, check) => {
    const runs = [];
    for (let r = 0; r < o.repeats; r++) runs.push(await watched(work));
    if (check && !check(runs[0].value)) throw new Error(`${name}: result differs from the synchronous one`);
    rows.push({ name, ms: median(runs.map((r) => r.ms)), stall: Math.max(...runs.map((r) => r.stall)) });
    process.stdout.write(`  ${name.padEnd(38)} ${median(runs.map((r) => r.ms)).toFixed(0).padStart(6)} ms   longest loop stall ${Math.max(...runs.map((r) => r.stall)).toFixed(0).padStart(5)} ms\n`);
  };
  // Untimed: compiles the loops and starts a worker once.
  quantize(w.subarray(0, 128 * n), 128, n);
  await quantizeAsync(w.subarray(0, 128 * n), 128, n, { threads: 1 });
  let sync;
  let syncPacked;
  await time('quantize() (JS thread)', async () => (sync = quantize(w, k, n)));
  await time('quantize + packQuantized (JS thread)', async () => (syncPacked = packQuantized(quantize(w, k, n))));
  for (const threads of o.threads)
    await time(`quantizeAsync, ${threads} thread(s)`, () => quantizeAsync(w, k, n, { threads }), (r) => same(r.q, sync.q) && same(r.scales, sync.scales));
  for (const threads of o.threads)
    await time(`quantizeAndPackAsync, ${threads} thread(s)`, () => quantizeAndPackAsync(w, k, n, { threads }), (r) => same(r.packedWeights, syncPacked.packedWeights));
  const base = rows[0].ms;
  const basePacked = rows[1].ms;
  process.stdout.write('speedup over the JS thread:\n');
  for (const r of rows.slice(2))
    process.stdout.write(`  ${r.name.padEnd(38)} ${((r.name.startsWith('quantizeAndPack') ? basePacked : base) / r.ms).toFixed(2)}x\n`);
}

main().catch((error) => {
  process.stderr.write(`bench:quantize: ${error.stack ?? error}\n`);
  process.exit(1);
});
