// Compile-time options of the kernels, set by the build (CMakeLists.txt,
// binding.gyp) from the environment; the defaults are the release build's.
#pragma once

// L2 evict-first hint on the mma kernels' weight loads (mma/kernel.cuh):
// -1 (the default) where table.json's evictFirst puts it; MARLIN_EVICT_FIRST=0
// in the environment of a build leaves it out everywhere, =1 puts it in every
// kernel (an experiment: scripts/check-cache-hints.js must then pass).
#ifndef MARLIN_EVICT_FIRST
#define MARLIN_EVICT_FIRST -1
#endif
