// Backward data of strided 1x1 layers with gradient channels taken in pairs
// (see PointwisePairsCorrelation in conv2d_direct.h), AVX-512.
//
// Why: as a correlation tile over one block of 16 gradInput channels
// (resnet20's stage-2 projection, 16 input channels), every FMA needed its
// own broadcast of a gradient value, and the tile ran at the load ports'
// pace; the zeros between the reached pixels were one memset per image
// before it. Here a vector holds 8 gradInput channels x 2 gradient
// channels: one 64-bit broadcast of a gradient channel pair feeds two FMAs
// per block, and at the end two in-lane shuffles and an add per 16
// channels sum each lane pair. The zeros are stored row by row just before
// the row's sums, so that they drain while its FMAs run.
#if defined(__x86_64__)

#include <immintrin.h>

#include <cstdint>
#include <utility>

#include "conv2d_direct.h"

namespace kiln {
namespace {

constexpr __mmask16 kAll = static_cast<__mmask16>(0xFFFF);

// Gradient channels o, o + 1 in every lane pair.
[[gnu::always_inline]] inline __m512 broadcastPair(const float* g) {
  double pair;
  __builtin_memcpy(&pair, g, sizeof pair);
  return _mm512_castpd_ps(_mm512_set1_pd(pair));
}

// Register tiles: RW pixels x NB blocks x 2 vectors, plus 2 NB weight
// vectors and a broadcast.
constexpr int maxPixels(int blocks) { return (31 - 2 * blocks) / (2 * blocks); }

// RW gradient pixels from `g` (gradC floats apart) to gradInput pixels from
// `out` (outStride floats apart), blocks [firstBlock, firstBlock + NB).
template <int NB, int RW>
void pointwisePairsTile(const PointwisePairsCorrelation& p, const float* g, float* out, int64_t outStride,
                        int64_t firstBlock) {
  __m512 acc[RW][NB][2];
#pragma GCC unroll 16
  for (int i = 0; i < RW; ++i) {
#pragma GCC unroll 2
    for (int b = 0; b < NB; ++b) acc[i][b][0] = acc[i][b][1] = _mm512_setzero_ps();
  }
  const int64_t K = p.gradC, pairs = (K + 1) / 2, full = K / 2;
  const int64_t blockFloats = pairs * 2 * 16;
  const float* w = p.packedWeights + firstBlock * blockFloats;
  const auto step = [&](const __m512 (&bv)[RW], const float* wp) __attribute__((always_inline)) {
    __m512 wv[NB][2];
#pragma GCC unroll 2
    for (int b = 0; b < NB; ++b) {
      wv[b][0] = _mm512_load_ps(wp + b * blockFloats);
      wv[b][1] = _mm512_load_ps(wp + b * blockFloats + 16);
    }
#pragma GCC unroll 16
    for (int i = 0; i < RW; ++i) {
#pragma GCC unroll 2
      for (int b = 0; b < NB; ++b) {
        acc[i][b][0] = _mm512_fmadd_ps(bv[i], wv[b][0], acc[i][b][0]);
        acc[i][b][1] = _mm512_fmadd_ps(bv[i], wv[b][1], acc[i][b][1]);
      }
    }
  };
  for (int64_t kp = 0; kp < full; ++kp) {
    __m512 bv[RW];
#pragma GCC unroll 16
    for (int i = 0; i < RW; ++i) bv[i] = broadcastPair(g + i * K + 2 * kp);
    step(bv, w + kp * 32);
  }
  if (full < pairs) {
    // An odd last gradient channel: broadcast alone (its pair's second
    // weight is zero), so nothing past it is read.
    __m512 bv[RW];
#pragma GCC unroll 16
    for (int i = 0; i < RW; ++i) bv[i] = _mm512_set1_ps(g[i * K + K - 1]);
    step(bv, w + full * 32);
  }
#pragma GCC unroll 2
  for (int b = 0; b < NB; ++b) {
    const int64_t channels = p.inC - (firstBlock + b) * 16;
    const __mmask16 stored = channels >= 16 ? kAll : static_cast<__mmask16>((1u << channels) - 1u);
#pragma GCC unroll 16
    for (int i = 0; i < RW; ++i) {
      const __m512 even = _mm512_maskz_shuffle_ps(kAll, acc[i][b][0], acc[i][b][1], 0x88);
      const __m512 odd = _mm512_maskz_shuffle_ps(kAll, acc[i][b][0], acc[i][b][1], 0xDD);
      __m512 v = _mm512_add_ps(even, odd);
      float* dst = out + i * outStride + (firstBlock + b) * 16;
      if (p.accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(stored, dst));
      _mm512_mask_storeu_ps(dst, stored, v);
    }
  }
}

using PointwisePairsTileFn = void (*)(const PointwisePairsCorrelation&, const float*, float*, int64_t, int64_t);

template <int NB, int... Q>
const PointwisePairsTileFn* tilesFor(std::integer_sequence<int, Q...>) {
  static const PointwisePairsTileFn table[] = {&pointwisePairsTile<NB, Q + 1>...};
  return table;
}

// Plain stores: a pixel is 16-64 floats, too few for a memset call (which
// GCC would make of this loop if it could see the zeros).
void zeroFloats(float* dst, int64_t n) {
  __m512 zero = _mm512_setzero_ps();
  __asm__("" : "+v"(zero));
  for (; n >= 16; n -= 16, dst += 16) _mm512_storeu_ps(dst, zero);
  if (n > 0) _mm512_mask_storeu_ps(dst, static_cast<__mmask16>((1u << n) - 1u), zero);
}

}  // namespace

void conv2dPointwisePairsCorrelateAvx512(const PointwisePairsCorrelation& p, int64_t firstTask, int64_t endTask) {
  const PointwisePairsTileFn* oneBlock = tilesFor<1>(std::make_integer_sequence<int, maxPixels(1)>());
  const PointwisePairsTileFn* twoBlocks = tilesFor<2>(std::make_integer_sequence<int, maxPixels(2)>());
  const int64_t blocks = (p.inC + 15) / 16;
  const int64_t pixelFloats = p.inC, rowFloats = p.inW * p.inC;
  const int64_t outStride = p.strideW * pixelFloats;
  for (int64_t task = firstTask; task < endTask; ++task) {
    const int64_t img = task / p.gradH, y = task % p.gradH;
    const float* gradRow = p.gradOutput + task * p.gradW * p.gradC;
    float* outRow = p.gradInput + (img * p.inH + y * p.strideH) * rowFloats;
    if (!p.accumulate) {
      // First the zeros: the pixels of this row no gradient reaches and the
      // rows below it up to the next reached row. Stored before the sums,
      // they drain while the FMAs run (after them, each waited for its line).
      const int64_t reachedEnd = p.gradW * p.strideW;
      for (int64_t x = 0, phase = 0; x < p.inW; ++x) {
        if (phase != 0 || x >= reachedEnd) zeroFloats(outRow + x * pixelFloats, pixelFloats);
        if (++phase == p.strideW) phase = 0;
      }
      const int64_t rowsLeft = p.inH - y * p.strideH;
      const int64_t rowsBelow = (p.strideH < rowsLeft ? p.strideH : rowsLeft) - 1;
      zeroFloats(outRow + rowFloats, rowsBelow * rowFloats);
    }
    for (int64_t block = 0; block < blocks; block += kMaxPointwisePairsBlocks) {
      const int nb = blocks - block < kMaxPointwisePairsBlocks ? static_cast<int>(blocks - block)
                                                                : static_cast<int>(kMaxPointwisePairsBlocks);
      const int64_t most = nb == 1 ? maxPixels(1) : maxPixels(2);
      // Balanced tiles along the row, the first `wider` one pixel wider.
      const int64_t count = (p.gradW + most - 1) / most;
      const int64_t narrow = p.gradW / count, wider = p.gradW % count;
      for (int64_t t = 0, x = 0; t < count; ++t) {
        const int64_t width = narrow + (t < wider ? 1 : 0);
        (nb == 1 ? oneBlock : twoBlocks)[width - 1](p, gradRow + x * p.gradC, outRow + x * outStride, outStride, block);
        x += width;
      }
    }
  }
}

}  // namespace kiln

#endif  // defined(__x86_64__)
