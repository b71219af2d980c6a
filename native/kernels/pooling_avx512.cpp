// AVX-512 max-pool window loops (see pooling_isa.h): 16 channels per zmm,
// the last partial vector masked. Backward keeps each channel's running max
// and winning position in registers over the window scan (strict '>' keeps
// the first maximum), then routes the gradient channel by channel.
#if defined(__x86_64__)
#include <immintrin.h>

#include <cstdint>

#include "pooling_isa.h"

namespace kiln {
namespace pooling_isa {
namespace {

__mmask16 tailMask(int64_t remaining) {
  return remaining >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << remaining) - 1u);
}

}  // namespace

void windowMaxAvx512(const float* image, const int64_t* offsets, int64_t positions, int64_t width, float* out) {
  for (int64_t c = 0; c < width; c += 16) {
    const __mmask16 mask = tailMask(width - c);
    __m512 best = _mm512_maskz_loadu_ps(mask, image + offsets[0] + c);
    for (int64_t k = 1; k < positions; ++k) {
      // max_ps(v, best) is exactly v > best ? v : best. The maskz form avoids
      // GCC 12's false "uninitialized" warning on the unmasked intrinsic.
      best = _mm512_maskz_max_ps(mask, _mm512_maskz_loadu_ps(mask, image + offsets[k] + c), best);
    }
    _mm512_mask_storeu_ps(out + c, mask, best);
  }
}

void windowMaxRouteAvx512(const float* image, const int64_t* offsets, int64_t positions, int64_t width,
                          const float* gradOutput, float* gradImage) {
  alignas(64) int32_t winners[16];
  for (int64_t c = 0; c < width; c += 16) {
    const __mmask16 mask = tailMask(width - c);
    __m512 best = _mm512_maskz_loadu_ps(mask, image + offsets[0] + c);
    __m512i winner = _mm512_setzero_si512();
    for (int64_t k = 1; k < positions; ++k) {
      const __m512 value = _mm512_maskz_loadu_ps(mask, image + offsets[k] + c);
      const __mmask16 larger = _mm512_cmp_ps_mask(value, best, _CMP_GT_OQ);
      best = _mm512_mask_mov_ps(best, larger, value);
      winner = _mm512_mask_mov_epi32(winner, larger, _mm512_set1_epi32(static_cast<int32_t>(k)));
    }
    _mm512_store_si512(winners, winner);
    const int64_t lanes = width - c < 16 ? width - c : 16;
    for (int64_t j = 0; j < lanes; ++j) gradImage[offsets[winners[j]] + c + j] += gradOutput[c + j];
  }
}

}  // namespace pooling_isa
}  // namespace kiln
#endif
