// Plain-loop pooling references, NHWC, written for clarity rather than speed:
// one output element at a time, every window position checked against the
// image bounds. The fast kernels in pooling.cpp are tested against these.
// Same conventions: padding never wins a max and is left out of an average's
// count; the max gradient goes to the first maximum in row-major window
// order; a window entirely in padding gives 0 and routes no gradient.
#include <algorithm>

#include "pooling.h"

namespace kiln {
namespace {

int64_t inputIndex(const Pool2DShape& s, int64_t n, int64_t h, int64_t w, int64_t c) {
  return ((n * s.inH + h) * s.inW + w) * s.channels + c;
}

int64_t outputIndex(const Pool2DShape& s, int64_t n, int64_t oh, int64_t ow, int64_t c) {
  return ((n * s.outH() + oh) * s.outW() + ow) * s.channels + c;
}

bool inside(const Pool2DShape& s, int64_t h, int64_t w) { return h >= 0 && h < s.inH && w >= 0 && w < s.inW; }

// Input index of the first maximum of one output's window, or -1 when the
// window holds no image position.
int64_t firstMaximum(const Pool2DShape& s, const float* input, int64_t n, int64_t oh, int64_t ow, int64_t c) {
  int64_t found = -1;
  for (int64_t kh = 0; kh < s.windowH; ++kh) {
    for (int64_t kw = 0; kw < s.windowW; ++kw) {
      const int64_t h = oh * s.strideH - s.padTop + kh;
      const int64_t w = ow * s.strideW - s.padLeft + kw;
      if (!inside(s, h, w)) continue;
      const int64_t index = inputIndex(s, n, h, w, c);
      if (found < 0 || input[index] > input[found]) found = index;
    }
  }
  return found;
}

}  // namespace

void maxPool2dForwardReference(const Pool2DShape& s, const float* input, float* output) {
  for (int64_t n = 0; n < s.batch; ++n)
    for (int64_t oh = 0; oh < s.outH(); ++oh)
      for (int64_t ow = 0; ow < s.outW(); ++ow)
        for (int64_t c = 0; c < s.channels; ++c) {
          const int64_t best = firstMaximum(s, input, n, oh, ow, c);
          output[outputIndex(s, n, oh, ow, c)] = best < 0 ? 0.0f : input[best];
        }
}

void maxPool2dBackwardReference(const Pool2DShape& s, const float* input, const float* gradOutput,
                                float* gradInput) {
  std::fill(gradInput, gradInput + s.batch * s.inH * s.inW * s.channels, 0.0f);
  for (int64_t n = 0; n < s.batch; ++n)
    for (int64_t oh = 0; oh < s.outH(); ++oh)
      for (int64_t ow = 0; ow < s.outW(); ++ow)
        for (int64_t c = 0; c < s.channels; ++c) {
          const int64_t best = firstMaximum(s, input, n, oh, ow, c);
          if (best >= 0) gradInput[best] += gradOutput[outputIndex(s, n, oh, ow, c)];
        }
}

void avgPool2dForwardReference(const Pool2DShape& s, const float* input, float* output) {
  for (int64_t n = 0; n < s.batch; ++n)
    for (int64_t oh = 0; oh < s.outH(); ++oh)
      for (int64_t ow = 0; ow < s.outW(); ++ow)
        for (int64_t c = 0; c < s.channels; ++c) {
          float sum = 0.0f;
          int64_t count = 0;
          for (int64_t kh = 0; kh < s.windowH; ++kh)
            for (int64_t kw = 0; kw < s.windowW; ++kw) {
              const int64_t h = oh * s.strideH - s.padTop + kh;
              const int64_t w = ow * s.strideW - s.padLeft + kw;
              if (!inside(s, h, w)) continue;
              sum += input[inputIndex(s, n, h, w, c)];
              ++count;
            }
          output[outputIndex(s, n, oh, ow, c)] = count == 0 ? 0.0f : sum / static_cast<float>(count);
        }
}

void avgPool2dBackwardReference(const Pool2DShape& s, const float* gradOutput, float* gradInput) {
  std::fill(gradInput, gradInput + s.batch * s.inH * s.inW * s.channels, 0.0f);
  for (int64_t n = 0; n < s.batch; ++n)
    for (int64_t oh = 0; oh < s.outH(); ++oh)
      for (int64_t ow = 0; ow < s.outW(); ++ow)
        for (int64_t c = 0; c < s.channels; ++c) {
          int64_t count = 0;
          for (int64_t kh = 0; kh < s.windowH; ++kh)
            for (int64_t kw = 0; kw < s.windowW; ++kw)
              if (inside(s, oh * s.strideH - s.padTop + kh, ow * s.strideW - s.padLeft + kw)) ++count;
          if (count == 0) continue;
          const float share = gradOutput[outputIndex(s, n, oh, ow, c)] / static_cast<float>(count);
          for (int64_t kh = 0; kh < s.windowH; ++kh)
            for (int64_t kw = 0; kw < s.windowW; ++kw) {
              const int64_t h = oh * s.strideH - s.padTop + kh;
              const int64_t w = ow * s.strideW - s.padLeft + kw;
              if (inside(s, h, w)) gradInput[inputIndex(s, n, h, w, c)] += share;
            }
        }
}

}  // namespace kiln
