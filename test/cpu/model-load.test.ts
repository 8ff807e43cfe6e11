/**
 * loadQuantizedModel's plan (planModelLoad, no GPU): on tiny checkpoints
 * of each format, single-file and sharded, every quantized layer appears
 * once with the tensors its format uses, every other tensor with the
 * device dtype it gets (F16, BF16, F32 on the device; I64 on the host), a
 * Marlin layer's saved workspace is skipped, and the totals that progress
 * reports add up. The load itself runs in test/gpu/model-load.test.ts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { LAYER_TENSORS, openSafetensors, readQuantizationConfig } from '../../lib/checkpoint';
import { planModelLoad } from '../../lib/model';
import { SEED, rng } from '../helpers/random';
import { TINY_LAYERS, type TinyModelCase, writeTinyModel } from '../helpers/tiny-model';

const CASES: TinyModelCase[] = [
  { title: 'GPTQ', method: 'gptq', dtype: 'float16', bits: 4, groupSize: 64, zeroPoints: false, k: 128, n: 64 },
  { title: 'AWQ', method: 'awq', dtype: 'bfloat16', bits: 4, groupSize: 64, zeroPoints: true, k: 128, n: 64 },
  { title: 'Marlin', method: 'marlin', dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: false, k: 128, n: 64 },
];

describe(`planModelLoad on tiny checkpoints (seed ${SEED})`, () => {
  const random = rng(SEED + 750);
  let root: string;
  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'marlin-plan-'));
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  for (const c of CASES)
    for (const sharded of [false, true])
      test(`${c.title}, ${sharded ? 'sharded' : 'single file'}`, async () => {
        const dir = path.join(root, `${c.method}-${sharded}`);
        const tiny = writeTinyModel(dir, c, sharded, random);
        const quantization = await readQuantizationConfig(dir);
        await using model = await openSafetensors(dir);
        const plan = planModelLoad(model, quantization);

        const layers = plan.steps.filter((s) => s.kind === 'layer');
        expect(layers.map((s) => s.name).sort()).toEqual([...TINY_LAYERS].sort());
        const suffixes = LAYER_TENSORS[quantization.kind].filter((s) => s !== 'g_idx' || c.method === 'gptq');
        for (const s of layers) if (s.kind === 'layer') expect(s.tensors.sort()).toEqual(suffixes.map((x) => `${s.name}.${x}`).sort());

        const plain = new Map(plan.steps.flatMap((s) => (s.kind === 'tensor' ? [[s.name, s.device] as const] : [])));
        const want = new Map(tiny.plain.map((t) => [t.name, { F16: 'float16', BF16: 'bfloat16', F32: 'float32', I64: null }[t.dtype as 'F16']] as const));
        expect(plain).toEqual(want);

        expect(plan.skipped.sort()).toEqual(c.method === 'marlin' ? TINY_LAYERS.map((l) => `${l}.workspace`).sort() : []);
        const names = model.names().filter((n) => !plan.skipped.includes(n));
        expect(plan.totalTensors).toBe(names.length);
        expect(plan.totalBytes).toBe(names.reduce((sum, n) => sum + model.info(n).byteLength, 0));
      });
});
