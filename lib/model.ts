/**
 * loadQuantizedModel(): a whole quantized checkpoint directory (config.json
 * and one model.safetensors or shards named by model.safetensors.index.json)
 * onto the GPU: every quantized linear layer as a QuantizedLinear by its
 * checkpoint name, every other tensor as a DeviceTensor.
 *
 * Streaming, and fair to the event loop:
 *  - tensors are read one at a time with positioned reads (the files are
 *    never read whole); a quantized layer's tensors are held on the host
 *    until it is built, so host memory peaks at about one layer's tensors
 *    plus one staging piece (PIECE_BYTES);
 *  - large data goes to the GPU in pieces of PIECE_BYTES (a copy from
 *    pageable memory returns once the bytes are staged: about a millisecond
 *    per piece), with a turn of the event loop between pieces and tensors;
 *  - qweight words go into one device scratch buffer reused by every layer
 *    and are repacked there by the GPU (lib/repack.ts); Marlin-format
 *    layers are uploaded as they are.
 * Other tensors keep their dtype: F16, BF16, F32 and I32 become
 * DeviceTensors of float16, bfloat16, float32, int32; any other dtype (I64,
 * U8, F8, ...: nothing a Llama-style checkpoint stores outside its
 * quantized layers) stays on the host in `hostTensors`, as read. A Marlin
 * layer's saved `workspace` is skipped (it is scratch, not weights).
 *
 * On any failure every layer and tensor already on the GPU is freed, the
 * files closed, and the error propagates: BAD_CHECKPOINT from the readers
 * and converters (naming the file and tensor), any other MarlinError with
 * the file and tensor it happened at put before its message.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { awqLayer, awqToQuantized } from './checkpoint/awq';
import { type QuantizationConfig, readQuantizationConfig } from './checkpoint/config';
import { gptqLayer, gptqToQuantized } from './checkpoint/gptq';
import { LAYER_TENSORS, quantizedLayerNames } from './checkpoint';
import { type MarlinTensors, marlinToPacked } from './checkpoint/marlin';
import { type SafetensorsDType, type SafetensorsModel, type Tensor, openSafetensors } from './checkpoint/safetensors';
import type { CheckpointTensor } from './checkpoint/tensors';
import { Device, type DType, DeviceTensor, Stream } from './device';
import { MarlinError, callNative, toMarlinError } from './errors';
import { QuantizedLinear } from './linear';
import { RepackScratch } from './repack';
import { invalid } from './validate';

/** Bytes read and uploaded per piece: about a millisecond of pageable copy, the longest the event loop waits on one. */
export const PIECE_BYTES = 8 << 20;

const DEVICE_DTYPE: Partial<Record<SafetensorsDType, DType>> = { F16: 'float16', BF16: 'bfloat16', F32: 'float32', I32: 'int32' };

/** Tensors of quantized layers that are not loaded (Marlin's saved workspace). */
const SKIPPED_SUFFIXES = ['workspace'];

/** loadQuantizedModel()'s progress, passed to onProgress. */
export interface LoadProgress {
  /** Bytes of tensor data read so far, of totalBytes. */
  bytes: number;
  /** Bytes of tensor data the whole load reads (skipped tensors excepted). */
  totalBytes: number;
  /** Tensors done (read and queued to the GPU), of totalTensors. */
  tensors: number;
  /** Tensors the whole load reads (skipped tensors excepted). */
  totalTensors: number;
}

/** Options of loadQuantizedModel(). */
export interface LoadOptions {
  /** Device to load onto (default: device 0). */
  device?: Device;
  /** Stream the uploads and repacks are queued on (default: the device's stream). */
  stream?: Stream;
  /** Called after each tensor and each piece of a large one. */
  onProgress?: (progress: LoadProgress) => void;
  /** Where GPTQ/AWQ weights are put into the Marlin layout: 'gpu' (default) or 'cpu' (for checks). */
  repack?: 'gpu' | 'cpu';
}

/** Where a load spent its time, in seconds (wall clock on the JS thread). */
export interface LoadStats {
  /** The whole load, up to the GPU finishing. */
  seconds: number;
  /** Waiting for file reads. */
  readSeconds: number;
  /** Converting and planning layers on the CPU (checks, zero points, act-order, scales). */
  convertSeconds: number;
  /** Queueing copies and repacks (copies from pageable memory run while queued). */
  uploadSeconds: number;
  /** Waiting at the end for the GPU to finish what was queued. */
  finishSeconds: number;
  /** Bytes of tensor data read. */
  bytes: number;
}

/** A quantized checkpoint loaded onto the GPU (loadQuantizedModel()). */
export interface QuantizedModel {
  /** config.json as parsed ({} when the directory has only quantize_config.json / quant_config.json). */
  config: Record<string, unknown>;
  /** The checkpoint's quantization config, parsed. */
  quantization: QuantizationConfig;
  /** Quantized linear layers by name (the prefix of their tensors, e.g. 'model.layers.0.mlp.down_proj'). */
  layers: Map<string, QuantizedLinear>;
  /** Every other tensor by its full name, on the device in its dtype. */
  tensors: Map<string, DeviceTensor>;
  /** Tensors of dtypes the device tensors have no type for, on the host as read. */
  hostTensors: Map<string, Tensor>;
  /** Where the load spent its time, and the bytes it read. */
  stats: LoadStats;
  /** Frees every layer and tensor. Safe to call twice. */
  dispose(): void;
  /** dispose(), for `using`. */
  [Symbol.dispose](): void;
}

/** One step of a load: a quantized layer (from its tensors) or another tensor. */
export type LoadStep =
  | {
      /** A quantized linear layer, built from its tensors into a QuantizedLinear. */
      kind: 'layer';
      /** The layer's name: the prefix of its tensors' names. */
      name: string;
      /** Full names of the tensors it is built from (those of its format that are present). */
      tensors: string[];
    }
  | {
      /** Any other tensor, loaded as it is. */
      kind: 'tensor';
      /** The tensor's full name. */
      name: string;
      /** Its dtype in the checkpoint. */
      dtype: SafetensorsDType;
      /** Its shape in the checkpoint. */
      shape: number[];
      /** The DeviceTensor dtype it gets; null: kept on the host (hostTensors). */
      device: DType | null;
    };

/** What a load does, in order (no GPU needed: the CPU tests check it). */
export interface LoadPlan {
  /** The layers and tensors to load, in file order. */
  steps: LoadStep[];
  /** Tensors not loaded (a Marlin layer's saved workspace). */
  skipped: string[];
  /** Bytes of tensor data the load reads (skipped tensors excepted). */
  totalBytes: number;
  /** Tensors the load reads (skipped tensors excepted). */
  totalTensors: number;
}

/**
 * Plans the load of an open model: each quantized layer (with the tensors
 * its format uses) at the place of its first tensor, every other tensor in
 * file order with the device dtype it gets (null: kept on the host).
 */
export function planModelLoad(model: Pick<SafetensorsModel, 'names' | 'has' | 'info'>, quantization: QuantizationConfig): LoadPlan {
  const names = model.names();
  const owner = new Map<string, string>();
  const layerTensors = new Map<string, string[]>();
  for (const layer of quantizedLayerNames(names, quantization)) {
    const list: string[] = [];
    for (const suffix of LAYER_TENSORS[quantization.kind]) if (model.has(`${layer}.${suffix}`)) list.push(`${layer}.${suffix}`);
    layerTensors.set(layer, list);
    for (const t of list) owner.set(t, layer);
    for (const suffix of SKIPPED_SUFFIXES) if (model.has(`${layer}.${suffix}`)) owner.set(`${layer}.${suffix}`, '');
  }
  const plan: LoadPlan = { steps: [], skipped: [], totalBytes: 0, totalTensors: 0 };
  for (const name of names) {
    const layer = owner.get(name);
    if (layer === '') {
      plan.skipped.push(name);
      continue;
    }
    const info = model.info(name);
    plan.totalBytes += info.byteLength;
    plan.totalTensors++;
    if (layer === undefined) {
      plan.steps.push({ kind: 'tensor', name, dtype: info.dtype, shape: info.shape.slice(), device: DEVICE_DTYPE[info.dtype] ?? null });
    } else if (layerTensors.has(layer)) {
      plan.steps.push({ kind: 'layer', name: layer, tensors: layerTensors.get(layer)! });
      layerTensors.delete(layer);
    }
  }
  return plan;
}

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const now = (): number => performance.now() / 1000;

/** The error with the file and tensor it happened at (BAD_CHECKPOINT errors already name them). */
function located(error: unknown, file: string, tensor: string): MarlinError {
  const e = toMarlinError(error);
  if (e.code === 'BAD_CHECKPOINT') return e;
  return new MarlinError(e.code, `${file}: tensor '${tensor}': ${e.message}`, { cause: e, cudaError: e.cudaError });
}

async function readConfigJson(dir: string): Promise<Record<string, unknown>> {
  const file = path.join(dir, 'config.json');
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch {
    return {};
  }
  // readQuantizationConfig has parsed it already when it holds the quantization config; a bad one failed there.
  const json = JSON.parse(text) as unknown;
  return typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as Record<string, unknown>) : {};
}

/**
 * Loads a quantized checkpoint directory onto the GPU (see the module
 * comment). Resolves once every layer and tensor is on the device.
 */
export async function loadQuantizedModel(dir: string, options: LoadOptions = {}): Promise<QuantizedModel> {
  if (typeof dir !== 'string') throw invalid('BAD_ARGUMENT', 'dir', 'a directory path', dir);
  const { onProgress } = options;
  if (onProgress !== undefined && typeof onProgress !== 'function') throw invalid('BAD_ARGUMENT', 'onProgress', 'a function', onProgress);
  const repack = options.repack ?? 'gpu';
  if (repack !== 'gpu' && repack !== 'cpu') throw invalid('BAD_ARGUMENT', 'repack', "'gpu' or 'cpu'", repack);
  const device = options.device ?? Device.get(0);
  const stream = options.stream ?? device.stream;
  if (!(stream instanceof Stream) || stream.device.index !== device.index)
    throw invalid('BAD_ARGUMENT', 'stream', `a Stream on device ${device.index}`, stream);

  const start = now();
  const quantization = await readQuantizationConfig(dir);
  const config = await readConfigJson(dir);
  const model = await openSafetensors(dir);
  const layers = new Map<string, QuantizedLinear>();
  const tensors = new Map<string, DeviceTensor>();
  const hostTensors = new Map<string, Tensor>();
  const scratch = new RepackScratch();
  const stats: LoadStats = { seconds: 0, readSeconds: 0, convertSeconds: 0, uploadSeconds: 0, finishSeconds: 0, bytes: 0 };
  const freeAll = () => {
    for (const layer of layers.values()) layer.dispose();
    for (const t of tensors.values()) t.dispose();
    layers.clear();
    tensors.clear();
  };

  try {
    const plan = planModelLoad(model, quantization);
    const progress: LoadProgress = { bytes: 0, totalBytes: plan.totalBytes, tensors: 0, totalTensors: plan.totalTensors };
    const report = () => onProgress?.({ ...progress });
    const staging = new Uint8Array(Math.min(PIECE_BYTES, Math.max(model.largestTensorBytes(), 1)));

    const timed = async <T>(key: 'readSeconds' | 'convertSeconds' | 'uploadSeconds', work: () => T | Promise<T>): Promise<T> => {
      const t0 = now();
      try {
        return await work();
      } finally {
        stats[key] += now() - t0;
      }
    };

    // Streams a tensor's bytes into `target` from byte `offset` on, a piece at a time through `staging`.
    const streamTensor = async (name: string, target: DeviceTensor, offset: number): Promise<void> => {
      const total = model.info(name).byteLength;
      for (let done = 0; done < total; ) {
        const piece = staging.subarray(0, Math.min(staging.byteLength, total - done));
        await timed('readSeconds', () => model.readRange(name, done, piece));
        await timed('uploadSeconds', () => callNative(() => target.buffer.upload(piece, offset + done, stream.native)));
        done += piece.byteLength;
        progress.bytes += piece.byteLength;
        stats.bytes += piece.byteLength;
        report();
        await yieldToLoop();
      }
    };

    const readWhole = async (name: string): Promise<Tensor> => {
      const t = await timed('readSeconds', () => model.read(name));
      progress.bytes += t.data.byteLength;
      stats.bytes += t.data.byteLength;
      return t;
    };

    const loadLayer = async (layer: string, names: readonly string[]): Promise<void> => {
      const marker = quantization.kind === 'marlin' ? 'B' : 'qweight';
      const file = model.info(`${layer}.${marker}`).file;
      const source = { name: layer, file };
      const parts: Record<string, CheckpointTensor> = {};
      for (const full of names) {
        // Read whole: the converters check and plan from the tensors (qweight then goes up in pieces).
        parts[full.slice(layer.length + 1)] = await readWhole(full);
        progress.tensors++;
        report();
        await yieldToLoop();
      }
      if (quantization.kind === 'marlin') {
        const packed = await timed('convertSeconds', () => marlinToPacked(parts as unknown as MarlinTensors, quantization, source));
        const built = await timed('uploadSeconds', () => QuantizedLinear.fromPacked(packed, { device, stream }));
        layers.set(layer, built);
        return;
      }
      if (repack === 'cpu') {
        const q = await timed('convertSeconds', () =>
          quantization.kind === 'gptq' ? gptqToQuantized(parts as never, quantization, source) : awqToQuantized(parts as never, quantization, source),
        );
        layers.set(layer, await timed('uploadSeconds', () => QuantizedLinear.fromQuantized(q, { device, stream })));
        return;
      }
      const converted = await timed('convertSeconds', () =>
        quantization.kind === 'gptq' ? gptqLayer(parts as never, quantization, source) : awqLayer(parts as never, quantization, source),
      );
      // The words, in pieces, into the scratch buffer; then the repack from there.
      const words = converted.qweight;
      const bytes = new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
      const target = await timed('uploadSeconds', () => scratch.take(device, words.length));
      for (let done = 0; done < bytes.byteLength; done += PIECE_BYTES) {
        const piece = bytes.subarray(done, Math.min(done + PIECE_BYTES, bytes.byteLength));
        await timed('uploadSeconds', () => callNative(() => target.buffer.upload(piece, done, stream.native)));
        if (done + PIECE_BYTES < bytes.byteLength) await yieldToLoop();
      }
      const built = await timed('uploadSeconds', () =>
        QuantizedLinear.fromCheckpointLayer(converted, { device, stream, scratch, sourceUploaded: true }),
      );
      layers.set(layer, built);
    };

    for (const step of plan.steps) {
      if (step.kind === 'layer') {
        try {
          await loadLayer(step.name, step.tensors);
        } catch (error) {
          throw located(error, model.info(step.tensors[0]).file, step.name);
        }
        continue;
      }
      const { name } = step;
      const info = model.info(name);
      try {
        if (step.device === null) {
          hostTensors.set(name, await readWhole(name));
        } else {
          const t = DeviceTensor.empty(device, step.shape.length === 0 ? [1] : step.shape, step.device);
          tensors.set(name, t);
          await streamTensor(name, t, 0);
        }
      } catch (error) {
        throw located(error, info.file, name);
      }
      progress.tensors++;
      report();
      await yieldToLoop();
    }
    const t0 = now();
    await stream.synchronize();
    stats.finishSeconds = now() - t0;
  } catch (error) {
    // Queued work may still use the buffers: cudaFree waits for it.
    freeAll();
    scratch.dispose();
    await model.close();
    throw error;
  }
  scratch.dispose();
  await model.close();
  stats.seconds = now() - start;

  let disposed = false;
  const dispose = () => {
    if (disposed) return;
    disposed = true;
    freeAll();
  };
  return { config, quantization, layers, tensors, hostTensors, stats, dispose, [Symbol.dispose]: dispose };
}
