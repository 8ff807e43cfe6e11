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

/**
 * Use `tile` for batches of up to `maxBatch` rows and layers of at least
 * `minN` output columns (default 0); the first matching rule wins.
 */
export interface KernelRule extends Tile {
  maxBatch: number;
  minN?: number;
}

/** Rules per GPU architecture ("sm_90"), with "default" for any other. */
export type KernelTable = Readonly<Record<string, readonly KernelRule[]>>;

/**
 * Measured on an H100 (docs/perf-notes.md): up to 64 rows, 128x128 tiles
 * are faster unless the layer is wide (n >= 16384), where 64x256 tiles read
 * twice the contiguous bytes per weight row and still fill every SM; above
 * 64 rows, 64x256 (twice the math per staged byte of A) wins from n = 8192.
 */
export const DEFAULT_KERNEL_TABLE: KernelTable = Object.freeze({
  default: Object.freeze([
    { maxBatch: 64, minN: 16384, tileK: 64, tileN: 256 },
    { maxBatch: 64, tileK: 128, tileN: 128 },
    { maxBatch: Infinity, minN: 8192, tileK: 64, tileN: 256 },
    { maxBatch: Infinity, tileK: 128, tileN: 128 },
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
      if (!(r.maxBatch > 0) || !isPositiveInteger(r.tileK) || !isPositiveInteger(r.tileN) || !((r.minN ?? 0) >= 0))
        throw invalid('BAD_ARGUMENT', `a rule of kernel table["${arch}"]`, '{ maxBatch > 0, minN >= 0, tileK, tileN }', r);
    const last = rules[rules.length - 1];
    if (last.maxBatch !== Infinity || (last.minN ?? 0) !== 0)
      throw invalid('BAD_ARGUMENT', `kernel table["${arch}"]`, 'a last rule with maxBatch: Infinity and no minN (a catch-all)', rules);
  }
}

/** The tile for a call of `m` rows and `n` output columns on `arch` (e.g. "sm_90"). */
export function selectTile(m: number, n: number, arch: string, kernels: KernelTable = table): Tile {
  if (!isPositiveInteger(m)) throw invalid('BAD_SHAPE', 'm (batch)', 'a positive integer', m);
  if (!isPositiveInteger(n)) throw invalid('BAD_SHAPE', 'n (output features)', 'a positive integer', n);
  const rules = kernels[arch] ?? kernels.default;
  const rule = rules?.find((r) => m <= r.maxBatch && n >= (r.minN ?? 0));
  if (!rule) throw new MarlinError('BAD_ARGUMENT', `the kernel table has no rule for m=${m}, n=${n} on ${arch}`);
  return { tileK: rule.tileK, tileN: rule.tileN };
}
