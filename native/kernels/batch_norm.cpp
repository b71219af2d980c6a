// Batch normalisation over row-major [rows, channels] (NHWC with rows = N*H*W):
// the linear case of the fused batch-norm + activation kernels in fused.cpp,
// which hold the loops, the fixed-block reductions (bitwise independent of the
// thread count) and the one-pass-per-block statistics.
//
// savedMean, savedInvStd, runningMean and runningVar may be null (not
// written). With a single row the unbiased variance is undefined; the running
// variance then takes the biased one (0).
#include "batch_norm.h"

#include "fused.h"

namespace kiln {

void batchNormForwardTraining(int64_t rows, int64_t channels, const float* input, const float* gamma,
                              const float* beta, float epsilon, float momentum, float* output,
                              float* savedMean, float* savedInvStd, float* runningMean, float* runningVar) {
  batchNormActivationForwardTraining(rows, channels, input, gamma, beta, epsilon, momentum, Activation::Linear, output,
                                     savedMean, savedInvStd, runningMean, runningVar);
}

void batchNormForwardInference(int64_t rows, int64_t channels, const float* input, const float* gamma,
                               const float* beta, const float* runningMean, const float* runningVar,
                               float epsilon, float* output) {
  batchNormActivationForwardInference(rows, channels, input, gamma, beta, runningMean, runningVar, epsilon,
                                      Activation::Linear, output);
}

void batchNormBackward(int64_t rows, int64_t channels, const float* input, const float* gradOutput,
                       const float* gamma, const float* savedMean, const float* savedInvStd, float* gradInput,
                       float* gradGamma, float* gradBeta) {
  // The linear activation never reads its output: pass the input there.
  batchNormActivationBackward(rows, channels, input, input, gradOutput, gamma, savedMean, savedInvStd,
                              Activation::Linear, gradInput, gradGamma, gradBeta);
}

}  // namespace kiln
