// backend(), setNumThreads(), setIsa(): the runtime knobs users and tests see.
#include "../runtime/cpu_features.h"
#include "../runtime/thread_pool.h"
#include "arguments.h"
#include "bindings.h"

namespace kiln {
namespace addon {
namespace {

Napi::Value backend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object result = Napi::Object::New(env);
  result.Set("isa", isaName(activeIsa()));
  result.Set("detectedIsa", isaName(detectedIsa()));
  result.Set("threads", numThreads());
  result.Set("hardwareThreads", hardwareThreads());
  return result;
}

Napi::Value setThreads(const Napi::CallbackInfo& info) {
  const int64_t threads = integerArgument(info, 0, "setNumThreads", "threads", 1, 256);
  setNumThreads(static_cast<int>(threads));
  return info.Env().Undefined();
}

Napi::Value setIsa(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    throwTypeError(env, "setIsa", "isa", "one of 'scalar', 'avx2', 'avx512'", "a non-string");
  }
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  Isa isa;
  if (!parseIsa(name, &isa)) throwRangeError(env, "setIsa", "isa", "one of 'scalar', 'avx2', 'avx512'", "'" + name + "'");
  if (!setActiveIsa(isa)) {
    throwRangeError(env, "setIsa", "isa", std::string("an ISA this CPU supports (up to '") + isaName(detectedIsa()) + "')",
                    "'" + name + "'");
  }
  return env.Undefined();
}

}  // namespace

void registerRuntimeBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("backend", Napi::Function::New(env, backend, "backend"));
  exports.Set("setNumThreads", Napi::Function::New(env, setThreads, "setNumThreads"));
  exports.Set("setIsa", Napi::Function::New(env, setIsa, "setIsa"));
}

}  // namespace addon
}  // namespace kiln
