// The GPTQ quantizer (csrc/kernels/quantize.h) as the addon exports it:
// gptqQuantize() queues it on device buffers, gptqQuantizeHost() runs it
// on host arrays. Typed in lib/native.ts; lib/gptq-quantize.ts wraps both.
#pragma once

#include <napi.h>

namespace marlin_addon {

void InitGptqQuantize(Napi::Env env, Napi::Object exports);

}  // namespace marlin_addon
