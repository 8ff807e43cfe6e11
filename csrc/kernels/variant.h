// One compiled kernel variant: what it computes, where it runs and how to
// launch it. The list of all of them is generated from table.json
// (scripts/gen-kernels.js writes build/generated/variant_table.cu).
#pragma once

#include <cuda_runtime.h>

#include "common/format.h"
#include "kernel_args.h"

namespace marlin {

// Kernel families; each lives in its own folder (mma/: mma.sync, sm_80+;
// wgmma/: warpgroup MMA, sm_90a only; decode/: mma.sync with the weights
// straight from global memory, up to 16 rows, sm_90a only).
enum class Family : int {
  kMma = 0,
  kWgmma = 1,
  kDecode = 2,
};

// `grid`: the mma family's block count; the wgmma family's k splits per
// output tile; the decode family's k shares per 64-column strip (warps x
// splits: table::decode_shape). The grids of the last two follow from that
// and the shape.
using LaunchFn = cudaError_t (*)(const KernelArgs& args, int grid, int device, cudaStream_t stream);
using AttributesFn = cudaError_t (*)(cudaFuncAttributes* attributes);
// What a first launch on `device` would do once: the shared-memory opt-in (a
// driver round trip, which also loads the kernel where CUDA loads lazily).
using PrepareFn = cudaError_t (*)(int device);

struct Variant {
  Family family;
  Format format;
  int tile_k;      // block tile: its unit of k, which k must be a multiple of (elements; decode: one k16 row)
  int stage_k;     //             depth of a pipeline stage: tile_k, or a multiple (wgmma Tile::kUnits)
  int tile_n;      //             output columns
  int m_blocks;    // 16-row blocks per problem (decode: 8-row tiles)
  int arch;        // compute capability (e.g. 86) whose machine code holds the body
  int stages;      // pipeline depth: the deepest that fits that architecture (decode: k16 rows in flight per warp)
  int smem_bytes;  // dynamic shared memory per block
  bool evict_first;  // its weight loads carry the L2 evict-first hint (args.b_policy)
  bool stream_k;     // wgmma: it can run a stream-k launch (args.stream_k)
  LaunchFn launch;
  AttributesFn attributes;
  PrepareFn prepare;
};

struct VariantSpan {
  const Variant* data;
  int size;
  const Variant* begin() const { return data; }
  const Variant* end() const { return data + size; }
};

// Every variant compiled into this build.
VariantSpan compiled_variants();

}  // namespace marlin
