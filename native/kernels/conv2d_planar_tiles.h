// The channel-planar convolution tiles and their task loops (layers with
// fewer output channels than a vector has lanes; see conv2d_direct.h for the
// work descriptions), written once over a vector type and compiled by each
// ISA's translation unit (conv2d_planar_avx512.cpp, conv2d_planar_avx2.cpp).
// The driver's geometry is the same for both ISAs: source rows padded to 16
// columns, tasks over 16-column vectors; a tile works in units of V::kLanes
// columns (two per 16-column vector with AVX2, one with AVX-512).
//
// Budget: V::kRegisters vector registers. An accumulator tile of `a` units
// x OC channels multiplies each of the a source vectors by each of OC
// broadcast values, so one of the two operand sets must stay in registers
// while the other streams through one temporary. The kernels keep whichever
// set is smaller, which costs a * OC + min(a, OC) + 1 registers: holding the
// source vectors always would leave AVX2's 1- and 3-channel layers (lenet5
// conv1 and the RGB stems' backward data) with 4-6 accumulators, too few to
// cover the FMA latency. The driver (PlanarKernelSet and planarFits in
// conv2d_direct.cpp) repeats this rule to size its tiles.
//
// Correlation: a register tile is RH output rows x A units x OC channels.
// Where not even one 16-column vector fits (AVX2 with 7 or 8 channels), such
// tasks run a unit at a time. The OC accumulators of a unit hold kLanes
// pixels each and go back to NHWC through V::storePixels.
// Filter gradient: a register tile is T (kh, kw, c) taps x OC channels of
// kLanes-lane partial sums over output columns, summed across lanes at the
// end; per unit, T source vectors and OC gradient vectors meet in T * OC FMAs.
//
// The streamed operand is loaded once into a register (V::inRegister) and
// then used by all its FMAs: left to itself, GCC folds the load into each
// FMA as a memory operand, and with AVX-512 every such 64-byte source load
// splits across two cache lines, so the tile ran at the loads' pace (resnet20
// stem backward data: 24 split loads per 24 FMAs instead of 8).
//
// V supplies, besides what conv2d_direct_tiles.h lists: kMaxUnits (units in
// the driver's two 16-column vectors), set1(x), sum(v) (of the lanes),
// inRegister(v) (v must be in a register here, not a memory operand) and
// storePixels<OC>(dst, y, n) (n pixels of OC channels, one vector per
// channel, to NHWC).
//
// Internal linkage on purpose, as in conv2d_direct_tiles.h.
#pragma once

#include <cstdint>
#include <utility>

#include "conv2d_direct.h"

namespace kiln {
namespace {

constexpr int kPlanarMaxRows = 6;
// Each tap's source offset takes a general register in the loop: with more
// than 10 (1-channel tiles) they spilled.
constexpr int kPlanarMaxTaps = 10;

constexpr int smallerOf(int a, int b) { return a < b ? a : b; }
// Whether `vectors` x `channels` accumulators, the smaller operand set and
// one streamed operand fit in V's registers.
template <typename V>
constexpr bool planarFits(int vectors, int channels) {
  return vectors * channels + smallerOf(vectors, channels) + 1 <= V::kRegisters;
}

template <typename V>
int planarMaxRows(int64_t channels, int units) {
  int rows = kPlanarMaxRows;
  while (rows > 0 && !planarFits<V>(rows * units, static_cast<int>(channels))) --rows;
  return rows;
}

template <typename V>
int planarMaxTaps(int64_t channels) {
  int taps = kPlanarMaxTaps;
  while (taps > 1 && !planarFits<V>(taps, static_cast<int>(channels))) --taps;
  return taps;
}

template <typename V, int OC, int A, int RH>
void planarCorrelateTile(const PlanarCorrelation& p, int64_t img, int64_t oh0, int64_t x0) {
  using Vec = typename V::Vec;
  constexpr int N = A * RH;
  Vec acc[N][OC];
#pragma GCC unroll 32
  for (int i = 0; i < N; ++i) {
#pragma GCC unroll 8
    for (int o = 0; o < OC; ++o) acc[i][o] = V::zero();
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
          Vec x[N];
#pragma GCC unroll 32
          for (int i = 0; i < N; ++i) x[i] = V::loadu(rows[i / A] + (i % A) * V::kLanes);
#pragma GCC unroll 8
          for (int o = 0; o < OC; ++o) {
            Vec wv = V::broadcast(w + o);
            V::inRegister(wv);
#pragma GCC unroll 32
            for (int i = 0; i < N; ++i) acc[i][o] = V::fmadd(x[i], wv, acc[i][o]);
          }
        } else {
          Vec wv[OC];
#pragma GCC unroll 8
          for (int o = 0; o < OC; ++o) wv[o] = V::broadcast(w + o);
#pragma GCC unroll 32
          for (int i = 0; i < N; ++i) {
            Vec x = V::loadu(rows[i / A] + (i % A) * V::kLanes);
            V::inRegister(x);
#pragma GCC unroll 8
            for (int o = 0; o < OC; ++o) acc[i][o] = V::fmadd(x, wv[o], acc[i][o]);
          }
        }
#pragma GCC unroll 8
        for (int r = 0; r < RH; ++r) rows[r] += W;
      }
    }
  }
  Vec biasVector[OC];
#pragma GCC unroll 8
  for (int o = 0; o < OC; ++o) biasVector[o] = p.bias != nullptr ? V::set1(p.bias[o]) : V::zero();
  const Vec zero = V::zero();
#pragma GCC unroll 8
  for (int r = 0; r < RH; ++r) {
    float* outRow = p.output + ((img * p.outH + oh0 + r) * p.outW) * OC;
#pragma GCC unroll 4
    for (int h = 0; h < A; ++h) {
      const int64_t col0 = x0 + h * V::kLanes;
      if (col0 >= p.outW) break;
      const int64_t n = p.outW - col0 < V::kLanes ? p.outW - col0 : V::kLanes;
      Vec y[OC];
#pragma GCC unroll 8
      for (int o = 0; o < OC; ++o) {
        y[o] = V::add(acc[r * A + h][o], biasVector[o]);
        if (p.relu) y[o] = V::max(y[o], zero);
      }
      V::template storePixels<OC>(outRow + col0 * OC, y, n);
    }
  }
}

using PlanarCorrelateFn = void (*)(const PlanarCorrelation&, int64_t, int64_t, int64_t);

// One output channel (lenet5 conv1's backward data), row stride and
// dilation 1, KH filter rows: the tile above loads a source vector for
// every FMA (one broadcast weight meets each vector once), and with AVX-512
// most of those loads straddle two lines (the kw shifts), so it ran at the
// loads' pace. Here each source row of the tile's RH + KH - 1 is loaded
// once per (kw, c) and meets the KH weights of that column: up to KH FMAs
// per load. Source rows outside [liveRowBegin, liveRowEnd) (zero padding)
// are skipped.
template <typename V, int KH, int A, int RH>
void planarCorrelateSharedRowsTile(const PlanarCorrelation& p, int64_t img, int64_t oh0, int64_t x0) {
  using Vec = typename V::Vec;
  constexpr int SR = RH + KH - 1;  // source rows
  Vec acc[RH][A];
#pragma GCC unroll 8
  for (int r = 0; r < RH; ++r) {
#pragma GCC unroll 4
    for (int a = 0; a < A; ++a) acc[r][a] = V::zero();
  }
  const int64_t C = p.sourceC, W = p.sourceW, kernelW = p.kernelW, tapStride = p.dilationW;
  const float* base = p.source + (img * p.sourceH + oh0) * C * W + x0;
  bool live[SR];
#pragma GCC unroll 16
  for (int q = 0; q < SR; ++q) {
    const int64_t row = oh0 + q;
    live[q] = p.liveRowEnd <= 0 || (row >= p.liveRowBegin && row < p.liveRowEnd);
  }
  for (int64_t kw = 0; kw < kernelW; ++kw) {
    for (int64_t c = 0; c < C; ++c) {
      Vec w[KH];
#pragma GCC unroll 8
      for (int kh = 0; kh < KH; ++kh) {
        w[kh] = V::broadcast(p.weights + (kh * kernelW + kw) * C + c);
        V::inRegister(w[kh]);
      }
      const float* column = base + c * W + kw * tapStride;
#pragma GCC unroll 16
      for (int q = 0; q < SR; ++q) {
        if (!live[q]) continue;
#pragma GCC unroll 4
        for (int a = 0; a < A; ++a) {
          Vec x = V::loadu(column + q * C * W + a * V::kLanes);
          V::inRegister(x);
          // Output row r reads source row q with filter row q - r.
#pragma GCC unroll 8
          for (int r = 0; r < RH; ++r) {
            if (q - r >= 0 && q - r < KH) acc[r][a] = V::fmadd(x, w[q - r], acc[r][a]);
          }
        }
      }
    }
  }
  const Vec biasVector = p.bias != nullptr ? V::set1(p.bias[0]) : V::zero();
  const Vec zero = V::zero();
#pragma GCC unroll 8
  for (int r = 0; r < RH; ++r) {
    float* outRow = p.output + ((img * p.outH + oh0 + r) * p.outW);
#pragma GCC unroll 4
    for (int a = 0; a < A; ++a) {
      const int64_t col0 = x0 + a * V::kLanes;
      if (col0 >= p.outW) break;
      const int64_t n = p.outW - col0 < V::kLanes ? p.outW - col0 : V::kLanes;
      Vec y[1] = {V::add(acc[r][a], biasVector)};
      if (p.relu) y[0] = V::max(y[0], zero);
      V::template storePixels<1>(outRow + col0, y, n);
    }
  }
}

template <typename V, int KH, int A, int... R>
const PlanarCorrelateFn* sharedRowVariants(std::integer_sequence<int, R...>) {
  static const PlanarCorrelateFn table[] = {&planarCorrelateSharedRowsTile<V, KH, A, R + 1>...};
  return table;
}

// The shared-rows tile for a task's shape, or null where it does not apply
// (AVX-512 only: with AVX2's 16 registers the tile's rows would not fit).
template <typename V>
PlanarCorrelateFn planarSharedRowsKernel(const PlanarCorrelation& p, int units, int rows) {
  if constexpr (V::kRegisters >= 32 && V::kMaxUnits == 2) {
    if (p.outC != 1 || p.strideH != 1 || p.dilationH != 1 || rows > kPlanarMaxRows) return nullptr;
    const auto sequence = std::make_integer_sequence<int, kPlanarMaxRows>();
    if (p.kernelH == 5) {
      return units == 1 ? sharedRowVariants<V, 5, 1>(sequence)[rows - 1] : sharedRowVariants<V, 5, 2>(sequence)[rows - 1];
    }
    if (p.kernelH == 3) {
      return units == 1 ? sharedRowVariants<V, 3, 1>(sequence)[rows - 1] : sharedRowVariants<V, 3, 2>(sequence)[rows - 1];
    }
  }
  (void)p, (void)units, (void)rows;
  return nullptr;
}

// Only the tiles that fit in the registers are instantiated.
template <typename V, int OC, int A, int RH>
constexpr PlanarCorrelateFn correlateEntry() {
  if constexpr (planarFits<V>(A * RH, OC)) return &planarCorrelateTile<V, OC, A, RH>;
  else return nullptr;
}

template <typename V, int OC, int A, int... R>
const PlanarCorrelateFn* rowVariants(std::integer_sequence<int, R...>) {
  static const PlanarCorrelateFn table[] = {correlateEntry<V, OC, A, R + 1>()...};
  return table;
}

// A tile `units` vectors of V::kLanes columns wide (at most V::kMaxUnits,
// the driver's two 16-column vectors) and `rows` rows high.
template <typename V, int OC>
PlanarCorrelateFn planarCorrelateKernelFor(int units, int rows) {
  const auto sequence = std::make_integer_sequence<int, kPlanarMaxRows>();
  if constexpr (V::kMaxUnits == 2) {
    return units == 1 ? rowVariants<V, OC, 1>(sequence)[rows - 1] : rowVariants<V, OC, 2>(sequence)[rows - 1];
  } else {
    static_assert(V::kMaxUnits == 4, "two 16-column vectors of 8 or 16 lanes");
    switch (units) {
      case 1: return rowVariants<V, OC, 1>(sequence)[rows - 1];
      case 2: return rowVariants<V, OC, 2>(sequence)[rows - 1];
      case 3: return rowVariants<V, OC, 3>(sequence)[rows - 1];
      default: return rowVariants<V, OC, 4>(sequence)[rows - 1];
    }
  }
}

template <typename V>
PlanarCorrelateFn planarCorrelateKernel(int64_t channels, int units, int rows) {
  switch (channels) {
    case 1: return planarCorrelateKernelFor<V, 1>(units, rows);
    case 2: return planarCorrelateKernelFor<V, 2>(units, rows);
    case 3: return planarCorrelateKernelFor<V, 3>(units, rows);
    case 4: return planarCorrelateKernelFor<V, 4>(units, rows);
    case 5: return planarCorrelateKernelFor<V, 5>(units, rows);
    case 6: return planarCorrelateKernelFor<V, 6>(units, rows);
    case 7: return planarCorrelateKernelFor<V, 7>(units, rows);
    default: return planarCorrelateKernelFor<V, 8>(units, rows);
  }
}

template <typename V, int OC, int T>
void planarFilterGradientTile(const PlanarFilterGradient& p, int64_t firstTap) {
  using Vec = typename V::Vec;
  const int64_t C = p.sourceC, W = p.sourceW;
  int64_t offsets[T];
#pragma GCC unroll 32
  for (int t = 0; t < T; ++t) {
    const int64_t tap = firstTap + t;
    const int64_t c = tap % C, kw = (tap / C) % p.kernelW, kh = tap / C / p.kernelW;
    offsets[t] = (kh * p.dilationH * C + c) * W + kw * p.dilationW;
  }
  Vec acc[T][OC];
#pragma GCC unroll 32
  for (int t = 0; t < T; ++t) {
#pragma GCC unroll 8
    for (int o = 0; o < OC; ++o) acc[t][o] = V::zero();
  }
  // Rows are only a few halves wide (G is a multiple of 16): the loop steps
  // two halves at a time, with strides in locals (see planarCorrelateTile).
  const int64_t G = p.gradOutputW, halves = G / V::kLanes, outH = p.outH;
  const int64_t sourceRowStride = p.strideH * C * W;
  const int64_t sourceImageStride = p.sourceH * C * W;
  const float* g = p.gradOutput;
  for (int64_t img = 0; img < p.images; ++img) {
    const float* sourceImage = p.source + img * sourceImageStride;
    for (int64_t oh = 0; oh < outH; ++oh, g += (OC - 1) * G) {
      const float* s = sourceImage + oh * sourceRowStride;
#pragma GCC unroll 2
      for (int64_t h = 0; h < halves; ++h, s += V::kLanes, g += V::kLanes) {
        if constexpr (T <= OC) {
          Vec x[T];
#pragma GCC unroll 32
          for (int t = 0; t < T; ++t) x[t] = V::loadu(s + offsets[t]);
#pragma GCC unroll 8
          for (int o = 0; o < OC; ++o) {
            Vec gv = V::loadu(g + o * G);
            V::inRegister(gv);
#pragma GCC unroll 32
            for (int t = 0; t < T; ++t) acc[t][o] = V::fmadd(x[t], gv, acc[t][o]);
          }
        } else {
          Vec gv[OC];
#pragma GCC unroll 8
          for (int o = 0; o < OC; ++o) gv[o] = V::loadu(g + o * G);
#pragma GCC unroll 32
          for (int t = 0; t < T; ++t) {
            Vec x = V::loadu(s + offsets[t]);
            V::inRegister(x);
#pragma GCC unroll 8
            for (int o = 0; o < OC; ++o) acc[t][o] = V::fmadd(x, gv[o], acc[t][o]);
          }
        }
      }
    }
  }
#pragma GCC unroll 32
  for (int t = 0; t < T; ++t) {
    float* dst = p.gradFilter + (firstTap + t) * OC;
#pragma GCC unroll 8
    for (int o = 0; o < OC; ++o) {
      const float sum = V::sum(acc[t][o]);
      dst[o] = p.accumulate ? dst[o] + sum : sum;
    }
  }
}

using PlanarFilterGradientFn = void (*)(const PlanarFilterGradient&, int64_t);

template <typename V, int OC, int T>
constexpr PlanarFilterGradientFn filterGradientEntry() {
  if constexpr (planarFits<V>(T, OC)) return &planarFilterGradientTile<V, OC, T>;
  else return nullptr;
}

template <typename V, int OC, int... T>
const PlanarFilterGradientFn* tapVariants(std::integer_sequence<int, T...>) {
  static const PlanarFilterGradientFn table[] = {filterGradientEntry<V, OC, T + 1>()...};
  return table;
}

template <typename V>
PlanarFilterGradientFn planarFilterGradientKernel(int64_t channels, int taps) {
  const auto sequence = std::make_integer_sequence<int, kPlanarMaxTaps>();
  switch (channels) {
    case 1: return tapVariants<V, 1>(sequence)[taps - 1];
    case 2: return tapVariants<V, 2>(sequence)[taps - 1];
    case 3: return tapVariants<V, 3>(sequence)[taps - 1];
    case 4: return tapVariants<V, 4>(sequence)[taps - 1];
    case 5: return tapVariants<V, 5>(sequence)[taps - 1];
    case 6: return tapVariants<V, 6>(sequence)[taps - 1];
    case 7: return tapVariants<V, 7>(sequence)[taps - 1];
    default: return tapVariants<V, 8>(sequence)[taps - 1];
  }
}

// The correlation tasks [firstTask, endTask) (see PlanarCorrelation).
template <typename V>
void planarCorrelateTasks(const PlanarCorrelation& p, int64_t firstTask, int64_t endTask) {
  constexpr int kMaxUnits = V::kMaxUnits;
  const int64_t vectors = (p.outW + 15) / 16;
  constexpr int kUnitsPerVector = 16 / V::kLanes;
  // The driver sizes its tiles to fit; where even one 16-column vector does
  // not (AVX2 with 7 or 8 channels), a task runs as several smaller register
  // tiles: step[u] units by rowStep[u] rows for a task u units wide.
  int step[kMaxUnits + 1] = {};
  int64_t rowStep[kMaxUnits + 1] = {};
  for (int units = 1; units <= kMaxUnits; ++units) {
    int s = units;
    while (s > 1 && planarMaxRows<V>(p.outC, s) == 0) s = s > 2 ? 2 : 1;
    step[units] = s;
    rowStep[units] = planarMaxRows<V>(p.outC, s);
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
    // Units wholly past outW (a vector's zero padding) are not computed.
    const int64_t live = (p.outW - x0 + V::kLanes - 1) / V::kLanes;
    const int64_t units = live < kUnitsPerVector * count ? live : kUnitsPerVector * count;
    const int key = static_cast<int>(units < kMaxUnits ? units : kMaxUnits);
    for (int64_t r0 = 0; r0 < rows; r0 += rowStep[key]) {
      const int tileRows = static_cast<int>(rows - r0 < rowStep[key] ? rows - r0 : rowStep[key]);
      for (int64_t h0 = 0; h0 < units; h0 += step[key]) {
        const int width = static_cast<int>(units - h0 < step[key] ? units - h0 : step[key]);
        PlanarCorrelateFn kernel = planarSharedRowsKernel<V>(p, width, tileRows);
        if (kernel == nullptr) kernel = planarCorrelateKernel<V>(p.outC, width, tileRows);
        kernel(p, img, oh0 + r0, x0 + h0 * V::kLanes);
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

// The filter-gradient tasks [firstTask, endTask) (see PlanarFilterGradient).
template <typename V>
void planarFilterGradientTasks(const PlanarFilterGradient& p, int64_t firstTask, int64_t endTask) {
  const int64_t totalTaps = p.kernelH * p.kernelW * p.sourceC;
  const int64_t most = planarMaxTaps<V>(p.outC);
  for (int64_t tile = firstTask; tile < endTask; ++tile) {
    const int64_t first = tile * p.tapsPerTile;
    const int64_t taps = totalTaps - first < p.tapsPerTile ? totalTaps - first : p.tapsPerTile;
    // More taps than fit (not what the driver asks for) run as several tiles.
    for (int64_t t0 = 0; t0 < taps; t0 += most) {
      const int64_t count = taps - t0 < most ? taps - t0 : most;
      planarFilterGradientKernel<V>(p.outC, static_cast<int>(count))(p, first + t0);
    }
  }
}

}  // namespace
}  // namespace kiln
