// Process-wide launch settings of the GEMM kernels and the act-order gather
// before them (plain C++, no Node).
#pragma once

namespace marlin {

// Programmatic dependent launch on sm_90 and newer (launch.cuh; older
// architectures launch as usual whatever this says): each GEMM kernel, and
// the act-order gather, may be scheduled while the previous kernel on its
// stream finishes (it waits for it on the GPU before touching memory). On by
// default; the environment variable MARLIN_PDL=0 turns it off (read once, at
// the first GEMM or gather).
bool programmatic_launch();
void set_programmatic_launch(bool on);

}  // namespace marlin
