/**
 * Kernel choice. The chooser itself is native (csrc/kernels/chooser.cc, one
 * place for family, tile, row blocks and pipeline depth), a pure function of
 * the problem, the GPU and the caller's overrides; this module is its typed
 * face, and holds the tile rules' JS view: the table (rules per GPU
 * architecture, measured, from csrc/kernels/table.json) can be read and
 * replaced at run time.
 */
import type { Device } from './device';
import { callNative } from './errors';
import { type WeightFormat, checkFormat } from './formats';
import { KERNEL_FAMILIES, type KernelFamily, type NativeOverrides, type NativePlan, type NativeTarget, type VariantInfo, native } from './native';
import { checkWeightShape } from './shapes';
import { KERNEL_TABLE_FILE } from './table';
import { checkDimensionNames, invalid, isObject, isPositiveInteger } from './validate';

/** A block tile: pipeline stage depth (elements of k) and output columns. */
export interface Tile {
  /** Elements of k (inFeatures) per pipeline stage. */
  tileK: number;
  /** Output columns (of outFeatures) per block. */
  tileN: number;
}

/**
 * Use `tile` for batches of up to `maxBatch` rows (Infinity: any) and layers
 * of at least `minN` output columns (default 0); the first matching rule wins.
 */
export interface KernelRule extends Tile {
  /** Largest batch (rows of x) the rule covers; Infinity: any. */
  maxBatch: number;
  /** Fewest output columns (outFeatures) the rule covers (default 0). */
  minN?: number;
}

/** Rules per GPU architecture ("sm_90"), with "default" for any other. */
export type KernelTable = Readonly<Record<string, readonly KernelRule[]>>;

export type { NativePlan as KernelPlan, NativeTarget as KernelTarget } from './native';

/** What a caller may force: a tile, the pipeline depth (checked), blocks per launch, problems per launch (these four the mma family's), the kernel family, the wgmma family's split count. */
export interface KernelOverrides {
  /** Force this block tile (a compiled one: compiledTiles()); default: the kernel table's rule. */
  tile?: Tile;
  /** Pipeline depth: must equal the depth compiled for the GPU (BAD_ARGUMENT otherwise); default: that depth. */
  stages?: number;
  /**
   * Thread blocks per launch, capped at the SM count; 0 or omitted: the
   * chooser's, one per SM except where the kernel table's alignedBlocks
   * entries match (on compute capability 9.0 at up to 16 rows: 8-bit
   * layers where it keeps 60% of the SMs busy, 4-bit ones 90%), a count
   * that divides the work along the output-column tiles, or its
   * pricedBlocks entries (there at 9-128 rows: the count of least price
   * against the column reduction where it is lower, fewer blocks a column
   * on narrow layers of short k). The plan's `blocks` shows it; forcing only
   * `family: 'mma'` keeps that count, any other mma option turns it off.
   */
  sms?: number;
  /** 64-row problems one launch runs side by side when m > 64: 1 to 64 (default 16, DEFAULT_MAX_PAR). */
  maxPar?: number;
  /**
   * Force a kernel family: 'mma', 'wgmma' (any batch) or 'decode' (up to 8
   * rows of grouped formats, on compute capability 9.0: weights loaded
   * straight into registers; docs/perf-notes.md runs 30, 31 and 33).
   * BAD_ARGUMENT where this build or GPU has none for the format and batch,
   * or with tile, stages, sms or a maxPar other than 16, which are the mma
   * family's (and splits, with 'decode').
   * Default: the chooser's, where the kernel table's `choose` entries match
   * on compute capability 9.0: 'decode' for 1 to 8 rows of 4-bit layers it
   * cuts into 32 k shares per 64-column strip (few strips: with the shipped
   * table, 4224 columns or fewer on 132 SMs where k >= 512), of symmetric
   * 8-bit layers, and of 8-bit layers with zero points cut into 16 or fewer;
   * 'wgmma' for the formats it covers from 49 rows on layers of 16 or more
   * output tiles of 256 columns (17 at 97-128 rows), and from 17 or 33 rows on wide or deep
   * 4-bit layers (the table's entries: Llama-2-7B's gate_up, 70B's gate_up
   * (grouped formats) and down, and in symmetric 4-bit formats the qkv
   * layers and 7B's down from 33), at 49-64 rows on layers of 4-15 tiles
   * with k of 2048-4096 (8-bit: 3072-4096), at 49-128 rows on layers of
   * 12-15 tiles with k >= 8192 (65-96 rows: k >= 3072), and at 33-48 rows
   * on 4-bit layers of 12-15 tiles with k >= 8192 or 18-24 with k >= 3584
   * (table.json's entries, run 49); at 17-64 rows with k >= 2048 in the
   * formats table.json's familyPrice lists (grouped; per column in FP16
   * 4-bit symmetric only), the
   * other family than those entries' where its price of the two plans says
   * it is more than 4% (8-bit up to 48 rows: 6%) faster (runs 50 and 51;
   * its memory speeds scaled by the GPU's peak bandwidth); else 'mma'.
   */
  family?: KernelFamily;
  /**
   * wgmma family: split k over this many blocks per output tile (1 to 8:
   * WGMMA_SPLITS), which sum their parts through a thread block cluster.
   * Implies family 'wgmma'. A given count runs every output tile in one
   * launch at that count. Default: the chooser's (more splits where the
   * output tiles alone leave SMs idle, and where a last partial wave of tiles
   * would, those tiles split in a second launch: KernelPlan.tailTiles).
   */
  splits?: number;
  /**
   * wgmma family, up to 64 rows (its 32-, 48- and 64-row tiles), and above on
   * FP16 4-bit grouped formats (the 96- and 128-row tiles): true runs one stream-k
   * launch, whose blocks (one per SM) share the output tiles' k evenly and
   * add each other's partial sums through the workspace in a fixed order;
   * false keeps to split counts. True implies family 'wgmma'; BAD_ARGUMENT
   * with `splits`, and above 64 rows on other formats (their 96- and
   * 128-row tiles have no stream-k: they would spill registers).
   * Default: the chooser's, stream-k where the kernel table's
   * cost model says it beats every split plan (KernelPlan.streamK).
   */
  streamK?: boolean;
}

/** The split counts the wgmma family runs: 1 to csrc/kernels/table.json's maxSplits. */
export const WGMMA_SPLITS: readonly number[] = Object.freeze(
  Array.from({ length: KERNEL_TABLE_FILE.families.find((f) => f.name === 'wgmma')?.maxSplits ?? 1 }, (_, i) => i + 1),
);

function fromFile(): KernelTable {
  const out: Record<string, readonly KernelRule[]> = {};
  for (const [key, rules] of Object.entries(KERNEL_TABLE_FILE.rules)) {
    if (key.startsWith('$') || typeof rules === 'string') continue;
    out[key] = Object.freeze(
      rules.map((r) => Object.freeze({ maxBatch: r.maxBatch ?? Infinity, minN: r.minN, tileK: r.tileK, tileN: r.tileN })),
    );
  }
  return Object.freeze(out);
}

/** The measured rules the package ships (csrc/kernels/table.json). */
export const DEFAULT_KERNEL_TABLE: KernelTable = fromFile();

let current: KernelTable = DEFAULT_KERNEL_TABLE;

function archOf(key: string): number {
  if (key === 'default') return 0;
  const match = /^sm_(\d+)$/.exec(key);
  if (!match) throw invalid('BAD_ARGUMENT', `kernel table key "${key}"`, '"default" or "sm_<arch>" (e.g. "sm_90")', key);
  return Number(match[1]);
}

function checkTable(t: KernelTable): void {
  if (!isObject(t) || !Array.isArray(t.default))
    throw invalid('BAD_ARGUMENT', 'kernel table', 'an object with a "default" rule list', t);
  for (const [key, rules] of Object.entries(t)) {
    archOf(key);
    if (!Array.isArray(rules) || rules.length === 0)
      throw invalid('BAD_ARGUMENT', `kernel table["${key}"]`, 'a non-empty array of rules', rules);
    const tiles = compiledTiles().map((t) => `${t.tileK}x${t.tileN}`);
    for (const r of rules as readonly KernelRule[]) {
      if (
        !isObject(r) ||
        !(r.maxBatch === Infinity || isPositiveInteger(r.maxBatch)) ||
        !isPositiveInteger(r.tileK) ||
        !isPositiveInteger(r.tileN) ||
        !(r.minN === undefined || Number.isSafeInteger(r.minN)) ||
        (r.minN ?? 0) < 0
      )
        throw invalid('BAD_ARGUMENT', `a rule of kernel table["${key}"]`, '{ maxBatch: an integer > 0 or Infinity, minN: an integer >= 0, tileK, tileN }', r);
      if (!tiles.includes(`${r.tileK}x${r.tileN}`))
        throw invalid('BAD_ARGUMENT', `the tile of a rule of kernel table["${key}"]`, `a compiled tile (${tiles.join(', ')})`, `${r.tileK}x${r.tileN}`);
    }
    const last = (rules as readonly KernelRule[])[rules.length - 1];
    if (last.maxBatch !== Infinity || (last.minN ?? 0) !== 0)
      throw invalid('BAD_ARGUMENT', `kernel table["${key}"]`, 'a last rule with maxBatch: Infinity and no minN (a catch-all)', rules);
  }
}

/** Replaces the tile rules for every architecture (pass DEFAULT_KERNEL_TABLE to restore them). */
export function setKernelTable(next: KernelTable): void {
  checkTable(next);
  callNative(() => {
    native.resetTileRules();
    for (const key of Object.keys(DEFAULT_KERNEL_TABLE)) native.setTileRules(archOf(key), null);
    for (const [key, rules] of Object.entries(next))
      native.setTileRules(archOf(key), rules.map((r) => ({ maxBatch: r.maxBatch, minN: r.minN ?? 0, tileK: r.tileK, tileN: r.tileN })));
  });
  current = next;
}

/** The tile rules in use. */
export function getKernelTable(): KernelTable {
  return current;
}

/** The chooser's view of a device. */
export function targetOf(device: Device): NativeTarget {
  const p = device.properties;
  return { arch: 10 * p.major + p.minor, smemOptin: p.sharedMemPerBlockOptin, smCount: p.multiProcessorCount, memoryGBps: p.peakMemoryGBps };
}

/** Every KernelOverrides field (the type makes the compiler refuse a missing or unknown one). */
const OVERRIDE_FIELDS: Readonly<Record<keyof KernelOverrides, true>> = { tile: true, stages: true, sms: true, maxPar: true, family: true, splits: true, streamK: true };
const OVERRIDE_KEYS = Object.keys(OVERRIDE_FIELDS) as ReadonlyArray<keyof KernelOverrides>;

/** Whether any kernel override is set (else the chooser's plan runs). */
export function hasOverrides(o: KernelOverrides): boolean {
  for (const key of OVERRIDE_KEYS) if (o[key] !== undefined) return true;
  return false;
}

/** Native overrides from the JS options; undefined when nothing is forced (the hot path reads nothing then). */
export function nativeOverrides(o: KernelOverrides): NativeOverrides | undefined {
  if (!hasOverrides(o)) return undefined;
  const out: NativeOverrides = {};
  if (o.tile !== undefined) {
    if (!isObject(o.tile) || !isPositiveInteger(o.tile.tileK) || !isPositiveInteger(o.tile.tileN))
      throw invalid('BAD_ARGUMENT', 'tile', 'a tile { tileK, tileN } of positive integers', o.tile);
    out.tileK = o.tile.tileK;
    out.tileN = o.tile.tileN;
  }
  if (o.stages !== undefined) {
    if (!isPositiveInteger(o.stages)) throw invalid('BAD_ARGUMENT', 'stages', 'a positive integer', o.stages);
    out.stages = o.stages;
  }
  if (o.sms !== undefined) {
    if (!Number.isSafeInteger(o.sms) || o.sms < 0) throw invalid('BAD_ARGUMENT', 'sms', 'a non-negative integer (0 = all SMs)', o.sms);
    out.sms = o.sms;
  }
  if (o.maxPar !== undefined) {
    if (!isPositiveInteger(o.maxPar) || o.maxPar > KERNEL_TABLE_FILE.shape.maxParLimit)
      throw invalid('BAD_ARGUMENT', 'maxPar', `an integer in 1..${KERNEL_TABLE_FILE.shape.maxParLimit}`, o.maxPar);
    out.maxPar = o.maxPar;
  }
  if (o.family !== undefined) {
    if (!KERNEL_FAMILIES.includes(o.family))
      throw invalid('BAD_ARGUMENT', 'family', KERNEL_FAMILIES.map((f) => `'${f}'`).join(' or '), o.family);
    out.family = o.family;
  }
  if (o.splits !== undefined) {
    if (!WGMMA_SPLITS.includes(o.splits)) throw invalid('BAD_ARGUMENT', 'splits', `one of ${WGMMA_SPLITS.join(', ')}`, o.splits);
    out.splits = o.splits;
  }
  if (o.streamK !== undefined) {
    if (typeof o.streamK !== 'boolean') throw invalid('BAD_ARGUMENT', 'streamK', 'a boolean', o.streamK);
    out.streamK = o.streamK;
  }
  return out;
}

/** A call to plan: m rows of x (tokens) through a layer of the given features and format (default: DEFAULT_FORMAT's fields). */
export interface KernelProblem {
  /** Rows of x (tokens): an integer >= 0 (BAD_SHAPE otherwise). */
  m: number;
  /** Input features (k): a positive multiple of K_MULTIPLE (BAD_SHAPE otherwise). */
  inFeatures: number;
  /** Output features (n): a positive multiple of N_MULTIPLE (BAD_SHAPE otherwise). */
  outFeatures: number;
  /** The weight format; omitted fields take DEFAULT_FORMAT's values. */
  format?: Partial<WeightFormat>;
}

/**
 * How a call of m rows through an [inFeatures, outFeatures] layer in
 * `format` runs on `target` (a Device or a { arch, smemOptin, smCount, memoryGBps? }
 * description, so plans can be made without a GPU): family, tile, pipeline
 * depth, row blocks, launches. Throws what forward() would: BAD_SHAPE,
 * BAD_ARGUMENT (an override this build cannot run), NO_GPU (no kernels for
 * that GPU).
 */
export function chooseKernel(problem: KernelProblem, target: Device | NativeTarget, overrides: KernelOverrides = {}): NativePlan {
  if (!isObject(problem)) throw invalid('BAD_ARGUMENT', 'problem', '{ m, inFeatures, outFeatures, format? }', problem);
  checkDimensionNames(problem, 'problem');
  if (!Number.isSafeInteger(problem.m) || problem.m < 0) throw invalid('BAD_SHAPE', 'm', 'a non-negative integer', problem.m);
  checkWeightShape(problem.inFeatures, problem.outFeatures);
  const format = checkFormat(problem.format ?? {});
  const t = 'properties' in target ? targetOf(target) : target;
  const { m, inFeatures: k, outFeatures: n } = problem;
  return callNative(() => native.plan({ m, n, k, format }, t, nativeOverrides(overrides)));
}

/**
 * The batch sizes, smallest first, whose plans together use every kernel
 * that some batch of 1 to `maxBatch` rows uses, by `planOf` (a layer's
 * plan, say): the calls QuantizedLinear.warmup() makes. A kernel is a
 * family, tile and row-block count (for a format and GPU: its pipeline
 * depth follows, and a wgmma split count is a launch setting, not another
 * kernel). A batch is listed when its plan uses a kernel no smaller batch
 * did, so each kernel runs at least once. One plan per batch size: keep
 * maxBatch to the batches a server runs.
 */
export function warmupBatches(maxBatch: number, planOf: (m: number) => Pick<NativePlan, 'family' | 'tileK' | 'tileN' | 'rowBlocks'>): number[] {
  if (!isPositiveInteger(maxBatch)) throw invalid('BAD_ARGUMENT', 'maxBatch', 'a positive integer', maxBatch);
  const seen = new Set<string>();
  const batches: number[] = [];
  for (let m = 1; m <= maxBatch; m++) {
    const p = planOf(m);
    const kernels = p.rowBlocks.map((r) => `${p.family} ${p.tileK}x${p.tileN} ${r}`);
    if (kernels.every((key) => seen.has(key))) continue;
    batches.push(m);
    for (const key of kernels) seen.add(key);
  }
  return batches;
}

let variantCache: readonly VariantInfo[] | undefined;

/** The kernel variants compiled into the addon. */
export function compiledVariants(): readonly VariantInfo[] {
  variantCache ??= Object.freeze(callNative(() => native.variants()));
  return variantCache;
}

/**
 * The distinct block tiles of the mma family compiled into the addon: those
 * a `tile` override or a kernel table rule may name (the wgmma and decode
 * families' tiles are fixed).
 */
export function compiledTiles(): Tile[] {
  const seen = new Map<string, Tile>();
  for (const v of compiledVariants())
    if (v.family === 'mma') seen.set(`${v.tileK}x${v.tileN}`, { tileK: v.tileK, tileN: v.tileN });
  return [...seen.values()];
}
