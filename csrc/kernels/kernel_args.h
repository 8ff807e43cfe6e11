// Arguments of one kernel launch, shared by the launcher and the kernel.
#pragma once

#include <cuda_runtime.h>

namespace marlin {

struct KernelArgs {
  const int4* a;       // [m, k] FP16, row-major
  const int4* b;       // [k / 16, 2 n] int32 words, Marlin layout
  const int4* scales;  // [k / group, n] FP16 (grouped) or [1, n] (per-channel), Marlin order
  int4* c;             // [m, n] FP16, row-major
  int* locks;          // one per (problem, column slice); zero on entry, zero again on exit
  int m;               // rows in this launch: ceil(m / tile rows) problems side by side
  int n;
  int k;
};

}  // namespace marlin
