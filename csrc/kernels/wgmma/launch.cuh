// Kernel entry points of the wgmma family and the table rows the generated
// gemm_wgmma_*.cu files build from them. Those files are compiled for sm_90a
// alone (CMakeLists.txt, binding.gyp through gen-kernels.js --nvcc); the
// body is compiled only there, where the wgmma instructions exist.
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>

#include "common/launch.cuh"
#include "kernel.cuh"
#include "kernel_table.h"
#include "launch_options.h"
#include "variant.h"

namespace marlin::wg {

template <class T>
constexpr int kStages = T::deepest_stages(table::smem_optin(table::kWgmmaArch), table::kWgmmaMaxStages);

// STREAM_K: the kernel holds the stream-k path. The 32-, 48- and 64-row tiles
// run every launch on one kernel that has it; the 96- and 128-row tiles' split
// launches keep a kernel without it (Tile::kStreamKKernelApart), at the
// registers and code they had before stream-k.
template <class T, bool STREAM_K>
__global__ void __launch_bounds__(T::kThreads, 1) gemm_kernel(const KernelArgs args) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  if constexpr (kStages<T> > 0) gemm_body<T, kStages<T>, STREAM_K>(args);
#endif
}

template <class T>
constexpr auto kSplitKernel = gemm_kernel<T, T::kStreamK && !T::kStreamKKernelApart>;
template <class T>
constexpr auto kStreamKKernel = gemm_kernel<T, true>;

// The shared-memory opt-in, once per device (common/launch.cuh), for each
// kernel of the tile.
template <class T>
cudaError_t prepare(int device) {
  static std::atomic<std::uint64_t> configured{0};
  static std::atomic<std::uint64_t> configured_stream_k{0};
  const cudaError_t e = opt_in_shared_memory(configured, kSplitKernel<T>, T::smem_bytes(kStages<T>), device);
  if constexpr (T::kStreamKKernelApart) {
    if (e == cudaSuccess)
      return opt_in_shared_memory(configured_stream_k, kStreamKKernel<T>, T::smem_bytes(kStages<T>), device);
  }
  return e;
}

// A launch covers the output tiles args.tile_first .. + args.tiles (all of
// them where args.tiles is 0) of every row: a block per (tile, k split). For
// this family the launcher's `grid` argument (the mma family's block count)
// is the plan's split count; the splits of an output tile form one cluster
// (kernel.cuh). With args.stream_k, `grid` is the block count instead, at
// most one per unit of work (a tile's k tile) and one per SM (its blocks
// wait on blocks below them, so all must be resident), all tiles in one
// launch.
template <class T>
cudaError_t launch(const KernelArgs& args, int grid, int device, cudaStream_t stream) {
  const long all = static_cast<long>(T::col_tiles(args.n)) * T::row_tiles(args.m);
  void (*kernel)(KernelArgs) = kSplitKernel<T>;
  dim3 blocks;
  int cluster = 1;
  if (args.stream_k) {
    if constexpr (!T::kStreamK) {
      return cudaErrorInvalidValue;
    } else {
      const long units = all * (args.k / T::kUnitK);
      if (args.tile_first != 0 || args.tiles != 0 || grid < 1 || grid > units || units > 0x7fffffffL ||
          grid > sm_count(device))
        return cudaErrorInvalidValue;
      kernel = kStreamKKernel<T>;
      blocks = dim3(static_cast<unsigned>(grid));
    }
  } else {
    const long tiles = args.tiles > 0 ? args.tiles : all;
    // (The kernel numbers tiles with int.)
    if (grid < 1 || grid > T::kMaxSplits || args.tile_first < 0 || args.tiles < 0 || args.tile_first + tiles > all ||
        all > 0x7fffffffL)
      return cudaErrorInvalidValue;
    blocks = dim3(static_cast<unsigned>(tiles), 1, grid);
    cluster = grid;  // the splits of an output tile
  }
  if (const cudaError_t e = prepare<T>(device); e != cudaSuccess) return e;
  return launch_kernel(kernel, blocks, T::kThreads, T::smem_bytes(kStages<T>), stream, programmatic_launch(), args,
                       device, static_cast<std::size_t>(args.k) * args.n * T::kBits / 8, cluster);
}

template <class T>
cudaError_t attributes(cudaFuncAttributes* out) {
  return cudaFuncGetAttributes(out, kSplitKernel<T>);
}

template <class T, int ARCH>
constexpr Variant variant_row() {
  Variant v{};
  v.family = Family::kWgmma;
  v.format = Format{T::kAct, T::kBits, T::kGrouped ? 16 * T::kGroupBlocks : -1, T::kZeroPoints};
  v.tile_k = T::kUnitK;
  v.stage_k = T::kTileK;
  v.tile_n = T::kTileN;
  v.m_blocks = T::kRows / 16;
  v.arch = ARCH;
  v.stages = kStages<T>;
  v.smem_bytes = T::smem_bytes(kStages<T>);
  v.stream_k = T::kStreamK;
  v.launch = &launch<T>;
  v.attributes = &attributes<T>;
  v.prepare = &prepare<T>;
  return v;
}

}  // namespace marlin::wg
