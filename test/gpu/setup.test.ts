/**
 * On a GPU: selfTest() passes, and `marlin-node doctor` finds the GPUs,
 * runs the self-test in a child process and exits with 0.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

import { checkSetup, selfTest } from '../../lib/setup';
import { describeGpu } from '../helpers/gpu';
import { SEED } from '../helpers/random';

const ROOT = path.resolve(__dirname, '..', '..');

describeGpu(`setup checks on the GPU (seed ${SEED})`, () => {
  test('checkSetup() finds the GPU usable, with kernels', () => {
    const report = checkSetup();
    expect(report.problem).toBeNull();
    expect(report.gpus[0]).toMatchObject({ index: 0, usable: true, kernelArch: expect.any(Number) });
    expect(report.gpus[0].kernelArch).toBeGreaterThan(0);
  });

  test('selfTest() passes on GPU 0', async () => {
    const result = await selfTest(0);
    expect(result.relativeError).toBeLessThan(result.tolerance);
    expect(result.passed).toBe(true);
  });

  test('marlin-node doctor runs the self-test in a child process and exits with 0', () => {
    const { status, stdout } = spawnSync(
      process.execPath,
      ['-r', require.resolve('ts-node/register/transpile-only'), path.join(ROOT, 'lib', 'cli.ts'), 'doctor'],
      { cwd: ROOT, encoding: 'utf8', env: { ...process.env, TS_NODE_PROJECT: path.join(ROOT, 'tsconfig.json') } },
    );
    expect(stdout).toMatch(/^ok +GPU 0: .+; kernels: /m);
    expect(stdout).toMatch(/^ok +self-test GPU 0: .+relative error/m);
    expect(stdout.trim().split('\n').pop()).toMatch(/^result: marlin-node can run here/);
    expect(status).toBe(0);
  }, 300000);
});
