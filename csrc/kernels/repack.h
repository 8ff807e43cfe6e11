// repack_weights(): a GPTQ or AWQ checkpoint's packed weights (qweight)
// turned into the Marlin layout of packing.h, on the GPU, with the act-order
// row permutation applied on the way; repack_weights_on_host() runs the very
// same tile functions on the CPU (tests compare it with lib/pack-layer.ts).
// Scales and zero points are small and are packed by the caller.
//
// Source layouts (docs/formats.md), pf = 32 / bits values per word:
//   GPTQ: uint32 [k_in / pf, n], packed along k: row i*pf + j of column c in
//         bits bits*j .. of word [i, c] (lowest bits: first row).
//   AWQ:  uint32 [k_in, n / pf], packed along n and interleaved: field j of
//         word [r, i] holds column i*pf + ORDER[j], ORDER = 0 2 4 6 1 3 5 7
//         (4 bits) or 0 2 1 3 (8 bits).
// Kernel row r (0 .. k-1) takes source row rows[r] (rows may be null: row
// r); a row outside 0 .. k_in-1 (act-order padding, -1) is filled with the
// zero point of its kernel group, r / group_rows, read from the packed zero
// points, or with 2^(bits-1) when there are none: a weight of exactly 0,
// as lib/pack-layer.ts pads.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace marlin {

enum class SourceLayout : int {
  kGptq = 0,
  kAwq = 1,
};

struct RepackArgs {
  const std::uint32_t* source = nullptr;  // the checkpoint's qweight words
  SourceLayout layout = SourceLayout::kGptq;
  int bits = 4;    // 4 or 8
  int k_in = 0;    // rows of the checkpoint's matrix
  int k = 0;       // kernel rows: a multiple of 16; k_in when rows is null
  int n = 0;       // columns: a multiple of 64
  const int* rows = nullptr;             // [k] source row of each kernel row, or null
  const std::uint32_t* zeros = nullptr;  // [k / group_rows, n / 4] packed zero points (padding), or null
  int group_rows = 0;                    // rows per kernel group (with zeros)
  std::uint32_t* out = nullptr;          // [k / 16, n * bits / 2] words, Marlin layout
};

enum class RepackStatus : int {
  kOk = 0,
  kBadBits,     // bits not 4 or 8
  kBadShape,    // k, k_in, n or group_rows do not fit the layouts (see check_repack)
  kBadPointer,  // source or out missing
  kCudaError,
};

// Checks the sizes (not the memory behind the pointers): bits 4 or 8;
// n > 0, n % 64 == 0, n <= 65535 * 512; k > 0, k % 16 == 0, k / 16 <= 2^31 / n words;
// k_in > 0 and, for GPTQ, a multiple of 32 / bits; without rows k_in == k;
// with zeros group_rows > 0 and k % group_rows == 0.
RepackStatus check_repack(const RepackArgs& args);

// Queues the repack on `stream`; kCudaError sets *cuda_error.
RepackStatus repack_weights(const RepackArgs& args, cudaStream_t stream, cudaError_t* cuda_error);

// The same, on the CPU: every pointer is host memory.
RepackStatus repack_weights_on_host(const RepackArgs& args);

// Bytes of the source and of the output for `args`' sizes (rows: k * 4
// bytes; zeros: (k / group_rows) * n bytes).
std::uint64_t repack_source_bytes(const RepackArgs& args);
std::uint64_t repack_out_bytes(const RepackArgs& args);

}  // namespace marlin
