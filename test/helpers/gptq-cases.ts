/**
 * What the GPTQ quantizer (lib/gptq-quantize.ts) must produce, from the
 * CPU quantizer alone: quantize() of the same weights with layout
 * 'out-in', written as GPTQ tensors by test/helpers/checkpoint-formats.ts
 * (docs/formats.md, v1 words as GPTQModel writes them). And [n, k] weights
 * whose output rows each stress one rule: random ranges, an all-zero row
 * (with -0s), negative-only, positive-only (zero point 0), exact ties
 * (every w / scale a half-integer), the largest magnitudes the scale type
 * holds, and subnormal FP16 values (scales that round to 0 or to a
 * subnormal).
 */
import type { ActivationDType } from '../../lib/formats';
import { fromHalves, toHalves } from '../../lib/fp16';
import type { GptqLayerTensors } from '../../lib/gptq-quantize';
import { quantize } from '../../lib/quantize';
import type { GroupSize, WeightBits } from '../../lib/shapes';
import { gptqTensors } from './checkpoint-formats';
import { uniform } from './random';

export interface GptqCase {
  bits: WeightBits;
  groupSize: GroupSize;
  zeroPoints: boolean;
  inputDtype: ActivationDType;
  scaleDtype: ActivationDType;
}

export const GPTQ_CASES: readonly GptqCase[] = (() => {
  const cases: GptqCase[] = [];
  for (const bits of [4, 8] as const)
    for (const groupSize of [32, 64, 128, -1] as const)
      for (const zeroPoints of [false, true])
        for (const inputDtype of ['float16', 'bfloat16'] as const) cases.push({ bits, groupSize, zeroPoints, inputDtype, scaleDtype: 'float16' });
  cases.push({ bits: 4, groupSize: 128, zeroPoints: false, inputDtype: 'bfloat16', scaleDtype: 'bfloat16' });
  cases.push({ bits: 8, groupSize: 32, zeroPoints: true, inputDtype: 'float16', scaleDtype: 'bfloat16' });
  return cases;
})();

export const gptqCaseName = (c: GptqCase): string =>
  `${c.bits}-bit group ${c.groupSize} ${c.zeroPoints ? 'asym' : 'sym'} ${c.inputDtype} weights, ${c.scaleDtype} scales`;

/** Kinds of output rows, in turn. */
const KINDS = ['random', 'random-small', 'zero', 'negative', 'positive', 'ties', 'largest', 'subnormal'] as const;

/** [n, k] weights as 16-bit bit patterns of `dtype`, rows of every kind in turn. */
export function gptqCaseWeights(n: number, k: number, bits: WeightBits, groupSize: GroupSize, dtype: ActivationDType, random: () => number): Uint16Array {
  const values = new Float64Array(n * k);
  const rows = groupSize === -1 ? k : groupSize;
  const half = 2 ** (bits - 1);
  for (let c = 0; c < n; c++) {
    const row = values.subarray(c * k, (c + 1) * k);
    const kind = KINDS[c % KINDS.length];
    const u = uniform(k, random);
    for (let r = 0; r < k; r++) {
      switch (kind) {
        case 'random':
          row[r] = u[r] * 10 ** ((c % 5) - 2);
          break;
        case 'random-small':
          row[r] = u[r] * 1e-3;
          break;
        case 'zero':
          row[r] = r % 3 === 0 ? -0 : 0;
          break;
        case 'negative':
          row[r] = -Math.abs(u[r]) - 0.01;
          break;
        case 'positive':
          row[r] = Math.abs(u[r]) + 0.01;
          break;
        case 'ties': {
          // The range of each group is +-(2^(bits-1) - 1/2): the scale is exactly 1 (both rules), every value a tie.
          const first = r % rows === 0;
          const second = r % rows === 1;
          row[r] = first ? half - 0.5 : second ? -(half - 0.5) : Math.floor((u[r] + 1) * half) - half + 0.5;
          break;
        }
        case 'largest':
          // FP16's largest, or for BF16 weights a little below the largest whose FP16 scale fits.
          row[r] = (r % 2 ? -1 : 1) * (dtype === 'float16' ? 65504 : 60000 * (half - 0.5)) * (r % 5 === 0 ? 1 : Math.abs(u[r]));
          break;
        case 'subnormal':
          row[r] = u[r] * 2 ** -16;
          break;
      }
    }
  }
  return toHalves(values, dtype);
}

/** The GPTQ tensors quantize() + docs/formats.md give for [n, k] weights (bit patterns of c.inputDtype). */
export function expectedGptq(weights: Uint16Array, n: number, k: number, c: GptqCase): Record<'qweight' | 'qzeros' | 'scales' | 'g_idx', Uint8Array> {
  const q = quantize(fromHalves(weights, c.inputDtype), k, n, {
    layout: 'out-in',
    bits: c.bits,
    groupSize: c.groupSize,
    zeroPoints: c.zeroPoints,
    dtype: c.scaleDtype,
  });
  const out = {} as Record<'qweight' | 'qzeros' | 'scales' | 'g_idx', Uint8Array>;
  for (const t of gptqTensors('layer', q, { convention: 'v1' })) out[t.name.slice('layer.'.length) as keyof typeof out] = t.bytes;
  return out;
}

/** A result's tensors as bytes, by checkpoint name. */
export function gptqBytes(t: GptqLayerTensors): Record<'qweight' | 'qzeros' | 'scales' | 'g_idx', Uint8Array> {
  const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  return { qweight: bytes(t.qweight), qzeros: bytes(t.qzeros), scales: bytes(t.scales), g_idx: bytes(t.gIdx) };
}
