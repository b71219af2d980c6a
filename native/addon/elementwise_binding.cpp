// Elementwise bindings:
//   activationForward(kind, input, output)
//   activationBackward(kind, output, gradOutput, gradInput)
//     kind: 'relu' | 'sigmoid' | 'tanh' | 'linear'; in-place use allowed.
//   biasAdd(data, bias, rows, channels)            data[r, c] += bias[c]
//   biasGradient(gradOutput, gradBias, rows, channels)
//   add(a, b, out), axpy(alpha, x, y), scale(alpha, data)
//   addActivationForward(kind, a, b, out)          out = kind(a + b)
//   activationBackwardTo(kind, output, gradOutput, gradA | null, accumulateA, gradB | null, accumulateB)
//     g = kind'(output) * gradOutput written (or, accumulating, added) to
//     gradA and gradB (fused.h).
#include <string>

#include "../kernels/elementwise.h"
#include "../kernels/fused.h"
#include "arguments.h"
#include "bindings.h"

namespace kiln {
namespace addon {
namespace {

constexpr int64_t kMaxDimension = int64_t(1) << 53;

Activation activationArgument(const Napi::CallbackInfo& info, size_t index, const std::string& fn) {
  const char* expected = "one of 'relu', 'sigmoid', 'tanh', 'linear'";
  if (index >= info.Length() || !info[index].IsString()) throwTypeError(info.Env(), fn, "kind", expected, "a non-string");
  const std::string kind = info[index].As<Napi::String>().Utf8Value();
  if (kind == "relu") return Activation::Relu;
  if (kind == "sigmoid") return Activation::Sigmoid;
  if (kind == "tanh") return Activation::Tanh;
  if (kind == "linear") return Activation::Linear;
  throwRangeError(info.Env(), fn, "kind", expected, "'" + kind + "'");
}

int64_t lengthOf(const Napi::CallbackInfo& info, size_t index, const std::string& fn, const std::string& argument) {
  float32ArrayArgument(info, index, fn, argument, -1);
  return static_cast<int64_t>(info[index].As<Napi::Float32Array>().ElementLength());
}

Napi::Value activationForwardBinding(const Napi::CallbackInfo& info) {
  const char* fn = "activationForward";
  const Activation kind = activationArgument(info, 0, fn);
  const int64_t count = lengthOf(info, 1, fn, "input");
  const float* input = float32ArrayArgument(info, 1, fn, "input", count);
  float* output = float32ArrayArgument(info, 2, fn, "output", count);
  activationForward(kind, count, input, output);
  return info.Env().Undefined();
}

Napi::Value activationBackwardBinding(const Napi::CallbackInfo& info) {
  const char* fn = "activationBackward";
  const Activation kind = activationArgument(info, 0, fn);
  const int64_t count = lengthOf(info, 1, fn, "output");
  const float* output = float32ArrayArgument(info, 1, fn, "output", count);
  const float* gradOutput = float32ArrayArgument(info, 2, fn, "gradOutput", count);
  float* gradInput = float32ArrayArgument(info, 3, fn, "gradInput", count);
  activationBackward(kind, count, output, gradOutput, gradInput);
  return info.Env().Undefined();
}

Napi::Value biasAddBinding(const Napi::CallbackInfo& info) {
  const char* fn = "biasAdd";
  const int64_t rows = integerArgument(info, 2, fn, "rows", 1, kMaxDimension);
  const int64_t channels = integerArgument(info, 3, fn, "channels", 1, kMaxDimension);
  float* data = float32ArrayArgument(info, 0, fn, "data", checkedProduct(info.Env(), fn, "data", {rows, channels}));
  const float* bias = float32ArrayArgument(info, 1, fn, "bias", channels);
  biasAdd(rows, channels, bias, data);
  return info.Env().Undefined();
}

Napi::Value biasGradientBinding(const Napi::CallbackInfo& info) {
  const char* fn = "biasGradient";
  const int64_t rows = integerArgument(info, 2, fn, "rows", 1, kMaxDimension);
  const int64_t channels = integerArgument(info, 3, fn, "channels", 1, kMaxDimension);
  const float* gradOutput =
      float32ArrayArgument(info, 0, fn, "gradOutput", checkedProduct(info.Env(), fn, "gradOutput", {rows, channels}));
  float* gradBias = float32ArrayArgument(info, 1, fn, "gradBias", channels);
  biasGradient(rows, channels, gradOutput, gradBias);
  return info.Env().Undefined();
}

Napi::Value addBinding(const Napi::CallbackInfo& info) {
  const char* fn = "add";
  const int64_t count = lengthOf(info, 0, fn, "a");
  const float* a = float32ArrayArgument(info, 0, fn, "a", count);
  const float* b = float32ArrayArgument(info, 1, fn, "b", count);
  float* out = float32ArrayArgument(info, 2, fn, "out", count);
  add(count, a, b, out);
  return info.Env().Undefined();
}

Napi::Value axpyBinding(const Napi::CallbackInfo& info) {
  const char* fn = "axpy";
  const float alpha = static_cast<float>(numberArgument(info, 0, fn, "alpha"));
  const int64_t count = lengthOf(info, 1, fn, "x");
  const float* x = float32ArrayArgument(info, 1, fn, "x", count);
  float* y = float32ArrayArgument(info, 2, fn, "y", count);
  axpy(count, alpha, x, y);
  return info.Env().Undefined();
}

Napi::Value scaleBinding(const Napi::CallbackInfo& info) {
  const char* fn = "scale";
  const float alpha = static_cast<float>(numberArgument(info, 0, fn, "alpha"));
  const int64_t count = lengthOf(info, 1, fn, "data");
  float* data = float32ArrayArgument(info, 1, fn, "data", count);
  scale(count, alpha, data);
  return info.Env().Undefined();
}

Napi::Value addActivationForwardBinding(const Napi::CallbackInfo& info) {
  const char* fn = "addActivationForward";
  const Activation kind = activationArgument(info, 0, fn);
  const int64_t count = lengthOf(info, 1, fn, "a");
  const float* a = float32ArrayArgument(info, 1, fn, "a", count);
  const float* b = float32ArrayArgument(info, 2, fn, "b", count);
  float* out = float32ArrayArgument(info, 3, fn, "out", count);
  addActivationForward(count, a, b, kind, out);
  return info.Env().Undefined();
}

Napi::Value activationBackwardToBinding(const Napi::CallbackInfo& info) {
  const char* fn = "activationBackwardTo";
  const Activation kind = activationArgument(info, 0, fn);
  const int64_t count = lengthOf(info, 1, fn, "output");
  const float* output = float32ArrayArgument(info, 1, fn, "output", count);
  const float* gradOutput = float32ArrayArgument(info, 2, fn, "gradOutput", count);
  float* gradA = optionalFloat32ArrayArgument(info, 3, fn, "gradA", count);
  const bool accumulateA = booleanArgument(info, 4, fn, "accumulateA");
  float* gradB = optionalFloat32ArrayArgument(info, 5, fn, "gradB", count);
  const bool accumulateB = booleanArgument(info, 6, fn, "accumulateB");
  activationBackwardTo(kind, count, output, gradOutput, gradA, accumulateA, gradB, accumulateB);
  return info.Env().Undefined();
}

}  // namespace

void registerElementwiseBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("activationForward", Napi::Function::New(env, activationForwardBinding, "activationForward"));
  exports.Set("activationBackward", Napi::Function::New(env, activationBackwardBinding, "activationBackward"));
  exports.Set("biasAdd", Napi::Function::New(env, biasAddBinding, "biasAdd"));
  exports.Set("biasGradient", Napi::Function::New(env, biasGradientBinding, "biasGradient"));
  exports.Set("add", Napi::Function::New(env, addBinding, "add"));
  exports.Set("axpy", Napi::Function::New(env, axpyBinding, "axpy"));
  exports.Set("scale", Napi::Function::New(env, scaleBinding, "scale"));
  exports.Set("addActivationForward", Napi::Function::New(env, addActivationForwardBinding, "addActivationForward"));
  exports.Set("activationBackwardTo", Napi::Function::New(env, activationBackwardToBinding, "activationBackwardTo"));
}

}  // namespace addon
}  // namespace kiln
