// Compile-time options of the kernels, set by the build (CMakeLists.txt,
// binding.gyp) from the environment; the defaults are the release build's.
#pragma once

// L2 evict-first hint on weight loads (mma/kernel.cuh says why it is off).
// MARLIN_EVICT_FIRST=1 in the environment of a build turns it on.
#ifndef MARLIN_EVICT_FIRST
#define MARLIN_EVICT_FIRST 0
#endif
