/**
 * What the bench measured (the types measure.ts fills in) and the numbers
 * derived from it: speedup, weight bandwidth, % of the memory limit, TFLOP/s,
 * per layer and summed per model, for one weight format. Pure: no GPU.
 *
 * The dense baseline is cuBLAS in the format's activation type (FP16 or
 * BF16); its fields keep the name `fp16` they had before formats, so that
 * readers of the JSON keep working.
 */
import { scaleRows } from '../../lib/shapes';
import type { BenchFormat } from './formats';
import { type BenchPlan, type LayerShape, shapeKey } from './presets';

/** GPU times of one kernel at one batch size. */
export interface KernelTiming {
  medianUs: number;
  /** Every timed call, in order. */
  timesUs: number[];
  /** Largest idle gap between timed calls (µs): large means the host could not keep the GPU busy. */
  maxGapUs: number;
}

export interface BatchTiming {
  batch: number;
  marlin: KernelTiming;
  /** The dense baseline (cuBLAS FP16 or BF16). */
  fp16: KernelTiming;
}

/** Everything measured for one distinct (k, n). */
export interface ShapeTiming {
  k: number;
  n: number;
  /** Copies of weights, A and C each kernel rotates through (so that nothing is served from L2). */
  rotation: { marlin: number; fp16: number };
  /** Marlin vs cuBLAS on the same dequantized weights, before any timing. */
  check: { batch: number; relativeError: number };
  batches: BatchTiming[];
}

/** The device-to-device copy that sets the memory-bound limit. */
export interface BandwidthMeasurement {
  /** (bytes read + bytes written) / time, in GB/s (1e9 bytes). */
  gbPerS: number;
  /** Size of the copied tensor. */
  copyBytes: number;
  timesUs: number[];
}

/** The derived numbers of one layer or model at one batch size. */
export interface ResultRow {
  batch: number;
  marlinUs: number;
  /** The dense baseline (cuBLAS FP16 or BF16). */
  fp16Us: number;
  /** fp16Us / marlinUs */
  speedup: number;
  /** Quantized weight, scale, zero-point and row-order bytes read by the Marlin call(s) (weightBytes). */
  weightBytes: number;
  /** Weight bytes / Marlin time, GB/s. */
  weightGbPerS: number;
  /** Time to read the weight bytes at the measured copy bandwidth. */
  limitUs: number;
  /** 100 * limitUs / marlinUs */
  percentOfLimit: number;
  /** 2 m k n / Marlin time, in TFLOP/s. */
  tflops: number;
}

export interface LayerSummary {
  k: number;
  n: number;
  usedBy: string[];
  rotation: ShapeTiming['rotation'];
  check: ShapeTiming['check'];
  rows: ResultRow[];
}

export interface ModelSummary {
  name: string;
  layers: LayerShape[];
  rows: ResultRow[];
}

/** The numbers of one weight format. */
export interface Summary {
  format: BenchFormat;
  bandwidthGbPerS: number;
  /** Dense weight bytes / quantized weight bytes over every measured layer: the speedup of a purely memory-bound layer. */
  idealSpeedup: number;
  models: ModelSummary[];
  layers: LayerSummary[];
}

/**
 * Bytes a Marlin call reads for its weights: k n bits / 8 of packed weights,
 * a 16-bit scale per group and column, a byte per zero point whatever the
 * weight width (formats with zero points), and an int32 per row for the row order
 * of act-order layers. (An act-order layer of k rows in a random order has k
 * kernel rows: no group needs padding.)
 */
export function weightBytes(k: number, n: number, format: BenchFormat): number {
  const groups = scaleRows(k, format.groupSize);
  const bytesPerWeight = format.bits / 8;
  return (
    k * n * bytesPerWeight + groups * n * 2 + (format.zeroPoints ? groups * n : 0) + (format.actOrder ? 4 * k : 0)
  );
}

/** Bytes of the dense baseline's weights (FP16 or BF16). */
export function fp16WeightBytes(k: number, n: number): number {
  return 2 * k * n;
}

/** A layer to state the ideal for when there are none (4096 x 4096: 3.88x at fp16-u4-g128). */
const NOMINAL_SHAPE = { k: 4096, n: 4096 };

/** Dense bytes / quantized bytes over the layers: 2 / (0.5 + 2 / 128) = 3.88x at fp16-u4-g128. */
export function idealSpeedup(shapes: ReadonlyArray<{ k: number; n: number }>, format: BenchFormat): number {
  let dense = 0;
  let quantized = 0;
  for (const { k, n } of shapes.length > 0 ? shapes : [NOMINAL_SHAPE]) {
    dense += fp16WeightBytes(k, n);
    quantized += weightBytes(k, n, format);
  }
  return dense / quantized;
}

function resultRow(batch: number, marlinUs: number, fp16Us: number, bytes: number, flops: number, gbPerS: number): ResultRow {
  const limitUs = bytes / (gbPerS * 1e3); // bytes / (GB/s) = ns; / 1e3 = µs
  return {
    batch,
    marlinUs,
    fp16Us,
    speedup: fp16Us / marlinUs,
    weightBytes: bytes,
    weightGbPerS: bytes / (marlinUs * 1e3),
    limitUs,
    percentOfLimit: (100 * limitUs) / marlinUs,
    tflops: flops / (marlinUs * 1e6),
  };
}

/** Per-layer rows for every measured shape, and per-model sums of their layers' times, for one format. */
export function summarize(
  plan: BenchPlan,
  timings: ReadonlyMap<string, ShapeTiming>,
  bandwidthGbPerS: number,
  format: BenchFormat,
): Summary {
  const timingOf = (k: number, n: number): ShapeTiming => {
    const t = timings.get(shapeKey(k, n));
    if (!t) throw new Error(`no timing for shape ${shapeKey(k, n)}`);
    return t;
  };
  const layers: LayerSummary[] = plan.shapes.map(({ k, n, usedBy }) => {
    const t = timingOf(k, n);
    return {
      k,
      n,
      usedBy,
      rotation: t.rotation,
      check: t.check,
      rows: t.batches.map((b) =>
        resultRow(b.batch, b.marlin.medianUs, b.fp16.medianUs, weightBytes(k, n, format), 2 * b.batch * k * n, bandwidthGbPerS),
      ),
    };
  });
  const models: ModelSummary[] = plan.models.map((model) => {
    const batches = timingOf(model.layers[0].k, model.layers[0].n).batches.map((b) => b.batch);
    const rows = batches.map((batch, i) => {
      let marlinUs = 0;
      let fp16Us = 0;
      let bytes = 0;
      let flops = 0;
      for (const { k, n } of model.layers) {
        const b = timingOf(k, n).batches[i];
        if (b.batch !== batch) throw new Error(`shape ${shapeKey(k, n)} was measured at other batch sizes`);
        marlinUs += b.marlin.medianUs;
        fp16Us += b.fp16.medianUs;
        bytes += weightBytes(k, n, format);
        flops += 2 * batch * k * n;
      }
      return resultRow(batch, marlinUs, fp16Us, bytes, flops, bandwidthGbPerS);
    });
    return { name: model.name, layers: model.layers, rows };
  });
  return { format, bandwidthGbPerS, idealSpeedup: idealSpeedup(plan.shapes, format), models, layers };
}

/** The GPU and software the numbers come from. */
export interface BenchEnvironment {
  gpu: {
    index: number;
    name: string;
    arch: string;
    multiProcessorCount: number;
    l2CacheSize: number;
    totalGlobalMem: number;
    memoryBusWidth: number;
    memoryClockRateKHz: number;
  };
  /** CUDA versions as 1000 * major + 10 * minor (driver 0: none). */
  cuda: { runtime: number; driver: number };
  bandwidth: BandwidthMeasurement;
}
