#include "event.h"

#include <string>

#include "capture.h"
#include "completion.h"
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
                                        InstanceMethod<&Event::Synchronize>("synchronize"),
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
  // Recorded inside a capture, the event would stand for a node of the
  // graph, and waiting on it or timing it outside would fail.
  if (stream->capturing())
    throw MakeError(env, "NOT_CAPTURABLE", "event.record() on a stream that is capturing a graph");
  CheckCuda(env, cudaSetDevice(device_), "cudaSetDevice(" + std::to_string(device_) + ")");
  CheckCuda(env, cudaEventRecord(event_, stream->handle()), "cudaEventRecord");
  return env.Undefined();
}

Napi::Value Event::Synchronize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (disposed_) throw MakeError(env, "DISPOSED", "the Event was disposed");
  RequireNotCapturing(env, "event.synchronize()");
  CheckCuda(env, cudaSetDevice(device_), "cudaSetDevice(" + std::to_string(device_) + ")");
  // The Promise is for the work the event stands for now. The waiter thread
  // cannot wait on the event itself: a later record() would move it (maybe
  // to a stream that finishes first) and dispose() would destroy it. So a
  // stream of the call's own takes the event as it stands (cudaStreamWaitEvent
  // reads its most recent record), and the Promise waits for that stream. A
  // fresh stream per call: one shared by several calls would make each wait
  // for the others' events too. Creating and destroying a stream costs
  // little and neither call blocks.
  cudaStream_t own = nullptr;
  CheckCuda(env, cudaStreamCreateWithFlags(&own, cudaStreamNonBlocking),
            "cudaStreamCreate on device " + std::to_string(device_));
  const cudaError_t e = cudaStreamWaitEvent(own, event_, 0);
  if (e != cudaSuccess) {
    cudaStreamDestroy(own);
    CheckCuda(env, e, "cudaStreamWaitEvent");
  }
  // Destroying a stream with work still queued returns at once; the runtime
  // frees it after the work.
  const int device = device_;
  auto destroy = [own, device] {
    if (cudaSetDevice(device) == cudaSuccess) cudaStreamDestroy(own);
    cudaGetLastError();
  };
  return WhenStreamReaches(env, device_, own, Continuation{nullptr, nullptr, destroy, nullptr});
}

Napi::Value Event::ElapsedMs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (disposed_) throw MakeError(env, "DISPOSED", "the Event was disposed");
  Event* later = FromValue(env, info[0], "end");
  if (later->device_ != device_)
    throw MakeError(env, "BAD_ARGUMENT",
                    "elapsedMs needs both events on one device (this one on " + std::to_string(device_) + ", end on " +
                        std::to_string(later->device_) + ")");
  float ms = 0.f;
  CheckCuda(env, cudaEventElapsedTime(&ms, event_, later->event_),
            "cudaEventElapsedTime (both events must be recorded and completed; await end.synchronize() first)");
  return Napi::Number::New(env, ms);
}

Napi::Value Event::Dispose(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

Napi::Value Event::GetDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), disposed_); }

}  // namespace marlin_addon
