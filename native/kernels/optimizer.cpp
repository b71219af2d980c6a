// In-place optimizer updates over flat fp32 parameter arrays; every element
// is independent, so the arrays are split across threads in contiguous
// chunks. Semantics follow PyTorch's SGD (momentum without dampening,
// optional Nesterov, coupled L2 weight decay) and Adam / AdamW (bias-corrected
// moments; epsilon added to the corrected root second moment).
#include "optimizer.h"

#include <cmath>

#include "../runtime/thread_pool.h"

namespace kiln {
namespace {

constexpr int64_t kMinChunk = 16384;

}  // namespace

void sgdUpdate(int64_t count, float learningRate, float momentum, bool nesterov, float weightDecay, float* param,
               const float* grad, float* velocity) {
  parallelFor(count, kMinChunk, [&](int64_t begin, int64_t end) {
    if (momentum == 0.0f || velocity == nullptr) {
      for (int64_t i = begin; i < end; ++i) param[i] -= learningRate * (grad[i] + weightDecay * param[i]);
      return;
    }
    for (int64_t i = begin; i < end; ++i) {
      const float g = grad[i] + weightDecay * param[i];
      const float v = momentum * velocity[i] + g;
      velocity[i] = v;
      param[i] -= learningRate * (nesterov ? g + momentum * v : v);
    }
  });
}

void adamUpdate(int64_t count, float learningRate, float beta1, float beta2, float epsilon, float weightDecay,
                bool decoupled, int64_t step, float* param, const float* grad, float* firstMoment,
                float* secondMoment) {
  const double correction1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step));
  const double correction2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step));
  // param -= (lr / c1) * m / (sqrt(v) / sqrt(c2) + eps), as PyTorch computes it.
  const float stepSize = static_cast<float>(learningRate / correction1);
  const float inverseRootCorrection2 = static_cast<float>(1.0 / std::sqrt(correction2));
  const float decayFactor = decoupled ? 1.0f - learningRate * weightDecay : 1.0f;
  const float couplingDecay = decoupled ? 0.0f : weightDecay;
  parallelFor(count, kMinChunk, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float p = param[i] * decayFactor;
      const float g = grad[i] + couplingDecay * param[i];
      const float m = beta1 * firstMoment[i] + (1.0f - beta1) * g;
      const float v = beta2 * secondMoment[i] + (1.0f - beta2) * g * g;
      firstMoment[i] = m;
      secondMoment[i] = v;
      param[i] = p - stepSize * m / (std::sqrt(v) * inverseRootCorrection2 + epsilon);
    }
  });
}

}  // namespace kiln
