// GPTQ / AWQ qweight -> Marlin layout (see repack.h), bandwidth-bound.
//
// One thread block makes one tile: the 16 kernel rows of a k16 block (one
// row of output words) by up to kTileCols columns. Two steps:
//   1. load: the tile's source words are read coalesced (consecutive
//      threads read consecutive words: GPTQ along n, four columns per
//      thread in one 16-byte load; AWQ along n, one word per thread) and unpacked into a byte per value
//      in shared memory, tile[row][col];
//   2. pack: each thread makes 4 consecutive output words (one 16-byte
//      store; consecutive threads, consecutive stores) by asking
//      packing::weight_source which (row, col) each field holds: the
//      inverse of weight_position, so packing.h stays the one statement of
//      the layout.
// The output row is contiguous in memory (tile_word0 .. + cols * bits / 2),
// so reads and writes each move the tile's bytes once. Act-order reads one
// source word per (kernel row, column) instead of one per 32 / bits rows:
// the word holding row rows[r] of its column; the words of a layer are
// reused from L2 across the rows that share them, so the act-order path
// moves 32 / bits times the source's bytes from L2 (see perf-notes, run 16).
//
// The tile functions below are __host__ __device__: the host path runs the
// same ones over a host tile, so the CPU tests check the kernel's code.
#include <cstdint>
#include <vector>

#include "delay.h"
#include "packing.h"
#include "repack.h"

#if defined(__CUDACC__)
#define MARLIN_REPACK_FN __host__ __device__ inline
#else
#define MARLIN_REPACK_FN inline
#endif

namespace marlin {
namespace {

constexpr int kTileRows = 16;
constexpr int kTileCols = 512;
// Row stride of the shared tile in bytes: 4 more than a row, so rows 2t and
// 2t + 1 that one warp reads in step 2 start in different banks.
constexpr int kTileStride = kTileCols + 4;
constexpr int kThreads = 256;

// Column (within its word's 32 / bits columns) held by field j of an AWQ
// word: 4 bits 0 2 4 6 1 3 5 7, 8 bits 0 2 1 3: even columns first.
MARLIN_REPACK_FN int awq_column(int field, int bits) {
  return bits == 4 ? (field & 3) * 2 + (field >> 2) : (field & 1) * 2 + (field >> 1);
}

// Source row of kernel row r, or -1 for padding (also for a row map entry
// outside the source: nothing outside it is read, whatever rows holds).
MARLIN_REPACK_FN int source_row(const RepackArgs& a, int r) {
  const int s = a.rows ? a.rows[r] : r;
  return s >= 0 && s < a.k_in ? s : -1;
}

// The value of a padding row: the zero point of its kernel group (q = z is
// a weight of 0), or the symmetric one.
MARLIN_REPACK_FN unsigned pad_value(const RepackArgs& a, int r, int col) {
  if (!a.zeros) return 1u << (a.bits - 1);
  int word = 0, shift = 0;
  packing::zero_position(col, &word, &shift);
  const std::int64_t group = r / a.group_rows;
  return (a.zeros[group * (a.n / 4) + word] >> shift) & 0xffu;
}

// The tile functions take the width as a template argument (a.bits is the
// same): with it constant, the loops over fields unroll and each output
// word costs one address computation and 32 / Bits byte loads.

// GPTQ step 1 moves 4 adjacent columns per work item: one 16-byte load per
// source word, and per tile row one 4-byte shared store of their 4 values
// (byte e: column col + e). The act-order path is bound by instructions,
// not bytes (ncu: SM 84% busy, L2 43%), so fewer, wider ones are what count.
constexpr int kGptqCols = 4;

MARLIN_REPACK_FN void load_words(const std::uint32_t* p, std::uint32_t w[kGptqCols]) {
#if defined(__CUDA_ARCH__)
  const uint4 q = *reinterpret_cast<const uint4*>(p);  // 16-byte aligned: col % 4 == 0, n % 64 == 0
  w[0] = q.x;
  w[1] = q.y;
  w[2] = q.z;
  w[3] = q.w;
#else
  for (int e = 0; e < kGptqCols; ++e) w[e] = p[e];
#endif
}

MARLIN_REPACK_FN void store_values(std::uint8_t* dst, std::uint32_t v) {
#if defined(__CUDA_ARCH__)
  *reinterpret_cast<std::uint32_t*>(dst) = v;  // 4-byte aligned: kTileStride % 4 == 0
#else
  for (int e = 0; e < kGptqCols; ++e) dst[e] = static_cast<std::uint8_t>(v >> (8 * e));
#endif
}

// The field at `shift` of each of 4 words, one byte each.
template <int Bits>
MARLIN_REPACK_FN std::uint32_t fields(const std::uint32_t w[kGptqCols], int shift) {
  constexpr unsigned mask = (1u << Bits) - 1;
  std::uint32_t v = 0;
#pragma unroll
  for (int e = 0; e < kGptqCols; ++e) v |= ((w[e] >> shift) & mask) << (8 * e);
  return v;
}

// Act-order GPTQ work items take half a tile's rows: 8 loads of 16 bytes
// in flight per thread and every thread busy, where 16 rows per item left
// half the threads idle and cost occupancy (108 registers: 425 GB/s
// measured, against 456 with one column per thread).
constexpr int kPermutedRows = kTileRows / 2;

// Step 1 work items of a tile `cols` wide (a multiple of 64): GPTQ one per
// 4 columns (act-order: per 4 columns and half of the rows), AWQ one per
// (row, source word). Permuted: a.rows is set; a template argument, so that
// each path is compiled with its own register count.
template <int Bits, bool Permuted>
MARLIN_REPACK_FN int load_tasks(const RepackArgs& a, int cols) {
  if (a.layout == SourceLayout::kAwq) return kTileRows * (cols / (32 / Bits));
  return cols / kGptqCols * (Permuted ? kTileRows / kPermutedRows : 1);
}

// Step 1, work item `task` of the tile at k16 block `block`, column c0.
template <int Bits, bool Permuted>
MARLIN_REPACK_FN void load_task(const RepackArgs& a, int block, int c0, int cols, int task, std::uint8_t* tile) {
  constexpr int pf = 32 / Bits;
  constexpr unsigned mask = (1u << Bits) - 1;
  const int r0 = block * kTileRows;
  if (a.layout == SourceLayout::kGptq) {
    const int quads = cols / kGptqCols;
    const int col = c0 + kGptqCols * (task % quads);
    std::uint8_t* dst = tile + kGptqCols * (task % quads);  // tile row r at dst + r * kTileStride
    if constexpr (!Permuted) {
      // Rows r0 .. r0 + 15 are 16 / pf whole words of the column (r0 % 16 == 0).
      std::uint32_t w[kTileRows / pf][kGptqCols];
#pragma unroll
      for (int i = 0; i < kTileRows / pf; ++i)
        load_words(a.source + static_cast<std::int64_t>(r0 / pf + i) * a.n + col, w[i]);
#pragma unroll
      for (int i = 0; i < kTileRows / pf; ++i)
#pragma unroll
        for (int j = 0; j < pf; ++j) store_values(dst + (i * pf + j) * kTileStride, fields<Bits>(w[i], Bits * j));
    } else {
      // Act-order: tile rows r1 .. r1 + 7, each from anywhere. All 8 loads
      // are issued before any is used (a padding row loads row 0's words
      // and ignores them): 8 independent reads in flight, not a chain of
      // branch-then-load.
      const int r1 = task / quads * kPermutedRows;
      int s[kPermutedRows];
      std::uint32_t w[kPermutedRows][kGptqCols];
#pragma unroll
      for (int i = 0; i < kPermutedRows; ++i) s[i] = source_row(a, r0 + r1 + i);
#pragma unroll
      for (int i = 0; i < kPermutedRows; ++i)
        load_words(a.source + static_cast<std::int64_t>(s[i] < 0 ? 0 : s[i] / pf) * a.n + col, w[i]);
#pragma unroll
      for (int i = 0; i < kPermutedRows; ++i) {
        std::uint32_t v = 0;
        if (s[i] < 0) {
          for (int e = 0; e < kGptqCols; ++e) v |= pad_value(a, r0 + r1 + i, col + e) << (8 * e);
        } else {
          v = fields<Bits>(w[i], Bits * (s[i] % pf));
        }
        store_values(dst + (r1 + i) * kTileStride, v);
      }
    }
    return;
  }
  const int words = cols / pf;  // source words per tile row
  const int r = task / words;
  const int first = (task % words) * pf;  // tile column of the word's first column
  const int s = source_row(a, r0 + r);
  std::uint8_t* dst = tile + r * kTileStride + first;
  if (s < 0) {
    for (int j = 0; j < pf; ++j) dst[j] = static_cast<std::uint8_t>(pad_value(a, r0 + r, c0 + first + j));
    return;
  }
  const std::uint32_t w = a.source[static_cast<std::int64_t>(s) * (a.n / pf) + (c0 + first) / pf];
#pragma unroll
  for (int j = 0; j < pf; ++j) dst[awq_column(j, Bits)] = (w >> (Bits * j)) & mask;
}

// Step 2: output words 4q .. 4q + 3 of the tile at column c0 (its first
// word is c0 * bits / 2 within the block's row of words).
template <int Bits>
MARLIN_REPACK_FN void pack_quad(int c0, int q, const std::uint8_t* tile, std::uint32_t out[4]) {
  constexpr int pf = 32 / Bits;
  const int word0 = c0 * Bits / 2 + 4 * q;
#pragma unroll
  for (int e = 0; e < 4; ++e) {
    std::uint32_t v = 0;
#pragma unroll
    for (int f = 0; f < pf; ++f) {
      int row = 0, col = 0;
      packing::weight_source(word0 + e, f, Bits, &row, &col);
      v |= static_cast<std::uint32_t>(tile[row * kTileStride + col - c0]) << (Bits * f);
    }
    out[e] = v;
  }
}

// Output words of a tile `cols` wide, in quads.
template <int Bits>
MARLIN_REPACK_FN int pack_tasks(int cols) {
  return cols * Bits / 8;
}

template <int Bits>
MARLIN_REPACK_FN std::uint32_t* out_row(const RepackArgs& a, int block) {
  return a.out + static_cast<std::int64_t>(block) * (a.n * Bits / 2);
}

#if defined(__CUDACC__)
template <int Bits, bool Permuted>
__global__ void __launch_bounds__(kThreads) repack_kernel(RepackArgs a) {
  __shared__ __align__(16) std::uint8_t tile[kTileRows * kTileStride];
  const int c0 = blockIdx.y * kTileCols;
  const int cols = min(kTileCols, a.n - c0);
  const int block = blockIdx.x;
  const int loads = load_tasks<Bits, Permuted>(a, cols);
  for (int t = threadIdx.x; t < loads; t += blockDim.x) load_task<Bits, Permuted>(a, block, c0, cols, t, tile);
  __syncthreads();
  uint4* dst = reinterpret_cast<uint4*>(out_row<Bits>(a, block) + c0 * Bits / 2);
  const int quads = pack_tasks<Bits>(cols);
  for (int q = threadIdx.x; q < quads; q += blockDim.x) {
    std::uint32_t w[4];
    pack_quad<Bits>(c0, q, tile, w);
    // Streaming store (evict first): the output is not read again here,
    // and this keeps the source words in L2 (+10% on the plain path).
    __stcs(dst + q, make_uint4(w[0], w[1], w[2], w[3]));
  }
}
#endif

}  // namespace

std::uint64_t repack_source_bytes(const RepackArgs& a) {
  return static_cast<std::uint64_t>(a.k_in) * static_cast<std::uint64_t>(a.n) * a.bits / 8;
}

std::uint64_t repack_out_bytes(const RepackArgs& a) {
  return static_cast<std::uint64_t>(a.k) * static_cast<std::uint64_t>(a.n) * a.bits / 8;
}

RepackStatus check_repack(const RepackArgs& a) {
  if (a.bits != 4 && a.bits != 8) return RepackStatus::kBadBits;
  if (!a.source || !a.out) return RepackStatus::kBadPointer;
  if (a.n <= 0 || a.n % 64 != 0 || a.k <= 0 || a.k % kTileRows != 0 || a.k_in <= 0) return RepackStatus::kBadShape;
  // One grid row per column tile (CUDA's grid y limit).
  if ((a.n + kTileCols - 1) / kTileCols > 65535) return RepackStatus::kBadShape;
  // Output words of the whole matrix must be indexable: k / 16 rows of n * bits / 2.
  if (static_cast<std::int64_t>(a.n) * a.bits / 2 > (std::int64_t{1} << 31) / (a.k / kTileRows))
    return RepackStatus::kBadShape;
  if (a.layout != SourceLayout::kGptq && a.layout != SourceLayout::kAwq) return RepackStatus::kBadShape;
  if (a.layout == SourceLayout::kGptq && a.k_in % (32 / a.bits) != 0) return RepackStatus::kBadShape;
  if (!a.rows && a.k_in != a.k) return RepackStatus::kBadShape;
  if (a.zeros && (a.group_rows <= 0 || a.k % a.group_rows != 0)) return RepackStatus::kBadShape;
  return RepackStatus::kOk;
}

RepackStatus repack_weights(const RepackArgs& a, cudaStream_t stream, cudaError_t* cuda_error) {
  const RepackStatus status = check_repack(a);
  if (status != RepackStatus::kOk) return status;
  // k16 blocks are the grid's fast dimension, so the blocks running at once
  // share a few column tiles: an act-order layer's source word is read by
  // 32 / bits kernel rows from anywhere in k, and this keeps those reads
  // within a working set of a few column tiles (a 70B layer's 117 MB of
  // source does not fit L2; one column tile of it is 7 MB).
  const dim3 grid(a.k / kTileRows, (a.n + kTileCols - 1) / kTileCols);
  if (a.bits == 4 && a.rows)
    repack_kernel<4, true><<<grid, kThreads, 0, stream>>>(a);
  else if (a.bits == 4)
    repack_kernel<4, false><<<grid, kThreads, 0, stream>>>(a);
  else if (a.rows)
    repack_kernel<8, true><<<grid, kThreads, 0, stream>>>(a);
  else
    repack_kernel<8, false><<<grid, kThreads, 0, stream>>>(a);
  cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess) e = settle_layer_writes(stream);  // before any GEMM reads them (delay.h)
  if (e == cudaSuccess) return RepackStatus::kOk;
  if (cuda_error) *cuda_error = e;
  return RepackStatus::kCudaError;
}

namespace {

// The kernel's loop, one tile at a time, on the host.
template <int Bits, bool Permuted>
void repack_on_host(const RepackArgs& a) {
  std::vector<std::uint8_t> tile(kTileRows * kTileStride);
  for (int block = 0; block < a.k / kTileRows; ++block)
    for (int c0 = 0; c0 < a.n; c0 += kTileCols) {
      const int cols = a.n - c0 < kTileCols ? a.n - c0 : kTileCols;
      const int loads = load_tasks<Bits, Permuted>(a, cols);
      for (int t = 0; t < loads; ++t) load_task<Bits, Permuted>(a, block, c0, cols, t, tile.data());
      std::uint32_t* dst = out_row<Bits>(a, block) + c0 * Bits / 2;
      const int quads = pack_tasks<Bits>(cols);
      for (int q = 0; q < quads; ++q) pack_quad<Bits>(c0, q, tile.data(), dst + 4 * q);
    }
}

}  // namespace

RepackStatus repack_weights_on_host(const RepackArgs& a) {
  const RepackStatus status = check_repack(a);
  if (status != RepackStatus::kOk) return status;
  if (a.bits == 4 && a.rows)
    repack_on_host<4, true>(a);
  else if (a.bits == 4)
    repack_on_host<4, false>(a);
  else if (a.rows)
    repack_on_host<8, true>(a);
  else
    repack_on_host<8, false>(a);
  return RepackStatus::kOk;
}

}  // namespace marlin
