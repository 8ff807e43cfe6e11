// Activation types. A, the scales and C share one 16-bit type, FP16 or BF16;
// accumulation is FP32 in both. The kernels differ only in what this file
// gathers: the mma instruction, pair arithmetic and the conversions.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "format.h"
#include "ptx.cuh"

namespace marlin {

template <Act A>
struct ActTraits;

template <>
struct ActTraits<Act::kF16> {
  using Scalar = __half;
  using Pair = half2;

  static __device__ __forceinline__ Pair as_pair(uint32_t u) { return *reinterpret_cast<Pair*>(&u); }
  static __device__ __forceinline__ uint32_t as_u32(Pair p) { return *reinterpret_cast<uint32_t*>(&p); }
  static __device__ __forceinline__ float to_float(Scalar s) { return __half2float(s); }
  static __device__ __forceinline__ Scalar from_float(float v) { return __float2half_rn(v); }
  static __device__ __forceinline__ Pair from_floats(float lo, float hi) { return __floats2half2_rn(lo, hi); }
  static __device__ __forceinline__ Pair broadcast(Scalar s) { return __half2half2(s); }
  static __device__ __forceinline__ void mma(const uint32_t (&a)[4], const uint32_t (&b)[2], float (&d)[4]) {
    ptx::mma_m16n8k16_f16(a, b, d);
  }
};

template <>
struct ActTraits<Act::kBF16> {
  using Scalar = __nv_bfloat16;
  using Pair = __nv_bfloat162;

  static __device__ __forceinline__ Pair as_pair(uint32_t u) { return *reinterpret_cast<Pair*>(&u); }
  static __device__ __forceinline__ uint32_t as_u32(Pair p) { return *reinterpret_cast<uint32_t*>(&p); }
  static __device__ __forceinline__ float to_float(Scalar s) { return __bfloat162float(s); }
  static __device__ __forceinline__ Scalar from_float(float v) { return __float2bfloat16_rn(v); }
  static __device__ __forceinline__ Pair from_floats(float lo, float hi) { return __floats2bfloat162_rn(lo, hi); }
  static __device__ __forceinline__ Pair broadcast(Scalar s) { return __bfloat162bfloat162(s); }
  static __device__ __forceinline__ void mma(const uint32_t (&a)[4], const uint32_t (&b)[2], float (&d)[4]) {
    ptx::mma_m16n8k16_bf16(a, b, d);
  }
};

}  // namespace marlin
