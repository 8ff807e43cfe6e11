/**
 * scripts/check-cache-hints.js, the SASS guard against CUDA 13's cache-hint
 * miscompile, on synthetic disassembly: clean code passes, and each form of
 * the pitfall (a uniform register read that nothing writes, a descriptor
 * pair used before its write) fails with the function named.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const SCRIPT = path.resolve(__dirname, '..', '..', 'scripts', 'check-cache-hints.js');

const line = (addr: number, insn: string) => `        /*${addr.toString(16).padStart(4, '0')}*/                   ${insn} ; /* 0x0 */`;
const fn = (name: string, insns: string[]) => [`\tFunction : ${name}`, ...insns.map((insn, i) => line(16 * i, insn))].join('\n');

const GOOD = fn('_Z4goodv', [
  'ULDC.64 UR4, c[0x0][0x208]',
  'ULDC.64 UR22, c[0x0][0x248]',
  'UMOV UR6, 0x400',
  '@P3 LDGSTS.E.BYPASS.LTC128B.128 [R208+UR6+0x1000], desc[UR22][R16.64]',
  'LDGSTS.E.BYPASS.LTC128B.128 [R208+0x2000], desc[UR4][R14.64]',
]);
// As seen on the H100 with CUDA 13.0: UR0 and the UR1 pair are never written.
const NEVER_WRITTEN = fn('_Z10never_setv', [
  'ULDC.64 UR24, c[0x0][0x208]',
  '@P5 LDGSTS.E.BYPASS.LTC128B.128 [R180+UR0+0x4000], desc[UR1][R152.64]',
]);
// wgmma with A in registers, as CUDA 13.0 compiles it: gdesc[UR24] names
// UR24-27, the B descriptor is UR26-27 and the A pair is never read.
const WGMMA_RS = fn('_Z8wgmma_rsv', [
  'ULDC.64 UR12, c[0x0][0x210]',
  'UMOV UR26, UR12',
  'UMOV UR27, UR13',
  'WARPGROUP.ARRIVE',
  'HGMMA.64x64x16.F32 R24, R60, gdesc[UR24], R24, gsb0',
]);
// The same with B's upper word never written, and A and B both from shared
// memory with the A pair never written.
const WGMMA_RS_UNSET = fn('_Z11wgmma_unsetv', ['UMOV UR26, UR12', 'HGMMA.64x64x16.F32 R24, R60, gdesc[UR24], R24, gsb0']);
const WGMMA_SS_UNSET = fn('_Z8wgmma_ssv', ['UMOV UR10, UR4', 'UMOV UR11, UR5', 'HGMMA.64x128x16.F32 R24, gdesc[UR8], R24, gsb0']);
const LATE = fn('_Z9late_descv', ['LDGSTS.E.BYPASS.LTC128B.128 [R208+0x2000], desc[UR8][R14.64]', 'ULDC.64 UR8, c[0x0][0x208]']);

function check(sass: string): { status: number | null; output: string } {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sass-')), 'k.sass');
  fs.writeFileSync(file, `${sass}\n`);
  const r = spawnSync(process.execPath, [SCRIPT, '--sass', file], { encoding: 'utf8' });
  return { status: r.status, output: r.stdout + r.stderr };
}

describe('check-cache-hints', () => {
  test('passes code whose uniform registers are all written before use', () => {
    const r = check(GOOD);
    expect(r).toMatchObject({ status: 0 });
    expect(r.output).toMatch(/1 functions, 2 desc\[UR\] operands/);
  });

  test('fails a cp.async reading uniform registers that nothing writes, naming the function', () => {
    const r = check(`${GOOD}\n${NEVER_WRITTEN}`);
    expect(r.status).toBe(1);
    expect(r.output).toMatch(/_Z10never_setv: UR0 is read but never written/);
    expect(r.output).toMatch(/_Z10never_setv: UR1 is read but never written/);
    expect(r.output).not.toMatch(/_Z4goodv/);
  });

  test('--functions lists each failing function once, on stdout', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sass-')), 'k.sass');
    fs.writeFileSync(file, [GOOD, NEVER_WRITTEN, LATE].join('\n'));
    const r = spawnSync(process.execPath, [SCRIPT, '--functions', '--sass', file], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stdout.trim().split('\n')).toEqual(['_Z10never_setv', '_Z9late_descv']);
  });

  test('--exclusions names failing mma kernels as table.json evictFirst.exclude entries', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sass-')), 'k.sass');
    // f16 8-bit g32 symmetric 128x128 at 3 and 4 row blocks, bf16 4-bit per-column zero points 64x256 at 1 (sm_90, hinted).
    const mma = (act: number, bits: number, groups: string, zeros: number, rows: number, tn: number, tk: number) =>
      `_ZN6marlin3mma11gemm_kernelINS_6LayoutINS_8FormatOfILNS_3ActE${act}ELi${bits}ELi${groups}ELb${zeros}EEELi${rows}ELi${tn}ELi${tk}EEELi90ELb1EEEvNS_10KernelArgsE`;
    const bad = (name: string) => NEVER_WRITTEN.replace('_Z10never_setv', name);
    fs.writeFileSync(file, [GOOD, bad(mma(0, 8, '2', 0, 4, 8, 8)), bad(mma(0, 8, '2', 0, 3, 8, 8)), bad(mma(1, 4, 'n1', 1, 1, 16, 4))].join('\n'));
    const r = spawnSync(process.execPath, [SCRIPT, '--exclusions', '--sass', file], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stdout.trim().split('\n').map((line) => JSON.parse(line))).toEqual([
      { variant: 'gemm_mma_bf16_u4_gch_zp_64x256', rowBlocks: [1] },
      { variant: 'gemm_mma_f16_u8_g32_sym_128x128', rowBlocks: [3, 4] },
    ]);
  });

  test('fails a descriptor pair used before its first write', () => {
    const r = check(LATE);
    expect(r.status).toBe(1);
    expect(r.output).toMatch(/_Z9late_descv: descriptor pair UR8, UR9 used before it is written/);
  });

  test('reads a wgmma descriptor operand as the registers it names: the B pair, and the A pair only when A is in shared memory', () => {
    const good = check(WGMMA_RS);
    expect(good).toMatchObject({ status: 0 });
    expect(good.output).toMatch(/1 functions, 0 desc\[UR\] operands, 1 wgmma descriptors/);
    const bad = check(`${WGMMA_RS}\n${WGMMA_RS_UNSET}\n${WGMMA_SS_UNSET}`);
    expect(bad.status).toBe(1);
    expect(bad.output).toMatch(/_Z11wgmma_unsetv: UR27 is read but never written/);
    expect(bad.output).not.toMatch(/_Z11wgmma_unsetv: UR2[456] /);
    expect(bad.output).toMatch(/_Z8wgmma_ssv: UR8 is read but never written/);
    expect(bad.output).toMatch(/_Z8wgmma_ssv: UR9 is read but never written/);
    expect(bad.output).not.toMatch(/_Z8wgmma_rsv/);
  });

  test("fails a wgmma whose B descriptor pair is written only after it", () => {
    const r = check(fn('_Z10wgmma_latev', ['HGMMA.64x64x16.F32 R24, R60, gdesc[UR24], R24, gsb0', 'ULDC.64 UR26, c[0x0][0x210]']));
    expect(r.status).toBe(1);
    expect(r.output).toMatch(/_Z10wgmma_latev: descriptor pair UR26, UR27 used before it is written/);
  });

  test('refuses input with no kernels', () => {
    expect(check('nothing here').status).toBe(2);
  });
});
