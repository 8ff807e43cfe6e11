// repackWeights() and repackWeightsOnHost(): the repack kernel (GPTQ / AWQ
// qweight -> Marlin layout, csrc/kernels/repack.h) on device buffers on a
// stream, and the same tile functions on host arrays (for tests).
#pragma once

#include <napi.h>

namespace marlin_addon {

void InitRepack(Napi::Env env, Napi::Object exports);

}  // namespace marlin_addon
