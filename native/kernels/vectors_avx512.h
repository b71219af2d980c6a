// The AVX-512 vector type and operations that the ISA-generic kernel
// templates (conv2d_direct_tiles.h, conv2d_planar_tiles.h) are written over:
// 16-lane zmm vectors, 32 registers, masks in k registers. For AVX-512
// translation units only.
//
// Internal linkage on purpose (see lanes_avx2.h).
#pragma once

#if defined(__x86_64__)

#include <immintrin.h>

#include <cstdint>

#include "planar_pixels_avx2.h"

namespace kiln {
namespace {

struct Avx512Vectors {
  using Vec = __m512;
  using Mask = __mmask16;
  static constexpr int kLanes = 16;
  static constexpr int kRegisters = 32;
  static constexpr int kRegistersPerMask = 0;
  // Direct tiles: the widest correlation tile (pixels) per NB blocks,
  // NB * width + NB + 1 <= 32, and filter-gradient tile (rows).
  static constexpr int kMaxTileWidth[5] = {0, 28, 14, 8, 6};
  static constexpr int kMaxTileRows[5] = {0, 24, 12, 8, 6};
  // Shared-source tiles for one block of channels (conv2d_direct_tiles.h):
  // with 16 lanes a 16-channel layer is one block, and broadcasts bound it.
  static constexpr bool kSharedSourceTiles = true;
  // Planar tiles: the driver's two 16-column vectors.
  static constexpr int kMaxUnits = 2;
  static Vec zero() { return _mm512_setzero_ps(); }
  static Vec set1(float x) { return _mm512_set1_ps(x); }
  static Vec load(const float* p) { return _mm512_load_ps(p); }
  static Vec loadu(const float* p) { return _mm512_loadu_ps(p); }
  static Vec loadMasked(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  // The lanes in m from p, the others from `into`.
  static Vec loadMerged(const float* p, Mask m, Vec into) { return _mm512_mask_loadu_ps(into, m, p); }
  static void storeu(float* p, Vec v) { _mm512_storeu_ps(p, v); }
  static void storeMasked(float* p, Mask m, Vec v) { _mm512_mask_storeu_ps(p, m, v); }
  static Vec broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
  // Zero-masked with every lane kept: _mm512_max_ps's undefined pass-through
  // operand trips GCC 12's -Wmaybe-uninitialized.
  static Vec max(Vec a, Vec b) { return _mm512_maskz_max_ps(static_cast<Mask>(0xFFFF), a, b); }
  // Lanes [0, valid) set; valid is clamped to [0, 16].
  static Mask mask(int64_t valid) {
    if (valid >= 16) return static_cast<Mask>(0xFFFF);
    return valid <= 0 ? static_cast<Mask>(0) : static_cast<Mask>((1u << valid) - 1u);
  }
  // Lanes 0-7 (GCC 12's _mm512_castps512_ps256 has an undefined operand that
  // trips -Wmaybe-uninitialized; this compiles to the same register use).
  static __m256 lowHalf(Vec v) { return _mm512_extractf32x8_ps(v, 0); }
  // An empty asm that takes v in a register: the load that made it cannot
  // be folded into the instructions that use it (see conv2d_planar_tiles.h).
  static void inRegister(Vec& v) { __asm__("" : "+v"(v)); }
  // The sum of the lanes.
  static float sum(Vec v) {
    const __m256 half = _mm256_add_ps(lowHalf(v), _mm512_extractf32x8_ps(v, 1));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(half), _mm256_extractf128_ps(half, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_shuffle_ps(q, q, _MM_SHUFFLE(1, 1, 1, 1)));
    return _mm_cvtss_f32(q);
  }
  // n (1..16) pixels of OC channels to NHWC from one vector per channel:
  // each 8-pixel half through the AVX2 transposition (scatters, the
  // AVX-512 way, are microcoded and slow on AMD).
  template <int OC>
  [[gnu::always_inline]] static void storePixels(float* dst, const Vec (&y)[OC], int64_t n) {
    __m256 low[OC], high[OC];
#pragma GCC unroll 8
    for (int o = 0; o < OC; ++o) {
      low[o] = lowHalf(y[o]);
      high[o] = _mm512_extractf32x8_ps(y[o], 1);
    }
    storePixels8<OC>(dst, low, n < 8 ? n : 8);
    if (n > 8) storePixels8<OC>(dst + 8 * OC, high, n - 8);
  }
};

}  // namespace
}  // namespace kiln

#endif  // defined(__x86_64__)
