/**
 * The GEMM against the float64 product with the dequantized weights, over
 * the batch sizes the issue lists, for both quantization modes.
 */
import { Device, DeviceTensor } from '../../lib/device';
import { toHalf } from '../../lib/fp16';
import { native } from '../../lib/native';
import { firstDifference } from '../helpers/compare';
import { describeGpu } from '../helpers/gpu';
import { checkGemm, nativeGemmOf, randomLayer, type RandomLayer } from '../helpers/gemm-check';
import { SEED, rng, uniform } from '../helpers/random';

const BATCHES = [1, 2, 3, 4, 8, 12, 16, 24, 32, 48, 64, 118, 128, 152, 768, 1024];

describeGpu(`GEMM correctness at (k, n) = (1024, 512) (seed ${SEED})`, () => {
  const random = rng(SEED + 10);
  let device: Device;
  const layers: Partial<Record<128 | -1, RandomLayer>> = {};

  beforeAll(() => {
    device = Device.get(0);
    layers[128] = randomLayer(device, 1024, 512, 128, random);
    layers[-1] = randomLayer(device, 1024, 512, -1, random);
  });
  afterAll(() => {
    layers[128]?.layer.dispose();
    layers[-1]?.layer.dispose();
  });

  for (const groupSize of [128, -1] as const) {
    test.each(BATCHES)(`group ${groupSize}: m = %i writes every element, each within its bound of float64`, async (m) => {
      const { failure } = await checkGemm(device, layers[groupSize]!, m, random);
      expect(failure).toBeUndefined();
    });
  }

  test('repeated runs are bit-identical (m = 152, several blocks per column)', async () => {
    const l = layers[128]!;
    const x = DeviceTensor.from(device, toHalf(uniform(152 * 1024, random)), [152, 1024], 'float16');
    const outputs: Uint16Array[] = [];
    for (let run = 0; run < 3; run++) {
      const out = device.empty([152, 512], 'float16');
      out.fill(0xff);
      l.layer.forward(x, { out, sms: 7 });
      outputs.push(await out.toHost());
      out.dispose();
    }
    x.dispose();
    expect(firstDifference(outputs[1], outputs[0])).toBe(-1);
    expect(firstDifference(outputs[2], outputs[0])).toBe(-1);
  });

  test('the workspace counters are left zeroed after calls that reduce across blocks', async () => {
    const l = layers[128]!;
    const m = 200;
    const maxPar = 2;
    using x = DeviceTensor.from(device, toHalf(uniform(m * 1024, random)), [m, 1024], 'float16');
    using out = device.empty([m, 512], 'float16');
    const bytes = native.workspaceBytes(512, maxPar, device.multiProcessorCount);
    using ws = device.empty([bytes / 4], 'int32');
    ws.fill(0);
    const gemm = nativeGemmOf(l.layer);
    for (const [tileK, tileN] of [[128, 128], [64, 256]])
      gemm.run(x.buffer, out.buffer, ws.buffer, device.stream.native, m, null, { tileK, tileN, sms: 5, maxPar });
    const words = await ws.toHost();
    // The counters follow two 64 KiB partial-sum slots per SM.
    const slots = device.multiProcessorCount * 2 * 65536;
    const counters = native.workspaceBytes(512, maxPar, device.multiProcessorCount) - slots;
    expect(counters).toBeGreaterThan(0);
    expect(words.subarray(slots / 4, (slots + counters) / 4).every((v) => v === 0)).toBe(true);
  });

  test('a workspace smaller than workspaceBytes() is refused', () => {
    const l = layers[128]!;
    using x = device.empty([4, 1024], 'float16');
    using out = device.empty([4, 512], 'float16');
    using ws = device.empty([1024], 'int32');
    expect(() => nativeGemmOf(l.layer).run(x.buffer, out.buffer, ws.buffer, device.stream.native, 4, null)).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT', message: expect.stringContaining('workspace') }));
  });
});
