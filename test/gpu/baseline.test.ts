/**
 * The cuBLAS FP16 baseline and GPU dequantization, against float64 and the
 * CPU layout code. Where the addon was built without cuBLAS, fp16Matmul must
 * say NO_CUBLAS.
 */
import { Device, DeviceTensor } from '../../lib/device';
import { fp16Matmul, hasCublas } from '../../lib/baseline';
import { fromHalf, toHalf } from '../../lib/fp16';
import { QuantizedLinear } from '../../lib/linear';
import { dequantize } from '../../lib/quantize';
import { referenceMatmul, relativeError } from '../../lib/testing';
import { describeGpu } from '../helpers/gpu';
import { SEED, nibbles, rng, uniform } from '../helpers/random';

describeGpu(`FP16 baseline and GPU dequantization (seed ${SEED})`, () => {
  const random = rng(SEED + 60);
  let device: Device;
  beforeAll(() => {
    device = Device.get(0);
  });

  test.each([128, -1] as const)('dequantizeWeights() equals the CPU dequantization bit for bit, group %i', async (groupSize) => {
    const k = 384;
    const n = 320;
    const q = nibbles(k * n, random);
    const scales = toHalf(uniform((groupSize === -1 ? 1 : k / 128) * n, random, 0.05));
    using layer = QuantizedLinear.fromQuantized({ q, scales, inFeatures: k, outFeatures: n, groupSize });
    using w = layer.dequantizeWeights();
    expect(w.shape).toEqual([k, n]);
    expect(await w.toHost()).toEqual(toHalf(dequantize({ q, scales, inFeatures: k, outFeatures: n, groupSize })));
  });

  (hasCublas() ? test : test.skip)('fp16Matmul() matches float64 within FP16 rounding', async () => {
    const [m, k, n] = [37, 256, 192];
    const a = toHalf(uniform(m * k, random));
    const b = toHalf(uniform(k * n, random, 0.1));
    using ga = DeviceTensor.from(device, a, [m, k], 'float16');
    using gb = DeviceTensor.from(device, b, [k, n], 'float16');
    using c = device.empty([m, n], 'float16');
    c.fill(0xff);
    fp16Matmul(ga, gb, { out: c });
    const got = fromHalf(await c.toHost());
    expect(relativeError(got, referenceMatmul(fromHalf(a), fromHalf(b), m, k, n))).toBeLessThan(2e-3);
  });

  (hasCublas() ? test.skip : test)('fp16Matmul() throws NO_CUBLAS in a build without cuBLAS', () => {
    using a = device.empty([1, 128], 'float16');
    using b = device.empty([128, 64], 'float16');
    expect(() => fp16Matmul(a, b)).toThrow(expect.objectContaining({ code: 'NO_CUBLAS' }));
  });

  test('fp16Matmul() rejects mismatched shapes', () => {
    using a = device.empty([4, 128], 'float16');
    using b = device.empty([64, 64], 'float16');
    expect(() => fp16Matmul(a, b)).toThrow(expect.objectContaining({ code: hasCublas() ? 'BAD_SHAPE' : 'NO_CUBLAS' }));
  });

  test('copyFrom() copies device to device', async () => {
    const data = toHalf(uniform(4096, random));
    using src = DeviceTensor.from(device, data, [4096], 'float16');
    using dst = device.empty([4096], 'float16');
    dst.copyFrom(src);
    expect(await dst.toHost()).toEqual(data);
  });
});
