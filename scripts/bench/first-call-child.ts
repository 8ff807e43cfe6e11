/**
 * One fresh process of `npm run bench -- --first-call` (first-call.ts starts
 * it): builds the layers, prepares them as its setup says (nothing,
 * reserve() or warmup(), untimed), then for each layer and batch in order
 * times the first forward() plus a wait, the median of the calls after it,
 * and one call with new x and out made the same way (first-call.ts says
 * why). Prints one JSON line: { rows: FirstCallSample[] }.
 */
import { Device, DeviceTensor, QuantizedLinear } from '../../lib/index';
import { median } from '../../lib/timing';
import { randomHalves, randomPackedLayer } from './data';
import { type FirstCallJob, type FirstCallSample, STEADY_CALLS } from './first-call';
import { DEFAULT_BENCH_FORMAT } from './formats';

function microseconds(since: bigint): number {
  return Number(process.hrtime.bigint() - since) / 1000;
}

async function run(job: FirstCallJob): Promise<FirstCallSample[]> {
  const device = Device.get(job.device);
  const stream = device.stream;
  const layers = job.shapes.map(({ k, n }) => QuantizedLinear.fromPacked(randomPackedLayer(k, n, DEFAULT_BENCH_FORMAT), { device, stream }));
  const maxBatch = Math.max(...job.batches);
  for (const layer of layers) {
    if (job.setup === 'reserve') layer.reserve({ maxBatch, stream });
    if (job.setup === 'warmup') await layer.warmup({ maxBatch, stream });
  }
  await stream.synchronize();
  const samples: FirstCallSample[] = [];
  // A batch's x (random, made on the host and uploaded) and out, waited for.
  const tensors = async (layer: QuantizedLinear, m: number) => {
    const x = DeviceTensor.from(device, randomHalves(m * layer.inFeatures, -1, 1), [m, layer.inFeatures], 'float16', stream);
    const out = DeviceTensor.empty(device, [m, layer.outFeatures], 'float16');
    await stream.synchronize();
    return { x, out };
  };
  const call = async (layer: QuantizedLinear, x: DeviceTensor<'float16'>, out: DeviceTensor<'float16'>): Promise<number> => {
    const start = process.hrtime.bigint();
    layer.forward(x, { out, stream });
    await stream.synchronize();
    return microseconds(start);
  };
  for (const layer of layers)
    for (const m of job.batches) {
      const { x, out } = await tensors(layer, m);
      const firstUs = await call(layer, x, out);
      const steady: number[] = [];
      for (let i = 0; i < STEADY_CALLS; i++) steady.push(await call(layer, x, out));
      const again = await tensors(layer, m);
      const againUs = await call(layer, again.x, again.out);
      samples.push({ k: layer.inFeatures, n: layer.outFeatures, m, firstUs, steadyUs: median(steady), againUs });
      for (const t of [x, out, again.x, again.out]) t.dispose();
    }
  for (const layer of layers) layer.dispose();
  return samples;
}

run(JSON.parse(process.argv[2]) as FirstCallJob).then(
  (rows) => {
    process.stdout.write(`${JSON.stringify({ rows })}\n`);
  },
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
