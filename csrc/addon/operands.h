// Argument helpers shared by the addon's calls: byte counts and offsets, and
// device buffers that must live on the stream's device.
#pragma once

#include <napi.h>

#include <cstdint>

#include "device_buffer.h"
#include "stream.h"

namespace marlin_addon {

// A non-negative integer below 2^53; throws BAD_ARGUMENT naming `name`.
std::uint64_t ByteCount(Napi::Env env, Napi::Value value, const char* name);

// Throws BAD_ARGUMENT unless `device` (where `name` lives) is the stream's.
void RequireStreamDevice(Napi::Env env, int device, const char* name, const Stream& stream);

// The live DeviceBuffer behind `value`, on the same device as `stream`.
DeviceBuffer* BufferOnStreamDevice(Napi::Env env, Napi::Value value, const char* name, const Stream& stream);

// info[index] is a DeviceBuffer and info[index + 1] a byte offset into it:
// the start of [offset, offset + bytes), checked to lie inside the buffer.
void* OperandRegion(Napi::Env env, const Napi::CallbackInfo& info, int index, const char* name, std::uint64_t bytes,
                    const Stream& stream);

}  // namespace marlin_addon
