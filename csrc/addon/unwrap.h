// The live native object behind an argument: right class, not disposed.
#pragma once

#include <napi.h>

#include <string>

#include "errors.h"

namespace marlin_addon {

// `what` names the class with its article ("a Stream"); `name` the argument.
template <class T>
T* UnwrapLive(Napi::Env env, Napi::Value value, const Napi::FunctionReference& ctor, const char* what,
              const char* name) {
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(ctor.Value()))
    throw MakeError(env, "BAD_ARGUMENT", std::string("Expected ") + what + " for " + name);
  T* object = T::Unwrap(value.As<Napi::Object>());
  if (object->disposed()) throw MakeError(env, "DISPOSED", std::string(name) + " (" + what + ") was disposed");
  return object;
}

}  // namespace marlin_addon
