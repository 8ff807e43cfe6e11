// The scaled zero points of grouped zero-point layers (scaled_zeros.h).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "common/act.cuh"
#include "delay.h"
#include "scaled_zeros.h"

namespace marlin {
namespace {

// One thread per (group, position): a load-time pass over groups * n values.
template <Act A, class T = typename ActTraits<A>::Scalar>
__global__ void scale_zeros_kernel(const T* __restrict__ scales, const uint8_t* __restrict__ zeros, T* __restrict__ out,
                                   int64_t total, int mid) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    // (mid - z) * s is exact in FP32 (at most 8 + 11 significant bits): one
    // rounding. (A scale above ~8188 (4 bits) or 512 (8 bits) in FP16 can
    // make zs infinite, and every weight of its group with it.)
    out[i] = ActTraits<A>::from_float(static_cast<float>(mid - static_cast<int>(zeros[i])) *
                                      ActTraits<A>::to_float(scales[i]));
  }
}

}  // namespace

cudaError_t scale_zeros(const void* scales, const void* zeros, void* out, int groups, int n, const Format& format,
                        cudaStream_t stream) {
  const int64_t total = static_cast<int64_t>(groups) * n;
  if (total == 0) return cudaSuccess;
  const int threads = 256;
  const int64_t blocks = (total + threads - 1) / threads;
  const unsigned grid = static_cast<unsigned>(blocks < 65536 ? blocks : 65536);
  const int mid = 1 << (format.bits - 1);
  const auto* z = static_cast<const uint8_t*>(zeros);
  if (format.act == Act::kF16)
    scale_zeros_kernel<Act::kF16>
        <<<grid, threads, 0, stream>>>(static_cast<const __half*>(scales), z, static_cast<__half*>(out), total, mid);
  else
    scale_zeros_kernel<Act::kBF16><<<grid, threads, 0, stream>>>(static_cast<const __nv_bfloat16*>(scales), z,
                                                                 static_cast<__nv_bfloat16*>(out), total, mid);
  const cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? settle_layer_writes(stream) : e;  // before any GEMM reads them (delay.h)
}

}  // namespace marlin
