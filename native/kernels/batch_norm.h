// Batch normalisation over the channel axis of NHWC data seen as [rows, channels]
// (rows = batch * H * W; a dense layer's output has H = W = 1).
//   training:  y = gamma * (x - mean_batch) / sqrt(var_batch + eps) + beta
//              (biased batch variance); running stats updated as
//              running = (1 - momentum) * running + momentum * batch_stat,
//              the running variance with the unbiased batch variance.
//   inference: the same with the running statistics.
#pragma once

#include <cstdint>

namespace kiln {

void batchNormForwardTraining(int64_t rows, int64_t channels, const float* input, const float* gamma,
                              const float* beta, float epsilon, float momentum, float* output,
                              float* savedMean, float* savedInvStd, float* runningMean, float* runningVar);
void batchNormForwardInference(int64_t rows, int64_t channels, const float* input, const float* gamma,
                               const float* beta, const float* runningMean, const float* runningVar,
                               float epsilon, float* output);
// Uses the savedMean / savedInvStd of the training forward pass; overwrites
// gradInput, gradGamma and gradBeta.
void batchNormBackward(int64_t rows, int64_t channels, const float* input, const float* gradOutput,
                       const float* gamma, const float* savedMean, const float* savedInvStd,
                       float* gradInput, float* gradGamma, float* gradBeta);

}  // namespace kiln
