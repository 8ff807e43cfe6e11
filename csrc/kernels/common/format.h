// Weight formats: everything about a layer's data that the kernels must know
// to dequantize it. Plain C++ (host and device), no CUDA headers.
//
// A weight q (bits wide, unsigned) of row r and column c stands for
//   w = (q - z) * s,   s = scale[group(r), c],  z = zero[group(r), c]
// where group(r) = r / group_size (or 0 for one group per column) and z is
// the stored zero point, or 2^(bits-1) for symmetric formats (8 or 128).
#pragma once

namespace marlin {

// Activation type of A and C; scales are stored in the same type.
enum class Act : int {
  kF16 = 0,
  kBF16 = 1,
};

struct Format {
  Act act = Act::kF16;
  int bits = 4;               // 4 or 8
  int group_size = 128;       // 32, 64, 128, or -1: one group per output column
  bool zero_points = false;   // stored zero points (AWQ, GPTQ sym=false); else symmetric
};

// Grouped formats with zero points run on scaled zero points, one per
// (group, column) in the scales' order and type:
//   zs = (2^(bits-1) - z) * s, rounded once, so w = (q - 2^(bits-1)) * s + zs
// is one fused multiply-add per weight pair, the same count as a symmetric
// format's scale multiply (scaled_zeros.h makes them when a layer loads).
// w is then rounded twice: it differs from the exact (q - z) * s by at most
// half a unit in the last place of zs plus its own final rounding.
inline bool uses_scaled_zeros(const Format& f) { return f.zero_points && f.group_size > 0; }

inline bool operator==(const Format& a, const Format& b) {
  return a.act == b.act && a.bits == b.bits && a.group_size == b.group_size && a.zero_points == b.zero_points;
}

}  // namespace marlin
