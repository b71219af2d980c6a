// Channel-planar kernels, AVX2 + FMA: conv2d_planar_tiles.h over 8-lane ymm
// vectors (Avx2Vectors), and the copy of NHWC data into the planar layout
// (conv2dToPlanarAvx2), which the AVX-512 kernel set uses too: its 8 x 8
// in-register transpositions beat AVX-512's gathers and two-source permutes
// on AMD (resnet20's stem backward data: 66 -> 111 GFLOP/s with the AVX-512
// kernels on Zen 5, 2 threads).
#if defined(__x86_64__)

#include <immintrin.h>

#include "conv2d_direct.h"
#include "conv2d_planar_tiles.h"
#include "lanes_avx2.h"
#include "transpose_avx2.h"
#include "vectors_avx2.h"

namespace kiln {
namespace {

constexpr int kLanes = 8;

// Plain stores: the rows are a few dozen floats, too short for a memset
// call (which GCC would make of this loop if it could see the zeros).
void zeroFloats(float* dst, int64_t n) {
  __m256 zero = _mm256_setzero_ps();
  __asm__("" : "+x"(zero));
  for (; n >= kLanes; n -= kLanes, dst += kLanes) _mm256_storeu_ps(dst, zero);
  storeFirst(dst, zero, n);
}

// dst[k * dstW + x] = src[(w + x) * C + c0 + k] for 8 columns x (only the
// first n stored) and `channels` k, zero for pixels outside [0, W); pixels
// up to wideLast are read with 8-float loads.
[[gnu::always_inline]] inline void transposeBlock(const float* in, int64_t W, int64_t C, int64_t c0, int64_t channels,
                                                  int64_t wideLast, int64_t w, float* dst, int64_t dstW, int64_t n) {
  __m256 v[8];
  if (w >= 0 && w + 7 <= wideLast) {
    const float* at = in + w * C + c0;
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) v[k] = _mm256_loadu_ps(at + k * C);
  } else {
    const __m256i mask = laneMask(channels);
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) {
      const int64_t pixel = w + k;
      const float* at = in + (pixel < 0 ? 0 : (pixel < W ? pixel : W - 1)) * C + c0;
      if (pixel < 0 || pixel >= W) v[k] = _mm256_setzero_ps();
      else v[k] = pixel <= wideLast ? _mm256_loadu_ps(at) : _mm256_maskload_ps(at, mask);
    }
  }
  transpose8x8(v);
#pragma GCC unroll 8
  for (int k = 0; k < 8; ++k) {
    if (k < channels) storeFirst(dst + k * dstW, v[k], n);
  }
}

// One row of pixels [first, last) of whole blocks of 8 channels into a
// destination whose border columns are zero already: blocks of 8 pixels
// from `first`, not from the destination's column 0, so that no block
// straddles the image's edge and all but a last short one (W not a multiple
// of 8) load and store whole vectors without per-pixel tests. The border
// blocks of the general loop below cost about as much as the rest of the
// row (resnet20's stem backward data: 5 column blocks a row, 2 of them
// at the borders).
void rowToPlanarInside(const float* in, int64_t C, int64_t first, int64_t last, float* out, int64_t dstW) {
  for (int64_t w = first; w < last; w += kLanes) {
    const int64_t n = last - w < kLanes ? last - w : kLanes;
    for (int64_t c0 = 0; c0 < C; c0 += kLanes) {
      __m256 v[8];
      const float* at = in + w * C + c0;
      if (n == kLanes) {
#pragma GCC unroll 8
        for (int k = 0; k < 8; ++k) v[k] = _mm256_loadu_ps(at + k * C);
      } else {
#pragma GCC unroll 8
        for (int k = 0; k < 8; ++k) v[k] = k < n ? _mm256_loadu_ps(at + k * C) : _mm256_setzero_ps();
      }
      transpose8x8(v);
      float* to = out + c0 * dstW + w;
      if (n == kLanes) {
#pragma GCC unroll 8
        for (int k = 0; k < 8; ++k) _mm256_storeu_ps(to + k * dstW, v[k]);
      } else {
#pragma GCC unroll 8
        for (int k = 0; k < 8; ++k) storeFirst(to + k * dstW, v[k], n);
      }
    }
  }
}

// The same for fewer than 8 channels (lenet5 conv1's 6-channel gradient):
// a pixel's 8-float load takes the next pixel's first channels too, which
// are not stored, up to pixel wideLast; the pixels after it load only
// their own C floats, so nothing past the row is read.
void rowToPlanarInsideNarrow(const float* in, int64_t C, int64_t first, int64_t last, int64_t wideLast, float* out,
                             int64_t dstW) {
  const __m256i mask = laneMask(C);
  for (int64_t w = first; w < last; w += kLanes) {
    const int64_t n = last - w < kLanes ? last - w : kLanes;
    __m256 v[8];
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) {
      const float* at = in + (w + k) * C;
      if (k >= n) v[k] = _mm256_setzero_ps();
      else v[k] = w + k <= wideLast ? _mm256_loadu_ps(at) : _mm256_maskload_ps(at, mask);
    }
    transpose8x8(v);
    float* to = out + w;
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) {
      if (k >= C) break;
      if (n == kLanes) _mm256_storeu_ps(to + k * dstW, v[k]);
      else storeFirst(to + k * dstW, v[k], n);
    }
  }
}

}  // namespace

void conv2dToPlanarAvx2(const PlanarCopy& p, int64_t firstTask, int64_t endTask) {
  const int64_t C = p.C, W = p.W, dstW = p.dstW, offset = p.columnOffset;
  // Source pixels [first, last) land inside the destination row.
  const int64_t first = offset < 0 ? -offset : 0;
  const int64_t last = W < dstW - offset ? W : dstW - offset;
  // Pixels up to tailWideLast can be read with 8-float loads for the last,
  // partial channel block without leaving the row (the extra floats land
  // in rows that are not stored); full blocks can all be.
  const int64_t spare = W * C - (C - C % kLanes) - kLanes;
  const int64_t tailWideLast = spare < 0 ? -1 : spare / C;
  // With several channels each destination row is written once, in blocks
  // of 8 columns whose source pixels (zero outside the image) are
  // transposed in registers: zeroing the borders separately, a few floats
  // per channel row, cost more than the transposition. Blocks wholly inside
  // the image load with plain 8-float loads, the border blocks pixel by pixel.
  for (int64_t row = firstTask; row < endTask; ++row) {
    const int64_t img = row / p.dstH, h = row % p.dstH - p.rowOffset;
    float* out = p.dst + row * C * dstW;
    if (h < 0 || h >= p.H) {
      zeroFloats(out, C * dstW);
      continue;
    }
    const float* in = p.src + (img * p.H + h) * W * C;
    if (p.bordersZero && C % kLanes == 0) {
      rowToPlanarInside(in, C, first, last, out + offset, dstW);
      continue;
    }
    if (p.bordersZero && C > 1 && C < kLanes) {
      rowToPlanarInsideNarrow(in, C, first, last, tailWideLast, out + offset, dstW);
      continue;
    }
    if (C == 1) {
      // No transposition: zeros, then the row copied over them.
      zeroFloats(out, dstW);
      int64_t w = first;
      for (; w + kLanes <= last; w += kLanes) _mm256_storeu_ps(out + (offset + w), _mm256_loadu_ps(in + w));
      if (w < last) storeFirst(out + (offset + w), _mm256_maskload_ps(in + w, laneMask(last - w)), last - w);
      continue;
    }
    // Column blocks outside, channel blocks inside: each block of 8 pixels
    // is then read front to back (the memory-bound part with many channels:
    // alexnet-s conv1's gradient is 256 KiB per image). One block of up to
    // 8 channels has its own loop: the shared one ran lenet5 conv1's
    // 6-channel gradient ~10% slower.
    if (C <= kLanes) {
      for (int64_t x0 = 0; x0 < dstW; x0 += kLanes) {
        transposeBlock(in, W, C, 0, C, tailWideLast, x0 - offset, out + x0, dstW, dstW - x0);
      }
      continue;
    }
    for (int64_t x0 = 0; x0 < dstW; x0 += kLanes) {
      for (int64_t c0 = 0; c0 < C; c0 += kLanes) {
        const int64_t channels = C - c0 < kLanes ? C - c0 : kLanes;
        transposeBlock(in, W, C, c0, channels, channels == kLanes ? W - 1 : tailWideLast, x0 - offset,
                       out + c0 * dstW + x0, dstW, dstW - x0);
      }
    }
  }
}

void conv2dPlanarCorrelateAvx2(const PlanarCorrelation& work, int64_t firstTask, int64_t endTask) {
  planarCorrelateTasks<Avx2Vectors>(work, firstTask, endTask);
}

void conv2dPlanarFilterGradientAvx2(const PlanarFilterGradient& work, int64_t firstTask, int64_t endTask) {
  planarFilterGradientTasks<Avx2Vectors>(work, firstTask, endTask);
}

}  // namespace kiln

#endif  // defined(__x86_64__)
