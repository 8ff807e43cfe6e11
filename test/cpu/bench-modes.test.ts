/**
 * The --overhead, --graph (and --per-layer) and --first-call reports render what was measured: every row,
 * the differences and speedups computed from it, and a dense graph that
 * could not be captured as n/a with the reason. Importing the modules needs
 * no GPU (the addon loads at the first GPU call).
 */
import { BenchFailure } from '../../scripts/bench/fail';
import { FIRST_CALL_RUNS, type FirstCallRow, formatFirstCalls, measureFirstCalls } from '../../scripts/bench/first-call';
import { type GraphRow, formatGraphMode, graphUnits, unitName } from '../../scripts/bench/graph';
import { PRESETS } from '../../scripts/bench/presets';
import { HAS_GPU } from '../helpers/gpu';
import { type OverheadRow, formatOverhead } from '../../scripts/bench/overhead';

describe('bench --overhead report', () => {
  const row: OverheadRow = {
    k: 4096, n: 4096, m: 1, emptyLaunchUs: 3.7, bareLaunchUs: 4.25, launcherUs: 4.6, nativeRunUs: 5.8, forwardUs: 7.05,
    graphLaunchUs: 5.5, directGpuUs: 10.4, graphGpuUs: 8.8, directPdlGpuUs: 10.1, graphPdlGpuUs: 8.1,
  };
  test('one line per row, with forward - bare', () => {
    const text = formatOverhead([row, { ...row, m: 16 }], 'GPU X');
    const lines = text.split('\n').filter((l) => l.startsWith('  4096x4096'));
    expect(lines).toHaveLength(2);
    expect(lines[0].split(/\s+/).filter(Boolean)).toEqual(['4096x4096', '1', '3.70', '4.25', '4.60', '5.80', '7.05', '2.80', '5.50', '10.40', '8.80', '10.10', '8.10']);
    expect(text).toContain('GPU X');
  });
});

describe('bench --graph report', () => {
  const row: GraphRow = { model: 'llama2-7b', m: 1, families: 'mma+decode', blocks: 2, marlinGraphUs: 50, marlinDirectUs: 60, denseGraphUs: 150, denseDirectUs: 150, depth: 32 };
  test('speedups from the numbers, the step time from the depth, the kernel families last', () => {
    const text = formatGraphMode([row], 'GPU X', 'FP16');
    const line = text.split('\n').find((l) => l.includes('llama2-7b'))!;
    expect(line.split(/\s+/).filter(Boolean)).toEqual(['llama2-7b', '1', '50.0', '150.0', '3.00x', '60.0', '150.0', '2.50x', '1.60', 'ms', 'mma+decode']);
    expect(text).toContain('µs per transformer block');
  });
  test('--per-layer: a unit per layer, its model and layer apart (JSON rows keep the preset in `model`), with that model\'s depth; rows as wide as the longest name', () => {
    const units = graphUnits(['llama2-7b', 'llama2-70b'], true);
    expect(units.map((u) => [unitName(u), u.model, u.layer, u.shapes.map((sh) => `${sh.k}x${sh.n}`).join(' '), u.depth])).toEqual([
      ['llama2-7b qkv', 'llama2-7b', 'qkv', '4096x12288', 32],
      ['llama2-7b o', 'llama2-7b', 'o', '4096x4096', 32],
      ['llama2-7b gate_up', 'llama2-7b', 'gate_up', '4096x22016', 32],
      ['llama2-7b down', 'llama2-7b', 'down', '11008x4096', 32],
      ['llama2-70b qkv', 'llama2-70b', 'qkv', '8192x10240', 80],
      ['llama2-70b o', 'llama2-70b', 'o', '8192x8192', 80],
      ['llama2-70b gate_up', 'llama2-70b', 'gate_up', '8192x57344', 80],
      ['llama2-70b down', 'llama2-70b', 'down', '28672x8192', 80],
    ]);
    expect(graphUnits(['llama2-7b'], false)).toEqual([{ model: 'llama2-7b', shapes: PRESETS['llama2-7b'], depth: 32 }]);
    const text = formatGraphMode(
      [
        { ...row, model: 'llama2-70b', layer: 'gate_up', families: 'decode', depth: 80 },
        { ...row, layer: 'o' },
      ],
      'GPU X',
      'FP16',
      true,
    );
    expect(text).toContain('µs per layer');
    const lines = text.split('\n').filter((l) => l.includes('llama2-'));
    expect(lines.map((l) => l.indexOf(' 50.0'))).toEqual([lines[0].indexOf(' 50.0'), lines[0].indexOf(' 50.0')]);
    expect(lines[0].slice(2).split(/\s{2,}/)).toEqual(['llama2-70b gate_up', '1', '50.0', '150.0', '3.00x', '60.0', '150.0', '2.50x', '4.00 ms', 'decode']);
  });
  test('a dense graph that could not be captured is n/a, with the reason once', () => {
    const failed = { ...row, denseGraphUs: undefined, denseGraphError: 'capture invalidated' };
    const text = formatGraphMode([failed, { ...failed, m: 16 }], 'GPU X', 'FP16');
    expect(text.split('\n').filter((l) => l.includes('n/a'))).toHaveLength(2);
    expect(text.match(/could not be captured: capture invalidated/g)).toHaveLength(1);
  });
});

describe('bench --first-call report', () => {
  const row: FirstCallRow = { setup: 'reserve', k: 4096, n: 4096, m: 1, firstUs: [500, 400, 760], steadyUs: [33, 31, 40], againUs: [100, 80, 90] };
  test('per setup, layer and batch: the median first call, its range, the steady and again medians, the ratios', () => {
    const text = formatFirstCalls([row, { ...row, setup: 'warmup', firstUs: [60, 70, 65], steadyUs: [30, 30, 31], againUs: [50, 65, 60] }], 'GPU X');
    const cells = (setup: string) => text.split('\n').find((l) => l.trim().startsWith(setup))!.split(/\s+/).filter(Boolean);
    expect(cells('reserve')).toEqual(['reserve', '4096x4096', '1', '500', '400-760', '33', '15.2x', '90', '5.6x']);
    expect(cells('warmup')).toEqual(['warmup', '4096x4096', '1', '65', '60-70', '30', '2.2x', '60', '1.1x']);
    expect(text).toContain('GPU X');
    expect(text).toContain(`median of ${FIRST_CALL_RUNS} processes`);
  });

  // The measurement itself runs in child processes (test/gpu/first-call-bench.test.ts times them on a GPU); here,
  // without one, a child's failure must come back as one BenchFailure naming the setup and the child's reason.
  (HAS_GPU ? test.skip : test)('without a GPU: the first child fails, and its reason is the one line reported', async () => {
    const failure = measureFirstCalls(0, [{ k: 256, n: 128 }], [1]);
    await expect(failure).rejects.toBeInstanceOf(BenchFailure);
    await expect(failure).rejects.toThrow(/^--first-call: the none process failed \(exit 1\): no usable CUDA device/);
  });
});
