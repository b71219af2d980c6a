// Channel-planar direct convolution microkernels, AVX2 + FMA, for layers with
// fewer output channels than a vector has lanes (see conv2d_direct.h for the
// work descriptions; conv2d_planar_avx512.cpp is the AVX-512 twin). The
// driver's geometry is the same for both ISAs: source rows padded to 16
// columns, tasks over 16-column vectors. Here each 16-column vector is two
// 8-column halves, one ymm register each.
//
// Budget: 16 ymm registers. An accumulator tile of `a` vectors x OC channels
// multiplies each of the a vectors by each of OC broadcast values, so one of
// the two operand sets must stay in registers while the other streams
// through one temporary. The kernels keep whichever set is smaller, which
// costs a * OC + min(a, OC) + 1 registers: holding the source vectors always
// (as the AVX-512 file can afford to) would leave 1- and 3-channel layers
// (lenet5 conv1 and the RGB stems' backward data) with 4-6 accumulators,
// too few to cover the FMA latency. The driver (kPlanarKernelsAvx2 and
// planarFits in conv2d_direct.cpp) repeats this rule to size its tiles.
//
// Correlation: a register tile is RH output rows x A halves x OC channels.
// With 7 or 8 channels not even one 16-column vector fits, so such tasks
// run as one half at a time. The OC accumulators of a half hold 8 pixels
// each; groups of four channels are transposed in registers to one 4-float
// quad per pixel, stored in pixel order with 16-byte stores that may spill
// into the next pixel (the next store overwrites that). The tile's last
// pixel gets an exact-size store: the pixels after it may belong to another
// thread's task.
// Filter gradient: a register tile is T (kh, kw, c) taps x OC channels of
// 8-lane partial sums over output columns, summed across lanes at the end;
// per half, T source vectors and OC gradient vectors meet in T * OC FMAs.
//
// Nothing here is shared with the AVX-512 file, on purpose: templates and
// inline functions instantiated by two ISA translation units could be merged
// by the linker, and the AVX-512 copy could then run on a CPU without it.
#if defined(__x86_64__)

#include <immintrin.h>

#include <utility>

#include "conv2d_direct.h"
#include "lanes_avx2.h"
#include "transpose_avx2.h"

namespace kiln {
namespace {

constexpr int kLanes = 8;
constexpr int kRegisters = 16;
constexpr int kMaxRows = 6;
constexpr int kMaxHalves = 4;  // the driver's two 16-column vectors
// Each tap's source offset takes a general register in the loop: with more
// than 10 (1-channel tiles) they spilled.
constexpr int kMaxTaps = 10;

constexpr int smaller(int a, int b) { return a < b ? a : b; }
constexpr bool fits(int vectors, int channels) {
  return vectors * channels + smaller(vectors, channels) + 1 <= kRegisters;
}

int maxRows(int64_t channels, int halves) {
  int rows = kMaxRows;
  while (rows > 0 && !fits(rows * halves, static_cast<int>(channels))) --rows;
  return rows;
}

int maxTaps(int64_t channels) {
  int taps = kMaxTaps;
  while (taps > 1 && !fits(taps, static_cast<int>(channels))) --taps;
  return taps;
}

// Writes n (1..8) pixels of OC channels to NHWC: y[o] lane p is pixel p's
// channel o, and pixel p starts at dst + p * OC.
template <int OC>
[[gnu::always_inline]] inline void storePixels(float* dst, const __m256 (&y)[OC], int64_t n) {
  if constexpr (OC == 1) {
    storeFirst(dst, y[0], n);
  } else {
    constexpr int G = (OC + 3) / 4;
    const __m256 zero = _mm256_setzero_ps();
    __m256 quads[G][4];  // pixel p's quad: lower half of quads[g][p % 4] for p < 4, upper half otherwise
#pragma GCC unroll 2
    for (int g = 0; g < G; ++g) {
      const __m256 a = y[4 * g];
      const __m256 b = 4 * g + 1 < OC ? y[smaller(4 * g + 1, OC - 1)] : zero;
      const __m256 c = 4 * g + 2 < OC ? y[smaller(4 * g + 2, OC - 1)] : zero;
      const __m256 d = 4 * g + 3 < OC ? y[smaller(4 * g + 3, OC - 1)] : zero;
      const __m256 ab0 = _mm256_unpacklo_ps(a, b), ab1 = _mm256_unpackhi_ps(a, b);
      const __m256 cd0 = _mm256_unpacklo_ps(c, d), cd1 = _mm256_unpackhi_ps(c, d);
      quads[g][0] = _mm256_shuffle_ps(ab0, cd0, _MM_SHUFFLE(1, 0, 1, 0));
      quads[g][1] = _mm256_shuffle_ps(ab0, cd0, _MM_SHUFFLE(3, 2, 3, 2));
      quads[g][2] = _mm256_shuffle_ps(ab1, cd1, _MM_SHUFFLE(1, 0, 1, 0));
      quads[g][3] = _mm256_shuffle_ps(ab1, cd1, _MM_SHUFFLE(3, 2, 3, 2));
    }
#pragma GCC unroll 8
    for (int p = 0; p < kLanes; ++p) {
      if (p >= n) break;
#pragma GCC unroll 2
      for (int g = 0; g < G; ++g) {
        const __m128 q = p < 4 ? _mm256_castps256_ps128(quads[g][p % 4]) : _mm256_extractf128_ps(quads[g][p % 4], 1);
        float* at = dst + p * OC + 4 * g;
        if (4 * g + 4 > OC && p == n - 1) storeFirst(at, q, OC - 4 * g);
        else _mm_storeu_ps(at, q);
      }
    }
  }
}

template <int OC, int A, int RH>
void planarCorrelateTile(const PlanarCorrelation& p, int64_t img, int64_t oh0, int64_t x0) {
  constexpr int N = A * RH;
  __m256 acc[N][OC];
#pragma GCC unroll 16
  for (int i = 0; i < N; ++i) {
#pragma GCC unroll 8
    for (int o = 0; o < OC; ++o) acc[i][o] = _mm256_setzero_ps();
  }
  // Strides in locals: with 1-channel sources (lenet5 conv1) the channel
  // loop runs once per tap, and recomputing the addresses from `p` (which
  // the compiler reloads) per tap cost more than its 12 FMAs.
  const int64_t C = p.sourceC, W = p.sourceW, kernelH = p.kernelH, kernelW = p.kernelW;
  const int64_t rowStride = p.strideH * C * W, tapRowStride = p.dilationH * C * W, tapStride = p.dilationW;
  const float* base = p.source + (img * p.sourceH + oh0 * p.strideH) * C * W + x0;
  // Filter rows that read only zero source rows for all RH output rows are
  // skipped: lenet5 conv2's backward data reads a 10-row gradient padded
  // by 4 zero rows on each side, and 2 in 7 of its row taps are all zeros.
  int64_t khBegin = 0, khEnd = kernelH;
  if (p.liveRowEnd > 0) {
    const int64_t lastRow = (oh0 + RH - 1) * p.strideH;
    while (khBegin < khEnd && lastRow + khBegin * p.dilationH < p.liveRowBegin) ++khBegin;
    while (khEnd > khBegin && oh0 * p.strideH + (khEnd - 1) * p.dilationH >= p.liveRowEnd) --khEnd;
  }
  const float* w = p.weights + khBegin * kernelW * C * OC;
  for (int64_t kh = khBegin; kh < khEnd; ++kh) {
    for (int64_t kw = 0; kw < kernelW; ++kw) {
      // One pointer per row, the halves displacements from it: indexed by
      // (row, half) the compiler kept a general register per vector and
      // spilled with 6 rows.
      const float* rows[RH];
#pragma GCC unroll 8
      for (int r = 0; r < RH; ++r) rows[r] = base + kh * tapRowStride + kw * tapStride + r * rowStride;
      for (int64_t c = 0; c < C; ++c, w += OC) {
        if constexpr (N <= OC) {
          __m256 x[N];
#pragma GCC unroll 16
          for (int i = 0; i < N; ++i) x[i] = _mm256_loadu_ps(rows[i / A] + (i % A) * kLanes);
#pragma GCC unroll 8
          for (int o = 0; o < OC; ++o) {
            const __m256 wv = _mm256_broadcast_ss(w + o);
#pragma GCC unroll 16
            for (int i = 0; i < N; ++i) acc[i][o] = _mm256_fmadd_ps(x[i], wv, acc[i][o]);
          }
        } else {
          __m256 wv[OC];
#pragma GCC unroll 8
          for (int o = 0; o < OC; ++o) wv[o] = _mm256_broadcast_ss(w + o);
#pragma GCC unroll 16
          for (int i = 0; i < N; ++i) {
            const __m256 x = _mm256_loadu_ps(rows[i / A] + (i % A) * kLanes);
#pragma GCC unroll 8
            for (int o = 0; o < OC; ++o) acc[i][o] = _mm256_fmadd_ps(x, wv[o], acc[i][o]);
          }
        }
#pragma GCC unroll 8
        for (int r = 0; r < RH; ++r) rows[r] += W;
      }
    }
  }
  __m256 biasVector[OC];
#pragma GCC unroll 8
  for (int o = 0; o < OC; ++o) biasVector[o] = p.bias != nullptr ? _mm256_set1_ps(p.bias[o]) : _mm256_setzero_ps();
  const __m256 zero = _mm256_setzero_ps();
#pragma GCC unroll 8
  for (int r = 0; r < RH; ++r) {
    float* outRow = p.output + ((img * p.outH + oh0 + r) * p.outW) * OC;
#pragma GCC unroll 4
    for (int h = 0; h < A; ++h) {
      const int64_t col0 = x0 + h * kLanes;
      if (col0 >= p.outW) break;
      const int64_t n = p.outW - col0 < kLanes ? p.outW - col0 : kLanes;
      __m256 y[OC];
#pragma GCC unroll 8
      for (int o = 0; o < OC; ++o) {
        y[o] = _mm256_add_ps(acc[r * A + h][o], biasVector[o]);
        if (p.relu) y[o] = _mm256_max_ps(y[o], zero);
      }
      storePixels<OC>(outRow + col0 * OC, y, n);
    }
  }
}

using PlanarCorrelateFn = void (*)(const PlanarCorrelation&, int64_t, int64_t, int64_t);

// Only the tiles that fit in the registers are instantiated.
template <int OC, int A, int RH>
constexpr PlanarCorrelateFn correlateEntry() {
  if constexpr (fits(A * RH, OC)) return &planarCorrelateTile<OC, A, RH>;
  else return nullptr;
}

template <int OC, int A, int... R>
const PlanarCorrelateFn* rowVariants(std::integer_sequence<int, R...>) {
  static const PlanarCorrelateFn table[] = {correlateEntry<OC, A, R + 1>()...};
  return table;
}

template <int OC>
PlanarCorrelateFn planarCorrelateKernelFor(int halves, int rows) {
  const auto sequence = std::make_integer_sequence<int, kMaxRows>();
  switch (halves) {
    case 1: return rowVariants<OC, 1>(sequence)[rows - 1];
    case 2: return rowVariants<OC, 2>(sequence)[rows - 1];
    case 3: return rowVariants<OC, 3>(sequence)[rows - 1];
    default: return rowVariants<OC, 4>(sequence)[rows - 1];
  }
}

PlanarCorrelateFn planarCorrelateKernel(int64_t channels, int halves, int rows) {
  switch (channels) {
    case 1: return planarCorrelateKernelFor<1>(halves, rows);
    case 2: return planarCorrelateKernelFor<2>(halves, rows);
    case 3: return planarCorrelateKernelFor<3>(halves, rows);
    case 4: return planarCorrelateKernelFor<4>(halves, rows);
    case 5: return planarCorrelateKernelFor<5>(halves, rows);
    case 6: return planarCorrelateKernelFor<6>(halves, rows);
    case 7: return planarCorrelateKernelFor<7>(halves, rows);
    default: return planarCorrelateKernelFor<8>(halves, rows);
  }
}

template <int OC, int T>
void planarFilterGradientTile(const PlanarFilterGradient& p, int64_t firstTap) {
  const int64_t C = p.sourceC, W = p.sourceW;
  int64_t offsets[T];
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t) {
    const int64_t tap = firstTap + t;
    const int64_t c = tap % C, kw = (tap / C) % p.kernelW, kh = tap / C / p.kernelW;
    offsets[t] = (kh * p.dilationH * C + c) * W + kw * p.dilationW;
  }
  __m256 acc[T][OC];
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t) {
#pragma GCC unroll 8
    for (int o = 0; o < OC; ++o) acc[t][o] = _mm256_setzero_ps();
  }
  // Rows are only a few halves wide (G is a multiple of 16): the loop steps
  // two halves at a time, with strides in locals (see planarCorrelateTile).
  const int64_t G = p.gradOutputW, halves = G / kLanes, outH = p.outH;
  const int64_t sourceRowStride = p.strideH * C * W;
  const int64_t sourceImageStride = p.sourceH * C * W;
  const float* g = p.gradOutput;
  for (int64_t img = 0; img < p.images; ++img) {
    const float* sourceImage = p.source + img * sourceImageStride;
    for (int64_t oh = 0; oh < outH; ++oh, g += (OC - 1) * G) {
      const float* s = sourceImage + oh * sourceRowStride;
#pragma GCC unroll 2
      for (int64_t h = 0; h < halves; ++h, s += kLanes, g += kLanes) {
        if constexpr (T <= OC) {
          __m256 x[T];
#pragma GCC unroll 16
          for (int t = 0; t < T; ++t) x[t] = _mm256_loadu_ps(s + offsets[t]);
#pragma GCC unroll 8
          for (int o = 0; o < OC; ++o) {
            const __m256 gv = _mm256_loadu_ps(g + o * G);
#pragma GCC unroll 16
            for (int t = 0; t < T; ++t) acc[t][o] = _mm256_fmadd_ps(x[t], gv, acc[t][o]);
          }
        } else {
          __m256 gv[OC];
#pragma GCC unroll 8
          for (int o = 0; o < OC; ++o) gv[o] = _mm256_loadu_ps(g + o * G);
#pragma GCC unroll 16
          for (int t = 0; t < T; ++t) {
            const __m256 x = _mm256_loadu_ps(s + offsets[t]);
#pragma GCC unroll 8
            for (int o = 0; o < OC; ++o) acc[t][o] = _mm256_fmadd_ps(x, gv[o], acc[t][o]);
          }
        }
      }
    }
  }
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t) {
    float* dst = p.gradFilter + (firstTap + t) * OC;
#pragma GCC unroll 8
    for (int o = 0; o < OC; ++o) {
      __m128 q = _mm_add_ps(_mm256_castps256_ps128(acc[t][o]), _mm256_extractf128_ps(acc[t][o], 1));
      q = _mm_add_ps(q, _mm_movehl_ps(q, q));
      q = _mm_add_ss(q, _mm_shuffle_ps(q, q, _MM_SHUFFLE(1, 1, 1, 1)));
      const float sum = _mm_cvtss_f32(q);
      dst[o] = p.accumulate ? dst[o] + sum : sum;
    }
  }
}

using PlanarFilterGradientFn = void (*)(const PlanarFilterGradient&, int64_t);

template <int OC, int T>
constexpr PlanarFilterGradientFn filterGradientEntry() {
  if constexpr (fits(T, OC)) return &planarFilterGradientTile<OC, T>;
  else return nullptr;
}

template <int OC, int... T>
const PlanarFilterGradientFn* tapVariants(std::integer_sequence<int, T...>) {
  static const PlanarFilterGradientFn table[] = {filterGradientEntry<OC, T + 1>()...};
  return table;
}

PlanarFilterGradientFn planarFilterGradientKernel(int64_t channels, int taps) {
  const auto sequence = std::make_integer_sequence<int, kMaxTaps>();
  switch (channels) {
    case 1: return tapVariants<1>(sequence)[taps - 1];
    case 2: return tapVariants<2>(sequence)[taps - 1];
    case 3: return tapVariants<3>(sequence)[taps - 1];
    case 4: return tapVariants<4>(sequence)[taps - 1];
    case 5: return tapVariants<5>(sequence)[taps - 1];
    case 6: return tapVariants<6>(sequence)[taps - 1];
    case 7: return tapVariants<7>(sequence)[taps - 1];
    default: return tapVariants<8>(sequence)[taps - 1];
  }
}

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

void conv2dPlanarCorrelateAvx2(const PlanarCorrelation& p, int64_t firstTask, int64_t endTask) {
  const int64_t vectors = (p.outW + 15) / 16;
  // The driver sizes its tiles to fit; where even one 16-column vector does
  // not (7 or 8 channels), a task runs as several smaller register tiles:
  // step[h] halves by rowStep[h] rows for a task h halves wide.
  int step[kMaxHalves + 1] = {};
  int64_t rowStep[kMaxHalves + 1] = {};
  for (int halves = 1; halves <= kMaxHalves; ++halves) {
    int s = halves;
    while (s > 1 && maxRows(p.outC, s) == 0) s = s > 2 ? 2 : 1;
    step[halves] = s;
    rowStep[halves] = maxRows(p.outC, s);
  }
  // Task indices stepped, not divided: a lenet5 conv1 task is only ~300 FMAs.
  int64_t group = firstTask % p.columnGroups, tile = firstTask / p.columnGroups % p.rowTiles;
  int64_t img = firstTask / p.columnGroups / p.rowTiles;
  for (int64_t task = firstTask; task < endTask; ++task) {
    const int64_t oh0 = tile * p.rowsPerTile;
    const int64_t rows = p.outH - oh0 < p.rowsPerTile ? p.outH - oh0 : p.rowsPerTile;
    const int64_t firstVector = group * p.vectorsPerTile;
    const int64_t count = vectors - firstVector < p.vectorsPerTile ? vectors - firstVector : p.vectorsPerTile;
    const int64_t x0 = firstVector * 16;
    // Halves wholly past outW (a vector's zero padding) are not computed.
    const int64_t live = (p.outW - x0 + kLanes - 1) / kLanes;
    const int64_t halves = live < 2 * count ? live : 2 * count;
    const int key = static_cast<int>(halves < kMaxHalves ? halves : kMaxHalves);
    for (int64_t r0 = 0; r0 < rows; r0 += rowStep[key]) {
      const int tileRows = static_cast<int>(rows - r0 < rowStep[key] ? rows - r0 : rowStep[key]);
      for (int64_t h0 = 0; h0 < halves; h0 += step[key]) {
        const int width = static_cast<int>(halves - h0 < step[key] ? halves - h0 : step[key]);
        planarCorrelateKernel(p.outC, width, tileRows)(p, img, oh0 + r0, x0 + h0 * kLanes);
      }
    }
    if (++group == p.columnGroups) {
      group = 0;
      if (++tile == p.rowTiles) {
        tile = 0;
        ++img;
      }
    }
  }
}

void conv2dPlanarFilterGradientAvx2(const PlanarFilterGradient& p, int64_t firstTask, int64_t endTask) {
  const int64_t totalTaps = p.kernelH * p.kernelW * p.sourceC;
  const int64_t most = maxTaps(p.outC);
  for (int64_t tile = firstTask; tile < endTask; ++tile) {
    const int64_t first = tile * p.tapsPerTile;
    const int64_t taps = totalTaps - first < p.tapsPerTile ? totalTaps - first : p.tapsPerTile;
    // More taps than fit (not what the driver asks for) run as several tiles.
    for (int64_t t0 = 0; t0 < taps; t0 += most) {
      const int64_t count = taps - t0 < most ? taps - t0 : most;
      planarFilterGradientKernel(p.outC, static_cast<int>(count))(p, first + t0);
    }
  }
}

}  // namespace kiln

#endif  // defined(__x86_64__)
