/**
 * The bench's outputs from a Summary: the terminal report (models first,
 * then every layer) and the JSON document. Pure: no GPU, no files.
 */
import type { BenchOptions } from './options';
import type { BenchEnvironment, ResultRow, ShapeTiming, Summary } from './results';
import { shapeKey } from './presets';
import { formatTable } from './table';

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

const HEADER = ['batch', 'Marlin µs', 'FP16 µs', 'speedup', 'weight GB/s', '% of limit', 'TFLOP/s'];

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

/** Table rows for a list of results (exported for tests). */
export function resultTable(rows: readonly ResultRow[], indent = '  '): string {
  return formatTable(HEADER, rows.map(rowCells), { indent, align: HEADER.map(() => 'right') });
}

export interface ReportContext {
  env: BenchEnvironment;
  packageVersion: string;
  repeats: number;
  warnings: readonly string[];
}

/** The plain-text report for the terminal. */
export function formatReport(summary: Summary, ctx: ReportContext): string {
  const { gpu, cuda, bandwidth } = ctx.env;
  const group = summary.format.groupSize === -1 ? 'per-channel scales' : `group size ${summary.format.groupSize}`;
  const out: string[] = [
    `Marlin 4-bit vs FP16 (cuBLAS) on ${gpu.name} (device ${gpu.index}, ${gpu.arch}, ${gpu.multiProcessorCount} SMs, L2 ${formatBytes(gpu.l2CacheSize)})`,
    `CUDA runtime ${formatCudaVersion(cuda.runtime)}, driver ${formatCudaVersion(cuda.driver)}; marlin-node ${ctx.packageVersion}`,
    `memory limit: ${bandwidth.gbPerS.toFixed(0)} GB/s measured by a ${formatBytes(bandwidth.copyBytes)} device copy (read + write)`,
    `${group}: ideal speedup ${formatSpeedup(summary.idealSpeedup)} (FP16 bytes / 4-bit bytes); median of at least ${ctx.repeats} calls, inputs rotated past L2`,
    '',
    '== Models (sum of their layers) ==',
  ];
  for (const model of summary.models) {
    const layers = model.layers.map((l) => (l.name === shapeKey(l.k, l.n) ? l.name : `${l.name} ${shapeKey(l.k, l.n)}`));
    out.push('', `${model.name}: ${layers.join(', ')}`);
    out.push(resultTable(model.rows));
  }
  out.push('', '== Layers ==');
  for (const layer of summary.layers) {
    const check = `rel. error vs FP16 ${layer.check.relativeError.toExponential(1)} at batch ${layer.check.batch}`;
    out.push('', `k=${layer.k} n=${layer.n} (${layer.usedBy.join(', ')}); ${check}`);
    out.push(resultTable(layer.rows));
  }
  if (ctx.warnings.length > 0) out.push('', '== Warnings ==', ...ctx.warnings.map((w) => `  ${w}`));
  return `${out.join('\n')}\n`;
}

export interface JsonContext extends ReportContext {
  packageName: string;
  argv: readonly string[];
  options: BenchOptions;
  timings: ReadonlyMap<string, ShapeTiming>;
  timestamp: Date;
}

/** Everything, for scripts: inputs, environment, derived rows and every raw time. */
export function buildJsonReport(summary: Summary, ctx: JsonContext): object {
  const { gpu, cuda, bandwidth } = ctx.env;
  return {
    benchmark: 'marlin-node: Marlin FP16xINT4 vs FP16 cuBLAS, per linear layer',
    package: { name: ctx.packageName, version: ctx.packageVersion },
    timestamp: ctx.timestamp.toISOString(),
    commandLine: [...ctx.argv],
    options: ctx.options,
    groupSize: summary.format.groupSize,
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
    idealSpeedup: summary.idealSpeedup,
    units: { time: 'µs (GPU time, median)', bandwidth: 'GB/s = 1e9 bytes/s', tflops: '1e12 FLOP/s, 2 m k n per layer' },
    models: summary.models,
    layers: summary.layers.map((layer) => {
      const raw = ctx.timings.get(shapeKey(layer.k, layer.n));
      return {
        ...layer,
        rows: layer.rows.map((row, i) => {
          const b = raw?.batches[i];
          return {
            ...row,
            marlin: b && { timesUs: b.marlin.timesUs, maxGapUs: b.marlin.maxGapUs },
            fp16: b && { timesUs: b.fp16.timesUs, maxGapUs: b.fp16.maxGapUs },
          };
        }),
      };
    }),
    warnings: [...ctx.warnings],
  };
}
