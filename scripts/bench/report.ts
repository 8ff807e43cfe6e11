/**
 * The bench's outputs from one Summary per weight format: the terminal
 * report (per format, models first, then every layer; with several formats,
 * a comparison with the first at the end) and the JSON document. Pure: no
 * GPU, no files.
 */
import { type BenchFormat, denseName, describeBenchFormat, formatName } from './formats';
import type { BenchOptions } from './options';
import type { BenchEnvironment, ResultRow, ShapeTiming, Summary } from './results';
import { shapeKey } from './presets';
import { type Align, formatTable } from './table';

export function formatUs(us: number): string {
  return us < 10 ? us.toFixed(2) : us < 1000 ? us.toFixed(1) : us.toFixed(0);
}

export function formatSpeedup(x: number): string {
  return `${x.toFixed(2)}x`;
}

/** 12040 -> "12.4"; 0 -> "none". */
export function formatCudaVersion(v: number): string {
  return v > 0 ? `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}` : 'none';
}

function formatBytes(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** "+2.1%", "-0.4%", "+0.0%": how much longer `us` takes than `baseUs`. */
export function formatChange(us: number, baseUs: number): string {
  const percent = Math.round((1000 * (us - baseUs)) / baseUs) / 10;
  return `${percent < 0 ? '' : '+'}${percent.toFixed(1)}%`;
}

/** "Marlin 4-bit vs FP16 (cuBLAS)": what one format's numbers compare. */
export function formatTitle(format: BenchFormat): string {
  return `Marlin ${format.bits}-bit vs ${denseName(format.dtype)} (cuBLAS)`;
}

/** "group size 128", "per-channel scales, zero points", "group size 64, act-order": the rest of a format. */
export function formatScales(format: BenchFormat): string {
  const parts = [format.groupSize === -1 ? 'per-channel scales' : `group size ${format.groupSize}`];
  if (format.zeroPoints) parts.push('zero points');
  if (format.actOrder) parts.push('act-order');
  return parts.join(', ');
}

/** "group size 128: ideal speedup 3.88x (FP16 bytes / 4-bit bytes)". */
function idealLine(summary: Summary): string {
  const { format } = summary;
  return `${formatScales(format)}: ideal speedup ${formatSpeedup(summary.idealSpeedup)} (${denseName(format.dtype)} bytes / ${format.bits}-bit bytes)`;
}

function header(dense: string): string[] {
  return ['batch', 'Marlin µs', `${dense} µs`, 'speedup', 'weight GB/s', '% of limit', 'TFLOP/s'];
}

function rowCells(r: ResultRow): string[] {
  return [
    String(r.batch),
    formatUs(r.marlinUs),
    formatUs(r.fp16Us),
    formatSpeedup(r.speedup),
    r.weightGbPerS.toFixed(0),
    r.percentOfLimit.toFixed(1),
    r.tflops < 10 ? r.tflops.toFixed(2) : r.tflops.toFixed(1),
  ];
}

/** Table rows for a list of results; `dense` names the baseline column (exported for tests). */
export function resultTable(rows: readonly ResultRow[], indent = '  ', dense = 'FP16'): string {
  const head = header(dense);
  return formatTable(head, rows.map(rowCells), { indent, align: head.map(() => 'right') });
}

export interface ReportContext {
  env: BenchEnvironment;
  packageVersion: string;
  repeats: number;
  warnings: readonly string[];
}

/** One format's per-model and per-layer tables. */
function formatSections(summary: Summary): string[] {
  const dense = denseName(summary.format.dtype);
  const out: string[] = ['== Models (sum of their layers) =='];
  for (const model of summary.models) {
    const layers = model.layers.map((l) => (l.name === shapeKey(l.k, l.n) ? l.name : `${l.name} ${shapeKey(l.k, l.n)}`));
    out.push('', `${model.name}: ${layers.join(', ')}`);
    out.push(resultTable(model.rows, '  ', dense));
  }
  out.push('', '== Layers ==');
  for (const layer of summary.layers) {
    const check = `rel. error vs ${dense} ${layer.check.relativeError.toExponential(1)} at batch ${layer.check.batch}`;
    out.push('', `k=${layer.k} n=${layer.n} (${layer.usedBy.join(', ')}); ${check}`);
    out.push(resultTable(layer.rows, '  ', dense));
  }
  return out;
}

/**
 * For each model and batch, every format's time, its change against the
 * first format's, its speedup over its own dense baseline and its weight
 * bandwidth (exported for tests).
 */
export function comparisonTable(summaries: readonly Summary[]): string {
  const [first] = summaries;
  const head = ['batch', 'format', 'Marlin µs', 'vs first', 'speedup', 'weight GB/s'];
  const align = head.map((_, c): Align => (c === 1 ? 'left' : 'right'));
  const out: string[] = [];
  first.models.forEach((model, i) => {
    const cells: string[][] = [];
    model.rows.forEach((base, j) => {
      for (const summary of summaries) {
        const row = summary.models[i].rows[j];
        if (summary.models[i].name !== model.name || row.batch !== base.batch)
          throw new Error(`${formatName(summary.format)} was measured on other models or batch sizes than ${formatName(first.format)}`);
        cells.push([
          String(row.batch),
          formatName(summary.format),
          formatUs(row.marlinUs),
          summary === first ? 'first' : formatChange(row.marlinUs, base.marlinUs),
          formatSpeedup(row.speedup),
          row.weightGbPerS.toFixed(0),
        ]);
      }
    });
    out.push(`${i > 0 ? '\n' : ''}${model.name}`, formatTable(head, cells, { indent: '  ', align }));
  });
  return out.join('\n');
}

/**
 * The plain-text report for the terminal. One format (the default run):
 * its models and layers, as before formats. Several: a section per format,
 * then every format against the first.
 */
export function formatReport(summaries: readonly Summary[], ctx: ReportContext): string {
  const { gpu, cuda, bandwidth } = ctx.env;
  const [first] = summaries;
  const several = summaries.length > 1;
  const denses = [...new Set(summaries.map((s) => denseName(s.format.dtype)))];
  const title = several ? `Marlin, ${summaries.length} weight formats, vs ${denses.join(' and ')} (cuBLAS)` : formatTitle(first.format);
  const method = `median of at least ${ctx.repeats} calls, inputs rotated past L2`;
  const out: string[] = [
    `${title} on ${gpu.name} (device ${gpu.index}, ${gpu.arch}, ${gpu.multiProcessorCount} SMs, L2 ${formatBytes(gpu.l2CacheSize)})`,
    `CUDA runtime ${formatCudaVersion(cuda.runtime)}, driver ${formatCudaVersion(cuda.driver)}; marlin-node ${ctx.packageVersion}`,
    `memory limit: ${bandwidth.gbPerS.toFixed(0)} GB/s measured by a ${formatBytes(bandwidth.copyBytes)} device copy (read + write)`,
    several
      ? `${method}; each format against cuBLAS in its activation type, then all against ${formatName(first.format)}`
      : `${idealLine(first)}; ${method}`,
    '',
  ];
  if (!several) out.push(...formatSections(first));
  for (const summary of several ? summaries : []) {
    out.push(`=== ${formatName(summary.format)}: ${describeBenchFormat(summary.format)} ===`);
    out.push(`${formatTitle(summary.format)}, ${idealLine(summary)}`, '');
    out.push(...formatSections(summary), '');
  }
  if (several) {
    out.push(`=== Formats vs the first, ${formatName(first.format)} (sum of each model's layers) ===`);
    out.push(`vs first: change in Marlin time; speedup: over cuBLAS in the format's activation type`, '');
    out.push(comparisonTable(summaries));
  }
  if (ctx.warnings.length > 0) out.push('', '== Warnings ==', ...ctx.warnings.map((w) => `  ${w}`));
  return `${out.join('\n')}\n`;
}

export interface JsonContext extends ReportContext {
  packageName: string;
  argv: readonly string[];
  options: BenchOptions;
  /** Raw timings per format name, then per shape key. */
  timings: ReadonlyMap<string, ReadonlyMap<string, ShapeTiming>>;
  timestamp: Date;
}

/** A format's layers with every raw time beside the derived rows. */
function layersWithTimes(summary: Summary, raw: ReadonlyMap<string, ShapeTiming> | undefined): object[] {
  return summary.layers.map((layer) => {
    const timing = raw?.get(shapeKey(layer.k, layer.n));
    return {
      ...layer,
      rows: layer.rows.map((row, i) => {
        const b = timing?.batches[i];
        return {
          ...row,
          marlin: b && { timesUs: b.marlin.timesUs, maxGapUs: b.marlin.maxGapUs },
          fp16: b && { timesUs: b.fp16.timesUs, maxGapUs: b.fp16.maxGapUs },
        };
      }),
    };
  });
}

/**
 * Everything, for scripts: inputs, environment, derived rows and every raw
 * time, per format under `formats`. The top-level groupSize, idealSpeedup,
 * models and layers are the first format's, where they were before formats,
 * so that readers of earlier files keep working.
 */
export function buildJsonReport(summaries: readonly Summary[], ctx: JsonContext): object {
  const { gpu, cuda, bandwidth } = ctx.env;
  const [first] = summaries;
  const formats = summaries.map((summary) => {
    const name = formatName(summary.format);
    return {
      name,
      description: describeBenchFormat(summary.format),
      format: summary.format,
      baseline: `cuBLAS ${denseName(summary.format.dtype)}`,
      idealSpeedup: summary.idealSpeedup,
      models: summary.models,
      layers: layersWithTimes(summary, ctx.timings.get(name)),
    };
  });
  return {
    benchmark: 'marlin-node: Marlin quantized weights vs dense cuBLAS (FP16 or BF16), per linear layer and weight format',
    package: { name: ctx.packageName, version: ctx.packageVersion },
    timestamp: ctx.timestamp.toISOString(),
    commandLine: [...ctx.argv],
    options: { ...ctx.options, formats: ctx.options.formats.map(formatName) },
    groupSize: first.format.groupSize,
    repeats: ctx.repeats,
    gpu,
    cuda: {
      runtimeVersion: cuda.runtime,
      driverVersion: cuda.driver,
      runtime: formatCudaVersion(cuda.runtime),
      driver: formatCudaVersion(cuda.driver),
    },
    memoryBandwidth: {
      gbPerS: bandwidth.gbPerS,
      method: 'device-to-device copy: (bytes read + bytes written) / median GPU time',
      copyBytes: bandwidth.copyBytes,
      timesUs: bandwidth.timesUs,
    },
    idealSpeedup: first.idealSpeedup,
    units: { time: 'µs (GPU time, median)', bandwidth: 'GB/s = 1e9 bytes/s', tflops: '1e12 FLOP/s, 2 m k n per layer' },
    models: first.models,
    layers: formats[0].layers,
    formats,
    warnings: [...ctx.warnings],
  };
}
