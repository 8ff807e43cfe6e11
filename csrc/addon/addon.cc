// Entry point of marlin.node: registers each part of the native surface.
// The exports are typed in lib/native.ts.
#include <napi.h>

#include "baseline_binding.h"
#include "capture.h"
#include "device_buffer.h"
#include "device_info.h"
#include "event.h"
#include "gemm_call.h"
#include "gemm_layer.h"
#include "gptq_quantize.h"
#include "host_copy.h"
#include "kernel_info.h"
#include "pinned_pool.h"
#include "repack_binding.h"
#include "state.h"
#include "stream.h"

namespace marlin_addon {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData<AddonState>(new AddonState());
  InitDeviceInfo(env, exports);
  DeviceBuffer::Init(env, exports);
  Stream::Init(env, exports);
  Event::Init(env, exports);
  Graph::Init(env, exports);
  GemmLayer::Init(env, exports);
  GemmCall::Init(env);
  InitGptqQuantize(env, exports);
  InitKernelInfo(env, exports);
  InitBaseline(env, exports);
  InitHostCopy(env, exports);
  InitPinnedPool(env, exports);
  InitRepack(env, exports);
  return exports;
}

}  // namespace marlin_addon

static Napi::Object InitMarlin(Napi::Env env, Napi::Object exports) { return marlin_addon::Init(env, exports); }

NODE_API_MODULE(marlin, InitMarlin)
