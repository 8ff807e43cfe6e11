/**
 * QuantizedLinear: a quantized linear layer on the GPU, y = x W with W
 * [inFeatures, outFeatures] (PyTorch's nn.Linear.weight is the transpose,
 * [outFeatures, inFeatures]: fromWeights takes it with layout 'out-in'; the
 * checkpoint loaders fromGptq/fromAwq/fromMarlin need no transposing, see
 * docs/formats.md). It holds the packed weights, scales, zero points and,
 * for act-order layers, the row order; forward(x) queues the GEMM with the
 * kernel the chooser picks for the batch size.
 */
import { type AwqTensors, awqLayer, awqToQuantized } from './checkpoint/awq';
import { type QuantizationConfig, parseQuantizationConfig } from './checkpoint/config';
import { type GptqTensors, gptqLayer, gptqToQuantized } from './checkpoint/gptq';
import type { CheckpointLayer } from './checkpoint/tensors';
import { type MarlinTensors, marlinToPacked } from './checkpoint/marlin';
import { type KernelOverrides, type KernelPlan, hasOverrides, nativeOverrides, warmupBatches } from './chooser';
import { Device, DeviceTensor, Event, Stream, nextSerial } from './device';
import { MarlinError, callNative } from './errors';
import { type ActivationDType, type WeightFormat, checkFormat, describeFormat, usesScaledZeros } from './formats';
import { type NativeGemm, type NativeGemmCall, native } from './native';
import { type PackedLayer, packQuantized } from './pack-layer';
import { type QuantizedWeights, quantize, type QuantizeOptions } from './quantize';
import { type QuantizeAsyncOptions, quantizeAndPackAsync } from './quantize-async';
import { type RepackScratch, planRepack, repackToDevice } from './repack';
import { checkWeightShape, scaleRows } from './shapes';
import { invalid, isObject, isPositiveInteger } from './validate';

export type { PackedLayer } from './pack-layer';

const LOADER_OF = { gptq: 'fromGptq', awq: 'fromAwq', marlin: 'fromMarlin' } as const;

/** The parsed config, which must be of `kind` (else BAD_CHECKPOINT naming the loader that fits). */
function checkpointConfig<K extends QuantizationConfig['kind']>(config: unknown, kind: K, caller: string): Extract<QuantizationConfig, { kind: K }> {
  const c = parseQuantizationConfig(config);
  if (c.kind !== kind)
    throw new MarlinError('BAD_CHECKPOINT', `QuantizedLinear.${caller}() was given a ${c.kind} checkpoint's config: use QuantizedLinear.${LOADER_OF[c.kind]}()`);
  return c as Extract<QuantizationConfig, { kind: K }>;
}

/** Default number of 64-row problems one launch runs side by side when m > 64. */
export const DEFAULT_MAX_PAR = 16;

/**
 * Grows a per-stream buffer to at least `bytes` (the old one is freed after
 * the queued work that uses it). Growing allocates, which a graph capture
 * cannot record: then NOT_CAPTURABLE says to reserve first.
 */
function grown(stream: Stream, current: DeviceTensor<'int32'> | undefined, bytes: number, zero: boolean, what: string): DeviceTensor<'int32'> {
  if (current && !current.disposed && current.byteLength >= bytes) return current;
  if (stream.capturing)
    throw new MarlinError(
      'NOT_CAPTURABLE',
      `forward() needs a larger ${what} (${bytes} bytes) on a capturing stream: call layer.reserve({ maxBatch, stream }) for each layer before capturing (or run the sequence once outside the capture)`,
    );
  current?.dispose();
  const size = Math.ceil(Math.max(bytes, (current?.byteLength ?? 0) * 1.5) / 16) * 4;
  const t = DeviceTensor.empty(stream.device, [size], 'int32');
  if (zero) t.fill(0, stream);
  return t;
}

/**
 * The stream's GEMM workspace, grown to `bytes` (native.workspaceBytes: zeroed
 * counters and two partial-sum slots per SM). Every layer on a stream shares
 * it (calls on a stream run one after another, and each call leaves the
 * counters zeroed), so a model of hundreds of layers needs one, not hundreds.
 */
function workspaceFor(stream: Stream, bytes: number): DeviceTensor<'int32'> {
  const ws = stream.workspace;
  if (ws !== undefined && ws.byteLength >= bytes && !ws.disposed) return ws; // the hot path: no call into the addon
  stream.workspace = grown(stream, ws, bytes, true, 'GEMM workspace');
  return stream.workspace;
}

/** Room for an act-order layer's gathered activations, [m, kernel k] 16-bit, shared per stream. */
function scratchFor(stream: Stream, bytes: number): DeviceTensor<'int32'> {
  stream.scratch = grown(stream, stream.scratch, bytes, false, 'act-order scratch buffer');
  return stream.scratch;
}

/** The arguments of a forward() call that forward() may bind (see there). */
interface ForwardCall {
  x: DeviceTensor<ActivationDType>;
  out: DeviceTensor<ActivationDType>;
  stream: Stream;
  workspace: DeviceTensor<'int32'>;
}

/** Options that run the default plan: no overrides, no batch invariance. */
const plainRun = (o: RunOptions): boolean => !o.batchInvariant && !hasOverrides(o);

/** How forward() runs: the kernel overrides, and batch invariance. */
export interface RunOptions extends KernelOverrides {
  /**
   * Makes every row's output bit-identical whatever the batch size and the
   * other rows, for a given layer, GPU and `sms`: the tile the chooser
   * picks for one row is kept at every batch size, and rows go in launches
   * of one 64-row problem each (maxPar 1) on one block per SM (or `sms`),
   * so each output element is summed in the same order. With the default
   * kernel table it is free up to 64 rows (48 on H100-class GPUs for layers
   * the wgmma family takes from 49 rows, narrow ones included, 32 or 16 for
   * the 4-bit layers it takes from 33 or 17 rows (the table's `choose`
   * entries); and there, up
   * to 16 rows, layers
   * whose default plan aligns its blocks to the output columns, see
   * KernelOverrides.sms, run that plan's gain slower: 3% on the 70B 8-bit
   * sums measured, up to 13% on one layer; and up to 8 rows, the layers the
   * decode family takes by default give up its gain, 12-13% per call on
   * Llama-2-7B's 4-bit o and down (with zero points up to 20% per layer),
   * 2-20% on 8-bit layers; and at 9-128 rows narrow layers whose default
   * plan prices fewer blocks a column (KernelOverrides.sms) give up that
   * gain, up to 34% on one layer; the default plan is the same elsewhere); beyond,
   * every 64 rows read the weights again.
   * Runs the mma family (so from 8 to 9 rows the default plan's results
   * change where the decode family stops; this mode's do not); cannot be
   * combined with `family`, `splits`, `streamK`, `tile` or `maxPar`.
   */
  batchInvariant?: boolean;
}

/** Options of forward(): RunOptions, plus where the output goes and the stream. */
export interface ForwardOptions extends RunOptions {
  /** Output tensor [m, outFeatures] in the layer's dtype; a new one is allocated otherwise. */
  out?: DeviceTensor<ActivationDType>;
  /** Stream to queue the GEMM on (default: the device's stream). */
  stream?: Stream;
}

/** QuantizedLinear.warmup()'s options: the batches and stream its calls will see, and the forward() options they will use. */
export interface WarmupOptions extends Omit<ForwardOptions, 'out'> {
  /** Largest batch (rows of x) the calls will have: a positive integer. */
  maxBatch: number;
}

/** A layer's arrays for the constructor: weights, zero points and rows on the host or already on the device. */
interface LayerArrays extends Omit<PackedLayer, 'packedWeights' | 'packedZeros' | 'rows'> {
  packedWeights: Int32Array | DeviceTensor<'int32'>;
  packedZeros?: Int32Array | DeviceTensor<'int32'>;
  rows?: Int32Array | DeviceTensor<'int32'>;
}

/** Where a layer's weights are uploaded: the options of every QuantizedLinear loader. */
export interface LayerOptions {
  /** Device to upload to (default: device 0). */
  device?: Device;
  /** Stream the uploads are queued on (default: the device's stream); the layer's work on any other stream is ordered after them. */
  stream?: Stream;
}

/** Options of the checkpoint loaders fromGptq and fromAwq. */
export interface CheckpointLayerOptions extends LayerOptions {
  /** The layer's name (its tensors' prefix), for error messages. */
  name?: string;
  /** The checkpoint file or directory it comes from, for error messages. */
  file?: string;
  /** Where the weights are put into the Marlin layout: 'gpu' (default: the repack kernel) or 'cpu' (unpack, then pack). */
  repack?: 'gpu' | 'cpu';
  /** The repack's device buffer for the source words, reused between layers. */
  scratch?: RepackScratch;
}

/**
 * A quantized linear layer on one GPU: y = x W, W [inFeatures, outFeatures]
 * in any weight format. Made by the static loaders (fromWeights,
 * fromQuantized, fromPacked, the checkpoint loaders); run with forward().
 */
export class QuantizedLinear {
  /** The GPU that holds the layer and runs its GEMMs. */
  readonly device: Device;
  /** Input features: columns of x (k of the GEMM). */
  readonly inFeatures: number;
  /** Output features: columns of y (n of the GEMM). */
  readonly outFeatures: number;
  /** The weight format (dtype, bits, groupSize, zeroPoints), frozen. */
  readonly format: Readonly<WeightFormat>;
  /** Whether rows are reordered by group (act-order); x's columns are gathered at each call. */
  readonly actOrder: boolean;
  /** Rows the kernel runs over: inFeatures, or more for act-order padding. */
  readonly kernelK: number;
  /** Packed weights, int32 [kernelK / 16, outFeatures * bits / 2]. */
  readonly weights: DeviceTensor<'int32'>;
  /** Scales in the Marlin order, [groups, outFeatures] in the layer's dtype. */
  readonly scales: DeviceTensor<ActivationDType>;
  /** Packed zero points, int32 [groups, outFeatures / 4]: a byte each (formats with zero points). */
  readonly zeros?: DeviceTensor<'int32'>;
  /** Grouped zero-point formats: the scaled zero points the kernels read (usesScaledZeros). */
  private readonly scaledZeros?: DeviceTensor<ActivationDType>;
  /** Act-order row order, int32 [kernelK]. */
  readonly rows?: DeviceTensor<'int32'>;
  /** @internal */ private readonly gemm: NativeGemm;
  /**
   * The uploads were queued on `uploadStream`; work on another stream waits
   * for `uploaded` once (a copy from pageable memory may still be in flight
   * when the upload call returns).
   */
  private readonly uploadStream: Stream;
  private readonly uploaded: Event;
  /** Taken when the uploads were queued (see Stream.capture). */
  private readonly serial: number;
  private readonly ordered = new WeakSet<Stream>();
  /** Workspace bytes of a call with the default maxPar (per device: its SM count). */
  private readonly workspaceBytes: number;
  /** Workspace bytes for other maxPar values, as asked. */
  private readonly otherWorkspaceBytes = new Map<number, number>();
  /** The tile of a one-row batch, kept for batch-invariant calls (see RunOptions). */
  private invariantTile?: { tileK: number; tileN: number };
  private disposed = false;
  /** forward()'s arguments of its last call, and a native call bound to them once seen twice running. */
  private lastCall?: ForwardCall;
  private bound?: ForwardCall & { call: NativeGemmCall };

  /**
   * Uploads the layer's host arrays on `stream`; arrays already on the
   * device (the GPU repack's output, lib/repack.ts) are adopted as they are,
   * and disposed with the layer (also when construction fails).
   */
  private constructor(device: Device, layer: LayerArrays, format: WeightFormat, stream: Stream) {
    const n = layer.outFeatures;
    const kernelK = layer.rows ? layer.rows.length : layer.inFeatures;
    this.device = device;
    this.inFeatures = layer.inFeatures;
    this.outFeatures = n;
    this.format = Object.freeze({ ...format });
    this.actOrder = layer.rows !== undefined;
    this.kernelK = kernelK;
    const owned: Array<{ dispose(): void }> = [];
    for (const t of [layer.packedWeights, layer.packedZeros, layer.rows]) if (t instanceof DeviceTensor) owned.push(t);
    const onDevice = (data: Int32Array | DeviceTensor<'int32'>, shape: number[]): DeviceTensor<'int32'> =>
      data instanceof DeviceTensor ? data : DeviceTensor.from(device, data, shape, 'int32', stream);
    try {
      this.weights = onDevice(layer.packedWeights, [kernelK / 16, (n * format.bits) / 2]);
      owned.push(this.weights);
      this.scales = DeviceTensor.from(device, layer.packedScales, [scaleRows(kernelK, format.groupSize), n], format.dtype, stream);
      owned.push(this.scales);
      if (layer.packedZeros) {
        this.zeros = onDevice(layer.packedZeros, [scaleRows(kernelK, format.groupSize), n / 4]);
        owned.push(this.zeros);
      }
      if (layer.rows) {
        this.rows = onDevice(layer.rows, [kernelK]);
        owned.push(this.rows);
      }
      if (usesScaledZeros(format)) {
        this.scaledZeros = DeviceTensor.empty(device, [scaleRows(kernelK, format.groupSize), n], format.dtype);
        owned.push(this.scaledZeros);
      }
      this.gemm = callNative(
        () =>
          new native.Gemm({
            weights: this.weights.buffer,
            scales: this.scales.buffer,
            zeros: this.zeros?.buffer ?? null,
            scaledZeros: this.scaledZeros?.buffer ?? null,
            rows: this.rows?.buffer ?? null,
            n,
            k: kernelK,
            inputK: layer.inFeatures,
            format,
            stream: stream.native,
          }),
      );
      this.uploaded = new Event(device);
      owned.push(this.uploaded);
      this.uploaded.record(stream);
      this.uploadStream = stream;
      this.serial = nextSerial();
      this.workspaceBytes = callNative(() => native.workspaceBytes(n, DEFAULT_MAX_PAR, device.multiProcessorCount));
    } catch (error) {
      for (const t of owned) t.dispose();
      throw error;
    }
  }

  /**
   * Quantizes weights with RTN in the given format, packs and uploads them.
   * `options.layout` says how `weights` are ordered: 'in-out' (the default)
   * is [inFeatures, outFeatures] row-major, W of y = x W; 'out-in' is
   * [outFeatures, inFeatures], as nn.Linear.weight and float checkpoints
   * store it (transposed here).
   */
  static fromWeights(
    weights: ArrayLike<number>,
    inFeatures: number,
    outFeatures: number,
    options: QuantizeOptions & LayerOptions = {},
  ): QuantizedLinear {
    if (options.gIdx === undefined) checkWeightShape(inFeatures, outFeatures);
    return QuantizedLinear.fromQuantized(quantize(weights, inFeatures, outFeatures, options), options);
  }

  /**
   * fromWeights() with the quantizing and packing on worker threads (see
   * quantizeAsync): the event loop stays free while a large layer is
   * prepared; only the upload runs on it. Finds the device (NO_GPU) and
   * checks the shape before any work; rejects with the MarlinError
   * fromWeights() would throw. `weights` must not change until it settles.
   */
  static async fromWeightsAsync(
    weights: ArrayLike<number>,
    inFeatures: number,
    outFeatures: number,
    options: QuantizeAsyncOptions & LayerOptions = {},
  ): Promise<QuantizedLinear> {
    if (options.gIdx === undefined) checkWeightShape(inFeatures, outFeatures);
    const device = options.device ?? Device.get(0);
    const layer = await quantizeAndPackAsync(weights, inFeatures, outFeatures, options);
    return QuantizedLinear.fromPacked(layer, { device, stream: options.stream });
  }

  /**
   * Packs and uploads quantized weights (see quantize()): any format, with
   * zero points when `zeros` is given, act-order when `gIdx` is.
   */
  static fromQuantized(quantized: QuantizedWeights, options: LayerOptions = {}): QuantizedLinear {
    return QuantizedLinear.fromPacked(packQuantized(quantized), options);
  }

  /**
   * Converts and uploads one GPTQ layer: its checkpoint tensors (qweight,
   * qzeros, scales, g_idx, without the layer's name prefix; see
   * docs/formats.md) and the checkpoint's config.json or quantization_config.
   * The weights are repacked into the Marlin layout on the GPU (the
   * default, `repack: 'gpu'`), or unpacked and packed on the CPU
   * (`repack: 'cpu'`): the same layer, bit for bit.
   * BAD_CHECKPOINT for tensors or settings this package cannot load.
   */
  static fromGptq(tensors: GptqTensors, config: unknown, options: CheckpointLayerOptions = {}): QuantizedLinear {
    const c = checkpointConfig(config, 'gptq', 'fromGptq');
    const source = { name: options.name, file: options.file };
    if (options.repack === 'cpu') return QuantizedLinear.fromQuantized(gptqToQuantized(tensors, c, source), options);
    return QuantizedLinear.fromCheckpointLayer(gptqLayer(tensors, c, source), options);
  }

  /** Converts and uploads one AWQ (GEMM layout) layer: qweight, qzeros, scales and the config (see fromGptq). */
  static fromAwq(tensors: AwqTensors, config: unknown, options: CheckpointLayerOptions = {}): QuantizedLinear {
    const c = checkpointConfig(config, 'awq', 'fromAwq');
    const source = { name: options.name, file: options.file };
    if (options.repack === 'cpu') return QuantizedLinear.fromQuantized(awqToQuantized(tensors, c, source), options);
    return QuantizedLinear.fromCheckpointLayer(awqLayer(tensors, c, source), options);
  }

  /**
   * Uploads a GPTQ or AWQ layer converted but for its weights (gptqLayer,
   * awqLayer) and repacks its qweight words into the Marlin layout on the
   * GPU, on `options.stream` (see lib/repack.ts). `scratch` keeps the
   * device buffer of the words between calls (whole-model loads);
   * `sourceUploaded`: the caller queued the words into it already.
   */
  static fromCheckpointLayer(layer: CheckpointLayer, options: LayerOptions & { scratch?: RepackScratch; sourceUploaded?: boolean } = {}): QuantizedLinear {
    const r = planRepack(layer);
    const device = options.device ?? Device.get(0);
    const stream = options.stream ?? device.stream;
    if (!(stream instanceof Stream)) throw invalid('BAD_ARGUMENT', 'stream', 'a Stream', stream);
    const d = repackToDevice(r, device, stream, options.scratch, options.sourceUploaded === true && options.scratch !== undefined);
    const { inFeatures, outFeatures, groupSize, bits, dtype } = layer;
    const arrays: LayerArrays = { packedWeights: d.weights, packedScales: r.packedScales, inFeatures, outFeatures, groupSize, bits, dtype };
    if (d.zeros) arrays.packedZeros = d.zeros;
    if (d.rows) arrays.rows = d.rows;
    return new QuantizedLinear(device, arrays, r.plan.format, stream); // disposes d's tensors if it fails
  }

  /** Uploads one Marlin-format layer (B, s and the config) as it is stored: no repacking. */
  static fromMarlin(tensors: MarlinTensors, config: unknown, options: LayerOptions & { name?: string } = {}): QuantizedLinear {
    const c = checkpointConfig(config, 'marlin', 'fromMarlin');
    return QuantizedLinear.fromPacked(marlinToPacked(tensors, c, { name: options.name }), options);
  }

  /** Uploads a layer already in the Marlin layout (e.g. from the reference Marlin tools). */
  static fromPacked(layer: PackedLayer, options: LayerOptions = {}): QuantizedLinear {
    if (!isObject(layer)) throw invalid('BAD_ARGUMENT', 'layer', 'a PackedLayer object', layer);
    const format = checkFormat({
      dtype: layer.dtype ?? 'float16',
      bits: layer.bits ?? 4,
      groupSize: layer.groupSize,
      zeroPoints: layer.packedZeros !== undefined,
    });
    const { inFeatures: k, outFeatures: n, rows } = layer;
    let kernelK = k;
    if (rows !== undefined) {
      if (!(rows instanceof Int32Array)) throw invalid('BAD_DTYPE', 'rows', 'an Int32Array', rows);
      kernelK = rows.length;
      checkWeightShape(kernelK, n, 'rows.length (the kernel rows)');
      if (!isPositiveInteger(k) || k > kernelK)
        throw invalid('BAD_SHAPE', 'inFeatures', `a positive integer at most the kernel rows (rows.length = ${kernelK})`, k);
      for (let i = 0; i < rows.length; i++)
        if (!(rows[i] >= -1 && rows[i] < k)) throw invalid('BAD_ARGUMENT', `rows[${i}]`, `an input row in 0..${k - 1}, or -1 (padding)`, rows[i]);
    } else {
      checkWeightShape(k, n);
    }
    const words = (kernelK * n * format.bits) / 32;
    if (!(layer.packedWeights instanceof Int32Array)) throw invalid('BAD_DTYPE', 'packedWeights', 'an Int32Array', layer.packedWeights);
    if (layer.packedWeights.length !== words)
      throw invalid('BAD_SHAPE', 'packedWeights', `${words} int32 words ([${kernelK / 16}, ${(n * format.bits) / 2}]: kernel rows / 16, outFeatures * bits / 2)`, layer.packedWeights);
    if (!(layer.packedScales instanceof Uint16Array))
      throw invalid('BAD_DTYPE', 'packedScales', `a Uint16Array of ${format.dtype} bit patterns`, layer.packedScales);
    const groups = scaleRows(kernelK, format.groupSize);
    if (format.groupSize !== -1 && kernelK % format.groupSize !== 0)
      throw invalid('BAD_SHAPE', rows === undefined ? 'inFeatures' : 'rows.length', `a multiple of the group size ${format.groupSize}`, kernelK);
    if (layer.packedScales.length !== groups * n)
      throw invalid('BAD_SHAPE', 'packedScales', `${groups * n} values ([${groups}, ${n}])`, layer.packedScales);
    if (layer.packedZeros !== undefined) {
      if (!(layer.packedZeros instanceof Int32Array)) throw invalid('BAD_DTYPE', 'packedZeros', 'an Int32Array', layer.packedZeros);
      const zeroWords = (groups * n) / 4;
      if (layer.packedZeros.length !== zeroWords)
        throw invalid('BAD_SHAPE', 'packedZeros', `${zeroWords} int32 words ([${groups}, ${n / 4}]: a byte per zero point)`, layer.packedZeros);
    }
    const device = options.device ?? Device.get(0);
    return new QuantizedLinear(device, layer, format, options.stream ?? device.stream);
  }

  private live(): void {
    if (this.disposed) throw new MarlinError('DISPOSED', 'this QuantizedLinear was disposed');
  }

  /** A live Stream on the layer's device. */
  private checkStream(stream: unknown): asserts stream is Stream {
    if (!(stream instanceof Stream)) throw invalid('BAD_ARGUMENT', 'stream', 'a Stream', stream);
    if (stream.disposed) throw new MarlinError('DISPOSED', 'the stream was disposed');
    if (stream.device.index !== this.device.index)
      throw new MarlinError('BAD_ARGUMENT', `the stream is on device ${stream.device.index} but the layer on device ${this.device.index}`);
  }

  private checkTensor(t: unknown, name: string, rows: number | undefined, cols: number): DeviceTensor<ActivationDType> {
    if (!(t instanceof DeviceTensor)) throw invalid('BAD_ARGUMENT', name, 'a DeviceTensor', t);
    if (t.dtype !== this.format.dtype)
      throw invalid('BAD_DTYPE', name, `a ${this.format.dtype} tensor (the layer is ${describeFormat(this.format)})`, t.describe());
    if (t.shape.length !== 2 || (rows !== undefined && t.shape[0] !== rows) || t.shape[1] !== cols)
      throw invalid('BAD_SHAPE', name, `a [${rows ?? 'm'}, ${cols}] tensor`, `[${t.shape.join(', ')}]`);
    if (t.device.index !== this.device.index)
      throw new MarlinError('BAD_ARGUMENT', `${name} is on device ${t.device.index} but the layer on device ${this.device.index}`);
    return t as DeviceTensor<ActivationDType>;
  }

  /**
   * Queues y = x W on the stream and returns y ([m, outFeatures], the layer's dtype).
   * Returns as soon as the work is queued; read y with `await y.toHost()`.
   * Every argument is checked before anything is queued.
   */
  forward(x: DeviceTensor<ActivationDType>, options: ForwardOptions = {}): DeviceTensor<ActivationDType> {
    // The hot path: the same x, out and stream as the call that bound them,
    // every one live, the stream's workspace unchanged. It skips checks that
    // passed then and cannot fail now (shapes and types do not change), and
    // runs the native call checked then.
    const b = this.bound;
    if (
      b !== undefined &&
      x === b.x &&
      options.out === b.out &&
      (options.stream ?? this.device.stream) === b.stream &&
      plainRun(options) &&
      !this.disposed &&
      !x.disposed &&
      !b.out.disposed &&
      !b.stream.disposed &&
      b.stream.workspace === b.workspace
    ) {
      callNative(() => b.call.run());
      return b.out;
    }
    this.live();
    this.checkTensor(x, 'x', undefined, this.inFeatures);
    const m = x.shape[0];
    if (x.disposed) throw new MarlinError('DISPOSED', 'x was disposed');
    const stream = options.stream ?? this.device.stream;
    this.checkStream(stream);
    const overrides = this.overridesFor(options);
    let out = options.out;
    if (out === undefined) {
      if (stream.capturing) throw new MarlinError('NOT_CAPTURABLE', 'forward() on a capturing stream needs options.out (it cannot allocate the output)');
      out = DeviceTensor.empty(this.device, [m, this.outFeatures], this.format.dtype);
    }
    const y = this.checkTensor(out, 'out', m, this.outFeatures);
    if (y.disposed) throw new MarlinError('DISPOSED', 'out was disposed');
    const { ws, scratch } = this.readyStream(stream, m, overrides?.maxPar);
    callNative(() => this.gemm.run(x.buffer, y.buffer, ws.buffer, stream.native, m, scratch?.buffer ?? null, overrides));
    if (options.out !== undefined && !this.actOrder && plainRun(options)) this.bindIfRepeated({ x, out: y, stream, workspace: ws }, m);
    else this.lastCall = this.bound = undefined;
    return y;
  }

  /**
   * Binds forward()'s native call to `call` when the previous call had the
   * same arguments (so a loop that alternates between buffers does not bind
   * on every call). A call that forward() did not run bound drops the
   * binding, so a layer holds on to the x and out of its last call only
   * (until the next call, or dispose()).
   */
  private bindIfRepeated(call: ForwardCall, m: number): void {
    const last = this.lastCall;
    if (last === undefined || last.x !== call.x || last.out !== call.out || last.stream !== call.stream || last.workspace !== call.workspace) {
      this.lastCall = call;
      this.bound = undefined;
      return;
    }
    const { x, out, stream, workspace } = call;
    this.bound = { ...call, call: callNative(() => this.gemm.bind(x.buffer, out.buffer, workspace.buffer, stream.native, m)) };
  }

  /**
   * Does now what the first forward() calls on `stream` with batches of up
   * to `maxBatch` rows would do once: allocates the stream's shared GEMM
   * workspace (and for act-order layers its gather buffer), orders the
   * stream after the layer's upload, and sets up every kernel those batch
   * sizes can use (their shared-memory opt-in, which also loads them where
   * CUDA loads kernels lazily). Queues nothing. Needed before forward()
   * calls are captured into a graph (stream.capture), which cannot
   * allocate; elsewhere it takes that cost out of the first calls.
   */
  reserve(options: { maxBatch: number; stream?: Stream; maxPar?: number }): void {
    this.live();
    if (!isObject(options)) throw invalid('BAD_ARGUMENT', 'options', 'an object { maxBatch, stream?, maxPar? }', options);
    const { maxBatch } = options;
    if (!isPositiveInteger(maxBatch)) throw invalid('BAD_ARGUMENT', 'maxBatch', 'a positive integer', maxBatch);
    const stream = options.stream ?? this.device.stream;
    this.checkStream(stream);
    const overrides = nativeOverrides({ maxPar: options.maxPar });
    this.readyStream(stream, maxBatch, overrides?.maxPar);
    callNative(() => this.gemm.prepareKernels(maxBatch, overrides));
  }

  /**
   * Pays now, on scratch buffers, the one-time costs of the first forward()
   * calls of 1 to `maxBatch` rows on `stream` with the given forward()
   * options: reserve()'s, then one call for each kernel those batches use
   * (warmupBatches(): the first launch and the first run of each kernel, and
   * the first run of forward()'s own code, which is most of a process's first
   * GEMM). The calls run one at a time, each waited for and its scratch
   * (an x and an output of its batch) freed before the next, so the memory
   * it needs is one batch's. For a server's start-up: it makes one plan per
   * batch size up to maxBatch, a host cost that grows with it. The layer's
   * weights and results are untouched; the binding of repeated calls starts
   * over. Resolves to the batch sizes it ran; rejects with what forward()
   * would throw for the options (at the first call that fails; the calls
   * before it have run), and with NOT_CAPTURABLE on a capturing stream.
   */
  async warmup(options: WarmupOptions): Promise<number[]> {
    this.live();
    if (!isObject(options)) throw invalid('BAD_ARGUMENT', 'options', 'an object { maxBatch, stream?, ...forward() options }', options);
    const { maxBatch, stream: given, ...run } = options;
    const stream = given ?? this.device.stream;
    this.checkStream(stream);
    if (stream.capturing) throw new MarlinError('NOT_CAPTURABLE', 'warmup() runs GEMMs and waits for them: not on a capturing stream');
    const batches = warmupBatches(maxBatch, (m) => this.plan(m, run)); // checks maxBatch and the options first
    this.reserve({ maxBatch, stream, maxPar: run.maxPar });
    // One call at a time, each waited for and its scratch freed before the
    // next: the largest batches of a wide layer need hundreds of MB each.
    for (const m of batches) await this.warmupCall(m, run, stream);
    return batches;
  }

  /** warmup()'s call of `m` rows on zeroed scratch buffers; waits for it, frees them, then throws the first error. */
  private async warmupCall(m: number, run: RunOptions, stream: Stream): Promise<void> {
    const scratch: DeviceTensor<ActivationDType>[] = [];
    let failure: { error: unknown } | undefined; // the first thrown, as it was thrown
    try {
      const x = DeviceTensor.empty(this.device, [m, this.inFeatures], this.format.dtype);
      scratch.push(x);
      const out = DeviceTensor.empty(this.device, [m, this.outFeatures], this.format.dtype);
      scratch.push(out);
      x.fill(0, stream);
      this.forward(x, { ...run, out, stream });
    } catch (error) {
      failure = { error };
    }
    // Forget the scratch call now (a binding the caller makes during the wait
    // stays); free the scratch only once the stream is past the call.
    this.lastCall = this.bound = undefined;
    try {
      await stream.synchronize();
    } catch (error) {
      failure ??= { error };
    }
    for (const t of scratch) t.dispose();
    if (failure !== undefined) throw failure.error;
  }

  /**
   * What a call of `rows` rows on `stream` needs there: the stream's shared
   * workspace (grown for maxPar), an act-order layer's gather buffer, and
   * the stream ordered after the layer's upload.
   */
  private readyStream(stream: Stream, rows: number, maxPar: number | undefined): { ws: DeviceTensor<'int32'>; scratch?: DeviceTensor<'int32'> } {
    const ws = workspaceFor(stream, this.workspaceBytesFor(maxPar));
    const scratch = this.actOrder ? scratchFor(stream, rows * this.kernelK * 2) : undefined;
    this.orderAfterUpload(stream);
    return { ws, scratch };
  }

  private workspaceBytesFor(maxPar: number | undefined): number {
    if (maxPar === undefined || maxPar === DEFAULT_MAX_PAR) return this.workspaceBytes;
    let bytes = this.otherWorkspaceBytes.get(maxPar);
    if (bytes === undefined) {
      bytes = callNative(() => native.workspaceBytes(this.outFeatures, maxPar, this.device.multiProcessorCount));
      this.otherWorkspaceBytes.set(maxPar, bytes);
    }
    return bytes;
  }

  /** The native overrides of a call: the caller's, or batch invariance's fixed tile and maxPar 1. */
  private overridesFor(options: RunOptions): ReturnType<typeof nativeOverrides> {
    if (!options.batchInvariant) return nativeOverrides(options);
    if (
      options.tile !== undefined ||
      options.maxPar !== undefined ||
      options.family !== undefined ||
      options.splits !== undefined ||
      options.streamK !== undefined
    )
      throw new MarlinError(
        'BAD_ARGUMENT',
        'batchInvariant fixes the family, tile and maxPar itself: do not pass family, splits, streamK, tile or maxPar with it',
      );
    if (this.invariantTile === undefined) {
      // The mma family's tile for one row, whatever family a table's `choose` entries give one row (the decode
      // family runs 8 rows at most: it could not keep one summation order at every batch size).
      const { tileK, tileN } = callNative(() =>
        this.gemm.plan(1, nativeOverrides({ stages: options.stages, sms: options.sms, family: 'mma' })),
      );
      this.invariantTile = { tileK, tileN };
    }
    return nativeOverrides({ ...options, tile: this.invariantTile, maxPar: 1 });
  }

  /** Makes `stream` wait for the layer's upload, once per stream other than the upload's. */
  private orderAfterUpload(stream: Stream): void {
    if (stream === this.uploadStream || this.ordered.has(stream)) return;
    if (stream.capturing) {
      // A capturing stream cannot wait for work outside the capture; capture()
      // ordered it after the default stream, which covers uploads queued there before.
      if (this.uploadStream === this.device.stream && this.serial < stream.orderedBefore) {
        this.ordered.add(stream);
        return;
      }
      throw new MarlinError(
        'NOT_CAPTURABLE',
        'this layer was uploaded on another stream than the default one, and the capturing stream is not yet ordered after that upload: call layer.reserve({ maxBatch, stream }) before capturing',
      );
    }
    stream.waitFor(this.uploaded);
    this.ordered.add(stream);
  }

  /**
   * @internal For the bench's --overhead: host ns per launch of this layer's
   * GEMM kernel for x, launched `calls` times straight from C++ (no JS, no
   * checks), on `stream`; `whole`: per call of the C++ launcher (checks,
   * plan, launch) instead. `out` must be [m, n].
   */
  bareLaunchNs(x: DeviceTensor<ActivationDType>, out: DeviceTensor<ActivationDType>, calls: number, stream: Stream = this.device.stream, whole = false): number {
    this.live();
    const m = x.shape[0];
    const { ws, scratch } = this.readyStream(stream, m, undefined);
    return callNative(() => this.gemm.timeBareLaunches(x.buffer, out.buffer, ws.buffer, stream.native, m, scratch?.buffer ?? null, undefined, calls, whole));
  }

  /** How forward() would run a batch of m rows with these options (tile, depth, row blocks, launches). */
  plan(m: number, options: RunOptions = {}): KernelPlan {
    this.live();
    if (!Number.isSafeInteger(m) || m < 0) throw invalid('BAD_SHAPE', 'm', 'a non-negative integer', m);
    const overrides = this.overridesFor(options);
    return callNative(() => this.gemm.plan(m, overrides));
  }

  /**
   * The layer's weights as [inFeatures, outFeatures] row-major values in its dtype, dequantized
   * on the GPU: (q - z) * scale rounded once (for dense baselines and checks),
   * rows in input order (act-order undone).
   */
  dequantizeWeights(options: { out?: DeviceTensor<ActivationDType>; stream?: Stream } = {}): DeviceTensor<ActivationDType> {
    this.live();
    const out = options.out ?? DeviceTensor.empty(this.device, [this.inFeatures, this.outFeatures], this.format.dtype);
    this.checkTensor(out, 'out', this.inFeatures, this.outFeatures);
    const stream = options.stream ?? this.device.stream;
    if (this.actOrder) out.fill(0, stream); // rows no kernel row maps to are zero
    this.orderAfterUpload(stream);
    callNative(() => this.gemm.dequantize(out.buffer, stream.native));
    return out;
  }

  /** Frees weights, scales, zero points and row order. Safe to call twice. */
  dispose(): void {
    this.disposed = true;
    this.lastCall = undefined;
    this.bound = undefined;
    this.uploaded.dispose();
    this.weights.dispose();
    this.scales.dispose();
    this.zeros?.dispose();
    this.scaledZeros?.dispose();
    this.rows?.dispose();
  }

  /** dispose(), for `using`. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}
