// Instantiates the variants with 3 block(s) of 16 rows; the variants are
// spread over gemm_m1..m4.cu so that they compile in parallel.
#include "gemm_kernel.cuh"
#include "variants.h"

namespace marlin {
#define MARLIN_INSTANTIATE(M, TK, TN, G, S)                                                       \
  template cudaError_t launch_tile<TileOf<M, TK, TN, G, S>>(const KernelArgs&, int, int, cudaStream_t); \
  template cudaError_t tile_attributes<TileOf<M, TK, TN, G, S>>(cudaFuncAttributes*);
MARLIN_VARIANTS_OF_M(MARLIN_INSTANTIATE, 3)
}  // namespace marlin
