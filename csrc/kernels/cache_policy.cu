#include "cache_policy.h"

#include <atomic>
#include <mutex>

#include "common/ptx.cuh"

namespace marlin {
namespace {

__global__ void make_policy_kernel(std::uint64_t* out) { *out = ptx::make_evict_first_policy(); }

cudaError_t probe(int device, std::uint64_t* policy) {
  int previous = 0;
  cudaError_t e = cudaGetDevice(&previous);
  if (e != cudaSuccess) return e;
  if (previous != device && (e = cudaSetDevice(device)) != cudaSuccess) return e;
  cudaStream_t stream = nullptr;
  std::uint64_t* d_policy = nullptr;
  e = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
  if (e == cudaSuccess) e = cudaMalloc(&d_policy, sizeof(std::uint64_t));
  if (e == cudaSuccess) {
    make_policy_kernel<<<1, 1, 0, stream>>>(d_policy);
    e = cudaGetLastError();
  }
  if (e == cudaSuccess) e = cudaMemcpyAsync(policy, d_policy, sizeof(std::uint64_t), cudaMemcpyDeviceToHost, stream);
  if (e == cudaSuccess) e = cudaStreamSynchronize(stream);
  if (d_policy) cudaFree(d_policy);
  if (stream) cudaStreamDestroy(stream);
  if (previous != device) cudaSetDevice(previous);
  return e;
}

}  // namespace

cudaError_t evict_first_policy(int device, std::uint64_t* policy) {
  // Stored with bit 0 of `known` set once made; the descriptor itself is
  // opaque, so "not yet made" needs its own flag.
  static std::atomic<std::uint64_t> cache[64] = {};
  static std::atomic<bool> known[64] = {};
  static std::mutex mutex;
  const bool cacheable = device >= 0 && device < 64;
  if (cacheable && known[device].load(std::memory_order_acquire)) {
    *policy = cache[device].load(std::memory_order_relaxed);
    return cudaSuccess;
  }
  std::lock_guard<std::mutex> lock(mutex);
  if (cacheable && known[device].load(std::memory_order_acquire)) {
    *policy = cache[device].load(std::memory_order_relaxed);
    return cudaSuccess;
  }
  const cudaError_t e = probe(device, policy);
  if (e == cudaSuccess && cacheable) {
    cache[device].store(*policy, std::memory_order_relaxed);
    known[device].store(true, std::memory_order_release);
  }
  return e;
}

}  // namespace marlin
