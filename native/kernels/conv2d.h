// 2-D convolution, fp32.
//
// Layouts: input NHWC [batch, inH, inW, inC]; filter HWIO [kH, kW, inC, outC];
// bias [outC]; output NHWC [batch, outH, outW, outC].
//   outH = floor((inH + padTop + padBottom - dilationH * (kH - 1) - 1) / strideH) + 1
// Backward kernels overwrite their outputs, except conv2dBackwardDataAdd,
// which the graph uses where one tensor has several consumers.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kiln {

struct Conv2DShape {
  int64_t batch = 1, inH = 1, inW = 1, inC = 1, outC = 1;
  int64_t kernelH = 1, kernelW = 1;
  int64_t strideH = 1, strideW = 1;
  int64_t padTop = 0, padBottom = 0, padLeft = 0, padRight = 0;
  int64_t dilationH = 1, dilationW = 1;

  int64_t outH() const { return (inH + padTop + padBottom - dilationH * (kernelH - 1) - 1) / strideH + 1; }
  int64_t outW() const { return (inW + padLeft + padRight - dilationW * (kernelW - 1) - 1) / strideW + 1; }
};

// Activation applied to the forward output in the same pass (fusion).
enum class FusedActivation : int { None = 0, Relu = 1 };

// Floats of scratch space any of the three passes may need for this shape
// (the caller allocates it once, e.g. per compiled plan, and reuses it).
size_t conv2dWorkspaceFloats(const Conv2DShape& shape);

// output = act(conv(input, filter) + bias); bias may be null.
void conv2dForward(const Conv2DShape& shape, const float* input, const float* filter, const float* bias,
                   FusedActivation activation, float* output, float* workspace);
// gradInput = d(loss)/d(input) given gradOutput.
void conv2dBackwardData(const Conv2DShape& shape, const float* gradOutput, const float* filter,
                        float* gradInput, float* workspace);
// gradInput += d(loss)/d(input), in the same pass as the convolution, where
// the path chosen for this shape and ISA can (the direct AVX2 kernels);
// returns false, having touched nothing, where it cannot.
bool conv2dBackwardDataAdd(const Conv2DShape& shape, const float* gradOutput, const float* filter, float* gradInput,
                           float* workspace);
// gradFilter (HWIO) and gradBias ([outC], may be null) from input and gradOutput.
void conv2dBackwardFilter(const Conv2DShape& shape, const float* input, const float* gradOutput,
                          float* gradFilter, float* gradBias, float* workspace);

// Plain loops over the definition, for the tests.
void conv2dForwardReference(const Conv2DShape& shape, const float* input, const float* filter,
                            const float* bias, FusedActivation activation, float* output);
void conv2dBackwardDataReference(const Conv2DShape& shape, const float* gradOutput, const float* filter,
                                 float* gradInput);
void conv2dBackwardFilterReference(const Conv2DShape& shape, const float* input, const float* gradOutput,
                                   float* gradFilter, float* gradBias);

}  // namespace kiln
