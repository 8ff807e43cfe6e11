// settle_layer_writes(): what the kernels that write a layer's data on the GPU
// (repack_weights, scale_zeros) queue after themselves.
#pragma once

#include <cuda_runtime.h>

namespace marlin {

// Queues an empty kernel, launched the ordinary way, behind the kernels that
// wrote a layer's weights, scales or zero points on `stream`. The GEMMs run
// under programmatic dependent launch and read those before their
// griddepcontrol.wait (mma/kernel.cuh), so they may start once the blocks
// of the kernel before them have exited, before that grid's writes are
// guaranteed visible. This kernel starts only when everything before it has
// completed and its writes are visible, and writes nothing itself: a GEMM
// that overlaps it reads finished data.
cudaError_t settle_layer_writes(cudaStream_t stream);

}  // namespace marlin
