// Round-to-nearest (RTN) quantization of one group of one output column,
// for the GPTQ quantizer's kernels and its host path (quantize.cu).
//
// lib/rtn.ts is the rule. This file repeats its arithmetic step by step, in
// float64 as JavaScript computes it, so that both give the same bits:
//   lo = min(W, 0), hi = max(W, 0) over the group (strict comparisons from
//        +0, so a -0 never becomes lo or hi);
//   raw = (hi - lo) / (2^bits - 1)                 with zero points,
//         max(hi, -lo) / (2^(bits-1) - 1/2)        symmetric;
//   scale = raw rounded to FP16 (as @petamoriken/float16's roundToFloat16)
//           or to BF16 (through FP32, as lib/fp16.ts toBfloat16);
//   z = scale > 0 ? clamp(Math.round(-lo / scale), 0, 2^bits - 1) : 0  (zero points),
//       2^(bits-1)                                                      (symmetric);
//   q = clamp(z + (scale > 0 ? floor(w / scale + 0.5) : 0), 0, 2^bits - 1),
//       with w / scale = 0.5 - 2^-54 giving 0 (lib/rtn.ts's JUST_BELOW_HALF).
// test/cpu/gptq-quantize.test.ts holds the host path to lib/rtn.ts on
// random and edge-case weights, test/gpu/quantize-gpu.test.ts the kernels.
//
// Device code must round exactly as the host does: every product that
// could be contracted into an FMA goes through mul_rn(), divisions are the
// IEEE ones nvcc emits for double by default.
#pragma once

#include <cstdint>
#include <cstring>

#include "common/format.h"

namespace marlin::rtn {

#define MARLIN_RTN_FN __host__ __device__ __forceinline__

// a * b rounded once: never fused with a following add or subtract.
MARLIN_RTN_FN double mul_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}

MARLIN_RTN_FN double floor_of(double x) {
#if defined(__CUDA_ARCH__)
  return ::floor(x);
#else
  return __builtin_floor(x);
#endif
}

MARLIN_RTN_FN std::uint64_t bits_of(double x) {
  std::uint64_t u;
  memcpy(&u, &x, sizeof u);
  return u;
}

MARLIN_RTN_FN double double_of(std::uint64_t u) {
  double x;
  memcpy(&x, &u, sizeof x);
  return x;
}

MARLIN_RTN_FN float float_of(std::uint32_t u) {
  float x;
  memcpy(&x, &u, sizeof x);
  return x;
}

MARLIN_RTN_FN std::uint32_t bits_of(float x) {
  std::uint32_t u;
  memcpy(&u, &x, sizeof u);
  return u;
}

MARLIN_RTN_FN bool is_finite(double x) { return x - x == 0.0; }

// The value of an FP16 bit pattern (exact).
MARLIN_RTN_FN float fp16_value(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t e = (h >> 10) & 31u;
  const std::uint32_t m = h & 1023u;
  if (e == 31) return float_of(sign | 0x7f800000u | (m << 13));  // infinities, NaNs
  if (e == 0) {
    const float v = static_cast<float>(m) * 5.9604644775390625e-08f;  // m * 2^-24: exact
    return sign ? -v : v;
  }
  return float_of(sign | ((e + 112u) << 23) | (m << 13));  // exponent bias 15 -> 127
}

// The value of a BF16 bit pattern (exact): the top half of an FP32.
MARLIN_RTN_FN float bf16_value(std::uint16_t h) { return float_of(static_cast<std::uint32_t>(h) << 16); }

MARLIN_RTN_FN float value_of(std::uint16_t h, Act type) { return type == Act::kBF16 ? bf16_value(h) : fp16_value(h); }

// FP16 bits of x rounded to nearest, the arithmetic of @petamoriken/float16
// (roundToFloat16, then roundToFloat16Bits), which lib/fp16.ts toHalf uses:
// subnormals by rounding |x| / 2^-24 to an integer (ties to even), normal
// numbers by the split t = (1 + 2^42) |x|, t - (t - |x|), overflow to
// infinity past 65504.
MARLIN_RTN_FN std::uint16_t fp16_bits(double x) {
  const std::uint64_t u = bits_of(x);
  const std::uint16_t sign = static_cast<std::uint16_t>((u >> 48) & 0x8000u);
  const double a = double_of(u & ~(std::uint64_t{1} << 63));
  if (a != a) return 0x7e00;  // NaN (as FP32's canonical NaN converts)
  if (a == 0.0) return sign;
  if (!is_finite(a)) return sign | 0x7c00;
  if (a < 6.103515625e-05) {  // below 2^-14: a multiple of 2^-24, ties to even
    const double two52 = 4503599627370496.0;
    const double scaled = mul_rn(a, 16777216.0);  // a / 2^-24, exact
    const double m = (scaled + two52) - two52;    // JS's roundTiesToEven
    return sign | static_cast<std::uint16_t>(m);  // 1024 is 2^-14's pattern, as it should be
  }
  const double t = mul_rn(1.0 + 4398046511104.0, a);  // (1 + 2^42) * a
  const double r = t - (t - a);                        // a to 11 significant bits
  if (r > 65504.0) return sign | 0x7c00;
  const std::uint64_t rb = bits_of(r);
  const int e = static_cast<int>((rb >> 52) & 0x7ff) - 1023;
  const std::uint32_t m = static_cast<std::uint32_t>((rb >> 42) & 1023u);
  return sign | static_cast<std::uint16_t>(((e + 15) << 10) | m);
}

// BF16 bits of x: rounded to FP32 first, then to BF16 (nearest even), as
// lib/fp16.ts toBfloat16 does.
MARLIN_RTN_FN std::uint16_t bf16_bits(double x) {
#if defined(__CUDA_ARCH__)
  const float f = __double2float_rn(x);
#else
  const float f = static_cast<float>(x);
#endif
  const std::uint32_t w = bits_of(f);
  if ((w & 0x7f800000u) == 0x7f800000u && (w & 0x007fffffu) != 0)
    return static_cast<std::uint16_t>((w >> 16) | 0x0040u);
  return static_cast<std::uint16_t>((w + 0x7fffu + ((w >> 16) & 1u)) >> 16);
}

MARLIN_RTN_FN std::uint16_t bits_in(double x, Act type) { return type == Act::kBF16 ? bf16_bits(x) : fp16_bits(x); }

// JavaScript's Math.round: the nearest integer, ties toward +infinity
// (x - floor(x) is exact).
MARLIN_RTN_FN double js_round(double x) {
  const double f = floor_of(x);
  return x - f >= 0.5 ? f + 1.0 : f;
}

// One weight into a group's range; lo and hi start at +0.
MARLIN_RTN_FN void range_add(float& lo, float& hi, float v) {
  if (v < lo)
    lo = v;
  else if (v > hi)
    hi = v;
}

// Two partial ranges of one group into one (min and max are exact, so any order gives the same).
MARLIN_RTN_FN void range_merge(float& lo, float& hi, float other_lo, float other_hi) {
  if (other_lo < lo) lo = other_lo;
  if (other_hi > hi) hi = other_hi;
}

struct GroupParams {
  std::uint16_t scale_bits;  // the scale in the scale type
  double scale;              // its value
  int zero;                  // zero point 0 .. 2^bits - 1
  bool scale_finite;         // false: the scale type cannot hold it (the quantizer's error)
};

// Scale and zero point of a group whose range is [lo, hi] (lib/rtn.ts, pass 2).
MARLIN_RTN_FN GroupParams group_params(float lo_f, float hi_f, int bits, bool zero_points, Act scale_type) {
  const double lo = lo_f;
  const double hi = hi_f;
  const int maxq = (1 << bits) - 1;
  const int symmetric_zero = 1 << (bits - 1);
  double raw;
  if (zero_points) {
    raw = (hi - lo) / static_cast<double>(maxq);
  } else {
    // Math.max(hi, -lo): hi is +0 when both are zeros (and -lo then -0), so `>=` picks it as JS does.
    const double m = hi >= -lo ? hi : -lo;
    raw = m / (static_cast<double>(symmetric_zero) - 0.5);
  }
  GroupParams p;
  p.scale_bits = bits_in(raw, scale_type);
  p.scale = value_of(p.scale_bits, scale_type);
  p.scale_finite = is_finite(p.scale);
  if (!zero_points) {
    p.zero = symmetric_zero;
  } else if (p.scale > 0) {
    double z = js_round(-lo / p.scale);
    z = z < 0 ? 0 : z;
    p.zero = static_cast<int>(z > maxq ? maxq : z);
  } else {
    p.zero = 0;
  }
  return p;
}

// q of weight w in a group of scale `scale` and zero point `zero` (lib/rtn.ts, pass 3).
MARLIN_RTN_FN unsigned quantize_value(double w, double scale, int zero, int maxq) {
  // The largest double below 0.5: floor(x + 0.5) rounds it to 1 where Math.round gives 0.
  constexpr double kJustBelowHalf = 0.5 - 0x1p-54;
  double step = zero;
  if (scale > 0) {
    const double x = w / scale;
    step += x == kJustBelowHalf ? 0.0 : floor_of(x + 0.5);
  }
  // A NaN step (a non-finite weight, already an error) stores 0 as a JS Uint8Array does.
  if (!(step > 0)) return 0;
  return step > maxq ? static_cast<unsigned>(maxq) : static_cast<unsigned>(step);
}

#undef MARLIN_RTN_FN

}  // namespace marlin::rtn
