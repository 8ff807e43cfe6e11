// Tiny kernels (see delay.cu): delay() occupies a stream for a while and
// time_empty_launches() measures the host cost of a bare launch (tests and
// benchmarks); settle_layer_writes() orders a layer's GPU-written data before
// the GEMMs that read it.
#pragma once

#include <cuda_runtime.h>

namespace marlin {

// Queues a one-thread kernel that spins for `microseconds` on `stream`.
cudaError_t delay(cudaStream_t stream, double microseconds);

// Host time of `calls` launches of an empty kernel on `stream`, back to back,
// in nanoseconds per launch: the floor of any launch from this process.
cudaError_t time_empty_launches(cudaStream_t stream, int calls, double* ns_per_call);

// Queues the empty kernel, launched the ordinary way, behind the kernels that
// wrote a layer's weights, scales or zero points on `stream` (repack_weights,
// scale_zeros). The GEMMs run under programmatic dependent launch and read
// those before their griddepcontrol.wait (mma/kernel.cuh), so they may start
// once the blocks of the kernel before them have exited, before that grid's
// writes are guaranteed visible. This kernel starts only when everything
// before it has completed and its writes are visible, and writes nothing
// itself: a GEMM that overlaps it reads finished data.
cudaError_t settle_layer_writes(cudaStream_t stream);

}  // namespace marlin
