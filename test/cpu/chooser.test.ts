/**
 * The kernel chooser (native, pure): tile rules by batch and width, row
 * blocks, pipeline depth per architecture, and overrides checked against
 * what the build holds. No GPU needed: targets are described.
 */
import {
  DEFAULT_KERNEL_TABLE,
  type KernelPlan,
  type KernelTarget,
  chooseKernel,
  compiledTiles,
  compiledVariants,
  getKernelTable,
  setKernelTable,
  warmupBatches,
} from '../../lib/chooser';
import { native } from '../../lib/native';
import { KERNEL_TABLE_FILE } from '../../lib/table';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { variantName } = require('../../scripts/gen-kernels.js') as {
  variantName: (c: { family: string; act: string; bits: number; group: number; zeros: boolean; tileK: number; tileN: number }) => string;
};

const built = native.build();
const newest = built.archs[built.archs.length - 1];
// The newest built architecture with the shared memory its variants were sized for.
const SMEM: Record<number, number> = { 80: 166912, 86: 101376, 87: 166912, 89: 101376, 90: 232448 };
const target = (arch = newest) => ({ arch, smemOptin: SMEM[arch] ?? 101376, smCount: 132 });
const narrow = { tileK: 128, tileN: 128 };
const wide = { tileK: 64, tileN: 256 };
const tileOf = (p: { tileK: number; tileN: number }) => ({ tileK: p.tileK, tileN: p.tileN });
/** The mma family's tile rules and row blocks, also where an sm_90 build would choose wgmma. */
const MMA = { family: 'mma' } as const;

describe('kernel chooser', () => {
  afterEach(() => setKernelTable(DEFAULT_KERNEL_TABLE));

  test('up to 64 rows: 128x128 tiles, 64x256 for layers of 16384 columns or more', () => {
    expect(tileOf(chooseKernel({ m: 1, inFeatures: 4096, outFeatures: 4096 }, target(), MMA))).toEqual(narrow);
    expect(tileOf(chooseKernel({ m: 64, inFeatures: 4096, outFeatures: 12288 }, target(), MMA))).toEqual(narrow);
    expect(tileOf(chooseKernel({ m: 1, inFeatures: 4096, outFeatures: 16384 }, target(), MMA))).toEqual(wide);
    expect(tileOf(chooseKernel({ m: 64, inFeatures: 8192, outFeatures: 57344 }, target(), MMA))).toEqual(wide);
  });

  test('above 64 rows: 64x256 tiles from 8192 columns, 128x128 below', () => {
    expect(tileOf(chooseKernel({ m: 65, inFeatures: 4096, outFeatures: 8192 }, target(), MMA))).toEqual(wide);
    expect(tileOf(chooseKernel({ m: 128, inFeatures: 4096, outFeatures: 4096 }, target(), MMA))).toEqual(narrow);
  });

  test('row blocks: just enough 16-row blocks up to 64 rows, 64-row problems beyond', () => {
    expect(chooseKernel({ m: 1, inFeatures: 4096, outFeatures: 4096 }, target(), MMA)).toMatchObject({ rowBlocks: [1], launches: 1 });
    expect(chooseKernel({ m: 33, inFeatures: 4096, outFeatures: 4096 }, target(), MMA)).toMatchObject({ rowBlocks: [3], launches: 1 });
    expect(chooseKernel({ m: 64, inFeatures: 4096, outFeatures: 4096 }, target(), MMA)).toMatchObject({ rowBlocks: [4], launches: 1 });
    expect(chooseKernel({ m: 200, inFeatures: 4096, outFeatures: 4096 }, target(), MMA)).toMatchObject({ rowBlocks: [4], launches: 1 });
    // maxPar 2: launches of 128 rows while more than 64 remain, then 8 rows on 1 block.
    expect(chooseKernel({ m: 264, inFeatures: 4096, outFeatures: 4096 }, target(), { maxPar: 2 })).toMatchObject({ rowBlocks: [4, 1], launches: 3 });
  });

  test('every format of the table has a plan on every built architecture', () => {
    for (const arch of built.archs)
      for (const dtype of ['float16', 'bfloat16'] as const)
        for (const bits of [4, 8] as const)
          for (const groupSize of [32, 64, 128, -1] as const)
            for (const zeroPoints of [false, true]) {
              const p = chooseKernel({ m: 16, inFeatures: 4096, outFeatures: 4096, format: { dtype, bits, groupSize, zeroPoints } }, target(arch));
              expect(p.codeArch).toBe(arch);
              expect(p.stages).toBeGreaterThanOrEqual(2);
            }
  });

  test('pipeline depth is the deepest that fits the architecture, at most 8', () => {
    for (const v of compiledVariants()) {
      expect(v.stages).toBeLessThanOrEqual(8);
      expect(v.sharedMemoryBytes).toBeLessThanOrEqual(SMEM[v.arch] ?? 101376);
    }
    if (built.archs.includes(90))
      expect(chooseKernel({ m: 1, inFeatures: 4096, outFeatures: 4096 }, target(90), MMA).stages).toBe(8);
  });

  test('the L2 evict-first hint is in exactly the kernels table.json evictFirst gives it for this build', () => {
    const ef = KERNEL_TABLE_FILE.families.find((f) => f.name === 'mma')!.evictFirst!;
    expect(built.nvcc).toMatch(/^\d+\.\d+\.\d+$/);
    const [major, minor] = built.nvcc.split('.');
    const checked = ef.nvcc.some((v) => v === built.nvcc || v === `${major}.${minor}`);
    const name = (v: ReturnType<typeof compiledVariants>[number]) =>
      variantName({ family: v.family, act: v.dtype, bits: v.bits, group: v.groupSize, zeros: v.zeroPoints, tileK: v.tileK, tileN: v.tileN });
    const expected = (v: ReturnType<typeof compiledVariants>[number]) => {
      if (v.family !== 'mma' || built.evictFirstOption === 0) return false;
      if (built.evictFirstOption === 1) return true;
      return (
        checked &&
        v.arch === ef.arch &&
        ef.rowBlocks.includes(v.mBlocks) &&
        !(ef.exclude ?? []).some((e) => e.variant === name(v) && e.rowBlocks.includes(v.mBlocks))
      );
    };
    const wrong = compiledVariants().filter((v) => v.evictFirst !== expected(v));
    expect(wrong.map((v) => `${name(v)} x${v.mBlocks} sm_${v.arch}: ${v.evictFirst}`)).toEqual([]);
    // A default build by the nvcc the table was checked with, for sm_90, has hinted kernels (CI's does).
    if (compiledVariants().some(expected)) expect(compiledVariants().some((v) => v.evictFirst)).toBe(true);
    if (built.evictFirstOption === -1 && checked && built.archs.includes(ef.arch) && !process.env.MARLIN_VARIANT_FILTER)
      expect(compiledVariants().some(expected)).toBe(true);
  });

  test('a GPU newer than the build runs the PTX of the newest built architecture', () => {
    expect(native.codeArch(built.ptxArch + 30)).toBe(built.ptxArch);
    expect(native.codeArch(built.archs[0] - 10)).toBe(0);
  });

  test('overrides: a compiled tile is taken, an unknown tile or depth is refused with what the build offers', () => {
    expect(tileOf(chooseKernel({ m: 1, inFeatures: 4096, outFeatures: 4096 }, target(), { tile: wide }))).toEqual(wide);
    expect(() => chooseKernel({ m: 1, inFeatures: 4096, outFeatures: 4096 }, target(), { tile: { tileK: 32, tileN: 32 } })).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT', message: expect.stringContaining('tiles 128x128, 64x256') }),
    );
    const depth = chooseKernel({ m: 1, inFeatures: 4096, outFeatures: 4096 }, target(), MMA).stages;
    expect(chooseKernel({ m: 1, inFeatures: 4096, outFeatures: 4096 }, target(), { stages: depth }).stages).toBe(depth);
    expect(() => chooseKernel({ m: 1, inFeatures: 4096, outFeatures: 4096 }, target(), { stages: depth + 1 })).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT', message: expect.stringContaining(`pipeline depth ${depth}`) }),
    );
    expect(() => chooseKernel({ m: 1, inFeatures: 4096, outFeatures: 4096 }, target(), { maxPar: 65 })).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
  });

  test('shapes and formats outside the table are refused', () => {
    expect(() => chooseKernel({ m: 1, inFeatures: 4000, outFeatures: 4096 }, target())).toThrow(
      expect.objectContaining({ code: 'BAD_SHAPE', message: 'Expected a positive multiple of 128 for inFeatures but received number 4000' }),
    );
    expect(() => chooseKernel({ m: 1, inFeatures: 4096, outFeatures: 4000 }, target())).toThrow(
      expect.objectContaining({ code: 'BAD_SHAPE', message: 'Expected a positive multiple of 64 for outFeatures but received number 4000' }),
    );
    expect(() => chooseKernel({ m: -1, inFeatures: 4096, outFeatures: 4096 }, target())).toThrow(expect.objectContaining({ code: 'BAD_SHAPE' }));
    expect(() => chooseKernel({ m: 1, n: 4096, k: 4096 } as never, target())).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT', message: 'problem.k and problem.n are now called problem.inFeatures and problem.outFeatures' }),
    );
    expect(() => chooseKernel({ m: 1, inFeatures: 4096, outFeatures: 4096, format: { bits: 3 as never } }, target())).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT' }),
    );
    expect(() => chooseKernel({ m: 1, inFeatures: 4096, outFeatures: 4096, format: { groupSize: 256 as never } }, target())).toThrow(
      expect.objectContaining({ code: 'BAD_SHAPE' }),
    );
    expect(() => chooseKernel({ m: 1, inFeatures: 4096, outFeatures: 4096 }, { arch: 75, smemOptin: 65536, smCount: 40 })).toThrow(
      expect.objectContaining({ code: 'NO_GPU' }),
    );
  });

  test('an architecture entry overrides the default rules; setKernelTable replaces them', () => {
    setKernelTable({ ...DEFAULT_KERNEL_TABLE, [`sm_${newest}`]: [{ maxBatch: Infinity, ...wide }] });
    expect(tileOf(chooseKernel({ m: 1, inFeatures: 4096, outFeatures: 4096 }, target(), MMA))).toEqual(wide);
    setKernelTable({ default: [{ maxBatch: Infinity, ...wide }] });
    expect(getKernelTable()).not.toBe(DEFAULT_KERNEL_TABLE);
    expect(tileOf(chooseKernel({ m: 1, inFeatures: 4096, outFeatures: 4096 }, target(), MMA))).toEqual(wide);
    setKernelTable(DEFAULT_KERNEL_TABLE);
    expect(tileOf(chooseKernel({ m: 1, inFeatures: 4096, outFeatures: 4096 }, target(), MMA))).toEqual(narrow);
  });

  test('the default rules are the table file\'s', () => {
    expect(native.tileRules(0)).toEqual(DEFAULT_KERNEL_TABLE.default.map((r) => ({ ...r, minN: r.minN ?? 0 })));
  });

  test('rejects tables that leave batch sizes or widths uncovered', () => {
    expect(() => setKernelTable({ default: [{ maxBatch: 16, ...narrow }] })).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
    expect(() => setKernelTable({ default: [{ maxBatch: Infinity, minN: 128, ...narrow }] })).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT' }),
    );
    expect(() => setKernelTable({})).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
    expect(() => setKernelTable({ default: [{ maxBatch: Infinity, ...narrow }], gfx90: [{ maxBatch: Infinity, ...narrow }] })).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT' }),
    );
    // Refused before the native rules change: tiles this build lacks, non-integer bounds.
    expect(() => setKernelTable({ default: [{ maxBatch: Infinity, tileK: 256, tileN: 64 }] })).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT', message: expect.stringContaining('a compiled tile (') }),
    );
    expect(() => setKernelTable({ default: [{ maxBatch: 100.5, ...wide }, { maxBatch: Infinity, ...narrow }] })).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT' }),
    );
    expect(() => setKernelTable({ default: [{ maxBatch: 64, minN: 0.5, ...wide }, { maxBatch: Infinity, ...narrow }] })).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT' }),
    );
    expect(getKernelTable()).toBe(DEFAULT_KERNEL_TABLE);
    expect(native.tileRules(0)).toEqual(DEFAULT_KERNEL_TABLE.default.map((r) => ({ ...r, minN: r.minN ?? 0 })));
  });
});

describe('kernel families', () => {
  const hasWgmma = built.archs.includes(90);
  const problem = (m: number, format = {}) => ({ m, inFeatures: 4096, outFeatures: 4096, format });
  const covered = (['float16', 'bfloat16'] as const).flatMap((dtype) =>
    ([4, 8] as const).flatMap((bits) =>
      ([32, 64, 128, -1] as const).flatMap((groupSize) => [false, true].map((zeroPoints) => ({ dtype, bits, groupSize, zeroPoints }))),
    ),
  );

  const layer = (m: number, k: number, n: number, format = {}) => ({ m, inFeatures: k, outFeatures: n, format });
  // Whether table.json's wgmma familyPrice covers m rows of `format` (FP16 4-bit g128 by default): there the
  // price may overrule the choose entries (the family-price test below). It leaves out the filters' streamK and the
  // price's minK: the callers' layers are split plans with k >= 2048 where it matters.
  const familyPrice = KERNEL_TABLE_FILE.families.find((f) => f.name === 'wgmma')?.familyPrice;
  type FormatSpec = { dtype?: string; bits?: number; groupSize?: number; zeroPoints?: boolean };
  const priced = (m: number, format: FormatSpec = {}) => {
    const f = { dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: false, ...format };
    return (
      familyPrice !== undefined &&
      m >= familyPrice.minBatch &&
      m <= familyPrice.maxBatch &&
      familyPrice.formats.some(
        (e) =>
          (e.activations ?? [f.dtype]).includes(f.dtype) &&
          (e.bits ?? [f.bits]).includes(f.bits) &&
          (e.groupSizes ?? [f.groupSize]).includes(f.groupSize) &&
          (e.zeroPoints ?? [f.zeroPoints]).includes(f.zeroPoints),
      )
    );
  };
  const summary = (p: KernelPlan) => ({ family: p.family, rows: p.rowBlocks[0] * 16, splits: p.splits, blocks: p.blocks, streamK: p.streamK });

  (hasWgmma ? test : test.skip)('wgmma on compute capability 9.0 from 49 rows where the layer has 16 or more output tiles (17 at 97-128 rows), every format; mma otherwise (but the entries below)', () => {
    for (const format of covered) {
      // 4096 x 12288 (Llama-2-7B qkv): 48 column tiles of 256.
      expect(summary(chooseKernel(layer(49, 4096, 12288, format), target(90)))).toEqual({ family: 'wgmma', rows: 64, splits: 2, blocks: 96, streamK: false });
      // (Symmetric 4-bit layers of 40 or more tiles below 49 rows, and FP16 g128 with zero points: the tests below.)
      const sym4 = format.bits === 4 && !format.zeroPoints;
      const fp16g128 = format.bits === 4 && format.dtype === 'float16' && format.groupSize === 128;
      const taken = fp16g128 || sym4;
      expect(chooseKernel(layer(48, 4096, 12288, format), target(90)).family).toBe(taken ? 'wgmma' : 'mma');
      expect(chooseKernel(layer(49, 4096, 12288, format), target(90))).toMatchObject({ tileK: 128, tileN: 256, codeArch: 90, launches: 1 });
    }
    // 8192 x 10240 (70B qkv): 40 tiles, stream-k over the 132 SMs at 64, 96 and 128 rows (the stream-k test); a
    // BF16 layer's 96- and 128-row tiles have none: split in 2.
    expect(summary(chooseKernel(layer(64, 8192, 10240), target(90)))).toEqual({ family: 'wgmma', rows: 64, splits: 1, blocks: 132, streamK: true });
    expect(summary(chooseKernel(layer(65, 8192, 10240), target(90)))).toEqual({ family: 'wgmma', rows: 96, splits: 1, blocks: 132, streamK: true });
    expect(summary(chooseKernel(layer(96, 8192, 10240), target(90)))).toEqual({ family: 'wgmma', rows: 96, splits: 1, blocks: 132, streamK: true });
    expect(summary(chooseKernel(layer(97, 8192, 10240), target(90)))).toEqual({ family: 'wgmma', rows: 128, splits: 1, blocks: 132, streamK: true });
    expect(summary(chooseKernel(layer(65, 8192, 10240, { dtype: 'bfloat16' }), target(90)))).toEqual({ family: 'wgmma', rows: 96, splits: 2, blocks: 80, streamK: false });
    expect(summary(chooseKernel(layer(97, 8192, 10240, { dtype: 'bfloat16' }), target(90)))).toEqual({ family: 'wgmma', rows: 128, splits: 2, blocks: 80, streamK: false });
    // 4096 x 4096: 16 tiles, 32 stages: split in 6 at 96 rows; at 97-128 rows (the 128-row tile) on mma, which
    // ran it 3-6% faster in every format measured; 32 tiles at 256 rows split in 3.
    expect(summary(chooseKernel(problem(96), target(90)))).toEqual({ family: 'wgmma', rows: 96, splits: 6, blocks: 96, streamK: false });
    for (const m of [97, 128]) {
      expect(chooseKernel(problem(m), target(90)).family).toBe('mma');
      expect(summary(chooseKernel(problem(m), target(90), { family: 'wgmma' }))).toEqual({ family: 'wgmma', rows: 128, splits: 6, blocks: 96, streamK: false });
    }
    expect(chooseKernel(problem(129), target(90)).family).toBe('wgmma');
    expect(summary(chooseKernel(problem(256), target(90)))).toEqual({ family: 'wgmma', rows: 128, splits: 3, blocks: 96, streamK: false });
    // 17 tiles (4352 columns) keep it at 97-128 rows.
    expect(chooseKernel(layer(128, 4096, 4352), target(90)).family).toBe('wgmma');
    // 2048 columns: 8 tiles per 128 rows stay on mma up to 128 rows but at 49-64 (k 2048-4096: the narrow-layer
    // test), 16 at 129.
    expect(chooseKernel(layer(128, 4096, 2048), target(90)).family).toBe('mma');
    expect(chooseKernel(layer(129, 4096, 2048), target(90)).family).toBe('wgmma');
    // One block per 256 columns (the last partial) and 128 rows (the last partial); nine stages of k: one split.
    expect(summary(chooseKernel({ m: 1000, inFeatures: 1152, outFeatures: 4160 }, target(90), { streamK: false }))).toEqual({ family: 'wgmma', rows: 128, splits: 1, blocks: 17 * 8, streamK: false });
    // sm_90a code runs on compute capability 9.0 only: newer GPUs run the mma family's PTX.
    const sm100 = { arch: 100, smemOptin: 232448, smCount: 148 };
    expect(chooseKernel(problem(1024), sm100)).toMatchObject({ family: 'mma', codeArch: 90 });
  });

  (hasWgmma ? test : test.skip)('wgmma split-k: the split count with the least cost per SM, whole waves of clusters', () => {
    // 16 tiles, 32 stages: 6 splits (96 blocks); 7 or 8 would not fit one wave of clusters (105 and 120 blocks on 132 SMs).
    expect(summary(chooseKernel(problem(16), target(90), { family: 'wgmma' }))).toEqual({ family: 'wgmma', rows: 32, splits: 6, blocks: 96, streamK: false });
    // 28672 x 8192 (70B down) at 128 rows: 32 tiles; 3 splits (96 blocks) beat 2 (64) and 4 (128: two waves of clusters of 4).
    expect(summary(chooseKernel(layer(128, 28672, 8192), target(90), { streamK: false }))).toEqual({ family: 'wgmma', rows: 128, splits: 3, blocks: 96, streamK: false });
    // 224 tiles (70B gate_up) at 64 rows, split counts only: splitting would only add waves.
    expect(summary(chooseKernel(layer(64, 8192, 57344), target(90), { streamK: false }))).toEqual({ family: 'wgmma', rows: 64, splits: 1, blocks: 224, streamK: false });
    // Each split keeps at least 4 stages of k: 1152 deep is 9 stages, so at most 2 splits.
    expect(chooseKernel(layer(16, 1152, 256), target(90), { family: 'wgmma' }).splits).toBe(2);
    expect(chooseKernel(layer(16, 256, 256), target(90), { family: 'wgmma' }).splits).toBe(1);
    // On more SMs, more room for splits: 148 SMs (clusters of 8: 91% of 148 = 134 blocks, 16 whole clusters = 128) take 8 for 16 tiles.
    expect(chooseKernel(problem(16), { ...target(90), smCount: 148 }, { family: 'wgmma' }).splits).toBe(8);
    // The mma family never splits.
    expect(chooseKernel(problem(16), target(90)).splits).toBe(1);
  });

  (hasWgmma ? test : test.skip)('wgmma stream-k: a block per SM where its cost is below the split plan\'s, every format up to 64 rows, FP16 4-bit grouped ones above', () => {
    // Costs in stages (table.json): the split plan's waves x (stages per split + 8 + 1 if split); stream-k's
    // ceil(units / 132) + 8 + 4 per further tile a block's run reaches + 1 per partial the tile's last block may add
    // (one where the shortest run, floor(units / 132), is a tile or more; else ceil((stages - 1) / that run)).
    // 8192 x 57344 (70B gate_up), 64 rows: 224 tiles of 64 stages; split 2 waves x 72 = 144; stream-k 109 + 8 + 2 x 4 + 1 = 126.
    expect(summary(chooseKernel(layer(64, 8192, 57344), target(90)))).toEqual({ family: 'wgmma', rows: 64, splits: 1, blocks: 132, streamK: true });
    // 28672 x 8192 (70B down): 32 tiles of 224 stages; 3 splits 75 + 8 + 1 = 84; stream-k 55 + 8 + 4 + 5 = 72.
    expect(summary(chooseKernel(layer(64, 28672, 8192), target(90)))).toEqual({ family: 'wgmma', rows: 64, splits: 1, blocks: 132, streamK: true });
    // 8192 x 8192 (70B o): 32 tiles of 64 stages; 3 splits 22 + 8 + 1 = 31 against 16 + 8 + 4 + 5 = 33: split.
    expect(summary(chooseKernel(layer(64, 8192, 8192), target(90)))).toEqual({ family: 'wgmma', rows: 64, splits: 3, blocks: 96, streamK: false });
    // 4096 x 4096: 16 tiles of 32 stages; 6 splits 15 against 4 + 8 + 4 + 11 = 27: split.
    expect(summary(chooseKernel(problem(64), target(90), { family: 'wgmma' }))).toEqual({ family: 'wgmma', rows: 64, splits: 6, blocks: 96, streamK: false });
    // The 128-row tile (FP16 4-bit grouped formats). Past one row tile, stream-k's stages cost 20% x (1 - 1 / row
    // tiles) more (the split plan's row tiles share weights in L2). 70B gate_up at 128 rows, one row tile: 224
    // tiles of 64 stages, split 144 against stream-k 126; at 256 rows, 448 tiles: split 1 + a tail of 52 tiles in
    // 2 = 261 against 218 + 21 + 8 + 4 x 4 + 1 = 264; at 1024 rows 1002 against 1086.
    expect(summary(chooseKernel(layer(128, 8192, 57344), target(90)))).toEqual({ family: 'wgmma', rows: 128, splits: 1, blocks: 132, streamK: true });
    expect(chooseKernel(layer(256, 8192, 57344), target(90))).toMatchObject({ family: 'wgmma', streamK: false, launches: 2 });
    expect(chooseKernel(layer(1024, 8192, 57344), target(90)).streamK).toBe(false);
    // 70B qkv at 256 rows: 80 tiles, split 72 against 39 + 3 (two row tiles: 10% of 39) + 8 + 4 + 2 = 56.
    expect(summary(chooseKernel(layer(256, 8192, 10240), target(90)))).toEqual({ family: 'wgmma', rows: 128, splits: 1, blocks: 132, streamK: true });
    // The same layers in BF16: split plans only above 64 rows.
    expect(chooseKernel(layer(128, 8192, 57344, { dtype: 'bfloat16' }), target(90)).streamK).toBe(false);
    expect(chooseKernel(layer(256, 8192, 10240, { dtype: 'bfloat16' }), target(90)).streamK).toBe(false);
    // Forced: a block per SM, or per unit of work where there are fewer (2 tiles x 9 stages: 18), at either tile height.
    expect(summary(chooseKernel(problem(64), target(90), { streamK: true }))).toEqual({ family: 'wgmma', rows: 64, splits: 1, blocks: 132, streamK: true });
    expect(summary(chooseKernel(problem(1), target(90), { streamK: true }))).toEqual({ family: 'wgmma', rows: 32, splits: 1, blocks: 132, streamK: true });
    expect(summary(chooseKernel(layer(1, 1152, 320), target(90), { streamK: true }))).toEqual({ family: 'wgmma', rows: 32, splits: 1, blocks: 18, streamK: true });
    expect(chooseKernel(problem(64), { ...target(90), smCount: 148 }, { streamK: true }).blocks).toBe(148);
    expect(chooseKernel(problem(64), target(90), { streamK: true })).toMatchObject({ launches: 1, tailTiles: 0, tailSplits: 1 });
    expect(chooseKernel(problem(0), target(90), { streamK: true })).toMatchObject({ launches: 0, streamK: true });
    // false: split counts only; with the mma family's choice (48 rows of a narrow layer) it changes nothing.
    expect(chooseKernel(layer(64, 8192, 57344), target(90), { streamK: false })).toMatchObject({ family: 'wgmma', streamK: false, blocks: 224 });
    expect(chooseKernel(problem(48), target(90), { streamK: false }).family).toBe('mma');
    // Refused: above 64 rows on a BF16 layer (its 96- and 128-row tiles have none), with splits, or with another family or the mma family's options.
    const refused = (o: Parameters<typeof chooseKernel>[2], m = 64) =>
      expect(() => chooseKernel(problem(m), target(90), o)).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
    expect(() => chooseKernel(problem(65, { dtype: 'bfloat16' }), target(90), { streamK: true })).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT' }),
    );
    // FP16 4-bit grouped formats have it in the 96- and 128-row tiles too.
    expect(summary(chooseKernel(problem(65), target(90), { streamK: true }))).toEqual({ family: 'wgmma', rows: 96, splits: 1, blocks: 132, streamK: true });
    expect(summary(chooseKernel(problem(97), target(90), { streamK: true }))).toEqual({ family: 'wgmma', rows: 128, splits: 1, blocks: 132, streamK: true });
    refused({ streamK: true, splits: 2 });
    refused({ streamK: true, family: 'mma' });
    refused({ streamK: true, family: 'decode' }, 4);
    refused({ streamK: true, tile: narrow });
    refused({ streamK: true, maxPar: 2 });
    refused({ streamK: 'yes' as unknown as boolean });
    // Off compute capability 9.0 there is no wgmma family to force.
    expect(() => chooseKernel(problem(64), target(80), { streamK: true })).toThrow();
  });

  (hasWgmma ? test : test.skip)('wgmma from 17 rows on grouped 4-bit layers of 200 or more tiles (Llama-2-70B gate_up: 224), with stream-k there', () => {
    const gateUp = (m: number, format = {}) => chooseKernel(layer(m, 8192, 57344, format), target(90));
    expect(summary(gateUp(17))).toEqual({ family: 'wgmma', rows: 32, splits: 1, blocks: 132, streamK: true });
    expect(summary(gateUp(32))).toEqual({ family: 'wgmma', rows: 32, splits: 1, blocks: 132, streamK: true });
    expect(summary(gateUp(48))).toEqual({ family: 'wgmma', rows: 48, splits: 1, blocks: 132, streamK: true });
    expect(gateUp(16).family).not.toBe('wgmma');
    expect(gateUp(32, { bits: 8 }).family).toBe('mma');
    expect(gateUp(32, { dtype: 'bfloat16' }).family).toBe('wgmma');
    // Outside group 128 (the entries below), 199 tiles (50944 columns) and Llama-2-70B's down stay on mma below 33 rows
    // (with zero points here: the family price, which covers symmetric g64, gives the symmetric ones the family).
    const g64 = { groupSize: 64, zeroPoints: true } as const;
    expect(chooseKernel(layer(32, 8192, 50944, g64), target(90)).family).toBe('mma');
    expect(chooseKernel(layer(32, 8192, 51200, g64), target(90)).family).toBe('wgmma');
    expect(chooseKernel(layer(32, 28672, 8192, g64), target(90)).family).toBe('mma');
    // Per-column 70B gate_up runs faster on mma at 17-32 rows: the 200-tile entry is for grouped formats (BF16
    // symmetric per column, within 0.8% of mma there since run 42, takes the family by its 48-tile entry).
    expect(gateUp(17, { groupSize: -1, dtype: 'bfloat16' }).family).toBe('wgmma');
    for (const format of [{ groupSize: -1 }, { groupSize: -1, zeroPoints: true }, { groupSize: -1, dtype: 'bfloat16', zeroPoints: true }] as const) {
      expect(gateUp(17, format).family).toBe('mma');
      expect(gateUp(32, format).family).toBe('mma');
      expect(gateUp(33, format).family).toBe('wgmma');
    }
  });

  (hasWgmma ? test : test.skip)('wgmma from 33 rows on 4-bit layers of 80 or more tiles (Llama-2-7B gate_up: 86), with stream-k there', () => {
    const gateUp = (m: number, format = {}) => chooseKernel(layer(m, 4096, 22016, format), target(90));
    expect(summary(gateUp(33))).toEqual({ family: 'wgmma', rows: 48, splits: 1, blocks: 132, streamK: true });
    expect(summary(gateUp(48))).toEqual({ family: 'wgmma', rows: 48, splits: 1, blocks: 132, streamK: true });
    expect(summary(gateUp(49))).toEqual({ family: 'wgmma', rows: 64, splits: 1, blocks: 132, streamK: true });
    expect(gateUp(32, { groupSize: 64, zeroPoints: true }).family).toBe('mma');
    expect(gateUp(40, { bits: 8 }).family).toBe('mma');
    expect(gateUp(40, { dtype: 'bfloat16', zeroPoints: true, groupSize: -1 }).family).toBe('wgmma');
    // In this format (BF16 g64 with zero points: symmetric 4-bit formats have an entry from 40 tiles, FP16 g128 with
    // zero points one for 70B's qkv), 79 tiles (20224 columns) and Llama-2-70B's qkv (40) and o (32) stay on mma
    // below 49 rows.
    const bf16 = { dtype: 'bfloat16', groupSize: 64, zeroPoints: true } as const;
    expect(chooseKernel(layer(40, 4096, 20224, bf16), target(90)).family).toBe('mma');
    expect(chooseKernel(layer(40, 4096, 20480, bf16), target(90)).family).toBe('wgmma');
    expect(chooseKernel(layer(48, 8192, 10240, bf16), target(90)).family).toBe('mma');
    expect(chooseKernel(layer(48, 8192, 8192), target(90)).family).toBe('mma');
  });

  (hasWgmma ? test : test.skip)('wgmma from 33 rows on 4-bit layers of 32 or more tiles with k of 16384 or more (Llama-2-70B down)', () => {
    const down = (m: number, format = {}) => chooseKernel(layer(m, 28672, 8192, format), target(90));
    for (const format of [{}, { groupSize: 64 }, { groupSize: -1, zeroPoints: true }, { dtype: 'bfloat16', groupSize: 32 }] as const) {
      expect(down(33, format)).toMatchObject({ family: 'wgmma', rowBlocks: [3] });
      expect(down(48, format)).toMatchObject({ family: 'wgmma', rowBlocks: [3] });
      expect(down(49, format)).toMatchObject({ family: 'wgmma', rowBlocks: [4] });
    }
    expect(down(40, { bits: 8 }).family).toBe('mma');
    // k below 16384 (Llama-2-70B's o: 32 tiles, k 8192) or fewer than 32 tiles stay on mma below 49 rows (BF16 g64
    // with zero points here: symmetric 4-bit formats have an entry from k 11008 and 16 tiles).
    const bf16 = { dtype: 'bfloat16', groupSize: 64, zeroPoints: true } as const;
    expect(chooseKernel(layer(40, 16256, 8192, bf16), target(90)).family).toBe('mma');
    expect(chooseKernel(layer(40, 16384, 8192, bf16), target(90)).family).toBe('wgmma');
    expect(chooseKernel(layer(40, 28672, 7936, bf16), target(90)).family).toBe('mma');
    expect(chooseKernel(layer(40, 8192, 8192), target(90)).family).toBe('mma');
  });

  (hasWgmma ? test : test.skip)('wgmma from 33 rows on symmetric 4-bit layers of 40 or more tiles, or of 16 or more with k of 11008 or more (Llama-2 qkv and 7B down)', () => {
    const at = (m: number, k: number, n: number, format = {}) => chooseKernel(layer(m, k, n, format), target(90)).family;
    for (const dtype of ['float16', 'bfloat16'] as const)
      for (const groupSize of [32, 64, 128, -1] as const) {
        const format = { dtype, groupSize };
        for (const m of [33, 40, 48]) {
          // Llama-2-70B qkv (40 tiles, k 8192), Llama-2-7B qkv (48 tiles) and down (16 tiles, k 11008): the 48-row tile.
          expect(chooseKernel(layer(m, 8192, 10240, format), target(90))).toMatchObject({ family: 'wgmma', rowBlocks: [3] });
          expect(chooseKernel(layer(m, 4096, 12288, format), target(90))).toMatchObject({ family: 'wgmma', rowBlocks: [3] });
          expect(chooseKernel(layer(m, 11008, 4096, format), target(90))).toMatchObject({ family: 'wgmma', rowBlocks: [3] });
        }
        // Not below 33 rows for FP16 (group 128: 7B qkv is under its 80 tiles, 7B down under 32 tiles; BF16 g128 and
        // per column have entries from 17 rows, the next test).
        if (dtype === 'float16' || groupSize === 32 || groupSize === 64) {
          expect(at(32, 4096, 12288, format)).toBe('mma');
          expect(at(32, 11008, 4096, format)).toBe('mma');
        }
        // Llama-2-7B's o (16 tiles, k 4096) and Llama-2-70B's o (32 tiles, k 8192) stay on mma; so do 39 tiles (9984
        // columns) and 16 tiles with k 10880 where the family price does not cover the format (per column), and where
        // it does (symmetric g32, g64 and g128) it prices them as it does their neighbours above: the family.
        for (const [k, n] of [[4096, 4096], [8192, 8192]]) expect(at(40, k, n, format)).toBe('mma');
        for (const [k, n] of [[8192, 9984], [10880, 4096]]) expect(at(40, k, n, format)).toBe(priced(40, format) ? 'wgmma' : 'mma');
      }
    // Not zero points (BF16 g128 with them, FP16 g64) or 8 bits (measured slower there, or not changed by the 64-row
    // tile's two k tiles; FP16 g128 with zero points: the test below).
    for (const format of [{ zeroPoints: true, groupSize: 64 }, { bits: 8 }, { dtype: 'bfloat16', zeroPoints: true }] as const) {
      expect(at(40, 4096, 12288, format)).toBe('mma');
      expect(at(40, 11008, 4096, format)).toBe('mma');
    }
  });

  (hasWgmma ? test : test.skip)('wgmma from 33 rows on FP16 4-bit group-128 layers of 40 or more tiles (Llama-2-70B qkv), and with zero points of 16 or more with k of 11008 or more (Llama-2-7B down)', () => {
    const at = (m: number, k: number, n: number, format = {}) => chooseKernel(layer(m, k, n, format), target(90));
    for (const zeroPoints of [false, true]) {
      const format = { zeroPoints };
      for (const m of [33, 40, 48]) {
        // Llama-2-70B qkv (40 tiles, k 8192) and Llama-2-7B qkv (48 tiles): the 48-row tile.
        expect(at(m, 8192, 10240, format)).toMatchObject({ family: 'wgmma', rowBlocks: [3] });
        expect(at(m, 4096, 12288, format)).toMatchObject({ family: 'wgmma', rowBlocks: [3] });
        // Llama-2-7B down (16 tiles, k 11008): symmetric by the entry from k 11008 for every group size, with zero
        // points by this one.
        expect(at(m, 11008, 4096, format)).toMatchObject({ family: 'wgmma', rowBlocks: [3] });
      }
      // Not below 33 rows; the o layers (Llama-2-7B: 16 tiles, k 4096; Llama-2-70B: 32 tiles, k 8192) stay on mma.
      // The family price (which covers this format) gives it 39 tiles, and symmetric 16 tiles with k 10880.
      expect(at(32, 8192, 10240, format).family).toBe('mma');
      for (const [k, n] of [[4096, 4096], [8192, 8192]]) expect(at(40, k, n, format).family).toBe('mma');
      expect(at(40, 8192, 9984, format).family).toBe('wgmma');
      expect(at(40, 10880, 4096, format).family).toBe(zeroPoints ? 'mma' : 'wgmma');
    }
    // Not other group sizes with zero points, nor BF16 with them (not measured with the 48-row tile).
    for (const format of [{ zeroPoints: true, groupSize: 64 }, { zeroPoints: true, groupSize: -1 }, { dtype: 'bfloat16', zeroPoints: true }, { dtype: 'bfloat16', zeroPoints: true, groupSize: 64 }] as const) {
      expect(at(40, 8192, 10240, format).family).toBe('mma');
      expect(at(40, 11008, 4096, format).family).toBe('mma');
    }
  });

  (hasWgmma ? test : test.skip)('wgmma from 17 rows on BF16 symmetric 4-bit layers, g128 or per column, of 48 or more tiles, or of 16 or more with k of 11008 or more (Llama-2-7B qkv and down)', () => {
    const at = (m: number, k: number, n: number, format = {}) => chooseKernel(layer(m, k, n, format), target(90));
    for (const groupSize of [128, -1] as const) {
      const format = { dtype: 'bfloat16', groupSize } as const;
      // Llama-2-7B qkv (48 tiles) and down (16 tiles, k 11008): the 32-row tile to 32 rows, then the 48-row one.
      for (const m of [17, 32]) {
        expect(at(m, 4096, 12288, format)).toMatchObject({ family: 'wgmma', rowBlocks: [2] });
        expect(at(m, 11008, 4096, format)).toMatchObject({ family: 'wgmma', rowBlocks: [2] });
      }
      for (const m of [33, 48]) {
        expect(at(m, 4096, 12288, format)).toMatchObject({ family: 'wgmma', rowBlocks: [3] });
        expect(at(m, 11008, 4096, format)).toMatchObject({ family: 'wgmma', rowBlocks: [3] });
      }
      expect(at(16, 4096, 12288, format).family).not.toBe('wgmma');
      // 47 tiles; 16 tiles with k 10880; Llama-2-7B's o (16 tiles, k 4096), Llama-2-70B's qkv (40 tiles, k 8192)
      // and o (32 tiles, k 8192) stay on mma.
      for (const [k, n] of [[4096, 12032], [10880, 4096], [4096, 4096], [8192, 10240], [8192, 8192]])
        expect(at(24, k, n, format).family).toBe('mma');
    }
    // Not BF16 g32 or g64 (not measured there below 33 rows) or with zero points (tied or slower), nor FP16 below 33 rows.
    for (const format of [{ dtype: 'bfloat16', groupSize: 32 }, { dtype: 'bfloat16', groupSize: 64 }, { dtype: 'bfloat16', zeroPoints: true, groupSize: -1 }, {}, { groupSize: -1 }] as const) {
      expect(at(24, 4096, 12288, format).family).toBe('mma');
      expect(at(24, 11008, 4096, format).family).toBe('mma');
    }
  });

  (hasWgmma ? test : test.skip)('wgmma from 17 rows with group 128 on 4-bit layers of 80 or more tiles, or of 32 or more with k of 16384 or more', () => {
    const at = (m: number, k: number, n: number, format = {}) => chooseKernel(layer(m, k, n, format), target(90));
    for (const format of [{}, { zeroPoints: true }, { dtype: 'bfloat16' }, { dtype: 'bfloat16', zeroPoints: true }] as const) {
      // Llama-2-7B gate_up (86 tiles) and Llama-2-70B down (32 tiles, k 28672): the 32-row tile.
      expect(at(17, 4096, 22016, format)).toMatchObject({ family: 'wgmma', rowBlocks: [2] });
      expect(at(32, 4096, 22016, format)).toMatchObject({ family: 'wgmma', rowBlocks: [2] });
      expect(at(17, 28672, 8192, format)).toMatchObject({ family: 'wgmma', rowBlocks: [2] });
      expect(at(32, 28672, 8192, format)).toMatchObject({ family: 'wgmma', rowBlocks: [2] });
    }
    expect(at(16, 4096, 22016).family).not.toBe('wgmma');
    // (Other group sizes with zero points, and per column: symmetric g32 and g64 are the family price's.)
    for (const format of [{ groupSize: 32, zeroPoints: true }, { groupSize: 64, zeroPoints: true }, { groupSize: -1 }] as const) {
      expect(at(32, 4096, 22016, format).family).toBe('mma');
      expect(at(32, 28672, 8192, format).family).toBe('mma');
    }
    expect(at(32, 4096, 22016, { bits: 8 }).family).toBe('mma');
    // Llama-2-70B's qkv (40 tiles, k 8192) and o, and 79 tiles, stay on mma at group 128 too.
    expect(at(32, 8192, 10240).family).toBe('mma');
    expect(at(32, 8192, 8192).family).toBe('mma');
    expect(at(32, 4096, 20224).family).toBe('mma');
  });

  (hasWgmma ? test : test.skip)('wgmma at 49-64 rows on narrow layers (4-15 tiles) with k of 2048-4096 (8-bit: 3072-4096), any format; mma outside those bounds', () => {
    const at = (m: number, k: number, n: number, format = {}) => chooseKernel(layer(m, k, n, format), target(90));
    for (const format of [{}, { dtype: 'bfloat16', groupSize: 32 }, { zeroPoints: true, groupSize: -1 }, { bits: 8 }, { bits: 8, dtype: 'bfloat16', zeroPoints: true }] as const) {
      // 4, 8 and 15 tiles (1024, 2048 and 3840 columns) at k 2048 (4-bit), 3072 and 4096: the 64-row tile, split
      // through clusters. 8-bit layers with k 2048 ran 2-5% faster on mma's priced block count.
      const eight = 'bits' in format;
      for (const [k, n] of [[2048, 1024], [4096, 1024], [2048, 2048], [3072, 2048], [4096, 2048], [4096, 3840]])
        for (const m of [49, 64]) {
          // (and the family price gives FP16 8-bit 3072 x 2048 back to it at 64 rows; BF16 with zero points, priced
          // within its 4% margin there, stays)
          const fp16 = !('dtype' in format);
          if (eight && (k === 2048 || (k === 3072 && n === 2048 && m === 64 && fp16))) expect(at(m, k, n, format).family).toBe('mma');
          else expect(at(m, k, n, format)).toMatchObject({ family: 'wgmma', rowBlocks: [4] });
        }
      // Not at 48 or 65 rows, nor k 1920; nor 3 tiles (768 columns) or k 4224, but where the family price covers
      // the format (and, for 3 tiles, 4 bits): it gives the family k 4224, and 4-bit 3 tiles.
      expect(at(48, 4096, 2048, format).family).toBe('mma');
      expect(at(65, 4096, 2048, format).family).toBe('mma');
      expect(at(64, 1920, 2048, format).family).toBe('mma');
      expect(at(64, 4096, 768, format).family).toBe(priced(64, format) && !eight ? 'wgmma' : 'mma');
      expect(at(64, 4224, 2048, format).family).toBe(priced(64, format) ? 'wgmma' : 'mma');
    }
    // 8-bit from k 3072: k 2560 stays on mma.
    expect(at(64, 2560, 2048, { bits: 8 }).family).toBe('mma');
    // From 16 tiles the first entry takes any k from 49 rows, past 64 too, 8-bit included but where the family price
    // gives 8-bit 4096 x 4096 (Llama-2-7B's o) back to mma (5-9% cheaper there at 49-64 rows; not BF16 g64).
    expect(at(49, 8192, 4096).family).toBe('wgmma');
    expect(at(65, 8192, 4096).family).toBe('wgmma');
    expect(at(49, 4096, 4096, { bits: 8 }).family).toBe('mma');
    expect(at(64, 4096, 4096, { bits: 8 }).family).toBe('mma');
    expect(at(65, 4096, 4096, { bits: 8 }).family).toBe('wgmma');
    expect(at(64, 4096, 4096, { bits: 8, dtype: 'bfloat16', groupSize: 64 }).family).toBe('wgmma');
  });

  (hasWgmma ? test : test.skip)("the family price's memory speeds follow the GPU's peak memory bandwidth (target.memoryGBps)", () => {
    const at = (m: number, k: number, n: number, format: FormatSpec, memoryGBps?: number) =>
      chooseKernel(layer(m, k, n, format), { ...target(90), memoryGBps }).family;
    const u8 = { bits: 8 } as const;
    // Qwen2.5-7B's down in 8 bits (18944 x 3584) at 17-48 rows: the family on the H100 SXM the price was fitted on
    // (3352 GB/s), as where the bandwidth is unknown (omitted or 0); mma on an H200 (4814 GB/s), whose faster memory
    // speeds up the mma kernel's weight stream (measured there: 28.3 against 29.3 us at 17 rows).
    for (const m of [17, 32, 48]) {
      for (const unknownOrFitted of [undefined, 0, 3352]) expect(at(m, 18944, 3584, u8, unknownOrFitted)).toBe('wgmma');
      expect(at(m, 18944, 3584, u8, 4814)).toBe('mma');
    }
    // And the other way: Llama-2-70B's down in 8 bits (28672 x 8192) at 49-64 rows, mma on the H100, the family on an
    // H200 (measured there at 56 and 64 rows: 88.6 and 90.0 us against mma's 89.5 and 91.2).
    for (const m of [49, 64]) {
      expect(at(m, 28672, 8192, u8)).toBe('mma');
      expect(at(m, 28672, 8192, u8, 4814)).toBe('wgmma');
    }
    // 4-bit grouped layers price by their stages, not the memory: Llama-2-13B's o at 24 rows takes the family on both.
    expect(at(24, 5120, 5120, {}, 4814)).toBe('wgmma');
    // Speeds past gen-kernels' bounds are held to them: no overflow from the largest bandwidth a target can give.
    expect(at(64, 131072, 131072, u8, 2 ** 31 - 1)).toBe('wgmma');
    expect(at(64, 131072, 131072, u8, 1)).toBe('mma');
    for (const memoryGBps of [-1, 1.5, '4814'])
      expect(() => chooseKernel(layer(24, 4096, 4096), { ...target(90), memoryGBps: memoryGBps as number })).toThrow(
        expect.objectContaining({ code: 'BAD_ARGUMENT', message: expect.stringContaining('memoryGBps') }),
      );
  });

  (hasWgmma ? test : test.skip)('wgmma at 49-128 rows on 12-15-tile layers with k of 8192 or more, and at 65-96 rows with k of 3072 or more, any format', () => {
    const at = (m: number, k: number, n: number, format = {}) => chooseKernel(layer(m, k, n, format), target(90));
    for (const format of [{}, { dtype: 'bfloat16', groupSize: 32 }, { zeroPoints: true }, { bits: 8 }, { bits: 8, dtype: 'bfloat16', groupSize: -1 }] as const) {
      // Llama-3.2-3B's down (8192 x 3072: 12 tiles) and Qwen2.5-7B's (18944 x 3584: 14 tiles), 49-128 rows.
      for (const m of [49, 64, 65, 96, 97, 128]) {
        expect(at(m, 8192, 3072, format).family).toBe('wgmma');
        expect(at(m, 18944, 3584, format).family).toBe('wgmma');
      }
      // Llama-3.2-3B's o (3072 x 3072: 12 tiles) and Qwen2.5-7B's (3584 x 3584: 14 tiles): the 96-row tile at
      // 65-96 rows; mma at 97-128.
      for (const [k, n] of [[3072, 3072], [3584, 3584]]) {
        expect(at(65, k, n, format)).toMatchObject({ family: 'wgmma', rowBlocks: [6] });
        expect(at(96, k, n, format)).toMatchObject({ family: 'wgmma', rowBlocks: [6] });
        expect(at(97, k, n, format).family).toBe('mma');
        expect(at(128, k, n, format).family).toBe('mma');
      }
      // 16 tiles with k of 8192 or more keep the family at 97-128 rows (Llama-2-7B's and Llama-3-8B's down).
      for (const m of [97, 128]) {
        expect(at(m, 11008, 4096, format).family).toBe('wgmma');
        expect(at(m, 14336, 4096, format).family).toBe('wgmma');
      }
      // Not 11 tiles (2816 columns), k 2048 (2048 x 3072) or k 8064 at 97-128 rows, nor 8 tiles with k 8192.
      expect(at(96, 8192, 2816, format).family).toBe('mma');
      expect(at(96, 2048, 3072, format).family).toBe('mma');
      expect(at(128, 8064, 3072, format).family).toBe('mma');
      expect(at(96, 8192, 2048, format).family).toBe('mma');
    }
  });

  (hasWgmma ? test : test.skip)('wgmma at 33-48 rows on 4-bit layers of 12-15 tiles with k of 8192 or more, or of 18-24 tiles with k of 3584 or more', () => {
    const at = (m: number, k: number, n: number, format = {}) => chooseKernel(layer(m, k, n, format), target(90));
    for (const format of [{}, { dtype: 'bfloat16', groupSize: 32 }, { zeroPoints: true }, { groupSize: -1 }, { dtype: 'bfloat16', zeroPoints: true, groupSize: 64 }] as const) {
      for (const m of [33, 48]) {
        // 12 and 14 tiles: Llama-3.2-3B's down (8192 x 3072), Qwen2.5-7B's (18944 x 3584).
        expect(at(m, 8192, 3072, format)).toMatchObject({ family: 'wgmma', rowBlocks: [3] });
        expect(at(m, 18944, 3584, format)).toMatchObject({ family: 'wgmma', rowBlocks: [3] });
        // 18, 20 and 24 tiles: Qwen2.5-7B's qkv (3584 x 4608), Llama-2-13B's o (5120 x 5120), Llama-3-8B's qkv (4096 x 6144).
        for (const [k, n] of [[3584, 4608], [5120, 5120], [4096, 6144]]) expect(at(m, k, n, format)).toMatchObject({ family: 'wgmma', rowBlocks: [3] });
      }
      // The tile bounds are inclusive: 15 tiles (3840 columns) with k 8192, 18 (4608) with k 4096; not 17 (4352).
      expect(at(40, 8192, 3840, format)).toMatchObject({ family: 'wgmma', rowBlocks: [3] });
      expect(at(40, 4096, 4608, format)).toMatchObject({ family: 'wgmma', rowBlocks: [3] });
      // Not at 32 rows; not 16 tiles with k 8192 or 4096 (Llama-2-7B's o), k 3072 at 20 tiles (Llama-3.2-3B's qkv),
      // or 32 (Llama-2-70B's o).
      expect(at(32, 8192, 3072, format).family).toBe('mma');
      expect(at(32, 4096, 6144, format).family).toBe('mma');
      for (const [k, n] of [[8192, 4096], [4096, 4096], [3072, 5120], [8192, 8192]]) expect(at(40, k, n, format).family).toBe('mma');
      // Nor 17 tiles with k 4096, k 8064 at 12 tiles, 11 tiles or 25 tiles with k 4096 where the family price does not
      // cover the format; where it does, it prices them as their neighbours: the family. 16 tiles with k 10880 too
      // but with zero points.
      for (const [k, n] of [[4096, 4352], [8064, 3072], [8192, 2816], [4096, 6400]])
        expect(at(40, k, n, format).family).toBe(priced(40, format) ? 'wgmma' : 'mma');
      expect(at(40, 10880, 4096, format).family).toBe(priced(40, format) && !('zeroPoints' in format) ? 'wgmma' : 'mma');
    }
    // Not 8-bit.
    for (const [k, n] of [[8192, 3072], [4096, 6144]]) expect(at(40, k, n, { bits: 8 }).family).toBe('mma');
  });

  (hasWgmma ? test : test.skip)('the family price overrules the choose entries at 17-64 rows in the formats it covers, by more than its margin', () => {
    const at = (m: number, k: number, n: number, format: FormatSpec = {}, o = {}) => chooseKernel(layer(m, k, n, format), target(90), o).family;
    const u8 = { bits: 8 } as const;
    // Llama-2-13B's o (5120 x 5120, 20 tiles) at 17-32 rows: the entries give mma, the price the family (11-7% cheaper)
    // in FP16 g128, BF16 g32 and g64 and FP16 per column alike; not BF16 per column or FP16 g64 with zero points, which
    // it does not cover; not at 16 rows.
    for (const format of [{}, { dtype: 'bfloat16', groupSize: 32 }, { dtype: 'bfloat16', groupSize: 64 }, { groupSize: -1 }]) {
      expect(priced(24, format)).toBe(true);
      for (const m of [17, 24, 32]) expect(at(m, 5120, 5120, format)).toBe('wgmma');
    }
    for (const format of [{ dtype: 'bfloat16', groupSize: -1 }, { groupSize: 64, zeroPoints: true }]) {
      expect(priced(24, format)).toBe(false);
      expect(at(24, 5120, 5120, format)).toBe('mma');
    }
    expect(at(16, 5120, 5120)).not.toBe('wgmma');
    // Llama-3-8B's gate_up in 8 bits (4096 x 28672, 112 tiles) at 17-48 rows: the family (9-11% cheaper, past the
    // 6% 8-bit margin up to 48 rows).
    for (const m of [17, 32, 48]) expect(at(m, 4096, 28672, u8)).toBe('wgmma');
    // And back: Llama-2-7B's o in 8 bits at 49-64 rows (the entries' 16-tile layers) and Llama-2-70B's qkv at 64
    // (5% cheaper on mma: past the 4% margin from 49 rows); from 65 rows the entries alone.
    for (const m of [49, 56, 64]) expect(at(m, 4096, 4096, u8)).toBe('mma');
    expect(at(64, 8192, 10240, u8)).toBe('mma');
    expect(at(65, 4096, 4096, u8)).toBe('wgmma');
    expect(at(65, 8192, 10240, u8)).toBe('wgmma');
    // Within the margin the entries' choice stands: 8-bit 4096 x 4608 at 40 rows prices 4.6% cheaper on the family,
    // under the 6% that 8-bit layers need up to 48 rows (4-bit 4096 x 4608 at 40 rows: an entry's, the family).
    expect(at(40, 4096, 4608, u8)).toBe('mma');
    expect(at(40, 4096, 4608)).toBe('wgmma');
    // Each term counts: the zero points' bytes (Llama-3-8B's down in 8 bits with zero points at 64 rows: mma; priced
    // without them, the family) and the mma 64x256 tile's dearer stage (4096 x 17408 at 17 rows: the family; without
    // it, mma).
    expect(at(64, 14336, 4096, { bits: 8, zeroPoints: true })).toBe('mma');
    expect(at(17, 4096, 17408)).toBe('wgmma');
    // Layers of up to 2^34 weights (131072 x 131072): one more column tile, and the entries' choice stands.
    expect(at(64, 131072, 131072, u8)).toBe('mma');
    expect(at(64, 131072, 131328, u8)).toBe('wgmma');
    // Only where the call leaves the family free: a forced family or an mma option keeps it.
    expect(at(24, 5120, 5120, {}, { family: 'mma' })).toBe('mma');
    expect(at(24, 5120, 5120, {}, { maxPar: 8 })).toBe('mma');
    expect(at(56, 4096, 4096, u8, { family: 'wgmma' })).toBe('wgmma');
    expect(at(56, 4096, 4096, u8, { splits: 2 })).toBe('wgmma');
    // 4-bit zero points: a split plan's stage costs more than a stream-k plan's. FP16 on either plan: Llama-2-7B's o at
    // 64 rows (a split plan) goes to mma; 28672 x 5120 at 17-24 rows (stream-k; the entries' mma) to the family, and
    // Llama-2-70B's down (28672 x 8192) keeps it. BF16 zero points only on split plans: 28672 x 5120 stays on mma.
    expect(chooseKernel(layer(64, 4096, 4096), target(90), { family: 'wgmma' }).streamK).toBe(false);
    expect(at(64, 4096, 4096, { zeroPoints: true })).toBe('mma');
    expect(at(64, 4096, 4096)).toBe('wgmma');
    expect(chooseKernel(layer(24, 28672, 5120), target(90), { family: 'wgmma' }).streamK).toBe(true);
    for (const m of [17, 24]) expect(at(m, 28672, 5120, { zeroPoints: true })).toBe('wgmma');
    expect(at(26, 28672, 5120, { zeroPoints: true })).toBe('mma');
    expect(at(17, 28672, 5120, { zeroPoints: true, dtype: 'bfloat16' })).toBe('mma');
    for (const m of [17, 24, 32]) expect(at(m, 28672, 8192, { zeroPoints: true })).toBe('wgmma');
    // Nor k below 2048 (the layers it was fitted to; 1024 x 3072 at 33 rows measured 5% slower on the family it
    // prices cheaper): 1024 x 8704 at 33 rows keeps the entries' mma, 2048 x 8704 goes to the family.
    expect(at(33, 1024, 3072)).toBe('mma');
    expect(at(33, 1024, 8704)).toBe('mma');
    expect(at(33, 2048, 8704)).toBe('wgmma');
    // Not where the family's plan is two launches (never measured): 8-bit 2048 x 34048 at 56 rows (133 tiles, an
    // entry's) prices cheaper on mma than the family's stream-k launch (so the price overrules the entry), but a call
    // without stream-k gets the family's split plan, 132 tiles and then the last one split, and the entry stands.
    expect(at(56, 2048, 34048, u8)).toBe('mma');
    const split = chooseKernel(layer(56, 2048, 34048, u8), target(90), { streamK: false });
    expect(split).toMatchObject({ family: 'wgmma', launches: 2, tailTiles: 1 });
  });

  (hasWgmma ? test : test.skip)('wgmma: a last, partial wave of tiles runs split in a second launch where that costs less than one launch', () => {
    const tail = (p: KernelPlan) => ({ splits: p.splits, tailTiles: p.tailTiles, tailSplits: p.tailSplits, launches: p.launches, blocks: p.blocks });
    // 4096 x 22016 (7B gate_up) at 1024 rows: 86 x 8 = 688 tiles of 32 stages. One launch: 6 waves x (32 + 8) = 240
    // stages (splitting only adds waves). Two: 5 whole waves (660 tiles) x 40, the second launch's 4, and the last 28
    // tiles split 4 ways (112 blocks, one wave of clusters of 4: 8 + 8 + 1) = 221.
    expect(tail(chooseKernel(layer(1024, 4096, 22016), target(90)))).toEqual({ splits: 1, tailTiles: 28, tailSplits: 4, launches: 2, blocks: 660 + 28 * 4 });
    // 8192 x 57344 (70B gate_up) at 1024 rows: 1792 tiles of 64 stages, 14 waves (1008) against 13 x 72 + 4 + the
    // last 76 split 3 ways (228 blocks: two waves of the 117 that clusters of 3 fill, 2 x (22 + 9)) = 1002.
    expect(tail(chooseKernel(layer(1024, 8192, 57344), target(90)))).toEqual({ splits: 1, tailTiles: 76, tailSplits: 3, launches: 2, blocks: 1716 + 76 * 3 });
    // Whole waves only (33 x 4 = 132 tiles): one launch.
    expect(tail(chooseKernel(layer(512, 4096, 8448), target(90)))).toEqual({ splits: 1, tailTiles: 0, tailSplits: 1, launches: 1, blocks: 132 });
    // A tail whose split saves less than the second launch costs: 136 tiles of 9 stages, 2 waves x 17 = 34 against
    // 17 + 4 + 14 (4 tiles split 2 ways) = 35.
    // (Split counts only: stream-k, 10 + 1 + 8 + 4 + 1 = 24, costs less still.)
    expect(tail(chooseKernel({ m: 1000, inFeatures: 1152, outFeatures: 4160 }, target(90), { streamK: false }))).toEqual({ splits: 1, tailTiles: 0, tailSplits: 1, launches: 1, blocks: 136 });
    // Fewer tiles than a wave: one launch, split as before.
    expect(tail(chooseKernel(problem(256), target(90)))).toEqual({ splits: 3, tailTiles: 0, tailSplits: 1, launches: 1, blocks: 96 });
    // A forced split count keeps one launch.
    expect(tail(chooseKernel(layer(1024, 4096, 22016), target(90), { splits: 1 }))).toEqual({ splits: 1, tailTiles: 0, tailSplits: 1, launches: 1, blocks: 688 });
    // No rows, no launch.
    expect(chooseKernel(layer(0, 4096, 22016), target(90), { family: 'wgmma' })).toMatchObject({ launches: 0, tailTiles: 0 });
  });

  (hasWgmma ? test : test.skip)('the mma family\'s options keep it; `family` forces either family, `splits` the wgmma family\'s split count', () => {
    expect(chooseKernel(problem(1024), target(90), { tile: narrow }).family).toBe('mma');
    expect(chooseKernel(problem(1024), target(90), { sms: 4 }).family).toBe('mma');
    expect(chooseKernel(problem(1024), target(90), { maxPar: 2 }).family).toBe('mma');
    expect(chooseKernel(problem(1024), target(90), { maxPar: 16 }).family).toBe('wgmma');
    expect(chooseKernel(problem(1024), target(90), { family: 'mma' })).toMatchObject({ family: 'mma', rowBlocks: [4] });
    expect(chooseKernel(problem(1), target(90), { family: 'wgmma', splits: 1 })).toMatchObject({ family: 'wgmma', launches: 1, blocks: 16, rowBlocks: [2] });
    expect(chooseKernel(problem(256), target(90), { family: 'wgmma', splits: 1 })).toMatchObject({ family: 'wgmma', blocks: 32, rowBlocks: [8] });
    expect(chooseKernel(problem(0), target(90), { family: 'wgmma' })).toMatchObject({ family: 'wgmma', launches: 0 });
    for (const splits of [1, 2, 3, 5, 8]) expect(summary(chooseKernel(problem(300), target(90), { splits }))).toEqual({ family: 'wgmma', rows: 128, splits, blocks: 48 * splits, streamK: false });
    const refused = expect.objectContaining({ code: 'BAD_ARGUMENT' });
    expect(() => chooseKernel(problem(1024), target(90), { family: 'wgmma', tile: narrow })).toThrow(refused);
    expect(() => chooseKernel(problem(1024), target(90), { family: 'wgmma', maxPar: 4 })).toThrow(refused);
    expect(() => chooseKernel(problem(1024), { arch: 100, smemOptin: 232448, smCount: 148 }, { family: 'wgmma' })).toThrow(refused);
    expect(() => chooseKernel(problem(1024), target(90), { family: 'tensor' as never })).toThrow(refused);
    for (const splits of [0, 9, -1, 2.5, Number.NaN]) expect(() => chooseKernel(problem(1024), target(90), { splits })).toThrow(refused);
    expect(() => chooseKernel(problem(1024), target(90), { splits: 2, family: 'mma' })).toThrow(refused);
    expect(() => chooseKernel(problem(1024), target(90), { splits: 2, tile: narrow })).toThrow(refused);
    expect(() => chooseKernel(problem(1024), target(90), { splits: 2, sms: 8 })).toThrow(refused);
  });

  (hasWgmma ? test.skip : test)('a build without sm_90 plans every call on the mma family and cannot force wgmma', () => {
    expect(chooseKernel(problem(1024), target()).family).toBe('mma');
    expect(() => chooseKernel(problem(1024), target(), { family: 'wgmma' })).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
    expect(() => chooseKernel(problem(1024), target(), { splits: 2 })).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
  });

  (hasWgmma ? test : test.skip)('mma at up to 16 rows on compute capability 9.0: block counts along column tiles where the table measured them faster', () => {
    const u8 = { bits: 8 as const };
    // The mma family's plan (whatever other family a kernel table's `choose` entries give small batches).
    const blocks = (m: number, k: number, n: number, format = {}, overrides = {}) =>
      chooseKernel(layer(m, k, n, format), target(90), { ...MMA, ...overrides }).blocks;
    // The default plan: the same rule.
    expect(chooseKernel(layer(16, 28672, 8192, { bits: 8 }), target(90))).toMatchObject({ family: 'mma', blocks: 128 });
    // 8-bit (entry: from 60% of the SMs). 28672 x 8192 (70B down): 64 columns of 128, 224 stages: 2 blocks a column.
    expect(blocks(1, 28672, 8192, u8)).toBe(128);
    expect(blocks(16, 28672, 8192, u8)).toBe(128);
    expect(blocks(1, 28672, 8192, { bits: 8, dtype: 'bfloat16', zeroPoints: true })).toBe(128);
    // 8192 x 10240 (70B qkv): 80 columns, one block each (61%); 8192 x 57344 (70B gate_up): 224 columns of 256
    // (the wide tile), 2 whole columns a block (85%).
    expect(blocks(1, 8192, 10240, u8)).toBe(80);
    expect(blocks(1, 8192, 57344, u8)).toBe(112);
    // 11008 x 4096 (7B down): 32 columns of 86 stages; 4 and 3 do not divide 86, and 2 a column (64 blocks, 48%) is too few.
    expect(blocks(1, 11008, 4096, u8)).toBe(132);
    // Outside the entries: another GPU, and any mma option (17 rows and up: the priced counts below).
    // (compute capability 10.0 runs the build's PTX; no entry names it)
    expect(chooseKernel(layer(1, 28672, 8192, u8), { arch: 100, smemOptin: 232448, smCount: 132 }).blocks).toBe(132);
    expect(blocks(1, 28672, 8192, u8, { family: 'mma' })).toBe(128); // forcing the family alone keeps the rule
    expect(blocks(1, 28672, 8192, u8, { sms: 100 })).toBe(100);
    expect(blocks(1, 28672, 8192, u8, { tile: narrow })).toBe(132);
    expect(blocks(1, 28672, 8192, u8, { maxPar: 1 })).toBe(132);
    // 4-bit (entry: only from 90% of the SMs): 70B down and o take 128; 7B down (64), 70B qkv (80), 7B qkv (96) and
    // 70B gate_up (112) would leave too many SMs idle, so they keep one block per SM.
    expect(blocks(1, 28672, 8192)).toBe(128);
    expect(blocks(16, 8192, 8192, { dtype: 'bfloat16', zeroPoints: true })).toBe(128);
    for (const [k, n] of [[11008, 4096], [8192, 10240], [4096, 12288], [8192, 57344]]) expect(blocks(1, k, n)).toBe(132);
    // Columns that no whole number of blocks divides keep one block per SM: 128256 columns (a Llama-3 lm_head, 501 tiles
    // of 256: 4-12 columns a block do not divide 501) and 59136 (231 tiles: 3 a block is 77 blocks, under 60%).
    expect(blocks(1, 4096, 128256, u8)).toBe(132);
    expect(blocks(1, 4096, 128256)).toBe(132);
    expect(blocks(1, 8192, 59136, u8)).toBe(132);
  });

  (hasWgmma ? test : test.skip)('mma at 9-128 rows on compute capability 9.0: the block count of least price against the column reduction, where lower', () => {
    const entries = KERNEL_TABLE_FILE.families.find((f) => f.name === 'mma')?.pricedBlocks?.entries;
    expect(entries).toEqual([{ arch: 90, minBatch: 9, maxBatch: 128, partialCost: 0.6, straddleCost: 3 }]);
    const blocks = (m: number, k: number, n: number, format = {}, overrides = {}) =>
      chooseKernel(layer(m, k, n, format), target(90), { ...MMA, ...overrides }).blocks;
    // Price in stages of one block: stripe + 0.6 x (blocks sharing a column - 1) + 3 if stripes cross columns.
    // 2048 x 1024: 8 columns of 16 stages. One block per SM: 1 + 0.6 x 15 = 10; 4 a column (32 blocks): 4 + 0.6 x 3
    // = 5.8; 8 a column: 2 + 4.2 = 6.2. Measured at 64 rows (run 48): 12.8 us against 16.2 with 132 blocks.
    for (const m of [17, 32, 48, 64]) expect(blocks(m, 2048, 1024)).toBe(32);
    for (const format of [{ bits: 8 as const }, { dtype: 'bfloat16' as const, groupSize: 32 as const }, { zeroPoints: true }])
      expect(blocks(32, 2048, 1024, format)).toBe(32);
    // The default plan takes it where the mma family runs (the wgmma family takes this layer at 49-64 rows).
    expect(chooseKernel(layer(32, 2048, 1024), target(90))).toMatchObject({ family: 'mma', blocks: 32 });
    // 4096 x 1024: 32 stages a column; 8 a column (64 blocks): 4 + 4.2 = 8.2 beats 4 (8 + 1.8) and 16 (2 + 9).
    expect(blocks(32, 4096, 1024)).toBe(64);
    // 2048 x 3072: 24 columns. 132 blocks stripe 3 stages that cross columns, at most 6 blocks to a column (the
    // kernel's stripes: column c's 16 stages start at 16c, which is 0, 1 or 2 past a stripe's start): 3 + 0.6 x 5 + 3
    // = 9; 4 a column: 5.8.
    expect(blocks(32, 2048, 3072)).toBe(96);
    // The most blocks any column has, not ceil(k_tiles / stripe) + 1: 4096 x 14336 (Llama-3-8B's MLP: 112 columns of
    // 32) on 132 blocks stripes 28 stages, which cross columns, yet no column is shared by more than 2 (offsets 4c mod
    // 28 stay under 25): 28 + 0.6 + 3 = 31.6 keeps one block per SM against one a column (32).
    expect(blocks(32, 4096, 14336)).toBe(132);
    // One column: 4096 x 128 (32 stages) takes 8 blocks of 4 stages (measured 14.2 us against 21.3 at 64 rows).
    expect(blocks(48, 4096, 128)).toBe(8);
    // Ties keep one block per SM: 4096 x 2048 (16 columns of 32) stripes 4 stages on 128 of them, as 8 a column.
    expect(blocks(32, 4096, 2048)).toBe(132);
    // Wide layers: one block per SM, or its aligned equivalent. 7B o (4096 x 4096, 32 columns of 32) stripes 8
    // stages: 4 a column either way. 7B qkv (96 columns, 32 stages) and 7B down (32 columns of 86: 2 a column would be
    // 43 stages) keep 132 blocks; 70B down (64 columns of 224: 109 stages crossing columns, 3 + 0.6 x 3 more) takes 2 a
    // column, 128 blocks (measured 8-bit at 17-64 rows: 85.2-91.4 us against 88.4-97.8).
    expect(blocks(32, 4096, 4096)).toBe(132);
    expect(blocks(32, 4096, 12288)).toBe(132);
    expect(blocks(32, 11008, 4096)).toBe(132);
    expect(blocks(32, 28672, 8192)).toBe(128);
    // More columns than SMs (8192 x 57344: 224 columns of 256): nothing is priced, one block per SM stays.
    expect(blocks(32, 8192, 57344, { bits: 8 })).toBe(132);
    expect(chooseKernel(layer(32, 2048, 1024), { ...target(90), smCount: 4 }, MMA).blocks).toBe(4);
    // 65-128 rows: two 64-row problems side by side, to the kernel's stripes 16 columns of 16 stages (mma/slice.cuh):
    // 4 a column again, 64 blocks (measured at 65, 96 and 128 rows: 12.7-12.8 us against 13.7-14.0 with 132).
    // 4096 x 128 (2 columns of 32): 8 a column, 16 blocks (14.2 against 21.5-21.7); 4096 x 1024 (16 columns of 32)
    // ties with one block per SM, which stays.
    for (const m of [65, 96, 128]) {
      expect(blocks(m, 2048, 1024)).toBe(64);
      expect(blocks(m, 4096, 128)).toBe(16);
      expect(blocks(m, 4096, 1024)).toBe(132);
    }
    // 9-16 rows, where the aligned entries apply too: the lower count. 2048 x 1024 aligns 16 a column (128 blocks)
    // and prices 4 a column (32: measured at 9-16 rows 9.0 us against 10.2-10.3); 3072 x 3072 (4-bit) aligns none
    // over 90% of the SMs and prices 96 (10.4-10.5 against 11.7). Where the price would raise an aligned count, the
    // aligned count stays: 8-bit 4096 x 22016 (7B gate_up: 86 columns of 256, one block each) prices one block per
    // SM; 8-bit 28672 x 8192 aligns and prices 128.
    for (const m of [9, 12, 16]) {
      expect(blocks(m, 2048, 1024)).toBe(32);
      expect(blocks(m, 2048, 1024, { bits: 8 })).toBe(32);
      expect(blocks(m, 3072, 3072)).toBe(96);
      expect(blocks(m, 4096, 128)).toBe(8);
      expect(blocks(m, 4096, 22016, { bits: 8 })).toBe(86);
      expect(blocks(m, 28672, 8192, { bits: 8 })).toBe(128);
      expect(blocks(m, 4096, 12288)).toBe(132);
    }
    expect(blocks(32, 4096, 22016, { bits: 8 })).toBe(132);
    // Bounds: up to 8 rows only the aligned entries (4-bit: 90% of the SMs, which 32 blocks are not); 129 rows are
    // past the entry. With maxPar forced (any mma option), nothing is priced.
    expect(blocks(8, 2048, 1024)).toBe(128);
    expect(blocks(8, 3072, 3072)).toBe(132);
    expect(blocks(129, 2048, 1024)).toBe(132);
    // Another GPU and any mma option turn it off; forcing the family alone keeps it.
    expect(chooseKernel(layer(32, 2048, 1024), { arch: 100, smemOptin: 232448, smCount: 132 }, MMA).blocks).toBe(132);
    expect(blocks(32, 2048, 1024, {}, { sms: 100 })).toBe(100);
    expect(blocks(32, 2048, 1024, {}, { tile: narrow })).toBe(132);
    expect(blocks(32, 2048, 1024, {}, { maxPar: 1 })).toBe(132);
    // At 9-16 rows too (a batch-invariant call passes a tile and maxPar 1: one block per SM).
    expect(blocks(12, 2048, 1024, {}, { maxPar: 1 })).toBe(132);
    expect(blocks(12, 2048, 1024, {}, { tile: narrow })).toBe(132);
    // On more SMs the same prices: 148 SMs give 4096 x 1024 the same 8 a column.
    expect(chooseKernel(layer(32, 4096, 1024), { ...target(90), smCount: 148 }, MMA).blocks).toBe(64);
  });

  (hasWgmma ? test : test.skip)('aligned block counts split the work as the kernel does: whole, equal shares of one column or whole columns', () => {
    // The kernel's stripes (mma/slice.cuh): tiles numbered column by column, ceil(total / blocks) to each block.
    let aligned = 0;
    for (const bits of [4, 8] as const)
      for (const k of [128, 384, 1024, 4096, 5120, 11008, 13824, 14336, 28672])
        for (let n = 64; n <= 160000; n = Math.ceil((n * 1.37) / 64) * 64) {
          const p = chooseKernel(layer(1, k, n, { bits }), target(90), MMA);
          if (p.blocks === 132) continue;
          aligned++;
          const columns = Math.ceil(n / p.tileN);
          const stages = k / p.tileK;
          const perBlock = Math.ceil((columns * stages) / p.blocks);
          expect({ k, n, bits, exact: (columns * stages) % p.blocks === 0 }).toEqual({ k, n, bits, exact: true });
          expect({ k, n, bits, aligned: stages % perBlock === 0 || perBlock % stages === 0 }).toEqual({ k, n, bits, aligned: true });
        }
    expect(aligned).toBeGreaterThan(20);
  });

  test('compiledTiles() lists the tiles an override may name: the mma family\'s', () => {
    const mmaTiles = new Set(compiledVariants().filter((v) => v.family === 'mma').map((v) => `${v.tileK}x${v.tileN}`));
    expect(new Set(compiledTiles().map((t) => `${t.tileK}x${t.tileN}`))).toEqual(mmaTiles);
  });
});

describe('the decode family', () => {
  const hasDecode = built.archs.includes(90);
  const layer = (m: number, k: number, n: number, format = {}) => ({ m, inFeatures: k, outFeatures: n, format });
  const shape = (p: KernelPlan) => ({ family: p.family, warps: p.warps, splits: p.splits, blocks: p.blocks });
  const grouped = (['float16', 'bfloat16'] as const).flatMap((dtype) =>
    ([4, 8] as const).flatMap((bits) => ([32, 64, 128] as const).flatMap((groupSize) => [false, true].map((zeroPoints) => ({ dtype, bits, groupSize, zeroPoints })))),
  );
  const refused = expect.objectContaining({ code: 'BAD_ARGUMENT' });
  const DECODE = { family: 'decode' } as const;

  (hasDecode ? test : test.skip)('the shipped table gives it 1 to 8 rows of 4-bit layers cut into 32 shares, symmetric 8-bit ones and 8-bit ones with zero points cut into 16 or fewer (and symmetric 4-bit ones on GPUs of more bandwidth per SM, below); forced, 1 to 8 rows of every grouped format on compute capability 9.0', () => {
    expect(KERNEL_TABLE_FILE.families.find((f) => f.name === 'decode')?.choose).toEqual([
      { maxBatch: 8, bits: [4], minShares: 32 },
      { maxBatch: 8, bits: [8], zeroPoints: [false] },
      { maxBatch: 8, bits: [8], zeroPoints: [true], maxShares: 16 },
      { maxBatch: 8, bits: [4], zeroPoints: [false], minShares: 16, maxShares: 16, minMemoryGBpsPerSm: 30, maxExcessKiB: 64 },
      { maxBatch: 8, bits: [4], zeroPoints: [false], maxShares: 4, minK: 8192, minMemoryGBpsPerSm: 30 },
      { maxBatch: 8, bits: [4], zeroPoints: [false], minShares: 8, maxShares: 16, minK: 8192, minMemoryGBpsPerSm: 30, maxExcessKiB: 64 },
    ]);
    for (const format of grouped) {
      for (const m of [1, 5, 8]) {
        // 4096 x 4096 on 132 SMs: 64 strips of 32 shares.
        expect(chooseKernel(layer(m, 4096, 4096, format), target(90)).family).toBe(format.bits === 8 && format.zeroPoints ? 'mma' : 'decode');
        expect(chooseKernel(layer(m, 4096, 4096, format), target(90), DECODE)).toMatchObject({
          family: 'decode',
          tileK: 16,
          tileN: 64,
          stages: 4,
          rowBlocks: [1],
          launches: 1,
          codeArch: 90,
        });
      }
    }
    expect(chooseKernel(layer(0, 4096, 4096), target(90), DECODE)).toMatchObject({ family: 'decode', launches: 0 });
    // Chosen: the 7B down layer (64 strips, 688 k16 rows), and 128 strips on 264 SMs (33 warps each: 32 shares).
    expect(shape(chooseKernel(layer(8, 11008, 4096), target(90)))).toEqual({ family: 'decode', warps: 4, splits: 8, blocks: 512 });
    expect(shape(chooseKernel(layer(1, 8192, 8192), { ...target(90), smCount: 264 }))).toEqual({ family: 'decode', warps: 4, splits: 8, blocks: 1024 });
    // 8-bit: 16 shares and fewer (the Llama-2 qkv and gate_up layers, 70B's o and down), with or without zero points;
    // 32 shares (7B's down) symmetric only.
    for (const format of [{ bits: 8 }, { bits: 8, zeroPoints: true, dtype: 'bfloat16' }] as const) {
      expect(shape(chooseKernel(layer(8, 4096, 22016, format), target(90)))).toEqual({ family: 'decode', warps: 4, splits: 1, blocks: 344 });
      expect(shape(chooseKernel(layer(1, 8192, 8192, format), target(90)))).toEqual({ family: 'decode', warps: 8, splits: 2, blocks: 256 });
      expect(chooseKernel(layer(1, 11008, 4096, format), target(90)).family).toBe(format.zeroPoints ? 'mma' : 'decode');
      expect(chooseKernel(layer(9, 4096, 22016, format), target(90)).family).toBe('mma');
    }
    // 4-bit with zero points: 32 shares only.
    expect(shape(chooseKernel(layer(1, 11008, 4096, { zeroPoints: true }), target(90)))).toEqual({ family: 'decode', warps: 4, splits: 8, blocks: 512 });
    expect(chooseKernel(layer(1, 8192, 8192, { zeroPoints: true, dtype: 'bfloat16' }), target(90)).family).toBe('mma');
    // Not chosen (4-bit): 128 strips on 132 SMs (16 shares), 9 rows, k = 256 (16 k16 rows: 16 shares at most), per-column
    // scales, the mma family's options, another GPU, an empty batch.
    expect(chooseKernel(layer(1, 8192, 8192), target(90)).family).toBe('mma');
    expect(chooseKernel(layer(9, 4096, 4096), target(90)).family).toBe('mma');
    expect(chooseKernel(layer(1, 256, 64), target(90)).family).toBe('mma');
    expect(chooseKernel(layer(1, 4096, 4096, { groupSize: -1 }), target(90)).family).toBe('mma');
    const depth = chooseKernel(layer(1, 4096, 4096), target(90), MMA).stages;
    for (const o of [{ tile: narrow }, { sms: 8 }, { maxPar: 4 }, { stages: depth }, MMA])
      expect(chooseKernel(layer(1, 4096, 4096), target(90), o).family).toBe('mma');
    expect(chooseKernel(layer(1, 4096, 4096), { arch: 100, smemOptin: 232448, smCount: 148 }).family).toBe('mma');
    expect(chooseKernel(layer(0, 4096, 4096), target(90)).family).toBe('mma');
    expect(compiledVariants().filter((v) => v.family === 'decode').every((v) => v.arch === 90 && v.groupSize > 0 && v.mBlocks === 1)).toBe(true);
  });

  (hasDecode ? test : test.skip)('on a GPU of 30 GB/s of memory bandwidth per SM or more: symmetric 4-bit layers at 1 to 8 rows cut into 4 shares with k >= 8192, or into 16 (or 8 with k >= 8192) where the busiest SM streams at most 64 KiB more than an even share', () => {
    const h200 = { ...target(90), memoryGBps: 4814 }; // 36.5 GB/s per SM
    const family = (m: number, k: number, n: number, t: KernelTarget, format = {}) => chooseKernel(layer(m, k, n, format), t).family;
    for (const dtype of ['float16', 'bfloat16'] as const)
      for (const groupSize of [32, 64, 128])
        for (const m of [1, 5, 8]) {
          const format = { dtype, groupSize };
          // 16 shares at any k: 96 strips x 2 splits = 192 blocks, 2 rounds of 132, 72 slots idle, 72 x 131072 bytes / 264 = 35 KiB.
          expect(shape(chooseKernel(layer(m, 4096, 6144, format), h200))).toEqual({ family: 'decode', warps: 8, splits: 2, blocks: 192 });
          // k >= 8192: Llama-2-70B's down (16 shares: 256 blocks, 8 idle, 27 KiB) and gate_up (4 shares: 896 blocks, 28 idle,
          // 56 KiB); 4 shares at any excess: 8192 x 28672 (448 blocks of 262144 bytes, 80 idle: 155 KiB).
          expect(shape(chooseKernel(layer(m, 28672, 8192, format), h200))).toEqual({ family: 'decode', warps: 8, splits: 2, blocks: 256 });
          expect(shape(chooseKernel(layer(m, 8192, 57344, format), h200))).toEqual({ family: 'decode', warps: 4, splits: 1, blocks: 896 });
          expect(shape(chooseKernel(layer(m, 8192, 28672, format), h200))).toEqual({ family: 'decode', warps: 4, splits: 1, blocks: 448 });
          // Split plans over 64 KiB: Llama-2-13B's down (16 shares, 160 blocks of 221184 bytes, 104 idle: 170 KiB) and 70B's
          // qkv (8 shares, 320 blocks of 131072 bytes, 76 idle: 74 KiB).
          expect(family(m, 13824, 5120, h200, format)).toBe('mma');
          expect(family(m, 8192, 10240, h200, format)).toBe('mma');
          // 4 and 8 shares with k under 8192: Llama-2-7B's gate_up and qkv.
          expect(family(m, 4096, 22016, h200, format)).toBe('mma');
          expect(family(m, 4096, 12288, h200, format)).toBe('mma');
          // The rest as on the H100: zero points, 8-bit, 9 rows; and the H100 itself.
          expect(family(m, 8192, 8192, h200, { ...format, zeroPoints: true })).toBe('mma');
          expect(family(m, 8192, 8192, h200, { ...format, bits: 8, zeroPoints: true })).toBe('decode');
          expect(family(m, 11008, 4096, h200, { ...format, bits: 8, zeroPoints: true })).toBe('mma');
          for (const [k, n] of [[8192, 8192], [4096, 6144], [8192, 57344]]) expect(family(m, k, n, { ...h200, memoryGBps: 3352 }, format)).toBe('mma');
        }
    expect(family(9, 8192, 57344, h200)).toBe('mma');
    expect(family(1, 8192, 57344, h200, { groupSize: -1 })).toBe('mma');
    // The bandwidth: 30 x 132 = 3960 GB/s is enough, a GB/s less is not, and an unknown one (0 or left out) never is.
    for (const [k, n] of [[4096, 6144], [8192, 57344]]) {
      expect(family(1, k, n, { ...h200, memoryGBps: 3960 })).toBe('decode');
      for (const t of [{ ...h200, memoryGBps: 3959 }, { ...h200, memoryGBps: 0 }, target(90)]) expect(family(1, k, n, t)).toBe('mma');
    }
    // k: 8192 is enough for 4 shares, 8064 is not.
    expect(family(1, 8064, 57344, h200)).toBe('mma');
    // The excess bound holds its own value: 165 strips of k 8192 (262144 bytes), 8 shares, 330 blocks, 3 rounds, 66 idle
    // slots: 64 KiB exactly; 128 more of k, 65 KiB.
    expect(shape(chooseKernel(layer(1, 8192, 10560), h200))).toEqual({ family: 'decode', warps: 4, splits: 2, blocks: 330 });
    expect(family(1, 8320, 10560, h200)).toBe('mma');
    // Other SM counts: the bound is per SM, and so are the rounds. 13824 x 5120 on 128 SMs aims at 16 shares, 160 blocks,
    // 2 rounds, 96 idle: 162 KiB; 8192 x 8192 there, 256 blocks in 2 whole rounds, is chosen from 30 x 128 = 3840 GB/s.
    const t128 = { ...h200, smCount: 128, memoryGBps: 3840 };
    expect(family(1, 13824, 5120, t128)).toBe('mma');
    expect(shape(chooseKernel(layer(1, 8192, 8192), t128))).toEqual({ family: 'decode', warps: 8, splits: 2, blocks: 256 });
    expect(family(1, 8192, 8192, { ...t128, memoryGBps: 3839 })).toBe('mma');
  });

  (hasDecode ? test : test.skip)('k shares per strip: the largest table entry within 16 warps per SM over the strips and within the k16 rows', () => {
    // The Llama-2 layers on 132 SMs (64-column strips): 4096 x 4096 has 64 strips, 2112 / 64 = 33 warps each: 32 (4 warps, 8 splits).
    expect(shape(chooseKernel(layer(1, 4096, 4096), target(90), DECODE))).toEqual({ family: 'decode', warps: 4, splits: 8, blocks: 512 });
    // 192 strips: 11 -> 8 (4 warps, 2 splits); 344 strips: 6.1 -> 4 (4 warps, 1 split); 128 strips: 16.5 -> 16 (8 warps, 2 splits).
    expect(shape(chooseKernel(layer(8, 4096, 12288), target(90), DECODE))).toEqual({ family: 'decode', warps: 4, splits: 2, blocks: 384 });
    expect(shape(chooseKernel(layer(1, 4096, 22016), target(90), DECODE))).toEqual({ family: 'decode', warps: 4, splits: 1, blocks: 344 });
    expect(shape(chooseKernel(layer(1, 28672, 8192), target(90), DECODE))).toEqual({ family: 'decode', warps: 8, splits: 2, blocks: 256 });
    // 896 strips (70B gate_up): fewer than 4 warps each would be aimed at; the smallest entry.
    expect(shape(chooseKernel(layer(1, 8192, 57344), target(90), DECODE))).toEqual({ family: 'decode', warps: 4, splits: 1, blocks: 896 });
    // k = 128 (8 rows of 16): at most 8 shares, whatever the SMs.
    expect(shape(chooseKernel(layer(1, 128, 64), target(90), DECODE))).toEqual({ family: 'decode', warps: 4, splits: 2, blocks: 2 });
    // More SMs, more shares: 4096 x 12288 on 264 SMs aims at 22 -> 16.
    expect(shape(chooseKernel(layer(1, 4096, 12288), { ...target(90), smCount: 264 }, DECODE))).toEqual({ family: 'decode', warps: 8, splits: 2, blocks: 384 });
  });

  (hasDecode ? test : test.skip)('`family: \'decode\'` forces it up to 8 rows of a grouped format; more rows, per-column formats, other GPUs and the mma family\'s options are refused', () => {
    expect(() => chooseKernel(layer(9, 4096, 4096), target(90), { family: 'decode' })).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT', message: expect.stringContaining('decode family: up to 8 rows') }),
    );
    expect(() => chooseKernel(layer(1, 4096, 4096, { groupSize: -1 }), target(90), { family: 'decode' })).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT', message: expect.stringContaining('decode family: no') }),
    );
    for (const o of [{ tile: narrow }, { sms: 8 }, { maxPar: 4 }, { splits: 2 }])
      expect(() => chooseKernel(layer(1, 4096, 4096), target(90), { family: 'decode', ...o })).toThrow(refused);
    expect(() => chooseKernel(layer(1, 4096, 4096), { arch: 100, smemOptin: 232448, smCount: 148 }, { family: 'decode' })).toThrow(refused);
  });

  (hasDecode ? test.skip : test)('a build without sm_90 has no decode family', () => {
    expect(() => chooseKernel(layer(1, 4096, 4096), target(), DECODE)).toThrow(refused);
  });
});

describe('warmupBatches(): the batches whose plans use every kernel of 1..maxBatch rows', () => {
  const kernelsOf = (p: KernelPlan) => p.rowBlocks.map((r) => `${p.family} ${p.tileK}x${p.tileN} ${r}`);

  test('with stated plans: a batch is listed where it brings a kernel no smaller batch used', () => {
    // Row blocks as the mma family takes them with maxPar 1 (batchInvariant): 64-row problems, then a tail; a wider tile from 65 rows.
    const plan = (m: number) => {
      const tail = Math.ceil((m % 64) / 16);
      const rowBlocks = m <= 64 ? [Math.ceil(m / 16)] : tail > 0 ? [4, tail] : [4];
      return { family: 'mma' as const, tileK: m <= 64 ? 128 : 64, tileN: m <= 64 ? 128 : 256, rowBlocks };
    };
    expect(warmupBatches(16, plan)).toEqual([1]);
    expect(warmupBatches(64, plan)).toEqual([1, 17, 33, 49]);
    // 65: the wide tile, 4 and 1 row blocks; 81, 97: the wide tile's 2 and 3.
    expect(warmupBatches(200, plan)).toEqual([1, 17, 33, 49, 65, 81, 97]);
  });

  test('with the chooser\'s plans for an H100-class target: the listed batches use every kernel that any batch up to 1000 uses', () => {
    const planOf = (m: number) => chooseKernel({ m, inFeatures: 4096, outFeatures: 4096 }, target(90));
    const batches = warmupBatches(1000, planOf);
    expect(batches[0]).toBe(1);
    const used = new Set(batches.flatMap((m) => kernelsOf(planOf(m))));
    const all = new Set(Array.from({ length: 1000 }, (_, i) => kernelsOf(planOf(i + 1))).flat());
    expect(used).toEqual(all);
    expect(new Set(batches).size).toBe(batches.length);
    expect([...batches].sort((a, b) => a - b)).toEqual(batches);
  });

  test('refuses a maxBatch that is not a positive integer', () => {
    const plan = () => ({ family: 'mma' as const, tileK: 128, tileN: 128, rowBlocks: [1] });
    for (const maxBatch of [0, -1, 1.5, NaN, Infinity]) expect(() => warmupBatches(maxBatch, plan)).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
  });
});
