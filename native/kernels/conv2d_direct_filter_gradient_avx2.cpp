// Direct filter-gradient kernels, AVX2 + FMA: conv2d_direct_filter_gradient.h over
// the vectors and register budget described in conv2d_direct_avx2.cpp. A
// translation unit of its own so that the two halves of the direct kernels
// compile in parallel (the correlation tiles alone take over a minute at
// -O3).
#if defined(__x86_64__)

#include <immintrin.h>

#include "conv2d_direct.h"
#include "conv2d_direct_filter_gradient.h"
#include "vectors_avx2.h"

namespace kiln {

void conv2dDirectFilterGradientAvx2(const DirectFilterGradient& work, int64_t firstTask, int64_t endTask) {
  directFilterGradientTasks<Avx2Vectors>(work, firstTask, endTask);
}

bool conv2dDirectSpansFilterRowsAvx2(int64_t kernelH, int64_t segmentLength, int64_t nb, int64_t outC) {
  return wholeFilterKernel<Avx2Vectors>(kernelH, segmentLength, nb, true, outC) != nullptr;
}

bool conv2dDirectWholeFilterEntriesAvx2(int64_t kernelH, int64_t segmentLength, int64_t outC) {
  return wholeFilterEntryKernel<Avx2Vectors>(kernelH, segmentLength, outC) != nullptr;
}

}  // namespace kiln

#endif  // defined(__x86_64__)
