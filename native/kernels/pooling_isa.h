// Internal to pooling: the per-window max loops, one version per ISA. Each
// works on one output pixel over `width` contiguous channels (NHWC), the
// window given as element offsets of its in-image positions in scan order.
//   windowMax:      out[c] = max_k image[offsets[k] + c]  (v > best ? v : best,
//                   so a NaN after the first position never wins)
//   windowMaxRoute: gradImage[offsets[k*] + c] += gradOutput[c], k* the first
//                   k holding that maximum
// The portable versions live in pooling.cpp; these are in pooling_avx2.cpp and
// pooling_avx512.cpp, compiled with their ISA's flags.
#pragma once

#include <cstdint>

namespace kiln {
namespace pooling_isa {

#if defined(__x86_64__)
void windowMaxAvx2(const float* image, const int64_t* offsets, int64_t positions, int64_t width, float* out);
void windowMaxRouteAvx2(const float* image, const int64_t* offsets, int64_t positions, int64_t width,
                        const float* gradOutput, float* gradImage);
void windowMaxAvx512(const float* image, const int64_t* offsets, int64_t positions, int64_t width, float* out);
void windowMaxRouteAvx512(const float* image, const int64_t* offsets, int64_t positions, int64_t width,
                          const float* gradOutput, float* gradImage);
#endif

}  // namespace pooling_isa
}  // namespace kiln
