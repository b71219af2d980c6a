// conv2d.h's entry points: choose a path per call from the shape and
// activeIsa(). Layouts as in conv2d.h (NHWC / HWIO). With AVX-512 or AVX2 the direct
// kernels take every shape except the pointwise (1x1, stride 1, unpadded) one,
// which is a plain GEMM; im2col + GEMM is the general path otherwise.
#include <algorithm>

#include "conv2d_paths.h"

namespace kiln {
namespace {

bool useDirect(Conv2DAlgorithm algorithm, const Conv2DShape& shape) {
  if (algorithm == Conv2DAlgorithm::Gemm || !conv2dDirectAvailable(shape)) return false;
  if (algorithm == Conv2DAlgorithm::Direct) return true;
  return !conv2dIsPointwise(shape);
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
  if (useDirect(algorithm, shape)) {
    conv2dForwardDirect(shape, input, filter, bias, activation, output, workspace);
    return;
  }
#endif
  conv2dForwardGemm(shape, input, filter, bias, activation, output, workspace);
}

void conv2dBackwardDataWith(Conv2DAlgorithm algorithm, const Conv2DShape& shape, const float* gradOutput,
                            const float* filter, float* gradInput, float* workspace) {
#if defined(__x86_64__)
  if (useDirect(algorithm, shape)) {
    conv2dBackwardDataDirect(shape, gradOutput, filter, gradInput, workspace);
    return;
  }
#endif
  conv2dBackwardDataGemm(shape, gradOutput, filter, gradInput, workspace);
}

void conv2dBackwardFilterWith(Conv2DAlgorithm algorithm, const Conv2DShape& shape, const float* input,
                              const float* gradOutput, float* gradFilter, float* gradBias, float* workspace) {
#if defined(__x86_64__)
  if (useDirect(algorithm, shape)) {
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
  if (useDirect(Conv2DAlgorithm::Auto, shape) && conv2dDirectBackwardDataAccumulates(shape)) {
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
