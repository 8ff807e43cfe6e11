/**
 * The weight layout option of quantize() (and so of fromWeights()):
 * 'in-out' is [k, n], W of y = x W; 'out-in' is [n, k], as nn.Linear and
 * float checkpoints store it, and must give the same layer.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { openSafetensors } from '../../lib/checkpoint/safetensors';
import { quantize } from '../../lib/quantize';
import { floatTensor } from '../helpers/checkpoint-formats';
import { firstDifference } from '../helpers/compare';
import { SEED, rng, uniform } from '../helpers/random';
import { writeModelDir } from '../helpers/safetensors-bytes';

const random = rng(SEED + 720);

describe("weight layout: 'in-out' [k, n] or 'out-in' [n, k]", () => {
  const k = 256;
  const n = 64;
  const w = uniform(k * n, random, 1); // [k, n]
  const wT = new Float32Array(k * n); // [n, k], as nn.Linear and checkpoints store it
  for (let r = 0; r < k; r++) for (let c = 0; c < n; c++) wT[c * k + r] = w[r * n + c];

  test("quantize() of [n, k] data with layout 'out-in' equals quantize() of [k, n] data", () => {
    for (const opts of [{ groupSize: 128 as const }, { groupSize: 64 as const, bits: 8 as const, zeroPoints: true, dtype: 'bfloat16' as const }]) {
      const a = quantize(w, k, n, opts);
      const b = quantize(wT, k, n, { ...opts, layout: 'out-in' });
      expect(firstDifference(b.q, a.q)).toBe(-1);
      expect(firstDifference(b.scales, a.scales)).toBe(-1);
      if (a.zeros) expect(firstDifference(b.zeros!, a.zeros)).toBe(-1);
    }
    expect(firstDifference(quantize(w, k, n, { layout: 'in-out' }).q, quantize(w, k, n).q)).toBe(-1);
  });

  test("a float checkpoint weight [out, in] read from safetensors quantizes with layout 'out-in'", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'marlin-layout-'));
    try {
      writeModelDir(dir, undefined, [floatTensor('lm_head.weight', wT, [n, k], 'F32')]);
      await using model = await openSafetensors(dir);
      const t = await model.read('lm_head.weight');
      expect(t.shape).toEqual([n, k]);
      const q = quantize(t.data as Float32Array, t.shape[1], t.shape[0], { layout: 'out-in' });
      expect(firstDifference(q.q, quantize(w, k, n).q)).toBe(-1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an unknown layout, and a non-finite weight under out-in (named by its position in the given data)', () => {
    expect(() => quantize(w, k, n, { layout: 'row-major' as never })).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT', message: expect.stringMatching(/for layout/) }));
    const broken = wT.slice();
    broken[5 * k + 7] = NaN; // output 5, input 7
    expect(() => quantize(broken, k, n, { layout: 'out-in' })).toThrow(/weights\[1287\] \(output 5, input 7; layout 'out-in'\)/);
  });
});
