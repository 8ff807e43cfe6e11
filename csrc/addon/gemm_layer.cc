#include "gemm_layer.h"

#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>
#include <utility>

#include "capture.h"
#include "dequantize.h"
#include "device_buffer.h"
#include "device_info.h"
#include "errors.h"
#include "gemm_call.h"
#include "kernel_args.h"
#include "scaled_zeros.h"
#include "state.h"
#include "stream.h"
#include "unwrap.h"

namespace marlin_addon {
namespace {

std::uint64_t ScaleRows(const marlin::Format& f, int k) {
  return f.group_size > 0 ? static_cast<std::uint64_t>(k / f.group_size) : 1;
}

// The live buffer in `value`, on `device`.
DeviceBuffer* BufferOnDevice(Napi::Env env, Napi::Value value, const char* name, int device) {
  DeviceBuffer* b = DeviceBuffer::FromValue(env, value, name);
  if (b->device() != device)
    throw MakeError(env, "BAD_ARGUMENT",
                    std::string(name) + " is on device " + std::to_string(b->device()) + " but the layer on device " +
                        std::to_string(device));
  return b;
}

// The start of the buffer in `value`, on `device`, checked to hold `bytes` bytes.
void* SizedRegion(Napi::Env env, Napi::Value value, const char* name, int device, std::uint64_t bytes) {
  return BufferOnDevice(env, value, name, device)->Region(env, 0, bytes, name);
}

}  // namespace

void GemmLayer::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "Gemm",
                                    {
                                        InstanceMethod<&GemmLayer::Run>("run"),
                                        InstanceMethod<&GemmLayer::Bind>("bind"),
                                        InstanceMethod<&GemmLayer::PlanFor>("plan"),
                                        InstanceMethod<&GemmLayer::PrepareKernels>("prepareKernels"),
                                        InstanceMethod<&GemmLayer::Dequantize>("dequantize"),
                                        InstanceMethod<&GemmLayer::TimeBareLaunches>("timeBareLaunches"),
                                    });
  exports.Set("Gemm", ctor);
}

GemmLayer::GemmLayer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GemmLayer>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw MakeError(env, "BAD_ARGUMENT", "Expected a layer descriptor object for Gemm");
  Napi::Object d = info[0].As<Napi::Object>();
  format_ = FormatArg(env, d.Get("format"), "format");
  n_ = IntArg(env, d.Get("n"), "n");
  k_ = IntArg(env, d.Get("k"), "k");
  input_k_ = IntArg(env, d.Get("inputK"), "inputK");
  const marlin::Status status = marlin::check_problem(n_, k_, format_);
  if (status != marlin::Status::kOk)
    ThrowStatus(env, status, "n=" + std::to_string(n_) + ", k=" + std::to_string(k_) + ", " + DescribeFormat(format_),
                format_, marlin::Target{}, false);
  const bool act_order = !d.Get("rows").IsUndefined() && !d.Get("rows").IsNull();
  if (input_k_ <= 0 || (!act_order && input_k_ != k_) || input_k_ > k_)
    throw MakeError(env, "BAD_SHAPE",
                    "inputK=" + std::to_string(input_k_) + " must equal k=" + std::to_string(k_) +
                        " (or be at most k with act-order rows)");

  DeviceBuffer* w = DeviceBuffer::FromValue(env, d.Get("weights"), "weights");
  device_ = w->device();
  const std::uint64_t n = n_, k = k_;
  // Each buffer checked to hold what the kernels read, then kept.
  auto keep = [&](const char* name, std::uint64_t bytes, Napi::ObjectReference* ref) {
    SizedRegion(env, d.Get(name), name, device_, bytes);
    *ref = Napi::Persistent(d.Get(name).As<Napi::Object>());
    return DeviceBuffer::FromValue(env, ref->Value(), name);
  };
  weights_ = keep("weights", k * n * format_.bits / 8, &weights_ref_);
  scales_ = keep("scales", ScaleRows(format_, k_) * n * 2, &scales_ref_);
  if (format_.zero_points) zeros_ = keep("zeros", ScaleRows(format_, k_) * n, &zeros_ref_);
  if (act_order) rows_ = keep("rows", k * 4, &rows_ref_);
  const bool scaled = !d.Get("scaledZeros").IsUndefined() && !d.Get("scaledZeros").IsNull();
  if (scaled != marlin::uses_scaled_zeros(format_))
    throw MakeError(env, "BAD_ARGUMENT",
                    std::string("scaledZeros: ") +
                        (scaled ? "given for a format that has none (" : "missing: this format runs on them (") +
                        DescribeFormat(format_) + ")");
  if (scaled) {
    // Made here, on the stream the layer's arrays were uploaded on, once.
    Stream* stream = Stream::FromValue(env, d.Get("stream"), "stream");
    if (stream->device() != device_)
      throw MakeError(env, "BAD_ARGUMENT",
                      "the stream is on device " + std::to_string(stream->device()) + " but the layer on device " +
                          std::to_string(device_));
    RequireNotCapturing(env, "building a layer with zero points");
    scaled_zeros_ = keep("scaledZeros", ScaleRows(format_, k_) * n * 2, &scaled_zeros_ref_);
    CheckCuda(env, cudaSetDevice(device_), "cudaSetDevice");
    CheckCuda(env,
              marlin::scale_zeros(scales_->Region(env, 0, 0, "scales"), zeros_->Region(env, 0, 0, "zeros"),
                                  scaled_zeros_->Region(env, 0, 0, "scaledZeros"),
                                  static_cast<int>(ScaleRows(format_, k_)), n_, format_, stream->handle()),
              "scaled zero points launch");
  }
  // Make the device's cache-policy descriptor now, not in the first call,
  // which may be inside a CUDA graph capture (where synchronizing is illegal).
  CheckCuda(env, marlin::prepare_evict_first(device_), "cache-policy probe on device " + std::to_string(device_));
}

Stream* GemmLayer::StreamOnLayerDevice(Napi::Env env, Napi::Value value) const {
  Stream* stream = Stream::FromValue(env, value, "stream");
  if (stream->device() != device_)
    throw MakeError(env, "BAD_ARGUMENT",
                    "the stream is on device " + std::to_string(stream->device()) + " but the layer on device " +
                        std::to_string(device_));
  return stream;
}

DeviceBuffer* GemmLayer::Live(Napi::Env env, DeviceBuffer* held, const char* name) {
  if (held && held->disposed()) throw MakeError(env, "DISPOSED", std::string(name) + " were disposed");
  return held;
}

void GemmLayer::UseHeld(Stream* stream) const {
  for (const DeviceBuffer* b : {weights_, scales_, zeros_, scaled_zeros_, rows_})
    if (b) stream->Use(b);
}

std::string GemmLayer::Context(int m, const marlin::Overrides& o) const {
  std::string s = "m=" + std::to_string(m) + ", n=" + std::to_string(n_) + ", k=" + std::to_string(k_) + ", " +
                  DescribeFormat(format_);
  if (o.tile_k || o.tile_n) s += ", tile " + std::to_string(o.tile_k) + "x" + std::to_string(o.tile_n);
  if (o.stages) s += ", stages " + std::to_string(o.stages);
  if (o.sms) s += ", sms " + std::to_string(o.sms);
  s += ", maxPar " + std::to_string(o.max_par);
  if (o.splits) s += ", splits " + std::to_string(o.splits);
  if (o.stream_k != -1) s += o.stream_k == 1 ? ", streamK" : ", streamK false";
  return s;
}

GemmLayer::CallArgs GemmLayer::ArgsOf(const Napi::CallbackInfo& info) {
  return CallArgs{info[0], info[1], info[2], info[3], info[4], info[5], info[6]};
}

// The arguments of run(), bind() and timeBareLaunches(), checked:
// (x, out, workspace, stream, m, scratch?, overrides?).
GemmLayer::Call GemmLayer::Prepare(Napi::Env env, const CallArgs& a) const {
  Call call;
  call.stream = StreamOnLayerDevice(env, a.stream);
  const int m = IntArg(env, a.m, "m");
  if (m < 0) throw MakeError(env, "BAD_SHAPE", "m must be >= 0 (m=" + std::to_string(m) + ")");
  const std::uint64_t M = m, N = n_, K = k_, IK = input_k_;
  const std::uint64_t act_bytes = 2;

  marlin::GemmArgs& args = call.args;
  args.m = m;
  args.n = n_;
  args.k = k_;
  args.format = format_;
  args.overrides = OverridesArg(env, a.overrides);
  call.x = BufferOnDevice(env, a.x, "x", device_);
  call.out = BufferOnDevice(env, a.out, "out", device_);
  call.workspace = BufferOnDevice(env, a.workspace, "workspace", device_);
  call.x_data = call.x->Region(env, 0, M * IK * act_bytes, "x");
  args.c = call.out->Region(env, 0, M * N * act_bytes, "out");
  args.workspace = call.workspace->Region(env, 0, call.workspace->bytes(), "workspace");
  args.workspace_bytes = call.workspace->bytes();
  args.b = Live(env, weights_, "the layer's weights")->Region(env, 0, 0, "weights");
  args.scales = Live(env, scales_, "the layer's scales")->Region(env, 0, 0, "scales");
  if (DeviceBuffer* z = Live(env, zeros_, "the layer's zero points")) args.zeros = z->Region(env, 0, 0, "zeros");
  if (DeviceBuffer* z = Live(env, scaled_zeros_, "the layer's scaled zero points"))
    args.scaled_zeros = z->Region(env, 0, 0, "scaledZeros");
  if (Live(env, rows_, "the layer's act-order rows")) {
    call.scratch = BufferOnDevice(env, a.scratch, "scratch", device_);
    call.rows = reinterpret_cast<const int*>(rows_->Region(env, 0, 0, "rows"));
  }
  args.a = call.scratch ? call.scratch->Region(env, 0, M * K * act_bytes, "scratch") : call.x_data;
  return call;
}

void GemmLayer::Launch(Napi::Env env, const Call& call, const std::vector<marlin::PlannedLaunch>* planned) const {
  const marlin::GemmArgs& args = call.args;
  const std::pair<const DeviceBuffer*, const char*> used[] = {{call.x, "x"},
                                                              {call.out, "out"},
                                                              {call.workspace, "workspace"},
                                                              {call.scratch, "scratch"}};
  for (const auto& [b, name] : used)
    if (b && b->disposed()) throw MakeError(env, "DISPOSED", std::string(name) + " was disposed");
  Live(env, weights_, "the layer's weights");
  Live(env, scales_, "the layer's scales");
  Live(env, zeros_, "the layer's zero points");
  Live(env, scaled_zeros_, "the layer's scaled zero points");
  Live(env, rows_, "the layer's act-order rows");
  if (call.stream->disposed()) throw MakeError(env, "DISPOSED", "the stream was disposed");
  if (call.stream->capturing()) {
    for (const auto& [b, name] : used)
      if (b) call.stream->Use(b);
    UseHeld(call.stream);
  }
  MakeCurrent(env, device_);
  if (call.rows && args.m > 0) {
    PlanOrThrow(env, args.m, args.overrides);  // a bad override fails before anything is queued
    const cudaError_t e = marlin::gather_columns(call.x_data, call.rows, const_cast<void*>(args.a), args.m, input_k_,
                                                 k_, call.stream->handle());
    if (e != cudaSuccess) ThrowFailure(env, marlin::Status::kCudaError, e, "act-order gather launch", args);
  }
  if (planned) {
    const cudaError_t e = marlin::launch_planned(*planned, call.stream->handle());
    if (e != cudaSuccess) ThrowFailure(env, marlin::Status::kCudaError, e, "gemm launch", args);
    return;
  }
  cudaError_t cuda_error = cudaSuccess;
  const marlin::Status status = marlin::gemm(args, call.stream->handle(), &cuda_error);
  if (status != marlin::Status::kOk) ThrowFailure(env, status, cuda_error, "gemm launch", args);
}

void GemmLayer::ThrowFailure(Napi::Env env, marlin::Status status, cudaError_t cuda_error, const char* what,
                             const marlin::GemmArgs& args) const {
  const std::string context = std::string(what) + " (" + Context(args.m, args.overrides) + ")";
  if (status == marlin::Status::kCudaError) CheckCuda(env, cuda_error, context);
  marlin::Target target;
  int device = 0;
  marlin::current_target(&target, &device);
  ThrowStatus(env, status, Context(args.m, args.overrides), format_, target, ForcedChoice(args.overrides));
}

// run(x, out, workspace, stream, m, scratch?, overrides?)
Napi::Value GemmLayer::Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Launch(env, Prepare(env, ArgsOf(info)));
  return env.Undefined();
}

// bind(x, out, workspace, stream, m): a GemmCall of these arguments (default
// overrides), checked now; its run() queues what run() would.
Napi::Value GemmLayer::Bind(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (rows_) throw MakeError(env, "BAD_ARGUMENT", "bind() takes no act-order layer (its scratch buffer may grow)");
  const CallArgs a{info[0], info[1], info[2], info[3], info[4], env.Null(), env.Undefined()};
  return GemmCall::New(env, Value(), Prepare(env, a), a);
}

// timeBareLaunches(x, out, workspace, stream, m, scratch?, overrides?, calls, whole?):
// host nanoseconds per call of run()'s (first) GEMM kernel launched straight
// from C++, or with `whole` of the C++ launcher (marlin::time_launches), so
// that the bench can tell the addon's glue from the launcher's own cost.
Napi::Value GemmLayer::TimeBareLaunches(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Call call = Prepare(env, ArgsOf(info));
  const int calls = IntArg(env, info[7], "calls");
  const bool whole = info[8].ToBoolean().Value();
  if (call.args.m <= 0 || calls <= 0)
    throw MakeError(env, "BAD_ARGUMENT", "timeBareLaunches needs m > 0 and calls > 0");
  RequireNotCapturing(env, "timeBareLaunches()");
  CheckCuda(env, cudaSetDevice(device_), "cudaSetDevice");
  double ns = 0;
  cudaError_t cuda_error = cudaSuccess;
  const marlin::Status status = marlin::time_launches(call.args, call.stream->handle(), calls, whole, &ns, &cuda_error);
  if (status != marlin::Status::kOk) ThrowFailure(env, status, cuda_error, "timed launches", call.args);
  return Napi::Number::New(env, ns);
}

// plan(m, overrides?) on the layer's device
Napi::Value GemmLayer::PlanFor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int m = IntArg(env, info[0], "m");
  const marlin::Overrides overrides = OverridesArg(env, info[1]);
  CheckCuda(env, cudaSetDevice(device_), "cudaSetDevice");
  return PlanObject(env, PlanOrThrow(env, m, overrides));
}

// prepareKernels(maxM, overrides?) on the layer's device
Napi::Value GemmLayer::PrepareKernels(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int max_m = IntArg(env, info[0], "maxM");
  if (max_m < 1) throw MakeError(env, "BAD_ARGUMENT", "maxM must be at least 1 (maxM=" + std::to_string(max_m) + ")");
  const marlin::Overrides overrides = OverridesArg(env, info[1]);
  MakeCurrent(env, device_);
  cudaError_t cuda_error = cudaSuccess;
  int failed_m = 0;
  const marlin::Status status = marlin::prepare_kernels(max_m, n_, k_, format_, overrides, &failed_m, &cuda_error);
  if (status == marlin::Status::kCudaError)
    CheckCuda(env, cuda_error, "preparing the kernels (" + Context(failed_m, overrides) + ")");
  if (status != marlin::Status::kOk)
    PlanOrThrow(env, failed_m, overrides);  // throws what that batch size's plan refused
  return env.Undefined();
}

marlin::Plan GemmLayer::PlanOrThrow(Napi::Env env, int m, const marlin::Overrides& overrides) const {
  marlin::Target target;
  int device = 0;
  CheckCuda(env, marlin::current_target(&target, &device), "device attributes");
  marlin::Plan p;
  const marlin::Status status = marlin::plan(m, n_, k_, format_, target, overrides, &p);
  if (status != marlin::Status::kOk)
    ThrowStatus(env, status, Context(m, overrides), format_, target, ForcedChoice(overrides));
  return p;
}

// dequantize(out, stream): out is [inputK, n] in the activation type.
Napi::Value GemmLayer::Dequantize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Stream* stream = StreamOnLayerDevice(env, info[1]);
  const std::uint64_t N = n_, IK = input_k_;
  DeviceBuffer* outb = BufferOnDevice(env, info[0], "out", device_);
  void* out = outb->Region(env, 0, IK * N * 2, "out");
  DeviceBuffer* rows = Live(env, rows_, "the layer's act-order rows");
  DeviceBuffer* zeros = Live(env, zeros_, "the layer's zero points");
  stream->Use(outb);
  UseHeld(stream);
  CheckCuda(env, cudaSetDevice(device_), "cudaSetDevice");
  CheckCuda(env,
            marlin::dequantize_weights(Live(env, weights_, "the layer's weights")->Region(env, 0, 0, "weights"),
                                       Live(env, scales_, "the layer's scales")->Region(env, 0, 0, "scales"),
                                       zeros ? zeros->Region(env, 0, 0, "zeros") : nullptr,
                                       rows ? reinterpret_cast<const int*>(rows->Region(env, 0, 0, "rows")) : nullptr,
                                       out, k_, n_, input_k_, format_, stream->handle()),
            "dequantize launch");
  return env.Undefined();
}

}  // namespace marlin_addon
