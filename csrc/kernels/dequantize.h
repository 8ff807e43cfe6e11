// dequantize_weights(): Marlin-packed INT4 weights back to FP16 [k, n]
// row-major, on the GPU (for the FP16 baseline of benchmarks and for checks).
#pragma once

#include <cuda_runtime.h>

namespace marlin {

// out[row, col] = (q - 8) * scale, rounded once to FP16. `b` and `scales`
// are in the Marlin layout (as for gemm); group_size 128 or -1. Shapes as
// for gemm (k % 128 == 0, n % 64 == 0); the caller checks them.
cudaError_t dequantize_weights(const void* b, const void* scales, void* out, int k, int n, int group_size,
                               cudaStream_t stream);

}  // namespace marlin
