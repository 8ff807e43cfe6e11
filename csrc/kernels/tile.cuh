// Compile-time description of one thread block's tile: who computes what and
// where each operand lives in shared memory. The kernel (gemm_kernel.cuh)
// only follows these numbers.
//
// A block owns a tile of (16*M_BLOCKS rows) x (16*N_BLOCKS columns) of C and
// walks k in steps of 16*K_BLOCKS. Its 8 warps are arranged as
//   kWarpsN warps side by side along n, each owning 64 columns (4 n16 blocks,
//           the unit of the Marlin weight layout), times
//   kWarpsK warps along k, which split the tile's K_BLOCKS k16 blocks and
//           are summed through shared memory at the end of a slice.
// e.g. 128x128 (K=8,N=8): 2 x 4 warps, each doing 2 k16 blocks per tile;
//      64x256 (K=4,N=16): 4 x 2 warps, each doing 2 k16 blocks per tile.
#pragma once

#if defined(__CUDACC__)
#define MARLIN_HOST_DEVICE __host__ __device__
#else
#define MARLIN_HOST_DEVICE
#endif

namespace marlin {

MARLIN_HOST_DEVICE constexpr int ceil_div(int a, int b) { return (a + b - 1) / b; }

template <int M_BLOCKS,      // 16-row blocks of A and C per block tile (1..4)
          int N_BLOCKS,      // 16-column blocks of B and C per block tile
          int K_BLOCKS,      // 16-deep blocks of k per pipeline stage
          int GROUP_BLOCKS,  // k16 blocks sharing one scale row; -1 = per-channel
          int STAGES>        // depth of the cp.async pipeline
struct Tile {
  static constexpr int kMBlocks = M_BLOCKS;
  static constexpr int kNBlocks = N_BLOCKS;
  static constexpr int kKBlocks = K_BLOCKS;
  static constexpr int kGroupBlocks = GROUP_BLOCKS;
  static constexpr int kStages = STAGES;
  static constexpr bool kGrouped = GROUP_BLOCKS > 0;

  static constexpr int kThreads = 256;
  static constexpr int kWarps = kThreads / 32;
  static constexpr int kRows = 16 * M_BLOCKS;       // rows of one problem
  static constexpr int kTileN = 16 * N_BLOCKS;      // output columns
  static constexpr int kTileK = 16 * K_BLOCKS;      // reduction depth per stage
  static constexpr int kWarpsN = N_BLOCKS / 4;      // 64 columns per warp
  static constexpr int kWarpsK = kWarps / kWarpsN;
  static constexpr int kStepsK = K_BLOCKS / kWarpsK;  // k16 blocks per warp per stage

  // A stage: kRows x kTileK halves, stored as kAChunks 16-byte chunks per row
  // with chunk c of row r at position c ^ (r % 8): the 8 rows an ldmatrix
  // reads and the 8 chunks a quarter-warp writes then hit distinct banks.
  static constexpr int kAChunks = kTileK / 8;
  static constexpr int kAStage = kRows * kAChunks;              // int4
  static constexpr int kARowsPerPass = kThreads / kAChunks;     // rows one pass copies
  static constexpr int kAPasses = ceil_div(kRows, kARowsPerPass);

  // B stage: K_BLOCKS rows of the Marlin layout; one row is a k16 x kTileN
  // slab = 32 chunks per 64 columns. Thread i copies chunks i, i+256, ...,
  // which are exactly the fragments it later reads itself.
  static constexpr int kBChunks = 32 * kWarpsN;                 // int4 per k16 row
  static constexpr int kBStage = K_BLOCKS * kBChunks;
  static constexpr int kBPasses = kBStage / kThreads;           // == kStepsK

  // Scale stage: one row of kTileN FP16 scales (grouped quantization only).
  static constexpr int kSChunks = kTileN / 8;
  static constexpr int kSStage = kGrouped ? kSChunks : 0;

  static constexpr int kStageInt4 = kAStage + kBStage + kSStage;
  static constexpr int kPipelineBytes = STAGES * kStageInt4 * 16;

  // End-of-slice scratch, reusing the pipeline's shared memory:
  // warps with warp_k > 0 park one m16 block of accumulators (32 floats per
  // lane) for warp_k == 0 to add; then the finished tile is staged as FP16
  // with one chunk of padding per row so the fragment stores avoid conflicts.
  static constexpr int kReduceBytes = (kWarpsK - 1) * kWarpsN * 32 * 32 * 4;
  static constexpr int kCStride = kTileN / 8 + 1;                // int4 per staged row
  static constexpr int kCStageBytes = kRows * kCStride * 16;
  static constexpr int kSmemBytes =
      kPipelineBytes > kReduceBytes
          ? (kPipelineBytes > kCStageBytes ? kPipelineBytes : kCStageBytes)
          : (kReduceBytes > kCStageBytes ? kReduceBytes : kCStageBytes);

  static_assert(N_BLOCKS % 4 == 0 && kWarps % kWarpsN == 0, "warps must tile n in 64-column units");
  static_assert(K_BLOCKS % kWarpsK == 0, "k16 blocks must split evenly over the k warps");
  static_assert(kBPasses == kStepsK, "each thread must copy exactly the B fragments it reads");
  static_assert(kAChunks >= 8, "the A swizzle permutes groups of 8 chunks");
  static_assert(!kGrouped || GROUP_BLOCKS % K_BLOCKS == 0, "a stage must not straddle two groups");
  static_assert((STAGES * kStepsK) % 2 == 0, "fragment double buffer must line up across loop turns");
  static_assert(kSChunks <= kThreads, "one scale row is copied in a single pass");
  static_assert(kRows * kTileN <= 64 * 256, "partial sums must fit a workspace slot (kernel_args.h)");
};

}  // namespace marlin
