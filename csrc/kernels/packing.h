// Where the Marlin layout puts each value (host and device). The same
// mapping is written out in lib/layout.ts, which packs; tests check the two
// against each other (dequantize on the GPU vs the CPU unpacker).
//
// Weights: one k16 row of B per 16 rows of W; within it, per 64 columns,
// 32 lanes (g = lane / 4, t = lane % 4) x 4 words (4 bits) or 2 parts x 32
// lanes x 4 words (8 bits), in the order of mma/dequant.cuh.
// Scales, grouped: per 64 columns, packed position 8i + j holds column i + 8j.
// Scales, one group per column: per 32 columns, packed position 8i + j holds
// column 2i + [0, 1, 8, 9, 16, 17, 24, 25][j].
// Zero points (per group row, per 64 columns): one byte each whatever the
// weight width; word 2g + i / 4, byte i % 4 holds column g + 8i.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define MARLIN_PACKING_FN __host__ __device__ inline
#else
#define MARLIN_PACKING_FN inline
#endif

namespace marlin::packing {

// 32-bit word of B and bit shift of weight (row, col) of an [k, n] matrix.
MARLIN_PACKING_FN void weight_position(int row, int col, int n, int bits, std::int64_t* word, int* shift) {
  const int r = row & 15;
  const int cc = col & 15;
  const int j = (col >> 4) & 3;    // n16 block within the 64 columns
  const int h = cc >> 3;           // n8 half
  const int lane = (cc & 7) * 4 + ((r & 7) >> 1);
  if (bits == 4) {
    *word = static_cast<std::int64_t>(row >> 4) * 2 * n + (col >> 6) * 128 + lane * 4 + j;
    *shift = 4 * ((r & 1) * 4 + h * 2 + (r >> 3));
  } else {
    *word =
        static_cast<std::int64_t>(row >> 4) * 4 * n + (col >> 6) * 256 + (j >> 1) * 128 + lane * 4 + (j & 1) * 2 + h;
    *shift = 8 * ((r & 1) * 2 + (r >> 3));
  }
}

// The inverse of weight_position within one k16 row of B: field `field`
// (0 .. 32/bits - 1, from the lowest bits) of word `word` (0 .. n*bits/2 - 1,
// counted from the start of that row of words) holds weight (*row, *col),
// *row in 0..15 counted from the block's first row. Derived term by term
// from weight_position, so that a packer can build each output word from
// its sources instead of scattering values:
//   4 bits: word = unit*128 + lane*4 + j, field = (r&1)*4 + h*2 + (r>>3)
//   8 bits: word = unit*256 + (j>>1)*128 + lane*4 + (j&1)*2 + h,
//           field = (r&1)*2 + (r>>3)
// with lane = 4*(col&7) + ((r&7)>>1), j = (col>>4)&3, h = (col>>3)&1.
// weight_position(block*16 + *row, *col, n, bits) gives back
// (block*n*bits/2 + word, bits*field); the CPU tests check every word.
MARLIN_PACKING_FN void weight_source(int word, int field, int bits, int* row, int* col) {
  if (bits == 4) {
    const int unit = word >> 7;
    const int lane = (word & 127) >> 2;
    const int j = word & 3;
    const int t = lane & 3;  // rows 2t, 2t+1, 2t+8, 2t+9
    const int g = lane >> 2; // columns g, g+8
    const int h = (field >> 1) & 1;
    *row = (field & 1) * 8 + 2 * t + (field >> 2);
    *col = unit * 64 + j * 16 + h * 8 + g;
  } else {
    const int unit = word >> 8;
    const int part = (word & 255) >> 7;
    const int lane = (word & 127) >> 2;
    const int j = part * 2 + ((word & 3) >> 1);
    const int h = word & 1;
    const int t = lane & 3;
    const int g = lane >> 2;
    *row = (field & 1) * 8 + 2 * t + (field >> 1);
    *col = unit * 64 + j * 16 + h * 8 + g;
  }
}

// Packed position of scale column `col` within its row.
MARLIN_PACKING_FN int scale_position(int col, int group_size) {
  if (group_size < 0) {
    const int c = col & 31;
    return (col & ~31) + 8 * ((c & 7) >> 1) + 2 * (c >> 3) + (c & 1);
  }
  const int c = col & 63;
  return (col & ~63) + 8 * (c & 7) + (c >> 3);
}

// 32-bit word (within its row of n / 4) and bit shift of the zero point of
// column `col`.
MARLIN_PACKING_FN void zero_position(int col, int* word, int* shift) {
  const int i = (col & 63) >> 3;
  *word = (col >> 6) * 16 + 2 * (col & 7) + (i >> 2);
  *shift = 8 * (i & 3);
}

}  // namespace marlin::packing
