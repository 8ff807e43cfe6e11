// Process-wide launch settings of the GEMM kernels (plain C++, no Node).
#pragma once

namespace marlin {

// Programmatic dependent launch on sm_90 and newer (launch.cuh): off by
// default; on, each GEMM kernel may be scheduled while the previous kernel
// on its stream finishes (it waits for it on the GPU before touching memory).
// The first value comes from the environment variable MARLIN_PDL ("1": on).
bool programmatic_launch();
void set_programmatic_launch(bool on);

}  // namespace marlin
