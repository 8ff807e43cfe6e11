/**
 * The package without its native addon: importing it never throws, the
 * CPU-only parts work, probe() reports NOT_BUILT, and GPU calls throw
 * NOT_BUILT with the build instructions. Runs in a child process whose
 * package root (MARLIN_TEST_PACKAGE_ROOT, for tests only) is an empty
 * directory, so neither build/ nor prebuilds/ is found.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

// What the child does with the package; it prints one JSON line.
const CHILD = `
const m = require(${JSON.stringify(path.join(ROOT, 'lib', 'index.ts'))});
const caught = (fn) => { try { fn(); return null; } catch (e) { return { name: e.name, code: e.code, message: e.message }; } };
const k = 256, n = 64;
const w = Float32Array.from({ length: k * n }, (_, i) => Math.sin(i));
const q = m.quantize(w, k, n, 128);
const packed = m.packWeights(q.q, k, n);
const roundTrip = m.unpackWeights(packed, k, n).every((v, i) => v === q.q[i]);
const half = m.fromHalf(m.toHalf([1.5, -2]));
console.log(JSON.stringify({
  dequantizedLength: m.dequantize(q).length,
  roundTrip,
  half: Array.from(half),
  probe: m.probe(),
  deviceGet: caught(() => m.Device.get(0)),
  deviceCount: caught(() => m.Device.count()),
  chooser: caught(() => m.compiledVariants()),
}));
`;

interface ChildError {
  name: string;
  code: string;
  message: string;
}

interface ChildReport {
  dequantizedLength: number;
  roundTrip: boolean;
  half: number[];
  probe: { available: boolean; code: string; reason: string; deviceCount: number; devices: unknown[] };
  deviceGet: ChildError | null;
  deviceCount: ChildError | null;
  chooser: ChildError | null;
}

describe('without the native addon', () => {
  let emptyRoot: string;
  let report: ChildReport;

  beforeAll(() => {
    emptyRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'marlin-no-addon-'));
    const child = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', CHILD], {
      cwd: ROOT,
      env: { ...process.env, MARLIN_TEST_PACKAGE_ROOT: emptyRoot },
      encoding: 'utf8',
      timeout: 60000,
    });
    if (child.status !== 0) throw new Error(`the child failed (exit ${child.status}):\n${child.stderr}`);
    report = JSON.parse(child.stdout.trim().split('\n').pop()!) as ChildReport;
  });
  afterAll(() => fs.rmSync(emptyRoot, { recursive: true, force: true }));

  test('importing the package works, and so do quantize, pack/unpack and FP16 conversion', () => {
    expect(report.dequantizedLength).toBe(256 * 64);
    expect(report.roundTrip).toBe(true);
    expect(report.half).toEqual([1.5, -2]);
  });

  test('probe() does not throw: it reports NOT_BUILT with the reason and how to build', () => {
    expect(report.probe).toMatchObject({ available: false, code: 'NOT_BUILT', deviceCount: 0, devices: [] });
    expect(report.probe.reason).toMatch(/is not built[\s\S]*npm rebuild marlin-node/);
  });

  test('Device.get() throws NOT_BUILT with the build and approve instructions', () => {
    expect(report.deviceGet).toMatchObject({ name: 'MarlinError', code: 'NOT_BUILT' });
    expect(report.deviceGet!.message).toMatch(/npm rebuild marlin-node[\s\S]*npm install-scripts approve marlin-node/);
  });

  test('every other use of the addon throws the same NOT_BUILT', () => {
    expect(report.deviceCount).toEqual(report.deviceGet);
    expect(report.chooser).toEqual(report.deviceGet);
  });
});
