// The kernel table as the addon exports it: compiled variants, the build's
// architectures, the tile rules (readable and replaceable) and the pure
// chooser, which needs no GPU.
#pragma once

#include <napi.h>

namespace marlin_addon {

void InitKernelInfo(Napi::Env env, Napi::Object exports);

}  // namespace marlin_addon
