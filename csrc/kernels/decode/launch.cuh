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

// The kernels of the shares entries: WARPS warps a block (a compile-time
// count keeps the register budget of the smaller blocks: FP16 4-bit, 107
// registers a thread with the count read from blockDim, 96 for 4 warps
// without; 11% per call on the 7B layers, perf-notes run 30). Where an
// entry asks for MIN_BLOCKS blocks per SM at once, its kernel's registers
// are capped to fit them, holding its scales per group where the format
// needs that to fit (Plan::kGroupScalesWhenCapped).
// Uncapped kernels name no block count at all: ptxas reads a count of 1 as
// leave to spend more (zero points 127 -> 168 registers, BF16 8-bit with
// zero points 218).
template <class P, int WARPS>
__global__ void __launch_bounds__(32 * WARPS) gemm_kernel(const KernelArgs args) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  decode_body<P, WARPS, false>(args);
#endif
}

template <class P, int WARPS, int MIN_BLOCKS>
__global__ void __launch_bounds__(32 * WARPS, MIN_BLOCKS) capped_kernel(const KernelArgs args) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  decode_body<P, WARPS, P::kGroupScalesWhenCapped>(args);
#endif
}

using Kernel = void (*)(KernelArgs);

// Calls f(kernel, warps, splits) for the compiled kernel of the table's
// shares entry `entry` (one kernel per entry: entries that name the same
// warps and cap share it).
template <class P, int I = 0, class F>
void with_entry(int entry, F&& f) {
  if constexpr (I < table::kDecodeShareCount) {
    constexpr table::DecodeShape e = table::kDecodeShares[I];
    static_assert(e.warps <= P::kMaxWarps && e.splits <= P::kMaxSplits, "a shares entry the kernel cannot launch");
    if (entry == I) {
      if constexpr (e.min_blocks > 0)
        f(capped_kernel<P, e.warps, e.min_blocks>, e.warps, e.splits);
      else
        f(gemm_kernel<P, e.warps>, e.warps, e.splits);
      return;
    }
    with_entry<P, I + 1>(entry, f);
  }
}

// The shared-memory opt-in of the kernel of entry `entry` (common/launch.cuh:
// once per device, which also loads it where CUDA loads lazily).
template <class P>
cudaError_t opt_in(Kernel kernel, int entry, int warps, int device) {
  static std::atomic<std::uint64_t> configured[table::kDecodeShareCount > 0 ? table::kDecodeShareCount : 1] = {};
  return opt_in_shared_memory(configured[entry], kernel, P::smem_bytes(warps), device);
}

// Loads every compiled kernel of the plan, so that a first call does not.
template <class P>
cudaError_t prepare(int device) {
  cudaError_t e = cudaSuccess;
  for (int i = 0; i < table::kDecodeShareCount && e == cudaSuccess; ++i)
    with_entry<P>(i, [&](Kernel kernel, int warps, int) { e = opt_in<P>(kernel, i, warps, device); });
  return e;
}

// One launch covers all m rows: a block per (64-column strip, k split) of
// `warps` warps, the k splits of a strip one cluster. For this family the
// launcher's `grid` argument is the plan's k shares per strip (warps x
// splits, one of the table's decode shares: table::decode_shape).
template <class P>
cudaError_t launch(const KernelArgs& args, int grid, int device, cudaStream_t stream) {
  const int entry = table::decode_entry(grid);
  cudaError_t e = cudaErrorInvalidValue;
  if (entry < 0) return e;
  with_entry<P>(entry, [&](Kernel kernel, int warps, int splits) {
    // Only the kernel launched: the others wait for their first call or prepare().
    e = opt_in<P>(kernel, entry, warps, device);
    if (e != cudaSuccess) return;
    e = launch_kernel(kernel, dim3(args.n / P::kStripN, 1, splits), 32 * warps, P::smem_bytes(warps), stream,
                      programmatic_launch(), args, device,
                      static_cast<std::size_t>(args.k) * args.n * P::Fmt::kBits / 8, splits);
  });
  return e;
}

// The attributes of the family's largest compiled block.
template <class P>
cudaError_t attributes(cudaFuncAttributes* out) {
  cudaError_t e = cudaErrorInvalidValue;
  int largest = 0;
  for (int i = 0; i < table::kDecodeShareCount; ++i)
    with_entry<P>(i, [&](Kernel kernel, int warps, int) {
      if (warps >= largest) {
        largest = warps;
        e = cudaFuncGetAttributes(out, kernel);
      }
    });
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
  v.stage_k = 16;
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
