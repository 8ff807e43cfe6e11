#include "operands.h"

#include <string>

#include "errors.h"

namespace marlin_addon {

std::uint64_t ByteCount(Napi::Env env, Napi::Value value, const char* name) {
  const double d = value.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d > 9007199254740991.0 || d != static_cast<double>(static_cast<std::uint64_t>(d)))
    throw MakeError(env, "BAD_ARGUMENT", std::string("Expected a non-negative integer for ") + name);
  return static_cast<std::uint64_t>(d);
}

void RequireStreamDevice(Napi::Env env, int device, const char* name, const Stream& stream) {
  if (device != stream.device())
    throw MakeError(env, "BAD_ARGUMENT",
                    std::string(name) + " is on device " + std::to_string(device) + " but the stream is on device " +
                        std::to_string(stream.device()));
}

DeviceBuffer* BufferOnStreamDevice(Napi::Env env, Napi::Value value, const char* name, const Stream& stream) {
  DeviceBuffer* buffer = DeviceBuffer::FromValue(env, value, name);
  RequireStreamDevice(env, buffer->device(), name, stream);
  return buffer;
}

void* OperandRegion(Napi::Env env, const Napi::CallbackInfo& info, int index, const char* name, std::uint64_t bytes,
                    const Stream& stream) {
  DeviceBuffer* buffer = BufferOnStreamDevice(env, info[index], name, stream);
  void* region = buffer->Region(env, ByteCount(env, info[index + 1], name), bytes, name);
  stream.Use(buffer);
  return region;
}

}  // namespace marlin_addon
