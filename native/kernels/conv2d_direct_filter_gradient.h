// The direct filter-gradient tiles and their task loop; see
// conv2d_direct_tiles.h for the vector type V and why everything here has
// internal linkage.
#pragma once

#include <cstdint>
#include <utility>

#include "conv2d_direct.h"
#include "conv2d_direct_tiles.h"

namespace kiln {
namespace {

// Output pixels [ohBegin, ohEnd) x [owBegin, owEnd) of each image: the
// others read only padding for this tile's taps (see
// directFilterGradientTasks). sourceOffset: where output pixel (0, 0)'s
// first entry would be in image 0 (with an unpadded source it may lie
// outside it; only pixels in the ranges are read). accumulate: add to
// gradFilter instead of overwriting it.
// SL > 0: a whole-filter tile (DirectFilterGradient::wholeFilterTiles),
// entry r at filter row r / SL, entry r % SL of that row.
template <typename V, int NB, int R, bool Full, int SL = 0>
void filterGradientTile(const DirectFilterGradient& p, int64_t sourceOffset, float* gradFilter, int64_t firstBlock,
                        int64_t ohBegin, int64_t ohEnd, int64_t owBegin, int64_t owEnd, bool accumulate) {
  // With fewer than 8 sums the FMA latency, not the two FMA ports, would
  // bound the loop (lenet5 conv1: 5 taps x 1 block), so where the registers
  // allow a second set, pixels go in pairs into two sets added at the end.
  using Vec = typename V::Vec;
  using Mask = typename V::Mask;
  constexpr bool kTwoSets =
      R * NB < 8 && 2 * R * NB + 2 * NB + 2 + (Full ? 0 : NB * V::kRegistersPerMask) <= V::kRegisters;
  Vec acc[R][NB];
  Vec second[kTwoSets ? R : 1][NB];
  Mask masks[NB];
#pragma GCC unroll 4
  for (int j = 0; j < NB; ++j) masks[j] = V::mask(p.outC - (firstBlock + j) * V::kLanes);
  if constexpr (kTwoSets) {
#pragma GCC unroll 32
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
      for (int j = 0; j < NB; ++j) second[r][j] = V::zero();
    }
  }
#pragma GCC unroll 32
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int j = 0; j < NB; ++j) {
      float* at = gradFilter + r * p.outC + (firstBlock + j) * V::kLanes;
      if (!accumulate) acc[r][j] = V::zero();
      else acc[r][j] = Full ? V::loadu(at) : V::loadMasked(at, masks[j]);
    }
  }
  // Strides in locals and pointers stepped by addition: read through `p`
  // the compiler reloads and multiplies them in every iteration, and the
  // extra instructions, not the FMAs, then bound the loop.
  const int64_t C = p.sourcePixelStride != 0 ? p.sourcePixelStride : p.sourceC, outW = p.outW;
  const int64_t gradStep = p.gradPixelStride != 0 ? p.gradPixelStride : p.outC;  // floats between gradient pixels
  const int64_t sourceH = p.unpadded ? p.liveRowEnd - p.liveRowBegin : p.sourceH;
  const int64_t sourceW = p.unpadded ? p.liveColumnEnd - p.liveColumnBegin : p.sourceW;
  const int64_t sourceStep = p.strideW * C, sourceRowStride = p.strideH * sourceW * C;
  const int64_t dyRowStride = outW * gradStep;
  // Floats from one filter row's source entries to the next (SL > 0).
  const int64_t filterRowStride = p.dilationH * sourceW * C;
  // Where entry r of the pixel at s is: with SL > 0 each filter row gets
  // its own pointer, so every broadcast is a constant displacement from one
  // of KH pointers (offsets per entry took a register each, and spilled).
  constexpr int KH = SL != 0 ? R / SL : 1;
  const auto rowPointers = [&](const float* s, const float* (&rows)[KH]) __attribute__((always_inline)) {
#pragma GCC unroll 16
    for (int k = 0; k < KH; ++k) rows[k] = s + k * filterRowStride;
  };
  const auto at = [&](const float* const (&rows)[KH], int r) __attribute__((always_inline)) -> const float* {
    return SL != 0 ? rows[r / (SL != 0 ? SL : 1)] + r % (SL != 0 ? SL : 1) : rows[0] + r;
  };
  for (int64_t img = 0; img < p.images && ohBegin < ohEnd && owBegin < owEnd; ++img) {
    const float* sourceRow =
        p.source + (img * sourceH * sourceW * C + sourceOffset + ohBegin * sourceRowStride + owBegin * sourceStep);
    const float* dyRow = p.gradOutput + img * p.outH * dyRowStride + ohBegin * dyRowStride + owBegin * gradStep +
                         firstBlock * V::kLanes;
    for (int64_t oh = ohBegin; oh < ohEnd; ++oh, sourceRow += sourceRowStride, dyRow += dyRowStride) {
      const float* s = sourceRow;
      const float* dy = dyRow;
      int64_t ow = owBegin;
      if constexpr (kTwoSets) {
        // Pixels in pairs, the second into its own sums.
        for (; ow + 1 < owEnd; ow += 2, s += 2 * sourceStep, dy += 2 * gradStep) {
          Vec g[NB], h[NB];
#pragma GCC unroll 4
          for (int j = 0; j < NB; ++j) {
            g[j] = Full ? V::loadu(dy + j * V::kLanes) : V::loadMasked(dy + j * V::kLanes, masks[j]);
            h[j] = Full ? V::loadu(dy + gradStep + j * V::kLanes)
                        : V::loadMasked(dy + gradStep + j * V::kLanes, masks[j]);
          }
          const float* here[KH];
          const float* next[KH];
          rowPointers(s, here);
          rowPointers(s + sourceStep, next);
#pragma GCC unroll 32
          for (int r = 0; r < R; ++r) {
            const Vec x = V::broadcast(at(here, r)), y = V::broadcast(at(next, r));
#pragma GCC unroll 4
            for (int j = 0; j < NB; ++j) {
              acc[r][j] = V::fmadd(x, g[j], acc[r][j]);
              second[r][j] = V::fmadd(y, h[j], second[r][j]);
            }
          }
        }
      }
      for (; ow < owEnd; ++ow, s += sourceStep, dy += gradStep) {
        Vec g[NB];
#pragma GCC unroll 4
        for (int j = 0; j < NB; ++j) g[j] = Full ? V::loadu(dy + j * V::kLanes) : V::loadMasked(dy + j * V::kLanes, masks[j]);
        const float* here[KH];
        rowPointers(s, here);
#pragma GCC unroll 32
        for (int r = 0; r < R; ++r) {
          const Vec x = V::broadcast(at(here, r));
#pragma GCC unroll 4
          for (int j = 0; j < NB; ++j) acc[r][j] = V::fmadd(x, g[j], acc[r][j]);
        }
      }
    }
  }
#pragma GCC unroll 32
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int j = 0; j < NB; ++j) {
      float* at = gradFilter + r * p.outC + (firstBlock + j) * V::kLanes;
      const Vec sum = kTwoSets ? V::add(acc[r][j], second[kTwoSets ? r : 0][j]) : acc[r][j];
      if (Full) V::storeu(at, sum);
      else V::storeMasked(at, masks[j], sum);
    }
  }
}

// The filter-gradient tile with the operands' roles swapped
// (DirectFilterGradient::entryTiles), for a layer whose gradient has one
// block of channels, a multiple of kEntryTileChannels: vectors of V::kLanes
// consecutive filter entries (kw, ci) of a filter row, loaded straight
// from the source pixel, each meet kEntryTileChannels broadcast gradient
// values. The tile above loads one gradient vector a pixel and broadcasts
// one source value for every FMA, and with a single block that is a load
// per FMA: in L1 on Zen 5 such a loop ran at 77% of the FMA peak, this one
// (3 vectors x 8 channels: 11 loads for 24 FMAs) at 98%. The sums come out
// transposed (lanes along the entries) and go through a small buffer to
// and from gradFilter, once per tile call. `rows` entries, at most NV
// vectors' worth; the channels are done kEntryTileChannels at a time, each
// pass over all of the tile's pixels.
constexpr int kEntryTileChannels = 8;
template <typename V, int NV>
void filterGradientEntryTile(const DirectFilterGradient& p, int64_t sourceOffset, float* gradFilter, int64_t rows,
                             int64_t ohBegin, int64_t ohEnd, int64_t owBegin, int64_t owEnd, bool accumulate) {
  using Vec = typename V::Vec;
  using Mask = typename V::Mask;
  constexpr int G = kEntryTileChannels, L = V::kLanes;
  const Mask lastMask = V::mask(rows - (NV - 1) * L);
  const int64_t C = p.sourcePixelStride != 0 ? p.sourcePixelStride : p.sourceC, outW = p.outW;
  const int64_t gradStep = p.gradPixelStride != 0 ? p.gradPixelStride : p.outC;
  const int64_t sourceH = p.unpadded ? p.liveRowEnd - p.liveRowBegin : p.sourceH;
  const int64_t sourceW = p.unpadded ? p.liveColumnEnd - p.liveColumnBegin : p.sourceW;
  const int64_t sourceStep = p.strideW * C, sourceRowStride = p.strideH * sourceW * C;
  const int64_t dyRowStride = outW * gradStep;
  alignas(64) float sums[G][NV * L];
  for (int64_t c0 = 0; c0 < p.outC; c0 += G) {
    // From zero, gradFilter's own value added at the end: loading it into
    // the transposed sums would go through scalar stores and vector loads
    // that wait for them (6% of the layer's time on resnet20 stage 1).
    Vec acc[NV][G];
#pragma GCC unroll 8
    for (int c = 0; c < G; ++c) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[v][c] = V::zero();
    }
    for (int64_t img = 0; img < p.images && ohBegin < ohEnd && owBegin < owEnd; ++img) {
      const float* sourceRow =
          p.source + (img * sourceH * sourceW * C + sourceOffset + ohBegin * sourceRowStride + owBegin * sourceStep);
      const float* dyRow = p.gradOutput + img * p.outH * dyRowStride + ohBegin * dyRowStride + owBegin * gradStep + c0;
      for (int64_t oh = ohBegin; oh < ohEnd; ++oh, sourceRow += sourceRowStride, dyRow += dyRowStride) {
        const float* s = sourceRow;
        const float* dy = dyRow;
        for (int64_t ow = owBegin; ow < owEnd; ++ow, s += sourceStep, dy += gradStep) {
          Vec x[NV];
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) x[v] = v + 1 < NV ? V::loadu(s + v * L) : V::loadMasked(s + v * L, lastMask);
#pragma GCC unroll 8
          for (int c = 0; c < G; ++c) {
            const Vec g = V::broadcast(dy + c);
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) acc[v][c] = V::fmadd(x[v], g, acc[v][c]);
          }
        }
      }
    }
#pragma GCC unroll 8
    for (int c = 0; c < G; ++c) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) V::storeu(&sums[c][v * L], acc[v][c]);
    }
    for (int64_t r = 0; r < rows; ++r) {
      float* row = gradFilter + r * p.outC + c0;
      for (int c = 0; c < G; ++c) row[c] = accumulate ? row[c] + sums[c][r] : sums[c][r];
    }
  }
}

template <typename V>
void filterGradientEntries(const DirectFilterGradient& p, int64_t sourceOffset, float* gradFilter, int64_t rows,
                           int64_t ohBegin, int64_t ohEnd, int64_t owBegin, int64_t owEnd, bool accumulate) {
  if constexpr (V::kRegisters >= 32) {
    const int64_t vectors = (rows + V::kLanes - 1) / V::kLanes;
    if (vectors == 1) {
      filterGradientEntryTile<V, 1>(p, sourceOffset, gradFilter, rows, ohBegin, ohEnd, owBegin, owEnd, accumulate);
    } else if (vectors == 2) {
      filterGradientEntryTile<V, 2>(p, sourceOffset, gradFilter, rows, ohBegin, ohEnd, owBegin, owEnd, accumulate);
    } else {
      filterGradientEntryTile<V, 3>(p, sourceOffset, gradFilter, rows, ohBegin, ohEnd, owBegin, owEnd, accumulate);
    }
  } else {
    (void)p, (void)sourceOffset, (void)gradFilter, (void)rows, (void)ohBegin, (void)ohEnd, (void)owBegin, (void)owEnd,
        (void)accumulate;
  }
}

using FilterGradientFn = void (*)(const DirectFilterGradient&, int64_t, float*, int64_t, int64_t, int64_t, int64_t,
                                  int64_t, bool);
template <typename V, int NB, bool Full, int... R>
const FilterGradientFn* filterGradientTable(std::integer_sequence<int, R...>) {
  static const FilterGradientFn table[] = {&filterGradientTile<V, NB, R + 1, Full>...};
  return table;
}

template <typename V, bool Full>
FilterGradientFn filterGradientKernelOf(int nb, int rows) {
  switch (nb) {
    case 1: return filterGradientTable<V, 1, Full>(std::make_integer_sequence<int, V::kMaxTileRows[1]>())[rows - 1];
    case 2: return filterGradientTable<V, 2, Full>(std::make_integer_sequence<int, V::kMaxTileRows[2]>())[rows - 1];
    case 3: return filterGradientTable<V, 3, Full>(std::make_integer_sequence<int, V::kMaxTileRows[3]>())[rows - 1];
    default: return filterGradientTable<V, 4, Full>(std::make_integer_sequence<int, V::kMaxTileRows[4]>())[rows - 1];
  }
}

template <typename V>
FilterGradientFn filterGradientKernel(int nb, int rows, bool full) {
  return full ? filterGradientKernelOf<V, true>(nb, rows) : filterGradientKernelOf<V, false>(nb, rows);
}

// A whole-filter tile along the filter entries (wholeFilterTiles with
// the kernel set's wholeFilterEntries): all KH x SL entries of a small
// filter over one channel block in NV vectors (lane e = entry e), and the
// G = outC gradient channels broadcast one at a time. Each filter row's SL
// source floats are contiguous and fill lanes [kh * SL, kh * SL + SL): a
// masked load per vector they touch. For few channels the tile above wastes
// lanes and loads: lenet5 conv1 (5x5 over one channel, 6 channels) used 6
// of 16 lanes and loaded a broadcast for every FMA; here its 25 entries
// fill 25 of 32 lanes, 12 FMAs a pixel for 6 masked loads and 6 broadcasts.
// Lane E (the first past the entries) holds 1, so the same FMAs also sum
// the gradient: the bias gradient, added to p.biasSums where it is set.
constexpr int kMaxWholeEntryChannels = 12;
template <typename V, int KH, int SL, int G>
void filterGradientWholeEntryTile(const DirectFilterGradient& p, int64_t sourceOffset, float* gradFilter,
                                  int64_t firstBlock, int64_t ohBegin, int64_t ohEnd, int64_t owBegin,
                                  int64_t owEnd, bool accumulate) {
  using Vec = typename V::Vec;
  using Mask = typename V::Mask;
  constexpr int L = V::kLanes, E = KH * SL, NV = (E + L - 1) / L;
  static_assert(E < NV * L, "a lane past the entries for the bias sums");
  (void)firstBlock;
  alignas(64) float biasLane[L] = {};
  biasLane[E - (NV - 1) * L] = 1.0f;
  const Vec lastBase = V::loadu(biasLane);
  Vec acc[NV][G];
#pragma GCC unroll 16
  for (int o = 0; o < G; ++o) {
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[v][o] = V::zero();
  }
  const int64_t C = p.sourceC, outW = p.outW, gradStep = p.outC;
  const int64_t sourceStep = p.strideW * C, sourceRowStride = p.strideH * p.sourceW * C;
  const int64_t dyRowStride = outW * gradStep, filterRowStride = p.dilationH * p.sourceW * C;
  // Lanes [first, end) of vector v as a mask.
  const auto lanes = [](int first, int end) __attribute__((always_inline)) -> Mask {
    return static_cast<Mask>(V::mask(end) & ~V::mask(first));
  };
  for (int64_t img = 0; img < p.images && ohBegin < ohEnd && owBegin < owEnd; ++img) {
    const float* sourceRow = p.source + (img * p.sourceH * p.sourceW * C + sourceOffset + ohBegin * sourceRowStride +
                                         owBegin * sourceStep);
    const float* dyRow = p.gradOutput + img * p.outH * dyRowStride + ohBegin * dyRowStride + owBegin * gradStep;
    for (int64_t oh = ohBegin; oh < ohEnd; ++oh, sourceRow += sourceRowStride, dyRow += dyRowStride) {
      const float* s = sourceRow;
      const float* dy = dyRow;
      for (int64_t ow = owBegin; ow < owEnd; ++ow, s += sourceStep, dy += gradStep) {
        Vec x[NV];
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) x[v] = v + 1 < NV ? V::zero() : lastBase;
#pragma GCC unroll 16
        for (int kh = 0; kh < KH; ++kh) {
#pragma GCC unroll 2
          for (int v = 0; v < NV; ++v) {
            const int first = kh * SL > v * L ? kh * SL : v * L;
            const int end = kh * SL + SL < v * L + L ? kh * SL + SL : v * L + L;
            if (first >= end) continue;
            // Lane l of vector v reads entry v * L + l of row kh's run.
            x[v] = V::loadMerged(s + kh * filterRowStride + (v * L - kh * SL), lanes(first - v * L, end - v * L), x[v]);
          }
        }
#pragma GCC unroll 16
        for (int o = 0; o < G; ++o) {
          const Vec g = V::broadcast(dy + o);
#pragma GCC unroll 2
          for (int v = 0; v < NV; ++v) acc[v][o] = V::fmadd(x[v], g, acc[v][o]);
        }
      }
    }
  }
  alignas(64) float sums[G][NV * L];
#pragma GCC unroll 16
  for (int o = 0; o < G; ++o) {
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) V::storeu(&sums[o][v * L], acc[v][o]);
  }
  for (int e = 0; e < E; ++e) {
    float* row = gradFilter + e * p.outC;
    for (int o = 0; o < G; ++o) row[o] = accumulate ? row[o] + sums[o][e] : sums[o][e];
  }
  if (p.biasSums != nullptr) {
    for (int o = 0; o < G; ++o) p.biasSums[o] = accumulate ? p.biasSums[o] + sums[o][E] : sums[o][E];
  }
}

template <typename V, int KH, int SL, int... G>
const FilterGradientFn* wholeEntryTable(std::integer_sequence<int, G...>) {
  static const FilterGradientFn table[] = {&filterGradientWholeEntryTile<V, KH, SL, G + 1>...};
  return table;
}

// The whole-filter entry tile for kernelH x segmentLength entries and outC
// channels, or null: 5x5 and 3x3 over one channel (segmentLength = kernelW
// * channels), at most kMaxWholeEntryChannels channels, AVX-512.
template <typename V>
FilterGradientFn wholeFilterEntryKernel(int64_t kernelH, int64_t segmentLength, int64_t outC) {
  if constexpr (V::kRegisters >= 32) {
    if (outC >= 1 && outC <= kMaxWholeEntryChannels) {
      const auto channels = std::make_integer_sequence<int, kMaxWholeEntryChannels>();
      if (kernelH == 5 && segmentLength == 5) return wholeEntryTable<V, 5, 5>(channels)[outC - 1];
      if (kernelH == 3 && segmentLength == 3) return wholeEntryTable<V, 3, 3>(channels)[outC - 1];
    }
  }
  (void)kernelH, (void)segmentLength, (void)outC;
  return nullptr;
}

// Whole-filter tiles (DirectFilterGradient::wholeFilterTiles) where the
// registers hold a sum for every filter entry of one channel block: 3x3
// over 3 channels (resnet20's stem, 27 entries) and 5x5 over 1 (lenet5's
// conv1, 25); null otherwise. A tile per filter row loaded each gradient
// vector once per row and fed it only 9 or 5 FMAs, too few to hide the
// load; the stem's filter gradient spent ~25% of its time at those loads.
template <typename V>
FilterGradientFn wholeFilterKernel(int64_t kernelH, int64_t segmentLength, int64_t nb, bool full, int64_t outC) {
  if (nb == 1) {
    if (const FilterGradientFn entries = wholeFilterEntryKernel<V>(kernelH, segmentLength, outC)) return entries;
  }
  if constexpr (V::kRegisters >= 32) {
    if (nb == 1 && kernelH == 3 && segmentLength == 9) {
      return full ? &filterGradientTile<V, 1, 27, true, 9> : &filterGradientTile<V, 1, 27, false, 9>;
    }
    if (nb == 1 && kernelH == 5 && segmentLength == 5) {
      return full ? &filterGradientTile<V, 1, 25, true, 5> : &filterGradientTile<V, 1, 25, false, 5>;
    }
  }
  (void)kernelH, (void)segmentLength, (void)nb, (void)full;
  return nullptr;
}

// Output positions [begin, end) along one axis whose source index
// position * stride + tap, for some tap in [firstTap, lastTap], falls in
// [liveBegin, liveEnd): the rest read only padding. A contiguous superset of
// the union over the taps (exact for one tap).
void livePositions(int64_t count, int64_t stride, int64_t firstTap, int64_t lastTap, int64_t liveBegin,
                   int64_t liveEnd, int64_t& begin, int64_t& end) {
  // First position with position * stride + lastTap >= liveBegin, and one
  // past the last with position * stride + firstTap < liveEnd.
  const int64_t low = liveBegin - lastTap, high = liveEnd - firstTap;
  begin = low <= 0 ? 0 : (low + stride - 1) / stride;
  end = high <= 0 ? 0 : (high + stride - 1) / stride;
  if (end > count) end = count;
  if (begin > end) begin = end;
}

// The filter-gradient tasks [firstTask, endTask) (see DirectFilterGradient).
template <typename V>
void directFilterGradientTasks(const DirectFilterGradient& p, int64_t firstTask, int64_t endTask) {
  if (firstTask >= endTask) return;
  const int64_t blocks = (p.outC + V::kLanes - 1) / V::kLanes;
  if (p.wholeFilterTiles) {  // one task per channel group, over every output pixel of the band
    const int64_t ohBegin = p.rowEnd > 0 ? p.rowBegin : 0, ohEnd = p.rowEnd > 0 ? p.rowEnd : p.outH;
    for (int64_t group = firstTask; group < endTask; ++group) {
      const int64_t firstBlock = group * p.blocksPerGroup;
      const int64_t nb = blocks - firstBlock < p.blocksPerGroup ? blocks - firstBlock : p.blocksPerGroup;
      const bool full = p.outC >= (firstBlock + nb) * V::kLanes;
      wholeFilterKernel<V>(p.kernelH, p.segmentLength, nb, full, p.outC)(p, 0, p.gradFilter, firstBlock, ohBegin,
                                                                        ohEnd, 0, p.outW, p.accumulate != 0);
    }
    return;
  }
  const int64_t C = p.sourceC, pixelFloats = p.sourcePixelStride != 0 ? p.sourcePixelStride : C;
  // Unpadded source: offsets from the first live pixel, and per filter
  // column the exact pixels that read it (below).
  const bool unpadded = p.unpadded != 0 && p.liveRowEnd > 0;
  const int64_t rowFloats = (unpadded ? p.liveColumnEnd - p.liveColumnBegin : p.sourceW) * pixelFloats;
  const int64_t originRow = unpadded ? p.liveRowBegin : 0, originColumn = unpadded ? p.liveColumnBegin : 0;
  // The task index is decoded once and then stepped (group fastest, then
  // tile, segment, kh), and what depends only on the tile (its rows, source
  // offset and live pixels) is recomputed only when the tile changes: with
  // one small image per call (resnet20's 8x8 layers), the divisions of a
  // per-task decode cost ~10% of the filter gradient.
  int64_t group = firstTask % p.groups, rest = firstTask / p.groups;
  int64_t tile = rest % p.tilesPerSegment;
  rest /= p.tilesPerSegment;
  int64_t segment = rest % p.segments, kh = rest / p.segments;
  int64_t first = 0, rows = 0, sourceOffset = 0, ohBegin = 0, ohEnd = p.outH, owBegin = 0, owEnd = p.outW;
  int64_t firstColumn = 0, lastColumn = 0;
  float* tileFilter = nullptr;
  bool tileChanged = true;
  for (int64_t task = firstTask; task < endTask; ++task) {
    if (tileChanged) {
      first = tile * p.tileRows;
      rows = p.segmentLength - first < p.tileRows ? p.segmentLength - first : p.tileRows;
      sourceOffset =
          (kh * p.dilationH - originRow) * rowFloats + (segment * p.dilationW - originColumn) * pixelFloats + first;
      tileFilter = p.gradFilter + (kh * p.kernelW * C + segment * p.segmentLength + first) * p.outC;
      // Skip the output pixels whose source pixels are all padding for this
      // tile's taps: 9-16% of the work of AlexNet's and resnet20's 8x8 and
      // 7x7 layers (3x3, padding 1). The tile's entries span source columns
      // (kw) firstColumn..lastColumn of filter row kh.
      firstColumn = (segment * p.dilationW) + first / C;
      lastColumn = (segment * p.dilationW) + (first + rows - 1) / C;
      ohBegin = 0, ohEnd = p.outH;
      if (p.liveRowEnd > 0) {
        const int64_t row = kh * p.dilationH;
        livePositions(p.outH, p.strideH, row, row, p.liveRowBegin, p.liveRowEnd, ohBegin, ohEnd);
        // Unpadded, the tile runs over the pixels where every one of its
        // columns is live (the intersection), and each column's entries
        // then over the rest of that column's pixels.
        if (unpadded) {
          livePositions(p.outW, p.strideW, lastColumn, lastColumn, p.liveColumnBegin, p.liveColumnEnd, owBegin, owEnd);
          int64_t begin = 0, end = 0;
          livePositions(p.outW, p.strideW, firstColumn, firstColumn, p.liveColumnBegin, p.liveColumnEnd, begin, end);
          owBegin = owBegin > begin ? owBegin : begin;
          owEnd = owEnd < end ? owEnd : end;
          if (owEnd < owBegin) owEnd = owBegin;
        } else {
          livePositions(p.outW, p.strideW, firstColumn, lastColumn, p.liveColumnBegin, p.liveColumnEnd, owBegin,
                        owEnd);
        }
      }
      if (p.rowEnd > 0) {  // this call's band of rows
        ohBegin = ohBegin > p.rowBegin ? ohBegin : p.rowBegin;
        ohEnd = ohEnd < p.rowEnd ? ohEnd : p.rowEnd;
        if (ohEnd < ohBegin) ohEnd = ohBegin;
      }
      tileChanged = false;
    }
    const int64_t firstBlock = group * p.blocksPerGroup;
    const int nb = static_cast<int>(blocks - firstBlock < p.blocksPerGroup ? blocks - firstBlock : p.blocksPerGroup);
    const bool full = p.outC >= (firstBlock + nb) * V::kLanes;
    // Always called, even over no pixels: it initialises or loads the
    // tile's sums, which the per-column calls below add to.
    if (p.entryTiles) {
      filterGradientEntries<V>(p, sourceOffset, tileFilter, rows, ohBegin, ohEnd, owBegin, owEnd, p.accumulate != 0);
    } else {
      filterGradientKernel<V>(nb, static_cast<int>(rows), full)(p, sourceOffset, tileFilter, firstBlock, ohBegin,
                                                             ohEnd, owBegin, owEnd, p.accumulate != 0);
    }
    if (unpadded && firstColumn != lastColumn) {
      // Columns are monotonic in the entry, so the intersection above is
      // exact for the columns in between too; each column's own pixels
      // outside it (its stretch of the left or right border) are added
      // with a tile of just its entries.
      for (int64_t column = firstColumn; column <= lastColumn; ++column) {
        const int64_t entryBegin = (column - segment * p.dilationW) * C - first;
        const int64_t r0 = entryBegin > 0 ? entryBegin : 0;
        const int64_t r1 = entryBegin + C < rows ? entryBegin + C : rows;
        int64_t begin = 0, end = 0;
        livePositions(p.outW, p.strideW, column, column, p.liveColumnBegin, p.liveColumnEnd, begin, end);
        const FilterGradientFn part = p.entryTiles ? nullptr : filterGradientKernel<V>(nb, static_cast<int>(r1 - r0), full);
        float* partFilter = tileFilter + r0 * p.outC;
        const auto addPixels = [&](int64_t from, int64_t to) {
          if (p.entryTiles) {
            filterGradientEntries<V>(p, sourceOffset + r0, partFilter, r1 - r0, ohBegin, ohEnd, from, to, true);
          } else {
            part(p, sourceOffset + r0, partFilter, firstBlock, ohBegin, ohEnd, from, to, true);
          }
        };
        if (begin < owBegin) addPixels(begin, end < owBegin ? end : owBegin);
        const int64_t rightBegin = owEnd > begin ? owEnd : begin;
        if (rightBegin < end) addPixels(rightBegin, end);
      }
    }
    if (++group < p.groups) continue;
    group = 0;
    tileChanged = true;
    if (++tile < p.tilesPerSegment) continue;
    tile = 0;
    if (++segment < p.segments) continue;
    segment = 0;
    ++kh;
  }
}

}  // namespace
}  // namespace kiln
