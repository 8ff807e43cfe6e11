// DeviceBuffer: a block of device memory owned by a JS object. dispose()
// frees it (or lets a CUDA graph that uses it free it later: capture.h);
// the finalizer frees what was forgotten. Its size is reported to V8 as
// external memory, so the GC counts it. Copies are queued on a Stream;
// downloads settle a Promise.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "capture.h"

namespace marlin_addon {

class DeviceBuffer : public Napi::ObjectWrap<DeviceBuffer> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  // The live DeviceBuffer behind `value`; throws BAD_ARGUMENT or DISPOSED.
  static DeviceBuffer* FromValue(Napi::Env env, Napi::Value value, const char* name);

  explicit DeviceBuffer(const Napi::CallbackInfo& info);  // new DeviceBuffer(device, bytes)
  ~DeviceBuffer() override;
  void Finalize(Napi::Env env) override;

  bool disposed() const { return disposed_; }

  int device() const { return device_; }
  std::size_t bytes() const { return bytes_; }
  // Start of [offset, offset + length) after checking it lies inside the
  // buffer; throws BAD_ARGUMENT naming `what` otherwise.
  std::uint8_t* Region(Napi::Env env, std::uint64_t offset, std::uint64_t length, const char* what) const;
  // The memory, shared with what must keep it (a graph's capture).
  const std::shared_ptr<DeviceMemory>& memory() const { return memory_; }

 private:
  Napi::Value Upload(const Napi::CallbackInfo& info);    // upload(src, dstOffset, stream)
  // download(dst: ArrayBuffer, srcOffset, stream): Promise<void>; see host_copy.h
  // for what the caller must guarantee about `dst`
  Napi::Value Download(const Napi::CallbackInfo& info);
  Napi::Value Fill(const Napi::CallbackInfo& info);      // fill(byte, offset, length, stream)
  Napi::Value CopyFrom(const Napi::CallbackInfo& info);  // copyFrom(src, srcOffset, dstOffset, length, stream)
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value GetBytes(const Napi::CallbackInfo& info);
  Napi::Value GetDevice(const Napi::CallbackInfo& info);
  Napi::Value GetDisposed(const Napi::CallbackInfo& info);
  void Release(Napi::Env env);

  std::shared_ptr<DeviceMemory> memory_;
  void* ptr_ = nullptr;  // memory_->ptr while live
  std::size_t bytes_ = 0;
  int device_ = 0;
  bool disposed_ = false;
};

}  // namespace marlin_addon
