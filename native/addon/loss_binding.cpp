// Softmax and loss bindings over [rows, classes] arrays:
//   softmaxForward(logits, probabilities, rows, classes)
//   softmaxBackward(probabilities, gradProbabilities, gradLogits, rows, classes)
//   softmaxCrossEntropy(logits, labels: Int32Array, gradLogits | null, rows, classes) -> { loss, correct }
//   softmaxCrossEntropySoft(logits, targets, gradLogits | null, rows, classes) -> { loss, correct }
//   meanSquaredError(predictions, targets, gradPredictions | null, rows, classes) -> loss
#include <string>

#include "../kernels/softmax_loss.h"
#include "arguments.h"
#include "bindings.h"

namespace kiln {
namespace addon {
namespace {

constexpr int64_t kMaxDimension = int64_t(1) << 53;
constexpr int64_t kMaxClasses = (int64_t(1) << 31) - 1;

struct RowsClasses {
  int64_t rows, classes, count;
};

RowsClasses readRowsClasses(const Napi::CallbackInfo& info, size_t index, const char* fn) {
  RowsClasses shape;
  shape.rows = integerArgument(info, index, fn, "rows", 1, kMaxDimension);
  shape.classes = integerArgument(info, index + 1, fn, "classes", 1, kMaxClasses);
  shape.count = checkedProduct(info.Env(), fn, "rows * classes", {shape.rows, shape.classes});
  return shape;
}

Napi::Object lossResult(Napi::Env env, double loss, int64_t correct) {
  Napi::Object result = Napi::Object::New(env);
  result.Set("loss", Napi::Number::New(env, loss));
  result.Set("correct", Napi::Number::New(env, static_cast<double>(correct)));
  return result;
}

Napi::Value softmaxForwardBinding(const Napi::CallbackInfo& info) {
  const char* fn = "softmaxForward";
  const RowsClasses s = readRowsClasses(info, 2, fn);
  const float* logits = float32ArrayArgument(info, 0, fn, "logits", s.count);
  float* probabilities = float32ArrayArgument(info, 1, fn, "probabilities", s.count);
  softmaxForward(s.rows, s.classes, logits, probabilities);
  return info.Env().Undefined();
}

Napi::Value softmaxBackwardBinding(const Napi::CallbackInfo& info) {
  const char* fn = "softmaxBackward";
  const RowsClasses s = readRowsClasses(info, 3, fn);
  const float* probabilities = float32ArrayArgument(info, 0, fn, "probabilities", s.count);
  const float* gradProbabilities = float32ArrayArgument(info, 1, fn, "gradProbabilities", s.count);
  float* gradLogits = float32ArrayArgument(info, 2, fn, "gradLogits", s.count);
  softmaxBackward(s.rows, s.classes, probabilities, gradProbabilities, gradLogits);
  return info.Env().Undefined();
}

Napi::Value softmaxCrossEntropyBinding(const Napi::CallbackInfo& info) {
  const char* fn = "softmaxCrossEntropy";
  const RowsClasses s = readRowsClasses(info, 3, fn);
  const float* logits = float32ArrayArgument(info, 0, fn, "logits", s.count);
  const int32_t* labels = int32ArrayArgument(info, 1, fn, "labels", s.rows);
  float* gradLogits = optionalFloat32ArrayArgument(info, 2, fn, "gradLogits", s.count);
  for (int64_t r = 0; r < s.rows; ++r) {
    if (labels[r] < 0 || labels[r] >= s.classes) {
      throwRangeError(info.Env(), fn, "labels",
                      "class indices in [0, " + std::to_string(s.classes - 1) + "]",
                      std::to_string(labels[r]) + " at row " + std::to_string(r));
    }
  }
  int64_t correct = 0;
  const double loss = softmaxCrossEntropy(s.rows, s.classes, logits, labels, gradLogits, &correct);
  return lossResult(info.Env(), loss, correct);
}

Napi::Value softmaxCrossEntropySoftBinding(const Napi::CallbackInfo& info) {
  const char* fn = "softmaxCrossEntropySoft";
  const RowsClasses s = readRowsClasses(info, 3, fn);
  const float* logits = float32ArrayArgument(info, 0, fn, "logits", s.count);
  const float* targets = float32ArrayArgument(info, 1, fn, "targets", s.count);
  float* gradLogits = optionalFloat32ArrayArgument(info, 2, fn, "gradLogits", s.count);
  int64_t correct = 0;
  const double loss = softmaxCrossEntropySoft(s.rows, s.classes, logits, targets, gradLogits, &correct);
  return lossResult(info.Env(), loss, correct);
}

Napi::Value meanSquaredErrorBinding(const Napi::CallbackInfo& info) {
  const char* fn = "meanSquaredError";
  const RowsClasses s = readRowsClasses(info, 3, fn);
  const float* predictions = float32ArrayArgument(info, 0, fn, "predictions", s.count);
  const float* targets = float32ArrayArgument(info, 1, fn, "targets", s.count);
  float* gradPredictions = optionalFloat32ArrayArgument(info, 2, fn, "gradPredictions", s.count);
  const double loss = meanSquaredError(s.rows, s.classes, predictions, targets, gradPredictions);
  return Napi::Number::New(info.Env(), loss);
}

}  // namespace

void registerLossBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("softmaxForward", Napi::Function::New(env, softmaxForwardBinding, "softmaxForward"));
  exports.Set("softmaxBackward", Napi::Function::New(env, softmaxBackwardBinding, "softmaxBackward"));
  exports.Set("softmaxCrossEntropy", Napi::Function::New(env, softmaxCrossEntropyBinding, "softmaxCrossEntropy"));
  exports.Set("softmaxCrossEntropySoft",
              Napi::Function::New(env, softmaxCrossEntropySoftBinding, "softmaxCrossEntropySoft"));
  exports.Set("meanSquaredError", Napi::Function::New(env, meanSquaredErrorBinding, "meanSquaredError"));
}

}  // namespace addon
}  // namespace kiln
