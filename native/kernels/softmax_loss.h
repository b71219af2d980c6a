// Softmax and losses over rows of logits [rows, classes], fp32.
// Losses return the MEAN over rows; gradients are of that mean. Softmax
// subtracts each row's max first, so large logits never overflow.
#pragma once

#include <cstdint>

namespace kiln {

void softmaxForward(int64_t rows, int64_t classes, const float* logits, float* probabilities);
// gradLogits = softmax Jacobian^T * gradProbabilities (from the probabilities).
void softmaxBackward(int64_t rows, int64_t classes, const float* probabilities,
                     const float* gradProbabilities, float* gradLogits);

// Integer labels in [0, classes). gradLogits may be null (loss only).
// Returns the mean loss; *correct (may be null) counts rows whose argmax
// equals the label. A label out of range is the caller's to check first.
double softmaxCrossEntropy(int64_t rows, int64_t classes, const float* logits, const int32_t* labels,
                           float* gradLogits, int64_t* correct);
// Soft / one-hot targets [rows, classes], each row a distribution.
double softmaxCrossEntropySoft(int64_t rows, int64_t classes, const float* logits, const float* targets,
                               float* gradLogits, int64_t* correct);
// Mean over all rows * classes of (prediction - target)^2.
double meanSquaredError(int64_t rows, int64_t classes, const float* predictions, const float* targets,
                        float* gradPredictions);

}  // namespace kiln
