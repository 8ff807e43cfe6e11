// Host-side launch steps both kernel families share: the once-per-device
// shared-memory opt-in, and a launch with or without programmatic dependent
// launch (PDL), clusters and an L2 streaming window.
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "kernel_args.h"
#include "launch_options.h"

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

// An L2 access-policy window for one launch: `bytes` from `base` marked
// streaming (bytes 0: none).
struct StreamingWindow {
  const void* base = nullptr;
  std::size_t bytes = 0;
};

// Launches kernel<<<grid, block, smem, stream>>>(args...). With
// `programmatic` (sm_90+), under PDL: the kernel may be scheduled while the
// previous one on the stream finishes; it waits for it on the GPU
// (ptx::grid_dependency_wait) before it touches what that kernel may write,
// so the launch latency and whatever the kernel does before the wait (the
// GEMMs: their setup and first weight stages) overlap. A `cluster_z` above 1
// (sm_90+) groups the blocks that share x and y, `cluster_z` consecutive z
// at a time, into thread block clusters. A `window` marks its bytes
// streaming in L2 for this launch (launch_kernel says why).
template <class... Params, class... Args>
inline cudaError_t launch_with(void (*kernel)(Params...), dim3 grid, int threads, int smem_bytes, cudaStream_t stream,
                               bool programmatic, int cluster_z, StreamingWindow window, Args... args) {
  if (programmatic || cluster_z > 1 || window.bytes > 0) {
    cudaLaunchConfig_t config{};
    config.gridDim = grid;
    config.blockDim = dim3(threads);
    config.dynamicSmemBytes = smem_bytes;
    config.stream = stream;
    cudaLaunchAttribute attributes[3] = {};
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
    if (window.bytes > 0) {
      cudaAccessPolicyWindow& w = attributes[count].val.accessPolicyWindow;
      attributes[count++].id = cudaLaunchAttributeAccessPolicyWindow;
      w.base_ptr = const_cast<void*>(window.base);
      w.num_bytes = window.bytes;
      w.hitRatio = 1.0f;
      w.hitProp = cudaAccessPropertyStreaming;
      w.missProp = cudaAccessPropertyStreaming;
    }
    config.attrs = attributes;
    config.numAttrs = count;
    return cudaLaunchKernelEx(&config, kernel, args...);
  }
  kernel<<<grid, threads, smem_bytes, stream>>>(args...);
  return cudaGetLastError();
}

// The largest L2 access-policy window `device` takes, in bytes (0: none);
// cached with the launcher's other device attributes (gemm.cu).
std::size_t max_access_window(int device);

// The SMs of `device` (0 where the query fails); cached likewise.
int sm_count(int device);

// A GEMM kernel's launch (launch_with) on `device`. At decode sizes (up to
// 16-64 rows, one pass over the weights per call) the layer's weights
// (`weight_bytes` from args.b; 0: no window) are read once, so with
// streaming_weights() (launch_options.h) they go in an L2 window marked
// streaming: evicted first, they leave L2 to the activations, partial sums
// and scales that blocks share (run 23 on the H100, main: -2 to -4% on the
// Llama-2 layers at m <= 16, -4% per 7B block replayed from a graph). The
// same effect as an evict-first cache hint on the weight loads, without the
// hinted cp.async that CUDA 13.0's ptxas miscompiles (mma/kernel.cuh). A
// window is at most max_access_window() bytes: the first that many of a
// larger layer's. Callers pass weight bytes for sm_90 code only (where it
// was measured). A launch the driver refuses with a window (a setup that
// does not take the attribute) is made again without one; if that one goes,
// the device gets no windows from then on.
inline cudaError_t launch_kernel(void (*kernel)(KernelArgs), dim3 grid, int threads, int smem_bytes,
                                 cudaStream_t stream, bool programmatic, const KernelArgs& args, int device,
                                 std::size_t weight_bytes, int cluster_z = 1) {
  static std::atomic<std::uint64_t> refused{0};  // a bit per device (0-63) whose driver refused a window
  const std::uint64_t bit = device >= 0 && device < 64 ? (std::uint64_t{1} << device) : 0;
  StreamingWindow window;
  if (weight_bytes > 0 && streaming_weights() && !(refused.load(std::memory_order_relaxed) & bit)) {
    const std::size_t most = max_access_window(device);
    window = {args.b, weight_bytes < most ? weight_bytes : most};
  }
  const cudaError_t e = launch_with(kernel, grid, threads, smem_bytes, stream, programmatic, cluster_z, window, args);
  if (window.bytes == 0 || (e != cudaErrorInvalidValue && e != cudaErrorNotSupported)) return e;
  cudaGetLastError();  // a refused launch's error is not sticky
  const cudaError_t again =
      launch_with(kernel, grid, threads, smem_bytes, stream, programmatic, cluster_z, StreamingWindow{}, args);
  if (again == cudaSuccess) refused.fetch_or(bit, std::memory_order_relaxed);  // it was the window
  return again;
}

}  // namespace marlin
