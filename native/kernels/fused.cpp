// Fused batch norm + activation, add + activation and the two-target
// activation backward (contracts in fused.h), over row-major [rows, channels].
//
// Passes over memory (N = rows * channels):
//   forward training: one read for the statistics (each reduction block is
//     read once from memory and a second time from cache: block mean, then
//     sums of the centered values and their squares), one read + one write
//     for normalise-and-activate;
//   backward: one pass reading x, y, dy for the two gradient sums, one pass
//     reading them again to write dx; the activation derivative is
//     recomputed in both instead of being stored.
// Block statistics are combined in double in block order (Chan's update:
//   sum (x - mean)^2 = Q - 2 (mean - c) S + n (mean - c)^2 per block, with c
//   the block's shift), so results do not depend on the thread count.
//
// The row-range loops live in a per-ISA table (fused_isa.h); this file holds
// the portable table, the splitting into pool tasks and the per-channel
// arithmetic between the passes. Sigmoid and tanh forward use libm's exp and
// tanh on every ISA (applied to cache-sized pieces right after the affine
// step), so they match activationForward bit for bit.
#include "fused.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "../runtime/cpu_features.h"
#include "../runtime/thread_pool.h"
#include "fused_isa.h"
#include "reduction_blocks.h"

namespace kiln {
namespace {

using reduction_detail::blockCount;
using reduction_detail::rowsPerBlock;

// ---- portable loops ------------------------------------------------------

template <Activation A>
float derivative(float y, float dy) {
  if (A == Activation::Relu) return y > 0.0f ? dy : 0.0f;
  if (A == Activation::Sigmoid) return dy * y * (1.0f - y);
  if (A == Activation::Tanh) return dy * (1.0f - y * y);
  return dy;
}

float activate(Activation activation, float v) {
  switch (activation) {
    case Activation::Relu: return v > 0.0f ? v : 0.0f;
    // exp(-x) overflows to inf for x < -88, giving exactly 0: no NaN.
    case Activation::Sigmoid: return 1.0f / (1.0f + std::exp(-v));
    case Activation::Tanh: return std::tanh(v);
    case Activation::Linear: break;
  }
  return v;
}

void activateInPlace(Activation activation, int64_t count, float* data) {
  if (activation == Activation::Linear) return;
  for (int64_t i = 0; i < count; ++i) data[i] = activate(activation, data[i]);
}

void portableBlockStats(int64_t rows, int64_t channels, const float* x, float* center, float* shifted,
                        float* squares) {
  for (int64_t c = 0; c < channels; ++c) center[c] = shifted[c] = squares[c] = 0.0f;
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * channels;
    for (int64_t c = 0; c < channels; ++c) center[c] += row[c];
  }
  const float n = static_cast<float>(rows);
  for (int64_t c = 0; c < channels; ++c) center[c] /= n;
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * channels;
    for (int64_t c = 0; c < channels; ++c) {
      const float d = row[c] - center[c];
      shifted[c] += d;
      squares[c] += d * d;
    }
  }
}

template <Activation A>
void portableGradSumsFor(int64_t rows, int64_t channels, const float* x, const float* y, const float* dy,
                         const float* mean, float* sumG, float* sumGX) {
  for (int64_t c = 0; c < channels; ++c) sumG[c] = sumGX[c] = 0.0f;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t o = r * channels;
    for (int64_t c = 0; c < channels; ++c) {
      const float g = derivative<A>(A == Activation::Linear ? 0.0f : y[o + c], dy[o + c]);
      sumG[c] += g;
      sumGX[c] += g * (x[o + c] - mean[c]);
    }
  }
}

void portableBlockGradSums(int64_t rows, int64_t channels, Activation activation, const float* x, const float* y,
                           const float* dy, const float* mean, float* sumG, float* sumGX) {
  switch (activation) {
    case Activation::Linear: return portableGradSumsFor<Activation::Linear>(rows, channels, x, y, dy, mean, sumG, sumGX);
    case Activation::Relu: return portableGradSumsFor<Activation::Relu>(rows, channels, x, y, dy, mean, sumG, sumGX);
    case Activation::Sigmoid:
      return portableGradSumsFor<Activation::Sigmoid>(rows, channels, x, y, dy, mean, sumG, sumGX);
    case Activation::Tanh: return portableGradSumsFor<Activation::Tanh>(rows, channels, x, y, dy, mean, sumG, sumGX);
  }
}

void portableApplyAffine(int64_t rows, int64_t channels, Activation activation, const float* x, const float* center,
                         const float* scale, const float* shift, float* out) {
  const bool relu = activation == Activation::Relu;
  for (int64_t r = 0; r < rows; ++r) {
    const float* in = x + r * channels;
    float* o = out + r * channels;
    for (int64_t c = 0; c < channels; ++c) {
      const float v = (in[c] - center[c]) * scale[c] + shift[c];
      o[c] = relu ? (v > 0.0f ? v : 0.0f) : v;
    }
  }
}

template <Activation A>
void portableApplyBackwardFor(int64_t rows, int64_t channels, const float* x, const float* y, const float* dy,
                              const float* mean, const float* a, const float* b, const float* d, float* dx) {
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t o = r * channels;
    for (int64_t c = 0; c < channels; ++c) {
      const float g = derivative<A>(A == Activation::Linear ? 0.0f : y[o + c], dy[o + c]);
      dx[o + c] = g * a[c] + (x[o + c] - mean[c]) * b[c] + d[c];
    }
  }
}

void portableApplyBackward(int64_t rows, int64_t channels, Activation activation, const float* x, const float* y,
                           const float* dy, const float* mean, const float* a, const float* b, const float* d,
                           float* dx) {
  switch (activation) {
    case Activation::Linear:
      return portableApplyBackwardFor<Activation::Linear>(rows, channels, x, y, dy, mean, a, b, d, dx);
    case Activation::Relu:
      return portableApplyBackwardFor<Activation::Relu>(rows, channels, x, y, dy, mean, a, b, d, dx);
    case Activation::Sigmoid:
      return portableApplyBackwardFor<Activation::Sigmoid>(rows, channels, x, y, dy, mean, a, b, d, dx);
    case Activation::Tanh:
      return portableApplyBackwardFor<Activation::Tanh>(rows, channels, x, y, dy, mean, a, b, d, dx);
  }
}

void portableFlatForward(int64_t count, Activation activation, const float* a, const float* b, float* out) {
  if (b == nullptr) {
    if (activation == Activation::Linear) {
      if (a != out) std::memmove(out, a, sizeof(float) * count);
      return;
    }
    for (int64_t i = 0; i < count; ++i) out[i] = activate(activation, a[i]);
    return;
  }
  if (activation == Activation::Linear) {
    for (int64_t i = 0; i < count; ++i) out[i] = a[i] + b[i];
  } else if (activation == Activation::Relu) {
    for (int64_t i = 0; i < count; ++i) {
      const float v = a[i] + b[i];
      out[i] = v > 0.0f ? v : 0.0f;
    }
  } else {
    for (int64_t i = 0; i < count; ++i) out[i] = activate(activation, a[i] + b[i]);
  }
}

// One output array per loop so each vectorises on its own; g is cheap to
// recompute and the second loop reads y and dy from cache (chunks are small).
template <Activation A>
void portableFlatBackwardFor(int64_t count, const float* y, const float* dy, float* grad, bool accumulate) {
  if (accumulate) {
    for (int64_t i = 0; i < count; ++i) grad[i] += derivative<A>(y[i], dy[i]);
  } else {
    for (int64_t i = 0; i < count; ++i) grad[i] = derivative<A>(y[i], dy[i]);
  }
}

void portableFlatBackward(int64_t count, Activation activation, const float* y, const float* dy, float* gradA,
                          bool accumulateA, float* gradB, bool accumulateB) {
  constexpr int64_t kPiece = 2048;
  for (int64_t begin = 0; begin < count; begin += kPiece) {
    const int64_t n = std::min(kPiece, count - begin);
    // gradB first: gradA may be dy itself, which gradB still needs.
    for (float* grad : {gradB, gradA}) {
      if (grad == nullptr) continue;
      const bool accumulate = grad == gradA ? accumulateA : accumulateB;
      const float* yy = y + begin;
      const float* gg = dy + begin;
      float* out = grad + begin;
      switch (activation) {
        case Activation::Linear: portableFlatBackwardFor<Activation::Linear>(n, yy, gg, out, accumulate); break;
        case Activation::Relu: portableFlatBackwardFor<Activation::Relu>(n, yy, gg, out, accumulate); break;
        case Activation::Sigmoid: portableFlatBackwardFor<Activation::Sigmoid>(n, yy, gg, out, accumulate); break;
        case Activation::Tanh: portableFlatBackwardFor<Activation::Tanh>(n, yy, gg, out, accumulate); break;
      }
    }
  }
}

void portableAxpy(int64_t count, float alpha, const float* x, float* y) {
  for (int64_t i = 0; i < count; ++i) y[i] += alpha * x[i];
}

// ---- drivers ---------------------------------------------------------------

bool vectorActivation(Activation activation) {
  return activation == Activation::Linear || activation == Activation::Relu;
}

int64_t rowGrain(int64_t channels) {
  return std::max<int64_t>(1, fused_isa::kMinTaskElements / channels);
}

// Normalise-and-activate over all rows: the ISA loop for the affine part
// (with ReLU fused), then libm sigmoid / tanh on the cache-hot piece.
// With a residual: output = activation(affine + residual), piece by piece
// (the affine result is still in cache when the add reads it back), with
// the same arithmetic as a batch norm followed by a separate add.
void applyForward(int64_t rows, int64_t channels, Activation activation, const float* input, const float* center,
                  const float* scale, const float* shift, const float* residual, float* output) {
  const fused_isa::Kernels k = fused_isa::activeKernels();
  const bool fusedInLoop = vectorActivation(activation);
  const int64_t pieceRows = std::max<int64_t>(1, 4096 / channels);
  parallelFor(rows, rowGrain(channels), [&](int64_t r0, int64_t r1) {
    if (residual != nullptr) {
      const fused_isa::Kernels add = fusedInLoop ? k : fused_isa::portableKernels();
      for (int64_t r = r0; r < r1; r += pieceRows) {
        const int64_t n = std::min(pieceRows, r1 - r);
        float* out = output + r * channels;
        k.applyAffine(n, channels, Activation::Linear, input + r * channels, center, scale, shift, out);
        add.flatForward(n * channels, activation, out, residual + r * channels, out);
      }
      return;
    }
    if (fusedInLoop) {
      k.applyAffine(r1 - r0, channels, activation, input + r0 * channels, center, scale, shift, output + r0 * channels);
      return;
    }
    for (int64_t r = r0; r < r1; r += pieceRows) {
      const int64_t n = std::min(pieceRows, r1 - r);
      float* out = output + r * channels;
      k.applyAffine(n, channels, Activation::Linear, input + r * channels, center, scale, shift, out);
      activateInPlace(activation, n * channels, out);
    }
  });
}

}  // namespace

namespace fused_isa {

Kernels portableKernels() {
  return {portableBlockStats, portableBlockGradSums, portableApplyAffine, portableApplyBackward,
          portableFlatForward, portableFlatBackward, portableAxpy};
}

Kernels activeKernels() {
#if defined(__x86_64__)
  switch (activeIsa()) {
    case Isa::Avx512: return avx512Kernels();
    case Isa::Avx2: return avx2Kernels();
    case Isa::Scalar: break;
  }
#endif
  return portableKernels();
}

}  // namespace fused_isa

void batchNormResidualForwardTraining(int64_t rows, int64_t channels, const float* input, const float* residual,
                                      const float* gamma, const float* beta, float epsilon, float momentum,
                                      Activation activation, float* output, float* savedMean, float* savedInvStd,
                                      float* runningMean, float* runningVar) {
  if (rows <= 0 || channels <= 0) return;
  const fused_isa::Kernels k = fused_isa::activeKernels();
  const int64_t perBlock = rowsPerBlock(channels);
  const int64_t blocks = blockCount(rows, channels);
  const int64_t slot = 3 * channels;  // center, shifted sum, squares
  std::vector<float> partial(static_cast<size_t>(blocks * slot));
  parallelFor(blocks, std::max<int64_t>(1, fused_isa::kMinTaskElements / (perBlock * channels)),
              [&](int64_t b0, int64_t b1) {
                for (int64_t block = b0; block < b1; ++block) {
                  float* s = partial.data() + block * slot;
                  const int64_t first = block * perBlock;
                  const int64_t n = std::min(rows, first + perBlock) - first;
                  k.blockStats(n, channels, input + first * channels, s, s + channels, s + 2 * channels);
                }
              });

  std::vector<float> center(static_cast<size_t>(channels)), scale(static_cast<size_t>(channels));
  const double total = static_cast<double>(rows);
  for (int64_t c = 0; c < channels; ++c) {
    double sum = 0.0;
    for (int64_t block = 0; block < blocks; ++block) {
      const float* s = partial.data() + block * slot;
      const double n = static_cast<double>(std::min(rows, (block + 1) * perBlock) - block * perBlock);
      sum += n * s[c] + s[channels + c];
    }
    const double mean = sum / total;
    double squares = 0.0;
    for (int64_t block = 0; block < blocks; ++block) {
      const float* s = partial.data() + block * slot;
      const double n = static_cast<double>(std::min(rows, (block + 1) * perBlock) - block * perBlock);
      const double d = mean - s[c];
      squares += s[2 * channels + c] - 2.0 * d * s[channels + c] + n * d * d;
    }
    squares = std::max(squares, 0.0);
    center[c] = static_cast<float>(mean);
    const double variance = squares / total;
    const double invStd = 1.0 / std::sqrt(variance + static_cast<double>(epsilon));
    scale[c] = static_cast<float>(gamma[c] * invStd);
    if (savedMean != nullptr) savedMean[c] = static_cast<float>(mean);
    if (savedInvStd != nullptr) savedInvStd[c] = static_cast<float>(invStd);
    // With a single row the unbiased variance is undefined; use the biased one (0).
    const double unbiased = rows > 1 ? squares / (total - 1.0) : variance;
    if (runningMean != nullptr) {
      runningMean[c] = (1.0f - momentum) * runningMean[c] + momentum * static_cast<float>(mean);
    }
    if (runningVar != nullptr) {
      runningVar[c] = (1.0f - momentum) * runningVar[c] + momentum * static_cast<float>(unbiased);
    }
  }
  applyForward(rows, channels, activation, input, center.data(), scale.data(), beta, residual, output);
}

void batchNormActivationForwardTraining(int64_t rows, int64_t channels, const float* input, const float* gamma,
                                        const float* beta, float epsilon, float momentum, Activation activation,
                                        float* output, float* savedMean, float* savedInvStd, float* runningMean,
                                        float* runningVar) {
  batchNormResidualForwardTraining(rows, channels, input, nullptr, gamma, beta, epsilon, momentum, activation, output,
                                   savedMean, savedInvStd, runningMean, runningVar);
}

void batchNormResidualForwardInference(int64_t rows, int64_t channels, const float* input, const float* residual,
                                       const float* gamma, const float* beta, const float* runningMean,
                                       const float* runningVar, float epsilon, Activation activation, float* output) {
  if (rows <= 0 || channels <= 0) return;
  std::vector<float> scale(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) {
    const double invStd = 1.0 / std::sqrt(static_cast<double>(runningVar[c]) + static_cast<double>(epsilon));
    scale[c] = static_cast<float>(gamma[c] * invStd);
  }
  applyForward(rows, channels, activation, input, runningMean, scale.data(), beta, residual, output);
}

void batchNormActivationForwardInference(int64_t rows, int64_t channels, const float* input, const float* gamma,
                                         const float* beta, const float* runningMean, const float* runningVar,
                                         float epsilon, Activation activation, float* output) {
  batchNormResidualForwardInference(rows, channels, input, nullptr, gamma, beta, runningMean, runningVar, epsilon,
                                    activation, output);
}

// With g = act'(y) dy, xhat = (x - mean) * invStd and N = rows:
//   gradBeta = sum g, gradGamma = sum g * xhat,
//   dx = gamma * invStd * (g - gradBeta / N - xhat * gradGamma / N).
//
// With a fresh residual gradient to write, each reduction block first writes
// g = act'(y) dy there (flatBackward) and sums from it while it is hot in
// cache; the dx pass then reads g instead of y and dy.
static void batchNormBackwardWith(int64_t rows, int64_t channels, const float* input, const float* output,
                                  const float* gradOutput, const float* gamma, const float* savedMean,
                                  const float* savedInvStd, Activation activation, float* gradInput,
                                  float* gradGamma, float* gradBeta, float* gradResidual) {
  if (channels <= 0) return;
  if (rows <= 0) {
    for (int64_t c = 0; c < channels; ++c) gradGamma[c] = gradBeta[c] = 0.0f;
    return;
  }
  // The linear activation never reads its output; any valid pointer will do.
  if (activation == Activation::Linear) output = input;
  const fused_isa::Kernels k = fused_isa::activeKernels();
  const int64_t perBlock = rowsPerBlock(channels);
  const int64_t blocks = blockCount(rows, channels);
  const int64_t slot = 2 * channels;
  std::vector<float> partial(static_cast<size_t>(blocks * slot));
  parallelFor(blocks, std::max<int64_t>(1, fused_isa::kMinTaskElements / (perBlock * channels)),
              [&](int64_t b0, int64_t b1) {
                for (int64_t block = b0; block < b1; ++block) {
                  float* s = partial.data() + block * slot;
                  const int64_t first = block * perBlock;
                  const int64_t o = first * channels;
                  const int64_t n = std::min(rows, first + perBlock) - first;
                  if (gradResidual != nullptr) {
                    k.flatBackward(n * channels, activation, output + o, gradOutput + o, gradResidual + o, false,
                                   nullptr, false);
                    k.blockGradSums(n, channels, Activation::Linear, input + o, input + o, gradResidual + o, savedMean,
                                    s, s + channels);
                  } else {
                    k.blockGradSums(n, channels, activation, input + o, output + o, gradOutput + o, savedMean, s,
                                    s + channels);
                  }
                }
              });

  const size_t width = static_cast<size_t>(channels);
  std::vector<float> a(width), b(width), d(width);
  const double n = static_cast<double>(rows);
  for (int64_t c = 0; c < channels; ++c) {
    double sumG = 0.0, sumGX = 0.0;
    for (int64_t block = 0; block < blocks; ++block) {
      sumG += partial[block * slot + c];
      sumGX += partial[block * slot + channels + c];
    }
    const double invStd = savedInvStd[c];
    const double sumGXhat = sumGX * invStd;
    gradBeta[c] = static_cast<float>(sumG);
    gradGamma[c] = static_cast<float>(sumGXhat);
    const double scaleK = gamma[c] * invStd;
    a[c] = static_cast<float>(scaleK);
    b[c] = static_cast<float>(-scaleK * invStd * (sumGXhat / n));
    d[c] = static_cast<float>(-scaleK * (sumG / n));
  }
  if (gradInput == nullptr) return;
  parallelFor(rows, rowGrain(channels), [&](int64_t r0, int64_t r1) {
    const int64_t o = r0 * channels;
    if (gradResidual != nullptr) {
      k.applyBackward(r1 - r0, channels, Activation::Linear, input + o, input + o, gradResidual + o, savedMean,
                      a.data(), b.data(), d.data(), gradInput + o);
    } else {
      k.applyBackward(r1 - r0, channels, activation, input + o, output + o, gradOutput + o, savedMean, a.data(),
                      b.data(), d.data(), gradInput + o);
    }
  });
}

void batchNormActivationBackward(int64_t rows, int64_t channels, const float* input, const float* output,
                                 const float* gradOutput, const float* gamma, const float* savedMean,
                                 const float* savedInvStd, Activation activation, float* gradInput, float* gradGamma,
                                 float* gradBeta) {
  batchNormBackwardWith(rows, channels, input, output, gradOutput, gamma, savedMean, savedInvStd, activation,
                        gradInput, gradGamma, gradBeta, nullptr);
}

void batchNormResidualBackward(int64_t rows, int64_t channels, const float* input, const float* output,
                               float* gradOutput, const float* gamma, const float* savedMean, const float* savedInvStd,
                               Activation activation, float* gradInput, float* gradResidual, bool accumulateResidual,
                               float* gradGamma, float* gradBeta) {
  if (gradResidual != nullptr && !accumulateResidual) {
    batchNormBackwardWith(rows, channels, input, output, gradOutput, gamma, savedMean, savedInvStd, activation,
                          gradInput, gradGamma, gradBeta, gradResidual);
    return;
  }
  // g in place of gradOutput (added to an existing residual gradient), then
  // the batch norm's own backward from g.
  activationBackwardTo(activation, rows * channels, output, gradOutput, gradOutput, false, gradResidual,
                       accumulateResidual);
  batchNormBackwardWith(rows, channels, input, nullptr, gradOutput, gamma, savedMean, savedInvStd,
                        Activation::Linear, gradInput, gradGamma, gradBeta, nullptr);
}

void addActivationForward(int64_t count, const float* a, const float* b, Activation activation, float* out) {
  if (count <= 0) return;
  const fused_isa::Kernels k =
      vectorActivation(activation) ? fused_isa::activeKernels() : fused_isa::portableKernels();
  parallelFor(count, fused_isa::kMinTaskElements, [&](int64_t begin, int64_t end) {
    k.flatForward(end - begin, activation, a + begin, b == nullptr ? nullptr : b + begin, out + begin);
  });
}

void activationBackwardTo(Activation activation, int64_t count, const float* output, const float* gradOutput,
                          float* gradA, bool accumulateA, float* gradB, bool accumulateB) {
  if (count <= 0 || (gradA == nullptr && gradB == nullptr)) return;
  const fused_isa::Kernels k = fused_isa::activeKernels();
  parallelFor(count, fused_isa::kMinTaskElements, [&](int64_t begin, int64_t end) {
    k.flatBackward(end - begin, activation, output + begin, gradOutput + begin,
                   gradA == nullptr ? nullptr : gradA + begin, accumulateA,
                   gradB == nullptr ? nullptr : gradB + begin, accumulateB);
  });
}

}  // namespace kiln
