/**
 * QuantizedLinear: a 4-bit linear layer on the GPU. It holds the packed
 * weights, the scales and a lock workspace per stream; forward(x) picks the
 * kernel tile for the batch size and queues the GEMM.
 */
import { Device, DeviceTensor, Stream } from './device';
import { MarlinError, callNative } from './errors';
import { packScales, packWeights } from './layout';
import { native, type VariantInfo } from './native';
import { quantize, type QuantizedWeights } from './quantize';
import { selectTile, type Tile } from './select';
import { type GroupSize, checkGroupSize, checkWeightShape, scaleRows } from './shapes';
import { invalid, isPositiveInteger } from './validate';

/** Default number of 64-row problems one launch runs side by side when m > 64. */
export const DEFAULT_MAX_PAR = 16;

let variantCache: readonly VariantInfo[] | undefined;
let tileCache: Map<string, Tile> | undefined;

/** The kernel variants compiled into the addon. */
export function compiledVariants(): readonly VariantInfo[] {
  variantCache ??= Object.freeze(callNative(() => native.variants()));
  return variantCache;
}

function tilesByKey(): Map<string, Tile> {
  if (!tileCache) {
    tileCache = new Map();
    for (const v of compiledVariants()) tileCache.set(`${v.tileK}x${v.tileN}`, Object.freeze({ tileK: v.tileK, tileN: v.tileN }));
  }
  return tileCache;
}

/** The distinct block tiles compiled into the addon. */
export function compiledTiles(): Tile[] {
  return [...tilesByKey().values()];
}

/**
 * The stream's GEMM workspace, grown to fit n and maxPar: zeroed counters and
 * one partial-sum slot per SM. Every layer on a stream shares it (calls on a
 * stream run one after another, and each call leaves the counters zeroed),
 * so a model of hundreds of layers needs one, not hundreds.
 */
function workspaceFor(stream: Stream, n: number, maxPar: number): DeviceTensor<'int32'> {
  const device = stream.device;
  const bytes = callNative(() => native.workspaceBytes(n, maxPar, device.multiProcessorCount));
  const current = stream.workspace;
  if (current && !current.disposed && current.byteLength >= bytes) return current;
  current?.dispose(); // waits for queued work that still uses it
  const grown = DeviceTensor.empty(device, [Math.ceil(Math.max(bytes, (current?.byteLength ?? 0) * 1.5) / 16) * 4], 'int32');
  grown.fill(0, stream);
  stream.workspace = grown;
  return grown;
}

export interface ForwardOptions {
  /** Output tensor [m, n] float16 to write; a new one is allocated otherwise. */
  out?: DeviceTensor<'float16'>;
  /** Stream to queue the GEMM on (default: the device's stream). */
  stream?: Stream;
  /** Force a block tile instead of the kernel table's choice. */
  tile?: Tile;
  /** Thread blocks per launch (default: one per SM). */
  sms?: number;
  /** 64-row problems per launch when m > 64 (default 16). */
  maxPar?: number;
  /** Pipeline depth to run (one of compiledVariants()' stages); default: the deepest that fits the GPU. */
  stages?: number;
}

export interface PackedLayer {
  /** [k / 16, 2n] int32 words in the Marlin layout. */
  packedWeights: Int32Array;
  /** [k / 128, n] (or [1, n] per-channel) FP16 bit patterns in the Marlin order. */
  packedScales: Uint16Array;
  inFeatures: number;
  outFeatures: number;
  groupSize: GroupSize;
}

export class QuantizedLinear {
  readonly device: Device;
  /** k */
  readonly inFeatures: number;
  /** n */
  readonly outFeatures: number;
  readonly groupSize: GroupSize;
  /** Packed weights, int32 [k / 16, 2n]. */
  readonly weights: DeviceTensor<'int32'>;
  /** Scales in the Marlin order, float16 [k / 128 or 1, n]. */
  readonly scales: DeviceTensor<'float16'>;
  private disposed = false;

  private constructor(device: Device, layer: PackedLayer, stream: Stream) {
    const { inFeatures: k, outFeatures: n, groupSize } = layer;
    this.device = device;
    this.inFeatures = k;
    this.outFeatures = n;
    this.groupSize = groupSize;
    this.weights = DeviceTensor.from(device, layer.packedWeights, [k / 16, 2 * n], 'int32', stream);
    try {
      this.scales = DeviceTensor.from(device, layer.packedScales, [scaleRows(k, groupSize), n], 'float16', stream);
    } catch (error) {
      this.weights.dispose();
      throw error;
    }
  }

  /**
   * Quantizes [k, n] row-major weights (y = x W) to 4 bits with RTN, packs
   * them and uploads them.
   */
  static fromWeights(
    weights: ArrayLike<number>,
    inFeatures: number,
    outFeatures: number,
    options: { groupSize?: GroupSize; device?: Device; stream?: Stream } = {},
  ): QuantizedLinear {
    checkWeightShape(inFeatures, outFeatures);
    const groupSize = checkGroupSize(options.groupSize ?? 128);
    return QuantizedLinear.fromQuantized(quantize(weights, inFeatures, outFeatures, groupSize), options);
  }

  /** Packs and uploads already-quantized weights (see quantize()). */
  static fromQuantized(quantized: QuantizedWeights, options: { device?: Device; stream?: Stream } = {}): QuantizedLinear {
    const { k, n, groupSize } = quantized;
    checkWeightShape(k, n);
    return QuantizedLinear.fromPacked(
      {
        packedWeights: packWeights(quantized.q, k, n),
        packedScales: packScales(quantized.scales, k, n, groupSize),
        inFeatures: k,
        outFeatures: n,
        groupSize,
      },
      options,
    );
  }

  /** Uploads weights and scales already in the Marlin format (e.g. from the reference Marlin tools). */
  static fromPacked(layer: PackedLayer, options: { device?: Device; stream?: Stream } = {}): QuantizedLinear {
    const { inFeatures: k, outFeatures: n } = layer;
    checkWeightShape(k, n);
    const groupSize = checkGroupSize(layer.groupSize);
    if (!(layer.packedWeights instanceof Int32Array))
      throw invalid('BAD_DTYPE', 'packedWeights', 'an Int32Array', layer.packedWeights);
    if (layer.packedWeights.length !== (k * n) / 8)
      throw invalid('BAD_SHAPE', 'packedWeights', `${(k * n) / 8} int32 words ([k/16=${k / 16}, 2n=${2 * n}])`, layer.packedWeights);
    if (!(layer.packedScales instanceof Uint16Array))
      throw invalid('BAD_DTYPE', 'packedScales', 'a Uint16Array of FP16 bit patterns', layer.packedScales);
    const rows = scaleRows(k, groupSize);
    if (layer.packedScales.length !== rows * n)
      throw invalid('BAD_SHAPE', 'packedScales', `${rows * n} values ([${rows}, ${n}])`, layer.packedScales);
    const device = options.device ?? Device.get(0);
    return new QuantizedLinear(device, { ...layer, groupSize }, options.stream ?? device.stream);
  }

  /**
   * Queues y = x W on the stream and returns y ([m, n] float16). Returns as
   * soon as the work is queued; read y with `await y.toHost()`.
   */
  forward(x: DeviceTensor<'float16'>, options: ForwardOptions = {}): DeviceTensor<'float16'> {
    if (this.disposed) throw new MarlinError('DISPOSED', 'this QuantizedLinear was disposed');
    if (!(x instanceof DeviceTensor)) throw invalid('BAD_ARGUMENT', 'x', 'a DeviceTensor', x);
    if (x.dtype !== 'float16') throw invalid('BAD_DTYPE', 'x', 'a float16 tensor', x.describe());
    if (x.shape.length !== 2 || x.shape[1] !== this.inFeatures)
      throw invalid('BAD_SHAPE', 'x', `a [m, ${this.inFeatures}] tensor`, `[${x.shape.join(', ')}]`);
    if (x.device.index !== this.device.index)
      throw new MarlinError('BAD_ARGUMENT', `x is on device ${x.device.index} but the layer on device ${this.device.index}`);
    const m = x.shape[0];
    const n = this.outFeatures;
    const k = this.inFeatures;
    const stream = options.stream ?? this.device.stream;
    const maxPar = options.maxPar ?? DEFAULT_MAX_PAR;
    if (!isPositiveInteger(maxPar) || maxPar > 64) throw invalid('BAD_ARGUMENT', 'maxPar', 'an integer in 1..64', maxPar);
    const sms = options.sms ?? 0;
    if (!Number.isSafeInteger(sms) || sms < 0) throw invalid('BAD_ARGUMENT', 'sms', 'a non-negative integer (0 = all SMs)', sms);
    const stages = options.stages ?? 0;
    if (stages !== 0 && !compiledVariants().some((v) => v.stages === stages))
      throw invalid('BAD_ARGUMENT', 'stages', `one of ${[...new Set(compiledVariants().map((v) => v.stages))].join(', ')}`, stages);
    const out = options.out ?? DeviceTensor.empty(this.device, [m, n], 'float16');
    if (out.dtype !== 'float16') throw invalid('BAD_DTYPE', 'out', 'a float16 tensor', out.describe());
    if (out.shape.length !== 2 || out.shape[0] !== m || out.shape[1] !== n)
      throw invalid('BAD_SHAPE', 'out', `a [${m}, ${n}] tensor`, `[${out.shape.join(', ')}]`);
    if (m === 0) return out;
    const tile = options.tile ?? selectTile(m, n, this.device.arch);
    if (!tilesByKey().has(`${tile.tileK}x${tile.tileN}`))
      throw invalid(
        'BAD_ARGUMENT',
        'tile',
        `one of ${compiledTiles().map((t) => `${t.tileK}x${t.tileN}`).join(', ')}`,
        `${tile.tileK}x${tile.tileN}`,
      );
    const ws = workspaceFor(stream, n, maxPar);
    callNative(() =>
      native.gemm(
        x.buffer, 0,
        this.weights.buffer, 0,
        this.scales.buffer, 0,
        out.buffer, 0,
        ws.buffer, 0,
        stream.native,
        m, n, k, this.groupSize,
        tile.tileK, tile.tileN, sms, maxPar, stages,
      ),
    );
    return out;
  }

  /**
   * The layer's weights as FP16 [k, n] row-major, dequantized on the GPU:
   * (q - 8) * scale rounded once to FP16 (for FP16 baselines and checks).
   */
  dequantizeWeights(options: { out?: DeviceTensor<'float16'>; stream?: Stream } = {}): DeviceTensor<'float16'> {
    if (this.disposed) throw new MarlinError('DISPOSED', 'this QuantizedLinear was disposed');
    const k = this.inFeatures;
    const n = this.outFeatures;
    const out = options.out ?? DeviceTensor.empty(this.device, [k, n], 'float16');
    if (out.dtype !== 'float16' || out.shape.length !== 2 || out.shape[0] !== k || out.shape[1] !== n)
      throw invalid('BAD_SHAPE', 'out', `a float16 [${k}, ${n}] tensor`, out.describe());
    const stream = options.stream ?? this.device.stream;
    callNative(() =>
      native.dequantizeWeights(this.weights.buffer, 0, this.scales.buffer, 0, out.buffer, 0, stream.native, k, n, this.groupSize),
    );
    return out;
  }

  /** Frees weights and scales. Safe to call twice. */
  dispose(): void {
    this.disposed = true;
    this.weights.dispose();
    this.scales.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
