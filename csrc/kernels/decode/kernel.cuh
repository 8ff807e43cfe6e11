// The decode family: C[m,n] = A[m,k] * dequant(B)[k,n] for m <= 8 rows (16
// with two n8 tiles; table.json compiles 8), with the weights as the mma's A
// operand straight from global memory.
//
// Why a family of its own (docs/perf-notes.md runs 20 and 30): at 1-16 rows
// the mma family is issue-bound per SM, about 94 warp instructions per 1024
// weights, a third of them shared-memory staging, barriers and addresses,
// and every layer pays ~8.6 us beyond its bytes. Here:
//  - C^T = W^T A^T: the weights are the A operand of m16n8k16 (16 columns of
//    W x 16 of k) and A^T is the B operand (16 of k x 8 rows of A), so one
//    mma covers 256 weights and a launch of up to 8 rows wastes nothing
//    on padding rows of A beyond the n8 tile.
//  - The Marlin layout already holds the A fragments: per k16 row and 64
//    columns, lane (g, t) owns one word per n16 block j with the values of
//    columns 16j + g and 16j + 8 + g at rows 2t, 2t+1, 2t+8, 2t+9 of the k16
//    row (packing.h). Those are exactly the A fragment's rows g and g + 8 at
//    its columns 2t.. and 2t+8..; the mma family's B-fragment decoder
//    (mma/dequant.cuh) yields them, in another register order.
//  - Each warp streams its k16 rows of one 64-column strip with 16-byte
//    loads straight into registers (a warp reads 512 contiguous bytes per
//    row and 4-bit format), kDepth rows in flight: no shared-memory staging,
//    no barriers in the main loop. Its slice of A comes in as 32-bit loads
//    of the fragments (through L1: every warp of the SM reads the same k
//    range of A's rows).
//  - A block's warps split the strip's k; the blocks of one strip (k splits)
//    form a thread block cluster, whose partial sums meet in distributed
//    shared memory: no workspace, no global round trip.
// Grouped formats only (per-column ones keep the mma family); sm_90 (clusters).
// Measured layer by layer against the mma family (runs 30-33): faster on
// 4-bit layers cut into 32 k shares (few strips), per call and replayed
// back to back under PDL, symmetric and (in the capped kernel, scales per
// group) with zero points; tied or slower on wider 4-bit layers; 8-bit
// faster at every share count (with zero points, 16 or fewer: the capped
// kernel spills). The kernel table's `choose` entries give it those calls.
#pragma once

#include <cstdint>
#include <type_traits>

#include "common/act.cuh"
#include "common/cluster.cuh"
#include "common/ptx.cuh"
#include "kernel_args.h"
#include "mma/dequant.cuh"
#include "mma/layout.cuh"

namespace marlin::dec {

template <class F,      // FormatOf<...> (mma/layout.cuh), grouped
          int M_TILES,  // n8 tiles of A^T: up to 8 * M_TILES rows of A
          int DEPTH>    // k16 rows in flight per warp
struct Plan {
  using Fmt = F;
  static constexpr int kMTiles = M_TILES;
  static constexpr int kRows = 8 * M_TILES;
  static constexpr int kDepth = DEPTH;
  static constexpr int kMaxWarps = 8;             // warps per block: 1 to 8, one kernel per entry (launch.cuh)
  static constexpr int kLaneInt4 = F::kBits / 4;  // 16-byte words per lane and k16 row
  static constexpr int kStripN = 64;              // output columns per block
  static constexpr int kMaxSplits = 8;            // the portable cluster size
  // Partial sums in shared memory: [warp][row][kPitch] floats; 68 spreads a
  // warp's stores (rows 2t, columns g) over distinct banks.
  static constexpr int kPitch = 68;
  MARLIN_HOST_DEVICE static constexpr int smem_bytes(int warps) { return warps * kRows * kPitch * 4; }
  // Whether a kernel capped to several blocks per SM (launch.cuh) holds its
  // scales per group (decode_body's GROUP_SCALES): for the formats whose
  // per-row kernel does not fit the cap (zero points and 8-bit, 126-128
  // registers uncapped, against 96 for five 4-warp blocks per SM). 4-bit
  // symmetric kernels fit it with their scales per row (91-96 registers),
  // and are faster so on 7B's down layer (13.1-13.3 us against 14.1-14.9
  // per group, FP16 one row; perf-notes run 33).
  static constexpr bool kGroupScalesWhenCapped = F::kZeroPoints || F::kBits == 8;
  static_assert(F::kGrouped, "the decode family runs grouped formats");
  static_assert(M_TILES == 1 || M_TILES == 2, "8 or 16 rows");
};

// GROUP_SCALES: how the warp holds its scales (and scaled zero points).
//  - false: one int4 per row in flight, loaded with the row's weights
//    (kDepth of each: 16-32 registers).
//  - true: its current group's and the next group's, the next one loaded
//    when the first row of a new group is computed, a whole group ahead of
//    its use (8-16 registers).
// Kernels capped to several blocks per SM hold them per group where the
// format needs it to fit the cap (Plan::kGroupScalesWhenCapped: zero points
// 127 -> 96 registers, 8-bit 128 -> 96; perf-notes run 32). The others keep
// them per row: that is what was measured fastest.
template <class P, int WARPS, bool GROUP_SCALES>
__device__ __forceinline__ void decode_body(const KernelArgs& args) {
  using F = typename P::Fmt;
  using Traits = ActTraits<F::kAct>;
  using Codec = marlin::Codec<F::kAct, F::kBits>;
  using Scalar = typename Traits::Scalar;
  constexpr int kDepth = P::kDepth;
  constexpr int kMT = P::kMTiles;
  constexpr int kL = P::kLaneInt4;

  extern __shared__ float4 smem4[];
  float* const part = reinterpret_cast<float*>(smem4);

  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int g = lane / 4;
  const int t = lane % 4;
  constexpr int warps = WARPS;  // blockDim.x / 32
  const int strip = blockIdx.x;
  const unsigned splits = gridDim.z;
  const int rows16 = args.k / 16;
  // This warp's k16 rows: an equal share of the strip's, split by split and
  // then by warp (consecutive within a block).
  const unsigned share = blockIdx.z * warps + warp;
  const unsigned shares = splits * warps;
  const int r_begin = static_cast<int>(share * static_cast<unsigned>(rows16) / shares);
  const int r_end = static_cast<int>((share + 1) * static_cast<unsigned>(rows16) / shares);
  const int m = args.m < P::kRows ? args.m : P::kRows;

  const int64_t b_stride = static_cast<int64_t>(args.n) * F::kBits / 8;  // int4 per k16 row
  const int s_stride = args.n / 8;                                        // int4 per scale row
  // Sources, advanced row by row. Loads are never predicated off: rows past
  // the warp's last read its last row again (their results are not used),
  // and lanes of rows past m read row m - 1 (their products land in columns
  // of C^T past m, which are not stored): no branches around the loads.
  const int4* b_src = args.b + r_begin * b_stride + strip * 32 * kL + lane;
  const int4* const b_last = b_src + static_cast<int64_t>(r_end - 1 - r_begin) * b_stride;
  const int4* const s_base = args.scales + strip * 8 + g;  // + group * s_stride
  const int4* const z_base = F::kZeroPoints ? args.zeros + strip * 8 + g : nullptr;
  // A^T fragments: rows 8i + g of A (m - 1 past m), values 2t, 2t+1 (and + 8) of the k16 row.
  const uint32_t* x_src[kMT];
  const uint32_t* x_last[kMT];
#pragma unroll
  for (int i = 0; i < kMT; ++i) {
    x_src[i] = reinterpret_cast<const uint32_t*>(args.a) + min(8 * i + g, m - 1) * (args.k / 2) + r_begin * 8 + t;
    x_last[i] = x_src[i] + (r_end - 1 - r_begin) * 8;
  }
  int w_next = r_begin;  // the next row whose weights are loaded

  int4 wq[kDepth][kL];
  int4 sq[kDepth];  // per row in flight (!GROUP_SCALES)
  int4 zq[kDepth];
  // Per group (GROUP_SCALES): group g_cur's and the next one's (the last
  // group again past the warp's last).
  constexpr unsigned kG = F::kGroupBlocks;
  const unsigned g_last = static_cast<unsigned>(r_end > r_begin ? r_end - 1 : r_begin) / kG;
  unsigned g_cur = static_cast<unsigned>(r_begin) / kG;
  int4 s_cur{}, s_next{}, z_cur{}, z_next{};
  if constexpr (GROUP_SCALES) {
    s_cur = __ldg(s_base + g_cur * s_stride);
    s_next = __ldg(s_base + min(g_cur + 1, g_last) * s_stride);
    if constexpr (F::kZeroPoints) {
      z_cur = __ldg(z_base + g_cur * s_stride);
      z_next = __ldg(z_base + min(g_cur + 1, g_last) * s_stride);
    }
  }
  uint32_t xq[kDepth][kMT][2];
  float acc[kMT][4][4];
#pragma unroll
  for (int i = 0; i < kMT * 16; ++i) (&acc[0][0][0])[i] = 0.f;

  // Weights (with per-row scales, their scales and scaled zero points) of
  // the next row into slot `slot`; then A's values of the next row. The
  // sources run row by row; with CLAMP (the last 2 kDepth rows) a row past
  // the warp's last reads the last one again.
  auto load_weights = [&](int slot, auto clamp) {
    const bool past = decltype(clamp)::value && w_next >= r_end;
    const int4* const src = past ? b_last : b_src;
#pragma unroll
    for (int p = 0; p < kL; ++p) wq[slot][p] = __ldcs(src + p * 32);
    if constexpr (!GROUP_SCALES) {
      const unsigned group = static_cast<unsigned>(past ? r_end - 1 : w_next) / kG;
      sq[slot] = __ldg(s_base + group * s_stride);
      if constexpr (F::kZeroPoints) zq[slot] = __ldg(z_base + group * s_stride);
    }
    b_src += b_stride;
    ++w_next;
  };
  auto load_x = [&](int slot, auto clamp) {
#pragma unroll
    for (int i = 0; i < kMT; ++i) {
      const uint32_t* const src = decltype(clamp)::value && x_src[i] > x_last[i] ? x_last[i] : x_src[i];
      xq[slot][i][0] = __ldg(src);
      xq[slot][i][1] = __ldg(src + 4);
      x_src[i] += 8;
    }
  };
  const typename Codec::Zero zc = Codec::symmetric();
  // Row `row` of the warp's k16 rows, in slot `slot`. Rows come in order, so
  // a row's group is g_cur or the next one.
  auto compute = [&](int slot, int row) {
    if constexpr (GROUP_SCALES) {
      const unsigned group = static_cast<unsigned>(row) / kG;
      if (group != g_cur) {
        g_cur = group;
        s_cur = s_next;
        s_next = __ldg(s_base + min(group + 1, g_last) * s_stride);
        if constexpr (F::kZeroPoints) {
          z_cur = z_next;
          z_next = __ldg(z_base + min(group + 1, g_last) * s_stride);
        }
      }
    }
    const uint32_t* w = reinterpret_cast<const uint32_t*>(&wq[slot][0]);
    const Scalar* s = reinterpret_cast<const Scalar*>(GROUP_SCALES ? &s_cur : &sq[slot]);
    const Scalar* zs = reinterpret_cast<const Scalar*>(GROUP_SCALES ? &z_cur : &zq[slot]);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      FragB b0, b1;  // columns 16j + g and 16j + 8 + g, rows 2t.. and 2t+8..
      decode_block<Codec>(w + j * Codec::kWordsPerBlock, zc, zc, b0, b1);
      if constexpr (F::kZeroPoints) {
        scale_shift_frag<F::kAct>(b0, Traits::broadcast(s[2 * j]), Traits::broadcast(zs[2 * j]));
        scale_shift_frag<F::kAct>(b1, Traits::broadcast(s[2 * j + 1]), Traits::broadcast(zs[2 * j + 1]));
      } else {
        scale_frag<F::kAct>(b0, Traits::broadcast(s[2 * j]));
        scale_frag<F::kAct>(b1, Traits::broadcast(s[2 * j + 1]));
      }
      const uint32_t a[4] = {b0.r[0], b1.r[0], b0.r[1], b1.r[1]};
#pragma unroll
      for (int i = 0; i < kMT; ++i) Traits::mma(a, xq[slot][i], acc[i][j]);
    }
  };

  // The layer's weights and scales are written by nothing this launch may
  // overlap under PDL (mma/kernel.cuh says why): the first rows are on
  // their way before the wait for the previous kernel; A is read after it.
  using Clamp = std::true_type;
  using Straight = std::false_type;
  // A warp with no rows (more warps than k16 rows) loads no weights, but
  // still waits: a block's stores follow a barrier after every warp's wait.
  // (Per-group scales load their first two groups regardless: r_begin <
  // the k16 rows for every warp, so those reads stay within the layer's.)
  const bool busy = r_end > r_begin;
  if (busy) {
#pragma unroll
    for (int s = 0; s < kDepth; ++s) load_weights(s, Clamp{});
  }
  ptx::grid_dependency_wait();
  ptx::allow_dependents_launch();
  if (busy) {
#pragma unroll
    for (int s = 0; s < kDepth; ++s) load_x(s, Clamp{});
  }

  // kDepth rows per pass: compute each slot, then refill it kDepth rows on.
  // Passes whose refills all lie within the warp's rows need no clamps.
  auto pass = [&](int r, auto clamp) {
#pragma unroll
    for (int s = 0; s < kDepth; ++s) {
      if (!decltype(clamp)::value || r + s < r_end) compute(s, r + s);
      load_weights(s, clamp);
      load_x(s, clamp);
    }
  };
  int r = r_begin;
  for (; r + 2 * kDepth <= r_end; r += kDepth) pass(r, Straight{});
  for (; r < r_end; r += kDepth) pass(r, Clamp{});

  // ---- sums: warps of the block in shared memory, then the cluster ----
  // acc[i][j][e]: row 8i + 2t + (e & 1) of A (and C), column 16j + 8(e >> 1) + g of the strip.
#pragma unroll
  for (int i = 0; i < kMT; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int row = 8 * i + 2 * t + (e & 1);
        if (row < m) part[(warp * P::kRows + row) * P::kPitch + 16 * j + 8 * (e >> 1) + g] = acc[i][j][e];
      }
  __syncthreads();
  // Then each output's sum over the warps (into warp 0's slot: only the
  // thread that sums an output reads or writes it there), stored at once
  // when the block is the strip's only one.
  const int outputs = m * P::kStripN;
  Scalar* const c = reinterpret_cast<Scalar*>(args.c) + strip * P::kStripN;
  for (int o = threadIdx.x; o < outputs; o += 32 * WARPS) {
    const int row = o / P::kStripN;
    const int col = o % P::kStripN;
    float v = 0.f;
#pragma unroll
    for (int w = 0; w < warps; ++w) v += part[(w * P::kRows + row) * P::kPitch + col];
    if (splits == 1)
      c[static_cast<int64_t>(row) * args.n + col] = Traits::from_float(v);
    else
      part[row * P::kPitch + col] = v;
  }
  if (splits == 1) return;
  // Block `rank` of the cluster sums outputs rank * blockDim.x + i, then
  // every splits * blockDim.x on, over the cluster's blocks in rank order,
  // and stores them.
  ptx::cluster_sync();
  const unsigned rank = ptx::cluster_rank();
  const uint32_t base = ptx::smem_address(part);
  for (int o = rank * 32 * WARPS + threadIdx.x; o < outputs; o += splits * 32 * WARPS) {
    const int row = o / P::kStripN;
    const int col = o % P::kStripN;
    const uint32_t at = base + (row * P::kPitch + col) * 4;
    float v = 0.f;
    for (unsigned p = 0; p < splits; ++p) v += ptx::load_cluster_f32(ptx::cluster_address(at, p));
    c[static_cast<int64_t>(row) * args.n + col] = Traits::from_float(v);
  }
  ptx::cluster_sync();  // every peer is done reading this block's sums
}

}  // namespace marlin::dec
