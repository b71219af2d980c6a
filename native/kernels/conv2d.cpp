// conv2d.h's entry points: choose a path per call from the shape and
// activeIsa(). Layouts as in conv2d.h (NHWC / HWIO). With AVX-512 or AVX2 the direct
// kernels take every shape except the wider pointwise (1x1, stride 1,
// unpadded) ones, which are a plain GEMM (see pointwiseUsesDirect); im2col +
// GEMM is the general path otherwise.
#include <algorithm>

#include "../runtime/cpu_features.h"
#include "conv2d_paths.h"
#include "gemm_microkernels.h"

namespace kiln {
namespace {

enum class Pass { Forward, BackwardData, BackwardFilter };

// The pointwise (1x1, stride 1, unpadded) convolution is a plain GEMM over
// pixels (N: forward outC, backward data inC), which wins once N fills the
// GEMM kernel's tiles (32 columns with AVX-512, 16 with AVX2). Measured on 2
// threads (Zen 5), batch 64, 16x16 or 32x32 pixels, GFLOP/s GEMM -> direct:
//  - forward, AVX-512: N = 16: 75 -> 201 (16 -> 16 channels), 82 -> 210
//    (32 -> 16), 108 -> 247 (64 -> 16); N = 32: 169 -> 228 (16 -> 32), 251
//    -> 299 (32 -> 32); 16 -> 64 and 64 -> 64 even. AVX2: direct 1.04x-1.30x
//    on 16 and 32 channels, 1.07x on 64 -> 64.
//  - backward data, AVX-512: N = 16: 76 -> 129 (16 -> 16), 100 -> 112
//    (16 -> 32), 107 -> 131 (16 -> 64); N = 32: 252 -> 199 (32 -> 32); N =
//    64: 205 -> 173 (64 -> 16). AVX2 (N = 16 fills its tile): the GEMM won
//    1.06x-1.20x everywhere.
//  - the filter gradient (K = the pixels) never won as a GEMM: AVX-512 56 ->
//    301 (16 channels), 151 -> 316 (32), 204 -> 346 (64); AVX2 about 2x.
bool pointwiseUsesDirect(const Conv2DShape& shape, Pass pass) {
  switch (pass) {
    case Pass::Forward:
      return shape.outC <= 16 || (shape.inC <= 32 && shape.outC <= 32);
    case Pass::BackwardData:
      return shape.inC < gemmMicrokernelFor(activeIsa()).nr;
    case Pass::BackwardFilter:
      return true;
  }
  return false;
}

bool useDirect(Conv2DAlgorithm algorithm, const Conv2DShape& shape, Pass pass) {
  if (algorithm == Conv2DAlgorithm::Gemm || !conv2dDirectAvailable(shape)) return false;
  if (algorithm == Conv2DAlgorithm::Direct) return true;
  return !conv2dIsPointwise(shape) || pointwiseUsesDirect(shape, pass);
}

}  // namespace

size_t conv2dWorkspaceFloats(const Conv2DShape& shape) {
  // Sized for every ISA: setIsa may change the path between calls.
  return std::max(conv2dGemmWorkspaceFloats(shape), conv2dDirectWorkspaceFloats(shape));
}

void conv2dForwardWith(Conv2DAlgorithm algorithm, const Conv2DShape& shape, const float* input,
                       const float* filter, const float* bias, FusedActivation activation, float* output,
                       float* workspace) {
#if defined(__x86_64__)
  if (useDirect(algorithm, shape, Pass::Forward)) {
    conv2dForwardDirect(shape, input, filter, bias, activation, output, workspace);
    return;
  }
#endif
  conv2dForwardGemm(shape, input, filter, bias, activation, output, workspace);
}

void conv2dBackwardDataWith(Conv2DAlgorithm algorithm, const Conv2DShape& shape, const float* gradOutput,
                            const float* filter, float* gradInput, float* workspace) {
#if defined(__x86_64__)
  if (useDirect(algorithm, shape, Pass::BackwardData)) {
    conv2dBackwardDataDirect(shape, gradOutput, filter, gradInput, workspace);
    return;
  }
#endif
  conv2dBackwardDataGemm(shape, gradOutput, filter, gradInput, workspace);
}

void conv2dBackwardFilterWith(Conv2DAlgorithm algorithm, const Conv2DShape& shape, const float* input,
                              const float* gradOutput, float* gradFilter, float* gradBias, float* workspace) {
#if defined(__x86_64__)
  if (useDirect(algorithm, shape, Pass::BackwardFilter)) {
    conv2dBackwardFilterDirect(shape, input, gradOutput, gradFilter, gradBias, workspace);
    return;
  }
#endif
  conv2dBackwardFilterGemm(shape, input, gradOutput, gradFilter, gradBias, workspace);
}

void conv2dForward(const Conv2DShape& shape, const float* input, const float* filter, const float* bias,
                   FusedActivation activation, float* output, float* workspace) {
  conv2dForwardWith(Conv2DAlgorithm::Auto, shape, input, filter, bias, activation, output, workspace);
}

void conv2dBackwardData(const Conv2DShape& shape, const float* gradOutput, const float* filter, float* gradInput,
                        float* workspace) {
  conv2dBackwardDataWith(Conv2DAlgorithm::Auto, shape, gradOutput, filter, gradInput, workspace);
}

bool conv2dBackwardDataAdd(const Conv2DShape& shape, const float* gradOutput, const float* filter, float* gradInput,
                           float* workspace) {
#if defined(__x86_64__)
  if (useDirect(Conv2DAlgorithm::Auto, shape, Pass::BackwardData) && conv2dDirectBackwardDataAccumulates(shape)) {
    conv2dBackwardDataDirect(shape, gradOutput, filter, gradInput, workspace, true);
    return true;
  }
#endif
  (void)shape, (void)gradOutput, (void)filter, (void)gradInput, (void)workspace;
  return false;
}

void conv2dBackwardFilter(const Conv2DShape& shape, const float* input, const float* gradOutput, float* gradFilter,
                          float* gradBias, float* workspace) {
  conv2dBackwardFilterWith(Conv2DAlgorithm::Auto, shape, input, gradOutput, gradFilter, gradBias, workspace);
}

}  // namespace kiln
