#include "gptq_quantize.h"

#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>

#include "capture.h"
#include "device_buffer.h"
#include "errors.h"
#include "kernel_args.h"
#include "quantize.h"
#include "stream.h"

namespace marlin_addon {
namespace {

marlin::Act DtypeArg(Napi::Env env, Napi::Value value, const char* name) {
  const std::string d = value.IsString() ? value.As<Napi::String>().Utf8Value() : std::string();
  if (d == ActName(marlin::Act::kF16)) return marlin::Act::kF16;
  if (d == ActName(marlin::Act::kBF16)) return marlin::Act::kBF16;
  throw MakeError(env, "BAD_DTYPE", std::string("Expected 'float16' or 'bfloat16' for ") + name);
}

// { n, k, inputDtype, scaleDtype, bits, groupSize, zeroPoints, zeroWordOffset }, checked by the launcher's rules.
marlin::GptqQuantizeProblem ProblemArg(Napi::Env env, Napi::Object d) {
  marlin::GptqQuantizeProblem p;
  p.n = IntArg(env, d.Get("n"), "n");
  p.k = IntArg(env, d.Get("k"), "k");
  p.input = DtypeArg(env, d.Get("inputDtype"), "inputDtype");
  p.scale = DtypeArg(env, d.Get("scaleDtype"), "scaleDtype");
  p.bits = IntArg(env, d.Get("bits"), "bits");
  p.group_size = IntArg(env, d.Get("groupSize"), "groupSize");
  Napi::Value zp = d.Get("zeroPoints");
  if (!zp.IsBoolean()) throw MakeError(env, "BAD_ARGUMENT", "Expected a boolean for zeroPoints");
  p.zero_points = zp.As<Napi::Boolean>().Value();
  Napi::Value offset = d.Get("zeroWordOffset");
  const double o = offset.IsNumber() ? offset.As<Napi::Number>().DoubleValue() : -1;
  if (!(o >= 0 && o <= 4294967295.0) || o != static_cast<double>(static_cast<std::uint32_t>(o)))
    throw MakeError(env, "BAD_ARGUMENT", "Expected an unsigned 32-bit integer for zeroWordOffset");
  p.zero_word_offset = static_cast<std::uint32_t>(o);
  if (const char* why = marlin::check_gptq_quantize(p))
    throw MakeError(env, "BAD_SHAPE",
                    std::string(why) + " (n=" + std::to_string(p.n) + ", k=" + std::to_string(p.k) +
                        ", bits=" + std::to_string(p.bits) + ", groupSize=" + std::to_string(p.group_size) + ")");
  return p;
}

struct Sizes {
  std::uint64_t weights, qweight, qzeros, scales, g_idx, zeros, findings;
};

// Byte sizes of the input and of every output.
Sizes SizesOf(const marlin::GptqQuantizeProblem& p) {
  const std::uint64_t n = p.n, k = p.k, groups = marlin::gptq_groups(p), pf = 32 / p.bits;
  return {n * k * 2, k / pf * n * 4, groups * (n / pf) * 4, groups * n * 2, k * 4, groups * n, 2 * 8};
}

// The start of device buffer `key` of the descriptor, on `device`, holding at least `bytes`.
void* Region(Napi::Env env, Napi::Object d, const char* key, int device, std::uint64_t bytes) {
  DeviceBuffer* b = DeviceBuffer::FromValue(env, d.Get(key), key);
  if (b->device() != device)
    throw MakeError(env, "BAD_ARGUMENT",
                    std::string(key) + " is on device " + std::to_string(b->device()) + " but the stream on device " +
                        std::to_string(device));
  return b->Region(env, 0, bytes, key);
}

// gptqQuantize({ weights, qweight, qzeros, scales, gIdx, zeros, findings, ...problem }, stream)
Napi::Value GptqQuantize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw MakeError(env, "BAD_ARGUMENT", "Expected a descriptor object for gptqQuantize");
  Napi::Object d = info[0].As<Napi::Object>();
  const marlin::GptqQuantizeProblem p = ProblemArg(env, d);
  Stream* stream = Stream::FromValue(env, info[1], "stream");
  RequireNotCapturing(env, "gptqQuantize()");
  const int device = stream->device();
  const Sizes s = SizesOf(p);
  marlin::GptqQuantizeOutputs out;
  const auto* weights = static_cast<const std::uint16_t*>(Region(env, d, "weights", device, s.weights));
  out.qweight = static_cast<std::int32_t*>(Region(env, d, "qweight", device, s.qweight));
  out.qzeros = static_cast<std::int32_t*>(Region(env, d, "qzeros", device, s.qzeros));
  out.scales = static_cast<std::uint16_t*>(Region(env, d, "scales", device, s.scales));
  out.g_idx = static_cast<std::int32_t*>(Region(env, d, "gIdx", device, s.g_idx));
  out.zeros = static_cast<std::uint8_t*>(Region(env, d, "zeros", device, s.zeros));
  out.findings = static_cast<std::uint64_t*>(Region(env, d, "findings", device, s.findings));
  CheckCuda(env, cudaSetDevice(device), "cudaSetDevice(" + std::to_string(device) + ")");
  CheckCuda(env, marlin::gptq_quantize(weights, p, out, stream->handle()),
            "GPTQ quantize launch (n=" + std::to_string(p.n) + ", k=" + std::to_string(p.k) + ")");
  return env.Undefined();
}

// A new typed array of `bytes` bytes of T.
template <class T>
Napi::TypedArrayOf<T> NewArray(Napi::Env env, std::uint64_t bytes) {
  return Napi::TypedArrayOf<T>::New(env, static_cast<std::size_t>(bytes / sizeof(T)));
}

// gptqQuantizeHost({ weights: Uint16Array, ...problem }): { qweight, qzeros, scales, gIdx, badWeight, badScale }
Napi::Value GptqQuantizeHost(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw MakeError(env, "BAD_ARGUMENT", "Expected a descriptor object for gptqQuantizeHost");
  Napi::Object d = info[0].As<Napi::Object>();
  const marlin::GptqQuantizeProblem p = ProblemArg(env, d);
  const Sizes s = SizesOf(p);
  Napi::Value w = d.Get("weights");
  if (!w.IsTypedArray() || w.As<Napi::TypedArray>().TypedArrayType() != napi_uint16_array)
    throw MakeError(env, "BAD_DTYPE", "Expected a Uint16Array of 16-bit float bit patterns for weights");
  Napi::Uint16Array weights = w.As<Napi::Uint16Array>();
  if (weights.ByteLength() != s.weights)
    throw MakeError(env, "BAD_SHAPE",
                    "Expected " + std::to_string(s.weights / 2) + " weights ([n, k]) but received " +
                        std::to_string(weights.ElementLength()));
  Napi::Int32Array qweight = NewArray<std::int32_t>(env, s.qweight);
  Napi::Int32Array qzeros = NewArray<std::int32_t>(env, s.qzeros);
  Napi::Uint16Array scales = NewArray<std::uint16_t>(env, s.scales);
  Napi::Int32Array g_idx = NewArray<std::int32_t>(env, s.g_idx);
  Napi::Uint8Array zeros = NewArray<std::uint8_t>(env, s.zeros);
  std::uint64_t findings[2];
  const marlin::GptqQuantizeOutputs out{qweight.Data(), qzeros.Data(), scales.Data(),
                                        g_idx.Data(),   zeros.Data(),  findings};
  if (!marlin::gptq_quantize_host(weights.Data(), p, out))
    throw MakeError(env, "BAD_ARGUMENT", "gptqQuantizeHost: arguments refused by the quantizer");
  Napi::Object result = Napi::Object::New(env);
  result.Set("qweight", qweight);
  result.Set("qzeros", qzeros);
  result.Set("scales", scales);
  result.Set("gIdx", g_idx);
  // Indices are below n * k < 2^53: exact as JS numbers; -1 for none.
  result.Set("badWeight", findings[0] == marlin::kNoFinding ? -1.0 : static_cast<double>(findings[0]));
  result.Set("badScale", findings[1] == marlin::kNoFinding ? -1.0 : static_cast<double>(findings[1]));
  return result;
}

}  // namespace

void InitGptqQuantize(Napi::Env env, Napi::Object exports) {
  exports.Set("gptqQuantize", Napi::Function::New(env, GptqQuantize, "gptqQuantize"));
  exports.Set("gptqQuantizeHost", Napi::Function::New(env, GptqQuantizeHost, "gptqQuantizeHost"));
}

}  // namespace marlin_addon
