// Compile-time description of one thread block's work in the mma family:
// who computes what and where each operand lives in shared memory. The
// kernel (kernel.cuh) only follows these numbers.
//
// A block owns a tile of (16*M_BLOCKS rows) x (16*N_BLOCKS columns) of C and
// walks k in steps of 16*K_BLOCKS (one pipeline stage). Its 8 warps are
//   kWarpsN warps side by side along n, each owning 64 columns (4 n16 blocks,
//           the unit of the Marlin weight layout), times
//   kWarpsK warps along k, which split the stage's K_BLOCKS k16 blocks and
//           are summed through shared memory at the end of a slice.
// e.g. 128x128 (K=8,N=8): 2 x 4 warps, each doing 2 k16 blocks per stage;
//      64x256 (K=4,N=16): 4 x 2 warps, each doing 2 k16 blocks per stage.
//
// One stage in shared memory (int4 = 16 bytes):
//   A      kRows x kTileK activations, XOR-swizzled (see kAChunks)
//   B      K_BLOCKS k16 rows of packed weights, in the order threads read them
//   scales kGroupRows rows of kTileN scales (grouped formats)
//   zeros  kGroupRows rows of kTileN scaled zero points, the scales' type and order (grouped, zero points)
#pragma once

#include "common/format.h"

#if defined(__CUDACC__)
#define MARLIN_HOST_DEVICE __host__ __device__
#else
#define MARLIN_HOST_DEVICE
#endif

namespace marlin {

MARLIN_HOST_DEVICE constexpr int ceil_div(int a, int b) { return (a + b - 1) / b; }
MARLIN_HOST_DEVICE constexpr int max_of(int a, int b) { return a > b ? a : b; }

// The compile-time face of a Format (format.h).
template <Act ACT,           // activation, scale and output type
          int BITS,          // 4 or 8
          int GROUP_BLOCKS,  // k16 blocks per scale group (2, 4, 8); -1 = one group per column
          bool ZEROS>        // stored zero points
struct FormatOf {
  static constexpr Act kAct = ACT;
  static constexpr int kBits = BITS;
  static constexpr int kGroupBlocks = GROUP_BLOCKS;
  static constexpr bool kGrouped = GROUP_BLOCKS > 0;
  static constexpr bool kZeroPoints = ZEROS;
  static_assert(BITS == 4 || BITS == 8, "4- or 8-bit weights");
  static_assert(GROUP_BLOCKS == -1 || GROUP_BLOCKS == 2 || GROUP_BLOCKS == 4 || GROUP_BLOCKS == 8,
                "groups of 32, 64 or 128 rows, or one per column");
};

template <class F,         // FormatOf<...>
          int M_BLOCKS,    // 16-row blocks of A and C per block tile (1..4)
          int N_BLOCKS,    // 16-column blocks of B and C per block tile
          int K_BLOCKS>    // 16-deep blocks of k per pipeline stage
struct Layout {
  using Fmt = F;
  static constexpr int kMBlocks = M_BLOCKS;
  static constexpr int kNBlocks = N_BLOCKS;
  static constexpr int kKBlocks = K_BLOCKS;

  static constexpr int kThreads = 256;
  static constexpr int kWarps = kThreads / 32;
  static constexpr int kRows = 16 * M_BLOCKS;       // rows of one problem
  static constexpr int kTileN = 16 * N_BLOCKS;      // output columns
  static constexpr int kTileK = 16 * K_BLOCKS;      // reduction depth per stage
  static constexpr int kWarpsN = N_BLOCKS / 4;      // 64 columns per warp
  static constexpr int kWarpsK = kWarps / kWarpsN;
  static constexpr int kStepsK = K_BLOCKS / kWarpsK;  // k16 blocks per warp per stage

  // A stage: kRows x kTileK values, stored as kAChunks 16-byte chunks per row
  // with chunk c of row r at position c ^ (r % 8): the 8 rows an ldmatrix
  // reads and the 8 chunks a quarter-warp writes then hit distinct banks.
  static constexpr int kAChunks = kTileK / 8;
  static constexpr int kAStage = kRows * kAChunks;
  static constexpr int kARowsPerPass = kThreads / kAChunks;  // rows one pass copies
  static constexpr int kAPasses = ceil_div(kRows, kARowsPerPass);

  // B stage. One k16 row of the Marlin layout holds, per 64 columns, 32 lanes
  // x kLaneInt4 chunks (4 bits: one int4 = a word per n16 block; 8 bits: two,
  // a word per n8 half). Thread i copies chunks i, i + 256, ..., which are
  // exactly the fragments it later reads itself: chunk (s * kLaneInt4 + p)
  // * kThreads + tid holds part p of the k16 row of its step s.
  static constexpr int kLaneInt4 = F::kBits / 4;
  static constexpr int kBChunks = 32 * kLaneInt4 * kWarpsN;  // int4 per k16 row of the tile
  static constexpr int kBStage = K_BLOCKS * kBChunks;
  static constexpr int kBPasses = kBStage / kThreads;        // == kStepsK * kLaneInt4

  // Scale rows of one stage: one row when a group spans the stage (or more),
  // else one per group the stage covers; grouped zero-point formats carry
  // as many rows of scaled zero points (common/format.h), in the scales'
  // type and order. Per-column zero points are read once per slice from
  // global memory: bytes whatever the weight width (one prmt makes the
  // subtrahend), per 64 columns 8 bytes per mma lane g: word 2g + i / 4,
  // byte i % 4 = column g + 8i.
  static constexpr int kGroupRows = F::kGrouped ? max_of(1, K_BLOCKS / F::kGroupBlocks) : 0;
  static constexpr int kSChunks = kTileN / 8;                   // int4 per scale row (and scaled zero-point row)
  static constexpr int kSStage = kGroupRows * kSChunks;
  static constexpr int kZStage = F::kZeroPoints ? kSStage : 0;  // scaled zero points (grouped formats only)
  static constexpr int kZChunks = kTileN / 16;                  // int4 per row of zero-point bytes (per column)
  static constexpr int kZWordsPerWarp = 16;                     // 64 columns
  static constexpr int kZWordsPerLane = 2;                      // 8 columns

  // A stage is [A | B | scales | zeros]; the stages follow each other, so one
  // base register and immediate offsets address everything in a slot. The
  // stride is a multiple of 8 int4 (128 bytes), which keeps the A swizzle's
  // bank pattern identical in every slot.
  static constexpr int kBOffset = kAStage;
  static constexpr int kSOffset = kBOffset + kBStage;
  static constexpr int kZOffset = kSOffset + kSStage;
  static constexpr int kStageInt4 = (kZOffset + kZStage + 7) / 8 * 8;

  // End-of-slice scratch, reusing the pipeline's shared memory:
  // warps with warp_k > 0 park one m16 block of accumulators (32 floats per
  // lane) for warp_k == 0 to add; then the finished tile is staged as 16-bit
  // values with one chunk of padding per row so the fragment stores avoid conflicts.
  static constexpr int kReduceBytes = (kWarpsK - 1) * kWarpsN * 32 * 32 * 4;
  static constexpr int kCStride = kTileN / 8 + 1;  // int4 per staged row
  static constexpr int kCStageBytes = kRows * kCStride * 16;

  // Dynamic shared memory of a kernel with `stages` pipeline stages.
  MARLIN_HOST_DEVICE static constexpr int smem_bytes(int stages) {
    return max_of(stages * kStageInt4 * 16, max_of(kReduceBytes, kCStageBytes));
  }

  // The depth the kernel runs with where blocks may use `smem_limit` bytes:
  // the deepest from max_stages down to min_stages that fits, or 0.
  MARLIN_HOST_DEVICE static constexpr int deepest_stages(int smem_limit, int max_stages, int min_stages) {
    for (int s = max_stages; s >= min_stages; --s)
      if (smem_bytes(s) <= smem_limit) return s;
    return 0;
  }

  static_assert(N_BLOCKS % 4 == 0 && kWarps % kWarpsN == 0, "warps must tile n in 64-column units");
  static_assert(K_BLOCKS % kWarpsK == 0, "k16 blocks must split evenly over the k warps");
  static_assert(kStepsK % 2 == 0, "fragment double buffer must line up with the stages");
  static_assert(kBPasses == kStepsK * kLaneInt4, "each thread must copy exactly the B fragments it reads");
  static_assert(kAChunks >= 8, "the A swizzle permutes groups of 8 chunks");
  static_assert(!F::kGrouped || F::kGroupBlocks % K_BLOCKS == 0 || K_BLOCKS % F::kGroupBlocks == 0,
                "a stage holds whole groups, or lies within one");
  static_assert(kSStage + kZStage <= kThreads, "scale and zero rows are copied in a single pass");
  static_assert(kRows * kTileN <= 64 * 256, "partial sums must fit a workspace slot (kernel_args.h)");
};

}  // namespace marlin
