// gemm(), dequantizeWeights(), variants() and workspaceBytes(): the kernel
// layer's surface in JS.
#pragma once

#include <napi.h>

namespace marlin_addon {

void InitGemm(Napi::Env env, Napi::Object exports);

}  // namespace marlin_addon
