#include "repack_binding.h"

#include <cuda_runtime_api.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "capture.h"
#include "device_buffer.h"
#include "errors.h"
#include "kernel_args.h"
#include "operands.h"
#include "repack.h"
#include "stream.h"

namespace marlin_addon {
namespace {

bool Absent(Napi::Value v) { return v.IsUndefined() || v.IsNull(); }

// The sizes of a descriptor { layout, bits, inputK, k, n, groupRows? }
// (pointers left null), checked by the kernels' own rules.
marlin::RepackArgs SizesArg(Napi::Env env, Napi::Value value) {
  if (!value.IsObject()) throw MakeError(env, "BAD_ARGUMENT", "Expected a repack descriptor object");
  Napi::Object d = value.As<Napi::Object>();
  marlin::RepackArgs a;
  Napi::Value layout = d.Get("layout");
  const std::string l = layout.IsString() ? layout.As<Napi::String>().Utf8Value() : std::string();
  if (l == "gptq")
    a.layout = marlin::SourceLayout::kGptq;
  else if (l == "awq")
    a.layout = marlin::SourceLayout::kAwq;
  else
    throw MakeError(env, "BAD_ARGUMENT", "Expected 'gptq' or 'awq' for the repack layout");
  a.bits = IntArg(env, d.Get("bits"), "bits");
  a.k_in = IntArg(env, d.Get("inputK"), "inputK");
  a.k = IntArg(env, d.Get("k"), "k");
  a.n = IntArg(env, d.Get("n"), "n");
  a.group_rows = Absent(d.Get("groupRows")) ? 0 : IntArg(env, d.Get("groupRows"), "groupRows");
  return a;
}

std::string Describe(const marlin::RepackArgs& a) {
  return std::string(a.layout == marlin::SourceLayout::kGptq ? "gptq" : "awq") + " " + std::to_string(a.bits) +
         "-bit, inputK=" + std::to_string(a.k_in) + ", k=" + std::to_string(a.k) + ", n=" + std::to_string(a.n) +
         (a.rows ? ", with rows" : "") +
         (a.zeros ? ", zero-point padding, groupRows=" + std::to_string(a.group_rows) : "");
}

void ThrowRepackStatus(Napi::Env env, marlin::RepackStatus status, const marlin::RepackArgs& a, cudaError_t cuda) {
  switch (status) {
    case marlin::RepackStatus::kOk: return;
    case marlin::RepackStatus::kBadBits:
      throw MakeError(env, "BAD_ARGUMENT", "repack: bits must be 4 or 8 (" + Describe(a) + ")");
    case marlin::RepackStatus::kBadPointer:
      throw MakeError(env, "BAD_ARGUMENT", "repack: the source and the output are required (" + Describe(a) + ")");
    case marlin::RepackStatus::kBadShape:
      throw MakeError(env, "BAD_SHAPE",
                      "repack: needs n a positive multiple of 64 and at most 65535 * 512, k a positive multiple of 16 "
                      "with k / 16 * n * bits / 2 below 2^31 output words, inputK > 0 (for gptq a multiple of 32 / "
                      "bits), inputK == k without rows, and with zero points groupRows > 0 dividing k (" +
                          Describe(a) + ")");
    case marlin::RepackStatus::kCudaError: CheckCuda(env, cuda, "repack launch (" + Describe(a) + ")"); return;
  }
}

// The kernel's checks of the sizes, before any buffer is looked at (their
// byte counts come from the sizes): stand-in pointers for the buffers the
// descriptor has, so that check_repack sees which are there.
void CheckSizes(Napi::Env env, marlin::RepackArgs a, Napi::Object d) {
  static std::uint32_t stand_in = 0;
  const bool rows = !Absent(d.Get("rows"));
  const bool zeros = !Absent(d.Get("zeros"));
  if (zeros && a.group_rows <= 0)
    throw MakeError(env, "BAD_ARGUMENT",
                    "repack: zero points (zeros) need groupRows, the rows of a kernel group (" + Describe(a) + ")");
  a.source = &stand_in;
  a.out = &stand_in;
  if (rows) a.rows = reinterpret_cast<const int*>(&stand_in);
  if (zeros) a.zeros = &stand_in;
  ThrowRepackStatus(env, marlin::check_repack(a), a, cudaSuccess);
}

// repackWeights({ ...sizes, source, out, rows, zeros }, stream)
Napi::Value RepackWeights(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  marlin::RepackArgs a = SizesArg(env, info[0]);
  Napi::Object d = info[0].As<Napi::Object>();
  CheckSizes(env, a, d);
  Stream* stream = Stream::FromValue(env, info[1], "stream");
  RequireNotCapturing(env, "repackWeights()");
  auto region = [&](const char* key, std::uint64_t bytes) -> void* {
    DeviceBuffer* b = BufferOnStreamDevice(env, d.Get(key), key, *stream);
    return b->Region(env, 0, bytes, key);
  };
  a.source = static_cast<const std::uint32_t*>(region("source", marlin::repack_source_bytes(a)));
  a.out = static_cast<std::uint32_t*>(region("out", marlin::repack_out_bytes(a)));
  if (!Absent(d.Get("rows"))) a.rows = static_cast<const int*>(region("rows", static_cast<std::uint64_t>(a.k) * 4));
  if (!Absent(d.Get("zeros")))
    a.zeros = static_cast<const std::uint32_t*>(
        region("zeros", static_cast<std::uint64_t>(a.k / a.group_rows) * static_cast<std::uint64_t>(a.n)));
  CheckCuda(env, cudaSetDevice(stream->device()), "cudaSetDevice");
  cudaError_t cuda = cudaSuccess;
  ThrowRepackStatus(env, marlin::repack_weights(a, stream->handle(), &cuda), a, cuda);
  return env.Undefined();
}

// An Int32Array argument of at least `bytes` bytes.
const std::uint32_t* HostWords(Napi::Env env, Napi::Value value, const char* name, std::uint64_t bytes) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw MakeError(env, "BAD_DTYPE", std::string("Expected an Int32Array for ") + name);
  Napi::Int32Array t = value.As<Napi::Int32Array>();
  if (t.ByteLength() < bytes)
    throw MakeError(env, "BAD_SHAPE",
                    std::string(name) + " holds " + std::to_string(t.ByteLength()) + " bytes but the repack reads " +
                        std::to_string(bytes));
  return reinterpret_cast<const std::uint32_t*>(t.Data());
}

// repackWeightsOnHost({ ...sizes, source, rows, zeros }): Int32Array [k / 16 * n * bits / 2]
Napi::Value RepackWeightsOnHost(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  marlin::RepackArgs a = SizesArg(env, info[0]);
  Napi::Object d = info[0].As<Napi::Object>();
  CheckSizes(env, a, d);
  a.source = HostWords(env, d.Get("source"), "source", marlin::repack_source_bytes(a));
  if (!Absent(d.Get("rows")))
    a.rows = reinterpret_cast<const int*>(HostWords(env, d.Get("rows"), "rows", static_cast<std::uint64_t>(a.k) * 4));
  if (!Absent(d.Get("zeros")))
    a.zeros = HostWords(env, d.Get("zeros"), "zeros", static_cast<std::uint64_t>(a.k / a.group_rows) * a.n);
  const std::uint64_t bytes = marlin::repack_out_bytes(a);
  Napi::Int32Array out = Napi::Int32Array::New(env, bytes / 4);
  a.out = reinterpret_cast<std::uint32_t*>(out.Data());
  ThrowRepackStatus(env, marlin::repack_weights_on_host(a), a, cudaSuccess);
  return out;
}

}  // namespace

void InitRepack(Napi::Env env, Napi::Object exports) {
  exports.Set("repackWeights", Napi::Function::New(env, RepackWeights, "repackWeights"));
  exports.Set("repackWeightsOnHost", Napi::Function::New(env, RepackWeightsOnHost, "repackWeightsOnHost"));
}

}  // namespace marlin_addon
