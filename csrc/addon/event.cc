#include "event.h"

#include <string>

#include "device_info.h"
#include "errors.h"
#include "operands.h"
#include "state.h"
#include "unwrap.h"
#include "stream.h"

namespace marlin_addon {

void Event::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "Event",
                                    {
                                        InstanceMethod<&Event::Record>("record"),
                                        InstanceMethod<&Event::ElapsedMs>("elapsedMs"),
                                        InstanceMethod<&Event::Dispose>("dispose"),
                                        InstanceAccessor<&Event::GetDisposed>("disposed"),
                                    });
  State(env).event_ctor = Napi::Persistent(ctor);
  exports.Set("Event", ctor);
}

Event* Event::FromValue(Napi::Env env, Napi::Value value, const char* name) {
  return UnwrapLive<Event>(env, value, State(env).event_ctor, "an Event", name);
}

Event::Event(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Event>(info) {
  Napi::Env env = info.Env();
  device_ = info[0].As<Napi::Number>().Int32Value();
  UseDevice(env, device_);
  CheckCuda(env, cudaEventCreate(&event_), "cudaEventCreate on device " + std::to_string(device_));
}

Event::~Event() { Release(); }

void Event::Release() {
  if (disposed_) return;
  disposed_ = true;
  if (event_) cudaEventDestroy(event_);
  cudaGetLastError();
  event_ = nullptr;
}

Napi::Value Event::Record(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (disposed_) throw MakeError(env, "DISPOSED", "the Event was disposed");
  Stream* stream = Stream::FromValue(env, info[0], "stream");
  RequireStreamDevice(env, device_, "the Event", *stream);
  CheckCuda(env, cudaEventRecord(event_, stream->handle()), "cudaEventRecord");
  return env.Undefined();
}

Napi::Value Event::ElapsedMs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (disposed_) throw MakeError(env, "DISPOSED", "the Event was disposed");
  Event* later = FromValue(env, info[0], "end");
  float ms = 0.f;
  CheckCuda(env, cudaEventElapsedTime(&ms, event_, later->event_), "cudaEventElapsedTime");
  return Napi::Number::New(env, ms);
}

Napi::Value Event::Dispose(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

Napi::Value Event::GetDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), disposed_); }

}  // namespace marlin_addon
