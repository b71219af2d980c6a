// Plain loops over the convolution's definition, accumulated in double: the
// kernels' tests compare against these, so they favour obviousness over speed.
// Layouts as in conv2d.h: input NHWC, filter HWIO, output NHWC.
#include <cstring>
#include <vector>

#include "conv2d.h"

namespace kiln {

void conv2dForwardReference(const Conv2DShape& s, const float* input, const float* filter, const float* bias,
                            FusedActivation activation, float* output) {
  const int64_t outH = s.outH(), outW = s.outW();
  for (int64_t n = 0; n < s.batch; ++n) {
    for (int64_t oh = 0; oh < outH; ++oh) {
      for (int64_t ow = 0; ow < outW; ++ow) {
        for (int64_t co = 0; co < s.outC; ++co) {
          double sum = bias != nullptr ? bias[co] : 0.0;
          for (int64_t kh = 0; kh < s.kernelH; ++kh) {
            const int64_t ih = oh * s.strideH - s.padTop + kh * s.dilationH;
            if (ih < 0 || ih >= s.inH) continue;
            for (int64_t kw = 0; kw < s.kernelW; ++kw) {
              const int64_t iw = ow * s.strideW - s.padLeft + kw * s.dilationW;
              if (iw < 0 || iw >= s.inW) continue;
              const float* x = input + ((n * s.inH + ih) * s.inW + iw) * s.inC;
              const float* w = filter + (kh * s.kernelW + kw) * s.inC * s.outC + co;
              for (int64_t ci = 0; ci < s.inC; ++ci) sum += static_cast<double>(x[ci]) * w[ci * s.outC];
            }
          }
          float value = static_cast<float>(sum);
          if (activation == FusedActivation::Relu && !(value > 0.0f)) value = 0.0f;
          output[((n * outH + oh) * outW + ow) * s.outC + co] = value;
        }
      }
    }
  }
}

void conv2dBackwardDataReference(const Conv2DShape& s, const float* gradOutput, const float* filter,
                                 float* gradInput) {
  const int64_t outH = s.outH(), outW = s.outW();
  const int64_t count = s.batch * s.inH * s.inW * s.inC;
  std::vector<double> sums(static_cast<size_t>(count), 0.0);
  for (int64_t n = 0; n < s.batch; ++n) {
    for (int64_t oh = 0; oh < outH; ++oh) {
      for (int64_t ow = 0; ow < outW; ++ow) {
        const float* g = gradOutput + ((n * outH + oh) * outW + ow) * s.outC;
        for (int64_t kh = 0; kh < s.kernelH; ++kh) {
          const int64_t ih = oh * s.strideH - s.padTop + kh * s.dilationH;
          if (ih < 0 || ih >= s.inH) continue;
          for (int64_t kw = 0; kw < s.kernelW; ++kw) {
            const int64_t iw = ow * s.strideW - s.padLeft + kw * s.dilationW;
            if (iw < 0 || iw >= s.inW) continue;
            double* dx = sums.data() + ((n * s.inH + ih) * s.inW + iw) * s.inC;
            const float* w = filter + (kh * s.kernelW + kw) * s.inC * s.outC;
            for (int64_t ci = 0; ci < s.inC; ++ci) {
              double sum = 0.0;
              for (int64_t co = 0; co < s.outC; ++co) sum += static_cast<double>(g[co]) * w[ci * s.outC + co];
              dx[ci] += sum;
            }
          }
        }
      }
    }
  }
  for (int64_t i = 0; i < count; ++i) gradInput[i] = static_cast<float>(sums[static_cast<size_t>(i)]);
}

void conv2dBackwardFilterReference(const Conv2DShape& s, const float* input, const float* gradOutput,
                                   float* gradFilter, float* gradBias) {
  const int64_t outH = s.outH(), outW = s.outW();
  const int64_t filterCount = s.kernelH * s.kernelW * s.inC * s.outC;
  std::vector<double> sums(static_cast<size_t>(filterCount), 0.0);
  std::vector<double> biasSums(static_cast<size_t>(s.outC), 0.0);
  for (int64_t n = 0; n < s.batch; ++n) {
    for (int64_t oh = 0; oh < outH; ++oh) {
      for (int64_t ow = 0; ow < outW; ++ow) {
        const float* g = gradOutput + ((n * outH + oh) * outW + ow) * s.outC;
        for (int64_t co = 0; co < s.outC; ++co) biasSums[static_cast<size_t>(co)] += g[co];
        for (int64_t kh = 0; kh < s.kernelH; ++kh) {
          const int64_t ih = oh * s.strideH - s.padTop + kh * s.dilationH;
          if (ih < 0 || ih >= s.inH) continue;
          for (int64_t kw = 0; kw < s.kernelW; ++kw) {
            const int64_t iw = ow * s.strideW - s.padLeft + kw * s.dilationW;
            if (iw < 0 || iw >= s.inW) continue;
            const float* x = input + ((n * s.inH + ih) * s.inW + iw) * s.inC;
            double* dw = sums.data() + (kh * s.kernelW + kw) * s.inC * s.outC;
            for (int64_t ci = 0; ci < s.inC; ++ci) {
              for (int64_t co = 0; co < s.outC; ++co) dw[ci * s.outC + co] += static_cast<double>(x[ci]) * g[co];
            }
          }
        }
      }
    }
  }
  for (int64_t i = 0; i < filterCount; ++i) gradFilter[i] = static_cast<float>(sums[static_cast<size_t>(i)]);
  if (gradBias != nullptr) {
    for (int64_t co = 0; co < s.outC; ++co) gradBias[co] = static_cast<float>(biasSums[static_cast<size_t>(co)]);
  }
}

}  // namespace kiln
