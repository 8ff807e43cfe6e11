#include "kernel_info.h"

#include <cmath>
#include <string>
#include <vector>

#include "errors.h"
#include "gemm.h"
#include "kernel_args.h"
#include "kernel_table.h"
#include "launch_options.h"

namespace marlin_addon {
namespace {

Napi::Value Variants(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array list = Napi::Array::New(env);
  uint32_t i = 0;
  for (const marlin::Variant& v : marlin::compiled_variants()) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("family", FamilyName(v.family));
    o.Set("dtype", ActName(v.format.act));
    o.Set("bits", v.format.bits);
    o.Set("groupSize", v.format.group_size);
    o.Set("zeroPoints", v.format.zero_points);
    o.Set("tileK", v.tile_k);
    o.Set("stageK", v.stage_k);
    o.Set("tileN", v.tile_n);
    o.Set("mBlocks", v.m_blocks);
    o.Set("arch", v.arch);
    o.Set("stages", v.stages);
    o.Set("sharedMemoryBytes", v.smem_bytes);
    o.Set("evictFirst", v.evict_first);
    o.Set("streamK", v.stream_k);
    list.Set(i++, o);
  }
  return list;
}

// build(): the architectures compiled in and the shape rules.
Napi::Value Build(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  Napi::Array archs = Napi::Array::New(env);
  uint32_t i = 0;
  for (int a : marlin::table::kBuiltArchs) archs.Set(i++, a);
  o.Set("archs", archs);
  o.Set("ptxArch", marlin::table::kPtxArch);
  o.Set("kMultiple", marlin::table::kKMultiple);
  o.Set("nMultiple", marlin::table::kNMultiple);
  o.Set("rowsPerProblem", marlin::table::kRowsPerProblem);
  o.Set("maxParLimit", marlin::table::kMaxParLimit);
  o.Set("nvcc", marlin::nvcc_version());
  o.Set("evictFirstOption", marlin::evict_first_option());
  return o;
}

// codeArch(arch): which of this build's code runs on compute capability arch (0: none).
Napi::Value CodeArch(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), marlin::code_arch(IntArg(info.Env(), info[0], "arch")));
}

// plan({ m, n, k, format }, { arch, smemOptin, smCount }, overrides?)
Napi::Value Plan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw MakeError(env, "BAD_ARGUMENT", "Expected a problem { m, n, k, format } for plan");
  Napi::Object problem = info[0].As<Napi::Object>();
  const int m = IntArg(env, problem.Get("m"), "m");
  const int n = IntArg(env, problem.Get("n"), "n");
  const int k = IntArg(env, problem.Get("k"), "k");
  const marlin::Format format = FormatArg(env, problem.Get("format"), "format");
  const marlin::Target target = TargetArg(env, info[1]);
  const marlin::Overrides overrides = OverridesArg(env, info[2]);
  marlin::Plan p;
  const marlin::Status status = marlin::plan(m, n, k, format, target, overrides, &p);
  if (status != marlin::Status::kOk)
    ThrowStatus(env, status,
                "m=" + std::to_string(m) + ", n=" + std::to_string(n) + ", k=" + std::to_string(k) + ", " +
                    DescribeFormat(format) + ", sm_" + std::to_string(target.arch),
                format, target, ForcedChoice(overrides));
  return PlanObject(env, p);
}

// tileRules(arch): the rules of arch (0: default), or null when it has none of its own.
Napi::Value TileRules(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int arch = IntArg(env, info[0], "arch");
  std::vector<marlin::TileRule> rules(64);
  const int count = marlin::tile_rules(arch, rules.data(), static_cast<int>(rules.size()));
  if (count == 0) return env.Null();
  rules.resize(static_cast<std::size_t>(count));
  marlin::tile_rules(arch, rules.data(), count);
  Napi::Array list = Napi::Array::New(env);
  for (int i = 0; i < count; ++i) {
    Napi::Object r = Napi::Object::New(env);
    r.Set("maxBatch",
          rules[i].max_batch == 0 ? Napi::Number::New(env, INFINITY) : Napi::Number::New(env, rules[i].max_batch));
    r.Set("minN", rules[i].min_n);
    r.Set("tileK", rules[i].tile_k);
    r.Set("tileN", rules[i].tile_n);
    list.Set(static_cast<uint32_t>(i), r);
  }
  return list;
}

// setTileRules(arch, rules | null): null removes arch's own set (arch 0: restores the default).
Napi::Value SetTileRules(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int arch = IntArg(env, info[0], "arch");
  std::vector<marlin::TileRule> rules;
  if (!info[1].IsNull() && !info[1].IsUndefined()) {
    if (!info[1].IsArray()) throw MakeError(env, "BAD_ARGUMENT", "Expected an array of tile rules");
    Napi::Array list = info[1].As<Napi::Array>();
    for (uint32_t i = 0; i < list.Length(); ++i) {
      Napi::Value item = list.Get(i);
      if (!item.IsObject()) throw MakeError(env, "BAD_ARGUMENT", "Expected tile rule objects");
      Napi::Object r = item.As<Napi::Object>();
      const double max_batch = r.Get("maxBatch").As<Napi::Number>().DoubleValue();
      marlin::TileRule rule;
      rule.max_batch = max_batch == INFINITY ? 0 : IntArg(env, r.Get("maxBatch"), "maxBatch");
      rule.min_n = r.Get("minN").IsUndefined() ? 0 : IntArg(env, r.Get("minN"), "minN");
      rule.tile_k = IntArg(env, r.Get("tileK"), "tileK");
      rule.tile_n = IntArg(env, r.Get("tileN"), "tileN");
      rules.push_back(rule);
    }
  }
  if (marlin::set_tile_rules(arch, rules.data(), static_cast<int>(rules.size())) != marlin::Status::kOk)
    throw MakeError(env, "BAD_ARGUMENT",
                    "tile rules need positive tiles, batches and widths, and a last rule for every batch and width");
  return env.Undefined();
}

Napi::Value ResetTileRules(const Napi::CallbackInfo& info) {
  marlin::reset_tile_rules();
  return info.Env().Undefined();
}

// workspaceBytes(n, maxPar, smCount)
Napi::Value WorkspaceBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Napi::Number::New(env, static_cast<double>(marlin::workspace_bytes(IntArg(env, info[0], "n"),
                                                                            IntArg(env, info[1], "maxPar"),
                                                                            IntArg(env, info[2], "smCount"))));
}

// setting(on?): a process-wide launch setting, set when `on` is a boolean; returns it.
template <bool (*Get)(), void (*Set)(bool)>
Napi::Value LaunchSetting(const Napi::CallbackInfo& info) {
  if (info.Length() > 0 && info[0].IsBoolean()) Set(info[0].As<Napi::Boolean>().Value());
  return Napi::Boolean::New(info.Env(), Get());
}

}  // namespace

void InitKernelInfo(Napi::Env env, Napi::Object exports) {
  exports.Set("variants", Napi::Function::New(env, Variants, "variants"));
  exports.Set("build", Napi::Function::New(env, Build, "build"));
  exports.Set("codeArch", Napi::Function::New(env, CodeArch, "codeArch"));
  exports.Set("plan", Napi::Function::New(env, Plan, "plan"));
  exports.Set("tileRules", Napi::Function::New(env, TileRules, "tileRules"));
  exports.Set("setTileRules", Napi::Function::New(env, SetTileRules, "setTileRules"));
  exports.Set("resetTileRules", Napi::Function::New(env, ResetTileRules, "resetTileRules"));
  exports.Set("workspaceBytes", Napi::Function::New(env, WorkspaceBytes, "workspaceBytes"));
  // The process-wide launch settings (launch_options.h): the GEMMs' (and the
  // gather's) programmatic dependent launch, the GEMMs' L2 streaming window.
  exports.Set("programmaticLaunch",
              Napi::Function::New(env, LaunchSetting<marlin::programmatic_launch, marlin::set_programmatic_launch>,
                                  "programmaticLaunch"));
  exports.Set("streamingWeights",
              Napi::Function::New(env, LaunchSetting<marlin::streaming_weights, marlin::set_streaming_weights>,
                                  "streamingWeights"));
}

}  // namespace marlin_addon
