// FMA peak loop for AVX-512: 16 independent zmm chains, enough to cover the
// FMA latency (4 cycles) on two FMA ports with room to spare.
#if defined(__x86_64__)

#include <immintrin.h>

#include "fma_peak.h"

namespace kiln {
namespace {

constexpr int kChains = 16;

float run(int64_t iterations) {
  __m512 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(static_cast<float>(c));
  // acc converges to 1 and stays finite however long the loop runs.
  const __m512 scale = _mm512_set1_ps(0.999999f);
  const __m512 offset = _mm512_set1_ps(0.000001f);
  for (int64_t n = 0; n < iterations; ++n) {
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], scale, offset);
  }
  __m512 sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum = _mm512_add_ps(sum, acc[c]);
  // Summed through memory: GCC 12's _mm512_reduce_add_ps trips -Wuninitialized.
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, sum);
  float total = 0.0f;
  for (float lane : lanes) total += lane;
  return total;
}

}  // namespace

extern const FmaPeakLoop kFmaPeakLoopAvx512 = {"avx512 fma", kChains * 16 * 2, run};

}  // namespace kiln

#endif  // defined(__x86_64__)
