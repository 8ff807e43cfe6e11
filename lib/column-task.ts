/**
 * One worker thread's share of quantizing (and packing) a layer: a range
 * of columns. quantize-async.ts builds the tasks and sends each its rows;
 * worker.ts runs them with runColumnTask. A task's weights, results and
 * packed arrays hold only its own columns, in plain ArrayBuffers
 * transferred back at the end (not copied). Its rows come through a ring
 * shared with the event loop's thread (lib/row-ring.ts), or, where the
 * caller's weights are on a SharedArrayBuffer, are read in place.
 */
import { type LayerPlan, type PackFinding, type PackedArrays, packGroupColumns, packLayerColumns, packWeightRows, packedLengths } from './pack-layer';
import type { RingSpec } from './row-ring';
import { type RowBlock, type RowSource, type RtnFinding, type RtnProblem, blockRows, quantizeColumns, rowBlocks } from './rtn';

export type WeightType = 'float32' | 'float64';

/** Where a task's weights come from. */
export type TaskWeights =
  /** The caller's [k, n] matrix on a SharedArrayBuffer, read in place. */
  | { shared: { buffer: SharedArrayBuffer; byteOffset: number; length: number; type: WeightType } }
  /** This task's columns, row after row, through a ring the event loop's thread writes. */
  | { ring: RingSpec };

export interface ColumnTask {
  c0: number;
  c1: number;
  problem: RtnProblem;
  weights: TaskWeights;
  /** Also pack the columns (quantizeAndPackAsync). */
  plan?: LayerPlan;
}

/**
 * What a task produced: its columns of q [k, width], scales and zero
 * points [groups, width], and of the packed arrays (see PackedOutput), or
 * the first problem it found.
 */
export interface ColumnTaskResult {
  finding?: RtnFinding | PackFinding;
  q?: Uint8Array;
  scales?: Uint16Array;
  zeros?: Uint8Array;
  packed?: PackedArrays;
}

export const weightType = (w: Float32Array | Float64Array): WeightType => (w instanceof Float64Array ? 'float64' : 'float32');

/**
 * Runs a task over the rows `rows` gives; progress gets the elements done
 * (see rtnWork and packWork). Packing without act-order packs each block
 * of rows (a group) as soon as it is quantized, from a q of that block
 * only: no q of the whole share is made (235 MB of page faults for a 70B
 * MLP layer, on one thread), and the block's rows are still in cache.
 */
export function runColumnTask(task: ColumnTask, rows: RowSource, progress: (elements: number) => void): ColumnTaskResult {
  const { c0, c1, problem, plan } = task;
  const width = c1 - c0;
  const scales = new Uint16Array(problem.groups * width);
  const zeros = problem.zeroPoints ? new Uint8Array(problem.groups * width) : undefined;
  if (!plan) {
    const q = new Uint8Array(problem.k * width);
    const found = quantizeColumns(rows, problem, { q, scales, zeros, stride: width, col0: c0 }, c0, c1, progress);
    return found ? { finding: found } : { q, scales, zeros };
  }
  const lengths = packedLengths(plan, width);
  const packed: PackedArrays = {
    packedWeights: new Int32Array(lengths.weights),
    packedScales: new Uint16Array(lengths.scales),
    packedZeros: plan.format.zeroPoints ? new Int32Array(lengths.zeros) : undefined,
  };
  const out = { ...packed, stride: width, col0: c0 };
  const byBlock = !plan.rows && rowBlocks(problem).every((b) => b.from % 16 === 0 && b.to % 16 === 0);
  const qRows = byBlock ? blockRows(problem) : problem.k;
  const quantized = { q: new Uint8Array(qRows * width), scales, zeros, stride: width, col0: c0, blockRows: byBlock };
  let packFound: PackFinding | undefined;
  const packBlock = (block: RowBlock): boolean => {
    packFound = packWeightRows(plan, { ...quantized, row0: block.from }, out, c0, c1, block.from, block.to, progress);
    return packFound === undefined;
  };
  const found = quantizeColumns(rows, problem, quantized, c0, c1, progress, byBlock ? packBlock : undefined);
  if (found) return { finding: found };
  packFound ??= byBlock ? packGroupColumns(plan, quantized, out, c0, c1) : packLayerColumns(plan, quantized, out, c0, c1, progress);
  return packFound ? { finding: packFound } : { packed };
}

/** The ArrayBuffers of a result, to transfer rather than copy. */
export function resultBuffers(result: ColumnTaskResult): ArrayBuffer[] {
  const arrays = [result.q, result.scales, result.zeros, result.packed?.packedWeights, result.packed?.packedScales, result.packed?.packedZeros];
  return arrays.filter((a) => a !== undefined).map((a) => a.buffer as ArrayBuffer);
}
