// Execution of a compiled plan. Forward runs ops in order; backward runs them
// in reverse, so every consumer of a buffer has added its gradient before the
// buffer's producer reads it. Gradients of activations are overwritten by the
// first contributor of a pass and accumulated (through scratch) by the rest,
// which is what a tensor with two consumers (a skip connection) needs.
#include "plan.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "../kernels/batch_norm.h"
#include "../kernels/dropout.h"
#include "../kernels/fused.h"
#include "../kernels/gemm.h"
#include "../kernels/optimizer.h"
#include "../kernels/softmax_loss.h"

namespace kiln {
namespace {

[[noreturn]] void fail(const OpSpec& op, const std::string& message) {
  throw std::invalid_argument("kiln plan: layer '" + op.name + "' (" + opTypeName(op.type) + "): " + message);
}

FusedActivation fusedFor(Activation activation) {
  return activation == Activation::Relu ? FusedActivation::Relu : FusedActivation::None;
}

}  // namespace

const char* opTypeName(OpType type) {
  switch (type) {
    case OpType::Conv2D: return "conv2d";
    case OpType::Dense: return "dense";
    case OpType::MaxPool: return "maxPool2d";
    case OpType::AvgPool: return "avgPool2d";
    case OpType::GlobalAvgPool: return "globalAvgPool2d";
    case OpType::Activation: return "activation";
    case OpType::Softmax: return "softmax";
    case OpType::BatchNorm: return "batchNorm";
    case OpType::Dropout: return "dropout";
    case OpType::Add: return "add";
    case OpType::Concatenate: return "concatenate";
  }
  return "unknown";
}

Plan::Plan(PlanSpec spec) : spec_(std::move(spec)) {
  validate();
  const size_t bufferCount = spec_.bufferSampleSizes.size();
  const int64_t batch = spec_.maxBatch;

  // Parameters: trainable first so the optimizer covers one range.
  paramOffsets_.assign(spec_.params.size(), 0);
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < spec_.params.size(); ++i) {
      if (spec_.params[i].trainable != (pass == 0)) continue;
      paramOffsets_[i] = totalParams_;
      // Round each parameter up to 16 floats so every one starts aligned.
      totalParams_ += (spec_.params[i].size + 15) / 16 * 16;
    }
    if (pass == 0) trainableParams_ = totalParams_;
  }
  parameters_.resize(static_cast<size_t>(totalParams_));
  gradients_.resize(static_cast<size_t>(totalParams_));
  std::memset(parameters_.data(), 0, sizeof(float) * totalParams_);
  std::memset(gradients_.data(), 0, sizeof(float) * totalParams_);
  const OptimizerSpec& optimizer = spec_.optimizer;
  const int stateSlots = optimizer.kind == OptimizerSpec::Kind::Adam ? 2 : (optimizer.momentum != 0.0f ? 1 : 0);
  optimizerStateSize_ = stateSlots * trainableParams_;
  optimizerState_.resize(static_cast<size_t>(std::max<int64_t>(optimizerStateSize_, 1)));
  std::memset(optimizerState_.data(), 0, sizeof(float) * std::max<int64_t>(optimizerStateSize_, 1));

  // Which buffers need gradients: those downstream of a trainable parameter.
  needsGrad_.assign(bufferCount, false);
  for (const OpSpec& op : spec_.ops) {
    bool needs = false;
    for (int p : op.params) needs = needs || spec_.params[p].trainable;
    for (int input : op.inputs) needs = needs || needsGrad_[input];
    needsGrad_[op.output] = needs;
  }

  values_.resize(bufferCount);
  grads_.resize(bufferCount);
  int64_t largest = 1;
  // Buffers no op touches (the lowering fused their producer away) get no memory.
  std::vector<bool> used(bufferCount, false);
  used[spec_.inputBuffer] = true;
  for (const OpSpec& op : spec_.ops) {
    used[op.output] = true;
    for (int input : op.inputs) used[input] = true;
  }
  for (size_t b = 0; b < bufferCount; ++b) {
    if (!used[b]) continue;
    const int64_t count = batch * spec_.bufferSampleSizes[b];
    values_[b].resize(static_cast<size_t>(count));
    if (needsGrad_[b] || static_cast<int>(b) == spec_.outputBuffer) grads_[b].resize(static_cast<size_t>(count));
    largest = std::max(largest, count);
  }
  scratch_.resize(static_cast<size_t>(largest));
  gradWritten_.assign(bufferCount, false);

  int64_t workspaceFloats = 1;
  opState_.resize(spec_.ops.size());
  for (size_t i = 0; i < spec_.ops.size(); ++i) {
    OpSpec& op = spec_.ops[i];
    if (op.type == OpType::Conv2D) {
      Conv2DShape shape = op.conv;
      shape.batch = batch;
      workspaceFloats = std::max<int64_t>(workspaceFloats, static_cast<int64_t>(conv2dWorkspaceFloats(shape)));
    } else if (op.type == OpType::BatchNorm) {
      opState_[i].resize(static_cast<size_t>(2 * op.channels));
    } else if (op.type == OpType::Dropout) {
      opState_[i].resize(static_cast<size_t>(batch * spec_.bufferSampleSizes[op.output]));
    }
  }
  workspace_.resize(static_cast<size_t>(workspaceFloats));

  // Inference folding: a batch norm whose input is a linear convolution read
  // by nothing else. The folded filter and bias live in the conv's op state.
  std::vector<int> readers(bufferCount, 0);
  for (const OpSpec& op : spec_.ops) {
    for (int input : op.inputs) ++readers[input];
  }
  foldInto_.assign(spec_.ops.size(), -1);
  foldedAway_.assign(spec_.ops.size(), false);
  for (size_t j = 0; j < spec_.ops.size(); ++j) {
    const OpSpec& norm = spec_.ops[j];
    if (norm.type != OpType::BatchNorm) continue;
    for (size_t i = 0; i < j; ++i) {
      const OpSpec& conv = spec_.ops[i];
      if (conv.type != OpType::Conv2D || conv.output != norm.inputs[0]) continue;
      if (conv.activation != Activation::Linear || readers[conv.output] != 1 || conv.output == spec_.outputBuffer) break;
      foldInto_[i] = static_cast<int>(j);
      foldedAway_[j] = true;
      const Conv2DShape& s = conv.conv;
      opState_[i].resize(static_cast<size_t>(s.kernelH * s.kernelW * s.inC * s.outC + s.outC));
      break;
    }
  }
}

void Plan::runFoldedConvolution(const OpSpec& conv, const OpSpec& norm, int64_t batch, size_t convIndex) {
  // y = gamma * (conv(x) + b - mean) / sqrt(var + eps) + beta
  //   = conv'(x) + b', with W'[.., c] = W[.., c] * scale[c] and
  //   b'[c] = (b[c] - mean[c]) * scale[c] + beta[c], scale = gamma / sqrt(var + eps).
  const Conv2DShape& s = conv.conv;
  const int64_t outC = s.outC;
  const int64_t rows = s.kernelH * s.kernelW * s.inC;
  float* filter = opState_[convIndex].data();
  float* bias = filter + rows * outC;
  const float* gamma = param(norm, 0);
  const float* beta = param(norm, 1);
  const float* mean = param(norm, 2);
  const float* variance = param(norm, 3);
  const float* convBias = conv.params.size() > 1 ? param(conv, 1) : nullptr;
  float* scale = bias;  // computed in place, then turned into the bias
  for (int64_t c = 0; c < outC; ++c) scale[c] = gamma[c] / std::sqrt(variance[c] + norm.epsilon);
  const float* weights = param(conv, 0);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < outC; ++c) filter[r * outC + c] = weights[r * outC + c] * scale[c];
  }
  for (int64_t c = 0; c < outC; ++c) bias[c] = ((convBias ? convBias[c] : 0.0f) - mean[c]) * scale[c] + beta[c];
  Conv2DShape shape = s;
  shape.batch = batch;
  float* out = value(norm.output);
  const int64_t count = batch * spec_.bufferSampleSizes[norm.output];
  if (norm.inputs.size() > 1) {
    // Residual: the activation comes after the add.
    conv2dForward(shape, value(conv.inputs[0]), filter, bias, FusedActivation::None, out, workspace_.data());
    addActivationForward(count, out, value(norm.inputs[1]), norm.activation, out);
    return;
  }
  const FusedActivation fused = fusedFor(norm.activation);
  conv2dForward(shape, value(conv.inputs[0]), filter, bias, fused, out, workspace_.data());
  if (norm.activation != Activation::Linear && fused == FusedActivation::None) {
    activationForward(norm.activation, count, out, out);
  }
}

void Plan::validate() const {
  const int bufferCount = static_cast<int>(spec_.bufferSampleSizes.size());
  const int paramCount = static_cast<int>(spec_.params.size());
  if (spec_.maxBatch < 1) throw std::invalid_argument("kiln plan: batch size must be at least 1");
  if (bufferCount == 0) throw std::invalid_argument("kiln plan: no buffers");
  for (int64_t size : spec_.bufferSampleSizes) {
    if (size < 1) throw std::invalid_argument("kiln plan: every buffer needs at least one element per sample");
  }
  if (spec_.inputBuffer < 0 || spec_.inputBuffer >= bufferCount || spec_.outputBuffer < 0 ||
      spec_.outputBuffer >= bufferCount) {
    throw std::invalid_argument("kiln plan: input or output buffer out of range");
  }
  std::vector<bool> produced(bufferCount, false);
  produced[spec_.inputBuffer] = true;
  for (const OpSpec& op : spec_.ops) {
    for (int input : op.inputs) {
      if (input < 0 || input >= bufferCount) fail(op, "input buffer out of range");
      if (!produced[input]) fail(op, "reads a buffer before it is produced (ops must be in topological order)");
    }
    if (op.output < 0 || op.output >= bufferCount) fail(op, "output buffer out of range");
    if (produced[op.output]) fail(op, "writes a buffer that is already produced");
    produced[op.output] = true;
    for (int p : op.params) {
      if (p < 0 || p >= paramCount) fail(op, "parameter index out of range");
    }
    const int64_t in = op.inputs.empty() ? 0 : spec_.bufferSampleSizes[op.inputs[0]];
    const int64_t out = spec_.bufferSampleSizes[op.output];
    auto expectParams = [&](size_t count) {
      if (op.params.size() != count) fail(op, "expected " + std::to_string(count) + " parameters");
    };
    auto expectParamSize = [&](int which, int64_t size) {
      if (spec_.params[op.params[which]].size != size) {
        fail(op, "parameter '" + spec_.params[op.params[which]].name + "' has " +
                     std::to_string(spec_.params[op.params[which]].size) + " values, expected " + std::to_string(size));
      }
    };
    auto expectInputs = [&](size_t count) {
      if (op.inputs.size() != count) fail(op, "expected " + std::to_string(count) + " inputs");
    };
    switch (op.type) {
      case OpType::Conv2D: {
        expectInputs(1);
        const Conv2DShape& s = op.conv;
        if (s.inC < 1 || s.outC < 1 || s.kernelH < 1 || s.kernelW < 1 || s.strideH < 1 || s.strideW < 1 ||
            s.dilationH < 1 || s.dilationW < 1 || s.padTop < 0 || s.padBottom < 0 || s.padLeft < 0 || s.padRight < 0) {
          fail(op, "invalid convolution geometry");
        }
        if (s.outH() < 1 || s.outW() < 1) fail(op, "kernel larger than the padded input");
        if (in != s.inH * s.inW * s.inC) fail(op, "input size does not match inH * inW * inC");
        if (out != s.outH() * s.outW() * s.outC) fail(op, "output size does not match the convolution's output");
        if (op.params.size() != 1 && op.params.size() != 2) fail(op, "expected a kernel and an optional bias");
        expectParamSize(0, s.kernelH * s.kernelW * s.inC * s.outC);
        if (op.params.size() == 2) expectParamSize(1, s.outC);
        break;
      }
      case OpType::Dense:
        expectInputs(1);
        if (in != op.inFeatures || out != op.units) fail(op, "sizes do not match inFeatures / units");
        if (op.params.size() != 1 && op.params.size() != 2) fail(op, "expected a kernel and an optional bias");
        expectParamSize(0, op.inFeatures * op.units);
        if (op.params.size() == 2) expectParamSize(1, op.units);
        break;
      case OpType::MaxPool:
      case OpType::AvgPool: {
        expectInputs(1);
        expectParams(0);
        const Pool2DShape& s = op.pool;
        if (s.windowH < 1 || s.windowW < 1 || s.strideH < 1 || s.strideW < 1 || s.outH() < 1 || s.outW() < 1) {
          fail(op, "invalid pooling geometry");
        }
        if (in != s.inH * s.inW * s.channels || out != s.outH() * s.outW() * s.channels) {
          fail(op, "sizes do not match the pooling geometry");
        }
        break;
      }
      case OpType::GlobalAvgPool:
        expectInputs(1);
        expectParams(0);
        if (in != op.spatial * op.channels || out != op.channels) fail(op, "sizes do not match spatial * channels");
        break;
      case OpType::Activation:
      case OpType::Dropout:
        expectInputs(1);
        expectParams(0);
        if (in != out) fail(op, "input and output sizes differ");
        if (op.type == OpType::Dropout && !(op.rate >= 0.0f && op.rate < 1.0f)) fail(op, "rate must be in [0, 1)");
        break;
      case OpType::Softmax:
        expectInputs(1);
        expectParams(0);
        if (in != out || op.channels < 1 || in % op.channels != 0) fail(op, "sizes do not match channels");
        break;
      case OpType::BatchNorm:
        // A second input is a residual added before the activation.
        if (op.inputs.size() != 1 && op.inputs.size() != 2) fail(op, "expected 1 or 2 inputs");
        expectParams(4);  // gamma, beta, moving mean, moving variance
        if (in != out || op.channels < 1 || in % op.channels != 0) fail(op, "sizes do not match channels");
        if (op.inputs.size() == 2) {
          if (spec_.bufferSampleSizes[op.inputs[1]] != out) fail(op, "the residual input must have the output's shape");
          if (op.inputs[1] == op.inputs[0]) fail(op, "the residual input must differ from the normalised input");
        }
        for (int i = 0; i < 4; ++i) expectParamSize(i, op.channels);
        if (!(op.epsilon > 0.0f)) fail(op, "epsilon must be positive");
        break;
      case OpType::Add:
        if (op.inputs.size() < 2) fail(op, "expected at least 2 inputs");
        expectParams(0);
        for (int input : op.inputs) {
          if (spec_.bufferSampleSizes[input] != out) fail(op, "all inputs must have the output's shape");
        }
        break;
      case OpType::Concatenate: {
        if (op.inputs.size() < 1 || op.concatChannels.size() != op.inputs.size()) fail(op, "channel list mismatch");
        expectParams(0);
        int64_t total = 0;
        for (size_t i = 0; i < op.inputs.size(); ++i) {
          if (spec_.bufferSampleSizes[op.inputs[i]] != op.spatial * op.concatChannels[i]) {
            fail(op, "input " + std::to_string(i) + " does not match spatial * channels");
          }
          total += op.concatChannels[i];
        }
        if (out != op.spatial * total) fail(op, "output does not match the concatenated channels");
        break;
      }
    }
  }
  if (!produced[spec_.outputBuffer]) throw std::invalid_argument("kiln plan: the output buffer is never produced");
}

void Plan::forward(int64_t batch, bool training) {
  const bool fold = folding_ && !training;
  for (size_t i = 0; i < spec_.ops.size(); ++i) {
    if (fold && foldedAway_[i]) continue;
    if (fold && foldInto_[i] >= 0) {
      runFoldedConvolution(spec_.ops[i], spec_.ops[foldInto_[i]], batch, i);
      continue;
    }
    runForward(spec_.ops[i], batch, training, i);
  }
  lastBatch_ = batch;
}

void Plan::runForward(const OpSpec& op, int64_t batch, bool training, size_t opIndex) {
  float* out = value(op.output);
  const float* in = op.inputs.empty() ? nullptr : value(op.inputs[0]);
  const int64_t outCount = batch * spec_.bufferSampleSizes[op.output];
  switch (op.type) {
    case OpType::Conv2D: {
      Conv2DShape shape = op.conv;
      shape.batch = batch;
      const float* bias = op.params.size() > 1 ? param(op, 1) : nullptr;
      const FusedActivation fused = fusedFor(op.activation);
      conv2dForward(shape, in, param(op, 0), bias, fused, out, workspace_.data());
      if (op.activation != Activation::Linear && fused == FusedActivation::None) {
        activationForward(op.activation, outCount, out, out);
      }
      break;
    }
    case OpType::Dense:
      gemm(false, false, batch, op.units, op.inFeatures, 1.0f, in, op.inFeatures, param(op, 0), op.units, 0.0f, out,
           op.units);
      if (op.params.size() > 1) biasAdd(batch, op.units, param(op, 1), out);
      if (op.activation != Activation::Linear) activationForward(op.activation, outCount, out, out);
      break;
    case OpType::MaxPool:
    case OpType::AvgPool: {
      Pool2DShape shape = op.pool;
      shape.batch = batch;
      if (op.type == OpType::MaxPool) maxPool2dForward(shape, in, out);
      else avgPool2dForward(shape, in, out);
      break;
    }
    case OpType::GlobalAvgPool:
      globalAvgPoolForward(batch, op.spatial, op.channels, in, out);
      break;
    case OpType::Activation:
      activationForward(op.activation, outCount, in, out);
      break;
    case OpType::Softmax:
      softmaxForward(outCount / op.channels, op.channels, in, out);
      break;
    case OpType::BatchNorm: {
      const int64_t rows = outCount / op.channels;
      float* saved = opState_[opIndex].data();
      // A following relu/sigmoid/tanh layer, and a residual add before it,
      // are fused in by the lowering.
      const float* residual = op.inputs.size() > 1 ? value(op.inputs[1]) : nullptr;
      if (training) {
        batchNormResidualForwardTraining(rows, op.channels, in, residual, param(op, 0), param(op, 1), op.epsilon,
                                         op.momentum, op.activation, out, saved, saved + op.channels, param(op, 2),
                                         param(op, 3));
      } else {
        batchNormResidualForwardInference(rows, op.channels, in, residual, param(op, 0), param(op, 1), param(op, 2),
                                          param(op, 3), op.epsilon, op.activation, out);
      }
      break;
    }
    case OpType::Dropout:
      if (training && op.rate > 0.0f) {
        // The mask of update k depends on (seed, k): a resumed model continues
        // with exactly the masks the uninterrupted run would have drawn.
        dropoutForward(outCount, op.rate, op.seed, static_cast<uint64_t>(updates_), in, out, opState_[opIndex].data());
      } else if (out != in) {
        std::memcpy(out, in, sizeof(float) * outCount);
      }
      break;
    case OpType::Add:
      if (op.inputs.size() == 2) {
        addActivationForward(outCount, value(op.inputs[0]), value(op.inputs[1]), op.activation, out);
      } else {
        add(outCount, value(op.inputs[0]), value(op.inputs[1]), out);
        for (size_t i = 2; i < op.inputs.size(); ++i) axpy(outCount, 1.0f, value(op.inputs[i]), out);
        if (op.activation != Activation::Linear) activationForward(op.activation, outCount, out, out);
      }
      break;
    case OpType::Concatenate: {
      const int64_t rows = batch * op.spatial;
      int64_t total = 0;
      for (int64_t c : op.concatChannels) total += c;
      int64_t offset = 0;
      for (size_t i = 0; i < op.inputs.size(); ++i) {
        const float* src = value(op.inputs[i]);
        const int64_t channels = op.concatChannels[i];
        for (int64_t r = 0; r < rows; ++r) {
          std::memcpy(out + r * total + offset, src + r * channels, sizeof(float) * channels);
        }
        offset += channels;
      }
      break;
    }
  }
}

float* Plan::gradTarget(int buffer) {
  return gradWritten_[buffer] ? scratch_.data() : grad(buffer);
}

void Plan::finishGradTarget(int buffer, int64_t count) {
  if (gradWritten_[buffer]) axpy(count, 1.0f, scratch_.data(), grad(buffer));
  gradWritten_[buffer] = true;
}

void Plan::runBackward(const OpSpec& op, int64_t batch, size_t opIndex) {
  const int output = op.output;
  const int64_t outCount = batch * spec_.bufferSampleSizes[output];
  if (!needsGrad_[output]) return;
  if (!gradWritten_[output]) {
    // Nothing downstream used this output: its gradient is zero.
    std::memset(grad(output), 0, sizeof(float) * outCount);
    gradWritten_[output] = true;
  }
  float* gOut = grad(output);
  const float* out = value(output);
  const int input = op.inputs.empty() ? -1 : op.inputs[0];
  const bool inputNeedsGrad = input >= 0 && needsGrad_[input];
  const int64_t inCount = input >= 0 ? batch * spec_.bufferSampleSizes[input] : 0;

  // The op's own activation first, in place: nothing reads this gradient later.
  if ((op.type == OpType::Conv2D || op.type == OpType::Dense) && op.activation != Activation::Linear) {
    activationBackward(op.activation, outCount, out, gOut, gOut);
  }

  switch (op.type) {
    case OpType::Conv2D: {
      Conv2DShape shape = op.conv;
      shape.batch = batch;
      float* gBias = op.params.size() > 1 ? paramGrad(op, 1) : nullptr;
      conv2dBackwardFilter(shape, value(input), gOut, paramGrad(op, 0), gBias, workspace_.data());
      // An input that already holds a gradient (a ResNet block's input, after
      // the shortcut's) is added to in the convolution's own output pass
      // where the kernels can; otherwise through scratch and an axpy.
      if (inputNeedsGrad &&
          !(gradWritten_[input] && conv2dBackwardDataAdd(shape, gOut, param(op, 0), grad(input), workspace_.data()))) {
        conv2dBackwardData(shape, gOut, param(op, 0), gradTarget(input), workspace_.data());
        finishGradTarget(input, inCount);
      }
      break;
    }
    case OpType::Dense:
      gemm(true, false, op.inFeatures, op.units, batch, 1.0f, value(input), op.inFeatures, gOut, op.units, 0.0f,
           paramGrad(op, 0), op.units);
      if (op.params.size() > 1) biasGradient(batch, op.units, gOut, paramGrad(op, 1));
      if (inputNeedsGrad) {
        gemm(false, true, batch, op.inFeatures, op.units, 1.0f, gOut, op.units, param(op, 0), op.units, 0.0f,
             gradTarget(input), op.inFeatures);
        finishGradTarget(input, inCount);
      }
      break;
    case OpType::MaxPool:
    case OpType::AvgPool: {
      if (!inputNeedsGrad) break;
      Pool2DShape shape = op.pool;
      shape.batch = batch;
      float* target = gradTarget(input);
      if (op.type == OpType::MaxPool) maxPool2dBackward(shape, value(input), gOut, target);
      else avgPool2dBackward(shape, gOut, target);
      finishGradTarget(input, inCount);
      break;
    }
    case OpType::GlobalAvgPool:
      if (!inputNeedsGrad) break;
      globalAvgPoolBackward(batch, op.spatial, op.channels, gOut, gradTarget(input));
      finishGradTarget(input, inCount);
      break;
    case OpType::Activation:
      if (!inputNeedsGrad) break;
      activationBackward(op.activation, outCount, out, gOut, gradTarget(input));
      finishGradTarget(input, inCount);
      break;
    case OpType::Softmax:
      if (!inputNeedsGrad) break;
      softmaxBackward(outCount / op.channels, op.channels, out, gOut, gradTarget(input));
      finishGradTarget(input, inCount);
      break;
    case OpType::BatchNorm: {
      const float* saved = opState_[opIndex].data();
      // The kernel always produces gradInput; route it to scratch when the
      // input needs none, so gamma and beta still get theirs.
      float* target = inputNeedsGrad ? gradTarget(input) : nullptr;
      if (op.inputs.size() > 1) {
        const int residual = op.inputs[1];
        float* gResidual = needsGrad_[residual] ? grad(residual) : nullptr;
        batchNormResidualBackward(outCount / op.channels, op.channels, value(input), out, gOut, param(op, 0), saved,
                                  saved + op.channels, op.activation, target, gResidual,
                                  gResidual != nullptr && gradWritten_[residual], paramGrad(op, 0), paramGrad(op, 1));
        if (gResidual != nullptr) gradWritten_[residual] = true;
      } else {
        batchNormActivationBackward(outCount / op.channels, op.channels, value(input), out, gOut, param(op, 0), saved,
                                    saved + op.channels, op.activation, target, paramGrad(op, 0), paramGrad(op, 1));
      }
      if (inputNeedsGrad) finishGradTarget(input, inCount);
      break;
    }
    case OpType::Dropout:
      if (!inputNeedsGrad) break;
      if (op.rate > 0.0f) {
        dropoutBackward(outCount, opState_[opIndex].data(), gOut, gradTarget(input));
      } else {
        std::memcpy(gradTarget(input), gOut, sizeof(float) * outCount);
      }
      finishGradTarget(input, inCount);
      break;
    case OpType::Add: {
      // The activation's derivative and the fan-out to every input in one
      // pass; an input that already holds a gradient is accumulated into
      // directly, with no scratch. Gradients go to distinct inputs two at a
      // time; an input listed twice is handled one at a time.
      std::vector<int> targets;
      for (int each : op.inputs) {
        if (needsGrad_[each]) targets.push_back(each);
      }
      if (op.activation != Activation::Linear && targets.size() != 2) {
        activationBackward(op.activation, outCount, out, gOut, gOut);
      }
      const Activation pending = targets.size() == 2 ? op.activation : Activation::Linear;
      if (targets.size() == 2 && targets[0] != targets[1]) {
        activationBackwardTo(pending, outCount, out, gOut, grad(targets[0]), gradWritten_[targets[0]], grad(targets[1]),
                             gradWritten_[targets[1]]);
        gradWritten_[targets[0]] = gradWritten_[targets[1]] = true;
      } else {
        if (pending != Activation::Linear) activationBackward(pending, outCount, out, gOut, gOut);
        for (int each : targets) {
          activationBackwardTo(Activation::Linear, outCount, out, gOut, grad(each), gradWritten_[each], nullptr, false);
          gradWritten_[each] = true;
        }
      }
      break;
    }
    case OpType::Concatenate: {
      const int64_t rows = batch * op.spatial;
      int64_t total = 0;
      for (int64_t c : op.concatChannels) total += c;
      int64_t offset = 0;
      for (size_t i = 0; i < op.inputs.size(); ++i) {
        const int each = op.inputs[i];
        const int64_t channels = op.concatChannels[i];
        if (needsGrad_[each]) {
          float* target = gradTarget(each);
          for (int64_t r = 0; r < rows; ++r) {
            std::memcpy(target + r * channels, gOut + r * total + offset, sizeof(float) * channels);
          }
          finishGradTarget(each, rows * channels);
        }
        offset += channels;
      }
      break;
    }
  }
}

StepResult Plan::lossAndGradient(int64_t batch, const int32_t* labels, const float* targets, bool withGradient) {
  StepResult result;
  const int64_t classes = outputSize();
  const float* outputs = value(spec_.outputBuffer);
  float* gradOutputs = withGradient ? grad(spec_.outputBuffer) : nullptr;
  if (spec_.loss == LossType::SoftmaxCrossEntropy) {
    if (labels != nullptr) {
      result.loss = softmaxCrossEntropy(batch, classes, outputs, labels, gradOutputs, &result.correct);
    } else {
      result.loss = softmaxCrossEntropySoft(batch, classes, outputs, targets, gradOutputs, &result.correct);
    }
  } else {
    if (targets != nullptr) {
      result.loss = meanSquaredError(batch, classes, outputs, targets, gradOutputs);
    } else {
      // Integer labels with MSE: regress onto one-hot vectors.
      float* oneHot = scratch_.data();
      std::fill(oneHot, oneHot + batch * classes, 0.0f);
      for (int64_t r = 0; r < batch; ++r) oneHot[r * classes + labels[r]] = 1.0f;
      result.loss = meanSquaredError(batch, classes, outputs, oneHot, gradOutputs);
    }
    if (labels != nullptr) {
      for (int64_t r = 0; r < batch; ++r) {
        const float* row = outputs + r * classes;
        const int64_t best = std::max_element(row, row + classes) - row;
        if (best == labels[r]) ++result.correct;
      }
    }
  }
  return result;
}

void Plan::backward(int64_t batch) {
  std::fill(gradWritten_.begin(), gradWritten_.end(), false);
  gradWritten_[spec_.outputBuffer] = true;
  for (size_t i = spec_.ops.size(); i-- > 0;) runBackward(spec_.ops[i], batch, i);
}

void Plan::applyUpdate(float learningRate) {
  const OptimizerSpec& o = spec_.optimizer;
  ++updates_;
  if (o.kind == OptimizerSpec::Kind::Sgd) {
    sgdUpdate(trainableParams_, learningRate, o.momentum, o.nesterov, o.weightDecay, parameters_.data(),
              gradients_.data(), o.momentum != 0.0f ? optimizerState_.data() : nullptr);
  } else {
    adamUpdate(trainableParams_, learningRate, o.beta1, o.beta2, o.epsilon, o.weightDecay, o.decoupledWeightDecay,
               updates_, parameters_.data(), gradients_.data(), optimizerState_.data(),
               optimizerState_.data() + trainableParams_);
  }
}

StepResult Plan::computeGradients(int64_t batch, const float* images, const int32_t* labels, const float* targets) {
  if (images != inputBuffer()) std::memcpy(inputBuffer(), images, sizeof(float) * batch * inputSize());
  forward(batch, true);
  StepResult result = lossAndGradient(batch, labels, targets, true);
  backward(batch);
  return result;
}

StepResult Plan::trainStep(int64_t batch, const float* images, const int32_t* labels, const float* targets,
                           float learningRate) {
  StepResult result = computeGradients(batch, images, labels, targets);
  // An update computed from a non-finite loss or gradient would poison every
  // weight it touches; it is dropped instead, and the caller decides whether
  // to stop or go on. Each check is one vectorised pass over the arena.
  if (!std::isfinite(result.loss) || !allFinite(trainableParams_, gradients_.data())) {
    result.skipped = true;
    return result;
  }
  applyUpdate(learningRate);
  result.weightsNonFinite = !allFinite(trainableParams_, parameters_.data());
  return result;
}

StepResult Plan::evaluate(int64_t batch, const float* images, const int32_t* labels, const float* targets,
                          bool exact) {
  folding_ = !exact;
  if (images != inputBuffer()) std::memcpy(inputBuffer(), images, sizeof(float) * batch * inputSize());
  forward(batch, false);
  if (labels == nullptr && targets == nullptr) return StepResult();
  return lossAndGradient(batch, labels, targets, false);
}

void Plan::predict(int64_t batch, const float* images, float* outputs) {
  evaluate(batch, images, nullptr, nullptr);
  std::memcpy(outputs, value(spec_.outputBuffer), sizeof(float) * batch * outputSize());
}

void Plan::readBuffer(int buffer, int64_t batch, float* out) const {
  std::memcpy(out, values_[buffer].data(), sizeof(float) * batch * spec_.bufferSampleSizes[buffer]);
}

}  // namespace kiln
