// Stream: a non-blocking CUDA stream on one device, owned by a JS object.
// synchronize() settles a Promise when the stream's queued work is done;
// waitFor(event) orders it after an Event (of any device);
// beginCapture()/endCapture() record its work into a CUDA graph (capture.h).
#pragma once

#include <cuda_runtime_api.h>
#include <napi.h>

#include <memory>

#include "capture.h"

namespace marlin_addon {

class Stream : public Napi::ObjectWrap<Stream> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  // The live Stream behind `value`; throws BAD_ARGUMENT or DISPOSED.
  static Stream* FromValue(Napi::Env env, Napi::Value value, const char* name);

  explicit Stream(const Napi::CallbackInfo& info);  // new Stream(device)
  ~Stream() override;

  bool disposed() const { return disposed_; }

  cudaStream_t handle() const { return stream_; }
  int device() const { return device_; }
  bool capturing() const { return capture_ != nullptr; }
  // Call for every buffer that work queued on this stream uses: a graph
  // captured from it keeps that memory alive.
  template <class Buffer>
  void Use(const Buffer* buffer) const {
    if (capture_) capture_->Use(buffer->memory());
  }

 private:
  Napi::Value Synchronize(const Napi::CallbackInfo& info);  // Promise<void>
  Napi::Value WaitFor(const Napi::CallbackInfo& info);      // waitFor(event)
  Napi::Value BeginCapture(const Napi::CallbackInfo& info);  // beginCapture()
  // endCapture(discard: boolean): Graph, or undefined when discarding
  Napi::Value EndCapture(const Napi::CallbackInfo& info);
  Napi::Value GetCapturing(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value GetDisposed(const Napi::CallbackInfo& info);
  Napi::Value GetDevice(const Napi::CallbackInfo& info);
  void Release();

  cudaStream_t stream_ = nullptr;
  int device_ = 0;
  bool disposed_ = false;
  std::unique_ptr<CaptureRecord> capture_;  // while capturing
};

}  // namespace marlin_addon
