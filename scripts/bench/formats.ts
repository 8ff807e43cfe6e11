/**
 * The weight formats the bench times and their command-line names,
 * ACT-uBITS-gGROUP[-zp][-act][-inv][-mma|-wgmma|-decode][-sk|-nosk], spelled like the generated kernels
 * (gemm_mma_f16_u4_g128_sym_...):
 *   fp16-u4-g128       FP16 activations, 4-bit weights, a scale per 128 rows,
 *                      symmetric (the default)
 *   bf16-u4-g128-zp    BF16, with zero points (AWQ, GPTQ sym=false)
 *   fp16-u8-gch        8-bit, one scale per output column
 *   fp16-u4-g128-act   act-order: the layer's rows in a random order
 *   fp16-u4-g128-inv   batch-invariant calls (forward's batchInvariant)
 *   fp16-u4-g128-mma   the mma family at every batch (forward's family: 'mma'),
 *   fp16-u4-g128-wgmma the wgmma family at every batch (H100-class GPUs), to
 *                      compare the families where the chooser picks one
 *   fp16-u4-g128-decode the decode family (H100-class GPUs, up to 8 rows),
 *                      which the chooser picks only where the kernel table's
 *                      `choose` entries match
 *   fp16-u4-g128-sk    the wgmma family's stream-k launch (forward's streamK:
 *                      true; H100-class GPUs, up to 64 rows, or any batch of
 *                      FP16 4-bit grouped formats); -nosk keeps
 *                      the wgmma family to split counts (streamK: false)
 * One parser and one formatter, so a name in a report reads back as the same
 * format. Pure: no GPU.
 */
import { type ActivationDType, ACTIVATION_DTYPES, DEFAULT_FORMAT, type WeightFormat, describeFormat } from '../../lib/formats';
import { GROUP_SIZES, type GroupSize, WEIGHT_BITS, type WeightBits } from '../../lib/shapes';
import { KERNEL_FAMILIES as FAMILIES, type KernelFamily } from '../../lib/native';
import { KERNEL_TABLE_FILE } from '../../lib/table';
import type { RunOptions } from '../../lib/linear';
import { UsageError } from './fail';

/** A weight format as the bench runs it; act-order layers get a random row order. */
export interface BenchFormat extends WeightFormat {
  actOrder: boolean;
  /** Timed with forward(x, { batchInvariant: true }). */
  batchInvariant?: boolean;
  /** Timed with forward(x, { family }): that family at every batch. */
  family?: KernelFamily;
  /** Timed with forward(x, { streamK }): the wgmma family's stream-k launch (true) or split counts only (false). */
  streamK?: boolean;
}

export const DEFAULT_BENCH_FORMAT: Readonly<BenchFormat> = Object.freeze({ ...DEFAULT_FORMAT, actOrder: false });

/** The --format word for every format in the table (plus act-order for the default bits and group). */
export const ALL_FORMATS = 'all';

const DTYPE_TOKENS: Readonly<Record<ActivationDType, string>> = { float16: 'fp16', bfloat16: 'bf16' };
const ZERO_POINTS = 'zp';
const ACT_ORDER = 'act';
const INVARIANT = 'inv';
const STREAM_K = 'sk';
const NO_STREAM_K = 'nosk';

const bitsToken = (bits: WeightBits) => `u${bits}`;
const groupToken = (group: GroupSize) => (group === -1 ? 'gch' : `g${group}`);

/** "fp16-u4-g128", "bf16-u8-gch-zp", "fp16-u4-g128-act": the name --format takes. */
export function formatName(f: BenchFormat): string {
  const flags = [
    ...(f.zeroPoints ? [ZERO_POINTS] : []),
    ...(f.actOrder ? [ACT_ORDER] : []),
    ...(f.batchInvariant ? [INVARIANT] : []),
    ...(f.family ? [f.family] : []),
    ...(f.streamK === undefined ? [] : [f.streamK ? STREAM_K : NO_STREAM_K]),
  ];
  return [DTYPE_TOKENS[f.dtype], bitsToken(f.bits), groupToken(f.groupSize), ...flags].join('-');
}

/** The forward() and plan() options a format is timed with: its batch invariance, kernel family and stream-k choice. */
export function runOptionsOf(f: BenchFormat): Pick<RunOptions, 'batchInvariant' | 'family' | 'streamK'> {
  return { batchInvariant: f.batchInvariant, family: f.family, streamK: f.streamK };
}

/** "float16/4-bit/g128/symmetric", with "/act-order" for act-order layers (lib's wording). */
export function describeBenchFormat(f: BenchFormat): string {
  return `${describeFormat(f)}${f.actOrder ? '/act-order' : ''}${f.batchInvariant ? '/batch-invariant' : ''}${f.family ? `/${f.family}-family` : ''}${f.streamK === undefined ? '' : f.streamK ? '/stream-k' : '/no-stream-k'}`;
}

/** "FP16" or "BF16": the dense cuBLAS baseline a format is compared with. */
export function denseName(dtype: ActivationDType): string {
  return DTYPE_TOKENS[dtype].toUpperCase();
}

/** Each part of a name: its tokens and what they stand for, from the kernel table. */
const DTYPES = ACTIVATION_DTYPES.map((d) => [DTYPE_TOKENS[d], d] as const);
const BITS = WEIGHT_BITS.map((b) => [bitsToken(b), b] as const);
const GROUPS = GROUP_SIZES.map((g) => [groupToken(g), g] as const);
const SUFFIXES = [
  [ZERO_POINTS, 'zeroPoints'],
  [ACT_ORDER, 'actOrder'],
  [INVARIANT, 'batchInvariant'],
] as const;

/** Every suffix: a flag of the format, or the kernel family or stream-k choice it is timed with. */
const SUFFIX_CHOICES: ReadonlyArray<
  readonly [string, { flag: (typeof SUFFIXES)[number][1] } | { family: KernelFamily } | { streamK: boolean }]
> = [
  ...SUFFIXES.map(([t, flag]) => [t, { flag }] as const),
  ...FAMILIES.map((family) => [family, { family }] as const),
  [STREAM_K, { streamK: true }],
  [NO_STREAM_K, { streamK: false }],
];

/** The valid tokens of each part of a name, for --help. */
export const FORMAT_TOKENS: Readonly<Record<'activations' | 'bits' | 'groups' | 'suffixes', readonly string[]>> = Object.freeze({
  activations: DTYPES.map(([t]) => t),
  bits: BITS.map(([t]) => t),
  groups: GROUPS.map(([t]) => t),
  suffixes: SUFFIX_CHOICES.map(([t]) => t),
});

const SYNTAX =
  `a format is ACT-uBITS-gGROUP[-${ZERO_POINTS}][-${ACT_ORDER}][-${INVARIANT}][-${FAMILIES.join('|-')}][-${STREAM_K}|-${NO_STREAM_K}], e.g. ${formatName(DEFAULT_BENCH_FORMAT)}, ` +
  `or '${ALL_FORMATS}' for every format`;

/** The value of `token` among `choices`, or a UsageError naming the valid tokens. */
function lookup<T>(name: string, what: string, token: string | undefined, choices: ReadonlyArray<readonly [string, T]>): T {
  const hit = choices.find(([t]) => t === token);
  if (hit) return hit[1];
  const problem = token === undefined || token === '' ? `no ${what}` : `unknown ${what} '${token}'`;
  throw new UsageError(`--format ${name}: ${problem} (valid: ${choices.map(([t]) => t).join(', ')}); ${SYNTAX}`);
}

/** One format from its name; throws a one-line UsageError listing the valid tokens. */
export function parseFormatName(name: string): BenchFormat {
  const [dtype, bits, group, ...flags] = name.split('-');
  const format: BenchFormat = {
    dtype: lookup(name, 'activation type', dtype, DTYPES),
    bits: lookup(name, 'weight bits', bits, BITS),
    groupSize: lookup(name, 'group', group, GROUPS),
    zeroPoints: false,
    actOrder: false,
  };
  for (const flag of flags) {
    const hit = lookup(name, 'suffix', flag, SUFFIX_CHOICES);
    if ('family' in hit) {
      if (format.family !== undefined) throw new UsageError(`--format ${name}: give one family, not '${format.family}' and '${hit.family}'`);
      format.family = hit.family;
    } else if ('streamK' in hit) {
      if (format.streamK !== undefined) throw new UsageError(`--format ${name}: give one of '${STREAM_K}' and '${NO_STREAM_K}'`);
      format.streamK = hit.streamK;
    } else {
      if (format[hit.flag]) throw new UsageError(`--format ${name}: '${flag}' is given twice`);
      format[hit.flag] = true;
    }
  }
  if (format.family !== undefined && format.batchInvariant)
    throw new UsageError(`--format ${name}: batch-invariant calls choose their family (mma); drop '${format.family}'`);
  if (format.streamK !== undefined && (format.batchInvariant || (format.family !== undefined && format.family !== 'wgmma')))
    throw new UsageError(`--format ${name}: '${format.streamK ? STREAM_K : NO_STREAM_K}' is the wgmma family's choice; drop it or '${format.batchInvariant ? INVARIANT : format.family}'`);
  // lib refuses act-order without groups: g_idx assigns rows to groups, and per-channel has one.
  if (format.actOrder && format.groupSize === -1)
    throw new UsageError(
      `--format ${name}: act-order needs scale groups (${FORMAT_TOKENS.groups.filter((t) => t !== groupToken(-1)).join(', ')}), not ${groupToken(-1)}`,
    );
  return format;
}

/** Formats in first-seen order, each once (by name). */
function distinct(formats: readonly BenchFormat[]): BenchFormat[] {
  const byName = new Map<string, BenchFormat>();
  for (const f of formats) if (!byName.has(formatName(f))) byName.set(formatName(f), f);
  return [...byName.values()];
}

/**
 * What `all` means: the default first (the one the others are compared
 * with), then every combination the kernel table compiles (activations x
 * bits x groups x zero points), then act-order for the default bits and
 * group in each activation type.
 */
export function allFormats(): BenchFormat[] {
  const { activations, bits, groupSizes, zeroPoints } = KERNEL_TABLE_FILE.formats;
  const table: BenchFormat[] = [];
  for (const dtype of activations as ActivationDType[])
    for (const b of bits as WeightBits[])
      for (const groupSize of groupSizes as GroupSize[])
        for (const zp of zeroPoints) table.push({ dtype, bits: b, groupSize, zeroPoints: zp, actOrder: false });
  const actOrder = ACTIVATION_DTYPES.map((dtype) => ({ ...DEFAULT_BENCH_FORMAT, dtype, actOrder: true }));
  return distinct([DEFAULT_BENCH_FORMAT, ...table, ...actOrder]);
}

/**
 * The formats of a --format list (already split at commas): names and `all`,
 * in the order given, each format once.
 */
export function parseFormatList(names: readonly string[]): BenchFormat[] {
  if (names.length === 0) throw new UsageError(`--format expects format names separated by commas, got nothing; ${SYNTAX}`);
  return distinct(names.flatMap((name) => (name === ALL_FORMATS ? allFormats() : [parseFormatName(name)])));
}
