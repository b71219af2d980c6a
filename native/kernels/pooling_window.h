// Internal to the pooling kernels: the part of a pooling window that lies
// inside the image. Clipping once per output pixel is what keeps padding out
// of every max and every average's count.
#pragma once

#include <algorithm>
#include <cstdint>

#include "pooling.h"

namespace kiln {
namespace pooling_detail {

struct ClippedWindow {
  int64_t hBegin, hEnd, wBegin, wEnd;
  int64_t height() const { return hEnd - hBegin; }
  int64_t width() const { return wEnd - wBegin; }
  // Positions inside the image; 0 only when the window lies entirely in padding.
  int64_t count() const { return height() > 0 && width() > 0 ? height() * width() : 0; }
};

inline ClippedWindow clipWindow(const Pool2DShape& shape, int64_t outRow, int64_t outColumn) {
  const int64_t top = outRow * shape.strideH - shape.padTop;
  const int64_t left = outColumn * shape.strideW - shape.padLeft;
  ClippedWindow window;
  window.hBegin = std::max<int64_t>(top, 0);
  window.hEnd = std::min<int64_t>(top + shape.windowH, shape.inH);
  window.wBegin = std::max<int64_t>(left, 0);
  window.wEnd = std::min<int64_t>(left + shape.windowW, shape.inW);
  return window;
}

}  // namespace pooling_detail
}  // namespace kiln
