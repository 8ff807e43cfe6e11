/**
 * The benchmark's pure parts (presets, options, derived numbers, table,
 * report, SVG chart) and its no-GPU exit, without a GPU.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

import { renderSpeedupChart } from '../../scripts/bench/chart';
import { BenchFailure, describeError } from '../../scripts/bench/fail';
import { allFormats, describeBenchFormat, denseName, formatName, parseFormatList, parseFormatName } from '../../scripts/bench/formats';
import { DEFAULT_BATCHES, UsageError, parseOptions } from '../../scripts/bench/options';
import { PRESETS, PRESET_NAMES, planBench } from '../../scripts/bench/presets';
import { Progress } from '../../scripts/bench/progress';
import { buildJsonReport, comparisonTable, formatChange, formatReport, resultTable } from '../../scripts/bench/report';
import { type BenchEnvironment, type ShapeTiming, type Summary, idealSpeedup, summarize, weightBytes } from '../../scripts/bench/results';
import { KERNEL_TABLE_FILE } from '../../lib/table';
import { formatTable } from '../../scripts/bench/table';

const ROOT = path.resolve(__dirname, '../..');

/** Whether a usable GPU is here; false also when the addon does not load (then the bench must say so). */
function gpuPresent(): boolean {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('../../lib/device') as typeof import('../../lib/device')).probe().available;
  } catch {
    return false;
  }
}

/**
 * Runs the bench as `npx ts-node --transpile-only scripts/bench.ts` would,
 * but through node directly: npx may print its own warnings (npm config) on
 * stderr, which are not the bench's output.
 */
function runBench(args: string[]) {
  const tsNode = require.resolve('ts-node/dist/bin.js', { paths: [ROOT] });
  const r = spawnSync(process.execPath, [tsNode, '--transpile-only', 'scripts/bench.ts', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 30000,
  });
  const lines = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim() !== '');
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, lines };
}

describe('bench presets', () => {
  test('every preset layer is a shape the kernel supports', () => {
    for (const name of PRESET_NAMES) {
      expect(PRESETS[name]).toHaveLength(4);
      for (const { k, n } of PRESETS[name]) {
        expect(k % 128).toBe(0);
        expect(n % 64).toBe(0);
      }
    }
  });

  test('the shapes are the models’ fused qkv, o, gate_up and down layers', () => {
    const shapes = (name: string) => PRESETS[name].map((l) => [l.name, l.k, l.n]);
    expect(shapes('llama2-7b')).toEqual([['qkv', 4096, 12288], ['o', 4096, 4096], ['gate_up', 4096, 22016], ['down', 11008, 4096]]);
    expect(shapes('llama2-13b')).toEqual([['qkv', 5120, 15360], ['o', 5120, 5120], ['gate_up', 5120, 27648], ['down', 13824, 5120]]);
    expect(shapes('llama2-70b')).toEqual([['qkv', 8192, 10240], ['o', 8192, 8192], ['gate_up', 8192, 57344], ['down', 28672, 8192]]);
    expect(shapes('llama3-8b')).toEqual([['qkv', 4096, 6144], ['o', 4096, 4096], ['gate_up', 4096, 28672], ['down', 14336, 4096]]);
    expect(shapes('mistral-7b')).toEqual(shapes('llama3-8b'));
  });

  test('identical shapes are measured once and reused by every model that has them', () => {
    const plan = planBench([...PRESET_NAMES], [{ k: 4096, n: 4096 }, { k: 256, n: 128 }, { k: 256, n: 128 }]);
    // 5 models x 4 layers + 2 custom, but mistral-7b repeats llama3-8b and 4096x4096 appears in 3 models and custom.
    expect(plan.shapes).toHaveLength(15 + 1);
    const keys = plan.shapes.map((s) => `${s.k}x${s.n}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(plan.shapes.find((s) => s.k === 4096 && s.n === 4096)!.usedBy).toEqual([
      'llama2-7b o',
      'llama3-8b o',
      'mistral-7b o',
      'custom',
    ]);
    expect(plan.models.map((m) => m.name)).toEqual([...PRESET_NAMES, 'custom']);
    expect(plan.models[plan.models.length - 1].layers).toHaveLength(2);
  });
});

/** The message of the UsageError that `run` throws (fails the test if it throws none, or another error). */
function usageError(run: () => unknown): string {
  let error: unknown;
  try {
    run();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(UsageError);
  expect((error as Error).message).not.toContain('\n');
  return (error as Error).message;
}

describe('bench format names', () => {
  test.each([
    ['fp16-u4-g128', { dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: false, actOrder: false }],
    ['bf16-u4-g128-zp', { dtype: 'bfloat16', bits: 4, groupSize: 128, zeroPoints: true, actOrder: false }],
    ['fp16-u8-gch', { dtype: 'float16', bits: 8, groupSize: -1, zeroPoints: false, actOrder: false }],
    ['fp16-u4-g64', { dtype: 'float16', bits: 4, groupSize: 64, zeroPoints: false, actOrder: false }],
    ['fp16-u4-g32', { dtype: 'float16', bits: 4, groupSize: 32, zeroPoints: false, actOrder: false }],
    ['fp16-u4-g128-act', { dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: false, actOrder: true }],
    ['bf16-u8-g64-zp-act', { dtype: 'bfloat16', bits: 8, groupSize: 64, zeroPoints: true, actOrder: true }],
  ])('%s parses to its format and prints back as the same name', (name, format) => {
    expect(parseFormatName(name)).toEqual(format);
    expect(formatName(parseFormatName(name))).toBe(name);
  });

  test('suffixes may come in either order; the name is printed zp first', () => {
    expect(formatName(parseFormatName('fp16-u4-g128-act-zp'))).toBe('fp16-u4-g128-zp-act');
  });

  test('descriptions use the library wording; the dense baseline follows the activation type', () => {
    expect(describeBenchFormat(parseFormatName('fp16-u4-g128'))).toBe('float16/4-bit/g128/symmetric');
    expect(describeBenchFormat(parseFormatName('bf16-u8-gch-zp'))).toBe('bfloat16/8-bit/per-column/zero-points');
    expect(describeBenchFormat(parseFormatName('fp16-u4-g64-act'))).toBe('float16/4-bit/g64/symmetric/act-order');
    expect(denseName('float16')).toBe('FP16');
    expect(denseName('bfloat16')).toBe('BF16');
  });

  test('all: the default first, every table combination, then act-order for fp16-u4-g128 and bf16-u4-g128', () => {
    const names = allFormats().map(formatName);
    // 2 activations x 2 bits x 4 groups x 2 zero points, plus 2 act-order.
    expect(names).toHaveLength(2 * 2 * 4 * 2 + 2);
    expect(new Set(names).size).toBe(names.length);
    expect(names.slice(0, 4)).toEqual(['fp16-u4-g128', 'fp16-u4-g32', 'fp16-u4-g32-zp', 'fp16-u4-g64']);
    expect(names.slice(-2)).toEqual(['fp16-u4-g128-act', 'bf16-u4-g128-act']);
    for (const name of ['bf16-u4-g128-zp', 'fp16-u8-gch', 'bf16-u8-gch-zp', 'fp16-u4-g64']) expect(names).toContain(name);
  });

  test('a list keeps the order given and runs each format once, also inside all', () => {
    const names = (list: string[]) => parseFormatList(list).map(formatName);
    expect(names(['bf16-u4-g128-zp', 'fp16-u4-g128', 'bf16-u4-g128-zp'])).toEqual(['bf16-u4-g128-zp', 'fp16-u4-g128']);
    expect(names(['fp16-u4-g128-act-zp', 'fp16-u4-g128-zp-act'])).toEqual(['fp16-u4-g128-zp-act']);
    const all = names(['bf16-u8-g32', 'all']);
    expect(all[0]).toBe('bf16-u8-g32');
    expect(all[1]).toBe('fp16-u4-g128');
    expect(all).toHaveLength(34);
  });

  test.each([
    ['fp32-u4-g128', "--format fp32-u4-g128: unknown activation type 'fp32' (valid: fp16, bf16); a format is ACT-uBITS-gGROUP[-zp][-act][-inv][-mma|-wgmma|-decode][-sk|-nosk], e.g. fp16-u4-g128, or 'all' for every format"],
    ['fp16-u3-g128', "--format fp16-u3-g128: unknown weight bits 'u3' (valid: u4, u8); a format is ACT-uBITS-gGROUP[-zp][-act][-inv][-mma|-wgmma|-decode][-sk|-nosk], e.g. fp16-u4-g128, or 'all' for every format"],
    ['fp16-u4-g256', "--format fp16-u4-g256: unknown group 'g256' (valid: g32, g64, g128, gch); a format is ACT-uBITS-gGROUP[-zp][-act][-inv][-mma|-wgmma|-decode][-sk|-nosk], e.g. fp16-u4-g128, or 'all' for every format"],
    ['fp16-u4', "--format fp16-u4: no group (valid: g32, g64, g128, gch); a format is ACT-uBITS-gGROUP[-zp][-act][-inv][-mma|-wgmma|-decode][-sk|-nosk], e.g. fp16-u4-g128, or 'all' for every format"],
    ['fp16-u4-g128-sym', "--format fp16-u4-g128-sym: unknown suffix 'sym' (valid: zp, act, inv, mma, wgmma, decode, sk, nosk); a format is ACT-uBITS-gGROUP[-zp][-act][-inv][-mma|-wgmma|-decode][-sk|-nosk], e.g. fp16-u4-g128, or 'all' for every format"],
    ['fp16-u4-g128-zp-zp', "--format fp16-u4-g128-zp-zp: 'zp' is given twice"],
    ['fp16-u4-gch-act', '--format fp16-u4-gch-act: act-order needs scale groups (g32, g64, g128), not gch'],
    ['FP16-u4-g128', "--format FP16-u4-g128: unknown activation type 'FP16' (valid: fp16, bf16); a format is ACT-uBITS-gGROUP[-zp][-act][-inv][-mma|-wgmma|-decode][-sk|-nosk], e.g. fp16-u4-g128, or 'all' for every format"],
  ])('%s is refused with one line naming the valid tokens', (name, message) => {
    expect(usageError(() => parseFormatName(name))).toBe(message);
  });

  test('an empty list is refused', () => {
    expect(usageError(() => parseFormatList([]))).toMatch(/^--format expects format names separated by commas, got nothing/);
  });
});

describe('bench options', () => {
  test('defaults: every preset, the standard batches, fp16-u4-g128, device 0, 10 repeats', () => {
    expect(parseOptions([])).toEqual({
      models: [...PRESET_NAMES],
      shapes: [],
      batches: DEFAULT_BATCHES,
      formats: [{ dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: false, actOrder: false }],
      device: 0,
      repeats: 10,
      json: undefined,
      svg: undefined,
      quiet: false,
      help: false,
      overhead: false,
      batchGiven: false,
      graph: false,
      perLayer: false,
      modelsGiven: false,
      firstCall: false,
    });
    expect(DEFAULT_BATCHES).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]);
  });

  test('--overhead: fp16-u4-g128 only, no chart; --batch and --shape still apply', () => {
    const o = parseOptions(['--overhead', '--shape', '4096,4096', '--batch', '1']);
    expect([o.overhead, o.batchGiven, o.batches, o.shapes]).toEqual([true, true, [1], [{ k: 4096, n: 4096 }]]);
    expect(parseOptions(['--overhead']).batchGiven).toBe(false);
    expect(() => parseOptions(['--overhead', '--format', 'bf16-u4-g128'])).toThrow(/--overhead measures fp16-u4-g128 only/);
    expect(() => parseOptions(['--overhead', '--svg', 'x.svg'])).toThrow(/--overhead/);
  });

  test('--first-call: --shape and --batch apply; not with --overhead, --graph, --model, --format or --svg', () => {
    const o = parseOptions(['--first-call', '--shape', '4096,4096', '--batch', '1,16']);
    expect([o.firstCall, o.shapes, o.batches, o.batchGiven]).toEqual([true, [{ k: 4096, n: 4096 }], [1, 16], true]);
    expect(parseOptions(['--first-call']).batchGiven).toBe(false);
    expect(() => parseOptions(['--first-call', '--overhead'])).toThrow(/separate runs/);
    expect(() => parseOptions(['--first-call', '--graph'])).toThrow(/separate runs/);
    for (const extra of [['--model', 'llama2-7b'], ['--format', 'bf16-u4-g128'], ['--svg', 'x.svg']])
      expect(() => parseOptions(['--first-call', ...extra])).toThrow(/--first-call measures fp16-u4-g128/);
  });

  test('--graph: preset models, one format, not with --overhead, --shape or --svg', () => {
    const o = parseOptions(['--graph', '--model', 'llama2-7b', '--batch', '1,16']);
    expect([o.graph, o.modelsGiven, o.models, o.batches]).toEqual([true, true, ['llama2-7b'], [1, 16]]);
    expect(parseOptions(['--graph']).modelsGiven).toBe(false);
    expect([parseOptions(['--graph']).perLayer, parseOptions(['--graph', '--per-layer']).perLayer]).toEqual([false, true]);
    expect(() => parseOptions(['--per-layer'])).toThrow('--per-layer is an option of --graph: give both');
    expect(() => parseOptions(['--per-layer', '--model', 'llama2-7b'])).toThrow(/--per-layer is an option of --graph/);
    expect(() => parseOptions(['--graph', '--overhead'])).toThrow(/--graph and --overhead/);
    expect(() => parseOptions(['--graph', '--shape', '4096,4096'])).toThrow(/--graph runs preset models/);
    expect(() => parseOptions(['--graph', '--format', 'fp16-u4-g128,bf16-u4-g128'])).toThrow(/one format/);
    // A family suffix picks the family the replayed layers run on (graph.ts passes it to forward()).
    for (const family of ['mma', 'wgmma', 'decode'] as const)
      expect(parseOptions(['--graph', '--format', `fp16-u8-g128-${family}`, '--batch', '1,8']).formats).toEqual([
        { dtype: 'float16', bits: 8, groupSize: 128, zeroPoints: false, actOrder: false, family },
      ]);
  });

  test('a format forced onto the decode family takes batches up to its rows (table.json), refused before any GPU work', () => {
    const rows = Math.max(...KERNEL_TABLE_FILE.families.find((f) => f.name === 'decode')!.rows!);
    expect(parseOptions(['--format', 'fp16-u4-g128-decode', '--batch', `1,${rows}`]).batches).toEqual([1, rows]);
    expect(() => parseOptions(['--format', 'fp16-u4-g128,fp16-u4-g128-decode', '--batch', `1,${rows + 1},64`])).toThrow(
      `--format fp16-u4-g128-decode runs the decode family, which takes up to ${rows} rows: --batch has ${rows + 1}, 64 (give --batch with batches of ${rows} or fewer)`,
    );
    // Without --batch: the per-call bench's batches, and --graph's (1, 16, 64).
    expect(() => parseOptions(['--format', 'bf16-u8-g64-decode'])).toThrow(/the default batches include 16, 32, 64, 128/);
    expect(() => parseOptions(['--graph', '--per-layer', '--format', 'fp16-u4-g128-decode'])).toThrow(
      `--format fp16-u4-g128-decode runs the decode family, which takes up to ${rows} rows: the default batches include 16, 64 (give --batch with batches of ${rows} or fewer)`,
    );
    expect(parseOptions(['--graph', '--per-layer', '--format', 'fp16-u4-g128-decode', '--batch', '1,4,8']).perLayer).toBe(true);
  });

  test('models repeat or come as a comma list; batches are sorted and distinct', () => {
    const o = parseOptions(['--model', 'llama2-7b,llama3-8b', '--model', 'llama2-7b', '--batch', '64,1, 16,1', '--repeats', '7']);
    expect(o.models).toEqual(['llama2-7b', 'llama3-8b']);
    expect(o.batches).toEqual([1, 16, 64]);
    expect(o.repeats).toBe(7);
  });

  test('--shape alone runs only custom shapes; with --model both', () => {
    expect(parseOptions(['--shape', '4096,11008', '--shape', '256x128'])).toMatchObject({
      models: [],
      shapes: [{ k: 4096, n: 11008 }, { k: 256, n: 128 }],
    });
    expect(parseOptions(['--shape', '4096,4096', '--model', 'llama2-13b']).models).toEqual(['llama2-13b']);
  });

  const formatNames = (argv: string[]) => parseOptions(argv).formats.map(formatName);

  test('--format takes names, repeated or comma-separated, in the order given, each once', () => {
    expect(formatNames(['--format', 'bf16-u4-g128-zp'])).toEqual(['bf16-u4-g128-zp']);
    expect(formatNames(['--format', 'fp16-u4-g128, fp16-u8-gch', '--format', 'fp16-u4-g128-act,fp16-u4-g128'])).toEqual([
      'fp16-u4-g128',
      'fp16-u8-gch',
      'fp16-u4-g128-act',
    ]);
    expect(parseOptions(['--format', 'fp16-u4-g64']).formats).toEqual([
      { dtype: 'float16', bits: 4, groupSize: 64, zeroPoints: false, actOrder: false },
    ]);
  });

  test('--format all runs every format, the default first', () => {
    const names = formatNames(['--format', 'all']);
    expect(names).toHaveLength(34);
    expect(names[0]).toBe('fp16-u4-g128');
    expect(formatNames(['--format=bf16-u4-g128,all'])[0]).toBe('bf16-u4-g128');
  });

  test('--group G is the default format with group G, in either spelling', () => {
    expect(formatNames(['--group', '-1'])).toEqual(['fp16-u4-gch']);
    expect(formatNames(['--group=-1'])).toEqual(['fp16-u4-gch']);
    expect(formatNames(['--group', '64'])).toEqual(['fp16-u4-g64']);
    expect(formatNames(['--group', '128'])).toEqual(['fp16-u4-g128']);
  });

  test('the other options', () => {
    expect(parseOptions(['--device', '1', '--json', 'a.json', '--svg', 'a.svg', '--quiet'])).toMatchObject({
      device: 1,
      json: 'a.json',
      svg: 'a.svg',
      quiet: true,
    });
    expect(parseOptions(['-h']).help).toBe(true);
  });

  test.each<[string[], RegExp]>([
    [['--batch', '0'], /--batch/],
    [['--batch', 'abc'], /--batch/],
    [['--batch', '1.5'], /--batch/],
    [['--batch', ','], /--batch/],
    [['--batch', '-4'], /--batch/],
    [['--group', '48'], /^--group must be one of 32, 64, 128, -1 \(-1: per-channel\), got '48'$/],
    [['--group', '-2'], /--group must be one of/],
    [['--group', 'ch'], /--group must be one of/],
    [['--group', '64', '--format', 'fp16-u4-g128'], /^--group cannot be combined with --format/],
    [['--format', 'fp16-u4-g128,int4'], /^--format int4: unknown activation type 'int4' \(valid: fp16, bf16\)/],
    [['--format', 'fp16-u4-g128-zp-zp'], /^--format fp16-u4-g128-zp-zp: 'zp' is given twice$/],
    [['--format', 'fp16-u8-gch-act'], /^--format fp16-u8-gch-act: act-order needs scale groups/],
    [['--format', 'ALL'], /^--format ALL: unknown activation type 'ALL'/],
    [['--format', ','], /^--format expects format names separated by commas, got nothing/],
    [['--format'], /--format/],
    [['--shape', '100,64'], /multiple of 128/],
    [['--shape', '4096,100'], /multiple of 64/],
    [['--shape', '4096'], /--shape expects k,n/],
    [['--shape', '4096,4096,1'], /--shape expects k,n/],
    [['--model', 'gpt-5'], /unknown model 'gpt-5'/],
    [['--repeats', '4'], /at least 5/],
    [['--device', 'x'], /--device/],
    [['--json', ''], /--json/],
    [['--frobnicate'], /frobnicate/],
    [['llama2-7b'], /positional|unexpected/i],
    [['--batch'], /--batch/],
  ])('%j is a usage error on one line', (argv, message) => {
    let error: unknown;
    try {
      parseOptions(argv);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });
});

/** A fake measurement: FP16 takes `ratio` times as long as Marlin at every batch. */
function fakeTiming(k: number, n: number, batches: number[], marlinUs: number, ratio: number): ShapeTiming {
  const t = (us: number) => ({ medianUs: us, timesUs: [us, us, us, us, us], maxGapUs: 0 });
  return {
    k,
    n,
    rotation: { marlin: 13, fp16: 4 },
    check: { batch: 16, relativeError: 2e-4 },
    batches: batches.map((batch) => ({ batch, marlin: t(marlinUs), fp16: t(marlinUs * ratio) })),
  };
}

const DEFAULT = parseFormatName('fp16-u4-g128');

describe('bench numbers', () => {
  // By hand: 4096 x 4096 weights are 8 MiB at 4 bits (8388608 bytes) and 16 MiB at 8 bits
  // (16777216); a row of 4096 scales is 8192 bytes; a row of zero points 4096 bytes (a
  // byte each, whatever the weight width); the act-order row order 4 x 4096 = 16384 bytes.
  test.each([
    ['fp16-u4-g128', 4096, 4096, 8388608 + 32 * 8192],
    ['fp16-u4-g64', 4096, 4096, 8388608 + 64 * 8192],
    ['fp16-u4-g32', 4096, 4096, 8388608 + 128 * 8192],
    ['fp16-u4-gch', 4096, 4096, 8388608 + 8192],
    ['bf16-u4-g128-zp', 4096, 4096, 8388608 + 32 * 8192 + 32 * 4096],
    ['fp16-u8-gch', 4096, 4096, 16777216 + 8192],
    ['fp16-u8-g128-zp', 4096, 4096, 16777216 + 32 * 8192 + 32 * 4096],
    ['fp16-u4-g128-act', 4096, 4096, 8388608 + 32 * 8192 + 16384],
    // 11008 rows: 86 groups of 128; 22544384 bytes of 4-bit weights, 704512 of scales, 352256 of zero points, 44032 of row order.
    ['fp16-u4-g128', 11008, 4096, 23248896],
    ['bf16-u4-g128-zp-act', 11008, 4096, 22544384 + 704512 + 352256 + 44032],
  ])('weight bytes of %s at k=%d n=%d: %d', (name, k, n, bytes) => {
    expect(weightBytes(k, n, parseFormatName(name))).toBe(bytes);
  });

  test('the ideal speedup is dense bytes over quantized bytes: 3.88x at fp16-u4-g128, about 2x at 8 bits', () => {
    expect(idealSpeedup([{ k: 4096, n: 4096 }], DEFAULT)).toBe(33554432 / 8650752);
    expect(idealSpeedup([{ k: 4096, n: 4096 }, { k: 11008, n: 4096 }], DEFAULT).toFixed(2)).toBe('3.88');
    expect(idealSpeedup([{ k: 4096, n: 4096 }], parseFormatName('fp16-u8-gch'))).toBe(33554432 / 16785408);
    expect(idealSpeedup([{ k: 4096, n: 4096 }], parseFormatName('bf16-u4-g128-zp')).toFixed(3)).toBe('3.821'); // 33554432 / 8781824
    expect(idealSpeedup([], DEFAULT)).toBe(33554432 / 8650752);
  });

  test('per-layer rows and per-model sums', () => {
    const plan = planBench([], [{ k: 4096, n: 4096 }, { k: 8192, n: 4096 }]);
    const timings = new Map([
      ['4096x4096', fakeTiming(4096, 4096, [1, 16], 10, 3)],
      ['8192x4096', fakeTiming(8192, 4096, [1, 16], 20, 3.5)],
    ]);
    const s = summarize(plan, timings, 2000, DEFAULT);
    const layer = s.layers[0].rows[1];
    const bytes = weightBytes(4096, 4096, DEFAULT);
    expect(layer.batch).toBe(16);
    expect(layer.speedup).toBeCloseTo(3);
    expect(layer.weightGbPerS).toBeCloseTo(bytes / 10e3);
    expect(layer.limitUs).toBeCloseTo(bytes / 2e6);
    expect(layer.percentOfLimit).toBeCloseTo((100 * bytes) / 2e6 / 10);
    expect(layer.tflops).toBeCloseTo((2 * 16 * 4096 * 4096) / 10e6);
    const model = s.models[0].rows[0];
    expect(model.marlinUs).toBe(30);
    expect(model.fp16Us).toBeCloseTo(100);
    expect(model.speedup).toBeCloseTo(100 / 30);
    expect(model.weightBytes).toBe(bytes + weightBytes(8192, 4096, DEFAULT));
  });
});

const env: BenchEnvironment = {
  gpu: { index: 0, name: 'Test GPU', arch: 'sm_90', multiProcessorCount: 132, l2CacheSize: 50 * 2 ** 20, totalGlobalMem: 8e10, memoryBusWidth: 5120, memoryClockRateKHz: 2619000 },
  cuda: { runtime: 12040, driver: 13000 },
  bandwidth: { gbPerS: 2900, copyBytes: 2 ** 30, timesUs: [740] },
};

/**
 * llama2-7b and a custom 4096x4096 layer measured in four formats: each
 * format takes the same time on every layer and batch, with dense cuBLAS
 * `ratio` times slower.
 */
function fakeFormats(): Summary[] {
  const plan = planBench(['llama2-7b'], [{ k: 4096, n: 4096 }]);
  const measured: Array<[string, number, number]> = [
    ['fp16-u4-g128', 10, 3],
    ['bf16-u4-g128-zp', 10.5, 2.8],
    ['fp16-u8-gch', 19.6, 1.5],
    ['fp16-u4-g128-act', 9.8, 3.1],
  ];
  return measured.map(([name, us, ratio]) => {
    const timings = new Map(plan.shapes.map((sh) => [`${sh.k}x${sh.n}`, fakeTiming(sh.k, sh.n, [1, 16], us, ratio)]));
    return summarize(plan, timings, 2900, parseFormatName(name));
  });
}

describe('bench table and report', () => {
  test('formatTable pads columns: text left, numbers right, a rule under the header', () => {
    const out = formatTable(['model', 'µs', 'x'], [['llama2-7b', '12.5', '3.1x'], ['o', '1234.0', '0.9x']], { indent: '  ' });
    expect(out.split('\n')).toEqual([
      '  model          µs     x',
      '  ---------  ------  ----',
      '  llama2-7b    12.5  3.1x',
      '  o          1234.0  0.9x',
    ]);
  });

  test('result tables right-align every column', () => {
    const plan = planBench([], [{ k: 4096, n: 4096 }]);
    const s = summarize(plan, new Map([['4096x4096', fakeTiming(4096, 4096, [1, 1024], 10, 3)]]), 2000, DEFAULT);
    const lines = resultTable(s.layers[0].rows).split('\n');
    expect(lines[0]).toMatch(/batch\s+Marlin µs\s+FP16 µs\s+speedup\s+weight GB\/s\s+% of limit\s+TFLOP\/s/);
    expect(new Set(lines.map((l) => [...l].length)).size).toBe(1);
    expect(lines[2]).toMatch(/^\s+1\s+10\.0\s+30\.0\s+3\.00x/);
  });

  test('the report lists models first, then layers, with the GPU and the ideal', () => {
    const plan = planBench(['llama3-8b'], []);
    const timings = new Map(plan.shapes.map((sh) => [`${sh.k}x${sh.n}`, fakeTiming(sh.k, sh.n, [1, 16], 10, 3)]));
    const text = formatReport([summarize(plan, timings, 2900, DEFAULT)], { env, packageVersion: '0.1.0', repeats: 10, warnings: ['slow host'] });
    expect(text).toContain('Test GPU');
    expect(text).toContain('CUDA runtime 12.4, driver 13.0');
    expect(text).toContain('ideal speedup 3.88x');
    expect(text.indexOf('llama3-8b: qkv 4096x6144')).toBeLessThan(text.indexOf('k=4096 n=6144'));
    expect(text).toContain('slow host');
  });

  test('one format (the default run) keeps the report it had before formats', () => {
    const plan = planBench([], [{ k: 4096, n: 4096 }]);
    const summary = summarize(plan, new Map([['4096x4096', fakeTiming(4096, 4096, [1], 10, 3)]]), 2900, DEFAULT);
    const lines = formatReport([summary], { env, packageVersion: '0.1.0', repeats: 10, warnings: [] }).split('\n');
    expect(lines.slice(0, 8)).toEqual([
      'Marlin 4-bit vs FP16 (cuBLAS) on Test GPU (device 0, sm_90, 132 SMs, L2 50.0 MiB)',
      'CUDA runtime 12.4, driver 13.0; marlin-node 0.1.0',
      'memory limit: 2900 GB/s measured by a 1.00 GiB device copy (read + write)',
      'group size 128: ideal speedup 3.88x (FP16 bytes / 4-bit bytes); median of at least 10 calls, inputs rotated past L2',
      '',
      '== Models (sum of their layers) ==',
      '',
      'custom: 4096x4096',
    ]);
    expect(lines).toContain('k=4096 n=4096 (custom); rel. error vs FP16 2.0e-4 at batch 16');
    expect(lines.join('\n')).not.toMatch(/===|vs first/);
  });

  test('one BF16 format says BF16 and its format in the headline and the tables', () => {
    const plan = planBench([], [{ k: 4096, n: 4096 }]);
    const summary = summarize(plan, new Map([['4096x4096', fakeTiming(4096, 4096, [1], 10, 3)]]), 2900, parseFormatName('bf16-u8-gch-zp'));
    const lines = formatReport([summary], { env, packageVersion: '0.1.0', repeats: 10, warnings: [] }).split('\n');
    expect(lines[0]).toMatch(/^Marlin 8-bit vs BF16 \(cuBLAS\) on Test GPU/);
    // 16777216 weight + 8192 scale + 4096 zero-point bytes: 33554432 / 16789504 = 1.9985x
    expect(lines[3]).toBe('per-channel scales, zero points: ideal speedup 2.00x (BF16 bytes / 8-bit bytes); median of at least 10 calls, inputs rotated past L2');
    expect(lines[8]).toMatch(/^\s+batch\s+Marlin µs\s+BF16 µs\s+speedup/);
    expect(lines).toContain('k=4096 n=4096 (custom); rel. error vs BF16 2.0e-4 at batch 16');
  });

  test('changes against the first format are signed percentages to 0.1', () => {
    expect(formatChange(10.21, 10)).toBe('+2.1%');
    expect(formatChange(9.66, 10)).toBe('-3.4%');
    expect(formatChange(10, 10)).toBe('+0.0%');
    expect(formatChange(9.9999, 10)).toBe('+0.0%');
    expect(formatChange(20, 10)).toBe('+100.0%');
  });

  test('the comparison table: every format per model and batch, against the first and against its dense baseline', () => {
    // Weight bytes of llama2-7b's four layers: 104349696 (fp16-u4-g128), 105140224 (bf16-u4-g128-zp),
    // 202460160 (fp16-u8-gch), 104442880 (act-order); over 4 x the time per layer, e.g. 104349696 / 40 µs = 2609 GB/s.
    expect(comparisonTable(fakeFormats()).split('\n')).toEqual([
      'llama2-7b',
      '  batch  format            Marlin µs  vs first  speedup  weight GB/s',
      '  -----  ----------------  ---------  --------  -------  -----------',
      '      1  fp16-u4-g128           40.0     first    3.00x         2609',
      '      1  bf16-u4-g128-zp        42.0     +5.0%    2.80x         2522',
      '      1  fp16-u8-gch            78.4    +96.0%    1.50x         2582',
      '      1  fp16-u4-g128-act       39.2     -2.0%    3.10x         2664',
      '     16  fp16-u4-g128           40.0     first    3.00x         2609',
      '     16  bf16-u4-g128-zp        42.0     +5.0%    2.80x         2522',
      '     16  fp16-u8-gch            78.4    +96.0%    1.50x         2582',
      '     16  fp16-u4-g128-act       39.2     -2.0%    3.10x         2664',
      '',
      'custom',
      '  batch  format            Marlin µs  vs first  speedup  weight GB/s',
      '  -----  ----------------  ---------  --------  -------  -----------',
      '      1  fp16-u4-g128           10.0     first    3.00x          865',
      '      1  bf16-u4-g128-zp        10.5     +5.0%    2.80x          836',
      '      1  fp16-u8-gch            19.6    +96.0%    1.50x          856',
      '      1  fp16-u4-g128-act       9.80     -2.0%    3.10x          884',
      '     16  fp16-u4-g128           10.0     first    3.00x          865',
      '     16  bf16-u4-g128-zp        10.5     +5.0%    2.80x          836',
      '     16  fp16-u8-gch            19.6    +96.0%    1.50x          856',
      '     16  fp16-u4-g128-act       9.80     -2.0%    3.10x          884',
    ]);
  });

  test('several formats: a section per format with its heading, then the comparison, then warnings', () => {
    const text = formatReport(fakeFormats(), { env, packageVersion: '0.1.0', repeats: 10, warnings: ['slow host'] });
    const lines = text.split('\n');
    expect(lines[0]).toBe('Marlin, 4 weight formats, vs FP16 and BF16 (cuBLAS) on Test GPU (device 0, sm_90, 132 SMs, L2 50.0 MiB)');
    expect(lines[3]).toBe(
      'median of at least 10 calls, inputs rotated past L2; each format against cuBLAS in its activation type, then all against fp16-u4-g128',
    );
    const headings = lines.filter((l) => l.startsWith('==='));
    expect(headings).toEqual([
      '=== fp16-u4-g128: float16/4-bit/g128/symmetric ===',
      '=== bf16-u4-g128-zp: bfloat16/4-bit/g128/zero-points ===',
      '=== fp16-u8-gch: float16/8-bit/per-column/symmetric ===',
      '=== fp16-u4-g128-act: float16/4-bit/g128/symmetric/act-order ===',
      "=== Formats vs the first, fp16-u4-g128 (sum of each model's layers) ===",
    ]);
    const at = (line: string) => lines.indexOf(line);
    expect(lines[at(headings[1]) + 1]).toBe(
      'Marlin 4-bit vs BF16 (cuBLAS), group size 128, zero points: ideal speedup 3.82x (BF16 bytes / 4-bit bytes)',
    );
    expect(lines[at(headings[3]) + 1]).toBe('Marlin 4-bit vs FP16 (cuBLAS), group size 128, act-order: ideal speedup 3.88x (FP16 bytes / 4-bit bytes)');
    // Each section has its own models and layers tables.
    expect(lines.filter((l) => l === '== Models (sum of their layers) ==')).toHaveLength(4);
    expect(lines.filter((l) => l === '== Layers ==')).toHaveLength(4);
    expect(lines.filter((l) => l.startsWith('k=4096 n=4096 ('))).toHaveLength(4);
    expect(at('== Warnings ==')).toBeGreaterThan(at(headings[4]));
    expect(text).toContain(comparisonTable(fakeFormats()));
    expect(text.endsWith('  slow host\n')).toBe(true);
  });

  test('the JSON holds every format with its raw times; the top level keeps the first format as before', () => {
    const summaries = fakeFormats();
    const plan = planBench(['llama2-7b'], [{ k: 4096, n: 4096 }]);
    const raw = (us: number) => new Map(plan.shapes.map((sh) => [`${sh.k}x${sh.n}`, fakeTiming(sh.k, sh.n, [1, 16], us, 2)]));
    const timings = new Map(summaries.map((s, i) => [formatName(s.format), raw(100 + i)]));
    const options = parseOptions(['--format', 'fp16-u4-g128,bf16-u4-g128-zp,fp16-u8-gch,fp16-u4-g128-act']);
    const json = buildJsonReport(summaries, {
      env,
      packageVersion: '0.1.0',
      repeats: 10,
      warnings: [],
      packageName: 'marlin-node',
      argv: [],
      options,
      timings,
      timestamp: new Date(0),
    }) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(json.options.formats).toEqual(['fp16-u4-g128', 'bf16-u4-g128-zp', 'fp16-u8-gch', 'fp16-u4-g128-act']);
    expect(json.formats.map((f: { name: string }) => f.name)).toEqual(json.options.formats);
    expect(json.formats[1]).toMatchObject({
      description: 'bfloat16/4-bit/g128/zero-points',
      format: { dtype: 'bfloat16', bits: 4, groupSize: 128, zeroPoints: true, actOrder: false },
      baseline: 'cuBLAS BF16',
      idealSpeedup: summaries[1].idealSpeedup,
    });
    expect(json.formats[2].models[0].rows[0].marlinUs).toBeCloseTo(78.4);
    expect(json.formats[3].layers[1].rows[0].marlin.timesUs).toEqual([103, 103, 103, 103, 103]);
    expect(json.formats[3].layers[1].rows[0].fp16.timesUs).toEqual([206, 206, 206, 206, 206]);
    expect(json.groupSize).toBe(128);
    expect(json.idealSpeedup).toBe(summaries[0].idealSpeedup);
    expect(json.models).toEqual(summaries[0].models);
    expect(json.layers[0].rows[0].marlin.timesUs).toEqual([100, 100, 100, 100, 100]);
    expect(() => JSON.stringify(json)).not.toThrow();
  });

  test('the progress line rewrites itself on a terminal and prints plain lines otherwise', () => {
    const written: string[] = [];
    const tty = new Progress({ write: (t: string) => written.push(t), isTTY: true, columns: 80 }, false);
    tty.update('one');
    tty.note('warning');
    tty.clear();
    expect(written).toEqual(['\rone\x1b[K', '\r\x1b[K', 'warning\n']);
    const piped: string[] = [];
    const plain = new Progress({ write: (t: string) => piped.push(t) }, false);
    plain.update('one');
    plain.update('two');
    expect(piped).toEqual(['one\n', 'two\n']);
    const quiet: string[] = [];
    new Progress({ write: (t: string) => quiet.push(t) }, true).update('x');
    expect(quiet).toEqual([]);
  });

  test('errors become one line: MarlinError as CODE: message, NOT_BUILT without its build help', () => {
    const marlinError = (code: string, message: string) => Object.assign(new Error(message), { name: 'MarlinError', code });
    expect(describeError(new BenchFailure('no usable CUDA device: x'))).toBe('no usable CUDA device: x');
    expect(describeError(marlinError('OUT_OF_MEMORY', 'cudaMalloc failed'))).toBe('OUT_OF_MEMORY: cudaMalloc failed');
    const notBuilt = describeError(marlinError('NOT_BUILT', 'addon missing (x is missing).\nBuild it:\n  npm run build'));
    expect(notBuilt).toMatch(/^NOT_BUILT: addon missing \(x is missing\)\./);
    expect(notBuilt).not.toContain('\n');
  });
});

/** Checks that every element is closed in order (enough to catch a broken SVG writer). */
function expectWellFormed(xml: string): void {
  const stack: string[] = [];
  for (const [, close, name, , selfClosing] of xml.matchAll(/<(\/?)([a-zA-Z]+)((?:\s+[\w:-]+="[^"<>]*")*)\s*(\/?)>/g)) {
    if (selfClosing) continue;
    if (close) expect(stack.pop()).toBe(name);
    else stack.push(name);
  }
  expect(stack).toEqual([]);
  expect(xml.replace(/<[^>]*>/g, '')).not.toMatch(/[<>]|&(?!(amp|lt|gt|quot|apos);)/);
}

describe('bench chart', () => {
  const batches = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
  const series = [
    { name: 'llama2-7b', points: batches.map((batch, i) => ({ batch, speedup: 3.6 - i * 0.25 })) },
    { name: 'llama2-70b', points: batches.map((batch, i) => ({ batch, speedup: 3.7 - i * 0.2 })) },
    { name: 'custom <&>', points: batches.map((batch) => ({ batch, speedup: 2 })) },
  ];
  const svg = renderSpeedupChart({ title: 'Marlin on NVIDIA H100 & friends', subtitle: 'group size 128', series, idealSpeedup: 2 / (0.5 + 2 / 128) });

  test('is a well-formed, self-contained SVG of about 800 x 500', () => {
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('xmlns="http://www.w3.org/2000/svg"');
    expect(svg).toContain('width="800" height="500"');
    expect(svg).not.toMatch(/href=|<script|@import/);
    expectWellFormed(svg);
  });

  test('draws one line per model with a legend, escaping names', () => {
    expect(svg.match(/<polyline /g)).toHaveLength(3);
    expect(svg).toContain('>llama2-7b</text>');
    expect(svg).toContain('>llama2-70b</text>');
    expect(svg).toContain('>custom &lt;&amp;&gt;</text>');
    expect(svg).toContain('NVIDIA H100 &amp; friends');
  });

  test('shows the ideal speedup as a labelled dashed line', () => {
    expect(svg).toMatch(/<line class="ideal"[^>]*stroke-dasharray/);
    expect(svg).toContain('ideal 3.88x');
  });

  test('labels the x axis at every measured batch (log2) and the y axis from 0x', () => {
    for (const b of batches) expect(svg).toContain(`>${b}</text>`);
    expect(svg).toContain('>0x</text>');
    expect(svg).toMatch(/batch size[^<]*log2/);
    expect(svg).toMatch(/>speedup over FP16/);
    // log2 spacing: 1 -> 2 is as wide as 512 -> 1024
    const xOf = (b: number) => Number(new RegExp(`x="([\\d.]+)"[^>]*>${b}</text>`).exec(svg)![1]);
    expect(xOf(2) - xOf(1)).toBeCloseTo(xOf(1024) - xOf(512), 0);
  });

  test('names the dense baseline and the weights it is given (a BF16 or 8-bit first format)', () => {
    const bf16 = renderSpeedupChart({ title: 't', series, idealSpeedup: 2, baseline: 'BF16', weights: '8-bit' });
    expect(bf16).toContain('>speedup over BF16 (cuBLAS)</text>');
    expect(bf16).toContain('ideal 2.00x (BF16 bytes / 8-bit bytes)');
    expect(bf16).not.toContain('FP16');
    expect(svg).toContain('ideal 3.88x (FP16 bytes / 4-bit bytes)');
  });

  test('the y axis reaches past the largest speedup when it beats the ideal', () => {
    const big = renderSpeedupChart({ title: 't', series: [{ name: 'a', points: [{ batch: 1, speedup: 5.2 }] }], idealSpeedup: 3.88 });
    const ticks = [...big.matchAll(/>([\d.]+)x<\/text>/g)].map((m) => Number(m[1]));
    expect(Math.max(...ticks)).toBeGreaterThanOrEqual(5);
    expect(Math.max(...ticks)).toBeLessThanOrEqual(5.2 * 1.1);
    expect(big.match(/<polyline /g)).toHaveLength(1);
  });
});

(gpuPresent() ? describe.skip : describe)('bench without a GPU', () => {
  test('prints one clear line and exits non-zero, without a stack trace', () => {
    const r = runBench([]);
    expect(r.status).not.toBe(0);
    expect(r.status).not.toBeNull();
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/^bench: no usable CUDA device: \S/);
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/^\s+at /m);
  });
});

describe('bench command line', () => {
  test('a bad option exits 2 with one line, before touching the GPU', () => {
    const r = runBench(['--batch', '1,x']);
    expect(r.status).toBe(2);
    expect(r.lines).toEqual(["bench: --batch expects positive integers separated by commas, got 'x' (see --help)"]);
  });

  test('a bad --format exits 2 with one line naming the valid tokens, before touching the GPU', () => {
    const r = runBench(['--format', 'fp16-u4-g128,bf16-u2-g128']);
    expect(r.status).toBe(2);
    expect(r.lines).toEqual([
      "bench: --format bf16-u2-g128: unknown weight bits 'u2' (valid: u4, u8); a format is ACT-uBITS-gGROUP[-zp][-act][-inv][-mma|-wgmma|-decode][-sk|-nosk], " +
        "e.g. fp16-u4-g128, or 'all' for every format (see --help)",
    ]);
  });

  test('--help prints the usage and exits 0', () => {
    const r = runBench(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage: npm run bench');
    for (const name of PRESET_NAMES) expect(r.stdout).toContain(name);
    expect(r.stdout).toContain('--format LIST');
    expect(r.stdout).toContain('g32, g64, g128, gch');
  });
});

describe('bench format names: -inv', () => {
  test('fp16-u4-g128-inv reads back as batch-invariant and prints as it was given', () => {
    const f = parseFormatName('fp16-u4-g128-inv');
    expect(f.batchInvariant).toBe(true);
    expect(formatName(f)).toBe('fp16-u4-g128-inv');
    expect(formatName(parseFormatName('bf16-u4-g64-zp-act-inv'))).toBe('bf16-u4-g64-zp-act-inv');
  });
});

describe('bench format names: -mma and -wgmma', () => {
  test('a family suffix reads back as that family at every batch, prints as given, and is refused twice or with -inv', () => {
    const f = parseFormatName('fp16-u4-g128-mma');
    expect(f.family).toBe('mma');
    expect(formatName(f)).toBe('fp16-u4-g128-mma');
    expect(describeBenchFormat(f)).toBe('float16/4-bit/g128/symmetric/mma-family');
    expect(formatName(parseFormatName('bf16-u4-gch-mma'))).toBe('bf16-u4-gch-mma');
    const w = parseFormatName('bf16-u4-g64-wgmma');
    expect(w.family).toBe('wgmma');
    expect(formatName(w)).toBe('bf16-u4-g64-wgmma');
    expect(describeBenchFormat(w)).toBe('bfloat16/4-bit/g64/symmetric/wgmma-family');
    expect(() => parseFormatName('fp16-u4-g128-inv-mma')).toThrow(UsageError);
    expect(usageError(() => parseFormatName('fp16-u4-g128-mma-wgmma'))).toBe("--format fp16-u4-g128-mma-wgmma: give one family, not 'mma' and 'wgmma'");
    expect(usageError(() => parseFormatName('fp16-u4-g128-tc'))).toMatch(/unknown suffix 'tc' \(valid: zp, act, inv, mma, wgmma, decode, sk, nosk\)/);
  });

  test('-sk and -nosk read back as the wgmma family\'s stream-k choice, print as given, and are refused together, twice, or with another family or -inv', () => {
    const sk = parseFormatName('fp16-u4-g128-sk');
    expect(sk.streamK).toBe(true);
    expect(sk.family).toBeUndefined();
    expect(formatName(sk)).toBe('fp16-u4-g128-sk');
    expect(describeBenchFormat(sk)).toBe('float16/4-bit/g128/symmetric/stream-k');
    const nosk = parseFormatName('bf16-u8-gch-zp-wgmma-nosk');
    expect(nosk).toMatchObject({ family: 'wgmma', streamK: false });
    expect(formatName(nosk)).toBe('bf16-u8-gch-zp-wgmma-nosk');
    expect(describeBenchFormat(nosk)).toBe('bfloat16/8-bit/per-column/zero-points/wgmma-family/no-stream-k');
    expect(usageError(() => parseFormatName('fp16-u4-g128-sk-nosk'))).toBe("--format fp16-u4-g128-sk-nosk: give one of 'sk' and 'nosk'");
    expect(usageError(() => parseFormatName('fp16-u4-g128-sk-sk'))).toBe("--format fp16-u4-g128-sk-sk: give one of 'sk' and 'nosk'");
    expect(usageError(() => parseFormatName('fp16-u4-g128-mma-sk'))).toBe("--format fp16-u4-g128-mma-sk: 'sk' is the wgmma family's choice; drop it or 'mma'");
    expect(usageError(() => parseFormatName('fp16-u4-g128-inv-nosk'))).toBe("--format fp16-u4-g128-inv-nosk: 'nosk' is the wgmma family's choice; drop it or 'inv'");
  });
});
