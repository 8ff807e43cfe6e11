// Arguments of one kernel launch, shared by the launcher and the kernels.
#pragma once

#include <cuda_runtime.h>

namespace marlin {

// Partial-sum slot of one block: room for the largest mma-family tile, 64 x
// 256 FP32. The workspace holds kPartialSlotsPerSm per SM: a wgmma stream-k
// block of the 128-row tile posts 128 x 256 (two slots).
constexpr int kPartialSlotFloats = 64 * 256;
constexpr int kPartialSlotFloat4 = kPartialSlotFloats / 4;
constexpr int kPartialSlotsPerSm = 2;

struct KernelArgs {
  const int4* a;       // [m, k] activations (FP16 or BF16), row-major
  const int4* b;       // [k / 16, n * bits / 2] int32 words, Marlin layout
  const int4* scales;  // [groups, n] scales in the activation type, Marlin order
  // Zero points as the kernels read them, or null: per-column formats the
  // packed bytes ([1, n], packing.h); grouped formats the scaled zero points
  // ([groups, n] in the activation type and the scales' order: scaled_zeros.h).
  const int4* zeros;
  int4* c;             // [m, n] output in the activation type, row-major
  // One counter per (problem, column slice), or per block (wgmma stream-k);
  // zero on entry, zero again on exit.
  int* locks;
  float4* partials;  // one slot of kPartialSlotFloat4 per block, for partial sums
  unsigned long long b_policy;  // L2 evict-first descriptor for the weight loads (cache_policy.h)
  int m;  // rows in this launch: ceil(m / tile rows) problems side by side
  int n;
  int k;
  // wgmma family: this launch runs the output tiles [tile_first, tile_first +
  // tiles) of the layer's raster order (wgmma/kernel.cuh); tiles = 0: all.
  int tile_first = 0;
  int tiles = 0;
  // wgmma family, tiles with stream-k (wgmma/kernel.cuh stream_k_tiles):
  // 1: the launch's blocks share every tile's k evenly, through the
  // workspace (partials and locks); 0: a block per (output tile, k split).
  int stream_k = 0;
};

}  // namespace marlin
