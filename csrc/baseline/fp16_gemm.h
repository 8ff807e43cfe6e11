// The FP16 baseline: cuBLAS with the same tensor types as the Marlin call
// (FP16 in and out, FP32 accumulation, tensor cores). Plain C++, no Node.
// Built against cuBLAS when CMake finds it (MARLIN_WITH_CUBLAS); otherwise
// every call reports that the baseline is unavailable.
#pragma once

#include <cuda_runtime_api.h>

#include <string>

namespace marlin::baseline {

// Whether this build has cuBLAS.
bool available();

// Whether the cuBLAS handle of `device` exists (created by a first call).
// Creating one allocates device memory, which a CUDA graph capture forbids.
bool has_handle(int device);

// C[m, n] = A[m, k] * B[k, n], all FP16 (or, with bf16, all BF16) row-major,
// FP32 accumulation, on `stream` of the current device. Returns false and
// sets *error on failure (no cuBLAS, bad shape, a cuBLAS or CUDA error).
bool fp16_gemm(const void* a, const void* b, void* c, int m, int n, int k, cudaStream_t stream, std::string* error,
               bool bf16 = false);

}  // namespace marlin::baseline
