// Direct convolution kernels, AVX2 + FMA: conv2d_direct_tiles.h over 8-lane
// ymm vectors, with the 16 ymm registers as the budget. The widest
// correlation tiles per NB blocks are 12, 6, 4, 2 pixels (RW * NB
// accumulators + NB weights + 1 broadcast <= 16), and likewise the widest
// filter-gradient tiles 12, 6, 4, 2 rows; kDirectKernelsAvx2 in
// conv2d_direct.cpp repeats these limits for the driver.
//
// Partial channel blocks (outC not a multiple of 8) use vmaskmov loads and
// stores, whose masks take a ymm register each; full blocks use plain ones,
// chosen once per tile.
#if defined(__x86_64__)

#include <immintrin.h>

#include "conv2d_direct.h"
#include "conv2d_direct_tiles.h"
#include "lanes_avx2.h"

namespace kiln {
namespace {

struct Avx2Vectors {
  using Vec = __m256;
  using Mask = __m256i;
  static constexpr int kLanes = 8;
  static constexpr int kRegisters = 16;
  static constexpr int kRegistersPerMask = 1;
  static constexpr int kMaxTileWidth[5] = {0, 12, 6, 4, 2};
  static constexpr int kMaxTileRows[5] = {0, 12, 6, 4, 2};
  static Vec zero() { return _mm256_setzero_ps(); }
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
};

}  // namespace

void conv2dDirectCorrelateAvx2(const DirectCorrelation& work, int64_t firstTask, int64_t endTask) {
  directCorrelateTasks<Avx2Vectors>(work, firstTask, endTask);
}

void conv2dDirectFilterGradientAvx2(const DirectFilterGradient& work, int64_t firstTask, int64_t endTask) {
  directFilterGradientTasks<Avx2Vectors>(work, firstTask, endTask);
}

}  // namespace kiln

#endif  // defined(__x86_64__)
