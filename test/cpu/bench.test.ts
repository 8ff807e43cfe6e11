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
import { formatReport, resultTable } from '../../scripts/bench/report';
import { type BenchEnvironment, type ShapeTiming, idealSpeedup, summarize, weightBytes } from '../../scripts/bench/results';
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
    ['fp32-u4-g128', "--format fp32-u4-g128: unknown activation type 'fp32' (valid: fp16, bf16); a format is ACT-uBITS-gGROUP[-zp][-act], e.g. fp16-u4-g128, or 'all' for every format"],
    ['fp16-u3-g128', "--format fp16-u3-g128: unknown weight bits 'u3' (valid: u4, u8); a format is ACT-uBITS-gGROUP[-zp][-act], e.g. fp16-u4-g128, or 'all' for every format"],
    ['fp16-u4-g256', "--format fp16-u4-g256: unknown group 'g256' (valid: g32, g64, g128, gch); a format is ACT-uBITS-gGROUP[-zp][-act], e.g. fp16-u4-g128, or 'all' for every format"],
    ['fp16-u4', "--format fp16-u4: no group (valid: g32, g64, g128, gch); a format is ACT-uBITS-gGROUP[-zp][-act], e.g. fp16-u4-g128, or 'all' for every format"],
    ['fp16-u4-g128-sym', "--format fp16-u4-g128-sym: unknown suffix 'sym' (valid: zp, act); a format is ACT-uBITS-gGROUP[-zp][-act], e.g. fp16-u4-g128, or 'all' for every format"],
    ['fp16-u4-g128-zp-zp', "--format fp16-u4-g128-zp-zp: 'zp' is given twice"],
    ['fp16-u4-gch-act', '--format fp16-u4-gch-act: act-order needs scale groups (g32, g64, g128), not gch'],
    ['FP16-u4-g128', "--format FP16-u4-g128: unknown activation type 'FP16' (valid: fp16, bf16); a format is ACT-uBITS-gGROUP[-zp][-act], e.g. fp16-u4-g128, or 'all' for every format"],
  ])('%s is refused with one line naming the valid tokens', (name, message) => {
    expect(usageError(() => parseFormatName(name))).toBe(message);
  });

  test('an empty list is refused', () => {
    expect(usageError(() => parseFormatList([]))).toMatch(/^--format expects format names separated by commas, got nothing/);
  });
});

describe('bench options', () => {
  test('defaults: every preset, the standard batches, group 128, device 0, 10 repeats', () => {
    expect(parseOptions([])).toEqual({
      models: [...PRESET_NAMES],
      shapes: [],
      batches: DEFAULT_BATCHES,
      groupSize: 128,
      device: 0,
      repeats: 10,
      json: undefined,
      svg: undefined,
      quiet: false,
      help: false,
    });
    expect(DEFAULT_BATCHES).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]);
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

  test('--group -1 (per-channel) in either spelling, and the other options', () => {
    expect(parseOptions(['--group', '-1']).groupSize).toBe(-1);
    expect(parseOptions(['--group=-1']).groupSize).toBe(-1);
    expect(parseOptions(['--group', '128', '--device', '1', '--json', 'a.json', '--svg', 'a.svg', '--quiet'])).toMatchObject({
      groupSize: 128,
      device: 1,
      json: 'a.json',
      svg: 'a.svg',
      quiet: true,
    });
    expect(parseOptions(['-h']).help).toBe(true);
  });

  test.each([
    [['--batch', '0'], /--batch/],
    [['--batch', 'abc'], /--batch/],
    [['--batch', '1.5'], /--batch/],
    [['--batch', ','], /--batch/],
    [['--batch', '-4'], /--batch/],
    [['--group', '64'], /--group must be 128 or -1/],
    [['--group', '-2'], /--group/],
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
  // (16777216); a row of 4096 scales is 8192 bytes; a row of zero points 2048 bytes at 4
  // bits, 4096 at 8; the act-order row order 4 x 4096 = 16384 bytes.
  test.each([
    ['fp16-u4-g128', 4096, 4096, 8388608 + 32 * 8192],
    ['fp16-u4-g64', 4096, 4096, 8388608 + 64 * 8192],
    ['fp16-u4-g32', 4096, 4096, 8388608 + 128 * 8192],
    ['fp16-u4-gch', 4096, 4096, 8388608 + 8192],
    ['bf16-u4-g128-zp', 4096, 4096, 8388608 + 32 * 8192 + 32 * 2048],
    ['fp16-u8-gch', 4096, 4096, 16777216 + 8192],
    ['fp16-u8-g128-zp', 4096, 4096, 16777216 + 32 * 8192 + 32 * 4096],
    ['fp16-u4-g128-act', 4096, 4096, 8388608 + 32 * 8192 + 16384],
    // 11008 rows: 86 groups of 128; 22544384 bytes of 4-bit weights, 704512 of scales, 176128 of zero points, 44032 of row order.
    ['fp16-u4-g128', 11008, 4096, 23248896],
    ['bf16-u4-g128-zp-act', 11008, 4096, 22544384 + 704512 + 176128 + 44032],
  ])('weight bytes of %s at k=%d n=%d: %d', (name, k, n, bytes) => {
    expect(weightBytes(k, n, parseFormatName(name))).toBe(bytes);
  });

  test('the ideal speedup is dense bytes over quantized bytes: 3.88x at fp16-u4-g128, about 2x at 8 bits', () => {
    expect(idealSpeedup([{ k: 4096, n: 4096 }], DEFAULT)).toBe(33554432 / 8650752);
    expect(idealSpeedup([{ k: 4096, n: 4096 }, { k: 11008, n: 4096 }], DEFAULT).toFixed(2)).toBe('3.88');
    expect(idealSpeedup([{ k: 4096, n: 4096 }], parseFormatName('fp16-u8-gch'))).toBe(33554432 / 16785408);
    expect(idealSpeedup([{ k: 4096, n: 4096 }], parseFormatName('bf16-u4-g128-zp')).toFixed(3)).toBe('3.850');
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
    const env: BenchEnvironment = {
      gpu: { index: 0, name: 'Test GPU', arch: 'sm_90', multiProcessorCount: 132, l2CacheSize: 50 * 2 ** 20, totalGlobalMem: 8e10, memoryBusWidth: 5120, memoryClockRateKHz: 2619000 },
      cuda: { runtime: 12040, driver: 13000 },
      bandwidth: { gbPerS: 2900, copyBytes: 2 ** 30, timesUs: [740] },
    };
    const text = formatReport(summarize(plan, timings, 2900, DEFAULT), { env, packageVersion: '0.1.0', repeats: 10, warnings: ['slow host'] });
    expect(text).toContain('Test GPU');
    expect(text).toContain('CUDA runtime 12.4, driver 13.0');
    expect(text).toContain('ideal speedup 3.88x');
    expect(text.indexOf('llama3-8b: qkv 4096x6144')).toBeLessThan(text.indexOf('k=4096 n=6144'));
    expect(text).toContain('slow host');
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

  test('--help prints the usage and exits 0', () => {
    const r = runBench(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage: npm run bench');
    for (const name of PRESET_NAMES) expect(r.stdout).toContain(name);
  });
});
