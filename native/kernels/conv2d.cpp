// conv2d.h's entry points: choose a path per call from the shape and
// activeIsa(). Layouts as in conv2d.h (NHWC / HWIO). The direct AVX-512
// kernels take the shapes they were written for; im2col + GEMM takes the rest.
#include <algorithm>

#include "../runtime/cpu_features.h"
#include "conv2d_paths.h"

namespace kiln {

size_t conv2dWorkspaceFloats(const Conv2DShape& shape) {
  return conv2dGemmWorkspaceFloats(shape);
}

void conv2dForwardWith(Conv2DAlgorithm algorithm, const Conv2DShape& shape, const float* input,
                       const float* filter, const float* bias, FusedActivation activation, float* output,
                       float* workspace) {
  (void)algorithm;
  conv2dForwardGemm(shape, input, filter, bias, activation, output, workspace);
}

void conv2dBackwardDataWith(Conv2DAlgorithm algorithm, const Conv2DShape& shape, const float* gradOutput,
                            const float* filter, float* gradInput, float* workspace) {
  (void)algorithm;
  conv2dBackwardDataGemm(shape, gradOutput, filter, gradInput, workspace);
}

void conv2dBackwardFilterWith(Conv2DAlgorithm algorithm, const Conv2DShape& shape, const float* input,
                              const float* gradOutput, float* gradFilter, float* gradBias, float* workspace) {
  (void)algorithm;
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

void conv2dBackwardFilter(const Conv2DShape& shape, const float* input, const float* gradOutput, float* gradFilter,
                          float* gradBias, float* workspace) {
  conv2dBackwardFilterWith(Conv2DAlgorithm::Auto, shape, input, gradOutput, gradFilter, gradBias, workspace);
}

}  // namespace kiln
