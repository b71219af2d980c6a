// Direct convolution kernels, AVX2 + FMA: the tiles of conv2d_direct_tiles.h
// over 8-lane ymm vectors, with the 16 ymm registers as the budget; this file
// compiles the correlation, conv2d_direct_filter_gradient_avx2.cpp the filter
// gradient. The widest
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
#include "conv2d_direct_correlate.h"
#include "vectors_avx2.h"

namespace kiln {

void conv2dDirectCorrelateAvx2(const DirectCorrelation& work, int64_t firstTask, int64_t endTask) {
  directCorrelateTasks<Avx2Vectors>(work, firstTask, endTask);
}

}  // namespace kiln

#endif  // defined(__x86_64__)
