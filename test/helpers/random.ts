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

/**
 * `count` random 32-bit words from one draw of `random` as seed, by an
 * inline xorshift: a closure call per element is ~50x slower under jest,
 * which matters for layers of 90 million weights.
 */
function randomWords(count: number, random: () => number): Uint32Array {
  const out = new Uint32Array(count);
  let x = (random() * 4294967296) >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x >>> 0;
  }
  return out;
}

/** Uniform values in [-scale, scale). */
export function uniform(length: number, random: () => number, scale = 1): Float32Array {
  const words = randomWords(length, random);
  const out = new Float32Array(length);
  const step = (2 * scale) / 4294967296;
  for (let i = 0; i < length; i++) out[i] = words[i] * step - scale;
  return out;
}

/** Random 4-bit values 0..15. */
export function nibbles(length: number, random: () => number): Uint8Array {
  const words = randomWords(Math.ceil(length / 8), random);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (words[i >> 3] >>> (4 * (i & 7))) & 15;
  return out;
}

/** Distinct sorted row indices: first, last and `extra` random ones. */
export function sampleRows(m: number, extra: number, random: () => number): number[] {
  const rows = new Set([0, m - 1]);
  while (rows.size < Math.min(m, extra + 2)) rows.add((random() * m) | 0);
  return [...rows].sort((a, b) => a - b);
}
