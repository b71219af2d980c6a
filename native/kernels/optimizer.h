// In-place optimizer updates over flat parameter arrays, fp32.
#pragma once

#include <cstdint>

namespace kiln {

// g' = grad + weightDecay * param (L2, coupled)
// velocity = momentum * velocity + g'
// param -= lr * (nesterov ? g' + momentum * velocity : velocity)
// With momentum == 0 the velocity buffer may be null.
void sgdUpdate(int64_t count, float learningRate, float momentum, bool nesterov, float weightDecay,
               float* param, const float* grad, float* velocity);

// Adam (weightDecay coupled as L2 when !decoupled) or AdamW (decoupled: param
// -= lr * weightDecay * param). step is the 1-based step count after this
// update, used for bias correction.
void adamUpdate(int64_t count, float learningRate, float beta1, float beta2, float epsilon, float weightDecay,
                bool decoupled, int64_t step, float* param, const float* grad, float* firstMoment,
                float* secondMoment);

}  // namespace kiln
