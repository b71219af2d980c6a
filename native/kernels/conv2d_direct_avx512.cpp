// Direct convolution kernels, AVX-512: the tiles of conv2d_direct_tiles.h
// over 16-lane zmm vectors, with the 32 zmm registers as the budget; this
// file compiles the correlation, conv2d_direct_filter_gradient_avx512.cpp the
// filter gradient. The widest correlation tiles per NB blocks are 28, 14, 8,
// 6 pixels (RW * NB accumulators + NB weights + 1 broadcast <= 32), the
// widest filter-gradient tiles 24, 12, 8, 6 rows; kDirectKernelsAvx512 in
// conv2d_direct.cpp repeats these limits for the driver.
//
// Partial channel blocks (outC not a multiple of 16) use masked loads and
// stores, their masks in k registers.
#if defined(__x86_64__)

#include <immintrin.h>

#include "conv2d_direct.h"
#include "conv2d_direct_correlate.h"
#include "vectors_avx512.h"

namespace kiln {

void conv2dDirectCorrelateAvx512(const DirectCorrelation& work, int64_t firstTask, int64_t endTask) {
  directCorrelateTasks<Avx512Vectors>(work, firstTask, endTask);
}

}  // namespace kiln

#endif  // defined(__x86_64__)
