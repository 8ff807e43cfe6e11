// Device discovery: count, properties, memory, and probe() (which never throws).
#pragma once

#include <napi.h>

namespace marlin_addon {

void InitDeviceInfo(Napi::Env env, Napi::Object exports);

// Throws NO_GPU unless `ordinal` names a device, then makes it current.
void UseDevice(Napi::Env env, int ordinal);

// Makes `ordinal` (a device a live object was made on) the current device,
// calling cudaSetDevice only when another is current: on the hot path of
// forward() the same device nearly always is, and cudaGetDevice (a
// thread-local read) costs less than cudaSetDevice. Throws CUDA_ERROR.
// Limit: cudaGetDevice names the device of whatever context is current, so
// a non-primary context on that device made current by other code (driver
// API) stays current, where cudaSetDevice would restore the primary one.
void MakeCurrent(Napi::Env env, int ordinal);

}  // namespace marlin_addon
