// Per-environment state of the addon (one per Node main thread or worker).
#pragma once

#include <napi.h>

#include "completion.h"
#include "pinned_pool.h"

namespace marlin_addon {

struct AddonState {
  PinnedPool pinned;
  Waiter waiter;  // declared last: destroyed first, while the pool still exists
  Napi::FunctionReference device_buffer_ctor;
  Napi::FunctionReference stream_ctor;
  Napi::FunctionReference event_ctor;
};

inline AddonState& State(Napi::Env env) { return *env.GetInstanceData<AddonState>(); }

}  // namespace marlin_addon
