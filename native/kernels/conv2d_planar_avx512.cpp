// Channel-planar kernels, AVX-512: conv2d_planar_tiles.h over 16-lane zmm
// vectors (Avx512Vectors). The planar copy is AVX2's (conv2dToPlanarAvx2, see
// conv2d_planar_avx2.cpp).
#if defined(__x86_64__)

#include <immintrin.h>

#include "conv2d_direct.h"
#include "conv2d_planar_tiles.h"
#include "vectors_avx512.h"

namespace kiln {

void conv2dPlanarCorrelateAvx512(const PlanarCorrelation& work, int64_t firstTask, int64_t endTask) {
  planarCorrelateTasks<Avx512Vectors>(work, firstTask, endTask);
}

void conv2dPlanarFilterGradientAvx512(const PlanarFilterGradient& work, int64_t firstTask, int64_t endTask) {
  planarFilterGradientTasks<Avx512Vectors>(work, firstTask, endTask);
}

}  // namespace kiln

#endif  // defined(__x86_64__)
