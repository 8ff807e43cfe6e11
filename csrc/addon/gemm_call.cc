#include "gemm_call.h"

#include "device_info.h"
#include "errors.h"
#include "state.h"

namespace marlin_addon {

void GemmCall::Init(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "GemmCall", {InstanceMethod<&GemmCall::Run>("run")});
  State(env).gemm_call_ctor = Napi::Persistent(ctor);
}

GemmCall::GemmCall(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GemmCall>(info) {}

Napi::Object GemmCall::New(Napi::Env env, Napi::Object layer, const GemmLayer::Call& call,
                           const GemmLayer::CallArgs& args) {
  Napi::Object object = State(env).gemm_call_ctor.New({});
  GemmCall* self = Unwrap(object);
  self->layer_ref_ = Napi::Persistent(layer);
  self->x_ref_ = Napi::Persistent(args.x.As<Napi::Object>());
  self->out_ref_ = Napi::Persistent(args.out.As<Napi::Object>());
  self->workspace_ref_ = Napi::Persistent(args.workspace.As<Napi::Object>());
  self->stream_ref_ = Napi::Persistent(args.stream.As<Napi::Object>());
  self->layer_ = GemmLayer::Unwrap(layer);
  self->call_ = call;
  MakeCurrent(env, self->layer_->device_);
  self->Plan(env);
  return object;
}

void GemmCall::Plan(Napi::Env env) {
  rules_generation_ = marlin::tile_rules_generation();
  cudaError_t cuda_error = cudaSuccess;
  const marlin::Status status = marlin::plan_launches(call_.args, &launches_, &cuda_error);
  if (status != marlin::Status::kOk) layer_->ThrowFailure(env, status, cuda_error, "planning a bound call", call_.args);
}

Napi::Value GemmCall::Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // Only New() fills a GemmCall; the class is not reachable from JS otherwise.
  if (!layer_) throw MakeError(env, "BAD_ARGUMENT", "this GemmCall was not made by gemm.bind()");
  if (rules_generation_ != marlin::tile_rules_generation()) {
    MakeCurrent(env, layer_->device_);
    Plan(env);
  }
  layer_->Launch(env, call_, &launches_);
  return env.Undefined();
}

}  // namespace marlin_addon
