// Pooling bindings. Each takes its Float32Arrays, then a shape object
//   { batch, inH, inW, channels, windowH, windowW, strideH, strideW,
//     padTop, padBottom, padLeft, padRight }   (strides and pads optional:
//   stride 1, pad 0) or the same fields packed into an Int32Array (see
//   ShapeField), and writes into the preallocated output array.
// The global pool takes (input, output, batch, spatial, channels).
#include <string>

#include "../kernels/pooling.h"
#include "arguments.h"
#include "bindings.h"

namespace kiln {
namespace addon {
namespace {

constexpr int64_t kMaxDimension = (int64_t(1) << 31) - 1;

struct PoolCall {
  Pool2DShape shape;
  int64_t inputLength, outputLength;
};

// The shape fields in the order of a packed Int32Array (lib/ops/pooling.ts's
// packPool2DShape).
enum ShapeField : int {
  kBatch, kInH, kInW, kChannels, kWindowH, kWindowW, kStrideH, kStrideW, kPadTop, kPadBottom, kPadLeft, kPadRight,
  kShapeFields
};
const char* const kShapeNames[kShapeFields] = {"batch",   "inH",     "inW",    "channels", "windowH",  "windowW",
                                               "strideH", "strideW", "padTop", "padBottom", "padLeft", "padRight"};

PoolCall readPoolShape(const Napi::CallbackInfo& info, size_t index, const std::string& fn) {
  Napi::Env env = info.Env();
  const OptionsArgument shape(info, index, fn, "shape", kShapeNames, kShapeFields);
  Pool2DShape s;
  s.batch = shape.integer(kBatch, 1, kMaxDimension, std::nullopt);
  s.inH = shape.integer(kInH, 1, kMaxDimension, std::nullopt);
  s.inW = shape.integer(kInW, 1, kMaxDimension, std::nullopt);
  s.channels = shape.integer(kChannels, 1, kMaxDimension, std::nullopt);
  s.windowH = shape.integer(kWindowH, 1, kMaxDimension, std::nullopt);
  s.windowW = shape.integer(kWindowW, 1, kMaxDimension, std::nullopt);
  s.strideH = shape.integer(kStrideH, 1, kMaxDimension, 1);
  s.strideW = shape.integer(kStrideW, 1, kMaxDimension, 1);
  s.padTop = shape.integer(kPadTop, 0, kMaxDimension, 0);
  s.padBottom = shape.integer(kPadBottom, 0, kMaxDimension, 0);
  s.padLeft = shape.integer(kPadLeft, 0, kMaxDimension, 0);
  s.padRight = shape.integer(kPadRight, 0, kMaxDimension, 0);
  const int64_t paddedH = s.inH + s.padTop + s.padBottom;
  const int64_t paddedW = s.inW + s.padLeft + s.padRight;
  if (s.windowH > paddedH) {
    throwRangeError(env, fn, "windowH",
                    "a window height no larger than the padded input height " + std::to_string(paddedH) + " (inH " +
                        std::to_string(s.inH) + " + padTop " + std::to_string(s.padTop) + " + padBottom " +
                        std::to_string(s.padBottom) + ")",
                    std::to_string(s.windowH));
  }
  if (s.windowW > paddedW) {
    throwRangeError(env, fn, "windowW",
                    "a window width no larger than the padded input width " + std::to_string(paddedW) + " (inW " +
                        std::to_string(s.inW) + " + padLeft " + std::to_string(s.padLeft) + " + padRight " +
                        std::to_string(s.padRight) + ")",
                    std::to_string(s.windowW));
  }
  PoolCall call;
  call.shape = s;
  call.inputLength = checkedProduct(env, fn, "shape", {s.batch, s.inH, s.inW, s.channels});
  call.outputLength = checkedProduct(env, fn, "shape", {s.batch, s.outH(), s.outW(), s.channels});
  return call;
}

// The *Reference kernels visit every window position, padding included, so
// a huge window over huge padding (legal for the fast kernels, which clip the
// window to the image) would loop for hours; their work is capped instead.
constexpr int64_t kMaxReferenceVisits = int64_t(1) << 28;

void checkReferenceWork(Napi::Env env, const std::string& fn, const PoolCall& call) {
  const Pool2DShape& s = call.shape;
  const int64_t windows = call.outputLength;
  const int64_t area = checkedProduct(env, fn, "shape", {s.windowH, s.windowW});
  if (windows > 0 && area > kMaxReferenceVisits / windows) {
    throwRangeError(env, fn, "shape",
                    "at most 2^28 window positions in all for the reference kernel (outputs x windowH x windowW)",
                    std::to_string(windows) + " outputs x " + std::to_string(area) + " positions");
  }
}

using PoolForward = void (*)(const Pool2DShape&, const float*, float*);
using MaxPoolBackward = void (*)(const Pool2DShape&, const float*, const float*, float*);
using AvgPoolBackward = void (*)(const Pool2DShape&, const float*, float*);

// (input, output, shape)
template <PoolForward kernel, bool reference = false>
Napi::Value poolForward(const Napi::CallbackInfo& info, const char* fn) {
  const PoolCall call = readPoolShape(info, 2, fn);
  if (reference) checkReferenceWork(info.Env(), fn, call);
  const float* input = float32ArrayArgument(info, 0, fn, "input", call.inputLength);
  float* output = float32ArrayArgument(info, 1, fn, "output", call.outputLength);
  kernel(call.shape, input, output);
  return info.Env().Undefined();
}

// (input, gradOutput, gradInput, shape)
template <MaxPoolBackward kernel, bool reference = false>
Napi::Value maxBackward(const Napi::CallbackInfo& info, const char* fn) {
  const PoolCall call = readPoolShape(info, 3, fn);
  if (reference) checkReferenceWork(info.Env(), fn, call);
  const float* input = float32ArrayArgument(info, 0, fn, "input", call.inputLength);
  const float* gradOutput = float32ArrayArgument(info, 1, fn, "gradOutput", call.outputLength);
  float* gradInput = float32ArrayArgument(info, 2, fn, "gradInput", call.inputLength);
  kernel(call.shape, input, gradOutput, gradInput);
  return info.Env().Undefined();
}

// (gradOutput, gradInput, shape)
template <AvgPoolBackward kernel, bool reference = false>
Napi::Value avgBackward(const Napi::CallbackInfo& info, const char* fn) {
  const PoolCall call = readPoolShape(info, 2, fn);
  if (reference) checkReferenceWork(info.Env(), fn, call);
  const float* gradOutput = float32ArrayArgument(info, 0, fn, "gradOutput", call.outputLength);
  float* gradInput = float32ArrayArgument(info, 1, fn, "gradInput", call.inputLength);
  kernel(call.shape, gradOutput, gradInput);
  return info.Env().Undefined();
}

struct GlobalCall {
  int64_t batch, spatial, channels, inputLength, outputLength;
};

GlobalCall readGlobalShape(const Napi::CallbackInfo& info, const char* fn) {
  GlobalCall call;
  call.batch = integerArgument(info, 2, fn, "batch", 1, kMaxDimension);
  call.spatial = integerArgument(info, 3, fn, "spatial", 1, kMaxDimension);
  call.channels = integerArgument(info, 4, fn, "channels", 1, kMaxDimension);
  call.inputLength = checkedProduct(info.Env(), fn, "shape", {call.batch, call.spatial, call.channels});
  call.outputLength = checkedProduct(info.Env(), fn, "shape", {call.batch, call.channels});
  return call;
}

// (input, output, batch, spatial, channels)
Napi::Value globalAvgPoolForwardBinding(const Napi::CallbackInfo& info) {
  const char* fn = "globalAvgPoolForward";
  const GlobalCall call = readGlobalShape(info, fn);
  const float* input = float32ArrayArgument(info, 0, fn, "input", call.inputLength);
  float* output = float32ArrayArgument(info, 1, fn, "output", call.outputLength);
  globalAvgPoolForward(call.batch, call.spatial, call.channels, input, output);
  return info.Env().Undefined();
}

// (gradOutput, gradInput, batch, spatial, channels)
Napi::Value globalAvgPoolBackwardBinding(const Napi::CallbackInfo& info) {
  const char* fn = "globalAvgPoolBackward";
  const GlobalCall call = readGlobalShape(info, fn);
  const float* gradOutput = float32ArrayArgument(info, 0, fn, "gradOutput", call.outputLength);
  float* gradInput = float32ArrayArgument(info, 1, fn, "gradInput", call.inputLength);
  globalAvgPoolBackward(call.batch, call.spatial, call.channels, gradOutput, gradInput);
  return info.Env().Undefined();
}

void define(Napi::Env env, Napi::Object exports, const char* name, Napi::Value (*body)(const Napi::CallbackInfo&)) {
  exports.Set(name, Napi::Function::New(env, body, name));
}

}  // namespace

void registerPoolingBindings(Napi::Env env, Napi::Object exports) {
  define(env, exports, "maxPool2dForward",
         [](const Napi::CallbackInfo& i) { return poolForward<maxPool2dForward>(i, "maxPool2dForward"); });
  define(env, exports, "maxPool2dBackward",
         [](const Napi::CallbackInfo& i) { return maxBackward<maxPool2dBackward>(i, "maxPool2dBackward"); });
  define(env, exports, "avgPool2dForward",
         [](const Napi::CallbackInfo& i) { return poolForward<avgPool2dForward>(i, "avgPool2dForward"); });
  define(env, exports, "avgPool2dBackward",
         [](const Napi::CallbackInfo& i) { return avgBackward<avgPool2dBackward>(i, "avgPool2dBackward"); });
  define(env, exports, "maxPool2dForwardReference", [](const Napi::CallbackInfo& i) {
    return poolForward<maxPool2dForwardReference, true>(i, "maxPool2dForwardReference");
  });
  define(env, exports, "maxPool2dBackwardReference", [](const Napi::CallbackInfo& i) {
    return maxBackward<maxPool2dBackwardReference, true>(i, "maxPool2dBackwardReference");
  });
  define(env, exports, "avgPool2dForwardReference", [](const Napi::CallbackInfo& i) {
    return poolForward<avgPool2dForwardReference, true>(i, "avgPool2dForwardReference");
  });
  define(env, exports, "avgPool2dBackwardReference", [](const Napi::CallbackInfo& i) {
    return avgBackward<avgPool2dBackwardReference, true>(i, "avgPool2dBackwardReference");
  });
  define(env, exports, "globalAvgPoolForward", globalAvgPoolForwardBinding);
  define(env, exports, "globalAvgPoolBackward", globalAvgPoolBackwardBinding);
}

}  // namespace addon
}  // namespace kiln
