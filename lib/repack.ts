/**
 * The repack: a GPTQ or AWQ layer's stored qweight words straight into the
 * Marlin layout, without unpacking q on the CPU. Policy here, work in the
 * native repack (csrc/kernels/repack.cu):
 *  - the layer is planned exactly as packQuantized() plans it (planLayer:
 *    the same checks, the same act-order kernel rows and groups), and its
 *    scales and zero points, one row per group, are packed on the CPU by
 *    the same loops (packGroupColumns);
 *  - the weights, nearly all of the bytes, are repacked by the kernel on
 *    the GPU (repackToDevice), or by the kernel's own tile functions on the
 *    CPU (repackOnHost: for tests and checks).
 * Either way the result is, bit for bit, packQuantized(gptqToQuantized(...))
 * (or of awqToQuantized): the CPU tests compare the two for every format.
 */
import type { CheckpointLayer } from './checkpoint/tensors';
import { type Device, DeviceTensor, type Stream } from './device';
import { callNative } from './errors';
import { type NativeRepackSizes, native } from './native';
import { type LayerPlan, type PackedLayer, packFindingError, packGroupColumns, packedLengths, planLayer } from './pack-layer';
import { invalid } from './validate';

/** A layer planned for the repack: its kernel plan, packed scales and zero points, and the kernel's sizes. */
export interface RepackPlan {
  /** The checkpoint layer planned (its qweight words are what the repack reads). */
  layer: CheckpointLayer;
  /** @internal the kernel rows and groups (pack-layer.ts) */
  plan: LayerPlan;
  /** [groups, outFeatures] scale bit patterns in the Marlin order (PackedLayer.packedScales). */
  packedScales: Uint16Array;
  /** [groups, outFeatures / 4] packed zero points, a byte each; absent: symmetric. */
  packedZeros?: Int32Array;
  /** @internal the repack kernel's descriptor (the addon's) */
  sizes: NativeRepackSizes;
}

/** Plans a checkpoint layer and packs its scales and zero points (the checks and errors of packQuantized). */
export function planRepack(layer: CheckpointLayer): RepackPlan {
  const { inFeatures: k, outFeatures: n, groupSize, bits, dtype, zeros, gIdx, scales } = layer;
  // The converters keep exactly the groups the rows use, so this is the count packQuantized derives from gIdx or k.
  const groups = scales.length / n;
  const plan = planLayer({ k, n, groupSize, bits, dtype, zeroPoints: zeros !== undefined, gIdx, groups });
  // fromPacked's check, which the CPU path meets after packing (a short last group without act-order).
  if (groupSize !== -1 && plan.kernelK % groupSize !== 0) throw invalid('BAD_SHAPE', 'inFeatures', `a multiple of the group size ${groupSize}`, plan.kernelK);
  const lengths = packedLengths(plan);
  const packedScales = new Uint16Array(lengths.scales);
  const packedZeros = zeros ? new Int32Array(lengths.zeros) : undefined;
  const finding = packGroupColumns(plan, { scales, zeros, stride: n, col0: 0 }, { packedScales, packedZeros, stride: n, col0: 0 }, 0, n);
  if (finding) throw packFindingError(finding, bits);
  const sizes: NativeRepackSizes = {
    layout: layer.layout,
    bits,
    inputK: k,
    k: plan.kernelK,
    n,
    // Padding rows (act-order) take the zero point of their kernel group.
    groupRows: groupSize === -1 ? plan.kernelK : groupSize,
  };
  return { layer, plan, packedScales, packedZeros, sizes };
}

/** The PackedLayer of a plan, given its packed weights. */
function packedLayer(r: RepackPlan, packedWeights: Int32Array): PackedLayer {
  const { inFeatures, outFeatures, groupSize, bits, dtype } = r.layer;
  const out: PackedLayer = { packedWeights, packedScales: r.packedScales, inFeatures, outFeatures, groupSize, bits, dtype };
  if (r.packedZeros) out.packedZeros = r.packedZeros;
  if (r.plan.rows) out.rows = r.plan.rows;
  return out;
}

/** Repacks a checkpoint layer on the CPU with the kernel's own tile functions (needs the addon, not a GPU). */
export function repackOnHost(layer: CheckpointLayer): PackedLayer {
  const r = planRepack(layer);
  const words = callNative(() =>
    native.repackWeightsOnHost({ ...r.sizes, source: layer.qweight, rows: r.plan.rows ?? null, zeros: r.packedZeros ?? null }),
  );
  return packedLayer(r, words);
}

/**
 * A device buffer for the source words, kept between layers (a whole-model
 * load repacks hundreds of layers: one buffer, grown to the largest, instead
 * of an allocation and a synchronizing free per layer). Work on one stream
 * only: a layer's upload into it waits, in stream order, for the previous
 * layer's repack.
 */
export class RepackScratch {
  private tensor: DeviceTensor<'int32'> | undefined;

  /**
   * At least `words` int32 words on `device`, the same buffer while it is
   * large enough (a smaller one is freed: cudaFree waits for work that uses it).
   */
  take(device: Device, words: number): DeviceTensor<'int32'> {
    if (this.tensor && !this.tensor.disposed && this.tensor.device === device && this.tensor.length >= words) return this.tensor;
    this.tensor?.dispose();
    this.tensor = undefined;
    this.tensor = DeviceTensor.empty(device, [Math.max(words, 1)], 'int32');
    return this.tensor;
  }

  /** Frees the device buffer (after queued work that uses it). Safe to call twice. */
  dispose(): void {
    this.tensor?.dispose();
    this.tensor = undefined;
  }

  /** dispose(), for `using`. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** The device side of a repacked layer: what QuantizedLinear adopts. */
export interface DeviceRepacked {
  weights: DeviceTensor<'int32'>;
  zeros?: DeviceTensor<'int32'>;
  rows?: DeviceTensor<'int32'>;
}

/**
 * Queues the repack of a planned layer on `stream`: the qweight words are
 * uploaded (into `scratch` if given, else a temporary buffer freed once the
 * kernel is done; with `sourceUploaded` they are in `scratch` already), the zero points and act-order rows too (the kernel pads
 * from them, and the layer keeps them), and the kernel writes the packed
 * weights into a new tensor. On failure nothing stays allocated.
 */
export function repackToDevice(r: RepackPlan, device: Device, stream: Stream, scratch?: RepackScratch, sourceUploaded = false): DeviceRepacked {
  const { plan, sizes } = r;
  const { qweight } = r.layer;
  const owned: DeviceTensor[] = [];
  const own = <T extends DeviceTensor>(t: T): T => {
    owned.push(t);
    return t;
  };
  try {
    let source: DeviceTensor<'int32'>;
    if (scratch) {
      source = scratch.take(device, qweight.length);
      // sourceUploaded: the caller has queued the words into scratch already (in pieces, on `stream`).
      if (!sourceUploaded) callNative(() => source.buffer.upload(qweight, 0, stream.native));
    } else {
      source = own(DeviceTensor.from(device, qweight, [qweight.length], 'int32', stream));
    }
    const weights = own(DeviceTensor.empty(device, [plan.kernelK / 16, (plan.n * plan.format.bits) / 2], 'int32'));
    const zeros = r.packedZeros ? own(DeviceTensor.from(device, r.packedZeros, [plan.kernelGroups, plan.n / 4], 'int32', stream)) : undefined;
    const rows = plan.rows ? own(DeviceTensor.from(device, plan.rows, [plan.kernelK], 'int32', stream)) : undefined;
    callNative(() =>
      native.repackWeights({ ...sizes, source: source.buffer, out: weights.buffer, rows: rows?.buffer ?? null, zeros: zeros?.buffer ?? null }, stream.native),
    );
    if (!scratch) source.dispose();
    const out: DeviceRepacked = { weights };
    if (zeros) out.zeros = zeros;
    if (rows) out.rows = rows;
    return out;
  } catch (error) {
    for (const t of owned) t.dispose();
    throw error;
  }
}
