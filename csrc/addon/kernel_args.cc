#include "kernel_args.h"

#include <algorithm>
#include <set>

#include "errors.h"

namespace marlin_addon {
namespace {

Napi::Value Field(Napi::Object o, const char* key) { return o.Get(key); }

int OptionalInt(Napi::Env env, Napi::Object o, const char* key, int fallback) {
  Napi::Value v = o.Get(key);
  return v.IsUndefined() || v.IsNull() ? fallback : IntArg(env, v, key);
}

}  // namespace

int IntArg(Napi::Env env, Napi::Value value, const char* name) {
  if (!value.IsNumber()) throw MakeError(env, "BAD_ARGUMENT", std::string("Expected an integer for ") + name);
  const double d = value.As<Napi::Number>().DoubleValue();
  if (!(d >= -2147483648.0 && d <= 2147483647.0) || d != static_cast<double>(static_cast<int>(d)))
    throw MakeError(env, "BAD_ARGUMENT", std::string("Expected an integer for ") + name);
  return static_cast<int>(d);
}

marlin::Format FormatArg(Napi::Env env, Napi::Value value, const char* name) {
  if (!value.IsObject()) throw MakeError(env, "BAD_ARGUMENT", std::string("Expected a format object for ") + name);
  Napi::Object o = value.As<Napi::Object>();
  marlin::Format f;
  Napi::Value dtype = Field(o, "dtype");
  const std::string d = dtype.IsString() ? dtype.As<Napi::String>().Utf8Value() : std::string();
  if (d == ActName(marlin::Act::kF16))
    f.act = marlin::Act::kF16;
  else if (d == ActName(marlin::Act::kBF16))
    f.act = marlin::Act::kBF16;
  else
    throw MakeError(env, "BAD_DTYPE", std::string("Expected 'float16' or 'bfloat16' for ") + name + ".dtype");
  f.bits = IntArg(env, Field(o, "bits"), "format.bits");
  f.group_size = IntArg(env, Field(o, "groupSize"), "format.groupSize");
  Napi::Value zp = Field(o, "zeroPoints");
  if (!zp.IsBoolean())
    throw MakeError(env, "BAD_ARGUMENT", std::string("Expected a boolean for ") + name + ".zeroPoints");
  f.zero_points = zp.As<Napi::Boolean>().Value();
  return f;
}

marlin::Overrides OverridesArg(Napi::Env env, Napi::Value value) {
  marlin::Overrides o;
  if (value.IsUndefined() || value.IsNull()) return o;
  if (!value.IsObject()) throw MakeError(env, "BAD_ARGUMENT", "Expected an options object for overrides");
  Napi::Object obj = value.As<Napi::Object>();
  o.tile_k = OptionalInt(env, obj, "tileK", 0);
  o.tile_n = OptionalInt(env, obj, "tileN", 0);
  o.stages = OptionalInt(env, obj, "stages", 0);
  o.sms = OptionalInt(env, obj, "sms", 0);
  o.max_par = OptionalInt(env, obj, "maxPar", o.max_par);
  o.splits = OptionalInt(env, obj, "splits", 0);
  const Napi::Value stream_k = obj.Get("streamK");
  if (!stream_k.IsUndefined()) {
    if (!stream_k.IsBoolean()) throw MakeError(env, "BAD_ARGUMENT", "Expected a boolean for streamK");
    o.stream_k = stream_k.As<Napi::Boolean>().Value() ? 1 : 0;
  }
  const Napi::Value family = obj.Get("family");
  if (!family.IsUndefined()) {
    const std::string name = family.IsString() ? family.As<Napi::String>().Utf8Value() : std::string();
    for (const marlin::Family f : {marlin::Family::kMma, marlin::Family::kWgmma, marlin::Family::kDecode})
      if (name == FamilyName(f)) o.family = static_cast<int>(f);
    if (o.family == -1) throw MakeError(env, "BAD_ARGUMENT", "Expected family to be 'mma', 'wgmma' or 'decode'");
  }
  return o;
}

marlin::Target TargetArg(Napi::Env env, Napi::Value value) {
  if (!value.IsObject())
    throw MakeError(env, "BAD_ARGUMENT", "Expected a target { arch, smemOptin, smCount, memoryGBps? }");
  Napi::Object o = value.As<Napi::Object>();
  marlin::Target t;
  t.arch = IntArg(env, o.Get("arch"), "target.arch");
  t.smem_optin = IntArg(env, o.Get("smemOptin"), "target.smemOptin");
  t.sm_count = IntArg(env, o.Get("smCount"), "target.smCount");
  t.memory_gbps = OptionalInt(env, o, "memoryGBps", 0);
  if (t.memory_gbps < 0)
    throw MakeError(env, "BAD_ARGUMENT",
                    "Expected target.memoryGBps to be an integer >= 0 (0: unknown), not " +
                        std::to_string(t.memory_gbps));
  return t;
}

bool ForcedChoice(const marlin::Overrides& o) {
  return o.tile_k != 0 || o.stages != 0 || o.family != -1 || o.splits != 0 || o.stream_k == 1;
}

const char* FamilyName(marlin::Family family) {
  switch (family) {
    case marlin::Family::kWgmma: return "wgmma";
    case marlin::Family::kDecode: return "decode";
    default: return "mma";
  }
}

const char* ActName(marlin::Act act) { return act == marlin::Act::kBF16 ? "bfloat16" : "float16"; }

std::string DescribeFormat(const marlin::Format& f) {
  return std::string(ActName(f.act)) + "/" + std::to_string(f.bits) + "-bit/" +
         (f.group_size < 0 ? std::string("per-column") : "g" + std::to_string(f.group_size)) + "/" +
         (f.zero_points ? "zero-points" : "symmetric");
}

Napi::Object PlanObject(Napi::Env env, const marlin::Plan& p) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("family", FamilyName(p.family));
  o.Set("tileK", p.tile_k);
  o.Set("tileN", p.tile_n);
  o.Set("stages", p.stages);
  o.Set("codeArch", p.code_arch);
  o.Set("blocks", p.blocks);
  o.Set("maxPar", p.max_par);
  o.Set("splits", p.splits);
  o.Set("tailTiles", p.tail_tiles);
  o.Set("tailSplits", p.tail_splits);
  o.Set("streamK", p.stream_k);
  o.Set("warps", p.warps);
  o.Set("launches", p.launches);
  Napi::Array blocks = Napi::Array::New(env);
  uint32_t i = 0;
  if (p.full) blocks.Set(i++, p.full->m_blocks);
  if (p.tail) blocks.Set(i++, p.tail->m_blocks);
  o.Set("rowBlocks", blocks);
  return o;
}

void ThrowStatus(Napi::Env env, marlin::Status status, const std::string& context, const marlin::Format& format,
                 const marlin::Target& target, bool overridden) {
  std::string message = std::string(marlin::status_message(status)) + " (" + context + ")";
  const char* code = "BAD_ARGUMENT";
  switch (status) {
    case marlin::Status::kBadShape:
    case marlin::Status::kBadGroupSize: code = "BAD_SHAPE"; break;
    case marlin::Status::kNoImage: code = "NO_GPU"; break;
    case marlin::Status::kNoVariant:
    case marlin::Status::kBadLaunch: {
      // Say what this build offers for the format on this GPU.
      const int arch = marlin::code_arch(target.arch);
      std::set<std::string> tiles;
      std::set<int> depths;
      bool wgmma = false;  // only where its sm_90a code runs: compute capability 9.0
      int decode_rows = 0;  // the same; its tallest tile
      for (const marlin::Variant& v : marlin::compiled_variants()) {
        if (!(v.format == format && v.arch == arch && v.smem_bytes <= target.smem_optin)) continue;
        if (v.family == marlin::Family::kWgmma) {
          wgmma = wgmma || target.arch == v.arch;
          continue;
        }
        if (v.family == marlin::Family::kDecode) {
          if (target.arch == v.arch) decode_rows = std::max(decode_rows, 8 * v.m_blocks);
          continue;
        }
        tiles.insert(std::to_string(v.tile_k) + "x" + std::to_string(v.tile_n));
        depths.insert(v.stages);
      }
      std::string offer;
      for (const std::string& t : tiles) offer += (offer.empty() ? "" : ", ") + t;
      std::string depth;
      for (int d : depths) depth += (depth.empty() ? "" : ", ") + std::to_string(d);
      message += "; compiled for " + DescribeFormat(format) + " on sm_" + std::to_string(target.arch) + ": tiles " +
                 (offer.empty() ? std::string("none") : offer) + ", pipeline depth " +
                 (depth.empty() ? std::string("none") : depth) + "; wgmma family: " + (wgmma ? "yes" : "no") +
                 "; decode family: " +
                 (decode_rows > 0 ? "up to " + std::to_string(decode_rows) + " rows" : std::string("no"));
      if (status == marlin::Status::kNoVariant && !overridden) code = "NO_GPU";
      break;
    }
    default: break;
  }
  throw MakeError(env, code, message);
}

}  // namespace marlin_addon
