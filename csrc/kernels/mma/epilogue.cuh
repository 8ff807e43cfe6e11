// End-of-slice phases of the mma family, in the order the kernel calls them:
//   reduce_k_warps        the k warps of the block -> warp_k == 0 (shared memory)
//   apply_channel_scales  per-column scales, in FP32 (one group per column)
//   reduce_across_blocks  blocks sharing a column meet in the workspace
//   write_tile            the top block writes the tile, row-major
//
// Blocks sharing a column: every block but one posts its FP32 partial sums to
// its own slot of the workspace and increments the column's counter; the
// block holding the column's top rows (which reaches that column last, at the
// end of its run) waits for the others, adds their slots in block order
// (deterministic), writes the result and sets the counter back to zero. All
// blocks post in parallel, so the wait is one round trip, not one per block
// as with turn-taking through the output.
#pragma once

#include "common/act.cuh"
#include "common/ptx.cuh"
#include "slice.cuh"

namespace marlin::mma {

// Sums the kWarpsK warps of each column group into warp_k == 0, one m16
// block at a time through shared memory ([kWarpsK-1][kWarpsN][8][32] float4).
template <class L>
__device__ __forceinline__ void reduce_k_warps(Accumulators<L>& acc, int4* smem, const ThreadPos<L>& th) {
  if constexpr (L::kWarpsK > 1) {
    float4* const red = reinterpret_cast<float4*>(smem);
#pragma unroll
    for (int i = 0; i < L::kMBlocks; ++i) {
      float4* const mine = reinterpret_cast<float4*>(&acc[i][0][0][0]);
      if (th.warp_k > 0) {
#pragma unroll
        for (int q = 0; q < 8; ++q) red[(((th.warp_k - 1) * L::kWarpsN + th.warp_n) * 8 + q) * 32 + th.lane] = mine[q];
      }
      __syncthreads();
      if (th.warp_k == 0) {
#pragma unroll
        for (int w = 1; w < L::kWarpsK; ++w) {
#pragma unroll
          for (int q = 0; q < 8; ++q) add_to(mine[q], red[(((w - 1) * L::kWarpsN + th.warp_n) * 8 + q) * 32 + th.lane]);
        }
      }
      __syncthreads();
    }
  }
}

// One scale per output column multiplies the finished sums in FP32, before
// any rounding. Per-channel order: int4 number t of each 32 columns holds
// columns 2t, 2t+1, 2t+8, 2t+9, 2t+16, 2t+17, 2t+24, 2t+25.
template <class L>
__device__ __forceinline__ void apply_channel_scales(Accumulators<L>& acc, const KernelArgs& args, const Slice<L>& sl,
                                                     const ThreadPos<L>& th) {
  using Traits = ActTraits<L::Fmt::kAct>;
  const int4* const sp = args.scales + sl.col * L::kSChunks + th.warp_n * 8 + th.t;
  const int4 sv[2] = {__ldg(sp), __ldg(sp + 4)};
  const auto* const sc = reinterpret_cast<const typename Traits::Scalar*>(sv);
#pragma unroll
  for (int i = 0; i < L::kMBlocks; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int b = 0; b < 2; ++b)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[i][j][b][e] *= Traits::to_float(sc[8 * (j / 2) + 4 * (j % 2) + 2 * b + e % 2]);
}

// Blocks sharing the column: non-top blocks post, the top block gathers.
// `smem_bytes` is the kernel's dynamic shared memory (staging room).
template <class L, int SMEM_BYTES>
__device__ __forceinline__ void reduce_across_blocks(Accumulators<L>& acc, int4* smem, const KernelArgs& args,
                                                     const Slice<L>& sl, const ThreadPos<L>& th, bool owner) {
  int* const counter = args.locks + sl.column;
  if (!sl.last) {
    // Post this block's FP32 partial sums in its own slot (fragment order,
    // [m16 block][warp_n][float4][lane]: one 512-byte store per warp), then
    // count itself in. A block posts at most one partial per launch: only
    // the first slice of its run can lack the column's top rows.
    if (owner) {
      // One base address, compile-time offsets: 32 computed 64-bit
      // addresses would push the 64-row variants into spilling.
      float4* const slot =
          args.partials + static_cast<int64_t>(blockIdx.x) * kPartialSlotFloat4 + th.warp_n * 8 * 32 + th.lane;
#pragma unroll
      for (int i = 0; i < L::kMBlocks; ++i)
#pragma unroll
        for (int q = 0; q < 8; ++q)
          __stcg(slot + (i * L::kWarpsN * 8 + q) * 32, reinterpret_cast<const float4*>(&acc[i][0][0][0])[q]);
    }
    // No fence per thread: the barrier orders every thread's stores before
    // thread 0's GPU-scope release, which publishes them all (release is
    // cumulative over what happens before it, and bar.sync is that).
    __syncthreads();
    if (th.tid == 0) ptx::red_add_release(counter, 1);
    return;
  }
  // The top block reaches the column last (at the end of its run): wait until
  // the others have posted, then add their partials in block order, so every
  // run gives the same bits.
  if (th.tid == 0)
    while (ptx::load_acquire(counter) != sl.count - 1) {
    }
  __syncthreads();
  // Stage the other blocks' slots through shared memory, as many per round
  // trip as fit: all 256 threads copy (full memory parallelism, no registers
  // held), then the owners add in block order.
  constexpr int kSlotUsedF4 = L::kRows * L::kTileN / 4;
  constexpr int kSlotsPerBatch = SMEM_BYTES / (kSlotUsedF4 * 16);
  static_assert(kSlotsPerBatch >= 1, "one partial slot must fit in shared memory");
  float4* const staged = reinterpret_cast<float4*>(smem);
  for (int b0 = sl.top_block + 1; b0 <= sl.bottom_block; b0 += kSlotsPerBatch) {
    const int batch = min(kSlotsPerBatch, sl.bottom_block + 1 - b0);
    for (int s = 0; s < batch; ++s) {
      const float4* const src = args.partials + static_cast<int64_t>(b0 + s) * kPartialSlotFloat4;
      for (int idx = th.tid; idx < kSlotUsedF4; idx += L::kThreads)
        ptx::cp_async16(staged + s * kSlotUsedF4 + idx, src + idx, true);
    }
    ptx::cp_async_commit();
    ptx::cp_async_wait<0>();
    __syncthreads();
    if (owner) {
      for (int s = 0; s < batch; ++s) {
        const float4* const slot = staged + s * kSlotUsedF4 + th.warp_n * 8 * 32 + th.lane;
#pragma unroll
        for (int i = 0; i < L::kMBlocks; ++i) {
          float4* const mine = reinterpret_cast<float4*>(&acc[i][0][0][0]);
#pragma unroll
          for (int q = 0; q < 8; ++q) add_to(mine[q], slot[(i * L::kWarpsN * 8 + q) * 32]);
        }
      }
    }
    __syncthreads();
  }
  if (th.tid == 0) *counter = 0;  // every other block of this column is done with it
}

// Rounds the sums to the activation type and writes the tile, staged through
// shared memory so that global stores are whole 16-byte row chunks.
template <class L>
__device__ __forceinline__ void write_tile(const Accumulators<L>& acc, int4* smem, const KernelArgs& args,
                                           const Slice<L>& sl, const ThreadPos<L>& th) {
  using Traits = ActTraits<L::Fmt::kAct>;
  using Pair = typename Traits::Pair;
  Pair* const stage = reinterpret_cast<Pair*>(smem);
  constexpr int kStageRowPairs = L::kCStride * 4;
  if (th.warp_k == 0) {
#pragma unroll
    for (int i = 0; i < L::kMBlocks; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int b = 0; b < 2; ++b)
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            const int row = 16 * i + th.g + 8 * h;
            const int col_pair = th.warp_n * 32 + 8 * j + 4 * b + th.t;
            stage[row * kStageRowPairs + col_pair] = Traits::from_floats(acc[i][j][b][2 * h], acc[i][j][b][2 * h + 1]);
          }
  }
  __syncthreads();
  const int4* const staged = reinterpret_cast<const int4*>(smem);
  const int c_stride = args.n / 8;
  int4* const c_dst = args.c + static_cast<int64_t>(sl.problem) * L::kRows * c_stride + sl.col * (L::kTileN / 8);
  constexpr int kRowChunks = L::kTileN / 8;
  const int valid_chunks = sl.chunks * 8;
  for (int idx = th.tid; idx < sl.rows * kRowChunks; idx += L::kThreads) {
    const int r = idx / kRowChunks;
    const int c = idx % kRowChunks;
    if (c < valid_chunks) c_dst[static_cast<int64_t>(r) * c_stride + c] = staged[r * L::kCStride + c];
  }
  __syncthreads();
}

}  // namespace marlin::mma
