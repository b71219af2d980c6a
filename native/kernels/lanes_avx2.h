// Partial AVX2 vectors, for AVX2 translation units only (those built with
// -mavx2 -mfma): lane masks for vmaskmovps loads, and stores of a vector's
// first n floats with plain 1-, 2- and 4-float stores (vmaskmovps stores
// are microcoded on AMD: the fused batch-norm passes ran at 1-2 GB/s with
// them).
//
// Internal linkage on purpose, as in transpose_avx2.h: an inline function
// with external linkage included by translation units built for different
// ISAs could be merged by the linker into one copy compiled for the wrong
// one; each including file gets its own copy.
#pragma once

#if defined(__x86_64__)

#include <immintrin.h>

#include <cstdint>

namespace kiln {
namespace {

alignas(32) const int32_t kLaneMaskWindow[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

// Lanes [0, valid) set; valid is clamped to [0, 8].
inline __m256i laneMask(int64_t valid) {
  const int64_t v = valid < 0 ? 0 : (valid > 8 ? 8 : valid);
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kLaneMaskWindow + 8 - v));
}

// The first n (0..3) floats of q.
inline void storeFirst(float* dst, __m128 q, int64_t n) {
  if (n >= 2) {
    _mm_storel_pi(reinterpret_cast<__m64*>(dst), q);
    if (n == 3) _mm_store_ss(dst + 2, _mm_movehl_ps(q, q));
  } else if (n == 1) {
    _mm_store_ss(dst, q);
  }
}

// The first n (0..8) floats of v.
inline void storeFirst(float* dst, __m256 v, int64_t n) {
  if (n >= 8) {
    _mm256_storeu_ps(dst, v);
    return;
  }
  __m128 q = _mm256_castps256_ps128(v);
  if (n >= 4) {
    _mm_storeu_ps(dst, q);
    q = _mm256_extractf128_ps(v, 1);
    dst += 4;
    n -= 4;
  }
  if (n == 4) _mm_storeu_ps(dst, q);
  else storeFirst(dst, q, n);
}

}  // namespace
}  // namespace kiln

#endif  // defined(__x86_64__)
