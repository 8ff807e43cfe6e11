/**
 * scripts/ptxas-guard.js, which every CUDA compile of the build runs through
 * (CMake's compiler launcher, node-gyp's rule via gen-kernels.js --nvcc): on
 * a stand-in for nvcc, ptxas's message that it serialized a kernel's wgmma
 * instructions (CUDA 13.0's wording) gets the warning CI fails on, other
 * output does not, and nvcc's exit status and output pass through.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const GUARD = path.join(ROOT, 'scripts', 'ptxas-guard.js');
const GEN = path.join(ROOT, 'scripts', 'gen-kernels.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const guard = require(GUARD) as {
  WARNING_PREFIX: string;
  serializedWgmma(stderr: string): string | null;
  sourceOf(args: string[]): string;
};

// As ptxas 13.0 prints it for a kernel whose wgmma pipeline it serialized (perf-notes run 29).
const SERIALIZED =
  "ptxas info    : (C7513) Potential Performance Loss: wgmma.mma_async instructions are serialized due to non wgmma " +
  'instructions defining input registers of a wgmma between start and end of the pipeline stage in the function ' +
  "'_ZN6marlin2wg11gemm_kernelINS0_4TileILNS_3ActE1ELi4ELi8ELb1ELi128ELi4ELi2EEEEEvNS_10KernelArgsE'";
const ORDINARY = ['ptxas info    : Used 128 registers, used 1 barriers', '    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads'].join(
  '\n',
);

let dir: string;
// A stand-in for nvcc that prints `stderr`, a line on stdout, and exits with `status`.
function fakeNvcc(name: string, stderr: string, status: number): string {
  const file = path.join(dir, name);
  fs.writeFileSync(
    file,
    `#!/usr/bin/env node\nprocess.stdout.write('compiled\\n');\nprocess.stderr.write(${JSON.stringify(`${stderr}\n`)});\nprocess.exit(${status});\n`,
  );
  fs.chmodSync(file, 0o755);
  return file;
}
const runGuard = (nvcc: string, ...args: string[]) => spawnSync(process.execPath, [GUARD, nvcc, ...args], { encoding: 'utf8' });

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ptxas-guard-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('serializedWgmma', () => {
  test("finds ptxas's message among other output and keeps its code and function", () => {
    const found = guard.serializedWgmma(`${ORDINARY}\n${SERIALIZED}\n${ORDINARY}\n`);
    expect(found).toContain('(C7513)');
    expect(found).toContain('_ZN6marlin2wg11gemm_kernel');
  });
  test('ignores ordinary ptxas output', () => {
    expect(guard.serializedWgmma(ORDINARY)).toBeNull();
    expect(guard.serializedWgmma('')).toBeNull();
  });
  test('names the .cu file of a compile command', () => {
    expect(guard.sourceOf(['-c', 'build/generated/gemm_wgmma_f16_u4_g128_sym_128x256.cu', '-o', 'x.o'])).toBe(
      'build/generated/gemm_wgmma_f16_u4_g128_sym_128x256.cu',
    );
    expect(guard.sourceOf(['--version'])).toBe('a CUDA source');
  });
});

describe('as a compiler launcher', () => {
  test('adds the warning after a compile in which ptxas serialized wgmma instructions, and keeps its status', () => {
    const r = runGuard(fakeNvcc('nvcc-serialized', SERIALIZED, 0), '-c', 'kernel.cu', '-o', 'kernel.o');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('compiled\n');
    expect(r.stderr).toContain(SERIALIZED);
    expect(r.stderr).toContain(`${guard.WARNING_PREFIX} of kernel.cu (C7513, above)`);
  });
  test('passes an ordinary compile through unchanged', () => {
    const r = runGuard(fakeNvcc('nvcc-ordinary', ORDINARY, 0), '-c', 'kernel.cu');
    expect(r.status).toBe(0);
    expect(r.stderr).toBe(`${ORDINARY}\n`);
  });
  test("returns nvcc's failure", () => {
    const r = runGuard(fakeNvcc('nvcc-failing', 'kernel.cu(1): error: expected a ";"', 3), '-c', 'kernel.cu');
    expect(r.status).toBe(3);
    expect(r.stderr).toContain('error: expected a ";"');
    expect(r.stderr).not.toContain(guard.WARNING_PREFIX);
  });
  test('says so when nvcc cannot run', () => {
    const r = runGuard(path.join(dir, 'no-such-nvcc'), '-c', 'kernel.cu');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('could not run');
  });
});

test("node-gyp's rule (gen-kernels.js --nvcc) compiles through the guard", () => {
  const nvcc = fakeNvcc('nvcc-gyp', SERIALIZED, 0);
  const input = path.join(dir, 'gemm_wgmma_f16_u4_g128_sym_128x256.cu');
  const r = spawnSync(process.execPath, [GEN, '--nvcc', nvcc, input, path.join(dir, 'out.o'), '--', '-O3'], {
    encoding: 'utf8',
    env: { ...process.env, MARLIN_CUDA_ARCHS: '90' },
  });
  expect(r.status).toBe(0);
  expect(r.stderr).toContain(`${guard.WARNING_PREFIX} of ${input}`);
});
