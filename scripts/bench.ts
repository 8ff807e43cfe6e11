/**
 * `npm run bench -- [options]`: how much faster Marlin's quantized weights
 * (4-bit FP16 by default; any weight format with --format) are than dense
 * cuBLAS in the same activation type for the linear layers of a model on this
 * GPU, per batch size, and how close to the memory limit. `--help` lists the
 * options; the work is in scripts/bench/.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { renderSpeedupChart } from './bench/chart';
import { describeError } from './bench/fail';
import type * as Gpu from './bench/measure';
import type * as GraphMode from './bench/graph';
import type * as FirstCall from './bench/first-call';
import type * as Overhead from './bench/overhead';
import { denseName, formatName } from './bench/formats';
import { type BenchOptions, GRAPH_BATCHES, USAGE, UsageError, parseOptions } from './bench/options';
import { planBench, shapeKey } from './bench/presets';
import { Progress } from './bench/progress';
import { buildJsonReport, formatReport, formatScales, formatSpeedup, formatTitle, formatUs } from './bench/report';
import { type ShapeTiming, summarize } from './bench/results';

function checkOutputs(options: BenchOptions): void {
  for (const [flag, file] of [['--json', options.json], ['--svg', options.svg]] as const)
    if (file !== undefined && !fs.existsSync(path.dirname(path.resolve(file))))
      throw new UsageError(`${flag} ${file}: the directory ${path.dirname(path.resolve(file))} does not exist`);
}

async function main(argv: string[]): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseOptions(argv);
    if (options.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    checkOutputs(options);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`bench: ${error.message} (see --help)\n`);
    return 2;
  }

  // Loaded only once the options are good. The addon itself is loaded at
  // the first GPU call (openDevice): a missing one (NOT_BUILT) must be
  // reported as one line like any failure.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const gpu = require('./bench/measure') as typeof Gpu;
  const { device, stream } = gpu.openDevice(options.device);
  if (options.overhead) return overheadReport(device, stream, options, argv);
  if (options.graph) return graphReport(device, stream, options, argv);
  if (options.firstCall) return firstCallReport(device, stream, options, argv);
  const plan = planBench(options.models, options.shapes);
  const progress = new Progress(process.stderr, options.quiet);
  const warnings: string[] = [];

  progress.update(`${device.name}: measuring copy bandwidth`);
  const bandwidth = await gpu.measureBandwidth(device, stream);
  // Every format over the same shapes and batches; one format's layers are freed before the next's are made.
  const several = options.formats.length > 1;
  const timings = new Map<string, Map<string, ShapeTiming>>(); // format name -> shape key -> timing
  const steps = options.formats.length * plan.shapes.length;
  let step = 0;
  for (const format of options.formats) {
    const name = formatName(format);
    const dense = denseName(format.dtype);
    const perShape = new Map<string, ShapeTiming>();
    timings.set(name, perShape);
    for (const shape of plan.shapes) {
      const what = `${several ? `${name} ` : ''}k=${shape.k} n=${shape.n}`;
      const label = `[${++step}/${steps}] ${what}`;
      progress.update(`${label}: preparing weights and checking against ${dense}`);
      const settings = { batches: options.batches, format, repeats: options.repeats };
      const timing = await gpu.measureShape(device, stream, shape, settings, {
        onBatch: (b) =>
          progress.update(
            `${label} batch ${b.batch}: Marlin ${formatUs(b.marlin.medianUs)} µs, ${dense} ${formatUs(b.fp16.medianUs)} µs ` +
              `(${formatSpeedup(b.fp16.medianUs / b.marlin.medianUs)})`,
          ),
        warn: (message) => {
          warnings.push(`${what} ${message}`);
          progress.note(`bench: warning: ${what} ${message}`);
        },
      });
      perShape.set(shapeKey(shape.k, shape.n), timing);
    }
  }
  progress.clear();

  const summaries = options.formats.map((format) => summarize(plan, timings.get(formatName(format))!, bandwidth.gbPerS, format));
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { name: string; version: string };
  const env = gpu.environment(device, bandwidth);
  const context = { env, packageVersion: pkg.version, repeats: options.repeats, warnings };
  process.stdout.write(formatReport(summaries, context));

  if (options.json) {
    const json = buildJsonReport(summaries, { ...context, packageName: pkg.name, argv, options, timings, timestamp: new Date() });
    fs.writeFileSync(options.json, `${JSON.stringify(json, null, 2)}\n`);
    process.stderr.write(`bench: wrote ${options.json}\n`);
  }
  if (options.svg) {
    // The first format only: one line per model stays readable; the report compares the formats.
    const [first] = summaries;
    const { format } = first;
    const which = several ? ` (${formatName(format)}, the first of ${summaries.length} formats)` : '';
    const svg = renderSpeedupChart({
      title: `${formatTitle(format)} on ${device.name}`,
      subtitle: `sum of each model's linear layers; ${formatScales(format)}${which}; median GPU time; marlin-node ${pkg.version}`,
      series: first.models.map((m) => ({ name: m.name, points: m.rows.map((r) => ({ batch: r.batch, speedup: r.speedup })) })),
      idealSpeedup: first.idealSpeedup,
      baseline: denseName(format.dtype),
      weights: `${format.bits}-bit`,
    });
    fs.writeFileSync(options.svg, svg);
    process.stderr.write(`bench: wrote ${options.svg}\n`);
  }
  stream.dispose();
  return 0;
}

/** A mode's table on stdout and, with --json, its rows under { ...head, argv, timestamp, rows }. */
function writeModeReport(table: string, options: BenchOptions, head: Record<string, string>, argv: string[], rows: unknown): void {
  process.stdout.write(table);
  if (!options.json) return;
  fs.writeFileSync(options.json, `${JSON.stringify({ ...head, argv, timestamp: new Date().toISOString(), rows }, null, 2)}\n`);
  process.stderr.write(`bench: wrote ${options.json}\n`);
}

/** --overhead: the host cost table instead of the speedup tables. */
async function overheadReport(device: Gpu.OpenDevice['device'], stream: Gpu.OpenDevice['stream'], options: BenchOptions, argv: string[]): Promise<number> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { OVERHEAD_SHAPES, formatOverhead, measureOverhead } = require('./bench/overhead') as typeof Overhead;
  const shapes = options.shapes.length > 0 ? options.shapes : OVERHEAD_SHAPES;
  const batches = options.batchGiven ? options.batches : [1, 16];
  const progress = new Progress(process.stderr, options.quiet);
  progress.update(`${device.name}: measuring host overhead`);
  const rows = await measureOverhead(device, stream, shapes, batches);
  progress.clear();
  writeModeReport(formatOverhead(rows, device.name), options, { kind: 'overhead', gpu: device.name }, argv, rows);
  stream.dispose();
  return 0;
}

/** --graph: decode steps replayed from CUDA graphs, Marlin and dense. */
async function graphReport(device: Gpu.OpenDevice['device'], stream: Gpu.OpenDevice['stream'], options: BenchOptions, argv: string[]): Promise<number> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { GRAPH_MODELS, formatGraphMode, graphUnits, measureGraphMode } = require('./bench/graph') as typeof GraphMode;
  const models = options.modelsGiven ? options.models : GRAPH_MODELS;
  const batches = options.batchGiven ? options.batches : GRAPH_BATCHES;
  const [format] = options.formats;
  const progress = new Progress(process.stderr, options.quiet);
  const units = graphUnits(models, options.perLayer);
  const rows = await measureGraphMode(device, stream, units, batches, format, (what) => progress.update(`${device.name}: ${what}`));
  progress.clear();
  writeModeReport(
    formatGraphMode(rows, device.name, denseName(format.dtype), options.perLayer),
    options,
    { kind: options.perLayer ? 'graph-per-layer' : 'graph', gpu: device.name, format: formatName(format) },
    argv,
    rows,
  );
  stream.dispose();
  return 0;
}

/** --first-call: fresh processes' first calls against their steady calls. */
async function firstCallReport(device: Gpu.OpenDevice['device'], stream: Gpu.OpenDevice['stream'], options: BenchOptions, argv: string[]): Promise<number> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { FIRST_CALL_SHAPES, formatFirstCalls, measureFirstCalls } = require('./bench/first-call') as typeof FirstCall;
  const shapes = options.shapes.length > 0 ? options.shapes : FIRST_CALL_SHAPES;
  const batches = options.batchGiven ? options.batches : [1, 16, 64];
  const progress = new Progress(process.stderr, options.quiet);
  const rows = await measureFirstCalls(options.device, shapes, batches, (what) => progress.update(`${device.name}: ${what}`));
  progress.clear();
  writeModeReport(formatFirstCalls(rows, device.name), options, { kind: 'first-call', gpu: device.name }, argv, rows);
  stream.dispose();
  return 0;
}

function exit(code: number): void {
  process.exitCode = code;
  // Should a native handle keep the event loop alive, still exit (unref: never delays a normal exit).
  setTimeout(() => process.exit(code), 2000).unref();
}

main(process.argv.slice(2)).then(exit, (error: unknown) => {
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K'); // over a progress line
  process.stderr.write(`bench: ${describeError(error)}\n`);
  exit(1);
});
