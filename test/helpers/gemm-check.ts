/**
 * One GEMM checked against the float64 reference: random A and random
 * 4-bit weights and scales, output poisoned with NaN first, every element
 * checked to be written, and every element of the checked rows within the
 * per-element bound of format-reference.ts (so that one wrong element
 * fails, which a relative error over the whole output would hide).
 */
import { Device, DeviceTensor } from '../../lib/device';
import { fromHalf, toHalf } from '../../lib/fp16';
import { QuantizedLinear, type ForwardOptions } from '../../lib/linear';
import type { NativeGemm } from '../../lib/native';
import { type GroupSize } from '../../lib/shapes';
import { type ElementCheck, type FormatLayerData, boundFor, checkElements, describeCheck, referenceRows } from './format-reference';
import { nibbles, sampleRows, uniform } from './random';

/** Relative error over the checked rows that fails a check even when every element is within its bound. */
export const RELATIVE_TOLERANCE = 2e-3;

/** 4-bit symmetric weights as drawn: q (0..15, zero point 8) and the scales' values, [k, n]. */
export interface LayerWeights {
  q: Uint8Array;
  scales: Float32Array;
  k: number;
  n: number;
  groupSize: GroupSize;
}

export interface RandomLayer extends LayerWeights {
  layer: QuantizedLinear;
}

/** Random q and scales (both signs, magnitudes near 1/64, exact in FP16): the scales as their FP16 bits too. */
export function randomWeights(k: number, n: number, groupSize: GroupSize, random: () => number): LayerWeights & { halves: Uint16Array } {
  const q = nibbles(k * n, random);
  const rows = groupSize === -1 ? 1 : k / groupSize;
  const raw = uniform(rows * n, random, 1).map((v) => (Math.sign(v) || 1) * (0.5 + Math.abs(v)) / 64);
  const halves = toHalf(raw);
  return { q, scales: fromHalf(halves), halves, k, n, groupSize };
}

/** Random q and scales packed and uploaded. */
export function randomLayer(device: Device, k: number, n: number, groupSize: GroupSize, random: () => number): RandomLayer {
  const { q, scales, halves } = randomWeights(k, n, groupSize, random);
  const layer = QuantizedLinear.fromQuantized({ q, scales: halves, inFeatures: k, outFeatures: n, groupSize }, { device });
  return { layer, q, scales, k, n, groupSize };
}

const weightCache = new WeakMap<LayerWeights, Pick<FormatLayerData, 'w64' | 'absW'>>();

/** The float64 weights (q - 8) s and their magnitudes, [k, n] (computed once per layer). */
export function weights64(l: LayerWeights): Pick<FormatLayerData, 'w64' | 'absW'> {
  const cached = weightCache.get(l);
  if (cached) return cached;
  const { q, scales, k, n, groupSize } = l;
  const w64 = new Float64Array(k * n);
  const absW = new Float64Array(k * n);
  for (let row = 0; row < k; row++) {
    const g = groupSize === -1 ? 0 : Math.floor(row / groupSize);
    for (let col = 0; col < n; col++) {
      const w = (q[row * n + col] - 8) * scales[g * n + col];
      w64[row * n + col] = w;
      absW[row * n + col] = Math.abs(w);
    }
  }
  const data = { w64, absW };
  weightCache.set(l, data);
  return data;
}

export interface OutputCheck {
  check: ElementCheck;
  /** One line saying what is wrong; undefined when the output passes. */
  failure: string | undefined;
}

/**
 * Checks an FP16 output ([m, n] bit patterns) of x W: every element finite,
 * every element of `rows` (all when omitted) within the per-element bound
 * for the kernel's k, and their relative error under RELATIVE_TOLERANCE.
 */
export function checkOutput(l: LayerWeights, kernelK: number, x: ArrayLike<number>, m: number, output: Uint16Array, rows?: readonly number[]): OutputCheck {
  const which = rows ?? Array.from({ length: m }, (_, i) => i);
  const { ref, absSum } = referenceRows(x, weights64(l), l.k, l.n, which);
  const bound = boundFor({ dtype: 'float16', bits: 4, groupSize: l.groupSize, zeroPoints: false }, kernelK);
  const check = checkElements(fromHalf(output), l.n, which, ref, absSum, bound);
  const ok = check.violations === 0 && check.nonFinite === 0 && check.relError < RELATIVE_TOLERANCE;
  return { check, failure: ok ? undefined : describeCheck(check) };
}

export interface CheckResult extends OutputCheck {
  output: Uint16Array;
  rowsChecked: number;
}

/**
 * Runs y = x W for a random x of m rows and checks it against float64
 * (checkOutput). `rows`: how many rows to check against the reference
 * (all when omitted; else first, last and random ones); every element is
 * always checked to be finite.
 */
export async function checkGemm(
  device: Device,
  l: RandomLayer,
  m: number,
  random: () => number,
  options: ForwardOptions & { rows?: number } = {},
): Promise<CheckResult> {
  const { k, n } = l;
  const aHalf = toHalf(uniform(m * k, random));
  using x = DeviceTensor.from(device, aHalf, [m, k], 'float16');
  using out = device.empty([m, n], 'float16');
  out.fill(0xff); // NaN everywhere: unwritten elements cannot pass
  l.layer.forward(x, { ...options, out });
  const output = await out.toHost();
  const rows = options.rows === undefined || options.rows >= m ? undefined : sampleRows(m, options.rows, random);
  const result = checkOutput(l, l.layer.kernelK, fromHalf(aHalf), m, output, rows);
  return { ...result, output, rowsChecked: rows ? rows.length : m };
}

/** The native GEMM descriptor behind a layer (for tests that drive the addon directly). */
export function nativeGemmOf(layer: QuantizedLinear): NativeGemm {
  return (layer as unknown as { gemm: NativeGemm }).gemm;
}

/**
 * Calls `observe` with the arguments of every call of a native method of one
 * object, then the method itself. The addon's methods are read-only
 * properties of the prototype, which jest.spyOn cannot assign over; an own
 * property defined on the object shadows them. restore() removes it.
 */
export function observeNative(gemm: NativeGemm, name: 'run' | 'bind', observe: (args: unknown[]) => void): { restore: () => void } {
  const original = Reflect.get(gemm, name) as (...args: unknown[]) => unknown;
  Object.defineProperty(gemm, name, {
    configurable: true,
    value: (...args: unknown[]) => {
      observe(args);
      return original.apply(gemm, args);
    },
  });
  return { restore: () => void Reflect.deleteProperty(gemm, name) };
}
