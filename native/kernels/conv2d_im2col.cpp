// The general convolution path: im2col / col2im around kiln::gemm.
//
// Layouts: input NHWC, filter HWIO viewed as a [kH*kW*inC, outC] row-major
// matrix, output NHWC viewed as [batch*outH*outW, outC]. A column matrix row
// holds one output pixel's receptive field in filter order (kh, kw, ci), so
//   forward:         output[rows, outC]  = col[rows, K] * filter[K, outC]
//   backward data:   col[rows, K]        = gradOutput[rows, outC] * filter^T, then col2im
//   backward filter: gradFilter[K, outC] += col^T[K, rows] * gradOutput[rows, outC]
// The output-pixel rows are processed in chunks of at most rowsPerChunk() so the
// column matrix (the workspace) stays a few MiB whatever the batch.
// col2im is a gather over input pixels (each thread owns whole input rows), so
// it needs no atomics and its summation order is fixed.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "../runtime/thread_pool.h"
#include "conv2d_paths.h"
#include "gemm.h"

namespace kiln {
namespace {

constexpr int64_t kChunkFloats = int64_t(1) << 20;  // 4 MiB of column matrix
constexpr int64_t kMinChunkRows = 64;

int64_t columnWidth(const Conv2DShape& s) { return s.kernelH * s.kernelW * s.inC; }
int64_t outputRows(const Conv2DShape& s) { return s.batch * s.outH() * s.outW(); }

int64_t rowsPerChunk(const Conv2DShape& s) {
  const int64_t rows = outputRows(s);
  const int64_t wanted = std::max<int64_t>(kMinChunkRows, kChunkFloats / columnWidth(s));
  return std::min(rows, wanted);
}

bool isPointwise(const Conv2DShape& s) { return conv2dIsPointwise(s); }

void im2colRows(const Conv2DShape& s, const float* input, int64_t firstRow, int64_t endRow, float* col) {
  const int64_t outH = s.outH(), outW = s.outW(), K = columnWidth(s);
  const size_t pixelBytes = static_cast<size_t>(s.inC) * sizeof(float);
  parallelFor(endRow - firstRow, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = firstRow + begin; r < firstRow + end; ++r) {
      const int64_t n = r / (outH * outW);
      const int64_t oh = (r / outW) % outH;
      const int64_t ow = r % outW;
      float* dst = col + (r - firstRow) * K;
      for (int64_t kh = 0; kh < s.kernelH; ++kh) {
        const int64_t ih = oh * s.strideH - s.padTop + kh * s.dilationH;
        if (ih < 0 || ih >= s.inH) {
          std::memset(dst, 0, pixelBytes * static_cast<size_t>(s.kernelW));
          dst += s.kernelW * s.inC;
          continue;
        }
        const float* rowBase = input + (n * s.inH + ih) * s.inW * s.inC;
        for (int64_t kw = 0; kw < s.kernelW; ++kw, dst += s.inC) {
          const int64_t iw = ow * s.strideW - s.padLeft + kw * s.dilationW;
          if (iw < 0 || iw >= s.inW) std::memset(dst, 0, pixelBytes);
          else std::memcpy(dst, rowBase + iw * s.inC, pixelBytes);
        }
      }
    }
  });
}

// gradInput[n, ih, iw, :] += every column entry of rows [firstRow, endRow) that
// reads input pixel (n, ih, iw).
void col2imGatherRows(const Conv2DShape& s, const float* col, int64_t firstRow, int64_t endRow,
                      float* gradInput) {
  const int64_t outH = s.outH(), outW = s.outW(), K = columnWidth(s);
  const int64_t firstImage = firstRow / (outH * outW);
  const int64_t lastImage = (endRow - 1) / (outH * outW);
  const int64_t imageRows = (lastImage - firstImage + 1) * s.inH;
  parallelFor(imageRows, 1, [&](int64_t begin, int64_t end) {
    for (int64_t index = begin; index < end; ++index) {
      const int64_t n = firstImage + index / s.inH;
      const int64_t ih = index % s.inH;
      for (int64_t kh = 0; kh < s.kernelH; ++kh) {
        const int64_t th = ih + s.padTop - kh * s.dilationH;
        if (th < 0 || th % s.strideH != 0) continue;
        const int64_t oh = th / s.strideH;
        if (oh >= outH) continue;
        const int64_t rowOfPixelZero = (n * outH + oh) * outW;
        if (rowOfPixelZero >= endRow || rowOfPixelZero + outW <= firstRow) continue;
        for (int64_t iw = 0; iw < s.inW; ++iw) {
          float* dst = gradInput + ((n * s.inH + ih) * s.inW + iw) * s.inC;
          for (int64_t kw = 0; kw < s.kernelW; ++kw) {
            const int64_t tw = iw + s.padLeft - kw * s.dilationW;
            if (tw < 0 || tw % s.strideW != 0) continue;
            const int64_t ow = tw / s.strideW;
            const int64_t r = rowOfPixelZero + ow;
            if (ow >= outW || r < firstRow || r >= endRow) continue;
            const float* src = col + (r - firstRow) * K + (kh * s.kernelW + kw) * s.inC;
            for (int64_t ci = 0; ci < s.inC; ++ci) dst[ci] += src[ci];
          }
        }
      }
    }
  });
}

void biasAndActivation(const Conv2DShape& s, const float* bias, FusedActivation activation, float* output,
                       int64_t rows) {
  if (bias == nullptr && activation == FusedActivation::None) return;
  const int64_t outC = s.outC;
  parallelFor(rows, 64, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float* y = output + r * outC;
      if (bias != nullptr) {
        for (int64_t c = 0; c < outC; ++c) y[c] += bias[c];
      }
      if (activation == FusedActivation::Relu) {
        for (int64_t c = 0; c < outC; ++c) y[c] = y[c] > 0.0f ? y[c] : 0.0f;
      }
    }
  });
}

}  // namespace

// Plain GEMM applies: every output pixel is one input pixel.
bool conv2dIsPointwise(const Conv2DShape& s) {
  return s.kernelH == 1 && s.kernelW == 1 && s.strideH == 1 && s.strideW == 1 && s.padTop == 0 &&
         s.padBottom == 0 && s.padLeft == 0 && s.padRight == 0;
}

size_t conv2dBiasGradientWorkspaceFloats(const Conv2DShape& s) {
  return static_cast<size_t>(kConv2DBiasBlocks * s.outC);
}

void conv2dColumnSums(const float* rows, int64_t count, int64_t channels, float* sums, bool accumulate) {
  if (!accumulate) std::fill(sums, sums + channels, 0.0f);
  // 16 floats summed at a time, in registers, over a chunk of at most 16
  // KiB of rows, so the chunk stays in L1 for the next 16: with the sums in
  // memory (one load, add and store per float) the bias gradient of lenet5
  // conv1 took 12% of its filter gradient.
  constexpr int64_t kWidth = 16;
  const int64_t chunkRows = std::max<int64_t>(kWidth, 4096 / channels / kWidth * kWidth);
  // Fewer channels than 16: runs of whole rows that are a whole number of
  // 16-float groups (rowsPerRun divides 16, so chunks hold whole runs).
  const int64_t rowsPerRun = channels < kWidth ? kWidth / std::gcd<int64_t>(channels, kWidth) : 1;
  const int64_t period = rowsPerRun * channels;
  for (int64_t r0 = 0; r0 < count; r0 += chunkRows) {
    const int64_t n = std::min(chunkRows, count - r0);
    const float* chunk = rows + r0 * channels;
    int64_t rowsDone = 0, channelsDone = 0;
    if (channels < kWidth) {
      const int64_t runs = n / rowsPerRun;
      for (int64_t j0 = 0; j0 < period; j0 += kWidth) {
        float acc[kWidth] = {};
        for (int64_t r = 0; r < runs; ++r) {
          const float* g = chunk + r * period + j0;
          for (int64_t j = 0; j < kWidth; ++j) acc[j] += g[j];
        }
        for (int64_t j = 0; j < kWidth; ++j) sums[(j0 + j) % channels] += acc[j];
      }
      rowsDone = runs * rowsPerRun;
    } else {
      for (; channelsDone + kWidth <= channels; channelsDone += kWidth) {
        float acc[kWidth] = {};
        for (int64_t r = 0; r < n; ++r) {
          const float* g = chunk + r * channels + channelsDone;
          for (int64_t j = 0; j < kWidth; ++j) acc[j] += g[j];
        }
        for (int64_t j = 0; j < kWidth; ++j) sums[channelsDone + j] += acc[j];
      }
    }
    // The rows left out of whole runs (few channels), or the channels past
    // the last 16 (many).
    for (int64_t r = rowsDone; r < n; ++r) {
      for (int64_t c = channelsDone; c < channels; ++c) sums[c] += chunk[r * channels + c];
    }
  }
}

void conv2dBiasGradient(const Conv2DShape& s, const float* gradOutput, float* gradBias, float* workspace) {
  const int64_t rows = outputRows(s), outC = s.outC;
  const int64_t blocks = std::min(kConv2DBiasBlocks, rows);
  parallelFor(blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const int64_t r0 = rows * b / blocks, r1 = rows * (b + 1) / blocks;
      conv2dColumnSums(gradOutput + r0 * outC, r1 - r0, outC, workspace + b * outC, false);
    }
  });
  for (int64_t c = 0; c < outC; ++c) {
    double sum = 0.0;
    for (int64_t b = 0; b < blocks; ++b) sum += workspace[b * outC + c];
    gradBias[c] = static_cast<float>(sum);
  }
}

size_t conv2dGemmWorkspaceFloats(const Conv2DShape& s) {
  const size_t columns = isPointwise(s) ? 0 : static_cast<size_t>(rowsPerChunk(s) * columnWidth(s));
  return std::max(columns, conv2dBiasGradientWorkspaceFloats(s));
}

void conv2dForwardGemm(const Conv2DShape& s, const float* input, const float* filter, const float* bias,
                       FusedActivation activation, float* output, float* workspace) {
  const int64_t rows = outputRows(s), K = columnWidth(s);
  if (isPointwise(s)) {
    gemm(false, false, rows, s.outC, s.inC, 1.0f, input, s.inC, filter, s.outC, 0.0f, output, s.outC);
    biasAndActivation(s, bias, activation, output, rows);
    return;
  }
  const int64_t chunk = rowsPerChunk(s);
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t count = std::min(chunk, rows - r0);
    im2colRows(s, input, r0, r0 + count, workspace);
    float* y = output + r0 * s.outC;
    gemm(false, false, count, s.outC, K, 1.0f, workspace, K, filter, s.outC, 0.0f, y, s.outC);
    biasAndActivation(s, bias, activation, y, count);
  }
}

void conv2dBackwardDataGemm(const Conv2DShape& s, const float* gradOutput, const float* filter, float* gradInput,
                            float* workspace) {
  const int64_t rows = outputRows(s), K = columnWidth(s);
  if (isPointwise(s)) {
    gemm(false, true, rows, s.inC, s.outC, 1.0f, gradOutput, s.outC, filter, s.outC, 0.0f, gradInput, s.inC);
    return;
  }
  const int64_t inputCount = s.batch * s.inH * s.inW * s.inC;
  parallelFor(inputCount, 4096, [&](int64_t begin, int64_t end) {
    std::memset(gradInput + begin, 0, static_cast<size_t>(end - begin) * sizeof(float));
  });
  const int64_t chunk = rowsPerChunk(s);
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t count = std::min(chunk, rows - r0);
    gemm(false, true, count, K, s.outC, 1.0f, gradOutput + r0 * s.outC, s.outC, filter, s.outC, 0.0f, workspace,
         K);
    col2imGatherRows(s, workspace, r0, r0 + count, gradInput);
  }
}

void conv2dBackwardFilterGemm(const Conv2DShape& s, const float* input, const float* gradOutput,
                              float* gradFilter, float* gradBias, float* workspace) {
  const int64_t rows = outputRows(s), K = columnWidth(s);
  if (isPointwise(s)) {
    gemm(true, false, s.inC, s.outC, rows, 1.0f, input, s.inC, gradOutput, s.outC, 0.0f, gradFilter, s.outC);
  } else {
    const int64_t chunk = rowsPerChunk(s);
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
      const int64_t count = std::min(chunk, rows - r0);
      im2colRows(s, input, r0, r0 + count, workspace);
      gemm(true, false, K, s.outC, count, 1.0f, workspace, K, gradOutput + r0 * s.outC, s.outC,
           r0 == 0 ? 0.0f : 1.0f, gradFilter, s.outC);
    }
  }
  if (gradBias != nullptr) conv2dBiasGradient(s, gradOutput, gradBias, workspace);
}

}  // namespace kiln
