// Host-side launch steps both kernel families share: the once-per-device
// shared-memory opt-in, and a launch with or without programmatic dependent
// launch (PDL).
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>

#include "kernel_args.h"

namespace marlin {

// Raises `kernel`'s dynamic shared-memory limit to `bytes` on `device`, once:
// `configured` (one per kernel) keeps a bit per device (0-63) that is done.
// The opt-in is a driver round trip, which also loads the kernel where CUDA
// loads lazily, so it stays off the serving hot path after the first call
// (or after layer.reserve(), through prepare_kernels()).
inline cudaError_t opt_in_shared_memory(std::atomic<std::uint64_t>& configured, void (*kernel)(KernelArgs), int bytes,
                                        int device) {
  const std::uint64_t bit = device >= 0 && device < 64 ? (std::uint64_t{1} << device) : 0;
  if (bit && (configured.load(std::memory_order_relaxed) & bit)) return cudaSuccess;
  const cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
  if (e == cudaSuccess) configured.fetch_or(bit, std::memory_order_relaxed);
  return e;
}

// Launches kernel<<<grid, block, smem, stream>>>(args). With `programmatic`
// (sm_90+), under PDL: the kernel may be scheduled while the previous one on
// the stream finishes; it waits for it on the GPU (griddepcontrol.wait, in
// each family's body), so only the launch latency overlaps.
inline cudaError_t launch_kernel(void (*kernel)(KernelArgs), dim3 grid, int threads, int smem_bytes,
                                 cudaStream_t stream, bool programmatic, const KernelArgs& args) {
  if (programmatic) {
    cudaLaunchConfig_t config{};
    config.gridDim = grid;
    config.blockDim = dim3(threads);
    config.dynamicSmemBytes = smem_bytes;
    config.stream = stream;
    cudaLaunchAttribute attribute{};
    attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attribute.val.programmaticStreamSerializationAllowed = 1;
    config.attrs = &attribute;
    config.numAttrs = 1;
    return cudaLaunchKernelEx(&config, kernel, args);
  }
  kernel<<<grid, threads, smem_bytes, stream>>>(args);
  return cudaGetLastError();
}

}  // namespace marlin
