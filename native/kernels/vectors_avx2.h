// The AVX2 + FMA vector type and operations that the ISA-generic kernel
// templates (conv2d_direct_tiles.h, conv2d_planar_tiles.h) are written over:
// 8-lane ymm vectors, 16 registers. For AVX2 translation units only.
//
// Internal linkage on purpose (see lanes_avx2.h).
#pragma once

#if defined(__x86_64__)

#include <immintrin.h>

#include <cstdint>

#include "lanes_avx2.h"
#include "planar_pixels_avx2.h"

namespace kiln {
namespace {

struct Avx2Vectors {
  using Vec = __m256;
  using Mask = __m256i;
  static constexpr int kLanes = 8;
  static constexpr int kRegisters = 16;
  // vmaskmov masks live in ymm registers.
  static constexpr int kRegistersPerMask = 1;
  // Direct tiles: the widest correlation tile (pixels) and filter-gradient
  // tile (rows) per NB blocks: NB * width + NB + 1 <= 16.
  static constexpr int kMaxTileWidth[5] = {0, 12, 6, 4, 2};
  static constexpr int kMaxTileRows[5] = {0, 12, 6, 4, 2};
  // No shared-source tiles (conv2d_direct_tiles.h): one 8-lane block means
  // at most 8 channels, which mostly take the planar path.
  static constexpr bool kSharedSourceTiles = false;
  // Planar tiles: vectors of 8 columns in the driver's two 16-column vectors.
  static constexpr int kMaxUnits = 4;
  static Vec zero() { return _mm256_setzero_ps(); }
  static Vec set1(float x) { return _mm256_set1_ps(x); }
  static Vec load(const float* p) { return _mm256_load_ps(p); }
  static Vec loadu(const float* p) { return _mm256_loadu_ps(p); }
  static Vec loadMasked(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  static void storeu(float* p, Vec v) { _mm256_storeu_ps(p, v); }
  static void storeMasked(float* p, Mask m, Vec v) { _mm256_maskstore_ps(p, m, v); }
  static Vec broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
  static Vec max(Vec a, Vec b) { return _mm256_max_ps(a, b); }
  static Mask mask(int64_t valid) { return laneMask(valid); }
  // An empty asm that takes v in a register: the load that made it cannot
  // be folded into the instructions that use it (see conv2d_planar_tiles.h).
  static void inRegister(Vec& v) { __asm__("" : "+x"(v)); }
  // The sum of the lanes.
  static float sum(Vec v) {
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_shuffle_ps(q, q, _MM_SHUFFLE(1, 1, 1, 1)));
    return _mm_cvtss_f32(q);
  }
  // n (1..8) pixels of OC channels to NHWC from one vector per channel.
  template <int OC>
  [[gnu::always_inline]] static void storePixels(float* dst, const Vec (&y)[OC], int64_t n) {
    storePixels8<OC>(dst, y, n);
  }
};

}  // namespace
}  // namespace kiln

#endif  // defined(__x86_64__)
