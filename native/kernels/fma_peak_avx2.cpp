// FMA peak loop for AVX2 + FMA: 12 independent ymm chains, enough to cover
// the FMA latency (4-5 cycles) on two FMA ports.
#if defined(__x86_64__)

#include <immintrin.h>

#include "fma_peak.h"

namespace kiln {
namespace {

constexpr int kChains = 12;

float run(int64_t iterations) {
  __m256 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(static_cast<float>(c));
  // acc converges to 1 and stays finite however long the loop runs.
  const __m256 scale = _mm256_set1_ps(0.999999f);
  const __m256 offset = _mm256_set1_ps(0.000001f);
  for (int64_t n = 0; n < iterations; ++n) {
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], scale, offset);
  }
  __m256 sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum = _mm256_add_ps(sum, acc[c]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, sum);
  float total = 0.0f;
  for (float lane : lanes) total += lane;
  return total;
}

}  // namespace

extern const FmaPeakLoop kFmaPeakLoopAvx2 = {"avx2 fma", kChains * 8 * 2, run};

}  // namespace kiln

#endif  // defined(__x86_64__)
