// Backward data of 3-wide, column-stride-2 layers by pairs of gradInput
// columns (see ColumnPairsCorrelation in conv2d_direct.h), AVX-512.
//
// Why: as a correlation (the direct path's compact phases), a stride-2
// layer's backward data multiplies each gradient value by one filter tap
// per output pixel, so a tile over one block of 16 channels (resnet20's
// stage-2 downsampling, 16 input channels) loads a broadcast for every FMA
// and runs at the load ports' pace; and it reads a copy of the gradient
// padded by a zero column, made per image. Here each gradient value, once
// broadcast, meets all three filter columns: gradient column ox feeds
// gradInput columns 2 * ox - padLeft + kw for kw = 0, 1, 2, which fall in
// two neighbouring column pairs. A tile holds W pairs (both columns of
// each) in 2W accumulators: per gradient channel it loads the three weight
// vectors and W + 1 or W + 2 broadcasts for about 3W FMAs, and its pairs
// are whole runs of gradInput pixels, stored without strides. Gradient
// columns outside the image are read from a zero vector instead.
#if defined(__x86_64__)

#include <immintrin.h>

#include <cstdint>
#include <utility>

#include "conv2d_direct.h"

namespace kiln {
namespace {

constexpr int floorHalf(int n) { return n >= 0 ? n / 2 : -((1 - n) / 2); }

// Filter column kw sends gradient column ox to pixel pair ox + shift(kw),
// column `phase(kw)` of the pair (gradInput column 2 * pair + phase).
template <int PADL>
struct PairGeometry {
  static constexpr int shift(int kw) { return floorHalf(kw - PADL); }
  static constexpr int phase(int kw) { return kw - PADL - 2 * shift(kw); }
  static constexpr int kMaxShift = shift(2) > shift(0) ? shift(2) : shift(0);
  static constexpr int kMinShift = shift(0) < shift(2) ? shift(0) : shift(2);
};

// One tile: pairs [j0, j0 + W) of gradInput row y, channels [16 * block,
// 16 * block + 16).
template <int PADL, int W>
void columnPairsTile(const ColumnPairsCorrelation& p, const float* gradImage, int64_t y, int64_t j0, int64_t block,
                     float* outRow) {
  using G = PairGeometry<PADL>;
  // Gradient columns the tile reads: ox = j0 - kMaxShift + t.
  constexpr int kColumns = W + G::kMaxShift - G::kMinShift;
  __m512 acc[2][W];
#pragma GCC unroll 2
  for (int ph = 0; ph < 2; ++ph) {
#pragma GCC unroll 16
    for (int j = 0; j < W; ++j) acc[ph][j] = _mm512_setzero_ps();
  }
  const int64_t C = p.gradC, gradW = p.gradW;
  const float* const weights = p.packedWeights + block * p.kernelH * 3 * C * 16;
  for (int64_t kh = 0; kh < p.kernelH; ++kh) {
    const int64_t offset = y + p.padTop - kh;
    if (offset < 0 || offset % p.strideH != 0 || offset / p.strideH >= p.gradH) continue;
    const float* row = gradImage + offset / p.strideH * gradW * C;
    const float* columns[kColumns];
#pragma GCC unroll 16
    for (int t = 0; t < kColumns; ++t) {
      const int64_t ox = j0 - G::kMaxShift + t;
      columns[t] = ox >= 0 && ox < gradW ? row + ox * C : p.zeros;
    }
    const float* w0 = weights + kh * 3 * C * 16;
    const float* w1 = w0 + C * 16;
    const float* w2 = w1 + C * 16;
    for (int64_t o = 0; o < C; ++o) {
      const __m512 w[3] = {_mm512_load_ps(w0 + o * 16), _mm512_load_ps(w1 + o * 16), _mm512_load_ps(w2 + o * 16)};
#pragma GCC unroll 16
      for (int t = 0; t < kColumns; ++t) {
        const __m512 g = _mm512_set1_ps(columns[t][o]);
#pragma GCC unroll 3
        for (int kw = 0; kw < 3; ++kw) {
          const int j = t - G::kMaxShift + G::shift(kw);
          if (j < 0 || j >= W) continue;
          acc[G::phase(kw)][j] = _mm512_fmadd_ps(g, w[kw], acc[G::phase(kw)][j]);
        }
      }
    }
  }
  const int64_t channels = p.inC - block * 16;
  const __mmask16 stored = channels >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << channels) - 1u);
#pragma GCC unroll 16
  for (int j = 0; j < W; ++j) {
#pragma GCC unroll 2
    for (int ph = 0; ph < 2; ++ph) {
      const int64_t x = 2 * (j0 + j) + ph;
      if (x >= p.inW) continue;
      float* dst = outRow + x * p.inC + block * 16;
      __m512 v = acc[ph][j];
      if (p.accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(stored, dst));
      _mm512_mask_storeu_ps(dst, stored, v);
    }
  }
}

using ColumnPairsTileFn = void (*)(const ColumnPairsCorrelation&, const float*, int64_t, int64_t, int64_t, float*);

template <int PADL, int... Q>
const ColumnPairsTileFn* tilesByWidth(std::integer_sequence<int, Q...>) {
  static const ColumnPairsTileFn table[] = {&columnPairsTile<PADL, Q + 1>...};
  return table;
}

template <int PADL>
void columnPairsRows(const ColumnPairsCorrelation& p, int64_t firstTask, int64_t endTask) {
  const ColumnPairsTileFn* tiles = tilesByWidth<PADL>(std::make_integer_sequence<int, kMaxColumnPairsTile>());
  const int64_t pairs = (p.inW + 1) / 2;
  // Balanced tiles: the first `wider` one pair wider.
  const int64_t count = (pairs + p.tilePairs - 1) / p.tilePairs;
  const int64_t narrow = pairs / count, wider = pairs % count;
  const int64_t blocks = (p.inC + 15) / 16;
  for (int64_t task = firstTask; task < endTask; ++task) {
    const int64_t img = task / p.inH, y = task % p.inH;
    const float* gradImage = p.gradOutput + img * p.gradH * p.gradW * p.gradC;
    float* outRow = p.gradInput + task * p.inW * p.inC;
    for (int64_t block = 0; block < blocks; ++block) {
      int64_t j0 = 0;
      for (int64_t t = 0; t < count; ++t) {
        const int64_t width = narrow + (t < wider ? 1 : 0);
        tiles[width - 1](p, gradImage, y, j0, block, outRow);
        j0 += width;
      }
    }
  }
}

}  // namespace

void conv2dColumnPairsCorrelateAvx512(const ColumnPairsCorrelation& work, int64_t firstTask, int64_t endTask) {
  switch (work.padLeft) {
    case 0: columnPairsRows<0>(work, firstTask, endTask); break;
    case 1: columnPairsRows<1>(work, firstTask, endTask); break;
    default: columnPairsRows<2>(work, firstTask, endTask); break;
  }
}

}  // namespace kiln

#endif  // defined(__x86_64__)
