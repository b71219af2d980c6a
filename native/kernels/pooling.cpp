// Max and average pooling, fp32, NHWC [batch, H, W, channels] in and out.
//
// Forward: the output rows (batch * outH) are split across threads; for each
// output pixel the window is clipped to the image, then the window positions
// are scanned row-major and the innermost loop runs over the contiguous
// channels, which the compiler vectorises.
//
// Backward: windows overlap when stride < window, so each task owns whole
// gradient slices, one (image, block of kChannelBlock channels) pair, that no
// other task writes. Every gradInput element is then accumulated in output
// scan order whatever the thread count, so results are bitwise reproducible.
//
// The max-pool window loops come in portable, AVX2 and AVX-512 versions
// (pooling_isa.h), picked from activeIsa() on each call.
//
// A window entirely in padding (possible only when a pad >= the window) has
// nothing to pool: its output is 0 and its gradient goes nowhere.
#include "pooling.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "../runtime/cpu_features.h"
#include "../runtime/thread_pool.h"
#include "pooling_isa.h"
#include "pooling_window.h"

namespace kiln {
namespace {

using pooling_detail::ClippedWindow;
using pooling_detail::clipWindow;

// Below this many inner-loop iterations per task, the pool's wake-up costs
// more than the work.
constexpr int64_t kMinWorkPerTask = 16384;
// Channel slice owned by one backward task; also sizes the stack scratch.
constexpr int64_t kChannelBlock = 64;

int64_t grainFor(int64_t workPerItem) {
  return std::max<int64_t>(1, kMinWorkPerTask / std::max<int64_t>(1, workPerItem));
}

int64_t channelBlocks(int64_t channels) { return (channels + kChannelBlock - 1) / kChannelBlock; }

// Zeroes channels [c0, c1) of every pixel of one image's gradient: all of
// it at once where that is every channel (a memset per pixel of lenet5's
// 6 channels cost more than the routing: its first pool's backward +40%).
void zeroChannelSlice(float* image, int64_t pixels, int64_t channels, int64_t c0, int64_t c1) {
  if (c0 == 0 && c1 == channels) {
    std::memset(image, 0, sizeof(float) * pixels * channels);
    return;
  }
  for (int64_t p = 0; p < pixels; ++p) std::memset(image + p * channels + c0, 0, sizeof(float) * (c1 - c0));
}

// Element offsets (pixel * channels) of a clipped window's positions in
// row-major scan order; returns how many there are.
int64_t windowOffsets(const Pool2DShape& shape, const ClippedWindow& window, int64_t channels, int64_t* offsets) {
  if (window.count() == 0) return 0;
  int64_t positions = 0;
  for (int64_t h = window.hBegin; h < window.hEnd; ++h) {
    for (int64_t w = window.wBegin; w < window.wEnd; ++w) offsets[positions++] = (h * shape.inW + w) * channels;
  }
  return positions;
}

using WindowMax = void (*)(const float*, const int64_t*, int64_t, int64_t, float*);
using WindowMaxRoute = void (*)(const float*, const int64_t*, int64_t, int64_t, const float*, float*);

// Portable window loops (contract in pooling_isa.h), written so that the
// channel loops vectorise with SSE2.
void windowMaxPortable(const float* image, const int64_t* offsets, int64_t positions, int64_t width, float* out) {
  std::memcpy(out, image + offsets[0], sizeof(float) * width);
  for (int64_t k = 1; k < positions; ++k) {
    const float* in = image + offsets[k];
    for (int64_t c = 0; c < width; ++c) out[c] = in[c] > out[c] ? in[c] : out[c];
  }
}

// Two passes per window instead of one compare-and-track loop (which GCC
// compiles to a branch): the max, then a backward scan for the first
// position holding it, so the first of equal maxima wins. Winners are floats
// to keep one element width (positions < 2^24). A NaN first element stays
// the winner, as in the reference. Handles width <= kChannelBlock.
void windowMaxRoutePortable(const float* image, const int64_t* offsets, int64_t positions, int64_t width,
                            const float* gradOutput, float* gradImage) {
  float best[kChannelBlock];
  float winner[kChannelBlock];
  const float* first = image + offsets[0];
  for (int64_t c = 0; c < width; ++c) {
    best[c] = first[c];
    winner[c] = 0.0f;
  }
  for (int64_t k = 1; k < positions; ++k) {
    const float* in = image + offsets[k];
    for (int64_t c = 0; c < width; ++c) best[c] = in[c] > best[c] ? in[c] : best[c];
  }
  for (int64_t k = positions - 1; k > 0; --k) {
    const float* in = image + offsets[k];
    const float position = static_cast<float>(k);
    for (int64_t c = 0; c < width; ++c) winner[c] = in[c] == best[c] ? position : winner[c];
  }
  for (int64_t c = 0; c < width; ++c) winner[c] = first[c] == best[c] ? 0.0f : winner[c];
  for (int64_t c = 0; c < width; ++c) gradImage[offsets[static_cast<int64_t>(winner[c])] + c] += gradOutput[c];
}

// A row of output pixels whose windows have one shape (see pooling_isa.h).
using WindowMaxRow = void (*)(const float*, const int64_t*, int64_t, int64_t, int64_t, int64_t, float*, int64_t);
using WindowMaxRouteRow = void (*)(const float*, const int64_t*, int64_t, int64_t, int64_t, int64_t, const float*,
                                   int64_t, float*);

// Rows for the ISAs whose loops take one pixel (portable, AVX-512).
template <WindowMax kMax>
void rowByPixels(const float* image, const int64_t* offsets, int64_t positions, int64_t width, int64_t pixels,
                 int64_t step, float* out, int64_t outStep) {
  for (int64_t p = 0; p < pixels; ++p) kMax(image + p * step, offsets, positions, width, out + p * outStep);
}
template <WindowMaxRoute kRoute>
void routeRowByPixels(const float* image, const int64_t* offsets, int64_t positions, int64_t width, int64_t pixels,
                      int64_t step, const float* gradOutput, int64_t gradStep, float* gradImage) {
  for (int64_t p = 0; p < pixels; ++p) {
    kRoute(image + p * step, offsets, positions, width, gradOutput + p * gradStep, gradImage + p * step);
  }
}

struct MaxKernels {
  WindowMaxRow max;
  WindowMaxRouteRow route;
};

MaxKernels selectMaxKernels() {
#if defined(__x86_64__)
  switch (activeIsa()) {
    case Isa::Avx512:
      return {rowByPixels<pooling_isa::windowMaxAvx512>, routeRowByPixels<pooling_isa::windowMaxRouteAvx512>};
    case Isa::Avx2: return {pooling_isa::windowMaxRowAvx2, pooling_isa::windowMaxRouteRowAvx2};
    case Isa::Scalar: break;
  }
#endif
  return {rowByPixels<windowMaxPortable>, routeRowByPixels<windowMaxRoutePortable>};
}

// Output columns [begin, end) of a row whose windows lie wholly inside the
// image across (the same shape for every pixel; the row's clipping top and
// bottom is shared): the rest, at most a few at each edge, are clipped.
struct InteriorColumns {
  int64_t begin, end;
};
InteriorColumns interiorColumns(const Pool2DShape& shape) {
  const int64_t outW = shape.outW();
  // left = ow * strideW - padLeft >= 0 and left + windowW <= inW.
  const int64_t begin = std::min(outW, (shape.padLeft + shape.strideW - 1) / shape.strideW);
  const int64_t last = shape.inW - shape.windowW + shape.padLeft;  // ow * strideW <= last
  const int64_t end = last < 0 ? begin : std::max(begin, std::min(outW, last / shape.strideW + 1));
  return {begin, end};
}

// Calls run(ow, pixels) for the row's runs of pixels with one window shape:
// each clipped edge pixel alone, the interior as one run.
template <typename Run>
void forEachWindowRun(const InteriorColumns& interior, int64_t outW, const Run& run) {
  for (int64_t ow = 0; ow < interior.begin; ++ow) run(ow, 1);
  if (interior.begin < interior.end) run(interior.begin, interior.end - interior.begin);
  for (int64_t ow = interior.end; ow < outW; ++ow) run(ow, 1);
}

template <typename PixelBody>
void forEachOutputRow(const Pool2DShape& shape, int64_t workPerRow, const PixelBody& pixel) {
  const int64_t outH = shape.outH(), outW = shape.outW();
  parallelFor(shape.batch * outH, grainFor(workPerRow), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t n = row / outH, oh = row % outH;
      for (int64_t ow = 0; ow < outW; ++ow) pixel(n, oh, ow);
    }
  });
}

template <typename SliceBody>
void forEachGradientSlice(const Pool2DShape& shape, int64_t workPerSlice, const SliceBody& slice) {
  const int64_t blocks = channelBlocks(shape.channels);
  parallelFor(shape.batch * blocks, grainFor(workPerSlice), [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / blocks;
      const int64_t c0 = (task % blocks) * kChannelBlock;
      slice(n, c0, std::min(shape.channels, c0 + kChannelBlock));
    }
  });
}

// A window clipped to the image holds at most this many positions, however
// large the window itself is (a huge window over heavy padding must not size
// a buffer or a work estimate).
int64_t maxWindowPositions(const Pool2DShape& shape) {
  return std::min(shape.windowH, shape.inH) * std::min(shape.windowW, shape.inW);
}

}  // namespace

void maxPool2dForward(const Pool2DShape& shape, const float* input, float* output) {
  const int64_t C = shape.channels, outH = shape.outH(), outW = shape.outW();
  const WindowMaxRow windowMax = selectMaxKernels().max;
  const InteriorColumns interior = interiorColumns(shape);
  parallelFor(shape.batch * outH, grainFor(outW * C * maxWindowPositions(shape)), [&](int64_t begin, int64_t end) {
    std::vector<int64_t> offsets(static_cast<size_t>(maxWindowPositions(shape)));
    for (int64_t row = begin; row < end; ++row) {
      const int64_t n = row / outH, oh = row % outH;
      const float* image = input + n * shape.inH * shape.inW * C;
      forEachWindowRun(interior, outW, [&](int64_t ow, int64_t pixels) {
        float* out = output + (row * outW + ow) * C;
        const int64_t positions = windowOffsets(shape, clipWindow(shape, oh, ow), C, offsets.data());
        if (positions == 0) {
          std::memset(out, 0, sizeof(float) * C * pixels);
          return;
        }
        windowMax(image, offsets.data(), positions, C, pixels, shape.strideW * C, out, C);
      });
    }
  });
}

void maxPool2dBackward(const Pool2DShape& shape, const float* input, const float* gradOutput, float* gradInput) {
  const int64_t C = shape.channels, outH = shape.outH(), outW = shape.outW();
  const int64_t pixels = shape.inH * shape.inW;
  const int64_t work = outH * outW * maxWindowPositions(shape) * std::min(C, kChannelBlock);
  const WindowMaxRouteRow windowMaxRoute = selectMaxKernels().route;
  const InteriorColumns interior = interiorColumns(shape);
  forEachGradientSlice(shape, work, [&](int64_t n, int64_t c0, int64_t c1) {
    const float* image = input + n * pixels * C + c0;
    float* grad = gradInput + n * pixels * C;
    zeroChannelSlice(grad, pixels, C, c0, c1);
    std::vector<int64_t> offsets(static_cast<size_t>(maxWindowPositions(shape)));
    for (int64_t oh = 0; oh < outH; ++oh) {
      forEachWindowRun(interior, outW, [&](int64_t ow, int64_t count) {
        const int64_t positions = windowOffsets(shape, clipWindow(shape, oh, ow), C, offsets.data());
        if (positions == 0) return;
        const float* go = gradOutput + ((n * outH + oh) * outW + ow) * C + c0;
        windowMaxRoute(image, offsets.data(), positions, c1 - c0, count, shape.strideW * C, go, C, grad + c0);
      });
    }
  });
}

void avgPool2dForward(const Pool2DShape& shape, const float* input, float* output) {
  const int64_t C = shape.channels, outH = shape.outH(), outW = shape.outW();
  forEachOutputRow(shape, outW * C * maxWindowPositions(shape), [&](int64_t n, int64_t oh, int64_t ow) {
    float* out = output + ((n * outH + oh) * outW + ow) * C;
    std::memset(out, 0, sizeof(float) * C);
    const ClippedWindow window = clipWindow(shape, oh, ow);
    if (window.count() == 0) return;
    const float* image = input + n * shape.inH * shape.inW * C;
    for (int64_t h = window.hBegin; h < window.hEnd; ++h) {
      for (int64_t w = window.wBegin; w < window.wEnd; ++w) {
        const float* in = image + (h * shape.inW + w) * C;
        for (int64_t c = 0; c < C; ++c) out[c] += in[c];
      }
    }
    const float count = static_cast<float>(window.count());
    for (int64_t c = 0; c < C; ++c) out[c] /= count;
  });
}

void avgPool2dBackward(const Pool2DShape& shape, const float* gradOutput, float* gradInput) {
  const int64_t C = shape.channels, outH = shape.outH(), outW = shape.outW();
  const int64_t pixels = shape.inH * shape.inW;
  const int64_t work = outH * outW * maxWindowPositions(shape) * std::min(C, kChannelBlock);
  forEachGradientSlice(shape, work, [&](int64_t n, int64_t c0, int64_t c1) {
    const int64_t width = c1 - c0;
    float* grad = gradInput + n * pixels * C;
    zeroChannelSlice(grad, pixels, C, c0, c1);
    grad += c0;
    float share[kChannelBlock];
    for (int64_t oh = 0; oh < outH; ++oh) {
      for (int64_t ow = 0; ow < outW; ++ow) {
        const ClippedWindow window = clipWindow(shape, oh, ow);
        if (window.count() == 0) continue;
        const float count = static_cast<float>(window.count());
        const float* go = gradOutput + ((n * outH + oh) * outW + ow) * C + c0;
        for (int64_t c = 0; c < width; ++c) share[c] = go[c] / count;
        for (int64_t h = window.hBegin; h < window.hEnd; ++h) {
          for (int64_t w = window.wBegin; w < window.wEnd; ++w) {
            float* g = grad + (h * shape.inW + w) * C;
            for (int64_t c = 0; c < width; ++c) g[c] += share[c];
          }
        }
      }
    }
  });
}

// Global pooling: one task range over images; the spatial sum of each
// channel runs in position order, vectorised across channels.
void globalAvgPoolForward(int64_t batch, int64_t spatial, int64_t channels, const float* input, float* output) {
  parallelFor(batch, grainFor(spatial * channels), [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      float* out = output + n * channels;
      std::memset(out, 0, sizeof(float) * channels);
      const float* image = input + n * spatial * channels;
      for (int64_t s = 0; s < spatial; ++s) {
        const float* in = image + s * channels;
        for (int64_t c = 0; c < channels; ++c) out[c] += in[c];
      }
      const float count = static_cast<float>(spatial);
      for (int64_t c = 0; c < channels; ++c) out[c] /= count;
    }
  });
}

void globalAvgPoolBackward(int64_t batch, int64_t spatial, int64_t channels, const float* gradOutput,
                           float* gradInput) {
  parallelFor(batch * spatial, grainFor(channels), [&](int64_t begin, int64_t end) {
    const float count = static_cast<float>(spatial);
    for (int64_t row = begin; row < end; ++row) {
      const float* go = gradOutput + (row / spatial) * channels;
      float* g = gradInput + row * channels;
      for (int64_t c = 0; c < channels; ++c) g[c] = go[c] / count;
    }
  });
}

}  // namespace kiln
