// Softmax and losses over row-major logits [rows, classes], fp32.
// Rows are independent and split across threads; each row is scanned along
// its contiguous classes. Per-row losses go to their own slot and are summed
// in row order in double afterwards, so the returned mean does not depend on
// the thread count. Every softmax subtracts the row max before exp, so the
// largest exponent is exp(0) = 1 and nothing overflows; the loss uses
// log-sum-exp (max + log(sum exp(x - max))).
#include "softmax_loss.h"

#include <cmath>
#include <vector>

#include "../runtime/thread_pool.h"

namespace kiln {
namespace {

constexpr int64_t kMinWorkPerTask = 16384;

int64_t rowGrain(int64_t classes) { return std::max<int64_t>(1, kMinWorkPerTask / std::max<int64_t>(1, classes)); }

// Index of the first largest value (NaN never wins).
int64_t argMax(const float* row, int64_t classes) {
  int64_t best = 0;
  for (int64_t c = 1; c < classes; ++c) best = row[c] > row[best] ? c : best;
  return best;
}

float rowMax(const float* row, int64_t classes) {
  float m = row[0];
  for (int64_t c = 1; c < classes; ++c) m = row[c] > m ? row[c] : m;
  return m;
}

// Writes exp(x - max) to out (may be null) and returns max and the sum.
void shiftedExp(const float* row, int64_t classes, float* out, float* max, double* sum) {
  const float m = rowMax(row, classes);
  double s = 0.0;
  for (int64_t c = 0; c < classes; ++c) {
    const float e = std::exp(row[c] - m);
    if (out != nullptr) out[c] = e;
    s += e;
  }
  *max = m;
  *sum = s;
}

struct RowResults {
  std::vector<double> loss;
  std::vector<unsigned char> correct;
  explicit RowResults(int64_t rows) : loss(static_cast<size_t>(rows)), correct(static_cast<size_t>(rows)) {}

  double meanLoss(int64_t rows, int64_t* correctCount) const {
    double total = 0.0;
    int64_t hits = 0;
    for (int64_t r = 0; r < rows; ++r) {
      total += loss[r];
      hits += correct[r];
    }
    if (correctCount != nullptr) *correctCount = hits;
    return rows == 0 ? 0.0 : total / static_cast<double>(rows);
  }
};

}  // namespace

void softmaxForward(int64_t rows, int64_t classes, const float* logits, float* probabilities) {
  parallelFor(rows, rowGrain(classes), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float* p = probabilities + r * classes;
      float m;
      double sum;
      shiftedExp(logits + r * classes, classes, p, &m, &sum);
      const float inverse = static_cast<float>(1.0 / sum);
      for (int64_t c = 0; c < classes; ++c) p[c] *= inverse;
    }
  });
}

void softmaxBackward(int64_t rows, int64_t classes, const float* probabilities, const float* gradProbabilities,
                     float* gradLogits) {
  parallelFor(rows, rowGrain(classes), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* p = probabilities + r * classes;
      const float* gp = gradProbabilities + r * classes;
      float* gl = gradLogits + r * classes;
      double dot = 0.0;
      for (int64_t c = 0; c < classes; ++c) dot += static_cast<double>(p[c]) * gp[c];
      const float d = static_cast<float>(dot);
      for (int64_t c = 0; c < classes; ++c) gl[c] = p[c] * (gp[c] - d);
    }
  });
}

double softmaxCrossEntropy(int64_t rows, int64_t classes, const float* logits, const int32_t* labels,
                           float* gradLogits, int64_t* correct) {
  RowResults results(rows);
  const float gradScale = rows == 0 ? 0.0f : 1.0f / static_cast<float>(rows);
  parallelFor(rows, rowGrain(classes), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* x = logits + r * classes;
      const int32_t label = labels[r];
      float* g = gradLogits == nullptr ? nullptr : gradLogits + r * classes;
      float m;
      double sum;
      shiftedExp(x, classes, g, &m, &sum);
      results.loss[r] = static_cast<double>(m) + std::log(sum) - static_cast<double>(x[label]);
      results.correct[r] = argMax(x, classes) == label ? 1 : 0;
      if (g != nullptr) {
        const float inverse = static_cast<float>(1.0 / sum) * gradScale;
        for (int64_t c = 0; c < classes; ++c) g[c] *= inverse;
        g[label] -= gradScale;
      }
    }
  });
  return results.meanLoss(rows, correct);
}

// loss_r = -sum_c t_c log p_c = lse * sum_c t_c - sum_c t_c x_c; its gradient
// p * sum(t) - t is exact even for targets that do not sum to 1.
double softmaxCrossEntropySoft(int64_t rows, int64_t classes, const float* logits, const float* targets,
                               float* gradLogits, int64_t* correct) {
  RowResults results(rows);
  const float gradScale = rows == 0 ? 0.0f : 1.0f / static_cast<float>(rows);
  parallelFor(rows, rowGrain(classes), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* x = logits + r * classes;
      const float* t = targets + r * classes;
      float* g = gradLogits == nullptr ? nullptr : gradLogits + r * classes;
      float m;
      double sum;
      shiftedExp(x, classes, g, &m, &sum);
      const double logSumExp = static_cast<double>(m) + std::log(sum);
      double targetMass = 0.0, targetDotLogits = 0.0;
      for (int64_t c = 0; c < classes; ++c) {
        targetMass += t[c];
        targetDotLogits += static_cast<double>(t[c]) * x[c];
      }
      results.loss[r] = logSumExp * targetMass - targetDotLogits;
      results.correct[r] = argMax(x, classes) == argMax(t, classes) ? 1 : 0;
      if (g != nullptr) {
        const float inverse = static_cast<float>(targetMass / sum) * gradScale;
        for (int64_t c = 0; c < classes; ++c) g[c] = g[c] * inverse - t[c] * gradScale;
      }
    }
  });
  return results.meanLoss(rows, correct);
}

double meanSquaredError(int64_t rows, int64_t classes, const float* predictions, const float* targets,
                        float* gradPredictions) {
  RowResults results(rows);
  const int64_t count = rows * classes;
  const float gradScale = count == 0 ? 0.0f : 2.0f / static_cast<float>(count);
  parallelFor(rows, rowGrain(classes), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* p = predictions + r * classes;
      const float* t = targets + r * classes;
      double sum = 0.0;
      for (int64_t c = 0; c < classes; ++c) {
        const double d = static_cast<double>(p[c]) - t[c];
        sum += d * d;
      }
      results.loss[r] = sum;
      if (gradPredictions != nullptr) {
        float* g = gradPredictions + r * classes;
        for (int64_t c = 0; c < classes; ++c) g[c] = (p[c] - t[c]) * gradScale;
      }
    }
  });
  double total = 0.0;
  for (int64_t r = 0; r < rows; ++r) total += results.loss[r];
  return count == 0 ? 0.0 : total / static_cast<double>(count);
}

}  // namespace kiln
