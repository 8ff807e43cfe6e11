/**
 * The compiled package (what dist/ holds), run by plain Node: the worker
 * threads of quantizeAsync start from dist/worker.js, not through ts-node.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

import { compilePackage, removeCompiled } from '../helpers/compiled';

let dir: string;
beforeAll(() => {
  dir = compilePackage();
});
afterAll(() => removeCompiled(dir));

describe('compiled to JavaScript', () => {
  test('quantizeAsync and quantizeAndPackAsync run their workers from dist/worker.js and give the bits of the synchronous calls', () => {
    const script = `
      const { quantize } = require('./dist/quantize');
      const { quantizeAsync, quantizeAndPackAsync } = require('./dist/quantize-async');
      const { packQuantized } = require('./dist/pack-layer');
      const { libraryWorker, liveWorkers } = require('./dist/workers');
      const same = (a, b) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
      (async () => {
        const k = 256, n = 320, options = { bits: 8, zeroPoints: true, groupSize: 64 };
        const w = Float32Array.from({ length: k * n }, (_, i) => Math.sin(i) * (1 + (i % 7)));
        const sync = quantize(w, k, n, options);
        const ours = await quantizeAsync(w, k, n, { ...options, threads: 3 });
        const packed = await quantizeAndPackAsync(w, k, n, { ...options, threads: 2 });
        const syncPacked = packQuantized(sync);
        console.log(JSON.stringify({
          entry: libraryWorker(),
          q: same(ours.q, sync.q), scales: same(ours.scales, sync.scales), zeros: same(ours.zeros, sync.zeros),
          packed: same(packed.packedWeights, syncPacked.packedWeights) && same(packed.packedScales, syncPacked.packedScales) && same(packed.packedZeros, syncPacked.packedZeros),
          live: liveWorkers(),
        }));
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: dir, encoding: 'utf8' }));
    expect(out).toEqual({ entry: { file: path.join(dir, 'dist', 'worker.js') }, q: true, scales: true, zeros: true, packed: true, live: 0 });
  });
});
