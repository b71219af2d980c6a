// Fused memory-bound kernels for a training step: batch normalisation with
// the following activation, the residual add with its activation, and an
// activation backward that writes the gradient to both inputs of an add.
// Layout as in batch_norm.h ([rows, channels], rows = N*H*W, channels
// contiguous); activations and derivatives as in elementwise.h (derivatives
// taken from the activation's OUTPUT).
//
// Every result is bitwise independent of the thread count: the reductions
// use the fixed row blocks of reduction_blocks.h, summed in float inside a
// block and in double across blocks in block order.
#pragma once

#include <cstdint>

#include "elementwise.h"

namespace kiln {

// batchNormForwardTraining followed by `activation`, in the same output pass.
// savedMean, savedInvStd, runningMean and runningVar may be null.
void batchNormActivationForwardTraining(int64_t rows, int64_t channels, const float* input, const float* gamma,
                                        const float* beta, float epsilon, float momentum, Activation activation,
                                        float* output, float* savedMean, float* savedInvStd, float* runningMean,
                                        float* runningVar);

void batchNormActivationForwardInference(int64_t rows, int64_t channels, const float* input, const float* gamma,
                                         const float* beta, const float* runningMean, const float* runningVar,
                                         float epsilon, Activation activation, float* output);

// Backward of batchNormActivationForwardTraining. gradOutput is the gradient
// with respect to the activation's output `output`; the activation derivative
// is applied on the fly (never stored); with Activation::Linear `output` is
// not read (may be null). gradInput may be null (then only
// gradGamma and gradBeta are written; both are overwritten).
void batchNormActivationBackward(int64_t rows, int64_t channels, const float* input, const float* output,
                                 const float* gradOutput, const float* gamma, const float* savedMean,
                                 const float* savedInvStd, Activation activation, float* gradInput, float* gradGamma,
                                 float* gradBeta);

// A batch norm whose output is added to `residual` before the activation
// (a ResNet block's second batch norm, shortcut add and ReLU as one op):
// output = activation(batchNorm(input) + residual), with the same arithmetic
// as the three separate steps, without storing the batch norm's own output.
void batchNormResidualForwardTraining(int64_t rows, int64_t channels, const float* input, const float* residual,
                                      const float* gamma, const float* beta, float epsilon, float momentum,
                                      Activation activation, float* output, float* savedMean, float* savedInvStd,
                                      float* runningMean, float* runningVar);
void batchNormResidualForwardInference(int64_t rows, int64_t channels, const float* input, const float* residual,
                                       const float* gamma, const float* beta, const float* runningMean,
                                       const float* runningVar, float epsilon, Activation activation, float* output);
// Its backward: g = activation'(output) * gradOutput goes to gradResidual
// (overwritten, or added when accumulateResidual; null: not wanted) and the
// batch norm's gradients are taken from g. gradOutput may be overwritten
// with g. gradInput may be null as in batchNormActivationBackward.
void batchNormResidualBackward(int64_t rows, int64_t channels, const float* input, const float* output,
                               float* gradOutput, const float* gamma, const float* savedMean, const float* savedInvStd,
                               Activation activation, float* gradInput, float* gradResidual, bool accumulateResidual,
                               float* gradGamma, float* gradBeta);

// out = activation(a + b). out may be a or b.
void addActivationForward(int64_t count, const float* a, const float* b, Activation activation, float* out);

// g = activation'(output) * gradOutput, computed once and written to gradA
// and gradB (either may be null): overwritten, or added when the matching
// accumulate flag is set. Elementwise, so gradA or gradB may be exactly
// gradOutput (same pointer) but must not otherwise overlap it.
void activationBackwardTo(Activation activation, int64_t count, const float* output, const float* gradOutput,
                          float* gradA, bool accumulateA, float* gradB, bool accumulateB);

}  // namespace kiln
