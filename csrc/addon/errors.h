// JS errors thrown by the addon. Each carries a `code` from the MarlinError
// vocabulary (lib/errors.ts); the TypeScript layer re-throws them as
// MarlinError on the caller's stack.
#pragma once

#include <cuda_runtime_api.h>
#include <napi.h>

#include <string>

namespace marlin_addon {

// Builds an Error with `code` set; throw the result.
Napi::Error MakeError(Napi::Env env, const char* code, const std::string& message);

// NO_GPU for "no driver / no device", OUT_OF_MEMORY for allocation failures,
// CUDA_ERROR for everything else.
const char* CodeForCudaError(cudaError_t e);

// "cudaErrorMemoryAllocation (2): out of memory"
std::string DescribeCudaError(cudaError_t e);

// Throws if `e` is not cudaSuccess; `what` says which call failed and why it
// was made ("cudaMalloc(1048576 bytes) on device 0").
void CheckCuda(Napi::Env env, cudaError_t e, const std::string& what);

}  // namespace marlin_addon
