// A kernel that only waits: queued ahead of timed work, it lets the host
// enqueue a whole sequence before the GPU starts, so events around each call
// measure GPU time, not the host's launch gaps (benchmarks). And the empty
// kernel, timed bare and queued after a layer's GPU-written data.
#include "delay.h"

#include <chrono>

namespace marlin {
namespace {

__device__ __forceinline__ unsigned long long global_timer_ns() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__global__ void delay_kernel(unsigned long long ns) {
  const unsigned long long start = global_timer_ns();
  while (global_timer_ns() - start < ns) __nanosleep(1000);
}

__global__ void empty_kernel() {}

}  // namespace

cudaError_t time_empty_launches(cudaStream_t stream, int calls, double* ns_per_call) {
  empty_kernel<<<1, 32, 0, stream>>>();  // loads the module outside the timing
  cudaError_t e = cudaGetLastError();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < calls && e == cudaSuccess; i++) {
    empty_kernel<<<1, 32, 0, stream>>>();
    e = cudaGetLastError();
  }
  const auto end = std::chrono::steady_clock::now();
  *ns_per_call = std::chrono::duration<double, std::nano>(end - start).count() / (calls > 0 ? calls : 1);
  return e;
}

cudaError_t settle_layer_writes(cudaStream_t stream) {
  empty_kernel<<<1, 32, 0, stream>>>();
  return cudaGetLastError();
}

cudaError_t delay(cudaStream_t stream, double microseconds) {
  const double ns = microseconds > 0 ? microseconds * 1000.0 : 0.0;
  delay_kernel<<<1, 1, 0, stream>>>(static_cast<unsigned long long>(ns < 1e12 ? ns : 1e12));
  return cudaGetLastError();
}

}  // namespace marlin
