#include "device_info.h"

#include <cuda_runtime_api.h>

#include <cstddef>
#include <string>

#include "errors.h"
#include "gemm.h"

namespace marlin_addon {
namespace {

constexpr int kMinMajor = 8;  // mma.sync m16n8k16 with FP32 accumulation, cp.async

int DeviceCountOrThrow(Napi::Env env) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver) {
    cudaGetLastError();
    throw MakeError(env, "NO_GPU", "no CUDA device is available: " + DescribeCudaError(e));
  }
  CheckCuda(env, e, "cudaGetDeviceCount");
  return count;
}

Napi::Value DeviceCount(const Napi::CallbackInfo& info) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();
    count = 0;
  }
  return Napi::Number::New(info.Env(), count);
}

Napi::Object Properties(Napi::Env env, int ordinal, const cudaDeviceProp& p) {
  auto attr = [&](cudaDeviceAttr a) {
    int v = 0;
    return cudaDeviceGetAttribute(&v, a, ordinal) == cudaSuccess ? v : 0;
  };
  Napi::Object o = Napi::Object::New(env);
  o.Set("index", ordinal);
  o.Set("name", p.name);
  o.Set("major", p.major);
  o.Set("minor", p.minor);
  o.Set("multiProcessorCount", p.multiProcessorCount);
  o.Set("totalGlobalMem", static_cast<double>(p.totalGlobalMem));
  o.Set("l2CacheSize", p.l2CacheSize);
  o.Set("sharedMemPerBlockOptin", static_cast<double>(p.sharedMemPerBlockOptin));
  o.Set("memoryBusWidth", attr(cudaDevAttrGlobalMemoryBusWidth));
  o.Set("memoryClockRateKHz", attr(cudaDevAttrMemoryClockRate));
  o.Set("peakMemoryGBps",
        marlin::peak_memory_gbps(attr(cudaDevAttrMemoryClockRate), attr(cudaDevAttrGlobalMemoryBusWidth)));
  o.Set("clockRateKHz", attr(cudaDevAttrClockRate));
  o.Set("pciBusId", p.pciBusID);
  return o;
}

Napi::Value DeviceProperties(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int ordinal = info[0].As<Napi::Number>().Int32Value();
  UseDevice(env, ordinal);
  cudaDeviceProp p{};
  CheckCuda(env, cudaGetDeviceProperties(&p, ordinal), "cudaGetDeviceProperties(" + std::to_string(ordinal) + ")");
  return Properties(env, ordinal, p);
}

// Whether a usable GPU is here, and if not, why. Never throws: every CUDA
// failure becomes a reason string.
Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object result = Napi::Object::New(env);
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  result.Set("runtimeVersion", runtime);
  result.Set("driverVersion", driver);
  Napi::Array devices = Napi::Array::New(env);
  result.Set("devices", devices);

  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();
    result.Set("available", false);
    result.Set("deviceCount", 0);
    result.Set("code", "NO_GPU");
    std::string reason = e == cudaErrorInsufficientDriver
                             ? "no NVIDIA driver is loaded (or it is older than the CUDA runtime)"
                         : e == cudaErrorNoDevice ? "no CUDA device is present"
                                                  : "the CUDA runtime failed";
    result.Set("reason", reason + ": " + DescribeCudaError(e));
    return result;
  }
  result.Set("deviceCount", count);
  int usable = 0;
  std::string first_reason;
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) {
      cudaGetLastError();
      continue;
    }
    Napi::Object d = Properties(env, i, p);
    std::string why;
    if (p.major < kMinMajor) {
      why = "compute capability " + std::to_string(p.major) + "." + std::to_string(p.minor) +
            " is below the 8.0 the kernels need";
    } else if (cudaSetDevice(i) != cudaSuccess) {
      why = "cudaSetDevice failed: " + DescribeCudaError(cudaGetLastError());
    } else {
      const cudaError_t image = marlin::check_kernel_image();
      if (image != cudaSuccess) {
        cudaGetLastError();
        why = "this build has no kernels for sm_" + std::to_string(p.major) + std::to_string(p.minor) +
              " (rebuild with MARLIN_CUDA_ARCHS=" + std::to_string(p.major) + std::to_string(p.minor) +
              "): " + DescribeCudaError(image);
      }
    }
    d.Set("usable", why.empty());
    if (why.empty()) {
      ++usable;
    } else {
      d.Set("reason", why);
      if (first_reason.empty()) first_reason = "device " + std::to_string(i) + ": " + why;
    }
    devices.Set(devices.Length(), d);
  }
  result.Set("available", usable > 0);
  if (usable == 0) {
    result.Set("code", "NO_GPU");
    result.Set("reason", count == 0 ? std::string("no CUDA device is present") : first_reason);
  } else {
    result.Set("reason", env.Null());
  }
  return result;
}

// memoryInfo(device): { free, total } bytes of device memory, as the driver
// counts them now (free is after every process's allocations).
Napi::Value MemoryInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int ordinal = info[0].As<Napi::Number>().Int32Value();
  UseDevice(env, ordinal);  // cudaMemGetInfo reports on the current device
  std::size_t free = 0;
  std::size_t total = 0;
  CheckCuda(env, cudaMemGetInfo(&free, &total), "cudaMemGetInfo on device " + std::to_string(ordinal));
  Napi::Object o = Napi::Object::New(env);
  o.Set("free", static_cast<double>(free));
  o.Set("total", static_cast<double>(total));
  return o;
}

Napi::Value Versions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  Napi::Object o = Napi::Object::New(env);
  o.Set("runtime", runtime);
  o.Set("driver", driver);
  return o;
}

}  // namespace

void UseDevice(Napi::Env env, int ordinal) {
  const int count = DeviceCountOrThrow(env);
  if (ordinal < 0 || ordinal >= count)
    throw MakeError(env, "NO_GPU",
                    "device " + std::to_string(ordinal) + " does not exist (" + std::to_string(count) +
                        " CUDA device(s) present)");
  CheckCuda(env, cudaSetDevice(ordinal), "cudaSetDevice(" + std::to_string(ordinal) + ")");
}

void MakeCurrent(Napi::Env env, int ordinal) {
  int current = -1;
  if (cudaGetDevice(&current) == cudaSuccess && current == ordinal) return;
  CheckCuda(env, cudaSetDevice(ordinal), "cudaSetDevice(" + std::to_string(ordinal) + ")");
}

void InitDeviceInfo(Napi::Env env, Napi::Object exports) {
  exports.Set("deviceCount", Napi::Function::New(env, DeviceCount, "deviceCount"));
  exports.Set("deviceProperties", Napi::Function::New(env, DeviceProperties, "deviceProperties"));
  exports.Set("probe", Napi::Function::New(env, Probe, "probe"));
  exports.Set("versions", Napi::Function::New(env, Versions, "versions"));
  exports.Set("memoryInfo", Napi::Function::New(env, MemoryInfo, "memoryInfo"));
}

}  // namespace marlin_addon
