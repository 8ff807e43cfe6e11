// Inverse of the Marlin layout on the GPU: one thread per packed word.
// The index math mirrors lib/layout.ts (weightPosition / scalePosition).
#include <cuda_fp16.h>

#include <cstdint>

#include "dequantize.h"

namespace marlin {
namespace {

__global__ void dequantize_kernel(const uint32_t* __restrict__ b, const __half* __restrict__ scales,
                                  __half* __restrict__ out, int k, int n, int group_size) {
  const int64_t words = static_cast<int64_t>(k) * n / 8;
  for (int64_t w = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; w < words;
       w += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    // word = k16 row * 2n + 64-column chunk * 128 + lane * 4 + n16 block
    const int64_t row_words = 2 * static_cast<int64_t>(n);
    const int k16 = static_cast<int>(w / row_words);
    const int in_row = static_cast<int>(w % row_words);
    const int chunk = in_row / 128;
    const int lane = (in_row % 128) / 4;
    const int block = in_row % 4;
    const int g = lane / 4;
    const int t = lane % 4;
    const uint32_t word = b[w];
#pragma unroll
    for (int nibble = 0; nibble < 8; ++nibble) {
      // nibble = 4 * (row odd) + 2 * (second n8 half) + (row >= 8)
      const int r = 2 * t + (nibble >> 2) + 8 * (nibble & 1);
      const int c = g + 8 * ((nibble >> 1) & 1);
      const int row = 16 * k16 + r;
      const int col = 64 * chunk + 16 * block + c;
      int scale_pos;
      int scale_row;
      if (group_size < 0) {
        const int cc = col & 31;
        scale_pos = (col & ~31) + 8 * ((cc & 7) >> 1) + 2 * (cc >> 3) + (cc & 1);
        scale_row = 0;
      } else {
        const int cc = col & 63;
        scale_pos = (col & ~63) + 8 * (cc & 7) + (cc >> 3);
        scale_row = row / group_size;
      }
      const __half s = scales[static_cast<int64_t>(scale_row) * n + scale_pos];
      const int q = static_cast<int>((word >> (4 * nibble)) & 15u) - 8;
      out[static_cast<int64_t>(row) * n + col] = __hmul(__int2half_rn(q), s);
    }
  }
}

}  // namespace

cudaError_t dequantize_weights(const void* b, const void* scales, void* out, int k, int n, int group_size,
                               cudaStream_t stream) {
  const int64_t words = static_cast<int64_t>(k) * n / 8;
  const int threads = 256;
  const int64_t blocks = (words + threads - 1) / threads;
  dequantize_kernel<<<static_cast<unsigned>(blocks < 65536 ? blocks : 65536), threads, 0, stream>>>(
      static_cast<const uint32_t*>(b), static_cast<const __half*>(scales), static_cast<__half*>(out), k, n,
      group_size);
  return cudaGetLastError();
}

}  // namespace marlin
