// The L2 evict-first cache-policy descriptor that weight loads carry.
//
// CUDA 13's ptxas folds a `createpolicy` inside a big kernel into uniform
// register writes at entry, and in some kernels drops them, leaving the
// descriptor of `cp.async ... L2::cache_hint` uninitialised (an illegal
// instruction, or a wrong hint: ARCHITECTURE.md; seen in one of our variants
// by scripts/check-cache-hints.js). So no GEMM kernel creates the policy:
// a one-thread kernel does, once per device, and the GEMM kernels receive
// the descriptor as an argument (an ordinary constant-bank load).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace marlin {

// The evict-first descriptor for `device`, made on the first call for that
// device (a tiny kernel and a synchronous copy on a private stream) and
// cached. Call it before capturing a CUDA graph (gemm() calls it too).
cudaError_t evict_first_policy(int device, std::uint64_t* policy);

}  // namespace marlin
