/**
 * Seeded random data for tests: fresh each run, reproducible on failure by
 * setting MARLIN_TEST_SEED to the seed a failing run printed.
 */
const envSeed = Number(process.env.MARLIN_TEST_SEED);
export const SEED = Number.isInteger(envSeed) ? envSeed : (Math.random() * 2 ** 31) | 0;

/** mulberry32: small, fast, good enough for test data. */
export function rng(seed: number = SEED): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform values in [-scale, scale). */
export function uniform(length: number, random: () => number, scale = 1): Float32Array {
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = (random() * 2 - 1) * scale;
  return out;
}

/** Random 4-bit values 0..15. */
export function nibbles(length: number, random: () => number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (random() * 16) | 0;
  return out;
}

/** Distinct sorted row indices: first, last and `extra` random ones. */
export function sampleRows(m: number, extra: number, random: () => number): number[] {
  const rows = new Set([0, m - 1]);
  while (rows.size < Math.min(m, extra + 2)) rows.add((random() * m) | 0);
  return [...rows].sort((a, b) => a - b);
}
