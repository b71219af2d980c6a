// conv2dForward / conv2dBackwardData / conv2dBackwardFilter and their plain
// *Reference versions: synchronous eager bindings over Float32Arrays plus an
// options object {batch, inH, inW, inC, outC, kernelH, kernelW, strideH,
// strideW, padTop, padBottom, padLeft, padRight, dilationH, dilationW, relu?}
// or the same fields packed into an Int32Array (see PackedField).
// An optional integer `algorithm` (0 auto, 1 im2col+GEMM, 2 direct) lets the
// tests force each path; `accumulate` (conv2dBackwardData) adds to gradInput
// instead of overwriting it, as the plan does for a tensor with several
// consumers. Every check runs before any kernel does.
#include <algorithm>
#include <new>
#include <string>
#include <vector>

#include "../kernels/conv2d.h"
#include "../kernels/conv2d_paths.h"
#include "../runtime/aligned_buffer.h"
#include "arguments.h"
#include "bindings.h"

namespace kiln {
namespace addon {
namespace {

constexpr int64_t kMaxDimension = (int64_t(1) << 31) - 1;
constexpr int64_t kMaxKernel = 1 << 16;

struct ConvCall {
  Conv2DShape shape;
  bool relu = false;
  Conv2DAlgorithm algorithm = Conv2DAlgorithm::Auto;
  bool accumulate = false;  // conv2dBackwardData only: gradInput += the result
  int64_t inputCount = 0, filterCount = 0, outputCount = 0;
};

std::string text(int64_t value) { return std::to_string(value); }

void checkExtent(Napi::Env env, const std::string& function, const char* axis, int64_t in, int64_t padA,
                 const char* padAName, int64_t padB, const char* padBName, int64_t kernel, int64_t dilation) {
  const int64_t padded = in + padA + padB;
  const int64_t extent = dilation * (kernel - 1) + 1;
  if (extent > padded) {
    const std::string dim = axis[0] == 'H' ? "H" : "W";
    throwRangeError(env, function, "kernel" + dim,
                    "a kernel no larger than the padded input (in" + dim + " " + text(in) + " + " + padAName + " " +
                        text(padA) + " + " + padBName + " " + text(padB) + " = " + text(padded) + ")",
                    "kernel" + dim + " " + text(kernel) + " with dilation" + dim + " " + text(dilation) +
                        " (extent " + text(extent) + ")");
  }
}

// The options in the order of a packed Int32Array (lib/ops/conv.ts's
// packConv2DOptions; see OptionsArgument). The object's 18 lookups took ~3
// us a call, 5% of a 60 us ResNet projection.
enum PackedField : int {
  kBatch, kInH, kInW, kInC, kOutC, kKernelH, kKernelW, kStrideH, kStrideW, kPadTop, kPadBottom, kPadLeft,
  kPadRight, kDilationH, kDilationW, kRelu, kAlgorithm, kAccumulate, kPackedFields
};
const char* const kPackedNames[kPackedFields] = {
    "batch",     "inH",       "inW",     "inC",      "outC",      "kernelH",   "kernelW", "strideH",   "strideW",
    "padTop",    "padBottom", "padLeft", "padRight", "dilationH", "dilationW", "relu",    "algorithm", "accumulate"};

ConvCall readOptions(const Napi::CallbackInfo& info, size_t index, const std::string& function) {
  Napi::Env env = info.Env();
  const OptionsArgument options(info, index, function, "options", kPackedNames, kPackedFields);
  ConvCall call;
  Conv2DShape& s = call.shape;
  s.batch = options.integer(kBatch, 1, kMaxDimension, std::nullopt);
  s.inH = options.integer(kInH, 1, kMaxDimension, std::nullopt);
  s.inW = options.integer(kInW, 1, kMaxDimension, std::nullopt);
  s.inC = options.integer(kInC, 1, kMaxDimension, std::nullopt);
  s.outC = options.integer(kOutC, 1, kMaxDimension, std::nullopt);
  s.kernelH = options.integer(kKernelH, 1, kMaxKernel, std::nullopt);
  s.kernelW = options.integer(kKernelW, 1, kMaxKernel, std::nullopt);
  s.strideH = options.integer(kStrideH, 1, kMaxDimension, 1);
  s.strideW = options.integer(kStrideW, 1, kMaxDimension, 1);
  s.padTop = options.integer(kPadTop, 0, kMaxDimension, 0);
  s.padBottom = options.integer(kPadBottom, 0, kMaxDimension, 0);
  s.padLeft = options.integer(kPadLeft, 0, kMaxDimension, 0);
  s.padRight = options.integer(kPadRight, 0, kMaxDimension, 0);
  s.dilationH = options.integer(kDilationH, 1, kMaxKernel, 1);
  s.dilationW = options.integer(kDilationW, 1, kMaxKernel, 1);
  call.relu = options.flag(kRelu);
  call.algorithm = static_cast<Conv2DAlgorithm>(options.integer(kAlgorithm, 0, 2, 0));
  call.accumulate = options.flag(kAccumulate);
  checkExtent(env, function, "H", s.inH, s.padTop, "padTop", s.padBottom, "padBottom", s.kernelH, s.dilationH);
  checkExtent(env, function, "W", s.inW, s.padLeft, "padLeft", s.padRight, "padRight", s.kernelW, s.dilationW);
  call.inputCount = checkedProduct(env, function, "input", {s.batch, s.inH, s.inW, s.inC});
  call.filterCount = checkedProduct(env, function, "filter", {s.kernelH, s.kernelW, s.inC, s.outC});
  call.outputCount = checkedProduct(env, function, "output", {s.batch, s.outH(), s.outW(), s.outC});
  // The im2col matrix of one row of output pixels must be addressable too.
  checkedProduct(env, function, "filter", {s.kernelH, s.kernelW, s.inC, 64});
  return call;
}

// Workspaces may exceed the call's own arrays by this factor, or this many
// floats (1 GB), whichever is larger. Only padding or dilation that dwarfs
// the input (a 1x1 image padded to 65536x65536) goes beyond: it is refused
// rather than allocated and zero-filled.
constexpr int64_t kWorkspaceRatio = 64;
constexpr int64_t kWorkspaceFloor = int64_t(1) << 28;

// One growing buffer per JS thread: eager calls are synchronous, so it is
// never shared, and repeated calls at one size allocate once.
float* workspaceFor(Napi::Env env, const std::string& function, const ConvCall& call) {
  const Conv2DShape& shape = call.shape;
  // The direct path copies each image padded (and, backward, spread by the
  // dilated kernel); both sizes must be exact before the kernels size them.
  const int64_t paddedH = shape.inH + shape.padTop + shape.padBottom;
  const int64_t paddedW = shape.inW + shape.padLeft + shape.padRight;
  const int64_t padded = checkedProduct(env, function, "padding", {paddedH, paddedW, shape.inC});
  const int64_t spread = checkedProduct(env, function, "dilation",
                                        {shape.inH + (shape.kernelH - 1) * shape.dilationH,
                                         shape.inW + (shape.kernelW - 1) * shape.dilationW, shape.outC});
  const int64_t arrays = call.inputCount + call.filterCount + call.outputCount;
  const int64_t limit = std::max(kWorkspaceFloor, kWorkspaceRatio * arrays);
  if (padded > limit || spread > limit) {
    throwRangeError(env, function, padded > limit ? "padding" : "dilation",
                    "a padded image of at most " + text(limit) + " values (" + text(kWorkspaceRatio) +
                        "x the arrays, or 2^28)",
                    text(padded > limit ? padded : spread) + " values");
  }
  thread_local AlignedBuffer<float> workspace;
  try {
    workspace.reserve(conv2dWorkspaceFloats(shape));
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(env, "kiln." + function + ": out of memory for the convolution workspace");
  }
  return workspace.data();
}

Napi::Value forward(const Napi::CallbackInfo& info, bool reference) {
  const std::string function = reference ? "conv2dForwardReference" : "conv2dForward";
  const ConvCall call = readOptions(info, 4, function);
  const float* input = float32ArrayArgument(info, 0, function, "input", call.inputCount);
  const float* filter = float32ArrayArgument(info, 1, function, "filter", call.filterCount);
  const float* bias = optionalFloat32ArrayArgument(info, 2, function, "bias", call.shape.outC);
  float* output = float32ArrayArgument(info, 3, function, "output", call.outputCount);
  const FusedActivation activation = call.relu ? FusedActivation::Relu : FusedActivation::None;
  if (reference) {
    conv2dForwardReference(call.shape, input, filter, bias, activation, output);
  } else {
    float* workspace = workspaceFor(info.Env(), function, call);
    conv2dForwardWith(call.algorithm, call.shape, input, filter, bias, activation, output, workspace);
  }
  return info.Env().Undefined();
}

Napi::Value backwardData(const Napi::CallbackInfo& info, bool reference) {
  const std::string function = reference ? "conv2dBackwardDataReference" : "conv2dBackwardData";
  const ConvCall call = readOptions(info, 3, function);
  const float* gradOutput = float32ArrayArgument(info, 0, function, "gradOutput", call.outputCount);
  const float* filter = float32ArrayArgument(info, 1, function, "filter", call.filterCount);
  float* gradInput = float32ArrayArgument(info, 2, function, "gradInput", call.inputCount);
  if (reference) {
    conv2dBackwardDataReference(call.shape, gradOutput, filter, gradInput);
  } else if (call.accumulate) {
    // What the plan does for a tensor with several consumers: add in the
    // kernel's own pass where it can, else compute and add.
    float* workspace = workspaceFor(info.Env(), function, call);
    if (!conv2dBackwardDataAdd(call.shape, gradOutput, filter, gradInput, workspace)) {
      std::vector<float> result;
      try {
        result.resize(static_cast<size_t>(call.inputCount));
      } catch (const std::bad_alloc&) {
        throw Napi::Error::New(info.Env(), "kiln." + function + ": out of memory for the accumulated gradient");
      }
      conv2dBackwardData(call.shape, gradOutput, filter, result.data(), workspace);
      for (int64_t i = 0; i < call.inputCount; ++i) gradInput[i] += result[static_cast<size_t>(i)];
    }
  } else {
    float* workspace = workspaceFor(info.Env(), function, call);
    conv2dBackwardDataWith(call.algorithm, call.shape, gradOutput, filter, gradInput, workspace);
  }
  return info.Env().Undefined();
}

Napi::Value backwardFilter(const Napi::CallbackInfo& info, bool reference) {
  const std::string function = reference ? "conv2dBackwardFilterReference" : "conv2dBackwardFilter";
  const ConvCall call = readOptions(info, 4, function);
  const float* input = float32ArrayArgument(info, 0, function, "input", call.inputCount);
  const float* gradOutput = float32ArrayArgument(info, 1, function, "gradOutput", call.outputCount);
  float* gradFilter = float32ArrayArgument(info, 2, function, "gradFilter", call.filterCount);
  float* gradBias = optionalFloat32ArrayArgument(info, 3, function, "gradBias", call.shape.outC);
  if (reference) {
    conv2dBackwardFilterReference(call.shape, input, gradOutput, gradFilter, gradBias);
  } else {
    float* workspace = workspaceFor(info.Env(), function, call);
    conv2dBackwardFilterWith(call.algorithm, call.shape, input, gradOutput, gradFilter, gradBias, workspace);
  }
  return info.Env().Undefined();
}

}  // namespace

void registerConvBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("conv2dForward", Napi::Function::New(env, [](const Napi::CallbackInfo& info) { return forward(info, false); }, "conv2dForward"));
  exports.Set("conv2dBackwardData", Napi::Function::New(env, [](const Napi::CallbackInfo& info) { return backwardData(info, false); }, "conv2dBackwardData"));
  exports.Set("conv2dBackwardFilter", Napi::Function::New(env, [](const Napi::CallbackInfo& info) { return backwardFilter(info, false); }, "conv2dBackwardFilter"));
  exports.Set("conv2dForwardReference", Napi::Function::New(env, [](const Napi::CallbackInfo& info) { return forward(info, true); }, "conv2dForwardReference"));
  exports.Set("conv2dBackwardDataReference", Napi::Function::New(env, [](const Napi::CallbackInfo& info) { return backwardData(info, true); }, "conv2dBackwardDataReference"));
  exports.Set("conv2dBackwardFilterReference", Napi::Function::New(env, [](const Napi::CallbackInfo& info) { return backwardFilter(info, true); }, "conv2dBackwardFilterReference"));
}

}  // namespace addon
}  // namespace kiln
