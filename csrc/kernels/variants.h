// The one list of compiled kernel variants. Everything else (explicit
// instantiations in gemm_m*.cu, the dispatch table in gemm.cu, the list the
// addon reports to TypeScript) is expanded from these macros.
#pragma once

#include <cuda_runtime.h>

#include "kernel_args.h"
#include "tile.cuh"

namespace marlin {

// Depth of the cp.async pipeline. Every variant is built twice: 4 stages
// (the largest tile then needs 97 KiB, within the 99 KiB a block may opt into
// on sm_86/sm_89) and kDeepStages, which keeps more weight bytes in flight
// where shared memory allows (sm_80, sm_90); the launcher takes the deepest
// one that fits the device. MARLIN_DEEP_STAGES overrides it for experiments.
#ifndef MARLIN_DEEP_STAGES
#define MARLIN_DEEP_STAGES 8
#endif
constexpr int kDeepStages = MARLIN_DEEP_STAGES;

// The variant table. X(m_blocks, tile_k, tile_n, group_blocks, stages):
// blocks of 16 rows, block tile in elements of k and n, k16 blocks per scale
// group (-1 = one scale per output column), pipeline depth.
#define MARLIN_VARIANTS_OF_M_STAGES(X, M, S) \
  X(M, 128, 128, -1, S)                      \
  X(M, 128, 128, 8, S)                       \
  X(M, 64, 256, -1, S)                       \
  X(M, 64, 256, 8, S)

#define MARLIN_VARIANTS_OF_M(X, M)       \
  MARLIN_VARIANTS_OF_M_STAGES(X, M, 4) \
  MARLIN_VARIANTS_OF_M_STAGES(X, M, MARLIN_DEEP_STAGES)

#define MARLIN_FOR_EACH_VARIANT(X) \
  MARLIN_VARIANTS_OF_M(X, 1)       \
  MARLIN_VARIANTS_OF_M(X, 2)       \
  MARLIN_VARIANTS_OF_M(X, 3)       \
  MARLIN_VARIANTS_OF_M(X, 4)

template <int M_BLOCKS, int TILE_K, int TILE_N, int GROUP_BLOCKS, int STAGES>
using TileOf = Tile<M_BLOCKS, TILE_N / 16, TILE_K / 16, GROUP_BLOCKS, STAGES>;

// Defined in gemm_kernel.cuh; instantiated per variant in gemm_m*.cu.
template <class T>
cudaError_t launch_tile(const KernelArgs& args, int grid, int device, cudaStream_t stream);
template <class T>
cudaError_t tile_attributes(cudaFuncAttributes* attributes);

}  // namespace marlin
