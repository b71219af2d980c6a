// The module's entry point: only registration, one line per area.
#include "bindings.h"

namespace {

Napi::Object initModule(Napi::Env env, Napi::Object exports) {
  using namespace kiln::addon;
  registerRuntimeBindings(env, exports);
  registerGemmBindings(env, exports);
  registerConvBindings(env, exports);
  registerPoolingBindings(env, exports);
  registerElementwiseBindings(env, exports);
  registerLossBindings(env, exports);
  registerNormalizationBindings(env, exports);
  registerOptimizerBindings(env, exports);
  registerPlanBindings(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(kiln, initModule)
