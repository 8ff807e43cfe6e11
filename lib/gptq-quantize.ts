/**
 * RTN quantization of a float checkpoint's linear weights straight into the
 * tensors of a GPTQ checkpoint (docs/formats.md, "GPTQ", where inFeatures
 * is k and outFeatures n): qweight I32 [inFeatures / pf, outFeatures]
 * packed along the input features, qzeros I32 [groups, outFeatures / pf],
 * scales [groups, outFeatures], g_idx I32 [inFeatures], with pf = 32 /
 * bits. The weights come as checkpoints store them, [outFeatures,
 * inFeatures] 16-bit bit patterns (nn.Linear's orientation, layout
 * 'out-in'), and nothing is transposed on the host. The dimension
 * arguments come in quantize()'s order: inFeatures, then outFeatures.
 *
 * The numbers are quantize()'s (lib/rtn.ts is the rule; csrc/kernels/
 * rtn.cuh repeats its arithmetic): gptqQuantizeOnGpu() and GptqQuantizer
 * run it on the GPU, gptqQuantizeOnHost() runs the same native code on the
 * CPU (tests, small layers). A weight that is not finite, or a scale the
 * scale type cannot hold, throws the MarlinError quantize() would throw
 * for the same weights given with layout 'out-in'.
 *
 * What this module decides (policy stays in TS): the shape rules, the
 * zero-point convention of the qzeros words (v1 by default, zero points
 * stored minus one, as checkpoint_format "gptq" readers expect), the scale
 * type (FP16 by default, what GPTQ checkpoints carry).
 */
import type { GptqZeroConvention } from './checkpoint/config';
import { v1ZeroOffset } from './checkpoint/gptq';
import { Device, type Stream } from './device';
import { MarlinError, awaitNative, callNative } from './errors';
import { type ActivationDType, checkActivationDType } from './formats';
import { fromHalves } from './fp16';
import { native, type NativeDeviceBuffer, type NativeGptqBuffers, type NativeGptqProblem } from './native';
import { findingError, rowGroups } from './quantize';
import { type RowSource, quantizeColumns } from './rtn';
import { type GroupSize, type WeightBits, checkBits, checkGroupSize, scaleRows } from './shapes';
import { invalid, isObject } from './validate';

/** How gptqQuantizeOnGpu(), gptqQuantizeOnHost() and GptqQuantizer quantize: the format of the GPTQ tensors written. */
export interface GptqQuantizeOptions {
  /** Bits per weight (default 4). */
  bits?: WeightBits;
  /** Input features per scale group, or -1 for one group per output feature (default 128). */
  groupSize?: GroupSize;
  /** Min/max zero points (GPTQ sym: false) instead of symmetric (default false). */
  zeroPoints?: boolean;
  /** Type of the weights' bit patterns (default 'float16'). */
  inputDtype?: ActivationDType;
  /** Type of the scales written (default 'float16', what GPTQ checkpoints carry). */
  scaleDtype?: ActivationDType;
  /** How qzeros words hold zero points (default 'v1', checkpoint_format "gptq"). */
  zeroConvention?: GptqZeroConvention;
}

/** One layer's GPTQ tensors, as a checkpoint stores them (row-major). */
export interface GptqLayerTensors {
  /** Output features (rows of the [out, in] weights; columns of qweight). */
  outFeatures: number;
  /** Input features (columns of the [out, in] weights; packed into the rows of qweight). */
  inFeatures: number;
  /** Bits per weight (4 or 8). */
  bits: WeightBits;
  /** Input features per scale group, or -1 for one group per output feature. */
  groupSize: GroupSize;
  /** Type of the scales' bit patterns. */
  scaleDtype: ActivationDType;
  /** How the qzeros words hold the zero points ('v1': minus one, 'v2': as they are). */
  zeroConvention: GptqZeroConvention;
  /** [inFeatures / pf, outFeatures] */
  qweight: Int32Array;
  /** [groups, outFeatures / pf] */
  qzeros: Int32Array;
  /** [groups, outFeatures] bit patterns of scaleDtype. */
  scales: Uint16Array;
  /** `[inFeatures]`: input feature / groupSize (0 per-channel). */
  gIdx: Int32Array;
}

/** The shapes of a layer's GPTQ tensors (what a writer must reserve before the data exists). */
export function gptqTensorShapes(inFeatures: number, outFeatures: number, bits: WeightBits, groupSize: GroupSize): Record<'qweight' | 'qzeros' | 'scales' | 'g_idx', number[]> {
  const n = outFeatures;
  const k = inFeatures;
  const pf = 32 / bits;
  const groups = scaleRows(k, groupSize);
  return { qweight: [k / pf, n], qzeros: [groups, n / pf], scales: [groups, n], g_idx: [k] };
}

/** What the quantizer subtracts from each qzeros word: what the reader adds back (lib/checkpoint/gptq.ts), nothing for v2. */
export function gptqZeroWordOffset(bits: WeightBits, convention: GptqZeroConvention): number {
  return convention === 'v1' ? v1ZeroOffset(bits) : 0;
}

interface Checked {
  problem: NativeGptqProblem;
  bits: WeightBits;
  groupSize: GroupSize;
  scaleDtype: ActivationDType;
  zeroConvention: GptqZeroConvention;
}

/**
 * Why the weights cannot become GPTQ tensors, as a sentence, or undefined:
 * inFeatures must be a multiple of the group size, and inFeatures and
 * outFeatures of 32 / bits (whole qweight and qzeros words). Used before
 * reading any data.
 */
export function gptqShapeProblem(inFeatures: number, outFeatures: number, bits: WeightBits, groupSize: GroupSize): string | undefined {
  const pf = 32 / bits;
  if (groupSize !== -1 && inFeatures % groupSize !== 0) return `inFeatures ${inFeatures} is not a multiple of the group size ${groupSize}`;
  if (inFeatures % pf !== 0) return `inFeatures ${inFeatures} does not fill whole ${bits}-bit qweight words (${pf} rows each)`;
  if (outFeatures % pf !== 0) return `outFeatures ${outFeatures} does not fill whole ${bits}-bit qzeros words (${pf} columns each)`;
  return undefined;
}

/** Checks the arguments; the problem (the addon's descriptor) keeps k and n: k = inFeatures, n = outFeatures. */
function check(weights: unknown, outFeatures: number, inFeatures: number, options: GptqQuantizeOptions | undefined): Checked {
  const n = outFeatures;
  const k = inFeatures;
  const o = options ?? {};
  if (!isObject(o)) throw invalid('BAD_ARGUMENT', 'options', 'an options object', options);
  const bits = checkBits(o.bits ?? 4);
  const groupSize = checkGroupSize(o.groupSize ?? 128);
  const zeroPoints = o.zeroPoints ?? false;
  if (typeof zeroPoints !== 'boolean') throw invalid('BAD_ARGUMENT', 'zeroPoints', 'a boolean', zeroPoints);
  const inputDtype = checkActivationDType(o.inputDtype ?? 'float16', 'inputDtype');
  const scaleDtype = checkActivationDType(o.scaleDtype ?? 'float16', 'scaleDtype');
  const zeroConvention = o.zeroConvention ?? 'v1';
  if (zeroConvention !== 'v1' && zeroConvention !== 'v2') throw invalid('BAD_ARGUMENT', 'zeroConvention', "'v1' or 'v2'", zeroConvention);
  if (!Number.isSafeInteger(n) || n <= 0) throw invalid('BAD_SHAPE', 'outFeatures (rows of the [out, in] weights)', 'a positive integer', n);
  if (!Number.isSafeInteger(k) || k <= 0) throw invalid('BAD_SHAPE', 'inFeatures (columns of the [out, in] weights)', 'a positive integer', k);
  const problem = gptqShapeProblem(k, n, bits, groupSize);
  if (problem) throw new MarlinError('BAD_SHAPE', `Cannot write GPTQ tensors: ${problem}`);
  if (!(weights instanceof Uint16Array))
    throw invalid('BAD_DTYPE', 'weights', `a Uint16Array of ${inputDtype} bit patterns ([outFeatures, inFeatures], as checkpoints store a linear weight)`, weights);
  if (weights.length !== n * k) throw invalid('BAD_SHAPE', 'weights', `${n * k} values ([outFeatures ${n}, inFeatures ${k}])`, weights);
  return {
    problem: { n, k, inputDtype, scaleDtype, bits, groupSize, zeroPoints, zeroWordOffset: gptqZeroWordOffset(bits, zeroConvention) },
    bits,
    groupSize,
    scaleDtype,
    zeroConvention,
  };
}

/**
 * The error of a finding (badWeight: row * n + col, else badScale: group *
 * n + col): lib/rtn.ts run over that one column finds the same problem,
 * and findingError() words it as quantize() does. The first problem of the
 * whole matrix is the first of its column (a lower index in the column
 * would be lower overall), so the CPU's choice and the GPU's agree.
 */
function findingFailure(weights: Uint16Array, c: Checked, badWeight: number, badScale: number): MarlinError {
  const { n, k, inputDtype, zeroPoints } = c.problem;
  const col = (badWeight >= 0 ? badWeight : badScale) % n;
  // Column col of W [k, n] is row col of the [n, k] weights; seek(row) points array[offset + col] at W[row, col].
  const column = fromHalves(weights.subarray(col * k, (col + 1) * k), inputDtype);
  const rows: RowSource = {
    array: column,
    offset: 0,
    seek(row) {
      rows.offset = row - col;
    },
  };
  const { group, groups } = rowGroups(k, c.groupSize, undefined);
  const finding = quantizeColumns(
    rows,
    { k, n, bits: c.bits, zeroPoints, dtype: c.scaleDtype, group, groups },
    { q: new Uint8Array(k), scales: new Uint16Array(groups), zeros: zeroPoints ? new Uint8Array(groups) : undefined, stride: 1, col0: col },
    col,
    col + 1,
  );
  if (!finding)
    return new MarlinError('CUDA_ERROR', `the GPTQ quantizer reported a problem in column ${col} that lib/rtn.ts does not find there (weight ${badWeight}, scale ${badScale})`);
  return findingError(finding, n, c.scaleDtype, k);
}

function result(c: Checked, t: { qweight: Int32Array; qzeros: Int32Array; scales: Uint16Array; gIdx: Int32Array }): GptqLayerTensors {
  return {
    outFeatures: c.problem.n,
    inFeatures: c.problem.k,
    bits: c.bits,
    groupSize: c.groupSize,
    scaleDtype: c.scaleDtype,
    zeroConvention: c.zeroConvention,
    qweight: t.qweight,
    qzeros: t.qzeros,
    scales: t.scales,
    gIdx: t.gIdx,
  };
}

/**
 * Quantizes [outFeatures, inFeatures] weights (16-bit bit patterns, as
 * checkpoints store a linear weight) into GPTQ tensors on the CPU,
 * synchronously, with the GPU kernels' own per-group code (needs the
 * addon, not a GPU). The dimensions come inFeatures first, as in
 * quantize(); the weights are [outFeatures, inFeatures].
 */
export function gptqQuantizeOnHost(weights: Uint16Array, inFeatures: number, outFeatures: number, options?: GptqQuantizeOptions): GptqLayerTensors {
  const c = check(weights, outFeatures, inFeatures, options);
  const r = callNative(() => native.gptqQuantizeHost({ ...c.problem, weights }));
  if (r.badWeight >= 0 || r.badScale >= 0) throw findingFailure(weights, c, r.badWeight, r.badScale);
  return result(c, r);
}

/** Byte sizes of the device buffers of one problem (quantize.h GptqQuantizeOutputs). */
function bufferBytes(p: NativeGptqProblem): Record<keyof NativeGptqBuffers, number> {
  const pf = 32 / p.bits;
  const groups = scaleRows(p.k, p.groupSize as GroupSize);
  return {
    weights: p.n * p.k * 2,
    qweight: (p.k / pf) * p.n * 4,
    qzeros: groups * (p.n / pf) * 4,
    scales: groups * p.n * 2,
    gIdx: p.k * 4,
    zeros: groups * p.n,
    findings: 16,
  };
}

const NO_FINDING = 0xffffffffffffffffn;

/**
 * Quantizes layer after layer on one GPU, reusing its device buffers (they
 * grow to the largest layer seen). Calls run one at a time, in the order
 * made, each on the quantizer's stream; quantize() resolves with the
 * tensors in host memory. dispose() frees the device memory.
 */
export class GptqQuantizer {
  /** The GPU that runs the quantization (default device 0). */
  readonly device: Device;
  /** The quantizer's own stream, created on `device`, where every call runs. */
  readonly stream: Stream;
  private buffers: Partial<Record<keyof NativeGptqBuffers, NativeDeviceBuffer>> = {};
  private tail: Promise<unknown> = Promise.resolve();
  private disposed = false;

  /** A quantizer on `device` (default: device 0, which throws NO_GPU or NOT_BUILT when unusable), with a new stream of its own. */
  constructor(device: Device = Device.get(0)) {
    this.device = device;
    this.stream = device.createStream();
  }

  /** Quantizes [outFeatures, inFeatures] weights into GPTQ tensors on the GPU (see gptqQuantizeOnHost for the arguments). */
  quantize(weights: Uint16Array, inFeatures: number, outFeatures: number, options?: GptqQuantizeOptions): Promise<GptqLayerTensors> {
    if (this.disposed) return Promise.reject(new MarlinError('DISPOSED', 'the GptqQuantizer was disposed'));
    let c: Checked;
    try {
      c = check(weights, outFeatures, inFeatures, options);
    } catch (error) {
      return Promise.reject(error);
    }
    const run = this.tail.then(() => this.run(weights, c));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private buffer(name: keyof NativeGptqBuffers, bytes: number): NativeDeviceBuffer {
    const held = this.buffers[name];
    if (held && held.bytes >= bytes) return held;
    held?.dispose();
    this.buffers[name] = undefined;
    const fresh = callNative(() => new native.DeviceBuffer(this.device.index, bytes));
    this.buffers[name] = fresh;
    return fresh;
  }

  private async run(weights: Uint16Array, c: Checked): Promise<GptqLayerTensors> {
    if (this.disposed) throw new MarlinError('DISPOSED', 'the GptqQuantizer was disposed');
    const bytes = bufferBytes(c.problem);
    const b = {} as NativeGptqBuffers;
    for (const name of Object.keys(bytes) as Array<keyof NativeGptqBuffers>) b[name] = this.buffer(name, bytes[name]);
    const s = this.stream.native;
    callNative(() => b.weights.upload(weights, 0, s));
    callNative(() => native.gptqQuantize({ ...c.problem, ...b }, s));
    // Each download waits for the work queued before it; they run in order on the stream.
    const host = {
      qweight: new ArrayBuffer(bytes.qweight),
      qzeros: new ArrayBuffer(bytes.qzeros),
      scales: new ArrayBuffer(bytes.scales),
      gIdx: new ArrayBuffer(bytes.gIdx),
      findings: new ArrayBuffer(bytes.findings),
    };
    await Promise.all(
      (Object.keys(host) as Array<keyof typeof host>).map((name) => awaitNative(() => b[name].download(host[name], 0, s))),
    );
    const [badWeight, badScale] = new BigUint64Array(host.findings);
    if (badWeight !== NO_FINDING || badScale !== NO_FINDING)
      throw findingFailure(weights, c, badWeight === NO_FINDING ? -1 : Number(badWeight), badScale === NO_FINDING ? -1 : Number(badScale));
    return result(c, {
      qweight: new Int32Array(host.qweight),
      qzeros: new Int32Array(host.qzeros),
      scales: new Uint16Array(host.scales),
      gIdx: new Int32Array(host.gIdx),
    });
  }

  /** Frees the device buffers once the calls made so far have finished. Safe to call twice. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.tail;
    for (const b of Object.values(this.buffers)) b?.dispose();
    this.buffers = {};
    this.stream.dispose();
  }
}

/** Quantizes one layer's [outFeatures, inFeatures] weights into GPTQ tensors on a GPU (default device 0); see GptqQuantizer for many. */
export async function gptqQuantizeOnGpu(
  weights: Uint16Array,
  inFeatures: number,
  outFeatures: number,
  options?: GptqQuantizeOptions,
  device: Device = Device.get(0),
): Promise<GptqLayerTensors> {
  const quantizer = new GptqQuantizer(device);
  try {
    return await quantizer.quantize(weights, inFeatures, outFeatures, options);
  } finally {
    await quantizer.dispose();
  }
}
