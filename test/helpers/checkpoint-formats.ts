/**
 * GPTQ, AWQ and Marlin checkpoint tensors written from known q, zero
 * points, scales and g_idx, following docs/formats.md and nothing in
 * lib/checkpoint: every word is summed up as an unsigned number, field
 * times 2^(its first bit), and stored little-endian through a DataView.
 * Marlin's B and s come from test/helpers/published-format.ts (the
 * reference tools' packing, rebuilt step by step).
 */
import { toBfloat16 } from '../../lib/fp16';
import type { QuantizedWeights } from '../../lib/quantize';
import { publishedPackScales, publishedPackWeights } from './published-format';
import type { RawTensor } from './safetensors-bytes';

/** Little-endian bytes of unsigned 32-bit word values (0 .. 2^32 - 1). */
function wordBytes(words: readonly number[] | Float64Array): Uint8Array {
  const out = new Uint8Array(words.length * 4);
  const view = new DataView(out.buffer);
  words.forEach((w, i) => {
    if (!(w >= 0 && w < 2 ** 32 && Number.isInteger(w))) throw new Error(`word ${i} = ${w} is not an unsigned 32-bit value`);
    view.setUint32(4 * i, w, true);
  });
  return out;
}

function int32Bytes(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setInt32(4 * i, values[i], true);
  return out;
}

function halfBytes(bits: Uint16Array): Uint8Array {
  const out = new Uint8Array(bits.length * 2);
  const view = new DataView(out.buffer);
  bits.forEach((b, i) => view.setUint16(2 * i, b, true));
  return out;
}

/** One word from fields of `width` bits, field 0 in the lowest bits. */
function word(fields: readonly number[], width: number): number {
  let value = 0;
  fields.forEach((f, j) => {
    if (!(f >= 0 && f < 2 ** width)) throw new Error(`field ${j} = ${f} does not fit ${width} bits`);
    value += f * 2 ** (width * j);
  });
  return value;
}

function scaleTensor(name: string, w: QuantizedWeights, rows: number): RawTensor {
  return { name, dtype: w.dtype === 'bfloat16' ? 'BF16' : 'F16', shape: [rows, w.outFeatures], bytes: halfBytes(w.scales) };
}

/** The zero point of every (group, column): stored ones, or 2^(bits-1) for a symmetric layer. */
function zeroAt(w: QuantizedWeights, bits: number): (g: number, c: number) => number {
  return (g, c) => (w.zeros ? w.zeros[g * w.outFeatures + c] : 2 ** (bits - 1));
}

export interface GptqWriteOptions {
  /** 'v1' (checkpoint_format gptq: fields hold z - 1) or 'v2' (gptq_v2: fields hold z). */
  convention: 'v1' | 'v2';
  /**
   * How v1 words are made: 'word' as GPTQModel (the v2 word minus 0x11111111
   * or 0x01010101 modulo 2^32: a zero point of 0 borrows from the field
   * above), 'fields' as AutoGPTQ's pack for zero points >= 1 (each field z - 1).
   */
  v1Writer?: 'word' | 'fields';
  /** Leave qzeros out (symmetric checkpoints of some tools). */
  omitZeros?: boolean;
  /** Leave g_idx out. */
  omitGIdx?: boolean;
  /** Scale (and zero-point) rows to write: ceil(k / group size) by default; extra rows repeat the last group. */
  groups?: number;
}

/**
 * GPTQ tensors of a layer from q [k, n], scales/zeros [groups, n] and gIdx:
 * qweight I32 [k / pf, n] (row i·pf + j of column c in bits bits·j of word
 * [i, c]), qzeros I32 [groups, n / pf] (column i·pf + j in bits bits·j of
 * word [g, i]), scales, g_idx I32 [k].
 */
export function gptqTensors(prefix: string, w: QuantizedWeights, options: GptqWriteOptions): RawTensor[] {
  const bits = w.bits ?? 4;
  const pf = 32 / bits;
  const { inFeatures: k, outFeatures: n, groupSize } = w;
  if (k % pf !== 0 || n % pf !== 0) throw new Error(`k=${k} and n=${n} must be multiples of ${pf}`);
  const stored = w.scales.length / n;
  const groups = options.groups ?? (groupSize === -1 ? 1 : Math.ceil(k / groupSize));
  const out: RawTensor[] = [];

  const qweight: number[] = [];
  for (let i = 0; i < k / pf; i++)
    for (let c = 0; c < n; c++) qweight.push(word(Array.from({ length: pf }, (_, j) => w.q[(i * pf + j) * n + c]), bits));
  out.push({ name: `${prefix}.qweight`, dtype: 'I32', shape: [k / pf, n], bytes: wordBytes(qweight) });

  // Scale and zero rows beyond those given repeat the last one (unused groups).
  const row = (g: number) => Math.min(g, stored - 1);
  if (!options.omitZeros) {
    const z = zeroAt(w, bits);
    const qzeros: number[] = [];
    for (let g = 0; g < groups; g++)
      for (let i = 0; i < n / pf; i++) {
        const fields = Array.from({ length: pf }, (_, j) => z(row(g), i * pf + j));
        if (options.convention === 'v2') qzeros.push(word(fields, bits));
        else if ((options.v1Writer ?? 'word') === 'word') {
          const offset = bits === 4 ? 0x11111111 : 0x01010101;
          qzeros.push((word(fields, bits) - offset + 2 ** 32) % 2 ** 32);
        } else {
          if (fields.some((f) => f === 0)) throw new Error('AutoGPTQ-style v1 fields cannot hold a zero point of 0');
          qzeros.push(word(fields.map((f) => f - 1), bits));
        }
      }
    out.push({ name: `${prefix}.qzeros`, dtype: 'I32', shape: [groups, n / pf], bytes: wordBytes(qzeros) });
  }

  const scales = new Uint16Array(groups * n);
  for (let g = 0; g < groups; g++) scales.set(w.scales.subarray(row(g) * n, (row(g) + 1) * n), g * n);
  out.push({ ...scaleTensor(`${prefix}.scales`, { ...w, scales }, groups) });

  if (!options.omitGIdx) {
    const gIdx = w.gIdx ?? Int32Array.from({ length: k }, (_, r) => (groupSize === -1 ? 0 : Math.floor(r / groupSize)));
    out.push({ name: `${prefix}.g_idx`, dtype: 'I32', shape: [k], bytes: int32Bytes(gIdx) });
  }
  return out;
}

/** AWQ's interleave: field j of a word holds column ORDER[j] of its group of 32 / bits columns. */
export const AWQ_FIELD_COLUMN: Record<4 | 8, readonly number[]> = { 4: [0, 2, 4, 6, 1, 3, 5, 7], 8: [0, 2, 1, 3] };

/** AWQ GEMM tensors: qweight I32 [k, n / pf] and qzeros I32 [groups, n / pf] interleaved along n, scales [groups, n]. */
export function awqTensors(prefix: string, w: QuantizedWeights): RawTensor[] {
  const bits = w.bits ?? 4;
  const pf = 32 / bits;
  const { inFeatures: k, outFeatures: n } = w;
  const groups = w.scales.length / n;
  const order = AWQ_FIELD_COLUMN[bits];
  const pack = (value: (r: number, c: number) => number, rows: number): number[] => {
    const words: number[] = [];
    for (let r = 0; r < rows; r++) for (let i = 0; i < n / pf; i++) words.push(word(order.map((col) => value(r, i * pf + col)), bits));
    return words;
  };
  const z = zeroAt(w, bits);
  return [
    { name: `${prefix}.qweight`, dtype: 'I32', shape: [k, n / pf], bytes: wordBytes(pack((r, c) => w.q[r * n + c], k)) },
    { name: `${prefix}.qzeros`, dtype: 'I32', shape: [groups, n / pf], bytes: wordBytes(pack(z, groups)) },
    scaleTensor(`${prefix}.scales`, w, groups),
  ];
}

/** Marlin-format tensors (4-bit symmetric): B I32 [k / 16, 2n] and s [groups, n], as the reference tools pack them. */
export function marlinTensors(prefix: string, w: QuantizedWeights): RawTensor[] {
  const { inFeatures: k, outFeatures: n } = w;
  const B = publishedPackWeights(w.q, k, n);
  const s = publishedPackScales(w.scales, w.groupSize === -1);
  return [
    { name: `${prefix}.B`, dtype: 'I32', shape: [k / 16, 2 * n], bytes: int32Bytes(B) },
    scaleTensor(`${prefix}.s`, { ...w, scales: s }, w.scales.length / n),
  ];
}

/** A float tensor (e.g. an nn.Linear weight, [n, k]) as F32 or BF16 bytes. */
export function floatTensor(name: string, values: ArrayLike<number>, shape: number[], dtype: 'F32' | 'BF16'): RawTensor {
  if (dtype === 'F32') {
    const out = new Uint8Array(values.length * 4);
    const view = new DataView(out.buffer);
    for (let i = 0; i < values.length; i++) view.setFloat32(4 * i, values[i], true);
    return { name, dtype, shape, bytes: out };
  }
  return { name, dtype, shape, bytes: halfBytes(toBfloat16(values)) };
}

export function gptqConfig(c: { bits: number; groupSize: number; sym: boolean; descAct: boolean; format?: string }): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    quantization_config: {
      quant_method: 'gptq',
      bits: c.bits,
      group_size: c.groupSize,
      sym: c.sym,
      desc_act: c.descAct,
      damp_percent: 0.01,
      true_sequential: true,
      ...(c.format ? { checkpoint_format: c.format } : {}),
    },
  };
}

export function awqConfig(c: { bits: number; groupSize: number }): Record<string, unknown> {
  return { quantization_config: { quant_method: 'awq', bits: c.bits, group_size: c.groupSize, zero_point: true, version: 'gemm', modules_to_not_convert: null } };
}

export function marlinConfig(c: { groupSize: number }): Record<string, unknown> {
  return { quantization_config: { quant_method: 'gptq', bits: 4, group_size: c.groupSize, sym: true, desc_act: false, checkpoint_format: 'marlin' } };
}
