// Kernel entry points of the mma family, one per (layout, architecture), and
// the table rows the generated gemm_*.cu files build from them.
//
// A variant is compiled for every architecture of the build, but its body
// only for its own one: in the device passes of the others it is an empty
// stub. Its pipeline depth is the deepest that fits that architecture's
// shared memory (layout.cuh), so every body the build holds can launch where
// it is meant to run, and no body is compiled for a GPU that cannot run it.
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>

#include "build_options.h"
#include "common/launch.cuh"
#include "kernel.cuh"
#include "kernel_table.h"
#include "launch_options.h"
#include "variant.h"

namespace marlin::mma {

// Pipeline depth of layout L on compute capability ARCH (e.g. 86).
template <class L, int ARCH>
constexpr int kStagesOn = L::deepest_stages(table::smem_optin(ARCH), table::max_stages(ARCH), table::kMinStages);

// Whether a variant the generator marks HINT carries the L2 evict-first hint
// on its weight loads (table.json evictFirst; kernel.cuh says why it is
// guarded so): MARLIN_EVICT_FIRST=1 in every kernel (an experiment), 0 in
// none, unset (-1) where the table asks and nvcc is a version it lists.
template <bool HINT>
constexpr bool kEvictFirst =
    MARLIN_EVICT_FIRST > 0 || (MARLIN_EVICT_FIRST < 0 && HINT && MARLIN_EVICT_FIRST_NVCC_CHECKED);

// The device pass that compiles sm_90a machine code: the only one whose
// code gets the table's hint, so the PTX a driver compiles later (for newer
// GPUs, with its own ptxas) never has it.
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
constexpr bool kArchSpecificPass = true;
#else
constexpr bool kArchSpecificPass = false;
#endif

template <class L, int ARCH, bool HINT>
__global__ void __launch_bounds__(L::kThreads, 1) gemm_kernel(const KernelArgs args) {
#if defined(__CUDA_ARCH__)
  if constexpr (__CUDA_ARCH__ == ARCH * 10 && kStagesOn<L, ARCH> > 0)
    gemm_body<L, kStagesOn<L, ARCH>, kEvictFirst<HINT> && (MARLIN_EVICT_FIRST > 0 || kArchSpecificPass)>(args);
#endif
}

// The shared-memory opt-in, once per device (common/launch.cuh).
template <class L, int ARCH, bool HINT>
cudaError_t prepare(int device) {
  static std::atomic<std::uint64_t> configured{0};
  return opt_in_shared_memory(configured, gemm_kernel<L, ARCH, HINT>, L::smem_bytes(kStagesOn<L, ARCH>), device);
}

template <class L, int ARCH, bool HINT>
cudaError_t launch(const KernelArgs& args, int grid, int device, cudaStream_t stream) {
  if (const cudaError_t e = prepare<L, ARCH, HINT>(device); e != cudaSuccess) return e;
  return launch_kernel(gemm_kernel<L, ARCH, HINT>, dim3(grid), L::kThreads, L::smem_bytes(kStagesOn<L, ARCH>), stream,
                       ARCH >= 90 && programmatic_launch(), args, device,
                       ARCH >= 90 ? static_cast<std::size_t>(args.k) * args.n * L::Fmt::kBits / 8 : 0);
}

// Reports the compiled kernel's attributes on the current device; fails with
// cudaErrorNoKernelImageForDevice when this build has no code for the GPU.
template <class L, int ARCH, bool HINT>
cudaError_t attributes(cudaFuncAttributes* out) {
  return cudaFuncGetAttributes(out, gemm_kernel<L, ARCH, HINT>);
}

// The table row of layout L compiled for ARCH, with the hint where the
// generator marks HINT (and kEvictFirst agrees).
template <class L, int ARCH, bool HINT>
constexpr Variant variant_row() {
  using F = typename L::Fmt;
  Variant v{};
  v.family = Family::kMma;
  v.format = Format{F::kAct, F::kBits, F::kGrouped ? 16 * F::kGroupBlocks : -1, F::kZeroPoints};
  v.tile_k = L::kTileK;
  v.stage_k = L::kTileK;
  v.tile_n = L::kTileN;
  v.m_blocks = L::kMBlocks;
  v.arch = ARCH;
  v.stages = kStagesOn<L, ARCH>;
  v.smem_bytes = L::smem_bytes(kStagesOn<L, ARCH>);
  v.evict_first = kEvictFirst<HINT>;
  v.launch = &launch<L, ARCH, HINT>;
  v.attributes = &attributes<L, ARCH, HINT>;
  v.prepare = &prepare<L, ARCH, HINT>;
  return v;
}

// Layout of a format and tile with m_blocks 16-row blocks.
// (clang-format takes `GROUP < 0` for a template's opening bracket)
// clang-format off
template <Act ACT, int BITS, int GROUP, bool ZEROS, int TILE_K, int TILE_N, int M_BLOCKS>
using LayoutOf = Layout<FormatOf<ACT, BITS, GROUP < 0 ? -1 : GROUP / 16, ZEROS>, M_BLOCKS, TILE_N / 16, TILE_K / 16>;
// clang-format on

}  // namespace marlin::mma
