// Compile-time options of the kernels, set by the build (CMakeLists.txt,
// binding.gyp) from the environment; the defaults are the release build's.
#pragma once

// L2 evict-first hint on the weight loads of the mma family's 16-row
// kernels (mma/kernel.cuh says why it is limited). MARLIN_EVICT_FIRST in a
// build's environment: 0 (or unset) off, 1 on for every architecture, 2 on
// for sm_90 code only (its compute_90 PTX, which the driver compiles for
// newer GPUs, has it too). Experimental: CUDA 13.0's ptxas miscompiles it
// in some of the kernels (run 22), so a build with it must pass
// scripts/check-cache-hints.js.
#ifndef MARLIN_EVICT_FIRST
#define MARLIN_EVICT_FIRST 0
#endif

// Whether the host makes the descriptor (some kernel of the build may read it).
#define MARLIN_EVICT_FIRST_HOST (MARLIN_EVICT_FIRST != 0)

// Whether the code being compiled issues hinted copies.
#if MARLIN_EVICT_FIRST == 1 || (MARLIN_EVICT_FIRST == 2 && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900)
#define MARLIN_EVICT_FIRST_DEVICE 1
#else
#define MARLIN_EVICT_FIRST_DEVICE 0
#endif
