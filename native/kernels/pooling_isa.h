// Internal to pooling: the per-window max loops, one version per ISA. Each
// works on one output pixel over `width` contiguous channels (NHWC), the
// window given as element offsets of its in-image positions in scan order.
//   windowMax:      out[c] = max_k image[offsets[k] + c]  (v > best ? v : best,
//                   so a NaN after the first position never wins)
//   windowMaxRoute: gradImage[offsets[k*] + c] += gradOutput[c], k* the first
//                   k holding that maximum
// The row versions do that for `pixels` output pixels whose windows have the
// same shape: pixel p's window is at image + p * step (its gradient at
// gradImage + p * step), its output at out + p * outStep (gradOutput + p *
// gradStep).
// The portable versions live in pooling.cpp; these are in pooling_avx2.cpp and
// pooling_avx512.cpp, compiled with their ISA's flags.
#pragma once

#include <cstdint>

namespace kiln {
namespace pooling_isa {

#if defined(__x86_64__)
void windowMaxRowAvx2(const float* image, const int64_t* offsets, int64_t positions, int64_t width, int64_t pixels,
                      int64_t step, float* out, int64_t outStep);
void windowMaxRouteRowAvx2(const float* image, const int64_t* offsets, int64_t positions, int64_t width,
                           int64_t pixels, int64_t step, const float* gradOutput, int64_t gradStep, float* gradImage);
void windowMaxAvx512(const float* image, const int64_t* offsets, int64_t positions, int64_t width, float* out);
void windowMaxRouteAvx512(const float* image, const int64_t* offsets, int64_t positions, int64_t width,
                          const float* gradOutput, float* gradImage);
#endif

}  // namespace pooling_isa
}  // namespace kiln
