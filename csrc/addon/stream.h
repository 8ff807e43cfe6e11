// Stream: a non-blocking CUDA stream on one device, owned by a JS object.
// synchronize() settles a Promise when the stream's queued work is done;
// waitFor(event) orders it after an Event (of any device).
#pragma once

#include <cuda_runtime_api.h>
#include <napi.h>

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

 private:
  Napi::Value Synchronize(const Napi::CallbackInfo& info);  // Promise<void>
  Napi::Value WaitFor(const Napi::CallbackInfo& info);      // waitFor(event)
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value GetDisposed(const Napi::CallbackInfo& info);
  Napi::Value GetDevice(const Napi::CallbackInfo& info);
  void Release();

  cudaStream_t stream_ = nullptr;
  int device_ = 0;
  bool disposed_ = false;
};

}  // namespace marlin_addon
