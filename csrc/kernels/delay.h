// delay(): occupy a stream for a while (see delay.cu).
#pragma once

#include <cuda_runtime.h>

namespace marlin {

// Queues a one-thread kernel that spins for `microseconds` on `stream`.
cudaError_t delay(cudaStream_t stream, double microseconds);

}  // namespace marlin
