/**
 * Suites of the sm_90a kernel families (wgmma, decode): they run where GPU 0
 * has compute capability 9.0 and the build has sm_90 code; elsewhere they
 * say so once and skip (and without any GPU, describeGpu decides).
 */
import { Device, DeviceTensor } from '../../lib/device';
import { type ActivationDType, type WeightFormat } from '../../lib/formats';
import { fromHalves } from '../../lib/fp16';
import { type ForwardOptions, QuantizedLinear, type RunOptions } from '../../lib/linear';
import { native } from '../../lib/native';
import { type FormatLayerData, boundFor, checkElements, describeCheck, randomActivations, randomFormatLayer, referenceRows } from './format-reference';
import { HAS_GPU, describeGpu } from './gpu';
import { sampleRows } from './random';

/** A checked result's sanity limit on ||got - ref|| / ||ref|| (the per-element bounds are the real check). */
const RELATIVE_SANITY = 1e-2;

/** describe() for a suite of `family` (its name in the skip message), which needs `available` too (the family in the table). */
export function hopperSuite(family: string, available = true): (name: string, body: () => void) => void {
  // Why it cannot run, one message per reason (scripts/gpu-check.js skips its wgmma checks on the GPU's reason
  // alone: a build without sm_90 on an H100 is a failure there).
  const reason = ((): string | undefined => {
    if (!HAS_GPU) return undefined;
    const p = Device.get(0).properties;
    if (p.major !== 9 || p.minor !== 0) return `GPU 0 is compute capability ${p.major}.${p.minor}, not 9.0`;
    if (!native.build().archs.includes(90)) return 'this build has no sm_90 code';
    if (!available) return `this build's kernel table has no ${family} family`;
    return undefined;
  })();
  if (reason !== undefined) process.stderr.write(`\n*** marlin-node: ${family} suite SKIPPED: ${reason}\n\n`);
  const onHopper = HAS_GPU && reason === undefined;
  return onHopper ? describeGpu : (name: string, body: () => void) => describeGpu(name, () => describe.skip('needs sm_90', body));
}

/** The layer of one format's describe block (describeEachFormat), set before its tests run. */
export interface FormatLayer {
  layer: QuantizedLinear;
  data: FormatLayerData;
}

/**
 * A describe block per format, named dtype/uBITS/gGROUP/zp|sym, around a
 * [k, n] layer of random weights on GPU 0, made before the block's tests and
 * freed after them; `body` declares the tests, which read the layer from
 * `f` when they run.
 */
export function describeEachFormat(
  formats: readonly WeightFormat[],
  k: number,
  n: number,
  random: () => number,
  body: (format: WeightFormat, f: FormatLayer) => void,
): void {
  for (const format of formats)
    describe(`${format.dtype}/u${format.bits}/g${format.groupSize}/${format.zeroPoints ? 'zp' : 'sym'}`, () => {
      const f = {} as FormatLayer;
      beforeAll(() => {
        f.data = randomFormatLayer({ ...format, k, n }, random);
        f.layer = QuantizedLinear.fromQuantized(f.data.quantized, { device: Device.get(0) });
      });
      afterAll(() => f.layer.dispose());
      body(format, f);
    });
}

/** `out` poisoned with NaN (0xffff), then y = x W into it with forward()'s options: its bits. */
export async function forwardPoisoned(
  layer: QuantizedLinear,
  x: DeviceTensor<ActivationDType>,
  out: DeviceTensor<ActivationDType>,
  options: Omit<ForwardOptions, 'out'> = {},
): Promise<Uint16Array> {
  out.fill(0xff, options.stream);
  layer.forward(x, { ...options, out });
  return out.toHost(options.stream);
}

/**
 * y = x W for m random rows of x, `out` poisoned first; every element
 * finite, and the rows checked (every row, or the first, the last and
 * `sampled` random ones) each element within its bound of float64. The
 * failure (undefined when none), x and y's bits.
 */
export async function forwardChecked(
  device: Device,
  layer: QuantizedLinear,
  data: FormatLayerData,
  m: number,
  random: () => number,
  options: RunOptions,
  sampled?: number,
): Promise<{ failure?: string; x: { bits: Uint16Array; values: Float32Array }; bits: Uint16Array }> {
  const dtype = layer.format.dtype;
  const { inFeatures: k, outFeatures: n } = layer;
  const x = randomActivations(m, k, dtype, random);
  using xt = DeviceTensor.from(device, x.bits, [m, k], dtype);
  using out = device.empty([m, n], dtype);
  const bits = await forwardPoisoned(layer, xt, out, options);
  const rows = sampled === undefined ? Array.from({ length: m }, (_, i) => i) : sampleRows(m, sampled, random);
  const { ref, absSum } = referenceRows(x.values, data, k, n, rows);
  const check = checkElements(fromHalves(bits, dtype), n, rows, ref, absSum, boundFor(layer.format, layer.kernelK));
  const ok = check.violations === 0 && check.nonFinite === 0 && check.relError < RELATIVE_SANITY;
  return { failure: ok ? undefined : `m=${m}: ${describeCheck(check)}`, x, bits };
}
