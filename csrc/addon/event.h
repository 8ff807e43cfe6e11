// Event: a CUDA event with timing, for measuring GPU time between two points
// of a stream (benchmarks). Read elapsedMs after the stream has passed both
// events (await stream.synchronize()).
#pragma once

#include <cuda_runtime_api.h>
#include <napi.h>

namespace marlin_addon {

class Event : public Napi::ObjectWrap<Event> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit Event(const Napi::CallbackInfo& info);  // new Event(device)
  ~Event() override;

  bool disposed() const { return disposed_; }

 private:
  Napi::Value Record(const Napi::CallbackInfo& info);       // record(stream)
  Napi::Value ElapsedMs(const Napi::CallbackInfo& info);    // elapsedMs(laterEvent): number
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value GetDisposed(const Napi::CallbackInfo& info);
  static Event* FromValue(Napi::Env env, Napi::Value value, const char* name);
  void Release();

  cudaEvent_t event_ = nullptr;
  int device_ = 0;
  bool disposed_ = false;
};

}  // namespace marlin_addon
