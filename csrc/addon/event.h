// Event: a CUDA event (with timing) on one device. record() marks the point a
// stream has reached; synchronize() settles a Promise once the work before
// that point is done; elapsedMs() gives the GPU time between two completed
// events; Stream::WaitFor makes another stream wait for it.
#pragma once

#include <cuda_runtime_api.h>
#include <napi.h>

namespace marlin_addon {

class Event : public Napi::ObjectWrap<Event> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit Event(const Napi::CallbackInfo& info);  // new Event(device)
  ~Event() override;

  // The live Event behind `value`; throws BAD_ARGUMENT or DISPOSED.
  static Event* FromValue(Napi::Env env, Napi::Value value, const char* name);

  bool disposed() const { return disposed_; }
  cudaEvent_t handle() const { return event_; }
  int device() const { return device_; }

 private:
  Napi::Value Record(const Napi::CallbackInfo& info);       // record(stream)
  Napi::Value Synchronize(const Napi::CallbackInfo& info);  // synchronize(): Promise<void>
  Napi::Value ElapsedMs(const Napi::CallbackInfo& info);    // elapsedMs(laterEvent): number
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value GetDisposed(const Napi::CallbackInfo& info);
  void Release();

  cudaEvent_t event_ = nullptr;
  int device_ = 0;
  bool disposed_ = false;
};

}  // namespace marlin_addon
