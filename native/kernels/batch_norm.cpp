// Batch normalisation over row-major [rows, channels] (NHWC with rows = N*H*W):
// statistics are per channel, so every inner loop runs over the contiguous
// channels of one row and vectorises.
//
// Reductions (mean, variance, and the two gradient sums) use the fixed row
// blocks of reduction_blocks.h: blocks are summed in parallel, each into its
// own slot (double accumulators), and the slots are then added in block
// order. The result is bitwise independent of the thread count. The variance
// is a second pass over (x - mean)^2, which stays accurate when |mean| is
// large next to the spread.
//
// savedMean, savedInvStd, runningMean and runningVar may be null (not
// written). With a single row the unbiased variance is undefined; the running
// variance then takes the biased one (0).
#include "batch_norm.h"

#include <cmath>
#include <vector>

#include "../runtime/thread_pool.h"
#include "reduction_blocks.h"

namespace kiln {
namespace {

using reduction_detail::blockCount;
using reduction_detail::rowsPerBlock;

constexpr int64_t kMinChunk = 16384;

// Per-channel sums over all rows in a fixed order: accumulate(row, sums) adds
// one row's terms to `sums`, which holds width arrays of channels doubles laid
// end to end; result receives the same layout.
template <typename Accumulate>
void reduceRows(int64_t rows, int64_t channels, int width, const Accumulate& accumulate, double* result) {
  const int64_t perBlock = rowsPerBlock(channels);
  const int64_t blocks = blockCount(rows, channels);
  const int64_t slot = width * channels;
  std::vector<double> partial(static_cast<size_t>(blocks * slot), 0.0);
  parallelFor(blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t block = b0; block < b1; ++block) {
      double* sums = partial.data() + block * slot;
      const int64_t end = std::min(rows, (block + 1) * perBlock);
      for (int64_t r = block * perBlock; r < end; ++r) accumulate(r, sums);
    }
  });
  for (int64_t i = 0; i < slot; ++i) result[i] = 0.0;
  for (int64_t block = 0; block < blocks; ++block) {
    const double* sums = partial.data() + block * slot;
    for (int64_t i = 0; i < slot; ++i) result[i] += sums[i];
  }
}

// y = (x - center) * scale + shift per channel, rows split across threads.
// Centering before scaling keeps precision when |mean| is large next to the spread.
void applyAffine(int64_t rows, int64_t channels, const float* input, const float* center, const float* scale,
                 const float* shift, float* output) {
  parallelFor(rows, std::max<int64_t>(1, kMinChunk / std::max<int64_t>(1, channels)), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* x = input + r * channels;
      float* y = output + r * channels;
      for (int64_t c = 0; c < channels; ++c) y[c] = (x[c] - center[c]) * scale[c] + shift[c];
    }
  });
}

}  // namespace

void batchNormForwardTraining(int64_t rows, int64_t channels, const float* input, const float* gamma,
                              const float* beta, float epsilon, float momentum, float* output,
                              float* savedMean, float* savedInvStd, float* runningMean, float* runningVar) {
  if (rows <= 0 || channels <= 0) return;
  std::vector<double> mean(static_cast<size_t>(channels)), squares(static_cast<size_t>(channels));
  reduceRows(rows, channels, 1, [&](int64_t r, double* sums) {
    const float* x = input + r * channels;
    for (int64_t c = 0; c < channels; ++c) sums[c] += x[c];
  }, mean.data());
  for (int64_t c = 0; c < channels; ++c) mean[c] /= static_cast<double>(rows);
  reduceRows(rows, channels, 1, [&](int64_t r, double* sums) {
    const float* x = input + r * channels;
    for (int64_t c = 0; c < channels; ++c) {
      const double d = x[c] - mean[c];
      sums[c] += d * d;
    }
  }, squares.data());

  std::vector<float> center(static_cast<size_t>(channels)), scale(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) {
    center[c] = static_cast<float>(mean[c]);
    const double variance = squares[c] / static_cast<double>(rows);
    const double invStd = 1.0 / std::sqrt(variance + static_cast<double>(epsilon));
    scale[c] = static_cast<float>(gamma[c] * invStd);
    if (savedMean != nullptr) savedMean[c] = static_cast<float>(mean[c]);
    if (savedInvStd != nullptr) savedInvStd[c] = static_cast<float>(invStd);
    const double unbiased = rows > 1 ? squares[c] / static_cast<double>(rows - 1) : variance;
    if (runningMean != nullptr) {
      runningMean[c] = (1.0f - momentum) * runningMean[c] + momentum * static_cast<float>(mean[c]);
    }
    if (runningVar != nullptr) {
      runningVar[c] = (1.0f - momentum) * runningVar[c] + momentum * static_cast<float>(unbiased);
    }
  }
  applyAffine(rows, channels, input, center.data(), scale.data(), beta, output);
}

void batchNormForwardInference(int64_t rows, int64_t channels, const float* input, const float* gamma,
                               const float* beta, const float* runningMean, const float* runningVar,
                               float epsilon, float* output) {
  if (rows <= 0 || channels <= 0) return;
  std::vector<float> scale(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) {
    const double invStd = 1.0 / std::sqrt(static_cast<double>(runningVar[c]) + static_cast<double>(epsilon));
    scale[c] = static_cast<float>(gamma[c] * invStd);
  }
  applyAffine(rows, channels, input, runningMean, scale.data(), beta, output);
}

// With xhat = (x - mean) * invStd and N = rows:
//   gradBeta = sum dy, gradGamma = sum dy * xhat,
//   dx = gamma * invStd * (dy - gradBeta / N - xhat * gradGamma / N).
void batchNormBackward(int64_t rows, int64_t channels, const float* input, const float* gradOutput,
                       const float* gamma, const float* savedMean, const float* savedInvStd, float* gradInput,
                       float* gradGamma, float* gradBeta) {
  if (channels <= 0) return;
  if (rows <= 0) {
    for (int64_t c = 0; c < channels; ++c) gradGamma[c] = gradBeta[c] = 0.0f;
    return;
  }
  std::vector<double> sums(static_cast<size_t>(2 * channels));
  reduceRows(rows, channels, 2, [&](int64_t r, double* s) {
    const float* x = input + r * channels;
    const float* dy = gradOutput + r * channels;
    double* sumDy = s;
    double* sumDyXhat = s + channels;
    for (int64_t c = 0; c < channels; ++c) {
      sumDy[c] += dy[c];
      sumDyXhat[c] += static_cast<double>(dy[c]) * ((x[c] - savedMean[c]) * savedInvStd[c]);
    }
  }, sums.data());

  // dx = dy * a + (x - mean) * b + d per channel.
  const size_t width = static_cast<size_t>(channels);
  std::vector<float> a(width), b(width), d(width);
  const double n = static_cast<double>(rows);
  for (int64_t c = 0; c < channels; ++c) {
    gradBeta[c] = static_cast<float>(sums[c]);
    gradGamma[c] = static_cast<float>(sums[channels + c]);
    const double invStd = savedInvStd[c];
    const double k = gamma[c] * invStd;
    const double meanDy = sums[c] / n;
    const double meanDyXhat = sums[channels + c] / n;
    // k * (dy - meanDy - (x - mean) * invStd * meanDyXhat)
    a[c] = static_cast<float>(k);
    b[c] = static_cast<float>(-k * invStd * meanDyXhat);
    d[c] = static_cast<float>(-k * meanDy);
  }
  parallelFor(rows, std::max<int64_t>(1, kMinChunk / channels), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* x = input + r * channels;
      const float* dy = gradOutput + r * channels;
      float* dx = gradInput + r * channels;
      for (int64_t c = 0; c < channels; ++c) dx[c] = dy[c] * a[c] + (x[c] - savedMean[c]) * b[c] + d[c];
    }
  });
}

}  // namespace kiln
