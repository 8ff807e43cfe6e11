// Per-environment state of the addon (one per Node main thread or worker).
#pragma once

#include <napi.h>

#include "chunked_readback.h"
#include "completion.h"
#include "pinned_pool.h"

namespace marlin_addon {

struct AddonState {
  PinnedPool pinned;
  ReadbackChunks chunks;  // the waiter thread's own
  // Declared after what its tasks use: destroyed before them, it runs what
  // is queued and joins while the pool and the chunks still exist.
  Waiter waiter;
  Napi::FunctionReference device_buffer_ctor;
  Napi::FunctionReference stream_ctor;
  Napi::FunctionReference event_ctor;
  Napi::FunctionReference graph_ctor;
  Napi::FunctionReference gemm_call_ctor;
};

inline AddonState& State(Napi::Env env) { return *env.GetInstanceData<AddonState>(); }

}  // namespace marlin_addon
