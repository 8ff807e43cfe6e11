/**
 * Act-order (lib/act-order.ts): the kernel row order built from gIdx, and
 * the weights moved into it. The order must hold every input row exactly
 * once, each group's rows together in whole kernel groups (padding with -1
 * at the end of a group's last kernel group and at the end of k), and the
 * moved weights must compute the same x W once x's columns are gathered.
 */
import { kernelOrder, toKernelOrder, trivialGroups } from '../../lib/act-order';
import { fromHalf, toHalf } from '../../lib/fp16';
import { type QuantizedWeights, dequantize } from '../../lib/quantize';
import { K_MULTIPLE } from '../../lib/shapes';
import { SEED, nibbles, rng, uniform } from '../helpers/random';

const random = rng(SEED + 80);

function shuffled(values: Int32Array): Int32Array {
  const g = values.slice();
  for (let i = g.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [g[i], g[j]] = [g[j], g[i]];
  }
  return g;
}

/** gIdx with `counts[g]` rows in group g, in a random order. */
function groupsOfSizes(counts: readonly number[]): Int32Array {
  const g: number[] = [];
  counts.forEach((count, group) => {
    for (let i = 0; i < count; i++) g.push(group);
  });
  return shuffled(Int32Array.from(g));
}

/** Every property the kernel relies on, with the first broken one in the message. */
function checkOrder(gIdx: Int32Array, groups: number, groupSize: number): void {
  const { rows, groupOf, kernelK } = kernelOrder(gIdx, groups, groupSize);
  const k = gIdx.length;
  const counts = new Array<number>(groups).fill(0);
  for (const g of gIdx) counts[g]++;
  const needed = counts.reduce((sum, c) => sum + Math.ceil(c / groupSize) * groupSize, 0);

  // size: whole pipeline stages, just enough for every group's kernel groups
  expect(kernelK % K_MULTIPLE).toBe(0);
  expect(kernelK).toBe(Math.max(K_MULTIPLE, Math.ceil(needed / K_MULTIPLE) * K_MULTIPLE));
  expect(rows.length).toBe(kernelK);
  expect(groupOf.length).toBe(kernelK / groupSize);

  // every input row exactly once; everything else -1
  const seen = new Array<number>(k).fill(0);
  for (const r of rows) {
    expect(r >= -1 && r < k).toBe(true);
    if (r >= 0) seen[r]++;
  }
  expect(seen.every((c) => c === 1)).toBe(true);
  expect(rows.filter((r) => r === -1).length).toBe(kernelK - k);

  // each kernel group holds rows of its group only, real rows first, in input order
  const kernelGroupsOf = new Array<number>(groups).fill(0);
  for (let kg = 0; kg < kernelK / groupSize; kg++) {
    const span = [...rows.subarray(kg * groupSize, (kg + 1) * groupSize)];
    const real = span.filter((r) => r >= 0);
    if (real.length === 0) continue; // padding at the end of k
    kernelGroupsOf[groupOf[kg]]++;
    expect(real.every((r) => gIdx[r] === groupOf[kg])).toBe(true);
    expect(span.slice(0, real.length)).toEqual(real); // padding only after the real rows
    expect(real).toEqual([...real].sort((a, b) => a - b));
  }
  // whole kernel groups per group, and contiguous: a group's kernel groups are adjacent
  for (let g = 0; g < groups; g++) expect(kernelGroupsOf[g]).toBe(Math.ceil(counts[g] / groupSize));
  let last = -1;
  const finished = new Set<number>();
  for (let kg = 0; kg < kernelK / groupSize; kg++) {
    if (rows[kg * groupSize] < 0) continue;
    const g = groupOf[kg];
    if (g !== last) {
      expect(finished.has(g)).toBe(false);
      if (last >= 0) finished.add(last);
      last = g;
    }
  }
  // padding only at the end of a group's last kernel group, or after every group
  const realGroups = kernelGroupsOf.reduce((a, b) => a + b, 0);
  for (let kg = realGroups; kg < kernelK / groupSize; kg++)
    expect(rows.subarray(kg * groupSize, (kg + 1) * groupSize).every((r) => r === -1)).toBe(true);
}

describe(`kernelOrder (seed ${SEED})`, () => {
  test.each([32, 64, 128])('a shuffled row / groupSize, group size %i', (groupSize) => {
    const k = 512;
    const gIdx = shuffled(Int32Array.from({ length: k }, (_, r) => Math.floor(r / groupSize)));
    checkOrder(gIdx, k / groupSize, groupSize);
    // equal, full groups: no padding at all
    expect(kernelOrder(gIdx, k / groupSize, groupSize).kernelK).toBe(k);
  });

  test('unequal groups: 200 and 56 rows in kernel groups of 128', () => {
    const gIdx = groupsOfSizes([200, 56]);
    checkOrder(gIdx, 2, 128);
    const { rows, groupOf, kernelK } = kernelOrder(gIdx, 2, 128);
    // group 0: two kernel groups (200 rows + 56 padding); group 1: one (56 rows + 72 padding)
    expect(kernelK).toBe(384);
    expect([...groupOf]).toEqual([0, 0, 1]);
    expect(rows.subarray(0, 200).every((r) => r >= 0 && gIdx[r] === 0)).toBe(true);
    expect(rows.subarray(200, 256).every((r) => r === -1)).toBe(true);
    expect(rows.subarray(256, 312).every((r) => r >= 0 && gIdx[r] === 1)).toBe(true);
    expect(rows.subarray(312, 384).every((r) => r === -1)).toBe(true);
  });

  test('many small unequal groups, padding at the end of k, and an empty group', () => {
    // 5 groups of 10, 33, 0, 64, 1 rows in groups of 32: 1 + 2 + 0 + 2 + 1 = 6 kernel groups = 192 rows -> 256
    const gIdx = groupsOfSizes([10, 33, 0, 64, 1]);
    checkOrder(gIdx, 5, 32);
    const { kernelK, groupOf, rows } = kernelOrder(gIdx, 5, 32);
    expect(kernelK).toBe(256);
    expect([...groupOf.subarray(0, 6)]).toEqual([0, 1, 1, 3, 3, 4]);
    expect(rows.subarray(192).every((r) => r === -1)).toBe(true);
  });

  test('a tiny layer still gets one whole 128-row stage', () => {
    const gIdx = groupsOfSizes([3, 2]);
    checkOrder(gIdx, 2, 64);
    expect(kernelOrder(gIdx, 2, 64).kernelK).toBe(128);
  });

  test('random group assignments of many sizes', () => {
    for (let trial = 0; trial < 20; trial++) {
      const groups = 1 + Math.floor(random() * 9);
      const k = 16 + Math.floor(random() * 600);
      const gIdx = Int32Array.from({ length: k }, () => Math.floor(random() * groups));
      const groupSize = [32, 64, 128][trial % 3];
      checkOrder(gIdx, groups, groupSize);
    }
  });
});

describe('trivialGroups', () => {
  test('recognises row / groupSize and nothing else', () => {
    const k = 256;
    for (const groupSize of [32, 64, 128] as const) {
      const plain = Int32Array.from({ length: k }, (_, r) => Math.floor(r / groupSize));
      expect(trivialGroups(plain, groupSize)).toBe(true);
      const swapped = plain.slice();
      [swapped[0], swapped[k - 1]] = [swapped[k - 1], swapped[0]];
      expect(trivialGroups(swapped, groupSize)).toBe(false);
      const shifted = Int32Array.from({ length: k }, (_, r) => Math.floor((r + 1) / groupSize));
      expect(trivialGroups(shifted, groupSize)).toBe(false);
      // right for another group size is wrong for this one
      expect(trivialGroups(Int32Array.from({ length: k }, (_, r) => Math.floor(r / 32)), groupSize)).toBe(groupSize === 32);
    }
    expect(trivialGroups(new Int32Array(k), -1)).toBe(true);
    const notZero = new Int32Array(k);
    notZero[9] = 1;
    expect(trivialGroups(notZero, -1)).toBe(false);
  });
});

describe(`toKernelOrder (seed ${SEED})`, () => {
  const n = 64;

  for (const [bits, zeroPoints] of [
    [4, false],
    [4, true],
    [8, false],
    [8, true],
  ] as const) {
    test(`${bits}-bit ${zeroPoints ? 'with zero points' : 'symmetric'}: rows move, scales and zeros repeat per kernel group, padding is zero weight`, () => {
      const counts = [200, 56, 70];
      const groupSize = 64;
      const gIdx = groupsOfSizes(counts);
      const k = gIdx.length;
      const groups = counts.length;
      const maxq = (1 << bits) - 1;
      const q = bits === 4 ? nibbles(k * n, random) : Uint8Array.from({ length: k * n }, () => Math.floor(random() * 256));
      const scales = toHalf(uniform(groups * n, random, 0.1));
      const zeros = zeroPoints ? Uint8Array.from({ length: groups * n }, () => Math.floor(random() * (maxq + 1))) : undefined;
      const quantized: QuantizedWeights = { q, scales, inFeatures: k, outFeatures: n, groupSize, bits, gIdx, ...(zeros ? { zeros } : {}) };

      const order = kernelOrder(gIdx, groups, groupSize);
      const moved = toKernelOrder(quantized, bits, order);
      const { rows, groupOf, kernelK } = order;
      expect(moved.q.length).toBe(kernelK * n);
      expect(moved.scales.length).toBe((kernelK / groupSize) * n);
      expect(moved.zeros?.length).toBe(zeros ? (kernelK / groupSize) * n : undefined);

      const zeroOf = (kg: number, col: number) => (moved.zeros ? moved.zeros[kg * n + col] : 1 << (bits - 1));
      for (let kg = 0; kg < kernelK / groupSize; kg++) {
        const src = groupOf[kg];
        expect([...moved.scales.subarray(kg * n, (kg + 1) * n)]).toEqual([...scales.subarray(src * n, (src + 1) * n)]);
        if (zeros) expect([...moved.zeros!.subarray(kg * n, (kg + 1) * n)]).toEqual([...zeros.subarray(src * n, (src + 1) * n)]);
      }
      for (let r = 0; r < kernelK; r++) {
        const row = [...moved.q.subarray(r * n, (r + 1) * n)];
        if (rows[r] >= 0) expect(row).toEqual([...q.subarray(rows[r] * n, (rows[r] + 1) * n)]);
        else expect(row).toEqual(row.map((_, col) => zeroOf(Math.floor(r / groupSize), col))); // q = z: weight 0
      }

      // The same product: x W over input rows == gathered x times the kernel-order weights.
      const x = uniform(k, random);
      const w = dequantize(quantized);
      const s = fromHalf(moved.scales);
      const direct = new Float64Array(n);
      const gathered = new Float64Array(n);
      for (let row = 0; row < k; row++) for (let col = 0; col < n; col++) direct[col] += x[row] * w[row * n + col];
      for (let r = 0; r < kernelK; r++) {
        const xr = rows[r] >= 0 ? x[rows[r]] : 0;
        const kg = Math.floor(r / groupSize);
        for (let col = 0; col < n; col++) {
          const wk = (moved.q[r * n + col] - zeroOf(kg, col)) * s[kg * n + col];
          if (rows[r] < 0) expect(wk === 0).toBe(true); // +0 or -0 (negative scales)
          gathered[col] += xr * wk;
        }
      }
      for (let col = 0; col < n; col++) expect(gathered[col]).toBeCloseTo(direct[col], 10);
    });
  }
});
