// Process-wide launch settings of the GEMM kernels and the act-order gather
// before them (plain C++, no Node).
#pragma once

namespace marlin {

// Programmatic dependent launch on sm_90 and newer (launch.cuh; older
// architectures launch as usual whatever this says): each GEMM kernel, and
// the act-order gather, may be scheduled while the previous kernel on its
// stream finishes (it waits for it on the GPU before touching what that
// kernel may write; mma/kernel.cuh says what a GEMM does before). On by
// default; the environment variable MARLIN_PDL=0 turns it off (read once, at
// the first GEMM or gather).
bool programmatic_launch();
void set_programmatic_launch(bool on);

// The layer's weights marked streaming in L2 for each GEMM launch of sm_90
// code (an access-policy window; common/launch.cuh says why). On by default;
// the environment variable MARLIN_L2_STREAMING=0 turns it off (read once, at
// the first GEMM). A captured graph keeps the setting of its capture.
bool streaming_weights();
void set_streaming_weights(bool on);

}  // namespace marlin
