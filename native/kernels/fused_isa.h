// Internal to the fused kernels: the hot row-range loops, one set per ISA
// (portable in fused.cpp, the others in fused_avx2.cpp / fused_avx512.cpp).
// All see row-major [rows, channels] with rows contiguous; none allocates,
// none threads (fused.cpp splits the work and combines partial sums).
// `activation` in the forward loops is Linear or Relu only: sigmoid and tanh
// go through the scalar libm path in fused.cpp.
#pragma once

#include <cstdint>

#include "elementwise.h"

namespace kiln {
namespace fused_isa {

struct Kernels {
  // One reduction block: center[c] = the block's mean in float (a shift),
  // then from cache shifted[c] = sum (x - center), squares[c] = sum (x - center)^2.
  void (*blockStats)(int64_t rows, int64_t channels, const float* x, float* center, float* shifted, float* squares);
  // One reduction block, g = activation'(y) * dy (y unused for Linear):
  // sumG[c] = sum g, sumGX[c] = sum g * (x - mean[c]). Overwrites both.
  void (*blockGradSums)(int64_t rows, int64_t channels, Activation activation, const float* x, const float* y,
                        const float* dy, const float* mean, float* sumG, float* sumGX);
  // out = activation((x - center) * scale + shift) per channel.
  void (*applyAffine)(int64_t rows, int64_t channels, Activation activation, const float* x, const float* center,
                      const float* scale, const float* shift, float* out);
  // dx = g * a[c] + (x - mean[c]) * b[c] + d[c], g as in blockGradSums.
  void (*applyBackward)(int64_t rows, int64_t channels, Activation activation, const float* x, const float* y,
                        const float* dy, const float* mean, const float* a, const float* b, const float* d, float* dx);
  // out = activation(a + b), or activation(a) when b is null.
  void (*flatForward)(int64_t count, Activation activation, const float* a, const float* b, float* out);
  // g = activation'(y) * dy to gradA / gradB (null: skipped), += when accumulate.
  void (*flatBackward)(int64_t count, Activation activation, const float* y, const float* dy, float* gradA,
                       bool accumulateA, float* gradB, bool accumulateB);
  // y += alpha * x.
  void (*axpy)(int64_t count, float alpha, const float* x, float* y);
};

// The portable loops, and the set activeIsa() selects now.
Kernels portableKernels();
Kernels activeKernels();

// Smallest piece of work (in elements) worth a pool task: a few tens of
// microseconds of streaming, well above the cost of waking a worker.
constexpr int64_t kMinTaskElements = 32768;

#if defined(__x86_64__)
Kernels avx2Kernels();
Kernels avx512Kernels();
#endif

}  // namespace fused_isa
}  // namespace kiln
