// gptq_quantize(): RTN quantization of float weights as checkpoints store
// them, [n = out, k = in] row-major FP16 or BF16, straight into the tensors
// of a GPTQ checkpoint (docs/formats.md, "GPTQ"), on the GPU; and the same
// computation on the host, for tests and small layers. The rounding rules
// are lib/rtn.ts's (see rtn.cuh); which zero-point convention the qzeros
// words follow is the caller's choice (zero_word_offset).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common/format.h"

namespace marlin {

struct GptqQuantizeProblem {
  int n = 0;                   // output features: rows of the weights
  int k = 0;                   // input features: columns of the weights, rows of qweight's unpacked q
  Act input = Act::kF16;       // type of the weights
  Act scale = Act::kF16;       // type of the scales written
  int bits = 4;                // 4 or 8
  int group_size = 128;        // 32, 64, 128, or -1: one group per output column
  bool zero_points = false;    // min/max zero points; else symmetric (z = 2^(bits-1))
  // Subtracted (modulo 2^32) from every packed qzeros word: one per field
  // for GPTQ's v1 convention (zero points stored minus one), 0 for v2.
  std::uint32_t zero_word_offset = 0;
};

// Where the results go; sizes with pf = 32 / bits and groups = k / group_size (1 for -1).
struct GptqQuantizeOutputs {
  std::int32_t* qweight = nullptr;   // [k / pf, n]: row i*pf + j of column c in bits bits*j of word [i, c]
  std::int32_t* qzeros = nullptr;  // [groups, n / pf]: column i*pf + j in bits bits*j of word [g, i], offset subtracted
  std::uint16_t* scales = nullptr;  // [groups, n] bit patterns of the scale type
  std::int32_t* g_idx = nullptr;  // [k]: row / group_size (0 for -1)
  std::uint8_t* zeros = nullptr;  // [groups, n] scratch: the zero point of every (group, column)
  // [2] what the quantizer refuses, first of each: a weight that is not
  // finite (row * n + col, row < k the input feature), else a scale the
  // scale type cannot hold (group * n + col); kNoFinding where none.
  std::uint64_t* findings = nullptr;
};

constexpr std::uint64_t kNoFinding = ~std::uint64_t{0};

// Rows of scales: k / group_size, or 1 (also in device code, where nvcc compiles this header).
#if defined(__CUDACC__)
__host__ __device__
#endif
    inline int gptq_groups(const GptqQuantizeProblem& p) {
  return p.group_size > 0 ? p.k / p.group_size : 1;
}

// Why `p` cannot be quantized into GPTQ tensors (a constant sentence), or
// nullptr: n, k positive, bits 4 or 8, a group size of the format table
// that divides k, and k and n multiples of 32 / bits (whole words).
const char* check_gptq_quantize(const GptqQuantizeProblem& p);

// Queues the quantization of `weights` (device, [n, k] 16-bit, 16-byte
// aligned) on `stream`: findings are reset first, then every output is
// written (outputs are meaningless when a finding is reported). Returns
// cudaErrorInvalidValue if check_gptq_quantize() fails or a pointer is null.
cudaError_t gptq_quantize(const std::uint16_t* weights, const GptqQuantizeProblem& p, const GptqQuantizeOutputs& out,
                          cudaStream_t stream);

// The same on the host, synchronously, with host pointers; same results bit for bit.
// Returns false (writing nothing) if check_gptq_quantize() fails or a pointer is null.
bool gptq_quantize_host(const std::uint16_t* weights, const GptqQuantizeProblem& p, const GptqQuantizeOutputs& out);

}  // namespace marlin
