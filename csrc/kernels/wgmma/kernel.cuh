// The wgmma-family GEMM (sm_90a): C[m,n] = A[m,k] * dequant(B)[k,n] for
// 4- or 8-bit weights in the Marlin layout, grouped or per column,
// symmetric or with zero points.
//
// It computes C^T = dequant(B)^T A^T, so that the weights are wgmma's A
// operand, dequantized into registers, and the activations its B operand,
// read by the tensor cores from shared memory: the batch is wgmma's N (the
// tile's 32, 48, 64, 96 or 128 rows), and one warpgroup's instruction covers 64
// weight columns x N rows.
//
// Why the Marlin layout fits: a lane's 4-bit word of a 16x16 weight block
// (dequant.cuh) makes the m16n8k16 B fragments of columns g and g + 8, rows
// 2t, 2t+1, 2t+8, 2t+9; seen transposed those are exactly the A fragment of
// a 16x16 block of B^T (rows g and g + 8 of it). So warp w of a warpgroup
// takes word w (n16 block w of the lane's 64 columns) of each lane's int4,
// and warpgroup G the G-th 64-column unit of the block's columns. 8-bit
// weights hold a block in two words per lane (one per n8 half), so a lane's
// k16 row of 64 columns is two int4: warp w takes words 2 (w % 2) and
// 2 (w % 2) + 1 of int4 number w / 2.
//
// A block: kGroups warpgroups side by side along n (64 columns each) and kRows
// batch rows; k in stages of kTileK (K_ATOMS 64-deep, 128-byte swizzle atoms
// of A), each one k tile of kUnitK, the unit k is counted in, or two
// (units_per_stage). Every thread copies its share of each stage with
// cp.async; a stage is
//   A      K_ATOMS atoms of kRows x 64 activations, 128-byte swizzle (the wgmma descriptor's)
//   B      kSteps k16 rows x kGroups units x 32 lanes x int4, as stored globally
//   scales kGroupRows rows of kTileN scales (grouped formats)
//   zeros  kGroupRows rows of kTileN scaled zero points, the scales' type and order (grouped, zero points)
// The grid is (output tiles, 1, k splits): blockIdx.x counts tiles in the
// raster order below (bands of kRasterRows row tiles, column by column),
// from args.tile_first. A 2D grid of column and row tiles, mapped to the
// same order, measured 2-4% slower on every Llama-2 layer (perf-notes run
// 36; the cause is not profiled: likely the order the hardware dispatches a
// 2D grid's blocks in). A call may run its tiles in two launches (gemm.cu,
// chooser.cc). A stream-k launch (args.stream_k, Tile::kStreamK)
// has a grid of (blocks, 1, 1) instead, at most one per SM, which share
// every tile's k and reduce through the workspace (stream_k_tiles below).
//
// Split-k: where column tiles x row tiles leave SMs idle (narrow layers,
// few rows), the splits blocks of an output tile each take a contiguous
// share of k and form one thread block cluster. Each writes its FP32 partial
// tile into its own shared memory (the pipeline's, free by then); after a
// cluster barrier, block `rank` sums its share (1 / splits, contiguous) of
// the tile's columns over every peer's partial, in rank order, through
// distributed shared memory, and stores them; a second barrier keeps every block's shared
// memory alive until its peers have read it. The hardware schedules a
// cluster's blocks together, so nothing waits on a block that is not
// running, and the fixed order makes repeats bit-identical. No workspace.
// Pipeline: stage t + STAGES - 2 is fetched into the slot of stage t - 2
// while stage t is computed. The extra slot is there because the last
// wgmmas of stage t - 1 may still be reading its slot when the barrier
// opening stage t is passed. Each warpgroup leaves at most N = 2 or 3
// wgmmas in flight at each wait (Tile::kWgmmasInFlight; the tensor pipe
// starts the next while the warps decode; the steps of one issue, 1 or 2,
// are issued before the wait), so once a thread is past the wait that
// follows stage t - 1's N-th step, every wgmma of stage t - 2 has
// completed, and the barrier makes that true of all threads before stage
// t - 2's slot is refilled.
#pragma once

#include <cstdint>

#include "common/act.cuh"
#include "common/ptx.cuh"
#include "kernel_args.h"
#include "mma/dequant.cuh"
#include "packing.h"
#include "wgmma/ptx.cuh"

namespace marlin::wg {

template <Act ACT,
          int BITS,          // 4 or 8 bits per weight
          int GROUP_BLOCKS,  // k16 blocks per scale group (2, 4, 8), -1 = one group per column
          bool ZERO_POINTS,  // stored zero points (else symmetric: z = 8, or 128 for 8 bits)
          int ROWS,          // batch rows per block: wgmma's N (32, 48, 64, 96 or 128;
                             // 48 for 33-48 rows and 96 for 65-96: less tensor work
                             // on missing rows, measured 4-8% and 6-15% faster
                             // there, perf-notes runs 44 and 45)
          int GROUPS,        // warpgroups, 64 output columns each
          int K_ATOMS = 1,   // 64-deep swizzle atoms of A per pipeline stage
          int UNITS = 1>     // k tiles (the chooser's unit of k) per pipeline stage
struct Tile {
  static_assert(BITS == 4 || BITS == 8, "the Marlin layout holds 4- or 8-bit weights");
  static constexpr Act kAct = ACT;
  static constexpr int kBits = BITS;
  // 32-bit words of one lane per 16x16 weight block (dequant.cuh): 1 (4 bits)
  // or 2 (8 bits); a 64-column unit's k16 row is 32 x kBlockWords int4.
  static constexpr int kBlockWords = BITS / 4;
  static constexpr int kGroupBlocks = GROUP_BLOCKS;
  static constexpr bool kGrouped = GROUP_BLOCKS > 0;
  static constexpr bool kZeroPoints = ZERO_POINTS;
  static constexpr int kRows = ROWS;
  static constexpr int kGroups = GROUPS;
  static constexpr int kThreads = 128 * GROUPS;
  static constexpr int kTileN = 64 * GROUPS;
  static constexpr int kAtoms = K_ATOMS;
  static constexpr int kTileK = 64 * K_ATOMS;  // a pipeline stage's depth
  static constexpr int kSteps = kTileK / 16;
  // A stage holds kUnits k tiles of kUnitK elements: the unit the chooser,
  // the split shares and stream-k count k in, and what k must be a multiple
  // of. A share whose k tiles do not fill its last stage fetches and
  // computes only the ones it has (gemm_body's `valid`).
  static constexpr int kUnits = UNITS;
  static constexpr int kUnitK = kTileK / UNITS;
  static constexpr int kUnitSteps = kSteps / UNITS;
  static constexpr int kUnitAtoms = K_ATOMS / UNITS;
  // k16 steps a warp decodes before it issues their wgmmas (gemm_body's
  // compute_stage): 2 where a step's decode is a long dependent chain, so
  // that each warp has two chains to interleave, else 1. Measured against
  // one step (docs/perf-notes.md run 42; model sums, 17-1024 rows): BF16
  // 4-bit with zero points 2.0-4.7% faster; BF16 symmetric 4-bit 1.3-6.6%
  // faster at 17-64 rows (g128; g32 and per-column -0.1..2.5%) but up to
  // 4% slower from 128 rows, in the 128-row tile; BF16 8-bit 0.9-5.2%
  // faster from 64 rows, within 0.7% below; FP16 8-bit -1.1..+0.6%. FP16
  // 4-bit keeps one: with two, from 0.8% faster to 1.7% slower in the 32-
  // and 64-row tiles and 2.7-7.8% slower in the 128-row one, symmetric or
  // with zero points. The 96-row tile takes the 128-row one's rule (not
  // measured apart).
  static constexpr int kStepsPerIssue = BITS == 8 || (ACT == Act::kBF16 && (ZERO_POINTS || ROWS <= 64)) ? 2 : 1;
  // wgmmas a warpgroup leaves in flight after each issue (wgmma.wait_group's
  // count). A third hides more of the tensor pipe's latency behind the next
  // step's decode where that decode is short: FP16, 4 bits, grouped scales,
  // measured 0.6-2.8% faster than two from 256 rows and, in the 64-row tile,
  // 1.1-1.9% at group 128. Elsewhere two measured as fast or faster
  // (docs/perf-notes.md run 36): FP16 per-column 1.2-2.4% slower with three,
  // BF16 -0.5..+0.9% (per-column zero points +2.0..+3.2% at 64 rows), FP16
  // g32 and g64 in the 64-row tile +0.2..+0.9%; 8 bits tie. Two steps per
  // issue keep two. The 96-row tile takes the 128-row one's rule (not
  // measured apart).
  static constexpr int kWgmmasInFlight =
      kStepsPerIssue == 1 && ACT == Act::kF16 && BITS == 4 && GROUP_BLOCKS > 0 && (ROWS > 64 || GROUP_BLOCKS == 8) ? 3
                                                                                                                   : 2;

  // Whether the tile can run stream-k (args.stream_k, stream_k_tiles): the
  // 32-, 48- and 64-row tiles, and the 96- and 128-row ones of FP16 4-bit
  // grouped formats, whose kernel with stream-k still fits 128 registers
  // without spilling (ptxas, CUDA 13.0; the other formats' spill 4-24 bytes;
  // the 96-row kernels of FP16 g128, symmetric or with zero points, spill 8
  // bytes, not measured against no stream-k). The 96- and 128-row tiles'
  // split launches keep a kernel without it (kStreamKKernelApart).
  static constexpr bool kStreamK = ROWS <= 64 || (ACT == Act::kF16 && BITS == 4 && GROUP_BLOCKS > 0);
  static constexpr bool kStreamKKernelApart = kStreamK && ROWS > 64;

  // Where a k tile is exactly one scale group (group 128: kUnitSteps k16
  // blocks) of a symmetric 4-bit format, the 32-row tile feeds its wgmmas
  // the unscaled weights (small integers, exact in 16 bits) into a k tile's
  // own sums, and scales those in FP32 into the accumulators once its
  // wgmmas retire (gemm_body's fold_stage): ROWS / 2 FFMA per lane and k
  // tile instead of 4 HMUL2 per k16 step, off the chain from a step's
  // weight words to its wgmma (16 instructions for 32 at 32 rows). ptxas
  // serializes every wgmma (C7513) if the sums are read while any wgmma
  // runs on, so each k tile ends by waiting for all of its own. Measured
  // 2-4% faster at 17-32 rows in FP16 and BF16; 8 bits tied or lost up to
  // 3% (docs/perf-notes.md run 39). At 64 rows the sums would take 32 more
  // registers than the kernel has.
  static constexpr bool kScaleAfter = BITS == 4 && GROUP_BLOCKS == kUnitSteps && !ZERO_POINTS && ROWS == 32;

  static constexpr int kAtomBytes = ROWS * 128;  // one 64-deep atom of A (a multiple of 1024)
  static constexpr int kABytes = kAtomBytes * K_ATOMS;
  static constexpr int kBInt4 = kSteps * GROUPS * 32 * kBlockWords;
  static constexpr int kGroupRows = kGrouped ? (kSteps > GROUP_BLOCKS ? kSteps / GROUP_BLOCKS : 1) : 0;
  static constexpr int kSInt4 = kGroupRows * kTileN / 8;
  static constexpr int kBOffset = kABytes;
  static constexpr int kSOffset = kBOffset + kBInt4 * 16;
  // Grouped zero-point formats: as many rows of scaled zero points, in the
  // scales' type and order (common/format.h).
  static constexpr int kZInt4 = kGrouped && kZeroPoints ? kSInt4 : 0;
  static constexpr int kZOffset = kSOffset + kSInt4 * 16;
  static constexpr int kStageBytes = (kZOffset + kZInt4 * 16 + 1023) / 1024 * 1024;
  // The split-k partial tile: kRows rows of kTileN FP32 sums, rows padded
  // by 4 floats so that the accumulator writes (a warp: 8 columns x 4 rows
  // 2 apart) fall in 32 different banks, and rows stay 16-byte aligned.
  static constexpr int kPartStride = kTileN + 4;
  static constexpr int kPartBytes = kRows * kPartStride * 4;
  static constexpr int kMaxSplits = 8;  // the portable cluster size limit

  // Output tiles of an [m, n] result along n and m, the last of each partial
  // (the grid's and the raster's count: launch.cuh, gemm_body).
  __host__ __device__ static constexpr int col_tiles(int n) { return (n + kTileN - 1) / kTileN; }
  __host__ __device__ static constexpr int row_tiles(int m) { return (m + kRows - 1) / kRows; }

  // 1024 bytes of slack: the swizzled A tiles need 1024-byte alignment, which
  // dynamic shared memory does not promise.
  __host__ __device__ static constexpr int smem_bytes(int stages) { return stages * kStageBytes + 1024; }
  __host__ __device__ static constexpr int deepest_stages(int smem_limit, int max_stages) {
    for (int s = max_stages; s >= 3; --s)
      if (smem_bytes(s) <= smem_limit) return s;
    return 0;
  }

  static_assert(ROWS == 32 || ROWS == 48 || ROWS == 64 || ROWS == 96 || ROWS == 128,
                "a wgmma N with a ptx::MmaAsync specialization");
  // (How the activation copies split over the threads: gemm_body's asserts.)
  static_assert(kBInt4 % kThreads == 0, "weight copies split evenly over the threads");
  static_assert(kSInt4 <= kThreads && kZInt4 <= kThreads, "scale and zero-point rows are copied in one pass");
  // A share may start at any k tile: with several per stage, a stage's scale
  // rows are found from its first k tile, so no group may span k tiles.
  static_assert(!kGrouped || UNITS == 1 || kUnitSteps % GROUP_BLOCKS == 0, "a scale group within one k tile");
  static_assert(kPartBytes <= 3 * kStageBytes, "the partial tile fits the pipeline's shared memory");
  static_assert(kTileN / 4 >= kMaxSplits, "every split reduces at least one float4 column");
};

// Consecutive blocks walk this many row tiles before moving to the next
// column tile, so that the blocks of a wave share weight tiles and
// activation rows in L2 (measured on the H100: up to 11% on the 70B layers
// at m = 4096 against plain column-major order; docs/perf-notes.md).
constexpr int kRasterRows = 8;

// The split-k epilogue of a block (see the top of the file): its partial
// tile into its own shared memory (the pipeline's, free once every
// warpgroup is done with it), then its share of the columns summed over the
// cluster in rank order and stored. Columns past n hold garbage and are
// never read back; rows past m are neither written nor read. (Inlined: as a
// call, the accumulators go through local memory; and written inline in
// gemm_body, ptxas serialized the main loop's wgmmas, C7515.)
template <class T>
__device__ __forceinline__ void reduce_splits(const KernelArgs& args, const float (&acc)[T::kRows / 2], char* smem,
                                              uint32_t base, int row0, int unit0) {
  using Traits = ActTraits<T::kAct>;
  using Scalar = typename Traits::Scalar;
  const int tid = threadIdx.x;
  const int lane = tid % 32;
  const int warp = (tid / 32) % 4;
  const int group = tid / 128;
  const int g = lane / 4;
  const int t = lane % 4;
  const int splits = gridDim.z;
  const int units = args.n / 64;
  const int lc0 = group * 64 + 16 * warp + g;  // the lane's first column within the tile (gemm_body's c0)
  float s0 = 1.f;
  float s1 = 1.f;
  if constexpr (!T::kGrouped) {
    if (unit0 + group < units) {
      const Scalar* const sc = reinterpret_cast<const Scalar*>(args.scales);
      s0 = Traits::to_float(sc[packing::scale_position(unit0 * 64 + lc0, -1)]);
      s1 = Traits::to_float(sc[packing::scale_position(unit0 * 64 + lc0 + 8, -1)]);
    }
  }
  Scalar* const c = reinterpret_cast<Scalar*>(args.c);
  const int rows = min(T::kRows, args.m - row0);
  __syncthreads();
  float* const part = reinterpret_cast<float*>(smem);
#pragma unroll
  for (int i = 0; i < T::kRows / 8; ++i) {
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const int r = 8 * i + 2 * t + e;
      if (r < rows) {
        part[r * T::kPartStride + lc0] = acc[4 * i + e] * s0;
        part[r * T::kPartStride + lc0 + 8] = acc[4 * i + 2 + e] * s1;
      }
    }
  }
  ptx::cluster_sync();
  const uint32_t rank = ptx::cluster_rank();
  // Rank r reduces float4 columns [r, r + 1) * (kTileN / 4) / splits of the
  // tile (any split count up to kTileN / 4), contiguous so that neighbouring
  // threads read neighbouring 16 bytes (no bank conflicts).
  const int first_chunk = static_cast<int>(rank) * (T::kTileN / 4) / splits;
  const int chunks = (static_cast<int>(rank) + 1) * (T::kTileN / 4) / splits - first_chunk;
  for (int i = tid; i < rows * chunks; i += T::kThreads) {
    const int r = i / chunks;
    const int lc = 4 * (first_chunk + i % chunks);
    if (unit0 * 64 + lc >= args.n) continue;
    const uint32_t offset = base + static_cast<uint32_t>((r * T::kPartStride + lc) * 4);
    // Every peer's load is issued before the first sum (unrolled to the
    // largest cluster), so their latencies overlap; the sum is in rank order.
    float4 part_of[T::kMaxSplits];
#pragma unroll
    for (int p = 0; p < T::kMaxSplits; ++p)
      if (p < splits) part_of[p] = ptx::load_cluster_f4(ptx::cluster_address(offset, p));
    float4 sum = part_of[0];
#pragma unroll
    for (int p = 1; p < T::kMaxSplits; ++p) {
      if (p < splits) {
        sum.x += part_of[p].x;
        sum.y += part_of[p].y;
        sum.z += part_of[p].z;
        sum.w += part_of[p].w;
      }
    }
    uint2 packed;
    packed.x = Traits::as_u32(Traits::from_floats(sum.x, sum.y));
    packed.y = Traits::as_u32(Traits::from_floats(sum.z, sum.w));
    *reinterpret_cast<uint2*>(c + static_cast<int64_t>(row0 + r) * args.n + unit0 * 64 + lc) = packed;
  }
  ptx::cluster_sync();  // every peer is done reading this block's partial
}

// Stream-k (args.stream_k; tiles with T::kStreamK): the launch's W blocks
// share the U = tiles x k-tiles units of work evenly, units numbered tile by
// tile (raster order), k ascending within a tile: block b runs units
// [b U / W, (b + 1) U / W), so every SM streams the same number of weight
// k tiles whatever the tile count (a split count leaves SMs idle where tiles
// x splits is not a multiple of a wave). A block's units fall in one or more
// output tiles; it runs its share of each (run_tile_share), last first:
//   - a share that ends before the tile's last k is a partial: the block
//     posts its FP32 sums in its own workspace slot (in register order: the
//     finishing block's threads hold the same elements) and releases its
//     counter (args.locks[b]). A block posts at most one partial: only its
//     last share can end short of a tile's end, or its only one.
//   - the share that ends the tile adds the partials of the blocks below
//     that hold the tile's earlier k (b - 1, b - 2, ..., in that order, so
//     repeats are bit-identical), resetting their counters to zero for the
//     next launch, and stores the tile.
// Running the last share first posts a block's partial at the start of its
// run; the share that waits on blocks below comes at the end, when theirs
// are posted. Blocks wait only on blocks below them, and the chooser never
// launches more than the GPU's SMs (all resident, one per SM), so the
// waits end.
template <class T, class Locate, class RunShare, class Store>
__device__ __forceinline__ void stream_k_tiles(const KernelArgs& args, float (&acc)[T::kRows / 2], int tiles,
                                               int k_tiles, Locate locate, RunShare run_tile_share, Store store_tile) {
  static_assert(T::kRows * T::kTileN <= kPartialSlotsPerSm * kPartialSlotFloats && T::kRows / 2 % 4 == 0,
                "a partial tile fits a block's share of the workspace's slots, as float4 per thread");
  constexpr int kQuads = T::kRows / 8;               // float4 of acc per thread
  constexpr int kSlotF4 = T::kRows * T::kTileN / 4;  // a block's partial
  const int tid = threadIdx.x;
  const int blocks = gridDim.x;
  const int b = blockIdx.x;
  const int64_t units = static_cast<int64_t>(tiles) * k_tiles;  // < 2^31 (launch.cuh)
  auto first_unit = [&](int block) { return static_cast<int>(block * units / blocks); };
  const int start = first_unit(b);
  for (int end = first_unit(b + 1); end > start;) {
    const int tile = (end - 1) / k_tiles;
    const int tile_start = tile * k_tiles;
    const int from = max(start, tile_start);
    locate(tile);
    run_tile_share(from - tile_start, end - from);
    if (end - tile_start < k_tiles) {
      float4* const slot = args.partials + static_cast<int64_t>(b) * kSlotF4 + tid;
#pragma unroll
      for (int q = 0; q < kQuads; ++q)
        __stcg(slot + q * T::kThreads, make_float4(acc[4 * q], acc[4 * q + 1], acc[4 * q + 2], acc[4 * q + 3]));
      // The barrier orders every thread's stores before thread 0's
      // GPU-scope release (cumulative), as in the mma family's epilogue.
      __syncthreads();
      if (tid == 0) marlin::ptx::red_add_release(args.locks + b, 1);
    } else {
      for (int p = b - 1, covered = from; covered > tile_start; --p) {
        if (tid == 0) {
          while (marlin::ptx::load_acquire(args.locks + p) == 0) {
          }
          args.locks[p] = 0;
        }
        __syncthreads();
        const float4* const slot = args.partials + static_cast<int64_t>(p) * kSlotF4 + tid;
#pragma unroll
        for (int q = 0; q < kQuads; ++q) {
          const float4 v = __ldcg(slot + q * T::kThreads);
          acc[4 * q] += v.x;
          acc[4 * q + 1] += v.y;
          acc[4 * q + 2] += v.z;
          acc[4 * q + 3] += v.w;
        }
        covered = first_unit(p);
      }
      store_tile();
    }
    // Every warp is done with the pipeline's shared memory before the next
    // share refills it.
    __syncthreads();
    end = from;
  }
}

// STREAM_K: the kernel holds the stream-k path (args.stream_k selects it).
template <class T, int STAGES, bool STREAM_K>
__device__ __forceinline__ void gemm_body(const KernelArgs& args) {
  using Traits = ActTraits<T::kAct>;
  using Codec = marlin::Codec<T::kAct, T::kBits>;
  using Scalar = typename Traits::Scalar;
  static_assert(STAGES >= 3, "one slot of slack plus two in flight");
  // With N wgmmas in flight a stage's slot is free within the next stage
  // only if a stage has at least N k16 steps (file comment).
  static_assert(T::kSteps >= T::kWgmmasInFlight, "a stage's wgmmas must retire during the next stage");
  static_assert(T::kUnitSteps % T::kStepsPerIssue == 0 && (!T::kGrouped || T::kGroupBlocks % T::kStepsPerIssue == 0),
                "a k tile and a scale group are whole issues of steps");

  extern __shared__ int4 smem_raw[];
  // Under programmatic dependent launch the block waits for the kernel before
  // it only after its setup and its first kEarlyStages stages of weights
  // (below), as the mma family does (mma/kernel.cuh says why that is safe).
  constexpr int kEarlyStages = 2 < STAGES - 2 ? 2 : STAGES - 2;

  const uint32_t raw = marlin::ptx::smem_address(smem_raw);
  const uint32_t base = (raw + 1023u) & ~1023u;
  char* const smem = reinterpret_cast<char*>(smem_raw) + (base - raw);

  const int tid = threadIdx.x;
  const int lane = tid % 32;
  const int warp = (tid / 32) % 4;  // n16 block of the warpgroup's 64 columns
  const int group = tid / 128;      // 64-column unit of the block
  const int g = lane / 4;
  const int t = lane % 4;

  const int units = args.n / 64;
  const int col_tiles = T::col_tiles(args.n);
  const int row_tiles = T::row_tiles(args.m);
  const int all_k_tiles = args.k / T::kUnitK;
  const int b_stride = args.n * T::kBits / 8;  // int4 per k16 row of B
  const int s_stride = args.n / 8;  // int4 per row of scales

  // The output tile of the work at hand: its first row and 64-column unit.
  int row0 = 0;
  int unit0 = 0;
  // Tile id -> (row tile, column tile): bands of kRasterRows row tiles,
  // each walked column by column.
  auto locate = [&](int id) {
    const int band = id / (kRasterRows * col_tiles);
    const int first = band * kRasterRows;
    const int height = min(kRasterRows, row_tiles - first);
    const int in_band = id - band * kRasterRows * col_tiles;
    row0 = (first + in_band % height) * T::kRows;
    unit0 = in_band / height * T::kGroups;
  };

  // Running copy sources (as the mma family's, perf-notes run 29): the
  // activations and the weights are each fetched stage after stage (the
  // early weight stages, the prologue's, then one per stage), so each
  // fetch copies from its running source and advances it by one stage,
  // instead of rebuilding 64-bit addresses from (k tile, row, column) for
  // every copy. Copy p of a thread is element tid + p * kThreads of the
  // stage (activations of the 48- and 96-row tiles: below); its row, atom
  // (activations) and k16 row (weights) are the thread's plus a constant
  // of p (the asserts below), so one source per array and a register or
  // two of strides serve every copy.
  constexpr int kRowsPerPass = T::kThreads / 8;  // rows one pass of 16-byte chunks covers
  // The 48- and 96-row tiles' rows are neither a multiple nor a divisor of
  // a pass's 64: there pass j copies rows 64 j + tid / 8 of every atom, one
  // chunk each, on the threads whose row the tile has (whole warps), and
  // the others skip it.
  constexpr bool kARowPasses = T::kRows % kRowsPerPass != 0 && kRowsPerPass % T::kRows != 0;
  constexpr int kAPasses = (T::kRows + kRowsPerPass - 1) / kRowsPerPass;
  constexpr int kACopies = T::kRows * 8 * T::kAtoms / T::kThreads;  // (where not kARowPasses)
  static_assert(kARowPasses ? T::kRows * 8 % 32 == 0 : T::kRows * 8 * T::kAtoms % T::kThreads == 0,
                "a copy's row and atom are the thread's plus a constant");
  constexpr int kRowInt4 = T::kGroups * 32 * T::kBlockWords;  // one k16 row of the tile
  constexpr int kBCopies = T::kBInt4 / T::kThreads;
  static_assert(T::kThreads % kRowInt4 == 0, "a copy's k16 row is the thread's plus a constant");
  static_assert(T::kUnitSteps % (T::kThreads / kRowInt4) == 0 &&
                    (kARowPasses || T::kUnitAtoms % (kRowsPerPass > T::kRows ? kRowsPerPass / T::kRows : 1) == 0),
                "a copy's rows and atoms fall in one k tile of the stage, whichever the thread");
  // Copy 0's row and atom; copy p adds (p * kRowsPerPass) % kRows rows and
  // p * kThreads / (kRows * 8) atoms. (A pass covers more rows than a
  // 32-row tile has: there the thread's atom is its row's pass. With
  // kARowPasses the thread's row is tid / 8 in every pass and atom.)
  const int a_row = kRowsPerPass <= T::kRows || kARowPasses ? tid / 8 : tid / 8 % T::kRows;
  const int a_atom = kRowsPerPass <= T::kRows || kARowPasses ? 0 : tid / 8 / T::kRows;
  const int a_chunk = tid % 8;
  const int64_t a_row_bytes = static_cast<int64_t>(args.k) * 2;
  const char* a_next = nullptr;
  const int4* b_next = nullptr;
  bool b_columns = false;

  // `valid`: the stage's k tiles the share has (0 to kUnits).
  auto fetch_activations = [&](int slot, int valid) {
    char* const st = smem + slot * T::kStageBytes;
    if constexpr (kARowPasses) {
#pragma unroll
      for (int j = 0; j < kAPasses; ++j) {
        const int r = a_row + j * kRowsPerPass;
        // (A copy whose row is past the tile must not run at all: a
        // predicated-off cp.async still writes its 16 bytes, as zeros.)
        if ((j + 1) * kRowsPerPass > T::kRows && r >= T::kRows) break;
#pragma unroll
        for (int atom = 0; atom < T::kAtoms; ++atom)
          marlin::ptx::cp_async16(st + atom * T::kAtomBytes + r * 128 + ((a_chunk ^ (r % 8)) << 4),
                                  a_next + j * kRowsPerPass * a_row_bytes + atom * 128,
                                  atom / T::kUnitAtoms < valid && row0 + r < args.m);
      }
    } else {
#pragma unroll
      for (int p = 0; p < kACopies; ++p) {
        const int rows_after = p * kRowsPerPass % T::kRows;             // copy p's row, past the thread's
        const int atom = a_atom + p * T::kThreads / (T::kRows * 8);    // and its atom
        const int r = a_row + rows_after;
        // The copy's k tile in the stage: its atom's, the same for every
        // thread (a thread's own atom, below a pass's, stays in it: asserted).
        const int unit = p * T::kThreads / (T::kRows * 8) / T::kUnitAtoms;
        marlin::ptx::cp_async16(st + atom * T::kAtomBytes + r * 128 + ((a_chunk ^ (r % 8)) << 4),
                                a_next + rows_after * a_row_bytes + atom * 128, unit < valid && row0 + r < args.m);
      }
    }
    a_next += T::kAtoms * 128;
  };
  // Whether scale (and zero-point) row r of a stage falls in one of its
  // `valid` k tiles. With one k tile per stage every row does whenever the
  // stage is valid (said so, so that no division is left for a thread's r).
  auto group_row_valid = [](int r, int valid) {
    if constexpr (T::kUnits == 1) {
      return valid > 0;
    } else {
      return r * T::kGroupBlocks / T::kUnitSteps < valid;
    }
  };
  // The stage's weights, scales and zero points (its first k tile: kt).
  auto fetch_weights = [&](int slot, int kt, int valid) {
    char* const st = smem + slot * T::kStageBytes;
#pragma unroll
    for (int p = 0; p < kBCopies; ++p) {
      const int unit = p * T::kThreads / kRowInt4 / T::kUnitSteps;  // the copy's k tile (as for the activations)
      marlin::ptx::cp_async16(st + T::kBOffset + (tid + p * T::kThreads) * 16,
                              b_next + static_cast<int64_t>(p * T::kThreads / kRowInt4) * b_stride,
                              unit < valid && b_columns);
    }
    b_next += static_cast<int64_t>(T::kSteps) * b_stride;
    if constexpr (T::kGrouped) {
      if (tid < T::kSInt4) {
        const int r = tid / (T::kTileN / 8);
        const int ch = tid % (T::kTileN / 8);
        const int grp = kt * T::kUnitSteps / T::kGroupBlocks + r;
        marlin::ptx::cp_async16(st + T::kSOffset + tid * 16,
                                args.scales + static_cast<int64_t>(grp) * s_stride + unit0 * 8 + ch,
                                group_row_valid(r, valid) && unit0 + ch / 8 < units);
      }
      if constexpr (T::kZeroPoints) {
        if (tid < T::kZInt4) {
          const int r = tid / (T::kTileN / 8);
          const int ch = tid % (T::kTileN / 8);
          const int grp = kt * T::kUnitSteps / T::kGroupBlocks + r;
          marlin::ptx::cp_async16(st + T::kZOffset + tid * 16,
                                  args.zeros + static_cast<int64_t>(grp) * s_stride + unit0 * 8 + ch,
                                  group_row_valid(r, valid) && unit0 + ch / 8 < units);
        }
      }
    }
  };
  auto fetch_stage = [&](int slot, int kt, int valid) {
    fetch_activations(slot, valid);
    fetch_weights(slot, kt, valid);
    marlin::ptx::cp_async_commit();
  };

  float acc[T::kRows / 2];
  // T::kScaleAfter: the current k tile's unscaled sums (fold_stage).
  float stage_sums[T::kRows / 2];
  // Per-column zero points, subtracted in the decode: the lane's word,
  // whose bytes 2 warp % 4 and (2 warp + 1) % 4 are columns 16 warp + g
  // and 16 warp + 8 + g of its 64 (word 2g + warp / 2 of the unit's row,
  // packing.h zero_position), read once per output tile. Grouped zero
  // points are added as scaled zero points in the scale step instead
  // (common/format.h), after a symmetric decode.
  typename Codec::Zero z0 = Codec::symmetric(), z1 = Codec::symmetric();

  // The lane's two scales in a stage's scale rows: scale int4 g of a
  // 64-column unit holds columns g, g+8, ..., g+56, so half 2 warp is column
  // 16 warp + g and half 2 warp + 1 column 16 warp + 8 + g. Scaled zero
  // points (grouped zero-point formats) sit at the same places of their rows.
  const int pair_index = (group * 64 + g * 8 + 2 * warp) / 2;

  // T::kScaleAfter: acc += the scales of k tile `group_row` of the stage in
  // `slot` (its scale row: a k tile is one group) x its sums, once its
  // wgmmas have retired. Lane element 4i + e of the sums is column
  // 16 warp + g, 4i + 2 + e column 16 warp + 8 + g (ptx.cuh).
  auto fold_stage = [&](int slot, int group_row) {
    const uint32_t pair = reinterpret_cast<const uint32_t*>(smem + slot * T::kStageBytes +
                                                            T::kSOffset)[pair_index + group_row * T::kTileN / 2];
    const Scalar* const sc = reinterpret_cast<const Scalar*>(&pair);
    const float s0 = Traits::to_float(sc[0]);
    const float s1 = Traits::to_float(sc[1]);
#pragma unroll
    for (int i = 0; i < T::kRows / 2; ++i) {
      // The wgmmas wrote the sums behind the compiler's back: read them only
      // after the wait that retired them (each read depends on this).
      asm volatile("" : "+f"(stage_sums[i])::"memory");
      acc[i] = fmaf(i % 4 < 2 ? s0 : s1, stage_sums[i], acc[i]);
    }
  };

  // Stage `slot`'s k16 steps (T::kScaleAfter: into stage_sums, then folded).
  auto compute_stage = [&](int slot, int valid) {
    const char* const st = smem + slot * T::kStageBytes;
    const uint32_t* const words = reinterpret_cast<const uint32_t*>(st + T::kBOffset);
    // The scales of the lane's two columns, read once per group row of the
    // stage, at its first k16 step, and kept for the group's other steps
    // (wgmma's fences would make the compiler reload them at every step;
    // keeping every row's pair at once costs registers).
    [[maybe_unused]] const uint32_t* const scale_row = reinterpret_cast<const uint32_t*>(st + T::kSOffset) + pair_index;
    [[maybe_unused]] const uint32_t* const shift_row = reinterpret_cast<const uint32_t*>(st + T::kZOffset) + pair_index;
    [[maybe_unused]] uint32_t scale_pair = 0;
    [[maybe_unused]] uint32_t shift_pair = 0;
    // Block `warp` of the lane's words at step s: 4 bits, word warp of its
    // int4; 8 bits, words 2 (warp % 2), +1 of its int4 number warp / 2
    // (packing.h). The next issue's words (steps s + P ...) are read at
    // the start of this one, so their latency hides behind its decode and
    // wgmma wait. With two wgmmas in flight that measured 2% faster at 64
    // rows and 0.5-1.5% on zero-point and 8-bit layers, but 2% slower on
    // symmetric 4-bit ones from 256 rows than without it (docs/perf-notes.md
    // run 35).
    auto step_words = [&](int s, uint32_t (&w)[T::kBlockWords]) {
      const uint32_t* const q =
          words + (((s * T::kGroups + group) * T::kBlockWords + warp * T::kBlockWords / 4) * 32 + lane) * 4 +
          warp * T::kBlockWords % 4;
#pragma unroll
      for (int i = 0; i < T::kBlockWords; ++i) w[i] = q[i];
    };
    const uint64_t stage_desc = ptx::sw128_desc(base + slot * T::kStageBytes);
    // P = T::kStepsPerIssue steps at a time: their words decoded (and
    // scaled) first, then their wgmmas issued back to back.
    constexpr int P = T::kStepsPerIssue;
    uint32_t next[P][T::kBlockWords];
#pragma unroll
    for (int j = 0; j < P; ++j) step_words(j, next[j]);
#pragma unroll
    for (int s = 0; s < T::kSteps; s += P) {
      if (T::kUnits > 1 && s % T::kUnitSteps == 0 && s / T::kUnitSteps >= valid) break;
      uint32_t cur[P][T::kBlockWords];
#pragma unroll
      for (int j = 0; j < P; ++j) {
#pragma unroll
        for (int i = 0; i < T::kBlockWords; ++i) cur[j][i] = next[j][i];
        if (s + P + j < T::kSteps) step_words(s + P + j, next[j]);
      }
      uint32_t a[P][4];  // the A fragment of step s + j
#pragma unroll
      for (int j = 0; j < P; ++j) {
        FragB b0, b1;  // columns 16 warp + g and 16 warp + 8 + g
        decode_block<Codec>(cur[j], z0, z1, b0, b1);
        if constexpr (T::kGrouped && !T::kScaleAfter) {
          // (A group is 2 or more steps: only the pair's first can start one.)
          if ((s + j) % T::kGroupBlocks == 0) {
            const int row = (T::kGroupRows > 1 ? (s + j) / T::kGroupBlocks : 0) * T::kTileN / 2;
            scale_pair = scale_row[row];
            if constexpr (T::kZeroPoints) shift_pair = shift_row[row];
          }
          const Scalar* const sc = reinterpret_cast<const Scalar*>(&scale_pair);
          if constexpr (T::kZeroPoints) {
            const Scalar* const zs = reinterpret_cast<const Scalar*>(&shift_pair);
            scale_shift_frag<T::kAct>(b0, Traits::broadcast(sc[0]), Traits::broadcast(zs[0]));
            scale_shift_frag<T::kAct>(b1, Traits::broadcast(sc[1]), Traits::broadcast(zs[1]));
          } else {
            scale_frag<T::kAct>(b0, Traits::broadcast(sc[0]));
            scale_frag<T::kAct>(b1, Traits::broadcast(sc[1]));
          }
        }
        a[j][0] = b0.r[0];
        a[j][1] = b1.r[0];
        a[j][2] = b0.r[1];
        a[j][3] = b1.r[1];
      }
      ptx::wgmma_fence();
#pragma unroll
      for (int j = 0; j < P; ++j) {
        const int q = s + j;
        const uint64_t desc = ptx::sw128_desc_at(stage_desc, (q / 4) * T::kAtomBytes + (q % 4) * 32);
        using Mma = ptx::MmaAsync<T::kRows>;
        if constexpr (!T::kScaleAfter) {
          Mma::template run<T::kAct == Act::kBF16>(acc, a[j], desc);
        } else if (q % T::kUnitSteps == 0) {
          Mma::template run<T::kAct == Act::kBF16, false>(stage_sums, a[j], desc);
        } else {
          Mma::template run<T::kAct == Act::kBF16>(stage_sums, a[j], desc);
        }
        ptx::wgmma_commit();
      }
      if constexpr (T::kScaleAfter) {
        if ((s + P) % T::kUnitSteps == 0) {
          ptx::wgmma_wait<0>();
          fold_stage(slot, s / T::kUnitSteps);
          continue;
        }
      }
      ptx::wgmma_wait<T::kWgmmasInFlight>();
    }
  };

  // k tiles [k_first, k_first + k_tiles) of the output tile at (row0,
  // unit0), summed into acc from zero: the pipeline filled, run and drained.
  auto run_tile_share = [&](int k_first, int k_tiles) {
    a_next = reinterpret_cast<const char*>(args.a) + (row0 + a_row) * a_row_bytes +
             static_cast<int64_t>(k_first) * T::kUnitAtoms * 128 + a_chunk * 16;
    b_next = args.b + static_cast<int64_t>(k_first * T::kUnitSteps + tid / kRowInt4) * b_stride +
             unit0 * 32 * T::kBlockWords + tid % kRowInt4;
    b_columns = unit0 + tid % kRowInt4 / (32 * T::kBlockWords) < units;
#pragma unroll
    for (int i = 0; i < T::kRows / 2; ++i) {
      acc[i] = 0.f;
      if constexpr (T::kScaleAfter) stage_sums[i] = 0.f;
    }
    if constexpr (T::kZeroPoints && !T::kGrouped) {
      const uint32_t word =
          unit0 + group < units
              ? __ldg(reinterpret_cast<const uint32_t*>(args.zeros) + unit0 * 16 + group * 16 + 2 * g + warp / 2)
              : 0u;
      z0 = Codec::zero_of_byte(word, (2 * warp) % 4);
      z1 = Codec::zero_of_byte(word, (2 * warp + 1) % 4);
    }
    // The early weight stages join stage 0's cp.async group. (A stream-k
    // block waits again before its later tiles: by then a no-op.)
    // Stage s holds k tiles [s kUnits, (s + 1) kUnits) of the share: valid(s) of them.
    auto valid = [&](int s) {
      if constexpr (T::kUnits == 1) {
        return s < k_tiles ? 1 : 0;
      } else {
        return max(0, min(T::kUnits, k_tiles - s * T::kUnits));
      }
    };
    const int stages = (k_tiles + T::kUnits - 1) / T::kUnits;
#pragma unroll
    for (int s = 0; s < kEarlyStages; ++s) fetch_weights(s, k_first + s * T::kUnits, valid(s));
    marlin::ptx::grid_dependency_wait();
    marlin::ptx::allow_dependents_launch();
#pragma unroll
    for (int s = 0; s < STAGES - 2; ++s) {
      fetch_activations(s, valid(s));
      if (s >= kEarlyStages) fetch_weights(s, k_first + s * T::kUnits, valid(s));
      marlin::ptx::cp_async_commit();
    }
    int read_slot = 0;
    int fill_slot = STAGES - 2;
    for (int kt = 0; kt < stages; ++kt) {
      marlin::ptx::cp_async_wait<STAGES - 3>();
      ptx::fence_proxy_async();
      __syncthreads();
      fetch_stage(fill_slot, k_first + (kt + STAGES - 2) * T::kUnits, valid(kt + STAGES - 2));
      compute_stage(read_slot, valid(kt));
      read_slot = read_slot + 1 == STAGES ? 0 : read_slot + 1;
      fill_slot = fill_slot + 1 == STAGES ? 0 : fill_slot + 1;
    }
    ptx::wgmma_wait<0>();
    marlin::ptx::cp_async_wait<0>();
  };

  // The output tile's sums, scaled (per-column formats) and stored: row
  // 16 warp + g (+8) of the warpgroup's D is output column c0 (c1), its
  // columns 8i + 2t (+1) are batch rows.
  auto store_tile = [&]() {
    if (unit0 + group >= units) return;
    const int c0 = (unit0 + group) * 64 + 16 * warp + g;
    const int c1 = c0 + 8;
    float s0 = 1.f;
    float s1 = 1.f;
    if constexpr (!T::kGrouped) {
      const Scalar* const sc = reinterpret_cast<const Scalar*>(args.scales);
      s0 = Traits::to_float(sc[packing::scale_position(c0, -1)]);
      s1 = Traits::to_float(sc[packing::scale_position(c1, -1)]);
    }
    Scalar* const c = reinterpret_cast<Scalar*>(args.c);
#pragma unroll
    for (int i = 0; i < T::kRows / 8; ++i) {
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int r = row0 + 8 * i + 2 * t + e;
        if (r < args.m) {
          c[static_cast<int64_t>(r) * args.n + c0] = Traits::from_float(acc[4 * i + e] * s0);
          c[static_cast<int64_t>(r) * args.n + c1] = Traits::from_float(acc[4 * i + 2 + e] * s1);
        }
      }
    }
  };

  if constexpr (STREAM_K) {
    if (args.stream_k) {
      stream_k_tiles<T>(args, acc, col_tiles * row_tiles, all_k_tiles, locate, run_tile_share, store_tile);
      return;
    }
  }
  // A block per (output tile, k split).
  locate(args.tile_first + static_cast<int>(blockIdx.x));
  const int splits = gridDim.z;
  const int k_first = static_cast<int>(blockIdx.z) * all_k_tiles / splits;
  run_tile_share(k_first, (static_cast<int>(blockIdx.z) + 1) * all_k_tiles / splits - k_first);
  if (splits > 1) {
    reduce_splits<T>(args, acc, smem, base, row0, unit0);
    return;
  }
  store_tile();
}

// k tiles per pipeline stage. Two in the 32-, 48- and 64-row tiles of
// symmetric 4-bit formats: a stage's fixed work (the next stage's copies
// and their addresses, the cp.async wait, the proxy fence and barrier, the
// slot ring, the stage's descriptor) was about 28% of the 32-row tile's
// instructions with one (group 128, ncu, docs/perf-notes.md run 39).
// Measured with two, on the 70B layers at 17-32 rows (run 40): group 128
// BF16 2.5-3% faster, FP16 0-1%; per-column FP16 2.7%, g64 BF16 1.3%, g32
// FP16 0.5%. In the 64-row tile (run 41; 65 KiB stages, three slots instead
// of six of 33 KiB): FP16 g128 7B 4.4-4.9% faster at 33-64 rows, 70B
// 1.1-1.9%; at 56-64 rows BF16 g128 7B 3.5%, 70B 0.5-1%, per-column FP16 7B
// 3.5-4%, 70B 0.5-1% (its 70B gate_up alone 0.5-1.3% slower at 33-64). With
// zero points at 32 rows FP16 gained 0.5% and BF16 lost up to 0.6%: one. 8
// bits: one (a 256-deep stage is 80 KiB at 32 rows, two slots, below the
// pipeline's three). The 128-row tile's stages are 48 KiB: two k tiles
// would leave two slots. The 48-row tile follows the 64-row one's rule
// (not measured apart: 57 KiB stages with two, three slots), the 96-row
// tile the 128-row one's (40 KiB stages; two k tiles would be 80 KiB,
// two slots).
constexpr int units_per_stage(int bits, bool zero_points, int rows) {
  return rows <= 64 && bits == 4 && !zero_points ? 2 : 1;
}

// The Tile of a generated variant: bits, group size in rows (-1: per
// column), zero points, batch rows, output columns and k tile (TILE_K: the
// unit of k; a stage holds units_per_stage of them).
// (clang-format takes `GROUP < 0` for a template's opening bracket)
// clang-format off
template <Act ACT, int BITS, int GROUP, bool ZERO_POINTS, int ROWS, int TILE_N, int TILE_K,
          int UNITS = units_per_stage(BITS, ZERO_POINTS, ROWS)>
using TileOf = Tile<ACT, BITS, GROUP < 0 ? -1 : GROUP / 16, ZERO_POINTS, ROWS, TILE_N / 64, UNITS * TILE_K / 64, UNITS>;
// clang-format on

}  // namespace marlin::wg
