/**
 * The public API on a GPU: tensors, streams and their Promises, errors with
 * codes, disposal, the published packed format, and the README example.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { chooseKernel } from '../../lib/chooser';
import { Device, DeviceTensor } from '../../lib/device';
import { MarlinError } from '../../lib/errors';
import { halfToNumber, toHalf } from '../../lib/fp16';
import { QuantizedLinear } from '../../lib/linear';
import { native } from '../../lib/native';
import { firstDifference } from '../helpers/compare';
import { describeGpu } from '../helpers/gpu';
import { publishedPackScales, publishedPackWeights } from '../helpers/published-format';
import { SEED, nibbles, rng, uniform } from '../helpers/random';

const ROOT = path.resolve(__dirname, '..', '..');

describeGpu(`public API on the GPU (seed ${SEED})`, () => {
  const random = rng(SEED + 50);
  let device: Device;
  beforeAll(() => {
    device = Device.get(0);
  });

  test('Device reports a GPU of compute capability 8.0 or newer', () => {
    expect(device.properties.major).toBeGreaterThanOrEqual(8);
    expect(device.multiProcessorCount).toBeGreaterThan(0);
    expect(device.arch).toMatch(/^sm_\d+$/);
    expect(Device.get(0)).toBe(device);
  });

  test("layers plan with the GPU's memory bandwidth, as chooseKernel does on the Device", () => {
    const p = device.properties;
    // Every GPU the suite runs on reports its memory clock and bus width.
    expect(p.peakMemoryGBps).toBe(Math.round((p.memoryClockRateKHz * p.memoryBusWidth) / 4e6));
    expect(p.peakMemoryGBps).toBeGreaterThan(0);
    // An 8-bit 3584 x 4608 layer (Qwen2.5-7B's qkv), whose family at 17-23 and 33-36 rows turns on the bandwidth on compute
    // capability 9.0 (test/cpu/chooser.test.ts): the layer's plans, made in C++ from the device's attributes, equal
    // chooseKernel's on the Device and on its target written out. (On an H100 SXM, the GPU the price was fitted on,
    // the bandwidth changes nothing; on an H200 these rows go to mma.)
    const [k, n] = [3584, 4608];
    const format = { bits: 8 as const, groupSize: 128 as const };
    const layer = QuantizedLinear.fromPacked({ packedWeights: new Int32Array((k * n) / 4), packedScales: new Uint16Array((k / 128) * n), inFeatures: k, outFeatures: n, ...format });
    const target = { arch: 10 * p.major + p.minor, smemOptin: p.sharedMemPerBlockOptin, smCount: p.multiProcessorCount, memoryGBps: p.peakMemoryGBps };
    for (const m of [17, 20, 23, 24, 33, 36, 40, 64]) {
      const problem = { m, inFeatures: k, outFeatures: n, format };
      expect({ m, family: layer.plan(m).family }).toEqual({ m, family: chooseKernel(problem, device).family });
      expect({ m, family: layer.plan(m).family }).toEqual({ m, family: chooseKernel(problem, target).family });
    }
    layer.dispose();
  });

  test.each(['float16', 'float32', 'int32'] as const)('%s tensors round-trip through device memory', async (dtype) => {
    const data = dtype === 'float16' ? toHalf(uniform(1000, random)) : dtype === 'float32' ? uniform(1000, random) : Int32Array.from(uniform(1000, random), (v) => v * 1e6);
    using t = DeviceTensor.from(device, data, [10, 100], dtype);
    expect(await t.toHost()).toEqual(data);
  });

  test('stream.synchronize() returns a Promise while the GPU is still busy', async () => {
    const k = 4096;
    const n = 22016;
    const layer = QuantizedLinear.fromQuantized({ q: nibbles(k * n, random), scales: toHalf(uniform((k / 128) * n, random, 0.01)), inFeatures: k, outFeatures: n, groupSize: 128 });
    using x = device.upload(toHalf(uniform(256 * k, random)), [256, k], 'float16');
    using out = device.empty([256, n], 'float16');
    await device.synchronize();
    for (let i = 0; i < 40; i++) layer.forward(x, { out }); // tens of ms of GPU work
    let settled = false;
    const done = device.synchronize().then(() => {
      settled = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false); // the event loop turned while the GPU worked
    await done;
    expect(settled).toBe(true);
    layer.dispose();
  });

  test('forward() rejects wrong shapes, dtypes and tiles with codes', () => {
    const layer = QuantizedLinear.fromQuantized({ q: nibbles(256 * 128, random), scales: toHalf(uniform(2 * 128, random, 0.01)), inFeatures: 256, outFeatures: 128, groupSize: 128 });
    using wrongK = device.empty([4, 128], 'float16');
    using wrongType = device.empty([4, 256], 'float32');
    using x = device.empty([4, 256], 'float16');
    using wrongOut = device.empty([4, 64], 'float16');
    expect(() => layer.forward(wrongK)).toThrow(expect.objectContaining({ code: 'BAD_SHAPE' }));
    expect(() => layer.forward(wrongType as never)).toThrow(expect.objectContaining({ code: 'BAD_DTYPE' }));
    expect(() => layer.forward(x, { out: wrongOut })).toThrow(expect.objectContaining({ code: 'BAD_SHAPE' }));
    expect(() => layer.forward(x, { tile: { tileK: 32, tileN: 32 } })).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
    // Each variant is compiled at one depth per architecture, the deepest its
    // shared memory allows: the plan says which one this device runs.
    const depth = layer.plan(4, { family: 'mma' }).stages; // (the decode family's calls have no depth option)
    expect(depth).toBeGreaterThanOrEqual(2);
    expect(layer.plan(4, { stages: depth }).stages).toBe(depth);
    expect(() => layer.forward(x, { stages: depth }).dispose()).not.toThrow();
    for (const stages of [depth - 1, depth + 1])
      expect(() => layer.forward(x, { stages })).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
    layer.dispose();
  });

  test('the native launcher re-checks buffer bounds', () => {
    using small = device.empty([16], 'float16');
    using weights = device.empty([(128 * 128) / 8], 'int32');
    using scales = device.empty([128], 'float16');
    using ws = device.empty([native.workspaceBytes(128, 1, device.multiProcessorCount) / 4], 'int32');
    const format = { dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: false } as const;
    // The layer's own buffers must hold its shape...
    expect(() => new native.Gemm({ weights: small.buffer, scales: scales.buffer, zeros: null, rows: null, n: 128, k: 128, inputK: 128, format })).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT', message: expect.stringContaining('outside') }),
    );
    // ...and each call's activations and output theirs.
    const gemm = new native.Gemm({ weights: weights.buffer, scales: scales.buffer, zeros: null, rows: null, n: 128, k: 128, inputK: 128, format });
    expect(() => gemm.run(small.buffer, small.buffer, ws.buffer, device.stream.native, 16)).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT', message: expect.stringContaining('outside') }),
    );
  });

  test('the native layer takes scaled zero points exactly for grouped zero-point formats, and makes them on the stream it is given', async () => {
    using weights = device.empty([(128 * 128) / 8], 'int32');
    using scales = device.empty([128], 'float16');
    using zeros = device.empty([128 / 4], 'int32');
    using scaled = device.empty([128], 'float16');
    const zp = { dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: true } as const;
    const sym = { ...zp, zeroPoints: false } as const;
    const base = { weights: weights.buffer, scales: scales.buffer, rows: null, n: 128, k: 128, inputK: 128, stream: device.stream.native };
    expect(() => new native.Gemm({ ...base, zeros: zeros.buffer, format: zp })).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT', message: expect.stringContaining('scaledZeros: missing') }),
    );
    expect(() => new native.Gemm({ ...base, zeros: null, scaledZeros: scaled.buffer, format: sym })).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT', message: expect.stringContaining('scaledZeros: given') }),
    );
    expect(() => new native.Gemm({ ...base, zeros: zeros.buffer, scaledZeros: scaled.buffer, format: { ...zp, groupSize: -1 } })).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT', message: expect.stringContaining('scaledZeros: given') }),
    );
    // (2^(bits-1) - z) s, rounded once, in the scales' order: zero point byte p goes with scale p.
    const s = Float32Array.from({ length: 128 }, (_, p) => (p % 2 ? -1 : 1) * (1 + p / 128) * 2 ** -6);
    const z = Uint8Array.from({ length: 128 }, (_, p) => (p * 7) % 16);
    scales.upload(toHalf(s));
    zeros.upload(new Int32Array(z.buffer));
    scaled.fill(0xff);
    new native.Gemm({ ...base, zeros: zeros.buffer, scaledZeros: scaled.buffer, format: zp });
    expect(firstDifference(await scaled.toHost(), toHalf(Array.from(s, (v, p) => (8 - z[p]) * halfToNumber(toHalf([v])[0]))))).toBe(-1);
  });

  test('use after dispose throws DISPOSED; dispose twice is safe', async () => {
    const t = device.empty([8], 'float16');
    t.dispose();
    t.dispose();
    expect(t.disposed).toBe(true);
    await expect(t.toHost()).rejects.toMatchObject({ code: 'DISPOSED' });
    const layer = QuantizedLinear.fromQuantized({ q: nibbles(128 * 64, random), scales: toHalf(uniform(64, random, 0.01)), inFeatures: 128, outFeatures: 64, groupSize: 128 });
    layer.dispose();
    layer.dispose();
    using x = device.empty([1, 128], 'float16');
    expect(() => layer.forward(x)).toThrow(expect.objectContaining({ code: 'DISPOSED' }));
  });

  test('an impossible allocation throws OUT_OF_MEMORY and the device stays usable', async () => {
    expect(() => device.empty([2 ** 50], 'float16')).toThrow(expect.objectContaining({ code: 'OUT_OF_MEMORY' }));
    using t = DeviceTensor.from(device, toHalf([1, 2, 3, 4]), [4], 'float16');
    expect(await t.toHost()).toEqual(toHalf([1, 2, 3, 4]));
  });

  test('errors are MarlinErrors thrown at the caller', () => {
    let thrown: unknown; // stays undefined, and fails the test, if nothing throws
    try {
      device.empty([2 ** 50], 'float16');
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(MarlinError);
    expect((thrown as Error).stack).toContain('api.test.ts');
  });

  test('data packed in the published Marlin format loads unchanged and gives the same product', async () => {
    const k = 512;
    const n = 192;
    for (const groupSize of [128, -1] as const) {
      const q = nibbles(k * n, random);
      const scales = toHalf(uniform((groupSize === -1 ? 1 : k / 128) * n, random, 0.02));
      const ours = QuantizedLinear.fromQuantized({ q, scales, inFeatures: k, outFeatures: n, groupSize });
      const published = QuantizedLinear.fromPacked({
        packedWeights: publishedPackWeights(q, k, n),
        packedScales: publishedPackScales(scales, groupSize === -1),
        inFeatures: k,
        outFeatures: n,
        groupSize,
      });
      using x = device.upload(toHalf(uniform(24 * k, random)), [24, k], 'float16');
      const a = await ours.forward(x).toHost();
      const b = await published.forward(x).toHost();
      expect(firstDifference(b, a)).toBe(-1);
      ours.dispose();
      published.dispose();
    }
  });

  test('the README example runs as written', () => {
    const example = fs.readFileSync(path.join(ROOT, 'examples', 'quickstart.js'), 'utf8');
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain(example.trim());
    expect(fs.existsSync(path.join(ROOT, 'dist', 'index.js'))).toBe(true); // built by npm ci / npm run build
    const output = execFileSync(process.execPath, [path.join(ROOT, 'examples', 'quickstart.js')], { encoding: 'utf8' });
    process.stdout.write(`README example output:\n${output}`);
    const error = Number(/relative error of row 0 against float64: (\S+)/.exec(output)?.[1]);
    expect(error).toBeLessThan(2e-3);
  });
});
