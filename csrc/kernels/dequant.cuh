// INT4 -> FP16 dequantization in registers, without int->float conversions.
//
// A 32-bit word of the Marlin layout holds 8 nibbles q0..q7 (q_i in bits
// 4i..4i+3). For one thread of an m16n8k16 B operand (group g = lane/4,
// t = lane%4) the packer placed them so that
//   q0,q4 = rows 2t,2t+1   and q1,q5 = rows 2t+8,2t+9 of column g      (n8 block 0)
//   q2,q6 = rows 2t,2t+1   and q3,q7 = rows 2t+8,2t+9 of column g + 8  (n8 block 1)
// so one word yields both halves of a 16x16 block's B fragment.
//
// The trick: OR a nibble into the mantissa of the FP16 number 1024 (0x6400)
// and the result is exactly 1024 + q; a nibble sitting 4 bits higher gives
// 1024 + 16q. Subtracting (or fused multiply-adding) a constant then yields
// q - 8 exactly, since every intermediate is an integer below 2048.
#pragma once

#include <cuda_fp16.h>
#include <cstdint>

#include "ptx.cuh"

namespace marlin {

// B operand of one m16n8k16 mma: two registers of two FP16 values each.
struct FragB {
  uint32_t r[2];
};

__device__ __forceinline__ uint32_t as_u32(half2 h) { return *reinterpret_cast<uint32_t*>(&h); }
__device__ __forceinline__ half2 as_half2(uint32_t u) { return *reinterpret_cast<half2*>(&u); }

// Dequantizes nibbles 0,1,4,5 of `q` into one FragB holding q - 8:
// r[0] = (q0, q4) - 8, r[1] = (q1, q5) - 8.
__device__ __forceinline__ FragB dequant_int4(uint32_t q) {
  constexpr uint32_t kLowNibbles = 0x000f000f;   // q0 and q4
  constexpr uint32_t kHighNibbles = 0x00f000f0;  // q1 and q5, still shifted by 4
  constexpr uint32_t kMagic1024 = 0x64006400;    // FP16 1024.0 in both halves
  constexpr int kAndOr = (0xf0 & 0xcc) | 0xaa;   // (a & b) | c
  const uint32_t lo = ptx::lop3<kAndOr>(q, kLowNibbles, kMagic1024);   // 1024 + q
  const uint32_t hi = ptx::lop3<kAndOr>(q, kHighNibbles, kMagic1024);  // 1024 + 16 q
  // lo - 1032 = q - 8;  hi / 16 - 72 = 64 + q - 72 = q - 8.
  const half2 k1032 = as_half2(0x64086408);     // 1032.0
  const half2 kOneSixteenth = as_half2(0x2c002c00);  // 0.0625
  const half2 kMinus72 = as_half2(0xd480d480);   // -72.0
  FragB f;
  f.r[0] = as_u32(__hsub2(as_half2(lo), k1032));
  f.r[1] = as_u32(__hfma2(as_half2(hi), kOneSixteenth, kMinus72));
  return f;
}

// Multiplies both registers of a fragment by one FP16 scale (grouped
// quantization scales the weights before the mma).
__device__ __forceinline__ void scale_frag(FragB& f, __half s) {
  const half2 s2 = __half2half2(s);
  f.r[0] = as_u32(__hmul2(as_half2(f.r[0]), s2));
  f.r[1] = as_u32(__hmul2(as_half2(f.r[1]), s2));
}

}  // namespace marlin
