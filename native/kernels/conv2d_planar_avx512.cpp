// Channel-planar direct convolution microkernels, AVX-512, for layers with
// fewer output channels than a vector has lanes (see conv2d_direct.h for the
// work descriptions). Source rows are [channel][column] so 16 consecutive
// output columns of one channel come from one unaligned load.
//
// Correlation: a register tile is RH output rows x V vectors of 16 columns x
// OC output channels. Loop order inside a tile: kh, kw, source channel; per
// step the RH*V source vectors are loaded once and each output channel's
// weight is broadcast into RH*V FMAs. The tile is written to NHWC through a
// small stack transposition (OC floats per pixel are contiguous there).
// Filter gradient: a register tile is T (kh, kw, c) taps x OC output channels,
// each accumulator a 16-lane partial sum over output columns; the loop runs
// over every output row and column vector, loading OC gradOutput vectors and
// T source vectors, and the lanes are summed once at the end.
#if defined(__x86_64__)

#include <immintrin.h>

#include <utility>

#include "conv2d_direct.h"

namespace kiln {
namespace {

constexpr int kMaxRows = 6;
constexpr int kMaxVectors = 2;
constexpr int kMaxTaps = 8;
constexpr int64_t kMaxPermuteChannels = 8;

template <int OC, int V, int RH>
void planarCorrelateTile(const PlanarCorrelation& p, int64_t img, int64_t oh0, int64_t x0) {
  __m512 acc[RH][V][OC];
#pragma GCC unroll 8
  for (int r = 0; r < RH; ++r) {
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) {
#pragma GCC unroll 8
      for (int o = 0; o < OC; ++o) acc[r][v][o] = _mm512_setzero_ps();
    }
  }
  const int64_t C = p.sourceC, W = p.sourceW;
  const int64_t rowStride = p.strideH * C * W;
  const float* base = p.source + (img * p.sourceH + oh0 * p.strideH) * C * W + x0;
  for (int64_t kh = 0; kh < p.kernelH; ++kh) {
    for (int64_t kw = 0; kw < p.kernelW; ++kw) {
      const float* s = base + kh * p.dilationH * C * W + kw * p.dilationW;
      const float* w = p.weights + (kh * p.kernelW + kw) * C * OC;
      for (int64_t c = 0; c < C; ++c, s += W, w += OC) {
        __m512 x[RH][V];
#pragma GCC unroll 8
        for (int r = 0; r < RH; ++r) {
#pragma GCC unroll 2
          for (int v = 0; v < V; ++v) x[r][v] = _mm512_loadu_ps(s + r * rowStride + v * 16);
        }
#pragma GCC unroll 8
        for (int o = 0; o < OC; ++o) {
          const __m512 wv = _mm512_set1_ps(w[o]);
#pragma GCC unroll 8
          for (int r = 0; r < RH; ++r) {
#pragma GCC unroll 2
            for (int v = 0; v < V; ++v) acc[r][v][o] = _mm512_fmadd_ps(x[r][v], wv, acc[r][v][o]);
          }
        }
      }
    }
  }
  __m512 biasVector[OC];
#pragma GCC unroll 8
  for (int o = 0; o < OC; ++o) biasVector[o] = p.bias != nullptr ? _mm512_set1_ps(p.bias[o]) : _mm512_setzero_ps();
  const __m512 zero = _mm512_setzero_ps();
  alignas(64) float pixels[16 * OC];
  // Lane l of channel o goes to pixels[l * OC + o].
  __m512i index[OC];
#pragma GCC unroll 8
  for (int o = 0; o < OC; ++o) {
    index[o] = _mm512_add_epi32(_mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                                   _mm512_set1_epi32(OC)),
                                _mm512_set1_epi32(o));
  }
#pragma GCC unroll 8
  for (int r = 0; r < RH; ++r) {
    float* outRow = p.output + ((img * p.outH + oh0 + r) * p.outW) * OC;
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) {
      const int64_t col0 = x0 + v * 16;
      if (col0 >= p.outW) break;
      const int64_t n = p.outW - col0 < 16 ? p.outW - col0 : 16;
#pragma GCC unroll 8
      for (int o = 0; o < OC; ++o) {
        __m512 y = _mm512_add_ps(acc[r][v][o], biasVector[o]);
        if (p.relu) y = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, zero, _CMP_GT_OQ), y);
        _mm512_i32scatter_ps(pixels, index[o], y, 4);
      }
      // The tile's pixels are contiguous in NHWC: copy n * OC floats.
      float* dst = outRow + col0 * OC;
      const int64_t count = n * OC;
      int64_t i = 0;
      for (; i + 16 <= count; i += 16) _mm512_storeu_ps(dst + i, _mm512_load_ps(pixels + i));
      if (i < count) {
        const __mmask16 m = static_cast<__mmask16>((1u << (count - i)) - 1u);
        _mm512_mask_storeu_ps(dst + i, m, _mm512_maskz_loadu_ps(m, pixels + i));
      }
    }
  }
}

using PlanarCorrelateFn = void (*)(const PlanarCorrelation&, int64_t, int64_t, int64_t);

template <int OC, int V>
PlanarCorrelateFn planarCorrelateKernelFor(int rows) {
  static const PlanarCorrelateFn table[] = {&planarCorrelateTile<OC, V, 1>, &planarCorrelateTile<OC, V, 2>,
                                            &planarCorrelateTile<OC, V, 3>, &planarCorrelateTile<OC, V, 4>,
                                            &planarCorrelateTile<OC, V, 5>, &planarCorrelateTile<OC, V, 6>};
  static_assert(sizeof(table) / sizeof(table[0]) == kMaxRows, "one variant per row count");
  return table[rows - 1];
}

template <int OC>
PlanarCorrelateFn planarCorrelateKernelForChannels(int vectors, int rows) {
  return vectors == 1 ? planarCorrelateKernelFor<OC, 1>(rows) : planarCorrelateKernelFor<OC, 2>(rows);
}

PlanarCorrelateFn planarCorrelateKernel(int64_t channels, int vectors, int rows) {
  switch (channels) {
    case 1: return planarCorrelateKernelForChannels<1>(vectors, rows);
    case 2: return planarCorrelateKernelForChannels<2>(vectors, rows);
    case 3: return planarCorrelateKernelForChannels<3>(vectors, rows);
    case 4: return planarCorrelateKernelForChannels<4>(vectors, rows);
    case 5: return planarCorrelateKernelForChannels<5>(vectors, rows);
    case 6: return planarCorrelateKernelForChannels<6>(vectors, rows);
    case 7: return planarCorrelateKernelForChannels<7>(vectors, rows);
    default: return planarCorrelateKernelForChannels<8>(vectors, rows);
  }
}

template <int OC, int T>
void planarFilterGradientTile(const PlanarFilterGradient& p, int64_t firstTap) {
  const int64_t C = p.sourceC, W = p.sourceW;
  int64_t offsets[T];
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) {
    const int64_t tap = firstTap + t;
    const int64_t c = tap % C, kw = (tap / C) % p.kernelW, kh = tap / C / p.kernelW;
    offsets[t] = (kh * p.dilationH * C + c) * W + kw * p.dilationW;
  }
  __m512 acc[T][OC];
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) {
#pragma GCC unroll 8
    for (int o = 0; o < OC; ++o) acc[t][o] = _mm512_setzero_ps();
  }
  const int64_t G = p.gradOutputW, vectors = G / 16;
  for (int64_t img = 0; img < p.images; ++img) {
    for (int64_t oh = 0; oh < p.outH; ++oh) {
      const float* sourceRow = p.source + (img * p.sourceH + oh * p.strideH) * C * W;
      const float* gradRow = p.gradOutput + (img * p.outH + oh) * OC * G;
      for (int64_t v = 0; v < vectors; ++v) {
        __m512 g[OC];
#pragma GCC unroll 8
        for (int o = 0; o < OC; ++o) g[o] = _mm512_loadu_ps(gradRow + o * G + v * 16);
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
          const __m512 x = _mm512_loadu_ps(sourceRow + offsets[t] + v * 16);
#pragma GCC unroll 8
          for (int o = 0; o < OC; ++o) acc[t][o] = _mm512_fmadd_ps(x, g[o], acc[t][o]);
        }
      }
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) {
    float* dst = p.gradFilter + (firstTap + t) * OC;
#pragma GCC unroll 8
    for (int o = 0; o < OC; ++o) {
      alignas(64) float lanes[16];
      _mm512_store_ps(lanes, acc[t][o]);
      float sum = 0.0f;
      for (int l = 0; l < 16; ++l) sum += lanes[l];
      dst[o] = p.accumulate ? dst[o] + sum : sum;
    }
  }
}

using PlanarFilterGradientFn = void (*)(const PlanarFilterGradient&, int64_t);

template <int OC, int... T>
const PlanarFilterGradientFn* tapVariants(std::integer_sequence<int, T...>) {
  static const PlanarFilterGradientFn table[] = {&planarFilterGradientTile<OC, T + 1>...};
  return table;
}

PlanarFilterGradientFn planarFilterGradientKernel(int64_t channels, int taps) {
  switch (channels) {
    case 1: return tapVariants<1>(std::make_integer_sequence<int, kMaxTaps>())[taps - 1];
    case 2: return tapVariants<2>(std::make_integer_sequence<int, kMaxTaps>())[taps - 1];
    case 3: return tapVariants<3>(std::make_integer_sequence<int, kMaxTaps>())[taps - 1];
    case 4: return tapVariants<4>(std::make_integer_sequence<int, kMaxTaps>())[taps - 1];
    case 5: return tapVariants<5>(std::make_integer_sequence<int, kMaxTaps>())[taps - 1];
    case 6: return tapVariants<6>(std::make_integer_sequence<int, kMaxTaps>())[taps - 1];
    case 7: return tapVariants<7>(std::make_integer_sequence<int, kMaxTaps>())[taps - 1];
    default: return tapVariants<8>(std::make_integer_sequence<int, kMaxTaps>())[taps - 1];
  }
}

}  // namespace

void conv2dToPlanarAvx512(const PlanarCopy& p, int64_t firstTask, int64_t endTask) {
  const int64_t C = p.C, dstW = p.dstW;
  const __m512i lanes = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  const __m512i index = _mm512_mullo_epi32(lanes, _mm512_set1_epi32(static_cast<int>(C)));
  const int64_t first = p.columnOffset < 0 ? -p.columnOffset : 0;
  const int64_t last = p.W < dstW - p.columnOffset ? p.W : dstW - p.columnOffset;
  for (int64_t row = firstTask; row < endTask; ++row) {
    const int64_t img = row / p.dstH, h = row % p.dstH - p.rowOffset;
    float* out = p.dst + row * C * dstW;
    if (h < 0 || h >= p.H || last <= first) {
      for (int64_t i = 0; i < C * dstW; ++i) out[i] = 0.0f;
      continue;
    }
    const float* in = p.src + (img * p.H + h) * p.W * C;
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t x = 0; x < first + p.columnOffset; ++x) out[c * dstW + x] = 0.0f;
      for (int64_t x = last + p.columnOffset; x < dstW; ++x) out[c * dstW + x] = 0.0f;
    }
    if (C > 1 && C <= kMaxPermuteChannels) {
      // 16 pixels are C whole vectors; channel c's lanes come from pairs of
      // them through two-source permutes.
      for (int64_t w = first; w < last; w += 16) {
        const int64_t n = last - w < 16 ? last - w : 16;
        __m512 v[kMaxPermuteChannels + 1];
        for (int64_t k = 0; k <= C; ++k) {
          const int64_t valid = n * C - 16 * k;
          const __mmask16 m = valid >= 16 ? static_cast<__mmask16>(0xFFFF)
                              : valid <= 0 ? static_cast<__mmask16>(0)
                                           : static_cast<__mmask16>((1u << valid) - 1u);
          v[k] = k < C ? _mm512_maskz_loadu_ps(m, in + w * C + 16 * k) : _mm512_setzero_ps();
        }
        const __mmask16 store = static_cast<__mmask16>((1u << n) - 1u);
        for (int64_t c = 0; c < C; ++c) {
          const __m512i element = _mm512_add_epi32(index, _mm512_set1_epi32(static_cast<int>(c)));
          const __m512i within = _mm512_and_si512(element, _mm512_set1_epi32(31));
          __m512 result = _mm512_setzero_ps();
          for (int64_t j = 0; 2 * j < C; ++j) {
            const __mmask16 m =
                _mm512_cmpge_epi32_mask(element, _mm512_set1_epi32(static_cast<int>(32 * j))) &
                _mm512_cmplt_epi32_mask(element, _mm512_set1_epi32(static_cast<int>(32 * j + 32)));
            result = _mm512_mask_mov_ps(result, m, _mm512_permutex2var_ps(v[2 * j], within, v[2 * j + 1]));
          }
          _mm512_mask_storeu_ps(out + c * dstW + p.columnOffset + w, store, result);
        }
      }
      continue;
    }
    for (int64_t c = 0; c < C; ++c, out += dstW) {
      float* d = out + p.columnOffset;
      for (int64_t w = first; w < last; w += 16) {
        const int64_t n = last - w < 16 ? last - w : 16;
        const __mmask16 m = static_cast<__mmask16>((1u << n) - 1u);
        const __m512 v = C == 1 ? _mm512_maskz_loadu_ps(m, in + w)
                                : _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, index, in + w * C + c, 4);
        _mm512_mask_storeu_ps(d + w, m, v);
      }
    }
  }
}

void conv2dPlanarCorrelateAvx512(const PlanarCorrelation& p, int64_t firstTask, int64_t endTask) {
  const int64_t vectors = (p.outW + 15) / 16;
  for (int64_t task = firstTask; task < endTask; ++task) {
    const int64_t group = task % p.columnGroups;
    const int64_t rest = task / p.columnGroups;
    const int64_t tile = rest % p.rowTiles, img = rest / p.rowTiles;
    const int64_t oh0 = tile * p.rowsPerTile;
    const int64_t rows = p.outH - oh0 < p.rowsPerTile ? p.outH - oh0 : p.rowsPerTile;
    const int64_t firstVector = group * p.vectorsPerTile;
    const int64_t count = vectors - firstVector < p.vectorsPerTile ? vectors - firstVector : p.vectorsPerTile;
    planarCorrelateKernel(p.outC, static_cast<int>(count), static_cast<int>(rows))(p, img, oh0, firstVector * 16);
  }
}

void conv2dPlanarFilterGradientAvx512(const PlanarFilterGradient& p, int64_t firstTask, int64_t endTask) {
  const int64_t totalTaps = p.kernelH * p.kernelW * p.sourceC;
  for (int64_t tile = firstTask; tile < endTask; ++tile) {
    const int64_t first = tile * p.tapsPerTile;
    const int64_t taps = totalTaps - first < p.tapsPerTile ? totalTaps - first : p.tapsPerTile;
    planarFilterGradientKernel(p.outC, static_cast<int>(taps))(p, first);
  }
}

}  // namespace kiln

#endif  // defined(__x86_64__)
