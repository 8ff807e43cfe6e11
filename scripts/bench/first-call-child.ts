/**
 * One fresh process of `npm run bench -- --first-call` (first-call.ts starts
 * it): builds the layers, prepares them as its setup says (nothing,
 * reserve() or warmup(), untimed), then for each layer and batch in order
 * times the first forward() plus a wait, and the median of the calls after
 * it. Prints one JSON line: { rows: FirstCallSample[] }.
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
  for (const layer of layers)
    for (const m of job.batches) {
      const x = DeviceTensor.from(device, randomHalves(m * layer.inFeatures, -1, 1), [m, layer.inFeatures], 'float16', stream);
      const out = DeviceTensor.empty(device, [m, layer.outFeatures], 'float16');
      await stream.synchronize();
      const call = async (): Promise<number> => {
        const start = process.hrtime.bigint();
        layer.forward(x, { out, stream });
        await stream.synchronize();
        return microseconds(start);
      };
      const firstUs = await call();
      const steady: number[] = [];
      for (let i = 0; i < STEADY_CALLS; i++) steady.push(await call());
      samples.push({ k: layer.inFeatures, n: layer.outFeatures, m, firstUs, steadyUs: median(steady) });
      x.dispose();
      out.dispose();
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
