// Max and average pooling, fp32, NHWC [batch, H, W, channels].
//   outH = floor((inH + padTop + padBottom - windowH) / strideH) + 1
// Padding never wins a max and is excluded from an average's count.
// Backward kernels overwrite gradInput.
#pragma once

#include <cstdint>

namespace kiln {

struct Pool2DShape {
  int64_t batch = 1, inH = 1, inW = 1, channels = 1;
  int64_t windowH = 1, windowW = 1;
  int64_t strideH = 1, strideW = 1;
  int64_t padTop = 0, padBottom = 0, padLeft = 0, padRight = 0;

  int64_t outH() const { return (inH + padTop + padBottom - windowH) / strideH + 1; }
  int64_t outW() const { return (inW + padLeft + padRight - windowW) / strideW + 1; }
};

void maxPool2dForward(const Pool2DShape& shape, const float* input, float* output);
// Routes each output gradient to the first maximal input of its window.
void maxPool2dBackward(const Pool2DShape& shape, const float* input, const float* gradOutput, float* gradInput);
void avgPool2dForward(const Pool2DShape& shape, const float* input, float* output);
void avgPool2dBackward(const Pool2DShape& shape, const float* gradOutput, float* gradInput);

// [batch, H*W, channels] -> [batch, channels], mean over the spatial positions.
void globalAvgPoolForward(int64_t batch, int64_t spatial, int64_t channels, const float* input, float* output);
void globalAvgPoolBackward(int64_t batch, int64_t spatial, int64_t channels, const float* gradOutput,
                           float* gradInput);

void maxPool2dForwardReference(const Pool2DShape& shape, const float* input, float* output);
void maxPool2dBackwardReference(const Pool2DShape& shape, const float* input, const float* gradOutput,
                                float* gradInput);
void avgPool2dForwardReference(const Pool2DShape& shape, const float* input, float* output);
void avgPool2dBackwardReference(const Pool2DShape& shape, const float* gradOutput, float* gradInput);

}  // namespace kiln
