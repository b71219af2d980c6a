// AVX2 max-pool window loops (see pooling_isa.h): 8 channels per ymm, a
// last partial vector read with masked loads and written with plain 1-, 2-
// and 4-float stores (vmaskmovps stores are microcoded on AMD). A row of
// output pixels with the same window shape is one call, so the per-pixel
// cost is only the arithmetic: lenet5's first pool (6 channels, 2x2) spent
// most of its time in per-pixel calls and, in backward, in a branch per
// channel and position that random data mispredicts half the time.
// Backward keeps each channel's running max and winning position in
// registers over the window scan (strict '>' keeps the first maximum), then
// for small windows adds the gradient to every position of the window,
// masked to zero but at the winner: adding +0.0 changes nothing (a gradient
// sum is never -0.0: it starts at +0.0 and x + y is -0.0 only when both
// are), so the sums are those of routing each channel to its winner alone.
// Larger windows add to the winners lane by lane.
#if defined(__x86_64__)
#include <immintrin.h>

#include <cstdint>

#include "lanes_avx2.h"
#include "pooling_isa.h"

namespace kiln {
namespace pooling_isa {
namespace {

constexpr int64_t kLanes = 8;
// Windows of up to this many positions (2x2) route by masked adds to every
// position; larger ones (AlexNet's overlapping 3x3) add lane by lane to the
// winners only: 9 read-modify-writes a vector, each column shared with the
// next window, ran 2-6% slower than the 8 scalar adds.
constexpr int64_t kMaxMaskedPositions = 4;

// One vector of channels [c, c + 8) (full) or [c, c + n) (Full false: the
// lanes past n load as 0 and are never stored).
template <bool Full>
void maxVector(const float* image, const int64_t* offsets, int64_t positions, int64_t c, __m256i mask, int64_t n,
               float* out) {
  const auto load = [&](const float* at) { return Full ? _mm256_loadu_ps(at) : _mm256_maskload_ps(at, mask); };
  __m256 best = load(image + offsets[0] + c);
  for (int64_t k = 1; k < positions; ++k) {
    // max_ps(v, best) is exactly v > best ? v : best.
    best = _mm256_max_ps(load(image + offsets[k] + c), best);
  }
  if (Full) _mm256_storeu_ps(out + c, best);
  else storeFirst(out + c, best, n);
}

template <bool Full>
void routeVector(const float* image, const int64_t* offsets, int64_t positions, int64_t c, __m256i mask, int64_t n,
                 const float* gradOutput, float* gradImage) {
  const auto load = [&](const float* at) { return Full ? _mm256_loadu_ps(at) : _mm256_maskload_ps(at, mask); };
  __m256 best = load(image + offsets[0] + c);
  __m256i winner = _mm256_setzero_si256();
  for (int64_t k = 1; k < positions; ++k) {
    const __m256 value = load(image + offsets[k] + c);
    const __m256 larger = _mm256_cmp_ps(value, best, _CMP_GT_OQ);
    best = _mm256_blendv_ps(best, value, larger);
    winner = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(winner),
                                                  _mm256_castsi256_ps(_mm256_set1_epi32(static_cast<int32_t>(k))), larger));
  }
  if (positions <= kMaxMaskedPositions) {
    const __m256 gradient = load(gradOutput + c);
    for (int64_t k = 0; k < positions; ++k) {
      const __m256 won = _mm256_castsi256_ps(_mm256_cmpeq_epi32(winner, _mm256_set1_epi32(static_cast<int32_t>(k))));
      float* at = gradImage + offsets[k] + c;
      const __m256 sum = _mm256_add_ps(load(at), _mm256_and_ps(won, gradient));
      if (Full) _mm256_storeu_ps(at, sum);
      else storeFirst(at, sum, n);
    }
    return;
  }
  alignas(32) int32_t winners[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(winners), winner);
  for (int64_t j = 0; j < n; ++j) gradImage[offsets[winners[j]] + c + j] += gradOutput[c + j];
}

}  // namespace

void windowMaxRowAvx2(const float* image, const int64_t* offsets, int64_t positions, int64_t width, int64_t pixels,
                      int64_t step, float* out, int64_t outStep) {
  const int64_t full = width / kLanes * kLanes, n = width - full;
  const __m256i mask = laneMask(n);
  for (int64_t p = 0; p < pixels; ++p, image += step, out += outStep) {
    for (int64_t c = 0; c < full; c += kLanes) maxVector<true>(image, offsets, positions, c, mask, kLanes, out);
    if (n > 0) maxVector<false>(image, offsets, positions, full, mask, n, out);
  }
}

void windowMaxRouteRowAvx2(const float* image, const int64_t* offsets, int64_t positions, int64_t width,
                           int64_t pixels, int64_t step, const float* gradOutput, int64_t gradStep, float* gradImage) {
  const int64_t full = width / kLanes * kLanes, n = width - full;
  const __m256i mask = laneMask(n);
  for (int64_t p = 0; p < pixels; ++p, image += step, gradImage += step, gradOutput += gradStep) {
    for (int64_t c = 0; c < full; c += kLanes) {
      routeVector<true>(image, offsets, positions, c, mask, kLanes, gradOutput, gradImage);
    }
    if (n > 0) routeVector<false>(image, offsets, positions, full, mask, n, gradOutput, gradImage);
  }
}

}  // namespace pooling_isa
}  // namespace kiln
#endif
