/**
 * scripts/gpu-check.js without a GPU: its arguments, the verdict it draws
 * from compute-sanitizer's output and jest's counts, the summary lines, and
 * whole runs against stand-ins for compute-sanitizer and cuobjdump (in a
 * made-up CUDA_HOME) that report what each case needs.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}
interface GpuCheck {
  CHECKS: string[];
  parseArgs(argv: string[]): { checks?: string[]; dryRun?: boolean; error?: string; help?: boolean };
  sanitizerCommand(sanitizer: string, tool: string, jestJson: string): string[];
  sanitizerErrors(output: string): number | undefined;
  sanitizerVerdict(tool: string, status: number | null, output: string, counts: Counts | undefined, seconds: number, filtered?: boolean): { ok: boolean; line: string };
  hopperSkipped(output: string, counts: Counts | undefined): boolean;
  overall(results: Array<{ name: string; ok: boolean; skipped?: boolean }>): { line: string; status: number };
}

const SCRIPT = path.resolve(__dirname, '..', '..', 'scripts', 'gpu-check.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const g = require(SCRIPT) as GpuCheck;

const CLEAN = '========= COMPUTE-SANITIZER\n========= ERROR SUMMARY: 0 errors\n';
const ok: Counts = { passed: 12, failed: 0, skipped: 0 };

describe('gpu-check arguments', () => {
  test('runs every check by default, in order', () => {
    expect(g.parseArgs([])).toEqual({
      checks: ['memcheck', 'racecheck', 'synccheck', 'wgmma-memcheck', 'wgmma-racecheck', 'wgmma-synccheck', 'cache-hints'],
      dryRun: false,
    });
  });

  test('--only picks checks (in the script order), --dry-run only prints', () => {
    expect(g.parseArgs(['--only', 'cache-hints,memcheck', '--dry-run'])).toEqual({ checks: ['memcheck', 'cache-hints'], dryRun: true });
    expect(g.parseArgs(['--only=synccheck'])).toEqual({ checks: ['synccheck'], dryRun: false });
  });

  test('unknown checks and arguments are errors', () => {
    expect(g.parseArgs(['--only', 'memcheck,leakcheck']).error).toMatch(/unknown check leakcheck/);
    expect(g.parseArgs(['--only']).error).toMatch(/needs a list/);
    expect(g.parseArgs(['--fast']).error).toMatch(/unknown argument --fast/);
  });

  test('the sanitizer runs jest in its own node process, with an error exit code and a print limit', () => {
    const memcheck = g.sanitizerCommand('/cuda/bin/compute-sanitizer', 'memcheck', '/tmp/m.json');
    expect(memcheck.slice(0, 8)).toEqual(['/cuda/bin/compute-sanitizer', '--tool', 'memcheck', '--error-exitcode', '9', '--print-limit', '10', process.execPath]);
    expect(memcheck).toEqual(expect.arrayContaining([path.join('node_modules', 'jest', 'bin', 'jest.js'), '--runInBand', '--outputFile=/tmp/m.json', 'test/gpu/gemm.test.ts']));
    expect(memcheck).not.toContain('-t');
    const racecheck = g.sanitizerCommand('cs', 'racecheck', 'r.json');
    expect(racecheck.slice(-4)).toEqual(['test/gpu/formats.test.ts', 'test/gpu/checkpoint.test.ts', '-t', 'forward\\(\\) for m|repeated runs|dequantizeWeights']);
  });

  test("the wgmma checks run their tool over the wgmma suite's FP16 group-128 cases", () => {
    const memcheck = g.sanitizerCommand('cs', 'wgmma-memcheck', 'm.json');
    expect(memcheck.slice(0, 3)).toEqual(['cs', '--tool', 'memcheck']);
    expect(memcheck.slice(-3)).toEqual(['test/gpu/wgmma.test.ts', '-t', ' float16/u4/g128/(sym|zp).*(stream-k at m|forward\\(\\) for m|split-k, splits|row tiles)']);
    for (const tool of ['racecheck', 'synccheck']) {
      const c = g.sanitizerCommand('cs', `wgmma-${tool}`, 'r.json');
      expect(c.slice(0, 3)).toEqual(['cs', '--tool', tool]);
      expect(c.slice(-3)).toEqual(['test/gpu/wgmma.test.ts', '-t', ' float16/u4/g128/sym.*(stream-k at m|forward\\(\\) for m)']);
    }
    // The patterns pick the tests they name: jest matches -t against the describe names and the test's, joined
    // by spaces (test/gpu/wgmma.test.ts's names, abridged after the part the patterns read).
    const suite = 'wgmma family on sm_90 (seed 1)';
    const names = [
      `${suite} float16/u4/g128/sym forward() for m in 1, 31, 45, 64, 80, 100, 128, 257, 383, 1000: every checked element within its bound`,
      `${suite} float16/u4/g128/zp forward() for m in 1, 31, 45, 64, 80, 100, 128, 257, 383, 1000: every checked element within its bound`,
      `${suite} float16/u4/g128/sym split-k, splits 1, 2, 3, 4, 5, 6, 7, 8 at m in 1, 40, 77, 256, 383: every checked element within its bound`,
      `${suite} float16/u4/g128/sym stream-k at m in 1, 31, 45, 64, 65, 100, 257 (each tile that has it; ...)`,
      `${suite} float16/u4/g128/zp stream-k at m in 1, 31, 45, 64, 65, 100, 257 (each tile that has it; ...)`,
      `${suite} stream-k: block runs that cross tiles, tiles that cross many blocks float16/u4/g128/sym, 32-row tiles: within the bound, ...`,
      `${suite} bfloat16/u4/g128/sym forward() for m in 1, 31, 45, 64, 80, 100, 128, 257, 383, 1000: every checked element within its bound`,
      `${suite} float16/u4/g32/sym forward() for m in 1, 31, 45, 64, 80, 100, 128, 257, 383, 1000: every checked element within its bound`,
      `${suite} float16/u4/g128/sym agrees with the mma family within the bound`,
      `${suite} a last, partial wave of output tiles: a second launch runs it split float16/u4/g32/sym: within the bound, ...`,
    ];
    const picked = (name: string) => names.filter((n) => new RegExp(g.sanitizerCommand('cs', name, 'x.json').slice(-1)[0]).test(n)).map((n) => names.indexOf(n));
    expect(picked('wgmma-memcheck')).toEqual([0, 1, 2, 3, 4, 5]);
    expect(picked('wgmma-racecheck')).toEqual([0, 3]);
    expect(picked('wgmma-synccheck')).toEqual([0, 3]);
  });
});

describe('gpu-check verdicts and summary', () => {
  test('reads the sanitizer error count', () => {
    expect(g.sanitizerErrors(CLEAN)).toBe(0);
    expect(g.sanitizerErrors('========= ERROR SUMMARY: 1 error\n')).toBe(1);
    expect(g.sanitizerErrors('========= ERROR SUMMARY: 37 errors')).toBe(37);
    expect(g.sanitizerErrors('no summary')).toBeUndefined();
  });

  test("reads racecheck's hazard summary (it prints no ERROR SUMMARY), counting warnings as errors", () => {
    // The line compute-sanitizer 2025.3 (CUDA 13.0) printed for a clean racecheck run on the H100.
    expect(g.sanitizerErrors('========= RACECHECK SUMMARY: 0 hazards displayed (0 errors, 0 warnings)\n')).toBe(0);
    expect(g.sanitizerErrors('========= RACECHECK SUMMARY: 3 hazards displayed (2 errors, 1 warning)')).toBe(3);
    expect(g.sanitizerErrors('========= RACECHECK SUMMARY: 1 hazard displayed (0 errors, 1 warning)')).toBe(1);
    expect(g.sanitizerVerdict('racecheck', 0, '========= RACECHECK SUMMARY: 0 hazards displayed (0 errors, 0 warnings)\n', ok, 5).ok).toBe(true);
    expect(g.sanitizerVerdict('racecheck', 9, '========= RACECHECK SUMMARY: 1 hazard displayed (1 error, 0 warnings)\n', ok, 5).line).toMatch(
      /FAILED \(1 sanitizer errors\)/,
    );
  });

  test('passes a clean run in which tests ran and none failed or was skipped', () => {
    expect(g.sanitizerVerdict('memcheck', 0, CLEAN, ok, 42)).toEqual({
      ok: true,
      line: 'memcheck: passed: 0 sanitizer errors; tests 12 passed, 0 failed, 0 skipped; 42 s',
    });
  });

  test.each([
    ['sanitizer errors', 9, '========= ERROR SUMMARY: 3 errors\n', ok, /FAILED \(3 sanitizer errors\)/],
    ['a failed test', 1, CLEAN, { passed: 11, failed: 1, skipped: 0 }, /FAILED \(1 tests failed\)/],
    ['skipped tests (no GPU)', 0, CLEAN, { passed: 0, failed: 0, skipped: 12 }, /FAILED \(12 tests skipped; no test ran\)/],
    ['no jest results', 1, CLEAN, undefined, /FAILED \(jest wrote no results\)/],
    ['no sanitizer summary', 0, 'compute-sanitizer: cannot start\n', ok, /FAILED \(no error or hazard summary from compute-sanitizer\)/],
    ['only a bad exit status', 139, CLEAN, ok, /FAILED \(exit status 139\)/],
  ])('fails a run with %s', (_, status, output, counts, line) => {
    const v = g.sanitizerVerdict('racecheck', status, output, counts, 1);
    expect(v.ok).toBe(false);
    expect(v.line).toMatch(/^racecheck: /);
    expect(v.line).toMatch(line);
  });

  test('tests left out by a -t pattern (jest counts them as skipped) do not fail a filtered run', () => {
    const counts = { passed: 40, failed: 0, skipped: 300 };
    expect(g.sanitizerVerdict('synccheck', 0, CLEAN, counts, 1, true).ok).toBe(true);
    expect(g.sanitizerVerdict('synccheck', 0, CLEAN, { ...counts, passed: 0 }, 1, true).line).toMatch(/FAILED \(no test ran\)/);
    expect(g.sanitizerVerdict('memcheck', 0, CLEAN, counts, 1, false).line).toMatch(/FAILED \(300 tests skipped\)/);
  });

  test('a wgmma check on a GPU that is not compute capability 9.0 is skipped, not passed, when its suite says so and nothing ran', () => {
    const said = '\n*** marlin-node: wgmma suite SKIPPED: GPU 0 is compute capability 8.0, not 9.0\n\n' + CLEAN;
    const none = { passed: 0, failed: 0, skipped: 265 };
    expect(g.hopperSkipped(said, none)).toBe(true);
    expect(g.hopperSkipped(said.replace('8.0', '12.0'), none)).toBe(true);
    expect(g.hopperSkipped(CLEAN, none)).toBe(false);
    // On an H100, a build without sm_90 code is not a skip: the check fails (no test ran).
    const noSm90 = '\n*** marlin-node: wgmma suite SKIPPED: this build has no sm_90 code\n\n' + CLEAN;
    expect(g.hopperSkipped(noSm90, none)).toBe(false);
    expect(g.sanitizerVerdict('wgmma-memcheck', 0, noSm90, none, 1, true).line).toMatch(/FAILED \(no test ran\)/);
    expect(g.hopperSkipped(said, { ...none, passed: 1 })).toBe(false);
    expect(g.hopperSkipped(said, { ...none, failed: 1 })).toBe(false);
    expect(g.hopperSkipped(said, undefined)).toBe(false);
    expect(g.overall([{ name: 'memcheck', ok: true }, { name: 'wgmma-memcheck', ok: true, skipped: true }])).toEqual({
      line: 'gpu-check: passed (1 of 2 checks; skipped: wgmma-memcheck)',
      status: 0,
    });
    expect(g.overall([{ name: 'memcheck', ok: false }, { name: 'wgmma-memcheck', ok: true, skipped: true }])).toEqual({
      line: 'gpu-check: FAILED: memcheck (0 of 2 checks passed; skipped: wgmma-memcheck)',
      status: 1,
    });
    expect(g.overall([{ name: 'wgmma-memcheck', ok: true, skipped: true }])).toEqual({
      line: 'gpu-check: nothing checked (skipped: wgmma-memcheck)',
      status: 0,
    });
  });

  test('the overall line names the failed checks', () => {
    expect(g.overall([{ name: 'memcheck', ok: true }, { name: 'cache-hints', ok: true }])).toEqual({ line: 'gpu-check: passed (2 of 2 checks)', status: 0 });
    expect(g.overall([{ name: 'memcheck', ok: true }, { name: 'synccheck', ok: false }])).toEqual({
      line: 'gpu-check: FAILED: synccheck (1 of 2 checks passed)',
      status: 1,
    });
  });
});

describe('gpu-check runs (stand-in tools)', () => {
  const made: string[] = [];
  afterAll(() => made.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));
  // A CUDA_HOME whose compute-sanitizer writes jest's counts and prints its
  // summary as told by FAKE_ERRORS / FAKE_FAILED, and whose cuobjdump prints
  // clean SASS.
  function fakeCuda(): string {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'fake-cuda-'));
    made.push(home);
    fs.mkdirSync(path.join(home, 'bin'));
    const sanitizer = `#!${process.execPath}
const out = process.argv.find((a) => a.startsWith('--outputFile='));
const failed = Number(process.env.FAKE_FAILED || 0);
const errors = Number(process.env.FAKE_ERRORS || 0);
const notHopper = process.env.FAKE_NOT_HOPPER === '1' && process.argv.includes('test/gpu/wgmma.test.ts');
if (!process.argv.includes('--runInBand') || process.env.MARLIN_REQUIRE_GPU !== '1') process.exit(3);
if (notHopper) console.error('*** marlin-node: wgmma suite SKIPPED: GPU 0 is compute capability 8.0, not 9.0');
require('fs').writeFileSync(out.slice('--outputFile='.length), JSON.stringify({ numPassedTests: notHopper ? 0 : 5, numFailedTests: failed, numRuntimeErrorTestSuites: 0, numPendingTests: process.argv.includes('-t') ? 7 : 0, numTodoTests: 0 }));
console.log('========= ERROR SUMMARY: ' + errors + ' errors');
process.exit(errors ? 9 : failed ? 1 : 0);
`;
    const cuobjdump = `#!${process.execPath}
console.log('\\tFunction : _Z4goodv');
console.log('        /*0000*/                   ULDC.64 UR4, c[0x0][0x208] ; /* 0x0 */');
console.log('        /*0010*/                   LDGSTS.E.BYPASS.LTC128B.128 [R208+0x2000], desc[UR4][R14.64] ; /* 0x0 */');
`;
    fs.writeFileSync(path.join(home, 'bin', 'compute-sanitizer'), sanitizer, { mode: 0o755 });
    fs.writeFileSync(path.join(home, 'bin', 'cuobjdump'), cuobjdump, { mode: 0o755 });
    return home;
  }

  function gpuCheck(args: string[], env: Record<string, string>): { status: number | null; output: string } {
    const r = spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
    return { status: r.status, output: r.stdout + r.stderr };
  }

  test('all checks pass: one line per check, then the overall line, exit 0', () => {
    const r = gpuCheck([], { CUDA_HOME: fakeCuda() });
    const lines = r.output.trim().split('\n').slice(-8);
    expect(lines.map((l) => l.split(':')[0])).toEqual(['memcheck', 'racecheck', 'synccheck', 'wgmma-memcheck', 'wgmma-racecheck', 'wgmma-synccheck', 'cache-hints', 'gpu-check']);
    expect(lines[0]).toMatch(/^memcheck: passed: 0 sanitizer errors; tests 5 passed, 0 failed, 0 skipped/);
    expect(lines[3]).toMatch(/^wgmma-memcheck: passed: 0 sanitizer errors; tests 5 passed, 0 failed, 7 skipped/);
    expect(lines[6]).toMatch(/^cache-hints: passed: /);
    expect(lines[7]).toBe('gpu-check: passed (7 of 7 checks)');
    expect(r.status).toBe(0);
  });

  test('on a GPU that is not compute capability 9.0 the wgmma checks say skipped; the others still decide', () => {
    const r = gpuCheck(['--only', 'synccheck,wgmma-memcheck,wgmma-synccheck'], { CUDA_HOME: fakeCuda(), FAKE_NOT_HOPPER: '1' });
    // (stdout, then stderr, where the suites' skip notices go: the summary is the end of stdout.)
    const all = r.output.split('\n');
    const end = all.findIndex((l) => l.startsWith('gpu-check: '));
    const lines = all.slice(end - 3, end + 1);
    expect(lines[0]).toMatch(/^synccheck: passed: /);
    expect(lines[1]).toMatch(/^wgmma-memcheck: skipped: GPU 0 is not compute capability 9\.0 \(the wgmma family runs on no other\)/);
    expect(lines[2]).toMatch(/^wgmma-synccheck: skipped: /);
    expect(lines[3]).toBe('gpu-check: passed (1 of 3 checks; skipped: wgmma-memcheck, wgmma-synccheck)');
    expect(r.status).toBe(0);
  });

  test('sanitizer errors or a failed test fail the run', () => {
    const home = fakeCuda();
    const errors = gpuCheck(['--only', 'synccheck'], { CUDA_HOME: home, FAKE_ERRORS: '2' });
    expect(errors.output).toMatch(/^synccheck: FAILED \(2 sanitizer errors\)/m);
    expect(errors.output).toMatch(/^gpu-check: FAILED: synccheck \(0 of 1 checks passed\)$/m);
    expect(errors.status).toBe(1);
    const failed = gpuCheck(['--only', 'memcheck'], { CUDA_HOME: home, FAKE_FAILED: '1' });
    expect(failed.output).toMatch(/^memcheck: FAILED \(1 tests failed\)/m);
    expect(failed.status).toBe(1);
  });

  test('a missing tool fails its check and says where it was looked for', () => {
    if (fs.existsSync('/usr/local/cuda/bin/compute-sanitizer')) return; // a real toolkit is found after CUDA_HOME
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'no-cuda-'));
    made.push(empty);
    const r = gpuCheck(['--only', 'memcheck'], { CUDA_HOME: empty, PATH: path.dirname(process.execPath) });
    expect(r.output).toMatch(/^memcheck: FAILED \(compute-sanitizer not found in \$CUDA_HOME\/bin, \/usr\/local\/cuda\/bin or PATH/m);
    expect(r.status).toBe(1);
  });
});
