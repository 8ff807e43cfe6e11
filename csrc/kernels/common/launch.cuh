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

// Launches kernel<<<grid, block, smem, stream>>>(args...). With
// `programmatic` (sm_90+), under PDL: the kernel may be scheduled while the
// previous one on the stream finishes; it waits for it on the GPU
// (ptx::grid_dependency_wait, at the top of each kernel launched so), so
// only the launch latency overlaps. A `cluster_z` above 1 (sm_90+) groups
// the blocks that share x and y, `cluster_z` consecutive z at a time, into
// thread block clusters.
template <class... Params, class... Args>
inline cudaError_t launch_with(void (*kernel)(Params...), dim3 grid, int threads, int smem_bytes, cudaStream_t stream,
                               bool programmatic, int cluster_z, Args... args) {
  if (programmatic || cluster_z > 1) {
    cudaLaunchConfig_t config{};
    config.gridDim = grid;
    config.blockDim = dim3(threads);
    config.dynamicSmemBytes = smem_bytes;
    config.stream = stream;
    cudaLaunchAttribute attributes[2] = {};
    unsigned count = 0;
    if (programmatic) {
      attributes[count].id = cudaLaunchAttributeProgrammaticStreamSerialization;
      attributes[count++].val.programmaticStreamSerializationAllowed = 1;
    }
    if (cluster_z > 1) {
      attributes[count].id = cudaLaunchAttributeClusterDimension;
      attributes[count].val.clusterDim.x = 1;
      attributes[count].val.clusterDim.y = 1;
      attributes[count++].val.clusterDim.z = static_cast<unsigned>(cluster_z);
    }
    config.attrs = attributes;
    config.numAttrs = count;
    return cudaLaunchKernelEx(&config, kernel, args...);
  }
  kernel<<<grid, threads, smem_bytes, stream>>>(args...);
  return cudaGetLastError();
}

// A GEMM kernel's launch (launch_with).
inline cudaError_t launch_kernel(void (*kernel)(KernelArgs), dim3 grid, int threads, int smem_bytes,
                                 cudaStream_t stream, bool programmatic, const KernelArgs& args, int cluster_z = 1) {
  return launch_with(kernel, grid, threads, smem_bytes, stream, programmatic, cluster_z, args);
}

}  // namespace marlin
