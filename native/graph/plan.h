// A compiled training plan: the ops of a model's DAG in topological order,
// with every buffer they need allocated once for a maximum batch size.
//
// One call runs a whole training step (forward, loss, backward, optimizer
// update) with no allocation and no crossing into JavaScript. Activations are
// NHWC, stored per buffer as [batch, sampleSize]. Parameters live in ONE arena:
// trainable ones first (so the optimizer is one call over one range), then
// non-trainable state such as batch-norm running statistics.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../kernels/conv2d.h"
#include "../kernels/elementwise.h"
#include "../kernels/pooling.h"
#include "../runtime/aligned_buffer.h"

namespace kiln {

enum class OpType : int {
  Conv2D,
  Dense,
  MaxPool,
  AvgPool,
  GlobalAvgPool,
  Activation,
  Softmax,
  BatchNorm,
  Dropout,
  Add,
  Concatenate,
};

struct ParamSpec {
  std::string name;
  int64_t size = 0;
  bool trainable = true;
};

struct OpSpec {
  OpType type = OpType::Activation;
  std::string name;  // the layer's name, for error messages
  std::vector<int> inputs;
  int output = -1;
  std::vector<int> params;  // indices into the plan's params, in the op's own order
  // Conv2D: geometry (batch is set per call); Dense: inFeatures / units.
  Conv2DShape conv;
  int64_t inFeatures = 0, units = 0;
  // Activation applied to the op's own output (Conv2D, Dense, Activation, Add).
  Activation activation = Activation::Linear;
  Pool2DShape pool;
  // GlobalAvgPool / BatchNorm / Concatenate / Softmax: rows per sample and channels.
  int64_t spatial = 1, channels = 0;
  float epsilon = 1e-3f, momentum = 0.01f;  // BatchNorm (momentum as the new-stat weight)
  float rate = 0.0f;                        // Dropout
  uint64_t seed = 0;                        // Dropout
  std::vector<int64_t> concatChannels;      // Concatenate: channels of each input
};

enum class LossType : int { SoftmaxCrossEntropy = 0, MeanSquaredError = 1 };

struct OptimizerSpec {
  enum class Kind : int { Sgd = 0, Adam = 1 } kind = Kind::Sgd;
  float momentum = 0.0f;
  bool nesterov = false;
  float weightDecay = 0.0f;
  float beta1 = 0.9f, beta2 = 0.999f, epsilon = 1e-7f;
  bool decoupledWeightDecay = false;  // AdamW
};

struct PlanSpec {
  int64_t maxBatch = 1;
  std::vector<int64_t> bufferSampleSizes;  // elements per sample, per buffer
  int inputBuffer = 0;
  int outputBuffer = 0;                    // logits (or the regression output)
  std::vector<ParamSpec> params;           // trainable first, then state
  std::vector<OpSpec> ops;                 // topological order
  LossType loss = LossType::SoftmaxCrossEntropy;
  OptimizerSpec optimizer;
};

struct StepResult {
  double loss = 0.0;
  int64_t correct = 0;
  // trainStep only: the update was not applied because the loss or a
  // gradient was NaN or infinite (the weights stay the last good ones).
  bool skipped = false;
  // trainStep only: the update was applied but left a weight NaN or infinite
  // (a finite but huge update overflowed); it cannot be undone.
  bool weightsNonFinite = false;
};

class Plan {
 public:
  // Validates the spec (indices in range, sizes consistent) and allocates
  // everything; throws std::invalid_argument with a message naming the op.
  explicit Plan(PlanSpec spec);

  const PlanSpec& spec() const { return spec_; }
  int64_t outputSize() const { return spec_.bufferSampleSizes[spec_.outputBuffer]; }
  int64_t inputSize() const { return spec_.bufferSampleSizes[spec_.inputBuffer]; }
  float* parameters() { return parameters_.data(); }
  float* gradients() { return gradients_.data(); }
  int64_t parameterCount() const { return totalParams_; }
  int64_t trainableCount() const { return trainableParams_; }
  float* optimizerState() { return optimizerState_.data(); }
  int64_t optimizerStateCount() const { return optimizerStateSize_; }
  int64_t paramOffset(int param) const { return paramOffsets_[param]; }
  int64_t updateCount() const { return updates_; }
  void setUpdateCount(int64_t updates) { updates_ = updates; }

  // Forward + loss + backward + update. labels (int) for softmax cross-entropy
  // with integer classes; targets ([batch, outputs]) for one-hot / MSE.
  StepResult trainStep(int64_t batch, const float* images, const int32_t* labels, const float* targets,
                       float learningRate);
  // Forward + loss + backward only: gradients() then holds d(loss)/d(params).
  StepResult computeGradients(int64_t batch, const float* images, const int32_t* labels, const float* targets);
  // Inference-mode forward; loss and accuracy when labels or targets are given.
  // Unless `exact`, a batch norm that alone reads a convolution's output is
  // folded into that convolution's weights (one pass instead of three); then
  // the convolution's own output buffer is not written. `exact` keeps every
  // buffer (feature maps).
  StepResult evaluate(int64_t batch, const float* images, const int32_t* labels, const float* targets,
                      bool exact = false);
  // Inference-mode forward; copies the output buffer to `outputs`.
  void predict(int64_t batch, const float* images, float* outputs);
  // Copies a buffer's activations of the last forward pass (first `batch` samples).
  void readBuffer(int buffer, int64_t batch, float* out) const;
  int64_t lastBatch() const { return lastBatch_; }
  // False for a buffer no op touches (fused away), which holds no memory.
  bool hasBuffer(int buffer) const { return values_[buffer].size() > 0; }
  // The input buffer itself: callers may fill it and pass it as `images`.
  float* inputBuffer() { return values_[spec_.inputBuffer].data(); }
  const float* outputBuffer() const { return values_[spec_.outputBuffer].data(); }

 private:
  void validate() const;
  void forward(int64_t batch, bool training);
  StepResult lossAndGradient(int64_t batch, const int32_t* labels, const float* targets, bool withGradient);
  void backward(int64_t batch);
  void applyUpdate(float learningRate);
  void runForward(const OpSpec& op, int64_t batch, bool training, size_t opIndex);
  // Inference: convolution `conv` with batch norm `norm` folded into it.
  void runFoldedConvolution(const OpSpec& conv, const OpSpec& norm, int64_t batch, size_t convIndex);
  void runBackward(const OpSpec& op, int64_t batch, size_t opIndex);
  float* param(const OpSpec& op, int which) { return parameters_.data() + paramOffsets_[op.params[which]]; }
  float* paramGrad(const OpSpec& op, int which) { return gradients_.data() + paramOffsets_[op.params[which]]; }
  float* value(int buffer) { return values_[buffer].data(); }
  float* grad(int buffer) { return grads_[buffer].data(); }
  // Where an op writes d(loss)/d(input): straight into the buffer's gradient
  // the first time in a backward pass, else into scratch to be added.
  float* gradTarget(int buffer);
  void finishGradTarget(int buffer, int64_t count);

  PlanSpec spec_;
  std::vector<int64_t> paramOffsets_;
  int64_t totalParams_ = 0, trainableParams_ = 0, optimizerStateSize_ = 0;
  AlignedBuffer<float> parameters_, gradients_, optimizerState_;
  std::vector<AlignedBuffer<float>> values_, grads_;
  std::vector<bool> needsGrad_;       // buffer depends on a trainable parameter
  std::vector<bool> gradWritten_;     // per backward pass
  std::vector<int> gradPending_;      // buffer whose scratch contribution awaits adding
  std::vector<AlignedBuffer<float>> opState_;   // per op: BN mean/invstd, dropout mask
  AlignedBuffer<float> workspace_, scratch_, activationScratch_;
  std::vector<int> foldInto_;    // conv op -> the batch-norm op folded into it at inference, or -1
  std::vector<bool> foldedAway_; // batch-norm ops done by their convolution at inference
  bool folding_ = false;         // set for the current inference forward
  int64_t updates_ = 0;
  int64_t lastBatch_ = 0;
};

const char* opTypeName(OpType type);

}  // namespace kiln
