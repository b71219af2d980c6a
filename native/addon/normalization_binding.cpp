// Batch normalisation and dropout bindings ([rows, channels] = NHWC flattened):
//   batchNormForwardTraining(input, gamma, beta, output, savedMean, savedInvStd,
//                            runningMean | null, runningVar | null, rows, channels, epsilon, momentum)
//   batchNormForwardInference(input, gamma, beta, runningMean, runningVar, output, rows, channels, epsilon)
//   batchNormBackward(input, gradOutput, gamma, savedMean, savedInvStd,
//                     gradInput, gradGamma, gradBeta, rows, channels)
//   batchNormActivationForwardTraining(kind, input, gamma, beta, output, savedMean, savedInvStd,
//                                      runningMean | null, runningVar | null, rows, channels, epsilon, momentum)
//   batchNormActivationForwardInference(kind, input, gamma, beta, runningMean, runningVar, output,
//                                       rows, channels, epsilon)
//   batchNormActivationBackward(kind, input, output, gradOutput, gamma, savedMean, savedInvStd,
//                               gradInput | null, gradGamma, gradBeta, rows, channels)
//     kind: 'relu' | 'sigmoid' | 'tanh' | 'linear', the activation after the
//     normalisation (fused.h); `output` is that activation's output.
//   dropoutForward(input, output, mask, rate, seed, step)
//   dropoutBackward(mask, gradOutput, gradInput)
#include <string>

#include "../kernels/batch_norm.h"
#include "../kernels/dropout.h"
#include "../kernels/fused.h"
#include "arguments.h"
#include "bindings.h"
#include "number_arguments.h"

namespace kiln {
namespace addon {
namespace {

constexpr int64_t kMaxDimension = int64_t(1) << 53;
const Interval kEpsilon{0.0, 1e300, true, false};
const Interval kMomentum{0.0, 1.0, false, false};
const Interval kRate{0.0, 1.0, false, true};

struct RowsChannels {
  int64_t rows, channels, count;
};

RowsChannels readRowsChannels(const Napi::CallbackInfo& info, size_t index, const char* fn) {
  RowsChannels s;
  s.rows = integerArgument(info, index, fn, "rows", 1, kMaxDimension);
  s.channels = integerArgument(info, index + 1, fn, "channels", 1, kMaxDimension);
  s.count = checkedProduct(info.Env(), fn, "rows * channels", {s.rows, s.channels});
  return s;
}

Napi::Value batchNormForwardTrainingBinding(const Napi::CallbackInfo& info) {
  const char* fn = "batchNormForwardTraining";
  const RowsChannels s = readRowsChannels(info, 8, fn);
  const float epsilon = static_cast<float>(numberInInterval(info, 10, fn, "epsilon", kEpsilon));
  const float momentum = static_cast<float>(numberInInterval(info, 11, fn, "momentum", kMomentum));
  const float* input = float32ArrayArgument(info, 0, fn, "input", s.count);
  const float* gamma = float32ArrayArgument(info, 1, fn, "gamma", s.channels);
  const float* beta = float32ArrayArgument(info, 2, fn, "beta", s.channels);
  float* output = float32ArrayArgument(info, 3, fn, "output", s.count);
  float* savedMean = float32ArrayArgument(info, 4, fn, "savedMean", s.channels);
  float* savedInvStd = float32ArrayArgument(info, 5, fn, "savedInvStd", s.channels);
  float* runningMean = optionalFloat32ArrayArgument(info, 6, fn, "runningMean", s.channels);
  float* runningVar = optionalFloat32ArrayArgument(info, 7, fn, "runningVar", s.channels);
  batchNormForwardTraining(s.rows, s.channels, input, gamma, beta, epsilon, momentum, output, savedMean, savedInvStd,
                           runningMean, runningVar);
  return info.Env().Undefined();
}

Napi::Value batchNormForwardInferenceBinding(const Napi::CallbackInfo& info) {
  const char* fn = "batchNormForwardInference";
  const RowsChannels s = readRowsChannels(info, 6, fn);
  const float epsilon = static_cast<float>(numberInInterval(info, 8, fn, "epsilon", kEpsilon));
  const float* input = float32ArrayArgument(info, 0, fn, "input", s.count);
  const float* gamma = float32ArrayArgument(info, 1, fn, "gamma", s.channels);
  const float* beta = float32ArrayArgument(info, 2, fn, "beta", s.channels);
  const float* runningMean = float32ArrayArgument(info, 3, fn, "runningMean", s.channels);
  const float* runningVar = float32ArrayArgument(info, 4, fn, "runningVar", s.channels);
  float* output = float32ArrayArgument(info, 5, fn, "output", s.count);
  batchNormForwardInference(s.rows, s.channels, input, gamma, beta, runningMean, runningVar, epsilon, output);
  return info.Env().Undefined();
}

Napi::Value batchNormBackwardBinding(const Napi::CallbackInfo& info) {
  const char* fn = "batchNormBackward";
  const RowsChannels s = readRowsChannels(info, 8, fn);
  const float* input = float32ArrayArgument(info, 0, fn, "input", s.count);
  const float* gradOutput = float32ArrayArgument(info, 1, fn, "gradOutput", s.count);
  const float* gamma = float32ArrayArgument(info, 2, fn, "gamma", s.channels);
  const float* savedMean = float32ArrayArgument(info, 3, fn, "savedMean", s.channels);
  const float* savedInvStd = float32ArrayArgument(info, 4, fn, "savedInvStd", s.channels);
  float* gradInput = float32ArrayArgument(info, 5, fn, "gradInput", s.count);
  float* gradGamma = float32ArrayArgument(info, 6, fn, "gradGamma", s.channels);
  float* gradBeta = float32ArrayArgument(info, 7, fn, "gradBeta", s.channels);
  batchNormBackward(s.rows, s.channels, input, gradOutput, gamma, savedMean, savedInvStd, gradInput, gradGamma,
                    gradBeta);
  return info.Env().Undefined();
}

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

Napi::Value batchNormActivationForwardTrainingBinding(const Napi::CallbackInfo& info) {
  const char* fn = "batchNormActivationForwardTraining";
  const Activation kind = activationArgument(info, 0, fn);
  const RowsChannels s = readRowsChannels(info, 9, fn);
  const float epsilon = static_cast<float>(numberInInterval(info, 11, fn, "epsilon", kEpsilon));
  const float momentum = static_cast<float>(numberInInterval(info, 12, fn, "momentum", kMomentum));
  const float* input = float32ArrayArgument(info, 1, fn, "input", s.count);
  const float* gamma = float32ArrayArgument(info, 2, fn, "gamma", s.channels);
  const float* beta = float32ArrayArgument(info, 3, fn, "beta", s.channels);
  float* output = float32ArrayArgument(info, 4, fn, "output", s.count);
  float* savedMean = float32ArrayArgument(info, 5, fn, "savedMean", s.channels);
  float* savedInvStd = float32ArrayArgument(info, 6, fn, "savedInvStd", s.channels);
  float* runningMean = optionalFloat32ArrayArgument(info, 7, fn, "runningMean", s.channels);
  float* runningVar = optionalFloat32ArrayArgument(info, 8, fn, "runningVar", s.channels);
  batchNormActivationForwardTraining(s.rows, s.channels, input, gamma, beta, epsilon, momentum, kind, output,
                                     savedMean, savedInvStd, runningMean, runningVar);
  return info.Env().Undefined();
}

Napi::Value batchNormActivationForwardInferenceBinding(const Napi::CallbackInfo& info) {
  const char* fn = "batchNormActivationForwardInference";
  const Activation kind = activationArgument(info, 0, fn);
  const RowsChannels s = readRowsChannels(info, 7, fn);
  const float epsilon = static_cast<float>(numberInInterval(info, 9, fn, "epsilon", kEpsilon));
  const float* input = float32ArrayArgument(info, 1, fn, "input", s.count);
  const float* gamma = float32ArrayArgument(info, 2, fn, "gamma", s.channels);
  const float* beta = float32ArrayArgument(info, 3, fn, "beta", s.channels);
  const float* runningMean = float32ArrayArgument(info, 4, fn, "runningMean", s.channels);
  const float* runningVar = float32ArrayArgument(info, 5, fn, "runningVar", s.channels);
  float* output = float32ArrayArgument(info, 6, fn, "output", s.count);
  batchNormActivationForwardInference(s.rows, s.channels, input, gamma, beta, runningMean, runningVar, epsilon, kind,
                                      output);
  return info.Env().Undefined();
}

Napi::Value batchNormActivationBackwardBinding(const Napi::CallbackInfo& info) {
  const char* fn = "batchNormActivationBackward";
  const Activation kind = activationArgument(info, 0, fn);
  const RowsChannels s = readRowsChannels(info, 10, fn);
  const float* input = float32ArrayArgument(info, 1, fn, "input", s.count);
  const float* output = float32ArrayArgument(info, 2, fn, "output", s.count);
  const float* gradOutput = float32ArrayArgument(info, 3, fn, "gradOutput", s.count);
  const float* gamma = float32ArrayArgument(info, 4, fn, "gamma", s.channels);
  const float* savedMean = float32ArrayArgument(info, 5, fn, "savedMean", s.channels);
  const float* savedInvStd = float32ArrayArgument(info, 6, fn, "savedInvStd", s.channels);
  float* gradInput = optionalFloat32ArrayArgument(info, 7, fn, "gradInput", s.count);
  float* gradGamma = float32ArrayArgument(info, 8, fn, "gradGamma", s.channels);
  float* gradBeta = float32ArrayArgument(info, 9, fn, "gradBeta", s.channels);
  batchNormActivationBackward(s.rows, s.channels, input, output, gradOutput, gamma, savedMean, savedInvStd, kind,
                              gradInput, gradGamma, gradBeta);
  return info.Env().Undefined();
}

int64_t lengthOf(const Napi::CallbackInfo& info, size_t index, const char* fn, const char* argument) {
  float32ArrayArgument(info, index, fn, argument, -1);
  return static_cast<int64_t>(info[index].As<Napi::Float32Array>().ElementLength());
}

Napi::Value dropoutForwardBinding(const Napi::CallbackInfo& info) {
  const char* fn = "dropoutForward";
  const int64_t count = lengthOf(info, 0, fn, "input");
  const float* input = float32ArrayArgument(info, 0, fn, "input", count);
  float* output = float32ArrayArgument(info, 1, fn, "output", count);
  float* mask = float32ArrayArgument(info, 2, fn, "mask", count);
  const float rate = static_cast<float>(numberInInterval(info, 3, fn, "rate", kRate));
  const int64_t seed = integerArgument(info, 4, fn, "seed", 0, kMaxDimension);
  const int64_t step = integerArgument(info, 5, fn, "step", 0, kMaxDimension);
  dropoutForward(count, rate, static_cast<uint64_t>(seed), static_cast<uint64_t>(step), input, output, mask);
  return info.Env().Undefined();
}

Napi::Value dropoutBackwardBinding(const Napi::CallbackInfo& info) {
  const char* fn = "dropoutBackward";
  const int64_t count = lengthOf(info, 0, fn, "mask");
  const float* mask = float32ArrayArgument(info, 0, fn, "mask", count);
  const float* gradOutput = float32ArrayArgument(info, 1, fn, "gradOutput", count);
  float* gradInput = float32ArrayArgument(info, 2, fn, "gradInput", count);
  dropoutBackward(count, mask, gradOutput, gradInput);
  return info.Env().Undefined();
}

}  // namespace

void registerNormalizationBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("batchNormForwardTraining",
              Napi::Function::New(env, batchNormForwardTrainingBinding, "batchNormForwardTraining"));
  exports.Set("batchNormForwardInference",
              Napi::Function::New(env, batchNormForwardInferenceBinding, "batchNormForwardInference"));
  exports.Set("batchNormBackward", Napi::Function::New(env, batchNormBackwardBinding, "batchNormBackward"));
  exports.Set("batchNormActivationForwardTraining",
              Napi::Function::New(env, batchNormActivationForwardTrainingBinding, "batchNormActivationForwardTraining"));
  exports.Set("batchNormActivationForwardInference", Napi::Function::New(env, batchNormActivationForwardInferenceBinding,
                                                                         "batchNormActivationForwardInference"));
  exports.Set("batchNormActivationBackward",
              Napi::Function::New(env, batchNormActivationBackwardBinding, "batchNormActivationBackward"));
  exports.Set("dropoutForward", Napi::Function::New(env, dropoutForwardBinding, "dropoutForward"));
  exports.Set("dropoutBackward", Napi::Function::New(env, dropoutBackwardBinding, "dropoutBackward"));
}

}  // namespace addon
}  // namespace kiln
