#include "fp16_gemm.h"

#if MARLIN_WITH_CUBLAS
#include <cublas_v2.h>

#include <mutex>
#endif

namespace marlin::baseline {

#if MARLIN_WITH_CUBLAS

namespace {

// One handle per device, created on first use and kept for the process
// (cuBLAS handles are expensive to create and bound to a device; never
// destroyed, as nothing on the GPU is freed at process exit).
//
// A handle's stream is state of the handle: cublasSetStream followed by
// cublasGemmEx is only correct if no other thread sets another stream in
// between, and Node worker threads share this process and these handles.
// Without a lock, a GEMM could run on another thread's stream, unordered
// with the work that writes its inputs or reads its output. So the lock is
// held across both calls (and handle creation).
//
// Why a lock rather than one handle per thread: cublasGemmEx only queues the
// work, a few microseconds on the host, so threads hardly ever wait; one
// handle per (thread, device) would cost each worker thread its own handle
// and cuBLAS workspace in device memory, to be destroyed when the thread
// exits, where thread-local destructors can run after the CUDA runtime has
// been unloaded. The lock keeps the handles few and owned by the process.
std::mutex handles_mutex;
cublasHandle_t handles[64] = {};

// The handle of `device`, created if needed. Call with handles_mutex held.
cublasHandle_t handle_for(int device, std::string* error) {
  if (device < 0 || device >= 64) {
    *error = "device ordinal out of range";
    return nullptr;
  }
  if (!handles[device]) {
    const cublasStatus_t s = cublasCreate(&handles[device]);
    if (s != CUBLAS_STATUS_SUCCESS) {
      *error = std::string("cublasCreate failed: ") + cublasGetStatusString(s);
      handles[device] = nullptr;
    }
  }
  return handles[device];
}

}  // namespace

bool available() { return true; }

bool has_handle(int device) {
  std::lock_guard<std::mutex> lock(handles_mutex);
  return device >= 0 && device < 64 && handles[device] != nullptr;
}

bool fp16_gemm(const void* a, const void* b, void* c, int m, int n, int k, cudaStream_t stream, std::string* error,
               bool bf16) {
  if (m <= 0 || n <= 0 || k <= 0) {
    *error = "m, n and k must be positive";
    return false;
  }
  int device = 0;
  cudaError_t e = cudaGetDevice(&device);
  if (e != cudaSuccess) {
    *error = std::string("cudaGetDevice failed: ") + cudaGetErrorString(e);
    return false;
  }
  std::lock_guard<std::mutex> lock(handles_mutex);
  cublasHandle_t handle = handle_for(device, error);
  if (!handle) return false;
  cublasStatus_t s = cublasSetStream(handle, stream);
  if (s != CUBLAS_STATUS_SUCCESS) {
    *error = std::string("cublasSetStream failed: ") + cublasGetStatusString(s);
    return false;
  }
  // Row-major C = A B is column-major C^T = B^T A^T: B^T is B's memory as an
  // [n, k] column-major matrix (ld n), A^T is A's as [k, m] (ld k).
  const float alpha = 1.0f;
  const float beta = 0.0f;
  const cudaDataType_t type = bf16 ? CUDA_R_16BF : CUDA_R_16F;
  s = cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, m, k, &alpha, b, type, n, a, type, k, &beta, c, type, n,
                   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  if (s != CUBLAS_STATUS_SUCCESS) {
    *error = std::string("cublasGemmEx failed: ") + cublasGetStatusString(s);
    return false;
  }
  return true;
}

#else

bool available() { return false; }

bool has_handle(int) { return false; }

bool fp16_gemm(const void*, const void*, void*, int, int, int, cudaStream_t, std::string* error, bool) {
  *error = "this build of marlin-node has no cuBLAS (it was not found when the addon was built)";
  return false;
}

#endif

}  // namespace marlin::baseline
