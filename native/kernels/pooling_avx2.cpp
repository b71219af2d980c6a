// AVX2 max-pool window loops (see pooling_isa.h): 8 channels per ymm, the
// last partial vector in plain scalar code. Backward keeps each channel's
// running max and winning position in registers over the window scan (strict
// '>' keeps the first maximum), then routes the gradient channel by channel.
#if defined(__x86_64__)
#include <immintrin.h>

#include <cstdint>

#include "pooling_isa.h"

namespace kiln {
namespace pooling_isa {

void windowMaxAvx2(const float* image, const int64_t* offsets, int64_t positions, int64_t width, float* out) {
  int64_t c = 0;
  for (; c + 8 <= width; c += 8) {
    __m256 best = _mm256_loadu_ps(image + offsets[0] + c);
    for (int64_t k = 1; k < positions; ++k) {
      // max_ps(v, best) is exactly v > best ? v : best.
      best = _mm256_max_ps(_mm256_loadu_ps(image + offsets[k] + c), best);
    }
    _mm256_storeu_ps(out + c, best);
  }
  for (; c < width; ++c) {
    float best = image[offsets[0] + c];
    for (int64_t k = 1; k < positions; ++k) {
      const float value = image[offsets[k] + c];
      best = value > best ? value : best;
    }
    out[c] = best;
  }
}

void windowMaxRouteAvx2(const float* image, const int64_t* offsets, int64_t positions, int64_t width,
                        const float* gradOutput, float* gradImage) {
  alignas(32) int32_t winners[8];
  int64_t c = 0;
  for (; c + 8 <= width; c += 8) {
    __m256 best = _mm256_loadu_ps(image + offsets[0] + c);
    __m256 winner = _mm256_setzero_ps();  // positions as int32 bits
    for (int64_t k = 1; k < positions; ++k) {
      const __m256 value = _mm256_loadu_ps(image + offsets[k] + c);
      const __m256 larger = _mm256_cmp_ps(value, best, _CMP_GT_OQ);
      best = _mm256_blendv_ps(best, value, larger);
      winner = _mm256_blendv_ps(winner, _mm256_castsi256_ps(_mm256_set1_epi32(static_cast<int32_t>(k))), larger);
    }
    _mm256_store_si256(reinterpret_cast<__m256i*>(winners), _mm256_castps_si256(winner));
    for (int64_t j = 0; j < 8; ++j) gradImage[offsets[winners[j]] + c + j] += gradOutput[c + j];
  }
  for (; c < width; ++c) {
    float best = image[offsets[0] + c];
    int64_t winner = 0;
    for (int64_t k = 1; k < positions; ++k) {
      const float value = image[offsets[k] + c];
      if (value > best) {
        best = value;
        winner = k;
      }
    }
    gradImage[offsets[winner] + c] += gradOutput[c];
  }
}

}  // namespace pooling_isa
}  // namespace kiln
#endif
