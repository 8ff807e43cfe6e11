// Gemm: one quantized layer's side of a GEMM, described once (weights,
// scales, zero points, act-order rows, shape, format) and checked once, so
// that each call passes only the activations, the output and the stream.
//
//   new Gemm({ weights, scales, zeros, rows, n, k, inputK, format })
//   gemm.run(x, out, workspace, stream, m, scratch?, overrides?)
//   gemm.plan(m, overrides?)              the plan run() would follow
//   gemm.dequantize(out, stream)          [inputK, n] values, rows in input order
//
// `rows` (int32 [k], act-order only): kernel row r holds input row rows[r]
// (-1: a padding row of zero weight); run() then gathers x's columns into
// `scratch` ([m, k], 16-bit) first.
#pragma once

#include <napi.h>

#include "gemm.h"

namespace marlin_addon {

class DeviceBuffer;
class Stream;

class GemmLayer : public Napi::ObjectWrap<GemmLayer> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit GemmLayer(const Napi::CallbackInfo& info);

 private:
  Napi::Value Run(const Napi::CallbackInfo& info);
  Napi::Value PlanFor(const Napi::CallbackInfo& info);
  Napi::Value Dequantize(const Napi::CallbackInfo& info);

  // The live Stream in `value`, on the layer's device.
  Stream* StreamOnLayerDevice(Napi::Env env, Napi::Value value) const;
  // The held buffer, checked live (the TS layer owns and may dispose it).
  DeviceBuffer* Held(Napi::Env env, const Napi::ObjectReference& ref, const char* name) const;
  std::string Context(int m, const marlin::Overrides& o) const;
  // The plan of m rows on the layer's (current) device; throws what it cannot run.
  marlin::Plan PlanOrThrow(Napi::Env env, int m, const marlin::Overrides& overrides) const;

  Napi::ObjectReference weights_;
  Napi::ObjectReference scales_;
  Napi::ObjectReference zeros_;  // empty without zero points
  Napi::ObjectReference rows_;   // empty without act-order
  marlin::Format format_;
  int device_ = 0;
  int n_ = 0;
  int k_ = 0;        // kernel rows (a multiple of 128; act-order may pad)
  int input_k_ = 0;  // columns of x
};

}  // namespace marlin_addon
