/**
 * One GEMM checked against the float64 reference: random A and random
 * 4-bit weights and scales, output poisoned with NaN first, every element
 * checked to be written, relative error over the checked rows.
 */
import { Device, DeviceTensor } from '../../lib/device';
import { fromHalf, toHalf } from '../../lib/fp16';
import { QuantizedLinear, type ForwardOptions } from '../../lib/linear';
import type { NativeGemm } from '../../lib/native';
import { referenceQuantizedMatmul, relativeError } from '../../lib/reference';
import { type GroupSize } from '../../lib/shapes';
import { nibbles, sampleRows, uniform } from './random';

export interface RandomLayer {
  layer: QuantizedLinear;
  q: Uint8Array;
  scales: Float32Array;
  k: number;
  n: number;
  groupSize: GroupSize;
}

/** Random q and scales (both signs, magnitudes near 1/64) packed and uploaded. */
export function randomLayer(device: Device, k: number, n: number, groupSize: GroupSize, random: () => number): RandomLayer {
  const q = nibbles(k * n, random);
  const rows = groupSize === -1 ? 1 : k / groupSize;
  const raw = uniform(rows * n, random, 1).map((v) => (Math.sign(v) || 1) * (0.5 + Math.abs(v)) / 64);
  const halves = toHalf(raw);
  const layer = QuantizedLinear.fromQuantized({ q, scales: halves, k, n, groupSize }, { device });
  return { layer, q, scales: fromHalf(halves), k, n, groupSize };
}

export interface CheckResult {
  error: number;
  output: Uint16Array;
  rowsChecked: number;
}

/**
 * Runs y = x W for a random x of m rows and compares with float64. `rows`:
 * how many rows to check against the reference (all when omitted); every
 * element is always checked to be finite.
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
  const a = fromHalf(aHalf);
  using x = DeviceTensor.from(device, aHalf, [m, k], 'float16');
  using out = device.empty([m, n], 'float16');
  out.fill(0xff); // NaN everywhere: unwritten elements cannot pass
  l.layer.forward(x, { ...options, out });
  const output = await out.toHost();
  const c = fromHalf(output);
  let nonFinite = 0;
  for (let i = 0; i < c.length; i++) if (!Number.isFinite(c[i])) nonFinite++;
  if (nonFinite > 0) return { error: Number.NaN, output, rowsChecked: 0 };
  const rows = options.rows === undefined || options.rows >= m ? undefined : sampleRows(m, options.rows, random);
  const ref = referenceQuantizedMatmul(a, l.q, l.scales, m, k, n, l.groupSize, rows);
  const got = rows ? Float32Array.from(rows.flatMap((r) => [...c.subarray(r * n, (r + 1) * n)])) : c;
  return { error: relativeError(got, ref), output, rowsChecked: rows ? rows.length : m };
}

/** The native GEMM descriptor behind a layer (for tests that drive the addon directly). */
export function nativeGemmOf(layer: QuantizedLinear): NativeGemm {
  return (layer as unknown as { gemm: NativeGemm }).gemm;
}
