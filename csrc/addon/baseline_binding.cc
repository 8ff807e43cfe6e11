#include "baseline_binding.h"

#include <cstdint>
#include <string>

#include "capture.h"
#include "delay.h"
#include "device_buffer.h"
#include "errors.h"
#include "fp16_gemm.h"
#include "operands.h"
#include "stream.h"

namespace marlin_addon {
namespace {

// fp16Gemm(a, aOffset, b, bOffset, c, cOffset, stream, m, n, k, dtype?): C = A B,
// row-major [m,k] x [k,n] -> [m,n], all 'float16' (default) or all 'bfloat16'.
Napi::Value Fp16Gemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!marlin::baseline::available())
    throw MakeError(env, "NO_CUBLAS", "the FP16 baseline is unavailable: marlin-node was built without cuBLAS");
  Stream* stream = Stream::FromValue(env, info[6], "stream");
  const int m = info[7].As<Napi::Number>().Int32Value();
  const int n = info[8].As<Napi::Number>().Int32Value();
  const int k = info[9].As<Napi::Number>().Int32Value();
  if (m <= 0 || n <= 0 || k <= 0)
    throw MakeError(env, "BAD_SHAPE",
                    "fp16Gemm: m, n and k must be positive (m=" + std::to_string(m) + ", n=" + std::to_string(n) +
                        ", k=" + std::to_string(k) + ")");
  const std::string dtype =
      info.Length() > 10 && info[10].IsString() ? info[10].As<Napi::String>().Utf8Value() : "float16";
  if (dtype != "float16" && dtype != "bfloat16")
    throw MakeError(env, "BAD_DTYPE", "fp16Gemm: dtype must be 'float16' or 'bfloat16', not '" + dtype + "'");
  if (Capturing() && !marlin::baseline::has_handle(stream->device()))
    throw MakeError(env, "NOT_CAPTURABLE",
                    "fp16Matmul() inside a capture needs cuBLAS set up first: call it once outside the capture (its "
                    "first call allocates)");
  const std::uint64_t M = m, N = n, K = k;
  const void* a = OperandRegion(env, info, 0, "A", M * K * 2, *stream);
  const void* b = OperandRegion(env, info, 2, "B", K * N * 2, *stream);
  void* c = OperandRegion(env, info, 4, "C", M * N * 2, *stream);
  CheckCuda(env, cudaSetDevice(stream->device()), "cudaSetDevice");
  std::string error;
  if (!marlin::baseline::fp16_gemm(a, b, c, m, n, k, stream->handle(), &error, dtype == "bfloat16"))
    throw MakeError(env, "CUDA_ERROR",
                    "fp16Gemm (m=" + std::to_string(m) + ", n=" + std::to_string(n) + ", k=" + std::to_string(k) +
                        "): " + error);
  return env.Undefined();
}

Napi::Value HasCublas(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), marlin::baseline::available());
}

// delay(stream, microseconds)
Napi::Value Delay(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Stream* stream = Stream::FromValue(env, info[0], "stream");
  const double us = info[1].As<Napi::Number>().DoubleValue();
  CheckCuda(env, cudaSetDevice(stream->device()), "cudaSetDevice");
  CheckCuda(env, marlin::delay(stream->handle(), us), "delay kernel launch");
  return env.Undefined();
}

// timeEmptyLaunches(stream, calls): host ns per launch of an empty kernel
Napi::Value TimeEmptyLaunches(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Stream* stream = Stream::FromValue(env, info[0], "stream");
  const int calls = info[1].As<Napi::Number>().Int32Value();
  if (calls <= 0) throw MakeError(env, "BAD_ARGUMENT", "timeEmptyLaunches needs calls > 0");
  RequireNotCapturing(env, "timeEmptyLaunches()");
  CheckCuda(env, cudaSetDevice(stream->device()), "cudaSetDevice");
  double ns = 0;
  CheckCuda(env, marlin::time_empty_launches(stream->handle(), calls, &ns), "empty kernel launches");
  return Napi::Number::New(env, ns);
}

}  // namespace

void InitBaseline(Napi::Env env, Napi::Object exports) {
  exports.Set("fp16Gemm", Napi::Function::New(env, Fp16Gemm, "fp16Gemm"));
  exports.Set("hasCublas", Napi::Function::New(env, HasCublas, "hasCublas"));
  exports.Set("delay", Napi::Function::New(env, Delay, "delay"));
  exports.Set("timeEmptyLaunches", Napi::Function::New(env, TimeEmptyLaunches, "timeEmptyLaunches"));
}

}  // namespace marlin_addon
