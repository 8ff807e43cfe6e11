// The work split of the mma family ("stripes") and the per-thread and
// per-slice coordinates that the main loop and the epilogue share.
//
// For P problems of up to kRows rows each (m > kRows runs as ceil(m / kRows)
// problems side by side), the tiles of B are numbered column slice by column
// slice, top to bottom:
//   t = (problem * n_tiles + column) * k_tiles + k_tile
// and block b takes the contiguous run [b * iters, (b + 1) * iters). With 5
// blocks over 3 columns of 3 k-tiles (iters = 2) the tiles fall as
//      col 0  col 1  col 2
//        0      1      3
//        0      2      3
//        1      2      4
// so every SM streams the same number of weight bytes whatever the shape.
// A column shared by several blocks is summed in FP32 (epilogue.cuh).
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>

#include "kernel_args.h"
#include "layout.cuh"

namespace marlin::mma {

// Calls fn(std::integral_constant<int, I>) for I = 0..N-1: a loop whose index
// is a compile-time constant (template arguments, immediate operands).
template <class Fn, int... Is>
__device__ __forceinline__ void unroll_impl(Fn&& fn, std::integer_sequence<int, Is...>) {
  (fn(std::integral_constant<int, Is>{}), ...);
}
template <int N, class Fn>
__device__ __forceinline__ void unroll(Fn&& fn) {
  unroll_impl(fn, std::make_integer_sequence<int, N>{});
}

// Where this thread sits in its block.
template <class L>
struct ThreadPos {
  int tid;
  int lane;
  int warp_n;  // which 64 columns of the tile
  int warp_k;  // which share of the stage's k16 blocks
  int g;       // mma fragment row (A, C) / column (B)
  int t;       // mma fragment column pair (A, C) / row pair (B)

  __device__ __forceinline__ static ThreadPos here() {
    ThreadPos p;
    p.tid = threadIdx.x;
    p.lane = p.tid % 32;
    p.warp_n = (p.tid / 32) % L::kWarpsN;
    p.warp_k = (p.tid / 32) / L::kWarpsN;
    p.g = p.lane / 4;
    p.t = p.lane % 4;
    return p;
  }
};

// The block's run of tiles and the slice (one column slice of one problem)
// that starts at tile `pos` of it.
template <class L>
struct Slice {
  int column;        // problem * n_tiles + column slice
  int col;           // column slice within the problem
  int problem;
  int rows;          // valid rows of this problem (<= kRows)
  int chunks;        // valid 64-column units of this column slice (<= kWarpsN)
  int k_first;       // first k tile of the slice
  int tiles;         // k tiles of the slice in this block's run
  int top_block;     // the block holding the column's top rows
  int bottom_block;  // the block holding its bottom rows
  int count;         // blocks sharing the column
  bool last;         // this block is the top one: it finishes and writes the column

  __device__ __forceinline__ static Slice at(const KernelArgs& args, int pos, int run_end, int iters) {
    // Every quantity here is >= 0: unsigned divisions, which the GPU does
    // in fewer instructions than signed ones (no sign fix-ups), matter at
    // the start of every slice.
    const unsigned k_tiles = static_cast<unsigned>(args.k) / L::kTileK;
    const unsigned n_tiles = (static_cast<unsigned>(args.n) + L::kTileN - 1) / L::kTileN;
    const unsigned upos = static_cast<unsigned>(pos);
    const unsigned column = upos / k_tiles;
    Slice s;
    s.column = static_cast<int>(column);
    s.k_first = static_cast<int>(upos - column * k_tiles);
    s.tiles = min(run_end, static_cast<int>((column + 1) * k_tiles)) - pos;
    s.problem = static_cast<int>(column / n_tiles);
    s.col = static_cast<int>(column - static_cast<unsigned>(s.problem) * n_tiles);
    s.rows = min(L::kRows, args.m - s.problem * L::kRows);
    s.chunks = min(L::kWarpsN, args.n / 64 - s.col * L::kWarpsN);
    s.top_block = static_cast<int>(column * k_tiles / static_cast<unsigned>(iters));
    s.bottom_block = static_cast<int>((column * k_tiles + k_tiles - 1) / static_cast<unsigned>(iters));
    s.count = s.bottom_block - s.top_block + 1;
    s.last = static_cast<int>(blockIdx.x) == s.top_block;
    return s;
  }
};

// Accumulators of one thread: [m16 block][n16 block][n8 half][mma C registers].
template <class L>
using Accumulators = float[L::kMBlocks][4][2][4];

__device__ __forceinline__ void add_to(float4& sum, const float4& v) {
  sum.x += v.x;
  sum.y += v.y;
  sum.z += v.z;
  sum.w += v.w;
}

}  // namespace marlin::mma
