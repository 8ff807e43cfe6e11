#include "device_buffer.h"

#include <cuda_runtime_api.h>

#include <string>

#include "completion.h"
#include "device_info.h"
#include "errors.h"
#include "host_copy.h"
#include "operands.h"
#include "state.h"
#include "unwrap.h"
#include "stream.h"

namespace marlin_addon {
namespace {

// Host bytes of a TypedArray, DataView or ArrayBuffer.
struct HostView {
  std::uint8_t* data;
  std::size_t bytes;
};

HostView ViewOf(Napi::Env env, Napi::Value v, const char* name) {
  if (v.IsTypedArray()) {
    Napi::TypedArray t = v.As<Napi::TypedArray>();
    return {static_cast<std::uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset(), t.ByteLength()};
  }
  if (v.IsDataView()) {
    Napi::DataView d = v.As<Napi::DataView>();
    return {static_cast<std::uint8_t*>(d.ArrayBuffer().Data()) + d.ByteOffset(), d.ByteLength()};
  }
  if (v.IsArrayBuffer()) {
    Napi::ArrayBuffer b = v.As<Napi::ArrayBuffer>();
    return {static_cast<std::uint8_t*>(b.Data()), b.ByteLength()};
  }
  throw MakeError(env, "BAD_ARGUMENT", std::string("Expected a TypedArray, DataView or ArrayBuffer for ") + name);
}

}  // namespace

void DeviceBuffer::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "DeviceBuffer",
                                    {
                                        InstanceMethod<&DeviceBuffer::Upload>("upload"),
                                        InstanceMethod<&DeviceBuffer::Download>("download"),
                                        InstanceMethod<&DeviceBuffer::Fill>("fill"),
                                        InstanceMethod<&DeviceBuffer::CopyFrom>("copyFrom"),
                                        InstanceMethod<&DeviceBuffer::Dispose>("dispose"),
                                        InstanceAccessor<&DeviceBuffer::GetBytes>("bytes"),
                                        InstanceAccessor<&DeviceBuffer::GetDevice>("device"),
                                        InstanceAccessor<&DeviceBuffer::GetDisposed>("disposed"),
                                    });
  State(env).device_buffer_ctor = Napi::Persistent(ctor);
  exports.Set("DeviceBuffer", ctor);
}

DeviceBuffer* DeviceBuffer::FromValue(Napi::Env env, Napi::Value value, const char* name) {
  return UnwrapLive<DeviceBuffer>(env, value, State(env).device_buffer_ctor, "a DeviceBuffer", name);
}

DeviceBuffer::DeviceBuffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceBuffer>(info) {
  Napi::Env env = info.Env();
  device_ = info[0].As<Napi::Number>().Int32Value();
  const std::uint64_t bytes = ByteCount(env, info[1], "bytes");
  RequireNotCapturing(env, "allocating device memory (a new tensor, or forward() without `out`)");
  UseDevice(env, device_);
  // cudaMalloc of 0 bytes returns null; keep one byte so every live buffer
  // has a distinct address.
  void* ptr = nullptr;
  CheckCuda(env, cudaMalloc(&ptr, bytes > 0 ? bytes : 1),
            "cudaMalloc(" + std::to_string(bytes) + " bytes) on device " + std::to_string(device_));
  try {
    memory_ = std::make_shared<DeviceMemory>(device_, ptr, bytes);
  } catch (...) {
    FreeDeviceMemory(device_, ptr);
    throw;
  }
  ptr_ = ptr;
  bytes_ = bytes;
  Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(bytes_));
}

// The finalizer: V8 is told the memory is gone; the destructor frees it.
void DeviceBuffer::Finalize(Napi::Env env) { Release(env); }

DeviceBuffer::~DeviceBuffer() {
  disposed_ = true;
  memory_.reset();
}

void DeviceBuffer::Release(Napi::Env env) {
  if (disposed_) return;
  disposed_ = true;
  ptr_ = nullptr;
  // Frees the memory unless a graph still uses it; cudaFree waits for
  // queued work that may still use it.
  memory_.reset();
  Napi::MemoryManagement::AdjustExternalMemory(env, -static_cast<int64_t>(bytes_));
}

std::uint8_t* DeviceBuffer::Region(Napi::Env env, std::uint64_t offset, std::uint64_t length, const char* what) const {
  if (offset > bytes_ || length > bytes_ - offset)
    throw MakeError(env, "BAD_ARGUMENT",
                    std::string(what) + ": bytes [" + std::to_string(offset) + ", " + std::to_string(offset + length) +
                        ") lie outside the " + std::to_string(bytes_) + "-byte device buffer");
  return static_cast<std::uint8_t*>(ptr_) + offset;
}

Napi::Value DeviceBuffer::Upload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (disposed_) throw MakeError(env, "DISPOSED", "the DeviceBuffer was disposed");
  const HostView src = ViewOf(env, info[0], "source");
  const std::uint64_t offset = ByteCount(env, info[1], "offset");
  Stream* stream = Stream::FromValue(env, info[2], "stream");
  RequireStreamDevice(env, device_, "the buffer", *stream);
  std::uint8_t* dst = Region(env, offset, src.bytes, "upload");
  RequireNotCapturing(env, "upload() (a copy from host memory)");
  CheckCuda(env, cudaSetDevice(device_), "cudaSetDevice");
  // From pageable memory the runtime stages the bytes before returning, so
  // the caller may reuse `source` at once; the device copy stays in order.
  CheckCuda(env, cudaMemcpyAsync(dst, src.data, src.bytes, cudaMemcpyHostToDevice, stream->handle()),
            "cudaMemcpyAsync(host to device, " + std::to_string(src.bytes) + " bytes)");
  return env.Undefined();
}

Napi::Value DeviceBuffer::Download(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (disposed_) throw MakeError(env, "DISPOSED", "the DeviceBuffer was disposed");
  const HostDestination dst = ArrayBufferArgument(env, info[0], "destination");
  const std::uint64_t offset = ByteCount(env, info[1], "offset");
  Stream* stream = Stream::FromValue(env, info[2], "stream");
  RequireStreamDevice(env, device_, "the buffer", *stream);
  const std::uint8_t* src = Region(env, offset, dst.bytes, "download");
  RequireNotCapturing(env, "toHost() (a copy to host memory)");
  CheckCuda(env, cudaSetDevice(device_), "cudaSetDevice");
  if (dst.bytes == 0) return WhenStreamReaches(env, device_, stream->handle());

  if (dst.bytes > PinnedPool::kMaxBlock) {
    // A large download: a snapshot of the source on the device, allocated
    // and copied in stream order, so it shows the buffer as of this call
    // whatever is queued after; once the stream has passed this point the
    // waiter thread copies it to the host in chunks and frees it
    // (chunked_readback.h). This thread only queues: it pins, frees and
    // copies nothing, whatever the size.
    void* snapshot = nullptr;
    if (cudaMallocAsync(&snapshot, dst.bytes, stream->handle()) == cudaSuccess) {
      const cudaError_t e = cudaMemcpyAsync(snapshot, src, dst.bytes, cudaMemcpyDeviceToDevice, stream->handle());
      if (e != cudaSuccess) {
        cudaFreeAsync(snapshot, stream->handle());
        CheckCuda(env, e, "cudaMemcpyAsync(device to device, " + std::to_string(dst.bytes) + " bytes) for a readback");
      }
      try {
        return WhenStreamReaches(env, device_, stream->handle(),
                                 CopySnapshotToHost(dst, device_, snapshot, &State(env).chunks));
      } catch (...) {
        // No point to wait for was queued, so nothing will read the snapshot.
        cudaFreeAsync(snapshot, stream->handle());
        cudaGetLastError();
        throw;
      }
    }
    // No room on the device for the snapshot (or no stream-ordered
    // allocator): stage through pinned host memory as below, which pins a
    // block of this size here, on the JS thread.
    cudaGetLastError();
  }

  // Device -> pinned staging in stream order now; staging -> destination on
  // the waiter thread once the stream has passed this point (host_copy.h).
  PinnedPool& pool = State(env).pinned;
  void* staging = pool.Acquire(env, dst.bytes);
  const cudaError_t e = cudaMemcpyAsync(staging, src, dst.bytes, cudaMemcpyDeviceToHost, stream->handle());
  if (e != cudaSuccess) {
    pool.Release(env, staging);
    CheckCuda(env, e, "cudaMemcpyAsync(device to host, " + std::to_string(dst.bytes) + " bytes)");
  }
  return WhenStreamReaches(env, device_, stream->handle(),
                           CopyToHost(dst, staging, [env, staging] { State(env).pinned.Release(env, staging); }));
}

Napi::Value DeviceBuffer::Fill(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (disposed_) throw MakeError(env, "DISPOSED", "the DeviceBuffer was disposed");
  const int value = info[0].As<Napi::Number>().Int32Value();
  const std::uint64_t offset = ByteCount(env, info[1], "offset");
  const std::uint64_t length = ByteCount(env, info[2], "length");
  Stream* stream = Stream::FromValue(env, info[3], "stream");
  RequireStreamDevice(env, device_, "the buffer", *stream);
  std::uint8_t* dst = Region(env, offset, length, "fill");
  stream->Use(this);
  CheckCuda(env, cudaSetDevice(device_), "cudaSetDevice");
  CheckCuda(env, cudaMemsetAsync(dst, value & 0xff, length, stream->handle()), "cudaMemsetAsync");
  return env.Undefined();
}

Napi::Value DeviceBuffer::CopyFrom(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (disposed_) throw MakeError(env, "DISPOSED", "the DeviceBuffer was disposed");
  DeviceBuffer* src = FromValue(env, info[0], "source");
  const std::uint64_t src_offset = ByteCount(env, info[1], "sourceOffset");
  const std::uint64_t dst_offset = ByteCount(env, info[2], "offset");
  const std::uint64_t length = ByteCount(env, info[3], "length");
  Stream* stream = Stream::FromValue(env, info[4], "stream");
  RequireStreamDevice(env, device_, "the buffer", *stream);
  if (src->device_ != device_)
    throw MakeError(env, "BAD_ARGUMENT",
                    "copyFrom needs both buffers on one device (source on " + std::to_string(src->device_) +
                        ", destination on " + std::to_string(device_) + ")");
  const std::uint8_t* from = src->Region(env, src_offset, length, "copyFrom source");
  std::uint8_t* to = Region(env, dst_offset, length, "copyFrom destination");
  stream->Use(src);
  stream->Use(this);
  CheckCuda(env, cudaSetDevice(device_), "cudaSetDevice");
  CheckCuda(env, cudaMemcpyAsync(to, from, length, cudaMemcpyDeviceToDevice, stream->handle()),
            "cudaMemcpyAsync(device to device)");
  return env.Undefined();
}

Napi::Value DeviceBuffer::Dispose(const Napi::CallbackInfo& info) {
  Release(info.Env());
  return info.Env().Undefined();
}

Napi::Value DeviceBuffer::GetBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(bytes_));
}
Napi::Value DeviceBuffer::GetDevice(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), device_); }
Napi::Value DeviceBuffer::GetDisposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), disposed_);
}

}  // namespace marlin_addon
