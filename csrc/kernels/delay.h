// Tiny kernels for tests and benchmarks (see delay.cu): delay() occupies a
// stream for a while; time_empty_launches() measures the host cost of a bare
// launch.
#pragma once

#include <cuda_runtime.h>

namespace marlin {

// Queues a one-thread kernel that spins for `microseconds` on `stream`.
cudaError_t delay(cudaStream_t stream, double microseconds);

// Host time of `calls` launches of an empty kernel on `stream`, back to back,
// in nanoseconds per launch: the floor of any launch from this process.
cudaError_t time_empty_launches(cudaStream_t stream, int calls, double* ns_per_call);

}  // namespace marlin
