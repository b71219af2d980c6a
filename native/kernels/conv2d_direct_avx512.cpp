// Direct convolution microkernels, AVX-512 (see conv2d_direct.h for the work
// descriptions; the source is NHWC and zero-padded, filters are HWIO).
//
// Correlation (forward, and backward data as a correlation of gradOutput with
// the flipped filter): a register tile is tileWidth output pixels x NB blocks
// of 16 output channels. Loop order inside a tile: kh, kw, source channel;
// per step NB weight vectors are loaded and each pixel's source value is
// broadcast into NB FMAs.
// Filter gradient: a register tile is R consecutive (kw, ci) filter rows x NB
// blocks of 16 output channels; the loop runs over every output pixel, loads
// NB gradOutput vectors and broadcasts R source values.
#if defined(__x86_64__)

#include <immintrin.h>

#include <utility>

#include "conv2d_direct.h"

namespace kiln {
namespace {

__mmask16 channelMask(int64_t valid) {
  return valid >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << valid) - 1u);
}

// RH output rows of RW pixels each (RH > 1 only for narrow outputs, where one
// row alone would reuse each weight vector for too few pixels). PS is the
// source pixel stride in floats when known at compile time (0: runtime): with
// a runtime stride the compiler needs one pointer per pixel, runs out of
// general registers and shuttles them through xmm registers on the FMA port
// (~35% slower on resnet20's 16-channel layers); with a constant one every
// broadcast is a fixed displacement from one pointer.
template <int NB, int RW, int RH, int PS = 0>
void correlateTile(const DirectCorrelation& p, const float* source, int64_t sourcePixelStride, const float* weights,
                   int64_t blockStride, const int64_t* taps, int64_t tapCount, int64_t runLength, float* output,
                   int64_t outputPixelStride, int64_t firstBlock, int64_t sourceRowStride, int64_t outputRowStride) {
  constexpr int P = RW * RH;
  __m512 acc[P][NB];
#pragma GCC unroll 32
  for (int i = 0; i < P; ++i) {
#pragma GCC unroll 4
    for (int j = 0; j < NB; ++j) acc[i][j] = _mm512_setzero_ps();
  }
  // A tap is a run of runLength consecutive source floats (one kernel row
  // when the columns are dense) whose weights are consecutive too.
  for (int64_t t = 0; t < tapCount; ++t) {
    const float* s = source + taps[2 * t];
    const float* w = weights + taps[2 * t + 1];
    for (int64_t c = 0; c < runLength; ++c) {
      __m512 wv[NB];
#pragma GCC unroll 4
      for (int j = 0; j < NB; ++j) wv[j] = _mm512_load_ps(w + j * blockStride + c * 16);
#pragma GCC unroll 32
      for (int i = 0; i < P; ++i) {
        const int64_t pixel = PS != 0 ? (i % RW) * PS : (i % RW) * sourcePixelStride;
        const __m512 x = _mm512_set1_ps(s[(i / RW) * sourceRowStride + pixel + c]);
#pragma GCC unroll 4
        for (int j = 0; j < NB; ++j) acc[i][j] = _mm512_fmadd_ps(x, wv[j], acc[i][j]);
      }
    }
  }
  __m512 biasVector[NB];
  __mmask16 masks[NB];
#pragma GCC unroll 4
  for (int j = 0; j < NB; ++j) {
    masks[j] = channelMask(p.outC - (firstBlock + j) * 16);
    biasVector[j] = p.bias != nullptr ? _mm512_maskz_loadu_ps(masks[j], p.bias + (firstBlock + j) * 16)
                                      : _mm512_setzero_ps();
  }
  const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 32
  for (int i = 0; i < P; ++i) {
#pragma GCC unroll 4
    for (int j = 0; j < NB; ++j) {
      __m512 v = _mm512_add_ps(acc[i][j], biasVector[j]);
      if (p.relu) v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ), v);
      float* out = output + (i / RW) * outputRowStride + (i % RW) * outputPixelStride;
      _mm512_mask_storeu_ps(out + (firstBlock + j) * 16, masks[j], v);
    }
  }
}

using CorrelateFn = void (*)(const DirectCorrelation&, const float*, int64_t, const float*, int64_t, const int64_t*,
                             int64_t, int64_t, float*, int64_t, int64_t, int64_t, int64_t);

// Widest tiles per NB: accumulators + NB weight vectors + one broadcast fit
// in the 32 zmm registers.
constexpr int kMaxTileWidth[5] = {0, 28, 14, 8, 6};

template <int NB, int PS, int... W>
const CorrelateFn* correlateTable(std::integer_sequence<int, W...>) {
  static const CorrelateFn table[] = {&correlateTile<NB, W + 1, 1, PS>...};
  return table;
}

// Two-row tiles: NB 1 or 2, up to half the one-row width.
template <int NB, int... W>
const CorrelateFn* correlatePairTable(std::integer_sequence<int, W...>) {
  static const CorrelateFn table[] = {&correlateTile<NB, W + 1, 2>...};
  return table;
}

CorrelateFn correlatePairKernel(int nb, int width) {
  return nb == 1 ? correlatePairTable<1>(std::make_integer_sequence<int, kMaxTileWidth[1] / 2>())[width - 1]
                 : correlatePairTable<2>(std::make_integer_sequence<int, kMaxTileWidth[2] / 2>())[width - 1];
}

template <int PS>
CorrelateFn correlateKernelWithStride(int nb, int width) {
  switch (nb) {
    case 1: return correlateTable<1, PS>(std::make_integer_sequence<int, kMaxTileWidth[1]>())[width - 1];
    case 2: return correlateTable<2, PS>(std::make_integer_sequence<int, kMaxTileWidth[2]>())[width - 1];
    case 3: return correlateTable<3, PS>(std::make_integer_sequence<int, kMaxTileWidth[3]>())[width - 1];
    default: return correlateTable<4, PS>(std::make_integer_sequence<int, kMaxTileWidth[4]>())[width - 1];
  }
}

// Compile-time pixel strides for the channel counts of resnet20 (16, 32, 64
// channels at stride 1, and 16, 32 at stride 2).
CorrelateFn correlateKernel(int nb, int width, int64_t sourcePixelStride) {
  switch (sourcePixelStride) {
    case 16: return correlateKernelWithStride<16>(nb, width);
    case 32: return correlateKernelWithStride<32>(nb, width);
    case 64: return correlateKernelWithStride<64>(nb, width);
    default: return correlateKernelWithStride<0>(nb, width);
  }
}

template <int NB, int R>
void filterGradientTile(const DirectFilterGradient& p, int64_t sourceOffset, float* gradFilter,
                        int64_t firstBlock) {
  __m512 acc[R][NB];
  __mmask16 masks[NB];
#pragma GCC unroll 4
  for (int j = 0; j < NB; ++j) masks[j] = channelMask(p.outC - (firstBlock + j) * 16);
#pragma GCC unroll 32
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int j = 0; j < NB; ++j) {
      acc[r][j] = p.accumulate ? _mm512_maskz_loadu_ps(masks[j], gradFilter + r * p.outC + (firstBlock + j) * 16)
                               : _mm512_setzero_ps();
    }
  }
  const int64_t C = p.sourceC;
  for (int64_t img = 0; img < p.images; ++img) {
    for (int64_t oh = 0; oh < p.outH; ++oh) {
      const float* sourceRow = p.source + ((img * p.sourceH + oh * p.strideH) * p.sourceW) * C + sourceOffset;
      const float* dy = p.gradOutput + ((img * p.outH + oh) * p.outW) * p.outC + firstBlock * 16;
      for (int64_t ow = 0; ow < p.outW; ++ow) {
        const float* s = sourceRow + ow * p.strideW * C;
        __m512 g[NB];
#pragma GCC unroll 4
        for (int j = 0; j < NB; ++j) g[j] = _mm512_maskz_loadu_ps(masks[j], dy + ow * p.outC + j * 16);
#pragma GCC unroll 32
        for (int r = 0; r < R; ++r) {
          const __m512 x = _mm512_set1_ps(s[r]);
#pragma GCC unroll 4
          for (int j = 0; j < NB; ++j) acc[r][j] = _mm512_fmadd_ps(x, g[j], acc[r][j]);
        }
      }
    }
  }
#pragma GCC unroll 32
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int j = 0; j < NB; ++j) _mm512_mask_storeu_ps(gradFilter + r * p.outC + (firstBlock + j) * 16, masks[j], acc[r][j]);
  }
}

using FilterGradientFn = void (*)(const DirectFilterGradient&, int64_t, float*, int64_t);
constexpr int kMaxTileRows[5] = {0, 24, 12, 8, 6};

template <int NB, int... R>
const FilterGradientFn* filterGradientTable(std::integer_sequence<int, R...>) {
  static const FilterGradientFn table[] = {&filterGradientTile<NB, R + 1>...};
  return table;
}

FilterGradientFn filterGradientKernel(int nb, int rows) {
  switch (nb) {
    case 1: return filterGradientTable<1>(std::make_integer_sequence<int, kMaxTileRows[1]>())[rows - 1];
    case 2: return filterGradientTable<2>(std::make_integer_sequence<int, kMaxTileRows[2]>())[rows - 1];
    case 3: return filterGradientTable<3>(std::make_integer_sequence<int, kMaxTileRows[3]>())[rows - 1];
    default: return filterGradientTable<4>(std::make_integer_sequence<int, kMaxTileRows[4]>())[rows - 1];
  }
}

// m is 1 for dense sources (every tap reads data): skip the division.
bool readsData(int64_t a, int64_t m) { return m == 1 || ((a % m) + m) % m == 0; }

}  // namespace

void conv2dDirectCorrelateAvx512(const DirectCorrelation& p, int64_t firstTask, int64_t endTask) {
  const int64_t blocks = (p.outC + 15) / 16;
  const int64_t C = p.sourceC;
  const int64_t blockStride = p.kernelH * p.kernelW * C * 16;
  const int64_t sourcePixelStride = p.phaseW * p.strideW * C;
  const int64_t pixelStride = p.outputPixelStride != 0 ? p.outputPixelStride : p.outC;
  const int64_t rowStride = p.outputRowStride != 0 ? p.outputRowStride : p.outW * p.outC;
  const int64_t imageStride = p.outputImageStride != 0 ? p.outputImageStride : p.outH * p.outW * p.outC;
  const int64_t outputPixelStride = p.phaseW * pixelStride;
  int64_t taps[2 * kMaxDirectTaps];
  const int64_t tileRows = p.tileRows > 1 ? p.tileRows : 1;
  const int64_t rowTiles = (p.outH + tileRows - 1) / tileRows;
  for (int64_t task = firstTask; task < endTask; ++task) {
    const int64_t row = task / p.groups;
    const int64_t group = task % p.groups;
    const int64_t img = row / rowTiles, oh = row % rowTiles * tileRows;
    const int64_t rows = p.outH - oh < tileRows ? p.outH - oh : tileRows;
    const int64_t firstBlock = group * p.blocksPerGroup;
    const int nb = static_cast<int>(blocks - firstBlock < p.blocksPerGroup ? blocks - firstBlock : p.blocksPerGroup);
    const float* weights = p.packedWeights + firstBlock * blockStride;
    const float* sourceRow = p.source + (img * p.sourceH + oh * p.strideH) * p.sourceW * C;
    float* outputRow = p.output + img * imageStride + oh * rowStride;
    const int64_t sourceRowStride = p.strideH * p.sourceW * C;
    for (int64_t phase = 0; phase < p.phaseW && phase < p.outW; ++phase) {
      // Taps whose source row / column hold data for this output row and
      // column phase (in a stride-spread source the others read only zeros;
      // multi-row tiles only come with dense sources).
      int64_t tapCount = 0;
      // Dense columns: the kW taps of a kernel row are one run of kW * C floats.
      const bool wholeRows = p.phaseW == 1 && p.dilationW == 1;
      const int64_t runLength = wholeRows ? p.kernelW * C : C;
      for (int64_t kh = 0; kh < p.kernelH; ++kh) {
        if (!readsData(oh * p.strideH + kh * p.dilationH - p.offsetH, p.phaseH)) continue;
        if (wholeRows) {
          taps[2 * tapCount] = kh * p.dilationH * p.sourceW * C;
          taps[2 * tapCount + 1] = kh * p.kernelW * C * 16;
          ++tapCount;
          continue;
        }
        for (int64_t kw = 0; kw < p.kernelW; ++kw) {
          if (!readsData(phase * p.strideW + kw * p.dilationW - p.offsetW, p.phaseW)) continue;
          taps[2 * tapCount] = (kh * p.dilationH * p.sourceW + phase * p.strideW + kw * p.dilationW) * C;
          taps[2 * tapCount + 1] = (kh * p.kernelW + kw) * C * 16;
          ++tapCount;
        }
      }
      const int64_t pixels = (p.outW - phase + p.phaseW - 1) / p.phaseW;
      for (int64_t first = 0; first < pixels; first += p.tileWidth) {
        const int64_t width = pixels - first < p.tileWidth ? pixels - first : p.tileWidth;
        const CorrelateFn kernel = rows == 2 ? correlatePairKernel(nb, static_cast<int>(width))
                                             : correlateKernel(nb, static_cast<int>(width), sourcePixelStride);
        kernel(p, sourceRow + first * sourcePixelStride, sourcePixelStride, weights, blockStride, taps, tapCount,
               runLength, outputRow + phase * pixelStride + first * outputPixelStride, outputPixelStride, firstBlock,
               sourceRowStride, rowStride);
      }
    }
  }
}

void conv2dDirectFilterGradientAvx512(const DirectFilterGradient& p, int64_t firstTask, int64_t endTask) {
  const int64_t blocks = (p.outC + 15) / 16;
  for (int64_t task = firstTask; task < endTask; ++task) {
    const int64_t group = task % p.groups;
    int64_t rest = task / p.groups;
    const int64_t tile = rest % p.tilesPerSegment;
    rest /= p.tilesPerSegment;
    const int64_t segment = rest % p.segments;
    const int64_t kh = rest / p.segments;
    const int64_t first = tile * p.tileRows;
    const int64_t rows = p.segmentLength - first < p.tileRows ? p.segmentLength - first : p.tileRows;
    const int64_t firstBlock = group * p.blocksPerGroup;
    const int nb = static_cast<int>(blocks - firstBlock < p.blocksPerGroup ? blocks - firstBlock : p.blocksPerGroup);
    const int64_t sourceOffset = kh * p.dilationH * p.sourceW * p.sourceC + segment * p.dilationW * p.sourceC + first;
    float* gradFilter = p.gradFilter + (kh * p.kernelW * p.sourceC + segment * p.segmentLength + first) * p.outC;
    filterGradientKernel(nb, static_cast<int>(rows))(p, sourceOffset, gradFilter, firstBlock);
  }
}

}  // namespace kiln

#endif  // defined(__x86_64__)
