/**
 * `marlin-node doctor` and `marlin-node self-test` (lib/cli.ts): run as
 * child processes, from lib/ through ts-node and from the compiled package
 * as npx would run them; without a GPU (this path is what CPU machines
 * check) they print every finding, a clear verdict and exit with 1, never
 * a stack trace. The reports of machines with GPUs are checked with made-up
 * setups, and the self-test child's failures with stand-in children.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import {
  type Finding,
  formatFinding,
  runSelfTestChild,
  selfTestFinding,
  setupFindings,
  verdict,
} from '../../lib/cli';
import { describeFormat } from '../../lib/formats';
import type { GpuReport, SetupReport } from '../../lib/setup';
import { ROOT, compilePackage, removeCompiled } from '../helpers/compiled';
import { HAS_GPU } from '../helpers/gpu';

const TS_CLI = [ '-r', require.resolve('ts-node/register/transpile-only'), path.join(ROOT, 'lib', 'cli.ts')];
const run = (args: string[], cwd = ROOT) =>
  spawnSync(process.execPath, args, { cwd, encoding: 'utf8', env: { ...process.env, TS_NODE_PROJECT: path.join(ROOT, 'tsconfig.json') } });

/** No line of a stack trace ("    at f (file:1:2)"). */
const NO_STACK = /^\s+at .+[(:]\d+/m;

let compiled: string;
let unbuilt: string;
beforeAll(() => {
  compiled = compilePackage();
  unbuilt = compilePackage({ addon: false });
});
afterAll(() => {
  removeCompiled(compiled);
  removeCompiled(unbuilt);
});

(HAS_GPU ? describe.skip : describe)('marlin-node doctor without a GPU', () => {
  test.each([
    ['from lib/ (ts-node)', () => [...TS_CLI, 'doctor']],
    ['compiled, as npx runs it', () => [path.join(compiled, 'dist', 'cli.js'), 'doctor']],
  ])('%s: prints every finding and exits with 1 with the reason', (_how, args) => {
    const { status, stdout, stderr } = run(args());
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toBe('marlin-node doctor');
    for (const expected of [
      /^ok +Node\.js: v\d+\.\d+\.\d+ \(Node-API \d+\)$/,
      /^ok +platform: linux x64/,
      /^info +CPU: \d+ threads for quantizeAsync/,
      /^ok +addon: loaded from \/.*build\/Release\/marlin\.node$/,
      /^info +kernels compiled: (sm_\d+(, )?)+ machine code, PTX of compute_\d+; \d+ mma variants per architecture(, \d+ wgmma \(sm_90a\))?(, \d+ decode \(sm_90a\))?$/,
      /^ok +CUDA runtime: \d+\.\d+ /,
      /^FAIL +CUDA driver: none/,
      /^FAIL +GPUs: none \(.+\)$/,
      /^(ok|info) +cuBLAS: /,
      /^skip +self-test: not run \(no usable GPU\)$/,
      /^result: marlin-node cannot run here: .+/,
    ])
      expect(lines).toContainEqual(expect.stringMatching(expected));
    expect(lines[lines.length - 1]).toMatch(/^result: marlin-node cannot run here: CUDA driver: none/);
    expect(status).toBe(1);
    expect(stdout + stderr).not.toMatch(NO_STACK);
  });

  test('self-test prints one JSON line with the NO_GPU error and exits with 1', () => {
    const { status, stdout } = run([path.join(compiled, 'dist', 'cli.js'), 'self-test', '--device', '0']);
    expect(JSON.parse(stdout)).toEqual({ passed: false, error: expect.stringMatching(/^NO_GPU: /) });
    expect(status).toBe(1);
  });
});

describe('marlin-node command line', () => {
  test('without the addon, doctor says it does not load and how to build it, and exits with 1', () => {
    const { status, stdout, stderr } = run([path.join(unbuilt, 'dist', 'cli.js'), 'doctor']);
    expect(stdout).toMatch(/^FAIL +addon: does not load: NOT_BUILT: .*marlin\.node is missing/m);
    expect(stdout).toMatch(/^ +npm rebuild marlin-node/m);
    expect(stdout.trim().split('\n').pop()).toMatch(/^result: marlin-node cannot run here: addon: does not load/);
    expect(status).toBe(1);
    expect(stdout + stderr).not.toMatch(NO_STACK);
  });

  test('help exits with 0; no command, an unknown one or a bad option exits with 2 and the usage', () => {
    const cli = path.join(compiled, 'dist', 'cli.js');
    expect(run([cli, 'help'])).toMatchObject({ status: 0, stdout: expect.stringContaining('usage: marlin-node <command>') });
    for (const args of [[], ['frobnicate'], ['doctor', '--bogus'], ['doctor', '--timeout', 'soon'], ['self-test', '--device', '-1']]) {
      const { status, stderr } = run([cli, ...args]);
      expect(status).toBe(2);
      expect(stderr).toContain('usage: marlin-node <command>');
      expect(stderr).not.toMatch(NO_STACK);
    }
  });

  test('package.json names dist/cli.js as the marlin-node command, and it starts with a shebang', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.bin).toEqual({ 'marlin-node': 'dist/cli.js' });
    expect(fs.readFileSync(path.join(compiled, 'dist', 'cli.js'), 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
  });
});

describe('doctor findings for machines with GPUs (made-up setups)', () => {
  const gpu = (over: Partial<GpuReport>): GpuReport => ({
    index: 0,
    name: 'NVIDIA H100 80GB HBM3',
    arch: 90,
    multiProcessorCount: 132,
    memoryBytes: 85e9,
    usable: true,
    kernelArch: 90,
    ...over,
  });
  const setup = (gpus: GpuReport[], over: Partial<SetupReport> = {}): SetupReport => ({
    addonFile: '/x/build/Release/marlin.node',
    archs: [80, 90],
    ptxArch: 90,
    variants: 312,
    wgmmaVariants: 32,
    decodeVariants: 24,
    runtimeVersion: 13000,
    driverVersion: 13000,
    gpus,
    cublas: true,
    problem: gpus.some((g) => g.usable) ? null : 'no GPU is usable',
    ...over,
  });
  const lines = (findings: Finding[]) => findings.map(formatFinding);

  test('a GPU with kernels: name, compute capability, SMs, memory and which code it runs', () => {
    const report = setup([gpu({}), gpu({ index: 1, name: 'NVIDIA B200', arch: 100, kernelArch: 90 })]);
    const found = setupFindings(report);
    expect(lines(found)).toEqual(
      expect.arrayContaining([
        'ok    GPU 0: NVIDIA H100 80GB HBM3, compute capability 9.0, 132 SMs, 79.2 GiB; kernels: sm_90 machine code',
        'ok    GPU 1: NVIDIA B200, compute capability 10.0, 132 SMs, 79.2 GiB; kernels: PTX of compute_90 (compiled by the driver on first use)',
        'ok    CUDA driver: supports CUDA 13.0',
        'ok    cuBLAS: available (fp16Matmul, the dense baseline)',
        'info  kernels compiled: sm_80, sm_90 machine code, PTX of compute_90; 128 mma variants per architecture, 32 wgmma (sm_90a), 24 decode (sm_90a)',
      ]),
    );
    expect(verdict(found, report)).toEqual({ usable: true, line: 'result: marlin-node can run here (GPU 0, 1)' });
  });

  test('a build without sm_90 has no wgmma or decode variants, and says only the mma count', () => {
    const found = setupFindings(
      setup([gpu({ arch: 80, kernelArch: 80 })], { archs: [80, 86], ptxArch: 86, variants: 512, wgmmaVariants: 0, decodeVariants: 0 }),
    );
    expect(lines(found)).toContain('info  kernels compiled: sm_80, sm_86 machine code, PTX of compute_86; 256 mma variants per architecture');
  });

  test('a supported GPU without kernels in this build fails the check; an unsupported old one is a warning beside a usable one', () => {
    const noKernels = setup([gpu({}), gpu({ index: 1, name: 'NVIDIA A100', arch: 80, kernelArch: 0, usable: false, reason: 'this build has no kernels for sm_80 (rebuild with MARLIN_CUDA_ARCHS=80)' })], { archs: [90] });
    const found = setupFindings(noKernels);
    expect(lines(found)).toContainEqual(expect.stringMatching(/^FAIL {2}GPU 1: NVIDIA A100, .*; kernels: none \(built for sm_90\); not usable: this build has no kernels for sm_80/));
    expect(verdict(found, noKernels)).toEqual({ usable: false, line: expect.stringMatching(/^result: marlin-node cannot run here: GPU 1: /) });
    const old = setup([gpu({ index: 0, name: 'Tesla T4', arch: 75, kernelArch: 0, usable: false, reason: 'compute capability 7.5 is below the 8.0 the kernels need' }), gpu({ index: 1 })]);
    const oldFound = setupFindings(old);
    expect(lines(oldFound)).toContainEqual(expect.stringMatching(/^warn {2}GPU 0: Tesla T4, compute capability 7\.5/));
    expect(verdict(oldFound, old).usable).toBe(true);
  });

  test('a driver older than the runtime fails', () => {
    const found = setupFindings(setup([], { driverVersion: 12040, problem: 'no NVIDIA driver is loaded (or it is older than the CUDA runtime)' }));
    expect(lines(found)).toContainEqual('FAIL  CUDA driver: supports CUDA 12.4, older than the runtime 13.0: update the driver');
  });

  test('self-test findings: passed, wrong results, and an error', () => {
    const result = { device: 0, name: 'x', format: { dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: false } as const, m: 16, inFeatures: 512, outFeatures: 256, relativeError: 4.2e-4, tolerance: 2e-3, passed: true, ms: 31.4 };
    expect(formatFinding(selfTestFinding(0, { passed: true, result }, describeFormat))).toBe(
      'ok    self-test GPU 0: float16/4-bit/g128/symmetric, x [16, 512] by W [512, 256]: relative error 4.2e-4 (limit 2.0e-3), 31 ms in a child process',
    );
    expect(selfTestFinding(0, { passed: false, reason: 'wrong results', result: { ...result, relativeError: 0.5 } }, describeFormat)).toMatchObject({
      status: 'FAIL',
      detail: expect.stringMatching(/^wrong results: .*relative error 5\.0e-1/),
    });
    expect(selfTestFinding(1, { passed: false, reason: 'the child process died of SIGSEGV' }, describeFormat)).toEqual({
      status: 'FAIL',
      label: 'self-test GPU 1',
      detail: 'the child process died of SIGSEGV',
    });
  });
});

describe('the self-test child', () => {
  const child = (behave: string): [string, string[]] => [process.execPath, [path.join(ROOT, 'test', 'fixtures', 'self-test-child.js'), behave]];

  test('a result line passes; wrong results and errors fail with the reason', async () => {
    await expect(runSelfTestChild(child('pass'), 10000)).resolves.toMatchObject({ passed: true, result: { relativeError: 4e-4 } });
    await expect(runSelfTestChild(child('wrong'), 10000)).resolves.toMatchObject({ passed: false, reason: 'wrong results', result: { relativeError: 0.5 } });
    await expect(runSelfTestChild(child('error'), 10000)).resolves.toEqual({ passed: false, reason: 'CUDA_ERROR: an illegal memory access was encountered' });
  });

  test('a child that crashes, exits without a result or hangs is a failure that says so; the caller lives on', async () => {
    await expect(runSelfTestChild(child('segfault'), 10000)).resolves.toEqual({ passed: false, reason: 'the child process died of SIGSEGV' });
    await expect(runSelfTestChild(child('exit'), 10000)).resolves.toEqual({
      passed: false,
      reason: 'the child process exited with code 3 and no result: Aborted: something went wrong',
    });
    await expect(runSelfTestChild(child('hang'), 500)).resolves.toEqual({ passed: false, reason: 'did not finish within 0.5 s (the child process was killed)' });
  });
});
