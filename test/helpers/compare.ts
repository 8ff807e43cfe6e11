/**
 * Bit-exact comparison of typed arrays, fast on millions of elements
 * (jest's toEqual walks element by element).
 */
type Typed = Uint8Array | Uint16Array | Int32Array | Uint32Array | Float32Array | Float64Array;

/** Index of the first element that differs (or the shorter length), -1 if identical. */
export function firstDifference(a: Typed, b: Typed): number {
  const ba = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  const bb = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (ba.equals(bb)) return -1;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return i;
  return n;
}
