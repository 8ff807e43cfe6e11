// GemmCall: one GemmLayer call (x, out, workspace, stream, m) checked and
// planned once by gemm.bind(), queued again by each run() without reading its
// arguments from JS or planning again (it plans anew if the tile rules
// change). forward() binds the arguments a layer sees call after call (a
// decode loop's fixed buffers), which spares most of the addon's per-call
// cost: unwrapping four objects and checking them, about a microsecond, and
// the launcher's checks and plan, a few tenths.
//
//   const call = gemm.bind(x, out, workspace, stream, m);
//   call.run();   // what gemm.run(x, out, workspace, stream, m) queues
//
// It holds references to the layer and the four objects, so none is
// collected while it lives; run() checks that none was disposed.
#pragma once

#include <napi.h>

#include <vector>

#include "gemm_layer.h"

namespace marlin_addon {

class GemmCall : public Napi::ObjectWrap<GemmCall> {
 public:
  // Registers the class (not exported: calls come from gemm.bind() only).
  static void Init(Napi::Env env);
  // A new call of `layer` (the GemmLayer's JS object) with `call`, prepared from `args`.
  static Napi::Object New(Napi::Env env, Napi::Object layer, const GemmLayer::Call& call,
                          const GemmLayer::CallArgs& args);
  explicit GemmCall(const Napi::CallbackInfo& info);

 private:
  Napi::Value Run(const Napi::CallbackInfo& info);
  // Plans call_'s launches under the current tile rules (the layer's device current).
  void Plan(Napi::Env env);

  Napi::ObjectReference layer_ref_, x_ref_, out_ref_, workspace_ref_, stream_ref_;
  GemmLayer* layer_ = nullptr;
  GemmLayer::Call call_;
  std::vector<marlin::PlannedLaunch> launches_;
  unsigned rules_generation_ = 0;
};

}  // namespace marlin_addon
