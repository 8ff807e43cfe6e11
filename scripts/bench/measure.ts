/**
 * Everything the bench does on the GPU: open the device, measure the copy
 * bandwidth that sets the memory limit, and time Marlin against cuBLAS for
 * one layer shape and weight format at every batch size. Importing this
 * loads the addon.
 */
import {
  type ActivationDType,
  Device,
  DeviceTensor,
  type Graph,
  QuantizedLinear,
  type Stream,
  fp16Matmul,
  fromHalves,
  hasCublas,
  probe,
} from '../../lib/index';
import { median, relativeError as relativeErrorOf, timeCalls } from '../../lib/testing';
import { native } from '../../lib/native';
import { randomHalves, randomPackedLayer } from './data';
import { BenchFailure } from './fail';
import { type BenchFormat, denseName, formatName, runOptionsOf } from './formats';
import type { BandwidthMeasurement, BatchTiming, BenchEnvironment, KernelTiming, ShapeTiming } from './results';
import { fp16WeightBytes, weightBytes } from './results';

/** Marlin may differ from cuBLAS on the same dequantized weights by rounding only. */
export const MAX_RELATIVE_ERROR = 1e-2;
/** The correctness check runs at min(this, largest batch). */
const CHECK_BATCH = 16;
/** Untimed calls before timing (at least one per copy: first calls allocate workspaces). */
const MIN_WARMUP = 3;
/** Bounds the copies of tiny layers; past this a layer is far below L2 size anyway. */
export const MAX_ROTATION = 128;
/** A gap above this fraction of the median means the host fell behind the GPU... */
const GAP_FRACTION = 0.2;
/** ...unless it is below the ~µs that consecutive event records cost anyway. */
const GAP_FLOOR_US = 2;

export interface Settings {
  batches: readonly number[];
  format: BenchFormat;
  repeats: number;
}

export interface Callbacks {
  onBatch?: (timing: BatchTiming) => void;
  warn?: (message: string) => void;
}

export interface OpenDevice {
  device: Device;
  stream: Stream;
}

/** The device to bench, or a one-line BenchFailure saying why there is none. */
export function openDevice(index: number): OpenDevice {
  const found = probe();
  if (!found.available) throw new BenchFailure(`no usable CUDA device: ${found.reason}`);
  const device = Device.get(index);
  if (!hasCublas())
    throw new BenchFailure('the FP16 baseline is unavailable (NO_CUBLAS): marlin-node was built without cuBLAS, so there is nothing to compare against');
  return { device, stream: device.createStream() };
}

export function environment(device: Device, bandwidth: BandwidthMeasurement): BenchEnvironment {
  const p = device.properties;
  const versions = native.versions();
  return {
    gpu: {
      index: device.index,
      name: p.name,
      arch: device.arch,
      multiProcessorCount: p.multiProcessorCount,
      l2CacheSize: p.l2CacheSize,
      totalGlobalMem: p.totalGlobalMem,
      memoryBusWidth: p.memoryBusWidth,
      memoryClockRateKHz: p.memoryClockRateKHz,
    },
    cuda: { runtime: versions.runtime, driver: versions.driver },
    bandwidth,
  };
}

/** Copies needed so that one pass over them moves more than 2x L2 (so no call reads from L2). */
export function rotationCount(bytesPerSet: number, l2Bytes: number): number {
  return Math.min(MAX_ROTATION, Math.max(2, Math.ceil((2 * l2Bytes) / bytesPerSet) + 1));
}

/**
 * GPU µs from the start to the end of what `queue` puts on the stream, with
 * the stream idle before each: the median of 5 after one warm-up (for
 * sequences of calls and graph replays, where timeCalls' per-call events
 * would split what is measured).
 */
export async function gpuSpanUs(device: Device, stream: Stream, queue: () => void): Promise<number> {
  const start = device.createEvent();
  const end = device.createEvent();
  try {
    const times: number[] = [];
    for (let r = 0; r < 6; r++) {
      await stream.synchronize();
      start.record(stream);
      queue();
      end.record(stream);
      await end.synchronize();
      if (r > 0) times.push(start.elapsedMs(end) * 1000);
    }
    return median(times);
  } finally {
    start.dispose();
    end.dispose();
  }
}

/** Queues `sequence`'s calls directly and from a graph: GPU µs of each (the graph's undefined, with the error, if it cannot be captured). */
export async function directAndGraph(device: Device, stream: Stream, sequence: () => void): Promise<{ direct: number; graph?: number; error?: string }> {
  sequence(); // warm-up outside the capture (first calls may allocate)
  const direct = await gpuSpanUs(device, stream, sequence);
  let graph: Graph | undefined;
  try {
    graph = stream.capture(sequence);
  } catch (error) {
    return { direct, error: error instanceof Error ? error.message : String(error) };
  }
  try {
    return { direct, graph: await gpuSpanUs(device, stream, () => graph.launch(stream)) };
  } finally {
    graph.dispose();
  }
}

/** Disposes what it tracks, newest first, once the stream is idle. */
class Owned {
  private readonly items: Array<{ dispose(): void }> = [];

  add<T extends { dispose(): void }>(item: T): T {
    this.items.push(item);
    return item;
  }

  async disposeAll(stream: Stream): Promise<void> {
    try {
      await stream.synchronize();
    } finally {
      while (this.items.length > 0) this.items.pop()!.dispose();
    }
  }
}

/** Warm-up, then `count` timed calls; call(i) queues call i. */
async function timeKernel(stream: Stream, count: number, warmup: number, call: (i: number) => void): Promise<KernelTiming> {
  for (let i = 0; i < warmup; i++) call(i);
  await stream.synchronize();
  const { times, maxGapUs } = await timeCalls(stream, Array.from({ length: count }, (_, i) => () => call(i)));
  return { medianUs: median(times), timesUs: times, maxGapUs };
}

/**
 * Device-to-device copy bandwidth, (bytes read + bytes written) / time: what
 * a kernel that only streams memory can reach, measured rather than taken
 * from the data sheet.
 */
export async function measureBandwidth(device: Device, stream: Stream, repeats = 5): Promise<BandwidthMeasurement> {
  let bytes = 2 ** 30;
  while (bytes > device.properties.totalGlobalMem / 8) bytes /= 2;
  const owned = new Owned();
  try {
    const src = owned.add(DeviceTensor.empty(device, [bytes / 2], 'float16'));
    const dst = owned.add(DeviceTensor.empty(device, [bytes / 2], 'float16'));
    src.fill(0, stream);
    const t = await timeKernel(stream, repeats, 2, () => dst.copyFrom(src, stream));
    return { gbPerS: (2 * bytes) / (t.medianUs * 1e3), copyBytes: bytes, timesUs: t.timesUs };
  } finally {
    await owned.disposeAll(stream);
  }
}

/**
 * Times Marlin and cuBLAS for y = x W, W [k, n] random weights of the
 * format, at every batch size, after checking that both compute the same
 * thing. cuBLAS runs in the format's activation type (FP16 or BF16) on the
 * layer's own dequantized weights. Every call reads its own copy of the
 * weights, A and C, rotating through enough copies to defeat L2.
 */
export async function measureShape(
  device: Device,
  stream: Stream,
  shape: { k: number; n: number },
  settings: Settings,
  callbacks: Callbacks = {},
): Promise<ShapeTiming> {
  const { k, n } = shape;
  const { batches, format, repeats } = settings;
  const { dtype } = format;
  const l2 = device.properties.l2CacheSize;
  const ioBytes = 2 * batches[0] * (k + n); // A and C at the smallest batch: the smallest set
  const rotation = {
    marlin: rotationCount(weightBytes(k, n, format) + ioBytes, l2),
    fp16: rotationCount(fp16WeightBytes(k, n) + ioBytes, l2),
  };
  if (rotation.marlin === MAX_ROTATION)
    callbacks.warn?.(`is tiny: ${MAX_ROTATION} copies do not exceed 2x L2, so some reads may hit L2`);
  const copies = Math.max(rotation.marlin, rotation.fp16);
  const count = Math.max(repeats, copies); // at least one pass over every copy
  const warmup = Math.max(MIN_WARMUP, copies);

  const owned = new Owned();
  try {
    const packed = randomPackedLayer(k, n, format);
    const layers = Array.from({ length: rotation.marlin }, () => owned.add(QuantizedLinear.fromPacked(packed, { device, stream })));
    // The dense baseline multiplies by exactly the numbers Marlin decodes; copies are made on the GPU.
    const denseWeights = [owned.add(layers[0].dequantizeWeights({ stream }))];
    while (denseWeights.length < rotation.fp16) {
      const copy = owned.add(DeviceTensor.empty(device, [k, n], dtype));
      copy.copyFrom(denseWeights[0], stream);
      denseWeights.push(copy);
    }

    const check = await checkAgainstDense(device, stream, layers[0], denseWeights[0], Math.min(CHECK_BATCH, batches[batches.length - 1]));

    const timed: BatchTiming[] = [];
    for (const m of batches) {
      const perBatch = new Owned();
      try {
        const a = [perBatch.add(device.upload(randomHalves(m * k, -1, 1, dtype), [m, k], dtype, stream))];
        const c: DeviceTensor<typeof dtype>[] = [];
        for (let i = 0; i < copies; i++) {
          if (i > 0) {
            const copy = perBatch.add(DeviceTensor.empty(device, [m, k], dtype));
            copy.copyFrom(a[0], stream);
            a.push(copy);
          }
          c.push(perBatch.add(DeviceTensor.empty(device, [m, n], dtype)));
        }
        const options = runOptionsOf(format);
        const marlin = await timeKernel(stream, count, warmup, (i) => {
          const r = i % rotation.marlin;
          layers[r].forward(a[r], { ...options, out: c[r], stream });
        });
        const fp16 = await timeKernel(stream, count, warmup, (i) => {
          const r = i % rotation.fp16;
          fp16Matmul(a[r], denseWeights[r], { out: c[r], stream });
        });
        for (const [name, t] of [['Marlin', marlin], [denseName(dtype), fp16]] as const)
          if (t.maxGapUs > GAP_FRACTION * t.medianUs && t.maxGapUs > GAP_FLOOR_US)
            callbacks.warn?.(
              `batch ${m}, ${name}: the GPU idled up to ${t.maxGapUs.toFixed(1)} µs between calls ` +
                `(median call ${t.medianUs.toFixed(1)} µs): the host could not keep up`,
            );
        const result = { batch: m, marlin, fp16 };
        timed.push(result);
        callbacks.onBatch?.(result);
      } finally {
        await perBatch.disposeAll(stream);
      }
    }
    return { k, n, rotation, check, batches: timed };
  } finally {
    await owned.disposeAll(stream);
  }
}

/**
 * Marlin and cuBLAS on the same input and the same dequantized weights, in
 * the layer's activation type; throws BenchFailure if they disagree.
 */
async function checkAgainstDense(
  device: Device,
  stream: Stream,
  layer: QuantizedLinear,
  denseWeights: DeviceTensor<ActivationDType>,
  m: number,
): Promise<ShapeTiming['check']> {
  const { inFeatures: k, outFeatures: n } = layer;
  const { dtype } = layer.format;
  const owned = new Owned();
  try {
    const a = owned.add(device.upload(randomHalves(m * k, -1, 1, dtype), [m, k], dtype, stream));
    const marlin = owned.add(layer.forward(a, { stream }));
    const dense = owned.add(fp16Matmul(a, denseWeights, { stream }));
    const relativeError = relativeErrorOf(fromHalves(await marlin.toHost(stream), dtype), fromHalves(await dense.toHost(stream), dtype));
    if (!(relativeError < MAX_RELATIVE_ERROR)) {
      const format = formatName({ ...layer.format, actOrder: layer.actOrder });
      throw new BenchFailure(
        `wrong result for ${format} k=${k} n=${n}: Marlin differs from ${denseName(dtype)} (cuBLAS) by relative error ` +
          `${relativeError.toExponential(2)} at batch ${m} (limit ${MAX_RELATIVE_ERROR}); not timing a wrong kernel`,
      );
    }
    return { batch: m, relativeError };
  } finally {
    await owned.disposeAll(stream);
  }
}
