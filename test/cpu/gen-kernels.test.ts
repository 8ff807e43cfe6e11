/**
 * scripts/gen-kernels.js on tables other than the shipped one: the wgmma
 * family's rules (tile heights, split-k limits and costs, cluster
 * capacities, choose entries), the decode family's (formats, tile heights,
 * depth, k shares, choose entries), the wgmma family's price against the mma
 * family, the mma family's aligned block counts and its evict-first hint are checked before anything is written, each
 * mistake named in one line; and a valid table's values reach
 * kernel_table.h (what the kernels compile from) and chooser_table.h (what
 * only the chooser reads). No GPU, no nvcc.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { type KernelTableFile, KERNEL_TABLE_FILE } from '../../lib/table';

const ROOT = path.resolve(__dirname, '..', '..');
type Family = KernelTableFile['families'][number];

let scratch: string;
beforeAll(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'marlin-gen-'));
});
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

let runs = 0;
/**
 * gen-kernels.js --out in a copy of the package whose wgmma family is changed by `edit` (the mma family by
 * `editMma`, the decode family by `editDecode`); its exit status, stderr and generated headers.
 */
function generate(
  edit: (wgmma: Family) => void,
  editMma: (mma: Family) => void = () => {},
  archs = '90',
  flags: string[] = [],
  editDecode: (decode: Family) => void = () => {},
) {
  const root = path.join(scratch, `package-${runs++}`);
  fs.mkdirSync(path.join(root, 'scripts'), { recursive: true });
  fs.mkdirSync(path.join(root, 'csrc', 'kernels'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'scripts', 'gen-kernels.js'), path.join(root, 'scripts', 'gen-kernels.js'));
  const table = structuredClone(KERNEL_TABLE_FILE) as KernelTableFile;
  edit(table.families.find((f) => f.name === 'wgmma')!);
  editMma(table.families.find((f) => f.name === 'mma')!);
  editDecode(table.families.find((f) => f.name === 'decode')!);
  fs.writeFileSync(path.join(root, 'csrc', 'kernels', 'table.json'), JSON.stringify(table));
  const out = path.join(root, 'generated');
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'gen-kernels.js'), '--out', out, ...flags], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, MARLIN_CUDA_ARCHS: archs },
  });
  const headers = ['kernel_table.h', 'chooser_table.h'].map((f) => path.join(out, f));
  return {
    status: r.status,
    stdout: r.stdout.trim(),
    stderr: r.stderr.trim(),
    /** A generated file's text. */
    file: (name: string) => fs.readFileSync(path.join(out, name), 'utf8'),
    /** Both generated headers' text, the kernels' then the chooser's. */
    header: headers.map((h) => (fs.existsSync(h) ? fs.readFileSync(h, 'utf8') : '')).join(''),
    written: fs.existsSync(out) ? fs.readdirSync(out) : [],
  };
}

describe('gen-kernels.js: two headers, the kernels\' and the chooser\'s', () => {
  test('kernel_table.h holds what kernels compile from; chooser_table.h, which includes it, the chooser\'s policy', () => {
    const r = generate(() => {});
    expect(r.status).toBe(0);
    const kernels = r.file('kernel_table.h');
    const chooser = r.file('chooser_table.h');
    expect(chooser).toContain('#include "kernel_table.h"');
    for (const name of ['kMinStages', 'kWgmmaMaxStages', 'kDecodeShares', 'smem_optin', 'max_stages'])
      expect({ name, inKernels: kernels.includes(name) }).toEqual({ name, inKernels: true });
    // A choose entry, cost or tile rule changed in table.json must not touch the header every kernel includes.
    const policy = ['kWgmmaChoose', 'kWgmmaMaxSplits', 'kWgmmaMinSplitStages', 'kWgmmaBlockCostStages', 'kWgmmaSplitCostStages',
      'kWgmmaTailLaunchCostStages', 'kWgmmaStreamKShareCostStages', 'kWgmmaStreamKPartialCostStages', 'kWgmmaStreamKRowReusePercent',
      'kWgmmaClusterSmPercent', 'kDecodeChoose', 'kDecodeWarpsPerSm', 'kAlignedBlocks', 'kPricedBlocks', 'kFamilyPrice', 'kPricedFormats',
      'kPriceGains', 'TileRule', 'kDefaultRules'];
    for (const name of policy) {
      expect({ name, inKernels: kernels.includes(name) }).toEqual({ name, inKernels: false });
      expect({ name, inChooser: chooser.includes(name) }).toEqual({ name, inChooser: true });
    }
    // Every policy field of table.json edited at once: the kernels' header is byte-identical.
    const again = generate(
      (w) => {
        w.choose = [{ minBatch: 50, minTiles: 16 }];
        w.maxSplits = 4;
        w.clusterSmPercent = [100, 100, 90, 90];
        w.minSplitStages = 3;
        w.blockCostStages = 9;
        w.splitCostStages = 2;
        w.tailLaunchCostStages = 5;
        w.streamKShareCostStages = 5;
        w.streamKPartialCostStages = 2;
        w.streamKRowReusePercent = 25;
        w.familyPrice = { ...w.familyPrice!, minK: 1024, minGain: [{ percent: 9 }] };
      },
      (m) => {
        m.alignedBlocks = { entries: [{ arch: 90, maxBatch: 8, minFillPercent: 50 }] };
        m.pricedBlocks = { entries: [{ arch: 90, minBatch: 9, maxBatch: 32, partialCost: 1.5, straddleCost: 2 }] };
      },
      '90',
      [],
      (d) => {
        d.choose = [{ maxBatch: 4 }];
        d.warpsPerSm = 8;
      },
    );
    expect(again.status).toBe(0);
    expect(again.file('kernel_table.h')).toBe(kernels);
    expect(again.file('chooser_table.h')).not.toBe(chooser);
  });
});

describe('gen-kernels.js: the wgmma family of the kernel table', () => {
  test('the shipped values reach the generated headers', () => {
    const r = generate(() => {});
    expect(r.status).toBe(0);
    const w = KERNEL_TABLE_FILE.families.find((f) => f.name === 'wgmma')!;
    expect(r.header).toContain(`constexpr int kWgmmaRows[] = {${w.rows!.join(', ')}};`);
    expect(r.header).toContain(`constexpr int kWgmmaMaxSplits = ${w.maxSplits};`);
    expect(r.header).toContain(`constexpr int kWgmmaClusterSmPercent[] = {${w.clusterSmPercent!.join(', ')}};`);
    const mask = (bits: readonly number[]) => `0x${bits.reduce((m, b) => m | (1 << b), 0).toString(16)}u`;
    const sizes = KERNEL_TABLE_FILE.formats.groupSizes;
    const groups = (g: readonly number[]) => `0x${g.reduce((m, s) => m | (1 << sizes.indexOf(s)), 0).toString(16)}u`;
    // Act values: float16 0, bfloat16 1; zero-point modes: bit 0 symmetric, bit 1 zero points.
    const acts = (a: readonly string[]) => mask(a.map((x) => (x === 'float16' ? 0 : 1)));
    const zeros = (z: readonly boolean[]) => `0x${z.reduce((m, x) => m | (x ? 2 : 1), 0).toString(16)}u`;
    const entry = (c: NonNullable<Family['choose']>[number]) =>
      `{${c.minBatch}, ${c.maxBatch ?? 0}, ${c.minTiles}, ${c.maxTiles ?? 0}, ${c.minK ?? 0}, ${c.maxK ?? 0}, ${mask(c.bits ?? KERNEL_TABLE_FILE.formats.bits)}, ${groups(c.groupSizes ?? sizes)}, ` +
      `${acts(c.activations ?? KERNEL_TABLE_FILE.formats.activations)}, ${zeros(c.zeroPoints ?? KERNEL_TABLE_FILE.formats.zeroPoints)}}`;
    expect(r.header).toContain(`constexpr WgmmaChoice kWgmmaChoose[] = {${w.choose!.map(entry).join(', ')}};`);
  });

  test('changed values are what the chooser gets', () => {
    const r = generate((w) => {
      w.choose = [
        { minBatch: 33, minTiles: 8, bits: [4] },
        { minBatch: 300, minTiles: 0 },
        { minBatch: 17, minTiles: 4, minK: 1024, groupSizes: [64, -1] },
        { minBatch: 40, minTiles: 2, activations: ['bfloat16'], zeroPoints: [true] },
        { minBatch: 41, minTiles: 3, activations: ['float16'], zeroPoints: [false] },
        { minBatch: 49, maxBatch: 64, minTiles: 4, minK: 2048, maxK: 4096 },
        { minBatch: 8, maxBatch: 8, minTiles: 1, maxK: 1 },
        { minBatch: 33, maxBatch: 48, minTiles: 12, maxTiles: 24, minK: 8192, bits: [4] },
        { minBatch: 17, minTiles: 0, maxTiles: 1 },
      ];
      w.maxSplits = 4;
      w.clusterSmPercent = [100, 100, 90, 90];
    });
    expect(r.status).toBe(0);
    // Group sizes 32, 64, 128, -1 are bits 0-3 of the groups mask; then float16 (bit 0) and bfloat16 (bit 1), and
    // symmetric (bit 0) and zero points (bit 1). No maxBatch, maxTiles or maxK is 0 (no bound).
    expect(r.header).toContain(
      'constexpr WgmmaChoice kWgmmaChoose[] = {{33, 0, 8, 0, 0, 0, 0x10u, 0xfu, 0x3u, 0x3u}, {300, 0, 0, 0, 0, 0, 0x110u, 0xfu, 0x3u, 0x3u}, ' +
        '{17, 0, 4, 0, 1024, 0, 0x110u, 0xau, 0x3u, 0x3u}, {40, 0, 2, 0, 0, 0, 0x110u, 0xfu, 0x2u, 0x2u}, {41, 0, 3, 0, 0, 0, 0x110u, 0xfu, 0x1u, 0x1u}, ' +
        '{49, 64, 4, 0, 2048, 4096, 0x110u, 0xfu, 0x3u, 0x3u}, {8, 8, 1, 0, 0, 1, 0x110u, 0xfu, 0x3u, 0x3u}, ' +
        '{33, 48, 12, 24, 8192, 0, 0x10u, 0xfu, 0x3u, 0x3u}, {17, 0, 0, 1, 0, 0, 0x110u, 0xfu, 0x3u, 0x3u}};',
    );
    expect(r.header).toContain('constexpr int kWgmmaChooseCount = 9;');
    expect(r.header).toContain('constexpr int kWgmmaClusterSmPercent[] = {100, 100, 90, 90};');
  });

  const CHOOSE_REFUSED =
    "gen-kernels: wgmma choose must list { minBatch >= 1, maxBatch?: >= minBatch, minTiles >= 0, maxTiles?: >= minTiles and 1, minK?: >= 0, maxK?: >= minK and 1, bits?: some of the family's bits (4,8), groupSizes?: some of its group sizes (32,64,128,-1), " +
    "activations?: some of the table's (float16,bfloat16), zeroPoints?: some of its zero-point modes (false,true) } entries";
  const CHOOSE_REFUSED_4 = CHOOSE_REFUSED.replace('(4,8)', '(4)');
  test.each<[string, (w: Family) => void, string]>([
    ['more splits than a portable cluster', (w) => (w.maxSplits = 9), 'gen-kernels: wgmma maxSplits must be 1 to 8 (a portable cluster), not 9'],
    ['no splits', (w) => (w.maxSplits = 0), 'gen-kernels: wgmma maxSplits must be 1 to 8 (a portable cluster), not 0'],
    ['a tile height with no wgmma shape', (w) => (w.rows = [40, 128]), "gen-kernels: wgmma rows must be ascending values of 32, 48, 64, 96 and 128 (ptx::MmaAsync's shapes), not 40,128"],
    ['tile heights out of order', (w) => (w.rows = [128, 64]), "gen-kernels: wgmma rows must be ascending values of 32, 48, 64, 96 and 128 (ptx::MmaAsync's shapes), not 128,64"],
    ['a cluster capacity per split count missing', (w) => (w.clusterSmPercent = [100, 100]), 'gen-kernels: wgmma clusterSmPercent must give 1..100 for each split count up to maxSplits, not 100,100'],
    ['a cluster capacity over 100%', (w) => (w.clusterSmPercent = [100, 100, 89, 91, 84, 78, 80, 101]), 'gen-kernels: wgmma clusterSmPercent must give 1..100 for each split count up to maxSplits, not 100,100,89,91,84,78,80,101'],
    ['no choose entry', (w) => (w.choose = []), CHOOSE_REFUSED],
    ['a choose entry from 0 rows', (w) => (w.choose = [{ minBatch: 0, minTiles: 16 }]), CHOOSE_REFUSED],
    ['splits with no stage', (w) => (w.minSplitStages = 0), 'gen-kernels: wgmma minSplitStages must be an integer >= 1, not 0'],
    ['a negative block cost', (w) => (w.blockCostStages = -1), 'gen-kernels: wgmma blockCostStages, splitCostStages and tailLaunchCostStages must be integers >= 0'],
    ['a fractional split cost', (w) => (w.splitCostStages = 0.5), 'gen-kernels: wgmma blockCostStages, splitCostStages and tailLaunchCostStages must be integers >= 0'],
    ['a missing tail launch cost', (w) => delete w.tailLaunchCostStages, 'gen-kernels: wgmma blockCostStages, splitCostStages and tailLaunchCostStages must be integers >= 0'],
    ['no tile heights', (w) => delete w.rows, "gen-kernels: wgmma rows must be ascending values of 32, 48, 64, 96 and 128 (ptx::MmaAsync's shapes), not undefined"],
    ['a negative stream-k share cost', (w) => (w.streamKShareCostStages = -1), 'gen-kernels: wgmma streamKShareCostStages and streamKPartialCostStages must be integers >= 0'],
    ['a missing stream-k partial cost', (w) => delete w.streamKPartialCostStages, 'gen-kernels: wgmma streamKShareCostStages and streamKPartialCostStages must be integers >= 0'],
    ['a stream-k row reuse loss over 100%', (w) => (w.streamKRowReusePercent = 101), 'gen-kernels: wgmma streamKRowReusePercent must be an integer from 0 to 100, not 101'],
    ['a missing stream-k row reuse loss', (w) => delete w.streamKRowReusePercent, 'gen-kernels: wgmma streamKRowReusePercent must be an integer from 0 to 100, not undefined'],
    ['a choose entry for bits the table has not', (w) => (w.choose = [{ minBatch: 49, minTiles: 16, bits: [3] }]), CHOOSE_REFUSED],
    ['a choose entry without minTiles', (w) => (w.choose = [{ minBatch: 49 }]), CHOOSE_REFUSED],
    ['a choose entry with no bits', (w) => (w.choose = [{ minBatch: 49, minTiles: 16, bits: [] }]), CHOOSE_REFUSED],
    ['a choose entry with a negative minK', (w) => (w.choose = [{ minBatch: 17, minTiles: 16, minK: -1 }]), CHOOSE_REFUSED],
    ['a choose entry for a group size the table has not', (w) => (w.choose = [{ minBatch: 17, minTiles: 16, groupSizes: [256] }]), CHOOSE_REFUSED],
    ['a choose entry with no group sizes', (w) => (w.choose = [{ minBatch: 17, minTiles: 16, groupSizes: [] }]), CHOOSE_REFUSED],
    ['a choose entry with a misspelt key', (w) => (w.choose = [{ minBatch: 17, minTiles: 16, maxTile: 32 } as never]), CHOOSE_REFUSED],
    ['a choose entry whose maxTiles is under its minTiles', (w) => (w.choose = [{ minBatch: 49, minTiles: 16, maxTiles: 15 }]), CHOOSE_REFUSED],
    ['a choose entry with a maxTiles of 0 (no tiles)', (w) => (w.choose = [{ minBatch: 49, minTiles: 0, maxTiles: 0 }]), CHOOSE_REFUSED],
    ['a choose entry with a fractional maxTiles', (w) => (w.choose = [{ minBatch: 49, minTiles: 16, maxTiles: 24.5 }]), CHOOSE_REFUSED],
    ['a choose entry with a maxTiles past an int', (w) => (w.choose = [{ minBatch: 49, minTiles: 16, maxTiles: 1e21 }]), CHOOSE_REFUSED],
    ['a choose entry with a minK past an int', (w) => (w.choose = [{ minBatch: 49, minTiles: 16, minK: 2 ** 31 }]), CHOOSE_REFUSED],
    ['a choose entry whose maxBatch is under its minBatch', (w) => (w.choose = [{ minBatch: 49, maxBatch: 48, minTiles: 16 }]), CHOOSE_REFUSED],
    ['a choose entry whose maxK is under its minK', (w) => (w.choose = [{ minBatch: 49, minTiles: 16, minK: 4096, maxK: 2048 }]), CHOOSE_REFUSED],
    ['a choose entry with a maxK of 0 (no k)', (w) => (w.choose = [{ minBatch: 49, minTiles: 16, maxK: 0 }]), CHOOSE_REFUSED],
    ['a choose entry with a negative maxK', (w) => (w.choose = [{ minBatch: 49, minTiles: 16, maxK: -4096 }]), CHOOSE_REFUSED],
    ['a choose entry with a fractional maxK', (w) => (w.choose = [{ minBatch: 49, minTiles: 16, maxK: 4096.5 }]), CHOOSE_REFUSED],
    ['a choose entry with a fractional maxBatch', (w) => (w.choose = [{ minBatch: 49, maxBatch: 64.5, minTiles: 16 }]), CHOOSE_REFUSED],
    ['a choose entry for an activation the table has not', (w) => (w.choose = [{ minBatch: 17, minTiles: 16, activations: ['float32'] }]), CHOOSE_REFUSED],
    ['a choose entry with no zero-point mode', (w) => (w.choose = [{ minBatch: 17, minTiles: 16, zeroPoints: [] }]), CHOOSE_REFUSED],
    [
      'a choose entry for bits the family is not built for',
      (w) => {
        w.formats = { bits: [4], zeroPoints: [false, true] };
        w.choose = [{ minBatch: 49, minTiles: 16, bits: [8] }];
      },
      CHOOSE_REFUSED_4,
    ],
  ])('refused: %s', (_, edit, message) => {
    const r = generate(edit);
    expect({ status: r.status, stderr: r.stderr, written: r.written }).toEqual({ status: 1, stderr: message, written: [] });
  });
});

describe('gen-kernels.js: the wgmma family\'s price against the mma family', () => {
  type Price = NonNullable<Family['familyPrice']>;
  const shipped = (): Price => structuredClone(KERNEL_TABLE_FILE.families.find((f) => f.name === 'wgmma')!.familyPrice!);
  const withPrice = (edit: (p: Price) => void) => (w: Family) => {
    w.familyPrice = shipped();
    edit(w.familyPrice);
  };

  test('the values reach chooser_table.h as integers: ps, bytes per us, thousandths; by row blocks and tile heights', () => {
    const r = generate(
      withPrice((p) => {
        p.minBatch = 33;
        p.maxBatch = 48; // 3 row blocks, the 48-row tile
        p.minK = 4096;
        p.fittedMemoryGBps = 4917;
        p.formats = [{ bits: [8], activations: ['bfloat16'], streamK: false }, { groupSizes: [64, -1], zeroPoints: [true], streamK: true }, {}];
        p.minGain = [{ maxBatch: 40, bits: [4], percent: 7 }, { percent: 2 }];
        p.mma = {
          fixedNs: { 3: 1000.5 },
          blockNs: 0.25,
          sharingNsPerRowBlock: 1,
          straddleNs: 2,
          stageNs: { 3: 300 },
          stageExtraNs: { wideTile: 3, bits8: 4, bfloat16: 5, zeroPoints: 6, perColumn: -299 },
          memoryGBps: 3000.5,
        };
        p.wgmma = {
          fixedNs: 10,
          fixedNsPer64Rows: 11,
          blockNs: 12,
          splitNsPer64Rows: 13,
          stageNs: 14,
          stageExtraNs: { bits8: 15, bfloat16: 16, zeroPoints4Bit: 17, zeroPoints4BitStreamK: 19, zeroPoints8Bit: 18, perColumn: -13.5 },
          stageGBps: 20.25,
          memoryGBps: 3100,
          streamK: { extraStages: 1.5, runPercent: { 48: 12.3 }, memoryPercent: 20 },
        };
      }),
    );
    expect(r.status).toBe(0);
    expect(r.header).toContain(
      'constexpr PricedFormat kPricedFormats[] = {{0x100u, 0xfu, 0x2u, 0x3u, 0}, {0x110u, 0xau, 0x3u, 0x2u, 1}, {0x110u, 0xfu, 0x3u, 0x3u, -1}};',
    );
    expect(r.header).toContain('constexpr PriceGain kPriceGains[] = {{40, 0x10u, 7}, {0, 0x110u, 2}};');
    expect(r.header).toContain(
      'constexpr FamilyPrice kFamilyPrice = {\n    90, 4917, 33, 48, 4096,\n' +
        '    {{0, 0, 0, 1000500, 0}, 250, 1000, 2000,\n     {0, 0, 0, 300000, 0}, 3000, 4000, 5000, 6000, -299000, 3000500},\n' +
        '    {10000, 11000, 12000, 13000, 14000,\n     15000, 16000, 17000, 19000, 18000, -13500,\n     20250, 3100000,\n' +
        '     1500, {0, 123, 0, 0, 0}, 200}};',
    );
  });

  test('a stage of 0 ns is accepted where no extra is a saving', () => {
    const r = generate(
      withPrice((p) => {
        Object.assign(p.wgmma, { stageNs: 0 });
        (p.wgmma.stageExtraNs as Record<string, number>).perColumn = 0;
      }),
    );
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  });

  test('no price: a placeholder the chooser never reads (arch 0), the choose entries alone', () => {
    const r = generate((w) => delete w.familyPrice);
    expect(r.status).toBe(0);
    expect(r.header).toContain('constexpr int kPricedFormatsCount = 0;');
    expect(r.header).toContain('constexpr FamilyPrice kFamilyPrice = {\n    0, 0, 0, 0, 0,\n');
  });

  const where = 'gen-kernels: wgmma familyPrice';
  const MMA_REFUSED = (rowBlocks: string) =>
    `${where} mma must give fixedNs and stageNs for each row-block count of minBatch..maxBatch rows (${rowBlocks}), stageExtraNs { wideTile, bits8, bfloat16, zeroPoints, perColumn } (-100000..100000 ns, the savings together under the smallest stageNs), blockNs, sharingNsPerRowBlock, straddleNs (0..100000 ns) and memoryGBps (1..1e6)`;
  const WGMMA_REFUSED = (heights: string) =>
    `${where} wgmma must give fixedNs, fixedNsPer64Rows, blockNs, splitNsPer64Rows, stageNs (0..100000 ns), stageExtraNs { bits8, bfloat16, zeroPoints4Bit, zeroPoints4BitStreamK, zeroPoints8Bit, perColumn } (-100000..100000 ns, the savings together under stageNs), stageGBps and memoryGBps (1..1e6), and streamK { extraStages, memoryPercent, runPercent for each tile height of minBatch..maxBatch rows (${heights}): 0..1000 }`;
  const FORMATS_REFUSED = `${where} formats must list { bits?, groupSizes?, activations?, zeroPoints?: some of the family's, streamK?: true or false } filters`;
  const GAIN_REFUSED = `${where} minGain must list { maxBatch?: >= minBatch, bits?: some of the family's, percent: 0..99 } entries, the last with no filter`;
  const ROWS_REFUSED = (a: number, b: number) => `${where} must have 17 <= minBatch <= maxBatch <= 64 (one problem), not ${a}..${b}`;
  test.each<[string, (p: Price) => void, string]>([
    ['another architecture than the family\'s', (p) => (p.arch = 80), `${where} arch must be the family's (90), not 80`],
    ['a row block of 16 rows (not fitted)', (p) => (p.minBatch = 16), ROWS_REFUSED(16, 64)],
    ['more than one 64-row problem', (p) => (p.maxBatch = 65), ROWS_REFUSED(17, 65)],
    ['maxBatch under minBatch', (p) => (p.maxBatch = 16), ROWS_REFUSED(17, 16)],
    ['a negative minK', (p) => (p.minK = -1), `${where} minK must be an integer >= 0, not -1`],
    ['an unknown key', (p) => Object.assign(p, { maxK: 8192 }), `${where} has unknown keys: maxK`],
    ['no format', (p) => (p.formats = []), FORMATS_REFUSED],
    ['a format filter with no bits', (p) => (p.formats = [{ bits: [] }]), FORMATS_REFUSED],
    ['a format filter with a misspelt key', (p) => (p.formats = [{ group: [128] } as never]), FORMATS_REFUSED],
    ['a format filter whose streamK is not a boolean', (p) => (p.formats = [{ streamK: 0 } as never]), FORMATS_REFUSED],
    ['no minGain entry', (p) => (p.minGain = []), GAIN_REFUSED],
    ['a last minGain entry with a filter', (p) => (p.minGain = [{ bits: [8], percent: 4 }]), GAIN_REFUSED],
    ['a gain of 100%', (p) => (p.minGain = [{ percent: 100 }]), GAIN_REFUSED],
    ['a fractional gain', (p) => (p.minGain = [{ percent: 4.5 }]), GAIN_REFUSED],
    ['a gain entry no batch reaches (maxBatch under minBatch)', (p) => (p.minGain = [{ maxBatch: 16, percent: 6 }, { percent: 4 }]), GAIN_REFUSED],
    ['a format filter that is a list', (p) => (p.formats = [[] as never]), FORMATS_REFUSED],
    ['an mma stage cost past the bound (100000 ns)', (p) => ((p.mma.stageNs as Record<string, number>)['2'] = 1e19), MMA_REFUSED('2,3,4')],
    ['an mma memory speed under 1 GB/s', (p) => (p.mma.memoryGBps = 0.5), MMA_REFUSED('2,3,4')],
    ['a wgmma memory speed past 1e6 GB/s', (p) => (p.wgmma.memoryGBps = 2e6), WGMMA_REFUSED('32,48,64')],
    ['a stream-k memory cost past 1000%', (p) => ((p.wgmma.streamK as Record<string, number>).memoryPercent = 1001), WGMMA_REFUSED('32,48,64')],
    ['a stream-k run cost past 1000%', (p) => ((p.wgmma.streamK as Record<string, Record<string, number>>).runPercent['32'] = 1001), WGMMA_REFUSED('32,48,64')],
    ['an mma fixed cost missing for 4 row blocks', (p) => delete (p.mma.fixedNs as Record<string, number>)['4'], MMA_REFUSED('2,3,4')],
    ['an mma stage cost for a row block not priced', (p) => ((p.mma.stageNs as Record<string, number>)['1'] = 300), MMA_REFUSED('2,3,4')],
    ['a negative mma block cost', (p) => (p.mma.blockNs = -1), MMA_REFUSED('2,3,4')],
    ['an mma memory speed of 0', (p) => (p.mma.memoryGBps = 0), MMA_REFUSED('2,3,4')],
    ['an mma stage extra missing', (p) => delete (p.mma.stageExtraNs as Record<string, number>).bfloat16, MMA_REFUSED('2,3,4')],
    ['an unknown mma key', (p) => (p.mma.stagesNs = 1), `${where} mma has unknown keys: stagesNs`],
    ['a stream-k run cost missing for the 64-row tile', (p) => delete ((p.wgmma.streamK as Record<string, Record<string, number>>).runPercent)['64'], WGMMA_REFUSED('32,48,64')],
    ['a wgmma stage speed of 0', (p) => (p.wgmma.stageGBps = 0), WGMMA_REFUSED('32,48,64')],
    ['a wgmma stage extra that is a string', (p) => ((p.wgmma.stageExtraNs as Record<string, unknown>).bits8 = '222'), WGMMA_REFUSED('32,48,64')],
    ['an mma saving as large as its cheapest stage (431 ns at 2 row blocks)', (p) => ((p.mma.stageExtraNs as Record<string, number>).perColumn = -431), MMA_REFUSED('2,3,4')],
    ['mma savings that together reach its cheapest stage', (p) => Object.assign(p.mma.stageExtraNs as Record<string, number>, { perColumn: -300, bfloat16: -131 }), MMA_REFUSED('2,3,4')],
    ['an unknown mma stage extra', (p) => ((p.mma.stageExtraNs as Record<string, number>).perRow = 1), MMA_REFUSED('2,3,4')],
    ['an mma saving past a cheaper stage than the first row block\'s', (p) => {
      Object.assign(p.mma.stageNs as Record<string, number>, { 2: 431, 3: 300 });
      (p.mma.stageExtraNs as Record<string, number>).perColumn = -350;
    }, MMA_REFUSED('2,3,4')],
    ['a saving that rounds to its whole stage (0.0021 - 0.0016 ns: 2 - 2 ps)', (p) => {
      Object.assign(p.wgmma, { stageNs: 0.0021 });
      (p.wgmma.stageExtraNs as Record<string, number>).perColumn = -0.0016;
    }, WGMMA_REFUSED('32,48,64')],
    ['a wgmma saving as large as its stage', (p) => ((p.wgmma.stageExtraNs as Record<string, number>).perColumn = -752), WGMMA_REFUSED('32,48,64')],
    ['a wgmma saving past the bound (-100000 ns)', (p) => ((p.wgmma.stageExtraNs as Record<string, number>).perColumn = -100001), WGMMA_REFUSED('32,48,64')],
    ['a wgmma stage extra that is null', (p) => ((p.wgmma.stageExtraNs as Record<string, unknown>).perColumn = null), WGMMA_REFUSED('32,48,64')],
    ['the stream-k zero-point extra missing', (p) => delete (p.wgmma.stageExtraNs as Record<string, number>).zeroPoints4BitStreamK, WGMMA_REFUSED('32,48,64')],
    ['no fitted memory bandwidth', (p) => delete (p as Partial<Price>).fittedMemoryGBps, `${where} fittedMemoryGBps must be an integer from 1 to 1e6 (GB/s), not undefined`],
    ['a fractional fitted memory bandwidth', (p) => (p.fittedMemoryGBps = 3352.3), `${where} fittedMemoryGBps must be an integer from 1 to 1e6 (GB/s), not 3352.3`],
    ['a fitted memory bandwidth of 0', (p) => (p.fittedMemoryGBps = 0), `${where} fittedMemoryGBps must be an integer from 1 to 1e6 (GB/s), not 0`],
    ['an unknown wgmma stream-k key', (p) => ((p.wgmma.streamK as Record<string, unknown>).runNs = 1), `${where} wgmma streamK has unknown keys: runNs`],
  ])('refused: %s', (_, edit, message) => {
    const r = generate(withPrice(edit));
    expect({ status: r.status, stderr: r.stderr, written: r.written }).toEqual({ status: 1, stderr: message, written: [] });
  });

  test('refused: a price that is not an object', () => {
    const r = generate((w) => (w.familyPrice = null as never));
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 1, stderr: 'gen-kernels: wgmma familyPrice must be an object, not null' });
  });

  test('refused: a price in another family', () => {
    const r = generate(() => {}, (m) => (m.familyPrice = shipped()));
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 1, stderr: "gen-kernels: familyPrice is the wgmma family's; the mma family has one" });
  });
});

describe('gen-kernels.js: the mma family\'s aligned block counts', () => {
  type Entry = NonNullable<Family['alignedBlocks']>['entries'][number];
  const withEntries = (entries: Entry[]) => (m: Family) => (m.alignedBlocks = { entries });

  test('the shipped entries reach chooser_table.h as masks of bits and activations', () => {
    const r = generate(() => {});
    expect(r.status).toBe(0);
    // 8-bit (bit 8) from 60% of the SMs, then 4-bit from 90%; both activations (Act::kF16 = 0, kBF16 = 1).
    expect(r.header).toContain('constexpr AlignedBlocks kAlignedBlocks[] = {{90, 16, 0x100u, 0x3u, 60}, {90, 16, 0x10u, 0x3u, 90}};');
    expect(r.header).toContain('constexpr int kAlignedBlocksCount = 2;');
  });

  test('an entry narrowed to BF16: the activation mask has Act::kBF16\'s bit only', () => {
    const r = generate(() => {}, withEntries([{ arch: 90, maxBatch: 8, bits: [4, 8], activations: ['bfloat16'], minFillPercent: 0 }]));
    expect(r.status).toBe(0);
    expect(r.header).toContain('constexpr AlignedBlocks kAlignedBlocks[] = {{90, 8, 0x110u, 0x2u, 0}};');
  });

  const REFUSED =
    'gen-kernels: mma alignedBlocks.entries must list { arch >= 80, maxBatch 1..64, bits?: the table\'s bits, activations?: the table\'s activations, minFillPercent 0..100 } entries, and nothing else';
  const entry: Entry = { arch: 90, maxBatch: 16, minFillPercent: 50 };
  test.each<[string, Entry[]]>([
    ['more rows than one problem', [{ ...entry, maxBatch: 65 }]],
    ['no rows', [{ ...entry, maxBatch: 0 }]],
    ['bits the table has not', [{ ...entry, bits: [3] }]],
    ['an empty bits list', [{ ...entry, bits: [] }]],
    ['an activation the table has not', [{ ...entry, activations: ['float32'] }]],
    ['a fill over 100%', [{ ...entry, minFillPercent: 101 }]],
    ['a fractional fill', [{ ...entry, minFillPercent: 12.5 }]],
    ['an architecture below the minimum', [{ ...entry, arch: 75 }]],
    ['a misspelt key (which would otherwise mean any bits)', [{ ...entry, bit: [8] } as Entry]],
    ['a null entry', [null as unknown as Entry]],
  ])('refused: %s', (_, entries) => {
    const r = generate(() => {}, withEntries(entries));
    expect({ status: r.status, stderr: r.stderr, written: r.written }).toEqual({ status: 1, stderr: REFUSED, written: [] });
  });
});

describe('gen-kernels.js: the mma family\'s evict-first hint', () => {
  type EvictFirst = NonNullable<Family['evictFirst']>;
  const shipped = KERNEL_TABLE_FILE.families.find((f) => f.name === 'mma')!.evictFirst!;
  const withHint = (ef: EvictFirst | undefined) => (m: Family) => (m.evictFirst = ef);
  /** The rows of a generated mma variant file. */
  const rows = (text: string) => text.split('\n').filter((line) => line.includes('variant_row<'));

  test('rows of sm_90 code get it, less the excluded row blocks; other architectures never', () => {
    const ef: EvictFirst = { arch: 90, nvcc: ['13.0'], rowBlocks: [1, 2, 3], exclude: [{ variant: 'gemm_mma_f16_u8_g32_sym_128x128', rowBlocks: [2] }] };
    const r = generate(() => {}, withHint(ef), '80,90');
    expect(r.status).toBe(0);
    expect(rows(r.file('gemm_mma_f16_u8_g32_sym_128x128.cu'))).toEqual([
      '    variant_row<L<1>, 80, false>(),',
      '    variant_row<L<1>, 90, true>(),',
      '    variant_row<L<2>, 80, false>(),',
      '    variant_row<L<2>, 90, false>(),',
      '    variant_row<L<3>, 80, false>(),',
      '    variant_row<L<3>, 90, true>(),',
      '    variant_row<L<4>, 80, false>(),',
      '    variant_row<L<4>, 90, false>(),',
    ]);
    expect(rows(r.file('gemm_mma_bf16_u4_g128_zp_64x256.cu'))).toContain('    variant_row<L<2>, 90, true>(),');
    // The wgmma family never has it (its rows take no such argument).
    const wgmmaRows = rows(r.file('gemm_wgmma_f16_u4_g128_sym_128x256.cu'));
    expect(wgmmaRows.length).toBeGreaterThan(0);
    expect(wgmmaRows.every((line) => line.endsWith('>, 90>(),'))).toBe(true);
    expect(r.header).toContain('#define MARLIN_EVICT_FIRST_NVCC_CHECKED ((__CUDACC_VER_MAJOR__ == 13 && __CUDACC_VER_MINOR__ == 0))');
  });

  test('the shipped table excludes what CUDA 13.0 miscompiles, and lists only row blocks the family has', () => {
    const r = generate(() => {});
    expect(r.status).toBe(0);
    expect(shipped.nvcc).toEqual(['13.0.88']);
    expect(r.header).toContain(
      '#define MARLIN_EVICT_FIRST_NVCC_CHECKED ((__CUDACC_VER_MAJOR__ == 13 && __CUDACC_VER_MINOR__ == 0 && __CUDACC_VER_BUILD__ == 88))',
    );
    for (const e of shipped.exclude ?? []) for (const m of e.rowBlocks) expect(rows(r.file(`${e.variant}.cu`))).toContain(`    variant_row<L<${m}>, 90, false>(),`);
    expect(rows(r.file('gemm_mma_f16_u4_g128_sym_128x128.cu'))).toContain('    variant_row<L<1>, 90, true>(),');
  });

  test('sm_90 machine code is compiled as sm_90a (where the kernels put the hint), the PTX as plain compute_90', () => {
    const r = generate(() => {}, () => {}, '80,90', ['--cmake']);
    const lines = r.stdout.split('\n');
    // sm_90a goes in as an nvcc flag (CMake 3.24 rejects "90a" in CUDA_ARCHITECTURES).
    expect(lines[0]).toBe('ARCHS=80-real;90-virtual');
    expect(lines).toContain('SPECIFIC=--generate-code=arch=compute_90a,code=sm_90a');
    const flags = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'gen-kernels.js'), '--gencode'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, MARLIN_CUDA_ARCHS: '80,90' },
    });
    expect(flags.stdout.trim().split('\n')).toEqual([
      '-gencode=arch=compute_80,code=sm_80',
      '-gencode=arch=compute_90a,code=sm_90a',
      '-gencode=arch=compute_90,code=compute_90',
    ]);
  });

  test('without an evictFirst entry: no hint anywhere, plain sm_90 machine code, and a false compiler check', () => {
    const r = generate(() => {}, withHint(undefined), '90', ['--cmake']);
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('ARCHS=90-real;90-virtual');
    expect(r.stdout.split('\n')).toContain('SPECIFIC=');
    expect(rows(r.file('gemm_mma_f16_u4_g128_sym_128x128.cu'))).toContain('    variant_row<L<1>, 90, false>(),');
    expect(r.header).toContain('#define MARLIN_EVICT_FIRST_NVCC_CHECKED (0)');
  });

  const EXCLUDE = "gen-kernels: mma evictFirst.exclude must list { variant: an mma variant file name, rowBlocks: some of the family's row blocks } entries";
  test.each<[string, (ef: EvictFirst) => void, string]>([
    ['an architecture other than 90', (ef) => (ef.arch = 100), 'gen-kernels: mma evictFirst.arch must be 90 (the only architecture whose arch-specific pass the kernels detect)'],
    ['an nvcc version that is not major.minor', (ef) => (ef.nvcc = ['13']), 'gen-kernels: mma evictFirst.nvcc must list nvcc versions as "major.minor" or "major.minor.build" strings, not ["13"]'],
    ['no nvcc version', (ef) => (ef.nvcc = []), 'gen-kernels: mma evictFirst.nvcc must list nvcc versions as "major.minor" or "major.minor.build" strings, not []'],
    ['row blocks the family has not', (ef) => (ef.rowBlocks = [5]), "gen-kernels: mma evictFirst.rowBlocks must list some of the family's row blocks (1,2,3,4)"],
    ['an excluded variant that does not exist', (ef) => (ef.exclude = [{ variant: 'gemm_mma_f16_u4_g48_sym_128x128', rowBlocks: [1] }]), EXCLUDE],
    ['an excluded wgmma variant', (ef) => (ef.exclude = [{ variant: 'gemm_wgmma_f16_u4_g128_sym_128x256', rowBlocks: [1] }]), EXCLUDE],
    ['an exclusion without row blocks', (ef) => (ef.exclude = [{ variant: 'gemm_mma_f16_u4_g128_sym_128x128', rowBlocks: [] }]), EXCLUDE],
    ['a misspelt key', (ef) => Object.assign(ef, { excludes: [] }), 'gen-kernels: mma evictFirst has unknown keys: excludes'],
  ])('refused: %s', (_, edit, message) => {
    const r = generate(() => {}, (m) => edit(m.evictFirst!));
    expect({ status: r.status, stderr: r.stderr, written: r.written }).toEqual({ status: 1, stderr: message, written: [] });
  });

  test('refused: evictFirst in the wgmma family', () => {
    const r = generate((w) => (w.evictFirst = shipped), () => {});
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 1, stderr: "gen-kernels: evictFirst is the mma family's; the wgmma family has one" });
  });
});

describe('gen-kernels.js: the decode family of the kernel table', () => {
  const decodeOf = (edit: (d: Family) => void, archs = '90', flags: string[] = []) => generate(() => {}, () => {}, archs, flags, edit);
  const shipped = KERNEL_TABLE_FILE.families.find((f) => f.name === 'decode')!;

  test('the shipped values reach the generated headers; one file per grouped format, compiled for sm_90a alone', () => {
    const r = decodeOf(() => {}, '80;90', ['--cmake']);
    expect(r.status).toBe(0);
    expect(r.header).toContain(`constexpr int kDecodeArch = ${shipped.arch};`);
    expect(r.header).toContain(`constexpr int kDecodeDepth = ${shipped.depth};`);
    expect(r.header).toContain(`constexpr int kDecodeRows[] = {${shipped.rows!.join(', ')}};`);
    expect(r.header).toContain(`constexpr int kDecodeWarpsPerSm = ${shipped.warpsPerSm};`);
    // Its choose entries: batch, bits mask, zero-point modes mask (bit 0 symmetric, bit 1 zero points), fewest and most
    // shares, least k, least memory bandwidth per SM (GB/s) and most excess on the busiest SM (KiB) (0: any).
    expect(r.header).toContain(`constexpr int kDecodeChooseCount = ${shipped.choose!.length};`);
    const bitsMask = (bits: readonly number[]) => `0x${bits.reduce((m, b) => m | (1 << b), 0).toString(16)}u`;
    const zerosMask = (modes: readonly boolean[]) => `0x${modes.reduce((m, z) => m | (z ? 2 : 1), 0).toString(16)}u`;
    const entry = (c: NonNullable<Family['choose']>[number]) =>
      `{${c.maxBatch}, ${bitsMask(c.bits ?? [4, 8])}, ${zerosMask(c.zeroPoints ?? [false, true])}, ${c.minShares ?? 0}, ${c.maxShares ?? 0}, ` +
      `${c.minK ?? 0}, ${c.minMemoryGBpsPerSm ?? 0}, ${c.maxExcessKiB ?? 0}}`;
    expect(shipped.choose!.some((c) => c.minMemoryGBpsPerSm !== undefined && c.maxExcessKiB !== undefined)).toBe(true);
    expect(r.header).toContain(`constexpr DecodeChoice kDecodeChoose[] = {${shipped.choose!.map(entry).join(', ')}};`);
    expect(r.header).toContain(
      `constexpr DecodeShape kDecodeShares[] = {${shipped.shares!.map((e) => `{${e.shares}, ${e.warps}, ${e.splits}, ${e.blocksPerSm ?? 0}}`).join(', ')}};`,
    );
    // The 32-share entry's clusters of 8 blocks need five 4-warp blocks per SM: its kernel is capped to fit them.
    expect(shipped.shares!.find((e) => e.shares === 32)).toEqual({ shares: 32, warps: 4, splits: 8, blocksPerSm: 5 });
    const files = r.written.filter((f) => f.startsWith('gemm_decode_'));
    const grouped = shipped.formats!.groupSizes!;
    expect(files).toHaveLength(2 * 2 * 2 * grouped.length);
    expect(files.some((f) => f.includes('_gch_'))).toBe(false);
    expect(r.file('gemm_decode_bf16_u8_g32_zp_16x64.cu')).toContain('    variant_row<PlanOf<Act::kBF16, 8, 32, true, 8, 4>, 90>(),');
    // CMake compiles them with the wgmma family's, for sm_90a only; none among the files of every architecture.
    const line = (key: string) => r.stdout.split('\n').find((l) => l.startsWith(`${key}=`)) ?? '';
    expect(line('SM90A').split(';').filter((f) => f.includes('gemm_decode_'))).toHaveLength(files.length);
    expect(line('FILES')).not.toContain('gemm_decode_');
  });

  test('a build without sm_90 has no decode files', () => {
    const r = decodeOf(() => {}, '80;86');
    expect(r.status).toBe(0);
    expect(r.written.filter((f) => f.startsWith('gemm_decode_'))).toEqual([]);
  });

  test('changed values are what the chooser gets', () => {
    const r = decodeOf((d) => {
      d.rows = [8, 16];
      d.choose = [
        { maxBatch: 12, bits: [4] },
        { maxBatch: 4, zeroPoints: [true], minShares: 2, maxShares: 64 },
        { maxBatch: 1, minK: 8192, minMemoryGBpsPerSm: 1, maxExcessKiB: 1000000 },
      ];
      d.warpsPerSm = 24;
      d.shares = [{ shares: 2, warps: 2, splits: 1, blocksPerSm: 16 }, { shares: 64, warps: 8, splits: 8 }];
    });
    expect(r.status).toBe(0);
    expect(r.header).toContain(
      'constexpr DecodeChoice kDecodeChoose[] = {{12, 0x10u, 0x3u, 0, 0, 0, 0, 0}, {4, 0x110u, 0x2u, 2, 64, 0, 0, 0}, {1, 0x110u, 0x3u, 0, 0, 8192, 1, 1000000}};',
    );
    expect(r.header).toContain('constexpr int kDecodeWarpsPerSm = 24;');
    expect(r.header).toContain('constexpr DecodeShape kDecodeShares[] = {{2, 2, 1, 16}, {64, 8, 8, 0}};');
    expect(r.file('gemm_decode_f16_u4_g128_sym_16x64.cu')).toContain('    variant_row<PlanOf<Act::kF16, 4, 128, false, 16, 4>, 90>(),');
  });

  const SHARES =
    'gen-kernels: decode shares must list { shares: warps x splits, warps 1..8, splits 1..8, blocksPerSm?: >= 2 (1 caps nothing), at most 64 warps per SM } entries, shares ascending';
  const CHOOSE =
    "gen-kernels: decode choose must list { maxBatch 1..8 (the tallest rows), bits?: some of the family's bits (4,8), zeroPoints?: some of its zero-point modes (false,true), minShares?, maxShares?: one of its shares (4,8,16,32), min <= max, minK?, minMemoryGBpsPerSm?, maxExcessKiB?: integers 1..1000000 } entries (none: only calls that force the family)";
  test.each<[string, (d: Family) => void, string]>([
    ['another architecture', (d) => (d.arch = 100), 'gen-kernels: decode arch must be 90 (thread block clusters, compiled as sm_90a), not 100'],
    ['per-column groups', (d) => (d.formats = { groupSizes: [128, -1] }), 'gen-kernels: decode formats.groupSizes must list some of the table\'s grouped sizes (32,64,128), not 128,-1'],
    ['no group sizes', (d) => (d.formats = {}), 'gen-kernels: decode formats.groupSizes must list some of the table\'s grouped sizes (32,64,128), not undefined'],
    ['another tile', (d) => (d.tiles = [{ tileK: 32, tileN: 64 }]), 'gen-kernels: decode tiles must be [{ tileK: 16, tileN: 64 }] (one k16 row of a 64-column strip of the Marlin layout)'],
    ['a tile height of 32', (d) => (d.rows = [8, 32]), 'gen-kernels: decode rows must be ascending values of 8 and 16 (one or two n8 tiles), not 8,32'],
    ['no depth', (d) => (d.depth = 0), 'gen-kernels: decode depth must be 1 to 8 k16 rows, not 0'],
    ['no warps per SM', (d) => (d.warpsPerSm = 0), 'gen-kernels: decode warpsPerSm must be an integer >= 1, not 0'],
    ['shares that are not warps x splits', (d) => (d.shares = [{ shares: 8, warps: 4, splits: 1 }]), SHARES],
    ['nine warps', (d) => (d.shares = [{ shares: 9, warps: 9, splits: 1 }]), SHARES],
    ['shares out of order', (d) => (d.shares = [{ shares: 8, warps: 4, splits: 2 }, { shares: 4, warps: 4, splits: 1 }]), SHARES],
    ['no shares', (d) => (d.shares = []), SHARES],
    ['no blocks per SM', (d) => (d.shares = [{ shares: 4, warps: 4, splits: 1, blocksPerSm: 0 }]), SHARES],
    ['one block per SM (no cap: ptxas reads it as leave to spend more registers)', (d) => (d.shares = [{ shares: 4, warps: 4, splits: 1, blocksPerSm: 1 }]), SHARES],
    ['more warps per SM than an SM holds', (d) => (d.shares = [{ shares: 16, warps: 8, splits: 2, blocksPerSm: 9 }]), SHARES],
    ['a misspelt shares key', (d) => (d.shares = [{ shares: 4, warps: 4, splits: 1, minBlocks: 5 } as never]), SHARES],
    ['a batch above its rows', (d) => (d.choose = [{ maxBatch: 9 }]), CHOOSE],
    ['bits the table has not', (d) => (d.choose = [{ maxBatch: 8, bits: [3] }]), CHOOSE],
    ['a misspelt key', (d) => (d.choose = [{ maxBatch: 8, minBatch: 1 }]), CHOOSE],
    ['no zero-point modes', (d) => (d.choose = [{ maxBatch: 8, zeroPoints: [] }]), CHOOSE],
    ['a zero-point mode that is not a boolean', (d) => (d.choose = [{ maxBatch: 8, zeroPoints: [0 as unknown as boolean] }]), CHOOSE],
    ['a share count the shares do not have', (d) => (d.choose = [{ maxBatch: 8, minShares: 12 }]), CHOOSE],
    ['a most the shares do not have', (d) => (d.choose = [{ maxBatch: 8, maxShares: 64 }]), CHOOSE],
    ['fewest above most', (d) => (d.choose = [{ maxBatch: 8, minShares: 16, maxShares: 8 }]), CHOOSE],
    ['a least k of 0 (leave the key out)', (d) => (d.choose = [{ maxBatch: 8, minK: 0 }]), CHOOSE],
    ['no bandwidth per SM (0: leave the key out)', (d) => (d.choose = [{ maxBatch: 8, minMemoryGBpsPerSm: 0 }]), CHOOSE],
    ['a fractional bandwidth per SM', (d) => (d.choose = [{ maxBatch: 8, minMemoryGBpsPerSm: 30.5 }]), CHOOSE],
    ['a bandwidth per SM as a string', (d) => (d.choose = [{ maxBatch: 8, minMemoryGBpsPerSm: '30' as unknown as number }]), CHOOSE],
    ['a negative excess', (d) => (d.choose = [{ maxBatch: 8, maxExcessKiB: -1 }]), CHOOSE],
    ['an excess past 1000000 KiB', (d) => (d.choose = [{ maxBatch: 8, maxExcessKiB: 1000001 }]), CHOOSE],
    ['no list', (d) => delete d.choose, CHOOSE],
  ])('refused: %s', (_, edit, message) => {
    const r = decodeOf(edit);
    expect({ status: r.status, stderr: r.stderr, written: r.written }).toEqual({ status: 1, stderr: message, written: [] });
  });
});

describe('gen-kernels.js: the mma family\'s priced block counts', () => {
  type Entry = NonNullable<Family['pricedBlocks']>['entries'][number];
  const withEntries = (entries: Entry[]) => (m: Family) => (m.pricedBlocks = { entries });

  test('the shipped entry reaches chooser_table.h with its costs in thousandths of a stage', () => {
    const r = generate(() => {});
    expect(r.status).toBe(0);
    // 9-128 rows, 4- and 8-bit (bits 4 and 8), both activations; 0.6 and 3 stages.
    expect(r.header).toContain('constexpr PricedBlocks kPricedBlocks[] = {{90, 9, 128, 0x110u, 0x3u, 600, 3000}};');
    expect(r.header).toContain('constexpr int kPricedBlocksCount = 1;');
  });

  test('an entry narrowed to 8-bit BF16, fractional costs rounded to thousandths', () => {
    const r = generate(() => {}, withEntries([{ arch: 90, minBatch: 20, maxBatch: 40, bits: [8], activations: ['bfloat16'], partialCost: 0.0625, straddleCost: 0 }]));
    expect(r.status).toBe(0);
    expect(r.header).toContain('constexpr PricedBlocks kPricedBlocks[] = {{90, 20, 40, 0x100u, 0x2u, 63, 0}};');
  });

  test('no entries: a placeholder that matches nothing (no rows: min_batch 1 over max_batch 0)', () => {
    const r = generate(() => {}, withEntries([]));
    expect(r.status).toBe(0);
    expect(r.header).toContain('constexpr PricedBlocks kPricedBlocks[] = {{0, 1, 0, 0x0u, 0x0u, 0, 0}};');
  });

  const REFUSED =
    "gen-kernels: mma pricedBlocks.entries must list { arch >= 80, 1 <= minBatch <= maxBatch, bits?: the table's bits, activations?: the table's activations, partialCost and straddleCost 0..1000 (stages) } entries, and nothing else";
  const entry: Entry = { arch: 90, minBatch: 17, maxBatch: 128, partialCost: 0.6, straddleCost: 3 };
  test('an entry past one problem\'s 64 rows is taken (a launch\'s problems are priced as more columns)', () => {
    const r = generate(() => {}, withEntries([{ ...entry, minBatch: 65, maxBatch: 4096 }]));
    expect(r.status).toBe(0);
    expect(r.header).toContain('constexpr PricedBlocks kPricedBlocks[] = {{90, 65, 4096, 0x110u, 0x3u, 600, 3000}};');
  });
  test.each<[string, Entry[]]>([
    ['no rows', [{ ...entry, minBatch: 0 }]],
    ['minBatch over maxBatch', [{ ...entry, minBatch: 40, maxBatch: 32 }]],
    ['a fractional batch', [{ ...entry, minBatch: 16.5 }]],
    ['bits the table has not', [{ ...entry, bits: [3] }]],
    ['an activation the table has not', [{ ...entry, activations: ['float32'] }]],
    ['a negative partial cost', [{ ...entry, partialCost: -0.1 }]],
    ['an infinite straddle cost', [{ ...entry, straddleCost: Infinity }]],
    ['a cost given as a string', [{ ...entry, partialCost: '0.6' as unknown as number }]],
    ['a missing cost', [{ arch: 90, minBatch: 17, maxBatch: 128, partialCost: 0.6 } as Entry]],
    ['an architecture below the minimum', [{ ...entry, arch: 75 }]],
    ['a misspelt key', [{ ...entry, maxbatch: 8 } as Entry]],
    ['a null entry', [null as unknown as Entry]],
  ])('refused: %s', (_, entries) => {
    const r = generate(() => {}, withEntries(entries));
    expect({ status: r.status, stderr: r.stderr, written: r.written }).toEqual({ status: 1, stderr: REFUSED, written: [] });
  });
});

// What gen-kernels' mmaSectionEntries checks for both of the mma family's block-count sections.
describe.each([
  ['alignedBlocks', 'kAlignedBlocks'],
  ['pricedBlocks', 'kPricedBlocks'],
] as const)('gen-kernels.js: the mma family\'s %s section', (section, name) => {
  test('no entries, or no section: a count of 0', () => {
    const r = generate(() => {}, (m) => (m[section] = { entries: [] }));
    expect(r.status).toBe(0);
    expect(r.header).toContain(`constexpr int ${name}Count = 0;`);
    const r2 = generate(() => {}, (m) => delete m[section]);
    expect(r2.status).toBe(0);
    expect(r2.header).toContain(`constexpr int ${name}Count = 0;`);
  });

  test.each<[string, (w: Family) => void, (m: Family) => void, string]>([
    ['an unknown key next to the entries', () => {}, (m) => Object.assign(m[section]!, { entry: [] }), `gen-kernels: mma ${section} has unknown keys: entry`],
    [`${section} in the wgmma family`, (w) => (w[section] = { entries: [] }), () => {}, `gen-kernels: ${section} is the mma family's; the wgmma family has one`],
  ])('refused: %s', (_, edit, editMma, message) => {
    const r = generate(edit, editMma);
    expect({ status: r.status, stderr: r.stderr, written: r.written }).toEqual({ status: 1, stderr: message, written: [] });
  });
});
