// One registration function per area; each lives in its own *_binding.cpp and
// adds that area's functions to the module's exports.
#pragma once

#include <napi.h>

namespace kiln {
namespace addon {

void registerRuntimeBindings(Napi::Env env, Napi::Object exports);
void registerGemmBindings(Napi::Env env, Napi::Object exports);
void registerConvBindings(Napi::Env env, Napi::Object exports);
void registerPoolingBindings(Napi::Env env, Napi::Object exports);
void registerElementwiseBindings(Napi::Env env, Napi::Object exports);
void registerLossBindings(Napi::Env env, Napi::Object exports);
void registerNormalizationBindings(Napi::Env env, Napi::Object exports);
void registerOptimizerBindings(Napi::Env env, Napi::Object exports);
void registerPlanBindings(Napi::Env env, Napi::Object exports);

}  // namespace addon
}  // namespace kiln
