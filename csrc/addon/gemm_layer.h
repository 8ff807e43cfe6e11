// Gemm: one quantized layer's side of a GEMM, described once (weights,
// scales, zero points, act-order rows, shape, format) and checked once, so
// that each call passes only the activations, the output and the stream.
//
//   new Gemm({ weights, scales, zeros, scaledZeros, rows, n, k, inputK, format, stream })
//                                         grouped zero-point formats (marlin::uses_scaled_zeros)
//                                         also take scaledZeros, [groups, n] in the activation
//                                         type, which it fills on `stream` (scaled_zeros.h)
//   gemm.run(x, out, workspace, stream, m, scratch?, overrides?)
//   gemm.bind(x, out, workspace, stream, m)
//                                         a GemmCall: run() of those arguments, checked
//                                         once (forward()'s repeated calls; no act-order)
//   gemm.prepareKernels(maxM, overrides?)
//                                         what the first launch of each kernel run() could
//                                         pick for 1..maxM rows does once, done now
//   gemm.plan(m, overrides?)              the plan run() would follow
//   gemm.dequantize(out, stream)          [inputK, n] values, rows in input order
//   gemm.timeBareLaunches(x, out, workspace, stream, m, scratch, overrides, calls, whole)
//                                         host ns per launch of run()'s kernel from C++
//                                         (whole: per call of the launcher, marlin::gemm)
//
// `rows` (int32 [k], act-order only): kernel row r holds input row rows[r]
// (-1: a padding row of zero weight); run() then gathers x's columns into
// `scratch` ([m, k], 16-bit) first.
#pragma once

#include <cuda_runtime_api.h>
#include <napi.h>

#include <string>
#include <vector>

#include "gemm.h"

namespace marlin_addon {

class DeviceBuffer;
class Stream;
class GemmCall;

class GemmLayer : public Napi::ObjectWrap<GemmLayer> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit GemmLayer(const Napi::CallbackInfo& info);

 private:
  friend class GemmCall;

  Napi::Value Run(const Napi::CallbackInfo& info);
  Napi::Value Bind(const Napi::CallbackInfo& info);
  Napi::Value PlanFor(const Napi::CallbackInfo& info);
  Napi::Value PrepareKernels(const Napi::CallbackInfo& info);
  Napi::Value Dequantize(const Napi::CallbackInfo& info);
  Napi::Value TimeBareLaunches(const Napi::CallbackInfo& info);

  // The arguments of run(), as JS passed them.
  struct CallArgs {
    Napi::Value x, out, workspace, stream, m, scratch, overrides;
  };
  static CallArgs ArgsOf(const Napi::CallbackInfo& info);
  // One call's checked arguments: the kernel's, the stream, the buffers
  // they point into and, for act-order, x and the row map (args.a is then
  // the gather's output).
  struct Call {
    marlin::GemmArgs args;
    Stream* stream = nullptr;
    DeviceBuffer* x = nullptr;
    DeviceBuffer* out = nullptr;
    DeviceBuffer* workspace = nullptr;
    DeviceBuffer* scratch = nullptr;  // act-order only
    const void* x_data = nullptr;
    const int* rows = nullptr;
  };
  Call Prepare(Napi::Env env, const CallArgs& a) const;
  // Queues a prepared call: checks that what it points into is still live
  // (a GemmCall runs long after its Prepare), registers it with a capturing
  // stream, then launches the gather (act-order) and the GEMM, or, given
  // `planned` (a GemmCall's, made by marlin::plan_launches; no act-order),
  // those launches.
  void Launch(Napi::Env env, const Call& call, const std::vector<marlin::PlannedLaunch>* planned = nullptr) const;
  [[noreturn]] void ThrowFailure(Napi::Env env, marlin::Status status, cudaError_t cuda_error, const char* what,
                                 const marlin::GemmArgs& args) const;

  // The live Stream in `value`, on the layer's device.
  Stream* StreamOnLayerDevice(Napi::Env env, Napi::Value value) const;
  // A held buffer, checked live (the TS layer owns and may dispose it); null stays null.
  static DeviceBuffer* Live(Napi::Env env, DeviceBuffer* held, const char* name);
  // Every buffer the layer's own work reads, registered with `stream` (capture.h).
  void UseHeld(Stream* stream) const;
  std::string Context(int m, const marlin::Overrides& o) const;
  // The plan of m rows on the layer's (current) device; throws what it cannot run.
  marlin::Plan PlanOrThrow(Napi::Env env, int m, const marlin::Overrides& overrides) const;

  // The layer's buffers: references keep their JS objects (so the native
  // objects below) alive; the pointers spare each call an unwrap.
  Napi::ObjectReference weights_ref_, scales_ref_, zeros_ref_, scaled_zeros_ref_, rows_ref_;
  DeviceBuffer* weights_ = nullptr;
  DeviceBuffer* scales_ = nullptr;
  DeviceBuffer* zeros_ = nullptr;         // null without zero points
  DeviceBuffer* scaled_zeros_ = nullptr;  // null unless the format uses scaled zero points
  DeviceBuffer* rows_ = nullptr;   // null without act-order
  marlin::Format format_;
  int device_ = 0;
  int n_ = 0;
  int k_ = 0;        // kernel rows (a multiple of 128; act-order may pad)
  int input_k_ = 0;  // columns of x
};

}  // namespace marlin_addon
