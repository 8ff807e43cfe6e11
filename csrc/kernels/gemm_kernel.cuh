// The MARLIN FP16 x INT4 GEMM kernel: C[m,n] = A[m,k] * dequant(B)[k,n].
//
// Included only by the gemm_m*.cu files, which instantiate it for the
// variants listed in variants.h. The layout constants come from tile.cuh.
//
// Work split ("stripes"). For P problems of up to kRows rows each (m > kRows
// runs as ceil(m / kRows) problems side by side), the tiles of B are numbered
// column slice by column slice, top to bottom:
//   t = (problem * n_tiles + column) * k_tiles + k_tile
// and block b takes the contiguous run [b * iters, (b + 1) * iters). With 5
// blocks over 3 columns of 3 k-tiles (iters = 2) the tiles fall as
//      col 0  col 1  col 2
//        0      1      3
//        0      2      3
//        1      2      4
// so every SM streams the same number of weight bytes whatever the shape.
// A column shared by several blocks is summed in FP32: every block but one
// posts its partial sums to its own slot of the workspace and increments the
// column's counter; the block holding the column's top rows (which reaches
// that column last, at the end of its run) waits for the others, adds their
// slots in block order (deterministic), writes the FP16 result and sets the
// counter back to zero. All blocks post in parallel, so the wait is one
// round trip, not one per block as with turn-taking through the output.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <atomic>
#include <cstdint>

#include "dequant.cuh"
#include "kernel_args.h"
#include "ptx.cuh"
#include "tile.cuh"

// Weights are loaded with an L2 evict-first policy: they are read exactly
// once, and keeping them out of L2 leaves it to the activations every block
// re-reads (about 5% on the 70B layers at m <= 16; docs/perf-notes.md).
// CUDA 13's ptxas can drop the createpolicy behind such a hint and leave the
// descriptor uninitialised; here it folds it into a uniform register set at
// kernel entry, which scripts/check-cache-hints.js verifies on the SASS of
// every kernel. Build with -DMARLIN_EVICT_FIRST=0 to go without the hint.
#ifndef MARLIN_EVICT_FIRST
#define MARLIN_EVICT_FIRST 1
#endif

namespace marlin {

__device__ __forceinline__ void add_to(float4& sum, const float4& v) {
  sum.x += v.x;
  sum.y += v.y;
  sum.z += v.z;
  sum.w += v.w;
}

template <class T>
__global__ void __launch_bounds__(T::kThreads, 1) gemm_kernel(const KernelArgs args) {
  extern __shared__ int4 smem[];
  int4* const sh_a = smem;                             // [kStages][kAStage]
  int4* const sh_b = sh_a + T::kStages * T::kAStage;   // [kStages][kBStage]
  int4* const sh_s = sh_b + T::kStages * T::kBStage;   // [kStages][kSStage]

  const int tid = threadIdx.x;
  const int lane = tid % 32;
  const int warp = tid / 32;
  const int warp_n = warp % T::kWarpsN;  // which 64 columns of the tile
  const int warp_k = warp / T::kWarpsN;  // which share of the tile's k16 blocks
  const int g = lane / 4;                // mma fragment row (A, C) / column (B)
  const int t = lane % 4;                // mma fragment column pair (A, C) / row pair (B)

  const int k_tiles = args.k / T::kTileK;
  const int n_tiles = ceil_div(args.n, T::kTileN);
  const int problems = ceil_div(args.m, T::kRows);
  const int total = problems * n_tiles * k_tiles;
  const int iters = ceil_div(total, gridDim.x);
  const int run_begin = blockIdx.x * iters;
  const int run_end = min(total, run_begin + iters);

  const int a_stride = args.k / 8;   // int4 per row of A
  const int b_stride = args.n / 2;   // int4 per k16 row of B (16 x n nibbles)
  const int s_stride = args.n / 8;   // int4 per row of scales
  const int c_stride = args.n / 8;   // int4 per row of C
  const int n_chunks = args.n / 64;  // 64-column units of n

  // This thread's share of the A copy: row a_row (+ kARowsPerPass per pass),
  // chunk a_chunk; rows repeat the same swizzle every 8 rows.
  const int a_row = tid / T::kAChunks;
  const int a_chunk = tid % T::kAChunks;
  const int a_wr = a_row * T::kAChunks + (a_chunk ^ (a_row % 8));
  // ldmatrix addresses: lane l reads row l % 16 of the m16 block, chunk l / 16
  // of the k16 block this warp handles at each step.
  int a_rd[T::kStepsK];
#pragma unroll
  for (int s = 0; s < T::kStepsK; ++s) {
    const int chunk = 2 * (warp_k + T::kWarpsK * s) + lane / 16;
    a_rd[s] = (lane % 16) * T::kAChunks + (chunk ^ (lane % 8));
  }

#if MARLIN_EVICT_FIRST
  const uint64_t b_policy = ptx::make_evict_first_policy();
#endif

  float acc[T::kMBlocks][4][2][4];       // [m16 block][n16 block][n8 half][mma C regs]
  uint32_t frag_a[2][T::kMBlocks][4];    // double-buffered A fragments
  int4 frag_q[2];                        // double-buffered packed weights (4 n16 blocks)
  int4 frag_s[2];                        // double-buffered group scales (8 FP16)

  for (int pos = run_begin; pos < run_end;) {
    // ---- the slice: this block's part of one column of one problem ----
    const int column = pos / k_tiles;  // problem * n_tiles + column slice
    const int k_first = pos % k_tiles;
    const int slice_tiles = min(run_end, (column + 1) * k_tiles) - pos;
    const int problem = column / n_tiles;
    const int col = column % n_tiles;
    const int rows = min(T::kRows, args.m - problem * T::kRows);
    const int chunks = min(T::kWarpsN, n_chunks - col * T::kWarpsN);
    const int top_block = column * k_tiles / iters;
    const int bottom_block = (column * k_tiles + k_tiles - 1) / iters;
    const int slice_count = bottom_block - top_block + 1;
    const bool last = static_cast<int>(blockIdx.x) == top_block;  // finishes and writes the column

    const int4* const a_src = args.a + static_cast<int64_t>(problem) * T::kRows * a_stride +
                              static_cast<int64_t>(a_row) * a_stride + a_chunk;
    const int4* const b_src = args.b + col * T::kBChunks + warp_n * 32 + lane;
    const int4* const s_src = args.scales + col * T::kSChunks + tid;
    int4* const c_dst = args.c + static_cast<int64_t>(problem) * T::kRows * c_stride + col * (T::kTileN / 8);

    // Copies stage `tile` of the slice into pipeline slot `slot`; with pred
    // false it only commits an empty group, which keeps the wait counts exact.
    auto fetch_stage = [&](int slot, int tile, bool pred) {
      const int kt = k_first + tile;
      int4* const sa = sh_a + slot * T::kAStage;
#pragma unroll
      for (int p = 0; p < T::kAPasses; ++p) {
        const int row = a_row + p * T::kARowsPerPass;
        ptx::cp_async16(sa + a_wr + p * T::kARowsPerPass * T::kAChunks,
                        a_src + static_cast<int64_t>(p) * T::kARowsPerPass * a_stride + kt * T::kAChunks,
                        pred && row < rows);
      }
      int4* const sb = sh_b + slot * T::kBStage;
#pragma unroll
      for (int p = 0; p < T::kBPasses; ++p) {
        const int krow = kt * T::kKBlocks + warp_k + p * T::kWarpsK;
#if MARLIN_EVICT_FIRST
        ptx::cp_async16_hint(sb + tid + p * T::kThreads, b_src + static_cast<int64_t>(krow) * b_stride,
                             pred && warp_n < chunks, b_policy);
#else
        ptx::cp_async16(sb + tid + p * T::kThreads, b_src + static_cast<int64_t>(krow) * b_stride,
                        pred && warp_n < chunks);
#endif
      }
      if constexpr (T::kGrouped) {
        // Every stage carries its group's scale row, so a slot never depends
        // on another slot that the pipeline may already be refilling.
        constexpr int kStagesPerGroup = T::kGroupBlocks / T::kKBlocks;
        if (tid < T::kSChunks)
          ptx::cp_async16(sh_s + slot * T::kSStage + tid,
                          s_src + static_cast<int64_t>(kt / kStagesPerGroup) * s_stride,
                          pred && tid / 8 < chunks);
      }
      ptx::cp_async_commit();
    };

    auto load_fragments = [&](int buf, int slot, int step) {
      const int4* const sa = sh_a + slot * T::kAStage;
#pragma unroll
      for (int i = 0; i < T::kMBlocks; ++i)
        ptx::ldmatrix_x4(frag_a[buf][i], sa + a_rd[step] + i * 16 * T::kAChunks);
      frag_q[buf] = sh_b[slot * T::kBStage + tid + step * T::kThreads];
      // Scale int4 number g of the warp's 64 columns holds, in order, the
      // scales of columns g, g+8, g+16, ..., g+56: the packer transposed them.
      if constexpr (T::kGrouped) frag_s[buf] = sh_s[slot * T::kSStage + 8 * warp_n + g];
    };

    auto compute = [&](int buf) {
      const uint32_t q[4] = {static_cast<uint32_t>(frag_q[buf].x), static_cast<uint32_t>(frag_q[buf].y),
                             static_cast<uint32_t>(frag_q[buf].z), static_cast<uint32_t>(frag_q[buf].w)};
      const __half* const s = reinterpret_cast<const __half*>(&frag_s[buf]);
      // n outer, m inner: the dequantization of the next n16 block overlaps
      // the mma of this one.
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        FragB b0 = dequant_int4(q[j]);       // columns 16j + g
        FragB b1 = dequant_int4(q[j] >> 8);  // columns 16j + 8 + g
        if constexpr (T::kGrouped) {
          scale_frag(b0, s[2 * j]);
          scale_frag(b1, s[2 * j + 1]);
        }
#pragma unroll
        for (int i = 0; i < T::kMBlocks; ++i) {
          ptx::mma_m16n8k16(frag_a[buf][i], b0.r, acc[i][j][0]);
          ptx::mma_m16n8k16(frag_a[buf][i], b1.r, acc[i][j][1]);
        }
      }
    };

    // ---- main loop: stream the slice's stages through the pipeline ----
#pragma unroll
    for (int i = 0; i < T::kMBlocks * 32; ++i) (&acc[0][0][0][0])[i] = 0.f;
#pragma unroll
    for (int s = 0; s < T::kStages - 1; ++s) fetch_stage(s, s, s < slice_tiles);
    ptx::cp_async_wait<T::kStages - 2>();
    __syncthreads();
    load_fragments(0, 0, 0);

    for (int tile = 0; tile < slice_tiles;) {
      // Unrolled over the slots so that every shared-memory offset and
      // register-buffer index is a compile-time constant.
#pragma unroll
      for (int slot = 0; slot < T::kStages; ++slot) {
#pragma unroll
        for (int step = 0; step < T::kStepsK; ++step) {
          const int u = slot * T::kStepsK + step;
          if (step == 0) {
            // Refill the slot of the previous stage: all threads finished
            // reading it before the barrier that closed that stage.
            const int ahead = tile + T::kStages - 1;
            fetch_stage((slot + T::kStages - 1) % T::kStages, ahead, ahead < slice_tiles);
          }
          if (step + 1 < T::kStepsK) {
            load_fragments((u + 1) % 2, slot, step + 1);
          } else {
            // Next stage landed (at most kStages-2 younger groups in flight).
            ptx::cp_async_wait<T::kStages - 2>();
            __syncthreads();
            load_fragments((u + 1) % 2, (slot + 1) % T::kStages, 0);
          }
          compute(u % 2);
        }
        if (++tile == slice_tiles) break;
      }
    }
    ptx::cp_async_wait<0>();
    __syncthreads();

    // ---- sum the k warps through shared memory, into warp_k == 0 ----
    if constexpr (T::kWarpsK > 1) {
      float4* const red = reinterpret_cast<float4*>(smem);  // [kWarpsK-1][kWarpsN][8][32]
#pragma unroll
      for (int i = 0; i < T::kMBlocks; ++i) {
        float4* const mine = reinterpret_cast<float4*>(&acc[i][0][0][0]);
        if (warp_k > 0) {
#pragma unroll
          for (int q = 0; q < 8; ++q) red[(((warp_k - 1) * T::kWarpsN + warp_n) * 8 + q) * 32 + lane] = mine[q];
        }
        __syncthreads();
        if (warp_k == 0) {
#pragma unroll
          for (int w = 1; w < T::kWarpsK; ++w) {
#pragma unroll
            for (int q = 0; q < 8; ++q) add_to(mine[q], red[(((w - 1) * T::kWarpsN + warp_n) * 8 + q) * 32 + lane]);
          }
        }
        __syncthreads();
      }
    }

    const bool owner = warp_k == 0 && warp_n < chunks;  // holds finished sums for valid columns

    // ---- per-channel scales multiply the sums (FP32), before any FP16 rounding ----
    if constexpr (!T::kGrouped) {
      if (owner) {
        // Per-channel order: int4 number t of each 32 columns holds columns
        // 2t, 2t+1, 2t+8, 2t+9, 2t+16, 2t+17, 2t+24, 2t+25.
        const int4* const sp = args.scales + col * T::kSChunks + warp_n * 8 + t;
        const int4 sv[2] = {__ldg(sp), __ldg(sp + 4)};
        const __half* const sc = reinterpret_cast<const __half*>(sv);
#pragma unroll
        for (int i = 0; i < T::kMBlocks; ++i)
#pragma unroll
          for (int j = 0; j < 4; ++j)
#pragma unroll
            for (int b = 0; b < 2; ++b)
#pragma unroll
              for (int e = 0; e < 4; ++e)
                acc[i][j][b][e] *= __half2float(sc[8 * (j / 2) + 4 * (j % 2) + 2 * b + e % 2]);
      }
    }

    // ---- blocks sharing the column: partial sums meet in the workspace ----
    if (slice_count > 1) {
      int* const counter = args.locks + column;
      if (!last) {
        // Post this block's FP32 partial sums in its own slot (fragment order,
        // [m16 block][warp_n][float4][lane]: one 512-byte store per warp), then
        // count itself in. A block posts at most one partial per launch: only
        // the first slice of its run can lack the column's top rows.
        if (owner) {
          // One base address, compile-time offsets: 32 computed 64-bit
          // addresses would push the 64-row variants into spilling.
          float4* const slot =
              args.partials + static_cast<int64_t>(blockIdx.x) * kPartialSlotFloat4 + warp_n * 8 * 32 + lane;
#pragma unroll
          for (int i = 0; i < T::kMBlocks; ++i)
#pragma unroll
            for (int q = 0; q < 8; ++q)
              __stcg(slot + (i * T::kWarpsN * 8 + q) * 32, reinterpret_cast<const float4*>(&acc[i][0][0][0])[q]);
          __threadfence();
        }
        __syncthreads();
        if (tid == 0) ptx::red_add_release(counter, 1);
      } else {
        // The block holding the column's top rows reaches it last (at the end
        // of its run): wait until the others have posted, then add their
        // partials in block order, so every run gives the same bits.
        if (tid == 0)
          while (ptx::load_acquire(counter) != slice_count - 1) {
          }
        __syncthreads();
        // Stage the other blocks' slots through shared memory, as many per
        // round trip as fit: all 256 threads copy (full memory parallelism,
        // no registers held), then the owners add in block order.
        constexpr int kSlotUsedF4 = T::kRows * T::kTileN / 4;
        constexpr int kSlotsPerBatch = T::kSmemBytes / (kSlotUsedF4 * 16);
        static_assert(kSlotsPerBatch >= 1, "one partial slot must fit in shared memory");
        float4* const staged = reinterpret_cast<float4*>(smem);
        for (int b0 = top_block + 1; b0 <= bottom_block; b0 += kSlotsPerBatch) {
          const int batch = min(kSlotsPerBatch, bottom_block + 1 - b0);
          for (int s = 0; s < batch; ++s) {
            const float4* const src = args.partials + static_cast<int64_t>(b0 + s) * kPartialSlotFloat4;
            for (int idx = tid; idx < kSlotUsedF4; idx += T::kThreads)
              ptx::cp_async16(staged + s * kSlotUsedF4 + idx, src + idx, true);
          }
          ptx::cp_async_commit();
          ptx::cp_async_wait<0>();
          __syncthreads();
          if (owner) {
            for (int s = 0; s < batch; ++s) {
              const float4* const slot = staged + s * kSlotUsedF4 + warp_n * 8 * 32 + lane;
#pragma unroll
              for (int i = 0; i < T::kMBlocks; ++i) {
                float4* const mine = reinterpret_cast<float4*>(&acc[i][0][0][0]);
#pragma unroll
                for (int q = 0; q < 8; ++q) add_to(mine[q], slot[(i * T::kWarpsN * 8 + q) * 32]);
              }
            }
          }
          __syncthreads();
        }
        if (tid == 0) *counter = 0;  // every other block of this column is done with it
      }
    }

    // ---- the last block writes the tile in row-major order ----
    if (last) {
      // Stage through shared memory so global stores are whole 16-byte rows.
      half2* const stage = reinterpret_cast<half2*>(smem);
      constexpr int kStageRowH2 = T::kCStride * 4;
      if (warp_k == 0) {
#pragma unroll
        for (int i = 0; i < T::kMBlocks; ++i)
#pragma unroll
          for (int j = 0; j < 4; ++j)
#pragma unroll
            for (int b = 0; b < 2; ++b)
#pragma unroll
              for (int h = 0; h < 2; ++h) {
                const int row = 16 * i + g + 8 * h;
                const int col_h2 = warp_n * 32 + 8 * j + 4 * b + t;
                stage[row * kStageRowH2 + col_h2] =
                    __floats2half2_rn(acc[i][j][b][2 * h], acc[i][j][b][2 * h + 1]);
              }
      }
      __syncthreads();
      const int4* const staged = reinterpret_cast<const int4*>(smem);
      constexpr int kRowChunks = T::kTileN / 8;
      const int valid_chunks = chunks * 8;
      for (int idx = tid; idx < rows * kRowChunks; idx += T::kThreads) {
        const int r = idx / kRowChunks;
        const int c = idx % kRowChunks;
        if (c < valid_chunks) c_dst[static_cast<int64_t>(r) * c_stride + c] = staged[r * T::kCStride + c];
      }
      __syncthreads();
    }
    pos += slice_tiles;
  }
}

// Launches one variant on `grid` blocks of the current device `device`.
// Defined here, instantiated in the gemm_m*.cu files, called through the
// table in gemm.cu.
template <class T>
cudaError_t launch_tile(const KernelArgs& args, int grid, int device, cudaStream_t stream) {
  // The shared-memory opt-in is per device; set it once per device, not per
  // call (it costs a driver round trip on the serving hot path).
  static std::atomic<std::uint64_t> configured{0};
  const std::uint64_t bit = device >= 0 && device < 64 ? (std::uint64_t{1} << device) : 0;
  if (!bit || !(configured.load(std::memory_order_relaxed) & bit)) {
    const cudaError_t attr =
        cudaFuncSetAttribute(gemm_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, T::kSmemBytes);
    if (attr != cudaSuccess) return attr;
    configured.fetch_or(bit, std::memory_order_relaxed);
  }
  gemm_kernel<T><<<grid, T::kThreads, T::kSmemBytes, stream>>>(args);
  return cudaGetLastError();
}

// Reports the compiled kernel's attributes on the current device; fails with
// cudaErrorNoKernelImageForDevice when this build has no code for the GPU.
template <class T>
cudaError_t tile_attributes(cudaFuncAttributes* attributes) {
  return cudaFuncGetAttributes(attributes, gemm_kernel<T>);
}

}  // namespace marlin
