/**
 * The published Marlin packing, re-derived step by step from its
 * description (the reference tools' Layer.pack), independently of
 * lib/layout.ts, so that tests can check our packer bit for bit against it.
 *
 * 1. Cut the [k, n] matrix into 16x16 tiles; each k16 row of tiles becomes a
 *    row of n * 16 values, tile after tile, each tile row-major.
 * 2. Within every run of 4 tiles (1024 values), reorder by a permutation:
 *    lane i (0..31) takes, from tiles j = 0..3, the values at tile rows
 *    2(i%4), 2(i%4)+1, 2(i%4)+8, 2(i%4)+9 of tile column i/4, then the same
 *    rows of tile column i/4 + 8; each group of 8 is then interleaved as
 *    positions 0, 2, 4, 6, 1, 3, 5, 7.
 * 3. Pack each 8 consecutive values into one 32-bit word, value v at bits 4v.
 * Scales: groups of 64 (grouped) take value i + 8j at position 8i + j;
 * per-channel groups of 32 take 2i + [0,1,8,9,16,17,24,25][j] at 8i + j.
 */

function lanePermutation(): number[] {
  const perm: number[] = [];
  for (let lane = 0; lane < 32; lane++) {
    const tileCol = Math.floor(lane / 4);
    const base = lane % 4;
    const inTile: number[] = [];
    for (const half of [0, 1])
      for (const tileRow of [2 * base, 2 * base + 1, 2 * (base + 4), 2 * (base + 4) + 1])
        inTile.push(16 * tileRow + tileCol + 8 * half);
    for (let tile = 0; tile < 4; tile++) perm.push(...inTile.map((p) => p + 256 * tile));
  }
  const interleave = [0, 2, 4, 6, 1, 3, 5, 7];
  const out: number[] = [];
  for (let g = 0; g < perm.length; g += 8) for (const i of interleave) out.push(perm[g + i]);
  return out;
}

export function publishedPackWeights(q: Uint8Array, k: number, n: number): Int32Array {
  const perm = lanePermutation();
  const rowLength = n * 16;
  const words = new Int32Array((k / 16) * (rowLength / 8));
  const tiled = new Uint8Array(rowLength);
  for (let kb = 0; kb < k / 16; kb++) {
    // step 1: tiles of this k16 row, each row-major
    for (let tile = 0; tile < n / 16; tile++)
      for (let r = 0; r < 16; r++)
        for (let c = 0; c < 16; c++) tiled[tile * 256 + r * 16 + c] = q[(kb * 16 + r) * n + tile * 16 + c];
    // steps 2 and 3
    for (let chunk = 0; chunk < rowLength / 1024; chunk++) {
      for (let p = 0; p < 1024; p++) {
        const value = tiled[chunk * 1024 + perm[p]];
        const position = chunk * 1024 + p;
        words[kb * (rowLength / 8) + (position >> 3)] |= value << (4 * (position & 7));
      }
    }
  }
  return words;
}

export function publishedPackScales(scales: Uint16Array, perChannel: boolean): Uint16Array {
  const perm: number[] = [];
  if (perChannel) {
    for (let i = 0; i < 4; i++) for (const j of [0, 1, 8, 9, 16, 17, 24, 25]) perm.push(2 * i + j);
  } else {
    for (let i = 0; i < 8; i++) for (let j = 0; j < 8; j++) perm.push(i + 8 * j);
  }
  const out = new Uint16Array(scales.length);
  for (let start = 0; start < scales.length; start += perm.length)
    for (let p = 0; p < perm.length; p++) out[start + p] = scales[start + perm[p]];
  return out;
}
