#include "errors.h"

namespace marlin_addon {

Napi::Error MakeError(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error;
}

const char* CodeForCudaError(cudaError_t e) {
  switch (e) {
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorInvalidDevice: return "NO_GPU";
    case cudaErrorMemoryAllocation: return "OUT_OF_MEMORY";
    default: return "CUDA_ERROR";
  }
}

std::string DescribeCudaError(cudaError_t e) {
  return std::string(cudaGetErrorName(e)) + " (" + std::to_string(static_cast<int>(e)) + "): " + cudaGetErrorString(e);
}

void CheckCuda(Napi::Env env, cudaError_t e, const std::string& what) {
  if (e == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so later calls start clean
  Napi::Error error = MakeError(env, CodeForCudaError(e), what + " failed: " + DescribeCudaError(e));
  error.Set("cudaError", Napi::Number::New(env, static_cast<int>(e)));
  throw error;
}

}  // namespace marlin_addon
