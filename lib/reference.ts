/**
 * Float64 CPU reference for tests and correctness checks.
 */

/**
 * C = A B in float64 for the listed rows of A (all rows by default).
 * A is [m, k] and B [k, n], both row-major; the result has one row of n per
 * listed row.
 *
 * @param a - A, [m, k] row-major.
 * @param b - B, [k, n] row-major.
 * @param m - Rows of A.
 * @param k - Columns of A, rows of B.
 * @param n - Columns of B.
 * @param rows - Rows of A to compute, in output order (default: all m).
 */
export function referenceMatmul(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  m: number,
  k: number,
  n: number,
  rows?: readonly number[],
): Float64Array {
  const which = rows ?? Array.from({ length: m }, (_, i) => i);
  const out = new Float64Array(which.length * n);
  const bf = b instanceof Float64Array ? b : Float64Array.from(b);
  which.forEach((row, r) => {
    const acc = out.subarray(r * n, (r + 1) * n);
    for (let kk = 0; kk < k; kk++) {
      const x = a[row * k + kk];
      if (x === 0) continue;
      const bRow = kk * n;
      for (let j = 0; j < n; j++) acc[j] += x * bf[bRow + j];
    }
  });
  return out;
}

/**
 * C = A dequant(q, scales) in float64 for the listed rows of A, straight
 * from quantized weights (no [k, n] float64 copy of a large layer):
 * weight (row, col) = (q - 8) * scale[group(row), col]. q is [k, n]
 * row-major, scales [groups, n] FP32 values in natural order.
 *
 * @param a - A, [m, k] row-major.
 * @param q - Quantized weights, [k, n] row-major: weight = (q - 8) * scale.
 * @param scales - [groups, n] row-major scale values.
 * @param m - Rows of A.
 * @param k - Columns of A, rows of q.
 * @param n - Columns of q.
 * @param groupSize - Rows of q per scale group, or -1 for one group.
 * @param rows - Rows of A to compute, in output order (default: all m).
 */
export function referenceQuantizedMatmul(
  a: ArrayLike<number>,
  q: Uint8Array,
  scales: ArrayLike<number>,
  m: number,
  k: number,
  n: number,
  groupSize: number,
  rows?: readonly number[],
): Float64Array {
  const which = rows ?? Array.from({ length: m }, (_, i) => i);
  const rowsPerGroup = groupSize === -1 ? k : groupSize;
  const out = new Float64Array(which.length * n);
  const partial = new Float64Array(n);
  which.forEach((row, r) => {
    const acc = out.subarray(r * n, (r + 1) * n);
    for (let g = 0; g < k / rowsPerGroup; g++) {
      partial.fill(0);
      for (let kk = g * rowsPerGroup; kk < (g + 1) * rowsPerGroup; kk++) {
        const x = a[row * k + kk];
        if (x === 0) continue;
        const qRow = kk * n;
        for (let j = 0; j < n; j++) partial[j] += x * (q[qRow + j] - 8);
      }
      for (let j = 0; j < n; j++) acc[j] += partial[j] * scales[g * n + j];
    }
  });
  return out;
}

/**
 * ||actual - expected|| / ||expected|| (Frobenius); NaN if either holds a NaN.
 *
 * @param actual - The values to check.
 * @param expected - The reference, of the same length (RangeError otherwise).
 */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new RangeError(`length ${actual.length} != ${expected.length}`);
  let diff = 0;
  let ref = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = actual[i] - expected[i];
    diff += d * d;
    ref += expected[i] * expected[i];
  }
  return Math.sqrt(diff) / Math.sqrt(ref);
}
