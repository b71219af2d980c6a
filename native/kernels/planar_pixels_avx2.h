// Channel-planar results back to NHWC, with AVX2 instructions: for the
// planar kernels of both ISAs (conv2d_planar_avx2.cpp, and
// conv2d_planar_avx512.cpp a 256-bit half at a time). Only for translation
// units built with at least -mavx2 -mfma.
//
// Internal linkage on purpose (see lanes_avx2.h): each including file gets
// its own copy, compiled for its own ISA.
#pragma once

#if defined(__x86_64__)

#include <immintrin.h>

#include <cstdint>

#include "lanes_avx2.h"

namespace kiln {
namespace {

constexpr int smallerChannel(int a, int b) { return a < b ? a : b; }

// Writes n (1..8) pixels of OC channels to NHWC: y[o] lane p is pixel p's
// channel o, and pixel p starts at dst + p * OC. Groups of four channels are
// transposed in registers to one 4-float quad per pixel, stored in pixel
// order with 16-byte stores that may spill into the next pixel (the next
// store overwrites that); the last pixel gets an exact-size store, as the
// pixels after it may belong to another thread's task.
template <int OC>
[[gnu::always_inline]] inline void storePixels8(float* dst, const __m256 (&y)[OC], int64_t n) {
  if constexpr (OC == 1) {
    storeFirst(dst, y[0], n);
  } else {
    constexpr int G = (OC + 3) / 4;
    const __m256 zero = _mm256_setzero_ps();
    __m256 quads[G][4];  // pixel p's quad: lower half of quads[g][p % 4] for p < 4, upper half otherwise
#pragma GCC unroll 2
    for (int g = 0; g < G; ++g) {
      const __m256 a = y[4 * g];
      const __m256 b = 4 * g + 1 < OC ? y[smallerChannel(4 * g + 1, OC - 1)] : zero;
      const __m256 c = 4 * g + 2 < OC ? y[smallerChannel(4 * g + 2, OC - 1)] : zero;
      const __m256 d = 4 * g + 3 < OC ? y[smallerChannel(4 * g + 3, OC - 1)] : zero;
      const __m256 ab0 = _mm256_unpacklo_ps(a, b), ab1 = _mm256_unpackhi_ps(a, b);
      const __m256 cd0 = _mm256_unpacklo_ps(c, d), cd1 = _mm256_unpackhi_ps(c, d);
      quads[g][0] = _mm256_shuffle_ps(ab0, cd0, _MM_SHUFFLE(1, 0, 1, 0));
      quads[g][1] = _mm256_shuffle_ps(ab0, cd0, _MM_SHUFFLE(3, 2, 3, 2));
      quads[g][2] = _mm256_shuffle_ps(ab1, cd1, _MM_SHUFFLE(1, 0, 1, 0));
      quads[g][3] = _mm256_shuffle_ps(ab1, cd1, _MM_SHUFFLE(3, 2, 3, 2));
    }
#pragma GCC unroll 8
    for (int p = 0; p < 8; ++p) {
      if (p >= n) break;
#pragma GCC unroll 2
      for (int g = 0; g < G; ++g) {
        const __m128 q = p < 4 ? _mm256_castps256_ps128(quads[g][p % 4]) : _mm256_extractf128_ps(quads[g][p % 4], 1);
        float* at = dst + p * OC + 4 * g;
        if (4 * g + 4 > OC && p == n - 1) storeFirst(at, q, OC - 4 * g);
        else _mm_storeu_ps(at, q);
      }
    }
  }
}

}  // namespace
}  // namespace kiln

#endif  // defined(__x86_64__)
