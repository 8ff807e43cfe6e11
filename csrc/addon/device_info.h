// Device discovery: count, properties, memory, and probe() (which never throws).
#pragma once

#include <napi.h>

namespace marlin_addon {

void InitDeviceInfo(Napi::Env env, Napi::Object exports);

// Throws NO_GPU unless `ordinal` names a device, then makes it current.
void UseDevice(Napi::Env env, int ordinal);

}  // namespace marlin_addon
