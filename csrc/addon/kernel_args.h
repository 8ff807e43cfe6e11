// Reading the kernels' argument types from JS values (formats, overrides,
// targets) and writing plans back: shared by the Gemm class and the pure
// chooser functions.
#pragma once

#include <napi.h>

#include <string>

#include "gemm.h"

namespace marlin_addon {

// { dtype: 'float16' | 'bfloat16', bits, groupSize, zeroPoints }
marlin::Format FormatArg(Napi::Env env, Napi::Value value, const char* name);
// undefined, or { tileK?, tileN?, stages?, sms?, maxPar? }
marlin::Overrides OverridesArg(Napi::Env env, Napi::Value value);
// { arch, smemOptin, smCount, memoryGBps? }
marlin::Target TargetArg(Napi::Env env, Napi::Value value);
// An integer argument (a JS number that is a safe integer in int range).
int IntArg(Napi::Env env, Napi::Value value, const char* name);

// The JS name of an activation type: "float16" or "bfloat16".
const char* ActName(marlin::Act act);
// Whether the overrides force a kernel (tile, depth or family): a kernel
// that is then missing is the caller's BAD_ARGUMENT, not NO_GPU.
bool ForcedChoice(const marlin::Overrides& overrides);
// "mma" or "wgmma", as plans and variants report the family to JS.
const char* FamilyName(marlin::Family family);
// "float16/4-bit/g128/symmetric"
std::string DescribeFormat(const marlin::Format& f);
// The plan as { family, tileK, tileN, stages, codeArch, blocks, maxPar, launches, rowBlocks }.
Napi::Object PlanObject(Napi::Env env, const marlin::Plan& plan);

// Throws the MarlinError a non-ok status stands for, with `context` (the
// call's values) and, for kernel choices, what this build offers.
[[noreturn]] void ThrowStatus(Napi::Env env, marlin::Status status, const std::string& context,
                              const marlin::Format& format, const marlin::Target& target, bool overridden);

}  // namespace marlin_addon
