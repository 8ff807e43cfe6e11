/**
 * Kernel choice: which compiled tile runs a call of a given batch size and
 * shape on a given GPU. A pure function of its inputs, testable without a
 * GPU; the table is data, overridable per call or globally.
 */
import { MarlinError } from './errors';
import { invalid, isPositiveInteger } from './validate';

export interface Tile {
  /** Depth of one pipeline stage (elements of k). */
  tileK: number;
  /** Output columns per thread block. */
  tileN: number;
}

/** Use `tile` for batches of up to `maxBatch` rows (the first matching rule wins). */
export interface KernelRule extends Tile {
  maxBatch: number;
}

/** Rules per GPU architecture ("sm_90"), with "default" for any other. */
export type KernelTable = Readonly<Record<string, readonly KernelRule[]>>;

/**
 * Small batches stream weights through narrow 128x128 tiles, which split
 * any layer over all SMs with few partial sums to reduce; larger batches
 * use 64x256 tiles, which do twice the math per byte of A they stage.
 */
export const DEFAULT_KERNEL_TABLE: KernelTable = Object.freeze({
  default: Object.freeze([
    { maxBatch: 16, tileK: 128, tileN: 128 },
    { maxBatch: Infinity, tileK: 64, tileN: 256 },
  ]),
});

let table: KernelTable = DEFAULT_KERNEL_TABLE;

/** Replaces the global table (pass DEFAULT_KERNEL_TABLE to restore it). */
export function setKernelTable(next: KernelTable): void {
  checkTable(next);
  table = next;
}

export function getKernelTable(): KernelTable {
  return table;
}

function checkTable(t: KernelTable): void {
  if (typeof t !== 'object' || t === null || !Array.isArray(t.default))
    throw invalid('BAD_ARGUMENT', 'kernel table', 'an object with a "default" rule list', t);
  for (const [arch, rules] of Object.entries(t)) {
    if (!Array.isArray(rules) || rules.length === 0)
      throw invalid('BAD_ARGUMENT', `kernel table["${arch}"]`, 'a non-empty array of rules', rules);
    for (const r of rules)
      if (!(r.maxBatch > 0) || !isPositiveInteger(r.tileK) || !isPositiveInteger(r.tileN))
        throw invalid('BAD_ARGUMENT', `a rule of kernel table["${arch}"]`, '{ maxBatch > 0, tileK, tileN }', r);
    if (rules[rules.length - 1].maxBatch !== Infinity)
      throw invalid('BAD_ARGUMENT', `kernel table["${arch}"]`, 'a last rule with maxBatch: Infinity', rules);
  }
}

/** The tile for a call of `m` rows on `arch` (e.g. "sm_90"). */
export function selectTile(m: number, arch: string, kernels: KernelTable = table): Tile {
  if (!isPositiveInteger(m)) throw invalid('BAD_SHAPE', 'm (batch)', 'a positive integer', m);
  const rules = kernels[arch] ?? kernels.default;
  const rule = rules?.find((r) => m <= r.maxBatch);
  if (!rule) throw new MarlinError('BAD_ARGUMENT', `the kernel table has no rule for m=${m} on ${arch}`);
  return { tileK: rule.tileK, tileN: rule.tileN };
}
