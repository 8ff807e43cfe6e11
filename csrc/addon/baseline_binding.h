// fp16Gemm() and hasCublas(): the cuBLAS FP16 baseline; delay(): a stream
// filler for GPU-time measurements.
#pragma once

#include <napi.h>

namespace marlin_addon {

void InitBaseline(Napi::Env env, Napi::Object exports);

}  // namespace marlin_addon
