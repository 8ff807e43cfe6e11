// scale_zeros(): the scaled zero points of a grouped zero-point layer
// (common/format.h, uses_scaled_zeros), made once when the layer loads.
#pragma once

#include <cuda_runtime.h>

#include "common/format.h"

namespace marlin {

// out[g, p] = (2^(bits-1) - z[g, p]) * scales[g, p], computed in FP32
// (exact) and rounded once to the activation type, for every group g <
// `groups` and position p < n. `scales` and `out` are [groups, n] in the
// activation type, in the scales' order; `zeros` are the packed zero points
// ([groups, n] bytes), whose byte p is the zero point of the column whose
// scale is at p (packing.h: zero_position and scale_position agree for
// grouped formats). n % 64 == 0; the caller checks shapes.
cudaError_t scale_zeros(const void* scales, const void* zeros, void* out, int groups, int n, const Format& format,
                        cudaStream_t stream);

}  // namespace marlin
