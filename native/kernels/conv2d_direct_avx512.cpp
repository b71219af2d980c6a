// Direct convolution kernels, AVX-512: conv2d_direct_tiles.h over 16-lane
// zmm vectors, with the 32 zmm registers as the budget. The widest
// correlation tiles per NB blocks are 28, 14, 8, 6 pixels (RW * NB
// accumulators + NB weights + 1 broadcast <= 32), the widest filter-gradient
// tiles 24, 12, 8, 6 rows; kDirectKernelsAvx512 in conv2d_direct.cpp repeats
// these limits for the driver.
//
// Partial channel blocks (outC not a multiple of 16) use masked loads and
// stores, their masks in k registers.
#if defined(__x86_64__)

#include <immintrin.h>

#include "conv2d_direct.h"
#include "conv2d_direct_tiles.h"

namespace kiln {
namespace {

struct Avx512Vectors {
  using Vec = __m512;
  using Mask = __mmask16;
  static constexpr int kLanes = 16;
  static constexpr int kRegisters = 32;
  static constexpr int kRegistersPerMask = 0;
  static constexpr int kMaxTileWidth[5] = {0, 28, 14, 8, 6};
  static constexpr int kMaxTileRows[5] = {0, 24, 12, 8, 6};
  static Vec zero() { return _mm512_setzero_ps(); }
  static Vec load(const float* p) { return _mm512_load_ps(p); }
  static Vec loadu(const float* p) { return _mm512_loadu_ps(p); }
  static Vec loadMasked(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
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
    return valid >= 16 ? static_cast<Mask>(0xFFFF) : (valid <= 0 ? static_cast<Mask>(0) : static_cast<Mask>((1u << valid) - 1u));
  }
};

}  // namespace

void conv2dDirectCorrelateAvx512(const DirectCorrelation& work, int64_t firstTask, int64_t endTask) {
  directCorrelateTasks<Avx512Vectors>(work, firstTask, endTask);
}

void conv2dDirectFilterGradientAvx512(const DirectFilterGradient& work, int64_t firstTask, int64_t endTask) {
  directFilterGradientTasks<Avx512Vectors>(work, firstTask, endTask);
}

}  // namespace kiln

#endif  // defined(__x86_64__)
