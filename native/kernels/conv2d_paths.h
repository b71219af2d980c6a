// Internal to the conv2d kernels: the algorithms behind conv2d.h's entry
// points, so that conv2d.cpp can choose among them and the tests can force
// each one.
#pragma once

#include <cstddef>
#include <cstdint>

#include "conv2d.h"

namespace kiln {

// Auto picks the fastest path that supports the shape and the active ISA;
// Gemm forces im2col/col2im + kiln::gemm (or the plain GEMM for 1x1 stride-1
// unpadded shapes); Direct asks for the direct SIMD kernels and falls back to
// Gemm where they do not apply (other ISA, unsupported shape).
enum class Conv2DAlgorithm : int { Auto = 0, Gemm = 1, Direct = 2 };

void conv2dForwardWith(Conv2DAlgorithm algorithm, const Conv2DShape& shape, const float* input,
                       const float* filter, const float* bias, FusedActivation activation, float* output,
                       float* workspace);
void conv2dBackwardDataWith(Conv2DAlgorithm algorithm, const Conv2DShape& shape, const float* gradOutput,
                            const float* filter, float* gradInput, float* workspace);
void conv2dBackwardFilterWith(Conv2DAlgorithm algorithm, const Conv2DShape& shape, const float* input,
                              const float* gradOutput, float* gradFilter, float* gradBias, float* workspace);

// im2col + GEMM path (conv2d_im2col.cpp).
size_t conv2dGemmWorkspaceFloats(const Conv2DShape& shape);
void conv2dForwardGemm(const Conv2DShape& shape, const float* input, const float* filter, const float* bias,
                       FusedActivation activation, float* output, float* workspace);
void conv2dBackwardDataGemm(const Conv2DShape& shape, const float* gradOutput, const float* filter,
                            float* gradInput, float* workspace);
void conv2dBackwardFilterGemm(const Conv2DShape& shape, const float* input, const float* gradOutput,
                              float* gradFilter, float* gradBias, float* workspace);

// True for 1x1, stride-1, unpadded shapes: a plain GEMM over the NHWC data.
bool conv2dIsPointwise(const Conv2DShape& shape);

// Direct SIMD path (conv2d_direct.cpp); only when conv2dDirectAvailable(shape):
// AVX-512 or AVX2 active and at most 256 kernel taps.
bool conv2dDirectAvailable(const Conv2DShape& shape);
size_t conv2dDirectWorkspaceFloats(const Conv2DShape& shape);
void conv2dForwardDirect(const Conv2DShape& shape, const float* input, const float* filter, const float* bias,
                         FusedActivation activation, float* output, float* workspace);
// accumulate: gradInput += the result; only where
// conv2dDirectBackwardDataAccumulates(shape) (the channels-last kernels, not the planar path).
bool conv2dDirectBackwardDataAccumulates(const Conv2DShape& shape);
void conv2dBackwardDataDirect(const Conv2DShape& shape, const float* gradOutput, const float* filter,
                              float* gradInput, float* workspace, bool accumulate = false);
void conv2dBackwardFilterDirect(const Conv2DShape& shape, const float* input, const float* gradOutput,
                                float* gradFilter, float* gradBias, float* workspace);

// Column sums of gradOutput viewed as [rows, outC], summed in a fixed number
// of row blocks so the result does not depend on the thread count.
constexpr int64_t kConv2DBiasBlocks = 16;
size_t conv2dBiasGradientWorkspaceFloats(const Conv2DShape& shape);
void conv2dBiasGradient(const Conv2DShape& shape, const float* gradOutput, float* gradBias, float* workspace);
// sums[c] (+)= the sum over `count` rows of rows[r * channels + c]
// (overwritten unless accumulate), in a fixed order.
void conv2dColumnSums(const float* rows, int64_t count, int64_t channels, float* sums, bool accumulate);

}  // namespace kiln
