/**
 * The repack (csrc/kernels/repack.cu) run on the CPU through the addon
 * (repackWeightsOnHost: the kernel's own tile functions, no GPU needed)
 * against the TypeScript packer, bit for bit: for GPTQ and AWQ tensors
 * written by test/helpers/checkpoint-formats.ts (independent of the
 * readers), repackOnHost(gptqLayer(...)) must equal
 * packQuantized(gptqToQuantized(...)) in every packed array, for 4 and 8
 * bits, symmetric and zero points, groups and per-channel, FP16 and BF16,
 * act-order with a shuffled g_idx and with padding, and widths that leave
 * a short last tile (n not a multiple of 512).
 */
import { type AwqConfig, type GptqConfig, awqLayer, awqToQuantized, gptqLayer, gptqToQuantized, parseQuantizationConfig } from '../../lib/checkpoint';
import type { CheckpointTensor } from '../../lib/checkpoint/tensors';
import { MarlinError } from '../../lib/errors';
import { packWeights } from '../../lib/layout';
import { native } from '../../lib/native';
import { type PackedLayer, packQuantized } from '../../lib/pack-layer';
import { repackOnHost } from '../../lib/repack';
import { awqConfig, awqTensors, gptqConfig, gptqTensors } from '../helpers/checkpoint-formats';
import { firstDifference } from '../helpers/compare';
import { type FormatCase, randomFormatLayer } from '../helpers/format-reference';
import { SEED, rng } from '../helpers/random';
import type { RawTensor } from '../helpers/safetensors-bytes';

interface RepackCase extends FormatCase {
  method: 'gptq' | 'awq';
  convention?: 'v1' | 'v2';
}

const CASES: RepackCase[] = [
  { method: 'gptq', dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: false, k: 256, n: 192 },
  { method: 'gptq', dtype: 'bfloat16', bits: 4, groupSize: 64, zeroPoints: true, k: 128, n: 576, convention: 'v2' },
  { method: 'gptq', dtype: 'float16', bits: 8, groupSize: 32, zeroPoints: false, k: 128, n: 1088 },
  { method: 'gptq', dtype: 'bfloat16', bits: 8, groupSize: -1, zeroPoints: true, k: 128, n: 128 },
  { method: 'gptq', dtype: 'float16', bits: 4, groupSize: -1, zeroPoints: true, k: 128, n: 64, convention: 'v2' },
  { method: 'gptq', dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: false, k: 384, n: 128, actOrder: { kind: 'shuffled' } },
  { method: 'gptq', dtype: 'bfloat16', bits: 4, groupSize: 32, zeroPoints: true, k: 256, n: 640, actOrder: { kind: 'sizes', sizes: [70, 3, 120, 63] } },
  { method: 'gptq', dtype: 'float16', bits: 8, groupSize: 64, zeroPoints: true, k: 192, n: 128, actOrder: { kind: 'shuffled' }, convention: 'v2' },
  { method: 'gptq', dtype: 'bfloat16', bits: 8, groupSize: 32, zeroPoints: false, k: 128, n: 64, actOrder: { kind: 'sizes', sizes: [1, 40, 0, 87] } },
  { method: 'awq', dtype: 'float16', bits: 4, groupSize: 128, zeroPoints: true, k: 256, n: 704 },
  { method: 'awq', dtype: 'bfloat16', bits: 8, groupSize: 32, zeroPoints: true, k: 128, n: 192 },
  { method: 'awq', dtype: 'float16', bits: 4, groupSize: -1, zeroPoints: true, k: 128, n: 64 },
];

function asTensors(raw: RawTensor[], prefix: string): Record<string, CheckpointTensor> {
  const out: Record<string, CheckpointTensor> = {};
  for (const t of raw) out[t.name.slice(prefix.length + 1)] = { dtype: t.dtype as CheckpointTensor['dtype'], shape: t.shape, data: t.bytes };
  return out;
}

function title(c: RepackCase): string {
  const order = c.actOrder ? `, act-order ${c.actOrder.kind === 'shuffled' ? 'shuffled' : `groups ${c.actOrder.sizes.join('/')}`}` : '';
  return `${c.method}${c.convention ? ` ${c.convention}` : ''} ${c.dtype} ${c.bits}-bit g${c.groupSize} ${c.zeroPoints ? 'zero points' : 'symmetric'} k=${c.k} n=${c.n}${order}`;
}

/** The first array of a PackedLayer that differs from `want`'s, with the index, or ''. */
function difference(got: PackedLayer, want: PackedLayer): string {
  for (const key of ['packedWeights', 'packedScales', 'packedZeros', 'rows'] as const) {
    const a = got[key];
    const b = want[key];
    if ((a === undefined) !== (b === undefined)) return `${key}: ${a === undefined ? 'missing' : 'unexpected'}`;
    if (a === undefined || b === undefined) continue;
    if (a.length !== b.length) return `${key}: ${a.length} elements, expected ${b.length}`;
    const i = firstDifference(a, b);
    if (i !== -1) return `${key}[${i}]: ${a[i]}, expected ${b[i]}`;
  }
  const meta = (l: PackedLayer) => [l.inFeatures, l.outFeatures, l.groupSize, l.bits, l.dtype];
  return JSON.stringify(meta(got)) === JSON.stringify(meta(want)) ? '' : `shape/format ${JSON.stringify(meta(got))}, expected ${JSON.stringify(meta(want))}`;
}

describe(`repack on the host (the kernel's tile functions) against packQuantized, bit for bit (seed ${SEED})`, () => {
  const random = rng(SEED + 740);
  const prefix = 'model.layers.0.mlp.up_proj';
  for (const c of CASES) {
    test(title(c), () => {
      const w = randomFormatLayer(c, random).quantized;
      if (c.method === 'gptq') {
        const config = parseQuantizationConfig(
          gptqConfig({ bits: c.bits, groupSize: c.groupSize, sym: !c.zeroPoints, descAct: c.actOrder !== undefined, format: c.convention === 'v2' ? 'gptq_v2' : undefined }),
        ) as GptqConfig;
        const tensors = asTensors(gptqTensors(prefix, w, { convention: c.convention ?? 'v1' }), prefix) as never;
        const want = packQuantized(gptqToQuantized(tensors, config));
        const got = repackOnHost(gptqLayer(tensors, config));
        expect(difference(got, want)).toBe('');
        expect(got.rows !== undefined).toBe(c.actOrder !== undefined);
      } else {
        const config = parseQuantizationConfig(awqConfig(c)) as AwqConfig;
        const tensors = asTensors(awqTensors(prefix, w), prefix) as never;
        const want = packQuantized(awqToQuantized(tensors, config));
        const got = repackOnHost(awqLayer(tensors, config));
        expect(difference(got, want)).toBe('');
      }
    });
  }
});

describe('repackWeightsOnHost: sizes and arrays it refuses, as MarlinErrors', () => {
  const base = { layout: 'gptq' as const, bits: 4, inputK: 64, k: 64, n: 64, source: new Int32Array(8 * 64), rows: null, zeros: null };
  const call = (d: object) => {
    try {
      native.repackWeightsOnHost(d as never);
    } catch (error) {
      return (error as MarlinError).code;
    }
    return 'ok';
  };

  test('the well-formed call packs', () => {
    expect(call(base)).toBe('ok');
    expect(native.repackWeightsOnHost(base).length).toBe((64 * 64 * 4) / 32);
  });

  test.each([
    ['bits 3', { bits: 3 }, 'BAD_ARGUMENT'],
    ['n not a multiple of 64', { n: 96, source: new Int32Array(8 * 96) }, 'BAD_SHAPE'],
    ['k not a multiple of 16', { k: 72, inputK: 72 }, 'BAD_SHAPE'],
    ['inputK != k without rows', { inputK: 32 }, 'BAD_SHAPE'],
    ['a GPTQ inputK that is not whole words', { inputK: 60, rows: new Int32Array(64) }, 'BAD_SHAPE'],
    ['a layout other than gptq or awq', { layout: 'exl2' }, 'BAD_ARGUMENT'],
    ['a source too short', { source: new Int32Array(8 * 64 - 1) }, 'BAD_SHAPE'],
    ['a source that is not an Int32Array', { source: new Uint8Array(4 * 8 * 64) }, 'BAD_DTYPE'],
    ['zeros without groupRows', { zeros: new Int32Array(16) }, 'BAD_ARGUMENT'],
    ['zeros with groupRows that do not divide k', { zeros: new Int32Array(64), groupRows: 48 }, 'BAD_SHAPE'],
    ['rows too short', { rows: new Int32Array(63) }, 'BAD_SHAPE'],
  ])('%s', (_, change, code) => {
    expect(call({ ...base, ...change })).toBe(code);
  });

  test('more columns than the kernel grid has tiles for (65535 of 512) is a shape error, found before the source is read', () => {
    let error: MarlinError | undefined;
    try {
      native.repackWeightsOnHost({ ...base, k: 16, inputK: 16, n: 65536 * 512 });
    } catch (e) {
      error = e as MarlinError;
    }
    expect(error?.code).toBe('BAD_SHAPE');
    expect(error?.message).toContain('at most 65535 * 512');
    expect(error?.message).toContain('n=33554432');
  });

  test('rows outside the source pad with the symmetric zero point (nothing outside the source is read)', () => {
    const rows = Int32Array.from({ length: 64 }, (_, r) => (r % 3 === 0 ? -1 : r % 5 === 0 ? 1 << 30 : 63 - r));
    const source = Int32Array.from({ length: 8 * 64 }, (_, i) => (i * 0x9e3779b1) | 0);
    const got = native.repackWeightsOnHost({ ...base, source, rows });
    const q = new Uint8Array(64 * 64);
    for (let r = 0; r < 64; r++)
      for (let c = 0; c < 64; c++) {
        const s = rows[r];
        q[r * 64 + c] = s < 0 || s >= 64 ? 8 : (source[(s >> 3) * 64 + c] >>> (4 * (s & 7))) & 15;
      }
    expect(firstDifference(got, packWeights(q, 64, 64, 4))).toBe(-1);
  });
});
