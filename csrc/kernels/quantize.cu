// GPTQ tensors from float weights by RTN (quantize.h), on the GPU and on the
// host. Three steps, each bandwidth-light next to the copies around it:
//   1. groups: one warp per output column walks its k contiguous weights
//      (the [n, k] input keeps a column's rows together), group by group:
//      lo/hi by warp reduction, then lane 0 sets the scale and zero point
//      (rtn::group_params) and reports non-finite weights and scales;
//   2. qweight: one thread per word, pf = 32 / bits consecutive rows of one
//      column (one 16- or 8-byte load), consecutive threads on consecutive
//      columns so the stores coalesce;
//   3. qzeros and g_idx: one thread per word or row.
// The host path runs the same per-group and per-word functions in plain loops.
#include <cuda_runtime.h>

#include <climits>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "quantize.h"
#include "rtn.cuh"

namespace marlin {
namespace {

constexpr int kWarp = 32;

__host__ __device__ inline int group_rows(const GptqQuantizeProblem& p) {
  return p.group_size > 0 ? p.group_size : p.k;
}

// Stores group g of column c from its range; returns whether its scale fits the scale type.
__host__ __device__ inline bool store_group(const GptqQuantizeProblem& p, const GptqQuantizeOutputs& out, int g, int c,
                                            float lo, float hi) {
  const rtn::GroupParams gp = rtn::group_params(lo, hi, p.bits, p.zero_points, p.scale);
  const std::int64_t at = static_cast<std::int64_t>(g) * p.n + c;
  out.scales[at] = gp.scale_bits;
  out.zeros[at] = static_cast<std::uint8_t>(gp.zero);
  return gp.scale_finite;
}

// qweight word [i, c] from the pf = 32 / bits weights of rows i*pf .. of column c (`w` points at the first).
__host__ __device__ inline std::uint32_t weight_word(const std::uint16_t* w, const GptqQuantizeProblem& p,
                                                     const GptqQuantizeOutputs& out, int i, int c) {
  const int pf = 32 / p.bits;
  const int maxq = (1 << p.bits) - 1;
  const int g = p.group_size > 0 ? i * pf / p.group_size : 0;  // pf divides the group size: one group per word
  const std::int64_t at = static_cast<std::int64_t>(g) * p.n + c;
  const double scale = rtn::value_of(out.scales[at], p.scale);
  const int zero = out.zeros[at];
  std::uint32_t word = 0;
  for (int j = 0; j < pf; ++j)
    word |= rtn::quantize_value(rtn::value_of(w[j], p.input), scale, zero, maxq) << (p.bits * j);
  return word;
}

// qzeros word [g, i]: columns i*pf .. of group g, the offset subtracted modulo 2^32.
__host__ __device__ inline std::uint32_t zero_word(const GptqQuantizeProblem& p, const GptqQuantizeOutputs& out, int g,
                                                   int i) {
  const int pf = 32 / p.bits;
  const std::uint8_t* z = out.zeros + static_cast<std::int64_t>(g) * p.n + static_cast<std::int64_t>(i) * pf;
  std::uint32_t word = 0;
  for (int j = 0; j < pf; ++j) word |= static_cast<std::uint32_t>(z[j]) << (p.bits * j);
  return word - p.zero_word_offset;
}

__global__ void groups_kernel(const std::uint16_t* __restrict__ w, GptqQuantizeProblem p, GptqQuantizeOutputs out) {
  const int c = static_cast<int>((blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x) / kWarp);
  const int lane = threadIdx.x % kWarp;
  if (c >= p.n) return;  // whole warps leave together: blockDim.x is a multiple of 32
  const int rows = group_rows(p);
  const int groups = gptq_groups(p);
  const std::uint16_t* column = w + static_cast<std::int64_t>(c) * p.k;
  for (int g = 0; g < groups; ++g) {
    float lo = 0.0f;
    float hi = 0.0f;
    int bad = INT_MAX;  // first row of the group holding a weight that is not finite
    for (int r = g * rows + lane; r < (g + 1) * rows; r += kWarp) {
      const float v = rtn::value_of(column[r], p.input);
      if (!(v - v == 0.0f) && r < bad) bad = r;
      rtn::range_add(lo, hi, v);
    }
    for (int offset = kWarp / 2; offset > 0; offset /= 2) {
      const float other_lo = __shfl_xor_sync(0xffffffffu, lo, offset);
      const float other_hi = __shfl_xor_sync(0xffffffffu, hi, offset);
      const int other_bad = __shfl_xor_sync(0xffffffffu, bad, offset);
      rtn::range_merge(lo, hi, other_lo, other_hi);
      if (other_bad < bad) bad = other_bad;
    }
    if (lane == 0) {
      if (bad != INT_MAX)
        atomicMin(reinterpret_cast<unsigned long long*>(out.findings), static_cast<unsigned long long>(bad) * p.n + c);
      if (!store_group(p, out, g, c, lo, hi))
        atomicMin(reinterpret_cast<unsigned long long*>(out.findings + 1),
                  static_cast<unsigned long long>(g) * p.n + c);
    }
  }
}

// One 32-bit word of qweight per thread: PF consecutive 16-bit weights in one vector load.
template <int PF>
__global__ void qweight_kernel(const std::uint16_t* __restrict__ w, GptqQuantizeProblem p, GptqQuantizeOutputs out) {
  using Vector = typename std::conditional<PF == 8, uint4, uint2>::type;
  static_assert(sizeof(Vector) == PF * sizeof(std::uint16_t), "one vector per word");
  const std::int64_t total = static_cast<std::int64_t>(p.k / PF) * p.n;
  for (std::int64_t t = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; t < total;
       t += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const int c = static_cast<int>(t % p.n);
    const int i = static_cast<int>(t / p.n);
    // k % PF == 0 and a 16-byte aligned base: every word's weights are one aligned vector.
    const Vector v =
        *reinterpret_cast<const Vector*>(w + static_cast<std::int64_t>(c) * p.k + static_cast<std::int64_t>(i) * PF);
    std::uint16_t values[PF];
    memcpy(values, &v, sizeof v);
    out.qweight[t] = static_cast<std::int32_t>(weight_word(values, p, out, i, c));
  }
}

__global__ void zeros_kernel(GptqQuantizeProblem p, GptqQuantizeOutputs out) {
  const int words_per_group = p.n / (32 / p.bits);
  const std::int64_t zero_words = static_cast<std::int64_t>(gptq_groups(p)) * words_per_group;
  const std::int64_t total = zero_words > p.k ? zero_words : p.k;
  for (std::int64_t t = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; t < total;
       t += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    if (t < zero_words)
      out.qzeros[t] = static_cast<std::int32_t>(
          zero_word(p, out, static_cast<int>(t / words_per_group), static_cast<int>(t % words_per_group)));
    if (t < p.k) out.g_idx[t] = p.group_size > 0 ? static_cast<int>(t / p.group_size) : 0;
  }
}

unsigned grid_for(std::int64_t items, int threads) {
  const std::int64_t blocks = (items + threads - 1) / threads;
  return static_cast<unsigned>(blocks < 65536 ? (blocks > 0 ? blocks : 1) : 65536);
}

bool pointers_set(const std::uint16_t* weights, const GptqQuantizeOutputs& out) {
  return weights && out.qweight && out.qzeros && out.scales && out.g_idx && out.zeros && out.findings;
}

}  // namespace

const char* check_gptq_quantize(const GptqQuantizeProblem& p) {
  if (p.n <= 0 || p.k <= 0) return "n and k must be positive";
  if (p.bits != 4 && p.bits != 8) return "bits must be 4 or 8";
  if (p.group_size != 32 && p.group_size != 64 && p.group_size != 128 && p.group_size != -1)
    return "the group size must be 32, 64, 128 or -1";
  if (p.group_size > 0 && p.k % p.group_size != 0) return "k must be a multiple of the group size";
  const int pf = 32 / p.bits;
  if (p.k % pf != 0) return "k must fill whole qweight words (a multiple of 32 / bits)";
  if (p.n % pf != 0) return "n must fill whole qzeros words (a multiple of 32 / bits)";
  if ((p.input != Act::kF16 && p.input != Act::kBF16) || (p.scale != Act::kF16 && p.scale != Act::kBF16))
    return "the weight and scale types must be float16 or bfloat16";
  return nullptr;
}

cudaError_t gptq_quantize(const std::uint16_t* weights, const GptqQuantizeProblem& p, const GptqQuantizeOutputs& out,
                          cudaStream_t stream) {
  if (check_gptq_quantize(p) || !pointers_set(weights, out) || reinterpret_cast<std::uintptr_t>(weights) % 16 != 0)
    return cudaErrorInvalidValue;
  cudaError_t e = cudaMemsetAsync(out.findings, 0xff, 2 * sizeof(std::uint64_t), stream);  // kNoFinding
  if (e != cudaSuccess) return e;
  const int threads = 256;
  groups_kernel<<<grid_for(static_cast<std::int64_t>(p.n) * kWarp, threads), threads, 0, stream>>>(weights, p, out);
  if ((e = cudaGetLastError()) != cudaSuccess) return e;
  const std::int64_t words = static_cast<std::int64_t>(p.k / (32 / p.bits)) * p.n;
  if (p.bits == 4)
    qweight_kernel<8><<<grid_for(words, threads), threads, 0, stream>>>(weights, p, out);
  else
    qweight_kernel<4><<<grid_for(words, threads), threads, 0, stream>>>(weights, p, out);
  if ((e = cudaGetLastError()) != cudaSuccess) return e;
  const std::int64_t zero_words = static_cast<std::int64_t>(gptq_groups(p)) * (p.n / (32 / p.bits));
  zeros_kernel<<<grid_for(zero_words > p.k ? zero_words : p.k, threads), threads, 0, stream>>>(p, out);
  return cudaGetLastError();
}

bool gptq_quantize_host(const std::uint16_t* weights, const GptqQuantizeProblem& p, const GptqQuantizeOutputs& out) {
  if (check_gptq_quantize(p) || !pointers_set(weights, out)) return false;
  out.findings[0] = out.findings[1] = kNoFinding;
  const int rows = group_rows(p);
  const int groups = gptq_groups(p);
  const int pf = 32 / p.bits;
  for (int c = 0; c < p.n; ++c) {
    const std::uint16_t* column = weights + static_cast<std::int64_t>(c) * p.k;
    for (int g = 0; g < groups; ++g) {
      float lo = 0.0f;
      float hi = 0.0f;
      for (int r = g * rows; r < (g + 1) * rows; ++r) {
        const float v = rtn::value_of(column[r], p.input);
        const std::uint64_t at = static_cast<std::uint64_t>(r) * p.n + c;
        if (!(v - v == 0.0f) && at < out.findings[0]) out.findings[0] = at;
        rtn::range_add(lo, hi, v);
      }
      const std::uint64_t at = static_cast<std::uint64_t>(g) * p.n + c;
      if (!store_group(p, out, g, c, lo, hi) && at < out.findings[1]) out.findings[1] = at;
    }
  }
  for (int i = 0; i < p.k / pf; ++i)
    for (int c = 0; c < p.n; ++c)
      out.qweight[static_cast<std::int64_t>(i) * p.n + c] = static_cast<std::int32_t>(
          weight_word(weights + static_cast<std::int64_t>(c) * p.k + static_cast<std::int64_t>(i) * pf, p, out, i, c));
  for (int g = 0; g < groups; ++g)
    for (int i = 0; i < p.n / pf; ++i)
      out.qzeros[static_cast<std::int64_t>(g) * (p.n / pf) + i] = static_cast<std::int32_t>(zero_word(p, out, g, i));
  for (int r = 0; r < p.k; ++r) out.g_idx[r] = p.group_size > 0 ? r / p.group_size : 0;
  return true;
}

}  // namespace marlin
