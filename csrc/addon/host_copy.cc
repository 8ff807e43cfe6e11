#include "host_copy.h"

#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "errors.h"

namespace marlin_addon {

HostDestination ArrayBufferArgument(Napi::Env env, Napi::Value value, const char* name) {
  if (!value.IsArrayBuffer())
    throw MakeError(env, "BAD_ARGUMENT", std::string("Expected an ArrayBuffer for ") + name);
  Napi::ArrayBuffer buffer = value.As<Napi::ArrayBuffer>();
  return {buffer, static_cast<std::uint8_t*>(buffer.Data()), buffer.ByteLength()};
}

Continuation CopyToHost(const HostDestination& destination, const void* staging, OnSettled release_staging) {
  // Keeps the ArrayBuffer (and so its memory) alive until the Promise settles.
  auto keep = std::make_shared<Napi::Reference<Napi::ArrayBuffer>>(Napi::Persistent(destination.buffer));
  std::uint8_t* data = destination.data;
  const std::size_t bytes = destination.bytes;
  return Continuation{
      [data, staging, bytes] {
        if (bytes > 0) std::memcpy(data, staging, bytes);
        return OffThreadStatus{};
      },
      nullptr,
      [keep, release = std::move(release_staging)] {
        if (release) release();
        keep->Reset();
      },
      nullptr,
  };
}

namespace {

// readbackSelfTest(destination, seed)
Napi::Value ReadbackSelfTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const HostDestination destination = ArrayBufferArgument(env, info[0], "destination");
  const std::uint32_t seed = info[1].As<Napi::Number>().Uint32Value();
  if (destination.bytes % 4 != 0)
    throw MakeError(env, "BAD_ARGUMENT", "readbackSelfTest needs a whole number of 32-bit words, got " +
                                             std::to_string(destination.bytes) + " bytes");
  const std::size_t words = destination.bytes / 4;
  // Stands in for the pinned block a download lands in. Left untouched here
  // (fresh pages cost nothing until written) and filled on the waiter thread.
  std::uint32_t* staging = new (std::nothrow) std::uint32_t[words > 0 ? words : 1];
  if (!staging)
    throw MakeError(env, "OUT_OF_MEMORY", "readbackSelfTest: no memory for " + std::to_string(destination.bytes) +
                                              " bytes of staging");
  // Freed on the waiter thread, as the pool frees pinned blocks: unmapping
  // 200 MB of written pages takes milliseconds.
  Continuation then =
      CopyToHost(destination, staging, [env, staging] { RunOffThread(env, [staging] { delete[] staging; }); });
  then.off_thread = [staging, words, seed, copy = std::move(then.off_thread)] {
    for (std::size_t i = 0; i < words; ++i) staging[i] = static_cast<std::uint32_t>(i) ^ seed;
    return copy();
  };
  return AfterQueuedWork(env, std::move(then));
}

}  // namespace

void InitHostCopy(Napi::Env env, Napi::Object exports) {
  exports.Set("readbackSelfTest", Napi::Function::New(env, ReadbackSelfTest, "readbackSelfTest"));
}

}  // namespace marlin_addon
