// dequantize_weights(): packed weights back to [k, n] row-major values in the
// activation type, on the GPU (for the dense baselines of benchmarks and for
// checks), and gather_columns(), the act-order gather of activations.
#pragma once

#include <cuda_runtime.h>

#include "common/format.h"

namespace marlin {

// out[row, col] = (q - z) * scale, rounded once to the activation type.
// `b`, `scales` and `zeros` are packed as for gemm(), for `k` kernel rows.
// With `rows` (int32 [k], may be null) kernel row r is written to output row
// rows[r] of `out_rows` (an entry outside 0..out_rows-1, as -1 for padding:
// not written); without, row r to row r (out_rows == k). Shapes as for
// gemm; the caller checks them.
cudaError_t dequantize_weights(const void* b, const void* scales, const void* zeros, const int* rows, void* out, int k,
                               int n, int out_rows, const Format& format, cudaStream_t stream);

// out[i, c] = 0 <= columns[c] < k_in ? in[i, columns[c]] : 0 for i < m, c < k_out:
// 16-bit values, `in` [m, k_in] and `out` [m, k_out] row-major; k_out % 8 == 0.
// Runs on the current device (as gemm() does), under programmatic dependent
// launch where the GEMMs are (launch_options.h).
cudaError_t gather_columns(const void* in, const int* columns, void* out, int m, int k_in, int k_out,
                           cudaStream_t stream);

}  // namespace marlin
