/**
 * The measurements behind the wgmma family's rules in csrc/kernels/table.json
 * (split-k cost model, `choose`): per layer of Llama-2-7B and 70B and per
 * batch, the mma family, the chooser's plan, the wgmma family at each split
 * count 1..8 (its own tile height), and cuBLAS FP16, in one process, GPU
 * time per call (median of 10), weights rotated through more than 2x L2.
 * One line per (layer, batch); JSON to $OUT/sweep.json (or ./sweep.json).
 * Needs an sm_90 build on an H100-class GPU, and cuBLAS.
 *
 *   SWEEP_BATCHES=16,64,128 SWEEP_SPLITS=1,2,3 npx ts-node --transpile-only scripts/wgmma-sweep.ts
 *
 * docs/benchmarks/wgmma-splits-sweep-h100.json is one run (docs/perf-notes.md run 19).
 */
import * as fs from 'node:fs';
import { Device, DeviceTensor } from '../lib/device';
import { QuantizedLinear, type RunOptions } from '../lib/linear';
import { fp16Matmul } from '../lib/baseline';
import { median, timeCalls } from '../lib/timing';
import { DEFAULT_BENCH_FORMAT } from './bench/formats';
import { randomHalves, randomPackedLayer } from './bench/data';
import { rotationCount } from './bench/measure';
import { PRESETS } from './bench/presets';

const MODELS = ['llama2-7b', 'llama2-70b'];
const LAYERS = MODELS.flatMap((model) => PRESETS[model].map((l): [string, number, number] => [`${model} ${l.name}`, l.k, l.n]));
const BATCHES = (process.env.SWEEP_BATCHES ?? '16,64,128,256,512,1024').split(',').map(Number);
const SPLITS = (process.env.SWEEP_SPLITS ?? '1,2,3,4,5,6,7,8').split(',').map(Number);
const REPEATS = 10;

async function main() {
  const device = Device.get(0);
  const stream = device.createStream();
  const l2 = device.properties.l2CacheSize;
  const out: unknown[] = [];
  for (const [name, k, n] of LAYERS) {
    const copies = rotationCount((k * n) / 2, l2);
    const packed = randomPackedLayer(k, n, DEFAULT_BENCH_FORMAT);
    const layers = Array.from({ length: copies }, () => QuantizedLinear.fromPacked(packed, { device, stream }));
    const dense = layers[0].dequantizeWeights({ stream });
    for (const m of BATCHES) {
      const a = device.upload(randomHalves(m * k, -1, 1), [m, k], 'float16', stream);
      const c = Array.from({ length: copies }, () => DeviceTensor.empty(device, [m, n], 'float16'));
      const time = async (call: (i: number) => void) => {
        for (let i = 0; i < copies; i++) call(i);
        await stream.synchronize();
        const { times } = await timeCalls(stream, Array.from({ length: Math.max(REPEATS, copies) }, (_, i) => () => call(i)));
        return median(times);
      };
      const run = (o: RunOptions) => (i: number) => layers[i % copies].forward(a, { out: c[i % copies], stream, ...o });
      const us: Record<string, number> = {
        fp16: await time(() => fp16Matmul(a, dense, { out: c[0], stream })),
        mma: await time(run({ family: 'mma' })),
        auto: await time(run({})),
      };
      for (const s of SPLITS) us[`s${s}`] = await time(run({ splits: s }));
      const p = layers[0].plan(m);
      const plan = `${p.family} rows ${p.rowBlocks[0] * 16} splits ${p.splits}${p.tailTiles > 0 ? ` tail ${p.tailTiles}x${p.tailSplits}` : ''} blocks ${p.blocks}`;
      out.push({ layer: name, m, plan, ...us });
      const best = SPLITS.reduce((b, s) => (us[`s${s}`] < us[`s${b}`] ? s : b), SPLITS[0]);
      const cell = (key: string) => `${key} ${us[key].toFixed(1)}`;
      console.log(`${name.padEnd(18)} m=${String(m).padStart(4)} ${['fp16', 'mma', 'auto'].map(cell).join(' ')} (${plan}) | ${SPLITS.map((s) => cell(`s${s}`)).join(' ')} | best s${best}`);
      a.dispose();
      for (const t of c) t.dispose();
    }
    dense.dispose();
    for (const l of layers) l.dispose();
  }
  fs.writeFileSync(`${process.env.OUT ?? '.'}/sweep.json`, JSON.stringify(out, null, 1));
  stream.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
