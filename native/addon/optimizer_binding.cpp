// Optimizer bindings, updating Float32Arrays in place:
//   sgdUpdate(param, grad, velocity | null, learningRate, momentum, nesterov, weightDecay)
//     (velocity is required when momentum > 0)
//   adamUpdate(param, grad, firstMoment, secondMoment, learningRate, beta1, beta2, epsilon,
//              weightDecay, decoupled, step)     step: 1-based count after this update
#include "../kernels/optimizer.h"
#include "arguments.h"
#include "bindings.h"
#include "number_arguments.h"

namespace kiln {
namespace addon {
namespace {

const Interval kNonNegative{0.0, 1e300, false, false};
const Interval kMomentum{0.0, 1.0, false, false};
const Interval kBeta{0.0, 1.0, false, true};
const Interval kEpsilon{0.0, 1e300, true, false};
constexpr int64_t kMaxStep = int64_t(1) << 53;

int64_t lengthOf(const Napi::CallbackInfo& info, size_t index, const char* fn, const char* argument) {
  float32ArrayArgument(info, index, fn, argument, -1);
  return static_cast<int64_t>(info[index].As<Napi::Float32Array>().ElementLength());
}

Napi::Value sgdUpdateBinding(const Napi::CallbackInfo& info) {
  const char* fn = "sgdUpdate";
  const int64_t count = lengthOf(info, 0, fn, "param");
  float* param = float32ArrayArgument(info, 0, fn, "param", count);
  const float* grad = float32ArrayArgument(info, 1, fn, "grad", count);
  const float learningRate = static_cast<float>(numberInInterval(info, 3, fn, "learningRate", kNonNegative));
  const float momentum = static_cast<float>(numberInInterval(info, 4, fn, "momentum", kMomentum));
  const bool nesterov = booleanArgument(info, 5, fn, "nesterov");
  const float weightDecay = static_cast<float>(numberInInterval(info, 6, fn, "weightDecay", kNonNegative));
  float* velocity = momentum > 0.0f ? float32ArrayArgument(info, 2, fn, "velocity", count)
                                    : optionalFloat32ArrayArgument(info, 2, fn, "velocity", count);
  if (nesterov && momentum == 0.0f) {
    throwRangeError(info.Env(), fn, "momentum", "a momentum > 0 with nesterov", "0");
  }
  sgdUpdate(count, learningRate, momentum, nesterov, weightDecay, param, grad, velocity);
  return info.Env().Undefined();
}

Napi::Value adamUpdateBinding(const Napi::CallbackInfo& info) {
  const char* fn = "adamUpdate";
  const int64_t count = lengthOf(info, 0, fn, "param");
  float* param = float32ArrayArgument(info, 0, fn, "param", count);
  const float* grad = float32ArrayArgument(info, 1, fn, "grad", count);
  float* firstMoment = float32ArrayArgument(info, 2, fn, "firstMoment", count);
  float* secondMoment = float32ArrayArgument(info, 3, fn, "secondMoment", count);
  const float learningRate = static_cast<float>(numberInInterval(info, 4, fn, "learningRate", kNonNegative));
  const float beta1 = static_cast<float>(numberInInterval(info, 5, fn, "beta1", kBeta));
  const float beta2 = static_cast<float>(numberInInterval(info, 6, fn, "beta2", kBeta));
  const float epsilon = static_cast<float>(numberInInterval(info, 7, fn, "epsilon", kEpsilon));
  const float weightDecay = static_cast<float>(numberInInterval(info, 8, fn, "weightDecay", kNonNegative));
  const bool decoupled = booleanArgument(info, 9, fn, "decoupled");
  const int64_t step = integerArgument(info, 10, fn, "step", 1, kMaxStep);
  adamUpdate(count, learningRate, beta1, beta2, epsilon, weightDecay, decoupled, step, param, grad, firstMoment,
             secondMoment);
  return info.Env().Undefined();
}

}  // namespace

void registerOptimizerBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("sgdUpdate", Napi::Function::New(env, sgdUpdateBinding, "sgdUpdate"));
  exports.Set("adamUpdate", Napi::Function::New(env, adamUpdateBinding, "adamUpdate"));
}

}  // namespace addon
}  // namespace kiln
