#include "stream.h"

#include <string>

#include "completion.h"
#include "device_info.h"
#include "errors.h"
#include "event.h"
#include "state.h"
#include "unwrap.h"

namespace marlin_addon {

void Stream::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "Stream",
                                    {
                                        InstanceMethod<&Stream::Synchronize>("synchronize"),
                                        InstanceMethod<&Stream::WaitFor>("waitFor"),
                                        InstanceMethod<&Stream::BeginCapture>("beginCapture"),
                                        InstanceMethod<&Stream::EndCapture>("endCapture"),
                                        InstanceAccessor<&Stream::GetCapturing>("capturing"),
                                        InstanceMethod<&Stream::Dispose>("dispose"),
                                        InstanceAccessor<&Stream::GetDisposed>("disposed"),
                                        InstanceAccessor<&Stream::GetDevice>("device"),
                                    });
  State(env).stream_ctor = Napi::Persistent(ctor);
  exports.Set("Stream", ctor);
}

Stream* Stream::FromValue(Napi::Env env, Napi::Value value, const char* name) {
  return UnwrapLive<Stream>(env, value, State(env).stream_ctor, "a Stream", name);
}

Stream::Stream(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Stream>(info) {
  Napi::Env env = info.Env();
  device_ = info[0].As<Napi::Number>().Int32Value();
  UseDevice(env, device_);
  CheckCuda(env, cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking),
            "cudaStreamCreate on device " + std::to_string(device_));
}

Stream::~Stream() { Release(); }

void Stream::Release() {
  if (disposed_) return;
  disposed_ = true;
  if (capture_) {
    AbandonCapture(device_, stream_);  // disposed mid-capture: no graph
    capture_.reset();
  }
  // Work already queued still runs; the runtime frees the stream after it.
  if (stream_ && cudaSetDevice(device_) == cudaSuccess) cudaStreamDestroy(stream_);
  cudaGetLastError();
  stream_ = nullptr;
}

Napi::Value Stream::Synchronize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (disposed_) throw MakeError(env, "DISPOSED", "the Stream was disposed");
  RequireNotCapturing(env, "synchronize()");
  CheckCuda(env, cudaSetDevice(device_), "cudaSetDevice(" + std::to_string(device_) + ")");
  return WhenStreamReaches(env, device_, stream_);
}

Napi::Value Stream::WaitFor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (disposed_) throw MakeError(env, "DISPOSED", "the Stream was disposed");
  Event* event = Event::FromValue(env, info[0], "event");
  // A captured stream may only depend on work captured with it (CUDA's
  // capture isolation); a wait on an earlier record would end the capture.
  if (capture_)
    throw MakeError(env, "NOT_CAPTURABLE",
                    "waitFor(event) on a stream that is capturing a graph (order the stream before capture)");
  CheckCuda(env, cudaSetDevice(device_), "cudaSetDevice(" + std::to_string(device_) + ")");
  // Takes the event's most recent record as of now; the event may be
  // recorded again or disposed afterwards. It may belong to another device.
  CheckCuda(env, cudaStreamWaitEvent(stream_, event->handle(), 0),
            "cudaStreamWaitEvent (stream on device " + std::to_string(device_) + ", event on device " +
                std::to_string(event->device()) + ")");
  return env.Undefined();
}

Napi::Value Stream::BeginCapture(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (disposed_) throw MakeError(env, "DISPOSED", "the Stream was disposed");
  if (capture_) throw MakeError(env, "NOT_CAPTURABLE", "the stream is already capturing a graph");
  auto record = std::make_unique<CaptureRecord>();
  marlin_addon::BeginCapture(env, device_, stream_);
  capture_ = std::move(record);
  return env.Undefined();
}

Napi::Value Stream::EndCapture(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (disposed_) throw MakeError(env, "DISPOSED", "the Stream was disposed");
  if (!capture_) throw MakeError(env, "BAD_ARGUMENT", "endCapture() without beginCapture()");
  const bool discard = info[0].ToBoolean().Value();
  std::unique_ptr<CaptureRecord> record = std::move(capture_);
  return marlin_addon::EndCapture(env, device_, stream_, record.get(), discard);
}

Napi::Value Stream::GetCapturing(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), capture_ != nullptr);
}

Napi::Value Stream::Dispose(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

Napi::Value Stream::GetDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), disposed_); }
Napi::Value Stream::GetDevice(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), device_); }

}  // namespace marlin_addon
