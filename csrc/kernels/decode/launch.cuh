// Kernel entry points of the decode family and the table rows the generated
// gemm_decode_*.cu files build from them. Those files are compiled for
// sm_90a alone, like the wgmma family's (CMakeLists.txt, binding.gyp through
// gen-kernels.js --nvcc): the family needs thread block clusters, and the
// chooser gives it calls only on GPUs of compute capability 9.0.
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>

#include "common/launch.cuh"
#include "kernel.cuh"
#include "kernel_table.h"
#include "launch_options.h"
#include "variant.h"

namespace marlin::dec {

template <class P, int WARPS>
__global__ void __launch_bounds__(32 * WARPS) gemm_kernel(const KernelArgs args) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  decode_body<P, WARPS>(args);
#endif
}

// Whether the table's shares name blocks of `warps` warps: the kernels
// compiled, one per warp count (a compile-time count keeps the register
// budget of the smaller blocks: FP16 4-bit, 107 registers a thread with the
// count read from blockDim, 96 for 4 warps without; 11% per call on the 7B
// layers, perf-notes run 30).
constexpr bool table_has_warps(int warps) {
  for (int i = 0; i < table::kDecodeShareCount; ++i)
    if (table::kDecodeShares[i].warps == warps) return true;
  return false;
}

// Calls f(kernel, W) for the compiled kernel of W = `warps` warps; false if none.
template <class P, int W = 1, class F>
bool with_kernel(int warps, F&& f) {
  if constexpr (W > P::kMaxWarps) {
    return false;
  } else {
    if constexpr (table_has_warps(W)) {
      if (warps == W) {
        f(gemm_kernel<P, W>, W);
        return true;
      }
    }
    return with_kernel<P, W + 1>(warps, f);
  }
}

// The shared-memory opt-in of the kernel of `warps` warps (common/launch.cuh:
// once per device, which also loads it where CUDA loads lazily).
template <class P>
cudaError_t opt_in(void (*kernel)(KernelArgs), int warps, int device) {
  static std::atomic<std::uint64_t> configured[P::kMaxWarps + 1] = {};
  return opt_in_shared_memory(configured[warps], kernel, P::smem_bytes(warps), device);
}

// Loads every compiled kernel of the plan, so that a first call does not.
template <class P>
cudaError_t prepare(int device) {
  cudaError_t e = cudaSuccess;
  for (int w = 1; w <= P::kMaxWarps && e == cudaSuccess; ++w)
    with_kernel<P>(w, [&](void (*kernel)(KernelArgs), int warps) { e = opt_in<P>(kernel, warps, device); });
  return e;
}

// One launch covers all m rows: a block per (64-column strip, k split) of
// `warps` warps, the k splits of a strip one cluster. For this family the
// launcher's `grid` argument is the plan's k shares per strip (warps x
// splits, one of the table's decode shares: table::decode_shape).
template <class P>
cudaError_t launch(const KernelArgs& args, int grid, int device, cudaStream_t stream) {
  int warps = 0;
  int splits = 0;
  if (!table::decode_shape(grid, &warps, &splits) || splits > P::kMaxSplits) return cudaErrorInvalidValue;
  cudaError_t e = cudaErrorInvalidValue;
  with_kernel<P>(warps, [&](void (*kernel)(KernelArgs), int w) {
    e = opt_in<P>(kernel, w, device);  // only the kernel launched: the others wait for their first call or prepare()
    if (e != cudaSuccess) return;
    e = launch_kernel(kernel, dim3(args.n / P::kStripN, 1, splits), 32 * w, P::smem_bytes(w), stream,
                      programmatic_launch(), args, device,
                      static_cast<std::size_t>(args.k) * args.n * P::Fmt::kBits / 8, splits);
  });
  return e;
}

// The attributes of the family's largest compiled block.
template <class P>
cudaError_t attributes(cudaFuncAttributes* out) {
  cudaError_t e = cudaErrorInvalidValue;
  for (int w = 1; w <= P::kMaxWarps; ++w)
    with_kernel<P>(w, [&](void (*kernel)(KernelArgs), int) { e = cudaFuncGetAttributes(out, kernel); });
  return e;
}

// tile_k: the depth of one k16 row; m_blocks: the n8 tiles of rows (8 rows each).
template <class P, int ARCH>
constexpr Variant variant_row() {
  using F = typename P::Fmt;
  Variant v{};
  v.family = Family::kDecode;
  v.format = Format{F::kAct, F::kBits, 16 * F::kGroupBlocks, F::kZeroPoints};
  v.tile_k = 16;
  v.tile_n = P::kStripN;
  v.m_blocks = P::kMTiles;
  v.arch = ARCH;
  v.stages = P::kDepth;
  v.smem_bytes = P::smem_bytes(P::kMaxWarps);
  v.launch = &launch<P>;
  v.attributes = &attributes<P>;
  v.prepare = &prepare<P>;
  return v;
}

// clang-format off
template <Act ACT, int BITS, int GROUP, bool ZEROS, int ROWS, int DEPTH>
using PlanOf = Plan<FormatOf<ACT, BITS, GROUP / 16, ZEROS>, ROWS / 8, DEPTH>;
// clang-format on

}  // namespace marlin::dec
