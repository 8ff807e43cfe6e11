#include "gemm_binding.h"

#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>

#include "dequantize.h"
#include "device_buffer.h"
#include "errors.h"
#include "gemm.h"
#include "operands.h"
#include "stream.h"

namespace marlin_addon {
namespace {

const char* CodeForStatus(marlin::Status s) {
  switch (s) {
    case marlin::Status::kBadShape:
    case marlin::Status::kBadGroupSize:
      return "BAD_SHAPE";
    case marlin::Status::kCudaError:
      return "CUDA_ERROR";
    default:
      return "BAD_ARGUMENT";
  }
}

int Int(const Napi::CallbackInfo& info, int i) { return info[i].As<Napi::Number>().Int32Value(); }
struct Operand {
  int index;  // argument index of the buffer; its byte offset follows it
  const char* name;
  std::uint64_t bytes;
};

void* Resolve(Napi::Env env, const Napi::CallbackInfo& info, const Operand& op, const Stream* stream) {
  return OperandRegion(env, info, op.index, op.name, op.bytes, *stream);
}

// gemm(a, aOffset, b, bOffset, scales, scalesOffset, c, cOffset, workspace,
//      workspaceOffset, stream, m, n, k, groupSize, tileK, tileN, sms, maxPar,
//      stages)
// Buffers and offsets are bytes; the TS layer has validated shapes, so this
// re-checks only what keeps memory safe: every region inside its buffer,
// every buffer on the stream's device.
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Stream* stream = Stream::FromValue(env, info[10], "stream");
  marlin::GemmArgs args;
  args.m = Int(info, 11);
  args.n = Int(info, 12);
  args.k = Int(info, 13);
  args.group_size = Int(info, 14);
  args.tile_k = Int(info, 15);
  args.tile_n = Int(info, 16);
  args.sms = Int(info, 17);
  args.max_par = Int(info, 18);
  args.stages = info.Length() > 19 ? Int(info, 19) : 0;
  if (args.m < 0 || args.n <= 0 || args.k <= 0 || args.max_par < 1)
    throw MakeError(env, "BAD_SHAPE", "gemm: m=" + std::to_string(args.m) + ", n=" + std::to_string(args.n) +
                                          ", k=" + std::to_string(args.k) + ", maxPar=" + std::to_string(args.max_par));
  const std::uint64_t m = args.m, n = args.n, k = args.k;
  const std::uint64_t scale_rows = args.group_size > 0 ? k / args.group_size : 1;

  const Operand operands[] = {{0, "A", m * k * 2},
                              {2, "B", k * n / 2},
                              {4, "scales", scale_rows * n * 2},
                              {6, "C", m * n * 2}};
  void* ptrs[4];
  for (int i = 0; i < 4; ++i) ptrs[i] = Resolve(env, info, operands[i], stream);
  args.a = ptrs[0];
  args.b = ptrs[1];
  args.scales = ptrs[2];
  args.c = ptrs[3];
  // The workspace is the rest of its buffer from the offset; the launcher
  // checks it is large enough for this n, maxPar and the device's SMs.
  DeviceBuffer* ws = BufferOnStreamDevice(env, info[8], "workspace", *stream);
  const std::uint64_t ws_offset = ByteCount(env, info[9], "workspace offset");
  args.workspace_bytes = ws_offset <= ws->bytes() ? ws->bytes() - ws_offset : 0;
  args.workspace = ws->Region(env, ws_offset, args.workspace_bytes, "workspace");

  CheckCuda(env, cudaSetDevice(stream->device()), "cudaSetDevice");
  cudaError_t cuda_error = cudaSuccess;
  const marlin::Status status = marlin::gemm(args, stream->handle(), &cuda_error);
  if (status == marlin::Status::kOk) return env.Undefined();
  const std::string shape = " (m=" + std::to_string(args.m) + ", n=" + std::to_string(args.n) +
                            ", k=" + std::to_string(args.k) + ", groupSize=" + std::to_string(args.group_size) +
                            ", tile " + std::to_string(args.tile_k) + "x" + std::to_string(args.tile_n) +
                            (args.stages ? ", stages " + std::to_string(args.stages) : std::string()) + ")";
  if (status == marlin::Status::kCudaError) CheckCuda(env, cuda_error, std::string("gemm launch") + shape);
  throw MakeError(env, CodeForStatus(status), std::string("gemm: ") + marlin::status_message(status) + shape);
}

// dequantizeWeights(b, bOffset, scales, scalesOffset, out, outOffset, stream,
//                   k, n, groupSize): FP16 [k, n] row-major from the Marlin layout.
Napi::Value DequantizeWeights(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Stream* stream = Stream::FromValue(env, info[6], "stream");
  const int k = Int(info, 7);
  const int n = Int(info, 8);
  const int group_size = Int(info, 9);
  if (k <= 0 || n <= 0 || k % marlin::kKMultiple != 0 || n % marlin::kNMultiple != 0 ||
      (group_size != marlin::kGroupSize && group_size != -1))
    throw MakeError(env, "BAD_SHAPE", "dequantizeWeights: k=" + std::to_string(k) + ", n=" + std::to_string(n) +
                                          ", groupSize=" + std::to_string(group_size));
  const std::uint64_t K = k, N = n;
  const std::uint64_t scale_rows = group_size > 0 ? K / group_size : 1;
  const Operand operands[] = {{0, "B", K * N / 2}, {2, "scales", scale_rows * N * 2}, {4, "out", K * N * 2}};
  void* ptrs[3];
  for (int i = 0; i < 3; ++i) ptrs[i] = Resolve(env, info, operands[i], stream);
  CheckCuda(env, cudaSetDevice(stream->device()), "cudaSetDevice");
  CheckCuda(env, marlin::dequantize_weights(ptrs[0], ptrs[1], ptrs[2], k, n, group_size, stream->handle()),
            "dequantizeWeights launch");
  return env.Undefined();
}

Napi::Value Variants(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array list = Napi::Array::New(env);
  for (int i = 0; i < marlin::variant_count(); ++i) {
    const marlin::VariantInfo v = marlin::variant_info(i);
    Napi::Object o = Napi::Object::New(env);
    o.Set("mBlocks", v.m_blocks);
    o.Set("tileK", v.tile_k);
    o.Set("tileN", v.tile_n);
    o.Set("groupSize", v.group_size);
    o.Set("stages", v.stages);
    o.Set("sharedMemoryBytes", v.smem_bytes);
    list.Set(i, o);
  }
  return list;
}

// workspaceBytes(n, maxPar, smCount)
Napi::Value WorkspaceBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(),
                           static_cast<double>(marlin::workspace_bytes(Int(info, 0), Int(info, 1), Int(info, 2))));
}

}  // namespace

void InitGemm(Napi::Env env, Napi::Object exports) {
  exports.Set("gemm", Napi::Function::New(env, Gemm, "gemm"));
  exports.Set("variants", Napi::Function::New(env, Variants, "variants"));
  exports.Set("dequantizeWeights", Napi::Function::New(env, DequantizeWeights, "dequantizeWeights"));
  exports.Set("workspaceBytes", Napi::Function::New(env, WorkspaceBytes, "workspaceBytes"));
}

}  // namespace marlin_addon
