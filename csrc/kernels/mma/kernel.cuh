// The mma-family GEMM: C[m,n] = A[m,k] * dequant(B)[k,n] for every weight
// format of format.h, with mma.sync tensor-core instructions (sm_80+).
//
// Per slice (slice.cuh): a cp.async pipeline of STAGES stages streams A, the
// packed weights and the slice's scales and zero points into shared memory;
// each warp loads its A fragments with ldmatrix and its weights as words,
// dequantizes them in registers (dequant.cuh) and runs the mma; then the
// epilogue (epilogue.cuh) reduces and writes the tile.
//
// Included only by the generated gemm_*.cu files (scripts/gen-kernels.js),
// through launch.cuh.
#pragma once

#include <cstdint>

#include "common/act.cuh"
#include "dequant.cuh"
#include "epilogue.cuh"
#include "kernel_args.h"
#include "layout.cuh"
#include "common/ptx.cuh"
#include "slice.cuh"

// HINT: an L2 evict-first hint on the weight loads (they are read exactly
// once; keeping them out of L2 leaves it to what blocks re-read): 1-3% on
// the 70B layers at m <= 48 on the H100 even with the L2 streaming window
// (perf-notes runs 4, 22 and 27). CUDA 13.0's ptxas miscompiles it in some
// kernels, emitting cp.async instructions whose shared-memory offset and
// cache-policy operands are uniform registers it never writes (an illegal
// instruction on the H100; run 27: 60 of 337 functions of an sm_90 build,
// all 8-bit). So the table says where it goes (table.json evictFirst: sm_90a
// machine code from the nvcc versions whose output
// scripts/check-cache-hints.js passed, those kernels excluded), and
// launch.cuh decides it per kernel; MARLIN_EVICT_FIRST=0 or 1 overrides it
// (build_options.h).

namespace marlin::mma {

template <class L, int STAGES, bool HINT>
__device__ __forceinline__ void gemm_body(const KernelArgs& args) {
  using F = typename L::Fmt;
  using Traits = ActTraits<F::kAct>;
  using Codec = marlin::Codec<F::kAct, F::kBits>;
  using Scalar = typename Traits::Scalar;
  constexpr int kSmemBytes = L::smem_bytes(STAGES);

  extern __shared__ int4 smem[];  // [STAGES][kStageInt4]: A | B | scales | zeros (layout.cuh)

  // Under programmatic dependent launch (launch.cuh) this block may be
  // running before the previous kernel on the stream has finished, which
  // may write A or use the same workspace (or C): the block waits for it
  // (in its first slice's prologue) before it touches them, and then lets the
  // next kernel start its launch. Its setup before that, and the first
  // kEarlyStages stages of weights, overlap the previous kernel's tail: the
  // layer's own data (weights, scales, zero points) is written only by
  // copies and memsets (a PDL launch does not start before a copy or memset
  // ahead of it has finished) and by kernels followed by an ordinary launch
  // of an empty kernel (settle_layer_writes, delay.h), and the kernels that
  // let a dependent start early (the GEMMs and the act-order gathers, each
  // after its own wait) never write it.
  // Two stages: perf-notes run 25 (0 and 1 measured too; more stages delay
  // the first tile of a call that follows nothing).
  constexpr int kEarlyStages = 2 < STAGES - 1 ? 2 : STAGES - 1;
  bool waited = false;

  const ThreadPos<L> th = ThreadPos<L>::here();
  const int k_tiles = args.k / L::kTileK;
  const int total = ceil_div(args.m, L::kRows) * ceil_div(args.n, L::kTileN) * k_tiles;
  const int iters = static_cast<int>((static_cast<unsigned>(total) + gridDim.x - 1) / gridDim.x);
  const int run_begin = blockIdx.x * iters;
  const int run_end = min(total, run_begin + iters);

  const int a_stride = args.k / 8;                  // int4 per row of A
  const int b_stride = args.n * F::kBits / 8;       // int4 per k16 row of B
  const int s_stride = args.n / 8;                  // int4 per row of scales

  // This thread's share of the A copy: row a_row (+ kARowsPerPass per pass),
  // chunk a_chunk; rows repeat the same swizzle every 8 rows.
  const int a_row = th.tid / L::kAChunks;
  const int a_chunk = th.tid % L::kAChunks;
  const int a_wr = a_row * L::kAChunks + (a_chunk ^ (a_row % 8));
  // ldmatrix addresses: lane l reads row l % 16 of the m16 block, chunk l / 16
  // of the k16 block this warp handles at each step.
  int a_rd[L::kStepsK];
#pragma unroll
  for (int s = 0; s < L::kStepsK; ++s) {
    const int chunk = 2 * (th.warp_k + L::kWarpsK * s) + th.lane / 16;
    a_rd[s] = (th.lane % 16) * L::kAChunks + (chunk ^ (th.lane % 8));
  }

  [[maybe_unused]] const uint64_t b_policy = HINT ? args.b_policy : 0;

  Accumulators<L> acc;
  uint32_t frag_a[2][L::kMBlocks][4];      // double-buffered A fragments
  uint32_t frag_q[2][4 * L::kLaneInt4];    // packed weights of 4 n16 blocks
  int4 frag_s[2];                          // group scales of the lane's 8 columns
  int4 frag_zs[2];                         // their scaled zero points (grouped zero-point formats)
  typename Codec::Zero zc[8];              // the subtrahends of the lane's 8 columns
  // Grouped formats subtract the symmetric zero point and add the scaled
  // zero point in the scale step (common/format.h); per-column zero points
  // are subtracted here, once per slice.
  if constexpr (F::kGrouped || !F::kZeroPoints) {
#pragma unroll
    for (int i = 0; i < 8; ++i) zc[i] = Codec::symmetric();
  }
  // The subtrahends from a lane's zero-point words (per-column formats).
  auto make_zeros = [&](const uint32_t (&zw)[2]) {
    unroll<8>([&](auto I) { zc[decltype(I)::value] = Codec::template zero<decltype(I)::value>(zw); });
  };

  for (int pos = run_begin; pos < run_end;) {
    const Slice<L> sl = Slice<L>::at(args, pos, run_end, iters);

    // Where this thread's copies of the next stage come from. Activations
    // and weights are each fetched stage after stage (tiles 0, 1, 2, ... of
    // the slice: the early weight stages, the prologue, then one per tile),
    // so each fetch takes the running source and advances it by one stage,
    // instead of rebuilding 64-bit addresses from (k, column) every stage.
    const int4* a_next = args.a + static_cast<int64_t>(sl.problem) * L::kRows * a_stride +
                         static_cast<int64_t>(a_row) * a_stride + a_chunk + sl.k_first * L::kAChunks;
    const int4* b_next = args.b + sl.col * L::kBChunks + th.warp_n * 32 * L::kLaneInt4 + th.lane +
                         static_cast<int64_t>(sl.k_first * L::kKBlocks + th.warp_k) * b_stride;
    const int64_t b_step = static_cast<int64_t>(L::kWarpsK) * b_stride;  // a warp's k16 rows within a stage
    const bool b_columns = th.warp_n < sl.chunks;                        // the warp's columns exist

    // Copies the activations of the next stage into the slot at int4 offset `slot`.
    auto fetch_activations = [&](int slot, bool pred) {
      int4* const stage = smem + slot;
#pragma unroll
      for (int p = 0; p < L::kAPasses; ++p) {
        const int row = a_row + p * L::kARowsPerPass;
        ptx::cp_async16(stage + a_wr + p * L::kARowsPerPass * L::kAChunks,
                        a_next + static_cast<int64_t>(p) * L::kARowsPerPass * a_stride, pred && row < sl.rows);
      }
      a_next += L::kAChunks;
    };
    // Copies the weights, scales and zero points of the next stage, stage `tile`.
    auto fetch_weights = [&](int slot, int tile, bool pred) {
      const int kt = sl.k_first + tile;
      int4* const stage = smem + slot;
      const int4* src = b_next;
#pragma unroll
      for (int s = 0; s < L::kStepsK; ++s) {
#pragma unroll
        for (int p = 0; p < L::kLaneInt4; ++p) {
          int4* const dst = stage + L::kBOffset + (s * L::kLaneInt4 + p) * L::kThreads + th.tid;
          if constexpr (HINT)
            ptx::cp_async16_hint(dst, src + p * 32, pred && b_columns, b_policy);
          else
            ptx::cp_async16(dst, src + p * 32, pred && b_columns);
        }
        src += b_step;
      }
      b_next += L::kKBlocks * static_cast<int64_t>(b_stride);
      if constexpr (F::kGrouped) {
        // Every stage carries its groups' scale (and scaled zero-point) rows,
        // so a slot never depends on another slot the pipeline may be refilling.
        const int group = kt * L::kKBlocks / F::kGroupBlocks;
        if (th.tid < L::kSStage + L::kZStage) {
          const bool zero_row = th.tid >= L::kSStage;  // the two copies share one shape
          const int i = zero_row ? th.tid - L::kSStage : th.tid;
          const int r = i / L::kSChunks;
          const int ch = i % L::kSChunks;
          ptx::cp_async16(stage + (zero_row ? L::kZOffset : L::kSOffset) + i,
                          (zero_row ? args.zeros : args.scales) + static_cast<int64_t>(group + r) * s_stride +
                              sl.col * L::kSChunks + ch,
                          pred && ch / 8 < sl.chunks);
        }
      }
    };
    // Copies stage `tile` whole and closes its group; with pred false it only
    // commits an empty group, which keeps the wait counts exact.
    auto fetch_stage = [&](int slot, int tile, bool pred) {
      fetch_activations(slot, pred);
      fetch_weights(slot, tile, pred);
      ptx::cp_async_commit();
    };

    auto load_fragments = [&](int buf, int slot, int step) {
      const int4* const stage = smem + slot;
#pragma unroll
      for (int i = 0; i < L::kMBlocks; ++i) ptx::ldmatrix_x4(frag_a[buf][i], stage + a_rd[step] + i * 16 * L::kAChunks);
      const int4* const sb = stage + L::kBOffset + step * L::kLaneInt4 * L::kThreads + th.tid;
#pragma unroll
      for (int p = 0; p < L::kLaneInt4; ++p) {
        const int4 v = sb[p * L::kThreads];
        frag_q[buf][4 * p + 0] = static_cast<uint32_t>(v.x);
        frag_q[buf][4 * p + 1] = static_cast<uint32_t>(v.y);
        frag_q[buf][4 * p + 2] = static_cast<uint32_t>(v.z);
        frag_q[buf][4 * p + 3] = static_cast<uint32_t>(v.w);
      }
      if constexpr (F::kGrouped) {
        // The row of the group this step's k16 block falls in.
        const int row = L::kGroupRows > 1 ? (th.warp_k + L::kWarpsK * step) / F::kGroupBlocks : 0;
        // Scale int4 number g of the warp's 64 columns holds, in order, the
        // scales of columns g, g+8, g+16, ..., g+56: the packer transposed them.
        frag_s[buf] = stage[L::kSOffset + row * L::kSChunks + 8 * th.warp_n + th.g];
        if constexpr (F::kZeroPoints) frag_zs[buf] = stage[L::kZOffset + row * L::kSChunks + 8 * th.warp_n + th.g];
      }
    };

    auto compute = [&](int buf, int step) {
      const Scalar* const s = reinterpret_cast<const Scalar*>(&frag_s[buf]);
      const Scalar* const zs = reinterpret_cast<const Scalar*>(&frag_zs[buf]);
      // n outer, m inner: the dequantization of the next n16 block overlaps
      // the mma of this one.
      unroll<4>([&](auto J) {
        constexpr int j = decltype(J)::value;
        FragB b0, b1;  // columns 16j + g and 16j + 8 + g
        decode_block<Codec>(&frag_q[buf][j * Codec::kWordsPerBlock], zc[2 * j], zc[2 * j + 1], b0, b1);
        if constexpr (F::kGrouped && F::kZeroPoints) {
          scale_shift_frag<F::kAct>(b0, Traits::broadcast(s[2 * j]), Traits::broadcast(zs[2 * j]));
          scale_shift_frag<F::kAct>(b1, Traits::broadcast(s[2 * j + 1]), Traits::broadcast(zs[2 * j + 1]));
        } else if constexpr (F::kGrouped) {
          scale_frag<F::kAct>(b0, Traits::broadcast(s[2 * j]));
          scale_frag<F::kAct>(b1, Traits::broadcast(s[2 * j + 1]));
        }
#pragma unroll
        for (int i = 0; i < L::kMBlocks; ++i) {
          Traits::mma(frag_a[buf][i], b0.r, acc[i][j][0]);
          Traits::mma(frag_a[buf][i], b1.r, acc[i][j][1]);
        }
      });
    };

    // ---- main loop: stream the slice's stages through the pipeline ----
#pragma unroll
    for (int i = 0; i < L::kMBlocks * 32; ++i) (&acc[0][0][0][0])[i] = 0.f;
    if constexpr (!F::kGrouped && F::kZeroPoints) {
      // One row of zero points for the whole column: read once per slice.
      const uint32_t* const zp = reinterpret_cast<const uint32_t*>(args.zeros) + sl.col * (L::kZChunks * 4) +
                                 th.warp_n * L::kZWordsPerWarp + th.g * L::kZWordsPerLane;
      const uint32_t zw[2] = {th.warp_n < sl.chunks ? __ldg(zp) : 0u, th.warp_n < sl.chunks ? __ldg(zp + 1) : 0u};
      make_zeros(zw);
    }
    // The first slice of the block: its first kEarlyStages stages of weights,
    // then the wait. They join the group of stage 0, so every stage is still
    // complete when its own group is.
    const bool early = !waited;
    if (early) {
#pragma unroll
      for (int s = 0; s < kEarlyStages; ++s) fetch_weights(s * L::kStageInt4, s, s < sl.tiles);
      ptx::grid_dependency_wait();
      ptx::allow_dependents_launch();
      waited = true;
    }
#pragma unroll
    for (int s = 0; s < STAGES - 1; ++s) {
      fetch_activations(s * L::kStageInt4, s < sl.tiles);
      if (!early || s >= kEarlyStages) fetch_weights(s * L::kStageInt4, s, s < sl.tiles);
      ptx::cp_async_commit();
    }
    ptx::cp_async_wait<STAGES - 2>();
    __syncthreads();
    load_fragments(0, 0, 0);

    constexpr int kRing = STAGES * L::kStageInt4;
    int read_slot = 0;                          // offset of the slot this tile reads
    int refill_slot = kRing - L::kStageInt4;    // the slot read during the previous tile
    for (int tile = 0; tile < sl.tiles; ++tile) {
      const int next_slot = read_slot + L::kStageInt4 == kRing ? 0 : read_slot + L::kStageInt4;
#pragma unroll
      for (int step = 0; step < L::kStepsK; ++step) {
        // Refill the previous tile's slot: every thread finished reading it
        // before the barrier that closed that tile.
        if (step == 0) fetch_stage(refill_slot, tile + STAGES - 1, tile + STAGES - 1 < sl.tiles);
        if (step + 1 < L::kStepsK) {
          load_fragments((step + 1) % 2, read_slot, step + 1);
        } else {
          // Next stage landed (at most STAGES-2 younger groups in flight).
          ptx::cp_async_wait<STAGES - 2>();
          __syncthreads();
          load_fragments(0, next_slot, 0);
        }
        compute(step % 2, step);
      }
      refill_slot = read_slot;
      read_slot = next_slot;
    }
    ptx::cp_async_wait<0>();
    __syncthreads();

    // ---- end of the slice ----
    reduce_k_warps<L>(acc, smem, th);
    const bool owner = th.warp_k == 0 && th.warp_n < sl.chunks;  // holds finished sums for valid columns
    if constexpr (!F::kGrouped) {
      if (owner) apply_channel_scales<L>(acc, args, sl, th);
    }
    if (sl.count > 1) reduce_across_blocks<L, kSmemBytes>(acc, smem, args, sl, th, owner);
    if (sl.last) write_tile<L>(acc, smem, args, sl, th);
    pos += sl.tiles;
  }
}

}  // namespace marlin::mma
