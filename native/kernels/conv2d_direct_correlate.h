// The direct correlation tiles (forward, and backward data as a
// correlation of gradOutput with the flipped filter) and their task loop;
// see conv2d_direct_tiles.h for the vector type V and why everything here
// has internal linkage.
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>

#include "conv2d_direct.h"
#include "conv2d_direct_tiles.h"

namespace kiln {
namespace {

// Requests a tile's output lines before its sums are computed: a layer
// whose output outgrows L2 (AlexNet's conv1, 256 KiB an image) otherwise
// waits at the stores for each line. Not for smaller outputs
// (DirectCorrelation::prefetchOutput): there the requests only cost time
// (4-6% of a 1x1 layer over 16 channels, 3% of resnet20's stem).
template <typename V, int NB, int RW, int RH>
[[gnu::always_inline]] inline void prefetchTileOutput(const DirectCorrelation& p, const float* output,
                                                      int64_t outputPixelStride, int64_t firstBlock,
                                                      int64_t outputRowStride) {
  if (!p.prefetchOutput) return;
#pragma GCC unroll 32
  for (int i = 0; i < RW * RH; ++i) {
    const float* out = output + (i / RW) * outputRowStride + (i % RW) * outputPixelStride + firstBlock * V::kLanes;
    __builtin_prefetch(out, 0, 3);
    __builtin_prefetch(out + NB * V::kLanes - 1, 0, 3);
  }
}

// Writes a tile's sums acc[pixel][block] to the output: + bias (then relu),
// or + what the output holds (DirectCorrelation::accumulate). The store
// mode (full or masked blocks; bias, bias + relu or accumulate) is chosen
// once for the whole tile: tested per accumulator, its branches cost as
// much as the arithmetic of a short reduction (a 1x1 layer over 16 channels
// spent ~40% of its tile time here).
template <typename V, int NB, int RW, int RH>
[[gnu::always_inline]] inline void storeTile(const DirectCorrelation& p, const typename V::Vec (&acc)[RW * RH][NB],
                                             float* output, int64_t outputPixelStride, int64_t firstBlock,
                                             int64_t outputRowStride) {
  using Vec = typename V::Vec;
  using Mask = typename V::Mask;
  constexpr int P = RW * RH;
  const bool full = p.outC >= (firstBlock + NB) * V::kLanes;
  // Inlined, so that acc stays in registers instead of going through the
  // stack to a called lambda.
  const auto finish = [&](auto fullBlocks, auto mode) __attribute__((always_inline)) {
    constexpr bool kFull = decltype(fullBlocks)::value;
    constexpr int kMode = decltype(mode)::value;  // 0: + bias, 1: + bias then relu, 2: + output
    Vec biasVector[NB];
    Mask masks[NB];
#pragma GCC unroll 4
    for (int j = 0; j < NB; ++j) {
      if constexpr (!kFull) masks[j] = V::mask(p.outC - (firstBlock + j) * V::kLanes);
      if (kMode == 2 || p.bias == nullptr) biasVector[j] = V::zero();
      else if constexpr (kFull) biasVector[j] = V::loadu(p.bias + (firstBlock + j) * V::kLanes);
      else biasVector[j] = V::loadMasked(p.bias + (firstBlock + j) * V::kLanes, masks[j]);
    }
    const Vec zero = V::zero();
#pragma GCC unroll 32
    for (int i = 0; i < P; ++i) {
#pragma GCC unroll 4
      for (int j = 0; j < NB; ++j) {
        float* out = output + (i / RW) * outputRowStride + (i % RW) * outputPixelStride + (firstBlock + j) * V::kLanes;
        Vec v;
        if constexpr (kMode == 2) v = V::add(acc[i][j], kFull ? V::loadu(out) : V::loadMasked(out, masks[j]));
        else v = V::add(acc[i][j], biasVector[j]);
        if constexpr (kMode == 1) v = V::max(v, zero);
        if constexpr (kFull) V::storeu(out, v);
        else V::storeMasked(out, masks[j], v);
      }
    }
  };
  using Full = std::true_type;
  using Masked = std::false_type;
  using Plain = std::integral_constant<int, 0>;
  using Relu = std::integral_constant<int, 1>;
  using Accumulate = std::integral_constant<int, 2>;
  if (full) {
    if (p.accumulate) finish(Full(), Accumulate());
    else if (p.relu) finish(Full(), Relu());
    else finish(Full(), Plain());
  } else {
    if (p.accumulate) finish(Masked(), Accumulate());
    else if (p.relu) finish(Masked(), Relu());
    else finish(Masked(), Plain());
  }
}

// Requests, ahead of use, the source lines that this tile's pixels read in
// the last tap row of the next row tile (RH rows down). Only where the
// pixels' runs leave gaps (strided pixels, pixelStride > runLength): the
// hardware prefetchers follow dense rows but not every other pixel of every
// other row, and a strided 1x1 layer stalled at the first broadcast of each
// tile (resnet20's projections forward: 1.21x and 1.08x on 1 thread,
// 1.11x and 1.01x on 2, in alternating calls). A prefetch past the source
// (the last row) is dropped by the hardware; it never faults.
template <int RW, int RH, int PS>
[[gnu::always_inline]] inline void prefetchNextRowSource(const float* source, int64_t sourcePixelStride,
                                                         const int64_t* taps, int64_t tapCount, int64_t runLength,
                                                         int64_t sourceRowStride) {
  const int64_t pixelStride = PS != 0 ? PS : sourcePixelStride;
  if (tapCount <= 0 || runLength <= 0 || pixelStride <= runLength) return;
  const float* base = source + taps[2 * (tapCount - 1)] + RH * sourceRowStride;
#pragma GCC unroll 32
  for (int i = 0; i < RW; ++i) {
    const float* pixel = base + i * pixelStride;
    for (int64_t offset = 0; offset < runLength; offset += 16) __builtin_prefetch(pixel + offset, 0, 3);
    __builtin_prefetch(pixel + runLength - 1, 0, 3);
  }
}

// What one kernel call computes: `rows` row tiles (RH output rows each,
// stepping RH * sourceRowStride / RH * outputRowStride) of `tiles` tiles
// each (RW pixels side by side, stepping RW * sourcePixelStride / RW *
// outputPixelStride), all with the same taps. One call per run instead of
// one per tile: with short reductions (a 1x1 layer over 16 channels, 128
// FMA cycles a tile) the call, the kernel lookup and the tap list of every
// row took ~20% of the layer.
struct TileRun {
  const float* source;
  int64_t sourcePixelStride;
  const float* weights;
  int64_t blockStride;
  const int64_t* taps;
  int64_t tapCount, runLength;
  float* output;
  int64_t outputPixelStride, firstBlock, sourceRowStride, outputRowStride;
  int64_t tiles, rows;
};

// Calls tile(source, output) for every tile of the run, row by row.
template <int RW, int RH, typename Tile>
[[gnu::always_inline]] inline void forEachTile(const TileRun& run, int64_t sourcePixelStride, const Tile& tile) {
  const int64_t tiles = run.tiles, rows = run.rows;
  const int64_t sourceTileStep = RW * sourcePixelStride, outputTileStep = RW * run.outputPixelStride;
  const int64_t sourceRowStep = RH * run.sourceRowStride, outputRowStep = RH * run.outputRowStride;
  const float* sourceRow = run.source;
  float* outputRow = run.output;
  for (int64_t r = 0; r < rows; ++r, sourceRow += sourceRowStep, outputRow += outputRowStep) {
    const float* source = sourceRow;
    float* output = outputRow;
    for (int64_t t = 0; t < tiles; ++t, source += sourceTileStep, output += outputTileStep) tile(source, output);
  }
}

// RH output rows of RW pixels each (RH > 1 only for narrow outputs, where one
// row alone would reuse each weight vector for too few pixels). PS is the
// source pixel stride in floats when known at compile time (0: runtime): with
// a runtime stride the compiler needs one pointer per pixel, runs out of
// general registers and shuttles them through vector registers on the FMA
// port (~35% slower on resnet20's 16-channel layers); with a constant one
// every broadcast is a fixed displacement from one pointer.
template <typename V, int NB, int RW, int RH, int PS = 0>
void correlateTile(const DirectCorrelation& p, const TileRun& run) {
  constexpr int P = RW * RH;
  using Vec = typename V::Vec;
  // Locals: read through `run` the compiler would reload them after every
  // store to the output.
  const int64_t sourcePixelStride = PS != 0 ? PS : run.sourcePixelStride;
  const float* const weights = run.weights;
  const int64_t blockStride = run.blockStride, tapCount = run.tapCount, runLength = run.runLength;
  const int64_t* const taps = run.taps;
  const int64_t outputPixelStride = run.outputPixelStride, firstBlock = run.firstBlock;
  const int64_t sourceRowStride = run.sourceRowStride, outputRowStride = run.outputRowStride;
  forEachTile<RW, RH>(run, sourcePixelStride, [&](const float* source, float* output) __attribute__((always_inline)) {
    prefetchTileOutput<V, NB, RW, RH>(p, output, outputPixelStride, firstBlock, outputRowStride);
    prefetchNextRowSource<RW, RH, PS>(source, sourcePixelStride, taps, tapCount, runLength, sourceRowStride);
    Vec acc[P][NB];
#pragma GCC unroll 32
    for (int i = 0; i < P; ++i) {
#pragma GCC unroll 4
      for (int j = 0; j < NB; ++j) acc[i][j] = V::zero();
    }
    for (int64_t t = 0; t < tapCount; ++t) {
      const float* s = source + taps[2 * t];
      const float* w = weights + taps[2 * t + 1];
      for (int64_t c = 0; c < runLength; ++c) {
        Vec wv[NB];
#pragma GCC unroll 4
        for (int j = 0; j < NB; ++j) wv[j] = V::load(w + j * blockStride + c * V::kLanes);
#pragma GCC unroll 32
        for (int i = 0; i < P; ++i) {
          const int64_t pixel = (i % RW) * sourcePixelStride;
          const Vec x = V::broadcast(s + (i / RW) * sourceRowStride + pixel + c);
#pragma GCC unroll 4
          for (int j = 0; j < NB; ++j) acc[i][j] = V::fmadd(x, wv[j], acc[i][j]);
        }
      }
    }
    storeTile<V, NB, RW, RH>(p, acc, output, outputPixelStride, firstBlock, outputRowStride);
  });
}

// Shared-source tiles: one block of channels (NB = 1) over dense rows
// (stride 1, no dilation) of a K-wide filter with C source channels. The
// tile above broadcasts a source value per FMA when NB = 1, and the
// broadcasts, not the FMAs, set its pace (resnet20's 16-channel layers ran
// at ~67% of peak on AVX-512). Here each source value is broadcast once
// and meets the K filter columns that read it, for the K output pixels it
// belongs to: per channel, K weight loads and RW + K - 1 broadcasts feed
// K * RW FMAs. Same sums as correlateTile, added in another order.
template <typename V, int K, int C, int RW>
void correlateSharedSourceTile(const DirectCorrelation& p, const TileRun& run) {
  using Vec = typename V::Vec;
  const float* const weights = run.weights;
  const int64_t tapCount = run.tapCount;
  const int64_t* const taps = run.taps;
  const int64_t outputPixelStride = run.outputPixelStride, firstBlock = run.firstBlock;
  const int64_t outputRowStride = run.outputRowStride;
  forEachTile<RW, 1>(run, C, [&](const float* source, float* output) __attribute__((always_inline)) {
    prefetchTileOutput<V, 1, RW, 1>(p, output, outputPixelStride, firstBlock, outputRowStride);
    Vec acc[RW][1];
#pragma GCC unroll 32
    for (int i = 0; i < RW; ++i) acc[i][0] = V::zero();
    for (int64_t t = 0; t < tapCount; ++t) {
      const float* s = source + taps[2 * t];
      const float* w = weights + taps[2 * t + 1];
      for (int c = 0; c < C; ++c) {
        Vec wk[K];
#pragma GCC unroll 8
        for (int kw = 0; kw < K; ++kw) {
          wk[kw] = V::load(w + (kw * C + c) * V::kLanes);
          V::inRegister(wk[kw]);
        }
#pragma GCC unroll 40
        for (int x = 0; x < RW + K - 1; ++x) {
          Vec b = V::broadcast(s + x * C + c);
          V::inRegister(b);
#pragma GCC unroll 8
          for (int kw = 0; kw < K; ++kw) {
            const int pixel = x - kw;
            if (pixel >= 0 && pixel < RW) acc[pixel][0] = V::fmadd(b, wk[kw], acc[pixel][0]);
          }
        }
      }
    }
    storeTile<V, 1, RW, 1>(p, acc, output, outputPixelStride, firstBlock, outputRowStride);
  });
}

using CorrelateFn = void (*)(const DirectCorrelation&, const TileRun&);

template <typename V, int NB, int PS, int... W>
const CorrelateFn* correlateTable(std::integer_sequence<int, W...>) {
  static const CorrelateFn table[] = {&correlateTile<V, NB, W + 1, 1, PS>...};
  return table;
}

// Two-row tiles: NB 1 or 2, up to half the one-row width.
template <typename V, int NB, int... W>
const CorrelateFn* correlatePairTable(std::integer_sequence<int, W...>) {
  static const CorrelateFn table[] = {&correlateTile<V, NB, W + 1, 2>...};
  return table;
}

template <typename V>
CorrelateFn correlatePairKernel(int nb, int width) {
  return nb == 1 ? correlatePairTable<V, 1>(std::make_integer_sequence<int, V::kMaxTileWidth[1] / 2>())[width - 1]
                 : correlatePairTable<V, 2>(std::make_integer_sequence<int, V::kMaxTileWidth[2] / 2>())[width - 1];
}

template <typename V, int PS>
CorrelateFn correlateKernelWithStride(int nb, int width) {
  switch (nb) {
    case 1: return correlateTable<V, 1, PS>(std::make_integer_sequence<int, V::kMaxTileWidth[1]>())[width - 1];
    case 2: return correlateTable<V, 2, PS>(std::make_integer_sequence<int, V::kMaxTileWidth[2]>())[width - 1];
    case 3: return correlateTable<V, 3, PS>(std::make_integer_sequence<int, V::kMaxTileWidth[3]>())[width - 1];
    default: return correlateTable<V, 4, PS>(std::make_integer_sequence<int, V::kMaxTileWidth[4]>())[width - 1];
  }
}

// Shared-source tiles where V enables them (V::kSharedSourceTiles) and the
// registers hold RW accumulators, K weights and a broadcast; null otherwise.
template <typename V, int K, int C, int RW>
constexpr CorrelateFn sharedSourceEntry() {
  if constexpr (V::kSharedSourceTiles && RW + K + 1 <= V::kRegisters) {
    return &correlateSharedSourceTile<V, K, C, RW>;
  } else {
    return nullptr;
  }
}

template <typename V, int K, int C, int... W>
const CorrelateFn* sharedSourceTable(std::integer_sequence<int, W...>) {
  static const CorrelateFn table[] = {sharedSourceEntry<V, K, C, W + 1>()...};
  return table;
}

// For 3- and 5-wide filters over the channel counts of resnet20's stem (3)
// and stage 1 (16) and lenet5's conv2 (6); null for other shapes.
template <typename V>
CorrelateFn sharedSourceKernel(int64_t kernelW, int64_t channels, int width) {
  const auto widths = std::make_integer_sequence<int, V::kMaxTileWidth[1]>();
  if (kernelW == 3) {
    if (channels == 3) return sharedSourceTable<V, 3, 3>(widths)[width - 1];
    if (channels == 6) return sharedSourceTable<V, 3, 6>(widths)[width - 1];
    if (channels == 16) return sharedSourceTable<V, 3, 16>(widths)[width - 1];
  } else if (kernelW == 5) {
    if (channels == 3) return sharedSourceTable<V, 5, 3>(widths)[width - 1];
    if (channels == 6) return sharedSourceTable<V, 5, 6>(widths)[width - 1];
    if (channels == 16) return sharedSourceTable<V, 5, 16>(widths)[width - 1];
  }
  return nullptr;
}

// Compile-time pixel strides for resnet20's channel counts (16, 32, 64).
template <typename V>
CorrelateFn correlateKernel(int nb, int width, int64_t sourcePixelStride) {
  switch (sourcePixelStride) {
    case 16: return correlateKernelWithStride<V, 16>(nb, width);
    case 32: return correlateKernelWithStride<V, 32>(nb, width);
    case 64: return correlateKernelWithStride<V, 64>(nb, width);
    default: return correlateKernelWithStride<V, 0>(nb, width);
  }
}

// a mod m in [0, m).
int64_t residue(int64_t a, int64_t m) {
  const int64_t r = a % m;
  return r < 0 ? r + m : r;
}

// Whether filter row kh reads only zero source rows for output rows
// [oh, oh + rows): padding rows, or the rows around a spread gradient.
// Skipping them saves e.g. 8% of AlexNet's 7x7 layers (3x3, padding 1).
bool readsOnlyZeroRows(const DirectCorrelation& p, int64_t oh, int64_t rows, int64_t kh) {
  if (p.liveRowEnd <= 0) return false;
  const int64_t first = oh * p.strideH + kh * p.dilationH, last = first + (rows - 1) * p.strideH;
  return last < p.liveRowBegin || first >= p.liveRowEnd;
}

// Whether output rows [a, a + rows) and [b, b + rows) skip the same filter
// rows (readsOnlyZeroRows), so that (phaseH = 1, or a compact source with
// a - b a multiple of phaseH) their taps differ only by the row offset.
bool sameTapRows(const DirectCorrelation& p, int64_t a, int64_t b, int64_t rows) {
  if (p.liveRowEnd <= 0) return true;
  for (int64_t kh = 0; kh < p.kernelH; ++kh) {
    if (readsOnlyZeroRows(p, a, rows, kh) != readsOnlyZeroRows(p, b, rows, kh)) return false;
  }
  return true;
}

// Tile widths along a row: the driver's width, except that a tail of fewer
// than 4 pixels (too few accumulators to cover the FMA latency, so it costs
// nearly as much as a full tile) is merged with the tile before it and the
// two are split evenly: 32 pixels in 6-wide tiles run as 6,6,6,6,4,4, not
// 6,6,6,6,6,2 (~4% faster on resnet20's stage 1). Every tile but the last
// two is `width` wide.
struct RowTiles {
  int64_t tiles, width, penultimate, last;
  int64_t widthAt(int64_t tile) const {
    return tile < tiles - 2 ? width : (tile == tiles - 2 ? penultimate : last);
  }
};
RowTiles rowTiles(int64_t pixels, int64_t width) {
  const int64_t tiles = (pixels + width - 1) / width, tail = pixels - (tiles - 1) * width;
  if (tail >= 4 || tail == width || tiles < 2 || width < 4) return {tiles, width, width, tail};
  const int64_t pair = width + tail;
  return {tiles, width, pair - pair / 2, pair / 2};
}

// Output columns of one phase (every phaseW-th column from `phase`), their
// tiles, and whether filter column kw reads data there (bit kw). Columns
// past the 64th are always computed: where they read only the zeros of a
// spread gradient that is correct, only slower.
struct PhaseColumns {
  int64_t pixels;
  RowTiles tiles;
  uint64_t readingColumns;
};
// The compact source column that filter column kw reads for the first
// pixel of `phase` (one that reads data).
int64_t compactColumn(const DirectCorrelation& p, int64_t phase, int64_t kw) {
  return (phase + kw * p.dilationW - p.offsetW) / p.phaseW + p.marginLeft;
}

PhaseColumns phaseColumns(const DirectCorrelation& p, int64_t phase) {
  PhaseColumns columns{};
  columns.pixels = (p.outW - phase + p.phaseW - 1) / p.phaseW;
  columns.tiles = rowTiles(columns.pixels, p.tileWidth);
  for (int64_t kw = 0; kw < p.kernelW && kw < 64; ++kw) {
    if (p.phaseW == 1 || residue(phase * p.strideW + kw * p.dilationW - p.offsetW, p.phaseW) == 0) {
      columns.readingColumns |= uint64_t(1) << kw;
    }
  }
  return columns;
}

// The correlation tasks [firstTask, endTask) (see DirectCorrelation).
template <typename V>
void directCorrelateTasks(const DirectCorrelation& p, int64_t firstTask, int64_t endTask) {
  if (firstTask >= endTask) return;
  const int64_t blocks = (p.outC + V::kLanes - 1) / V::kLanes;
  const int64_t C = p.sourceC;
  const int64_t blockStride = p.kernelH * p.kernelW * C * V::kLanes;
  // Compact source (strides 1, see DirectCorrelation): the pixels of a
  // phase are adjacent, and the taps carry the whole row offset.
  const bool compact = p.compactPhases != 0;
  const int64_t sourcePixelStride = compact ? C : p.phaseW * p.strideW * C;
  const int64_t pixelStride = p.outputPixelStride != 0 ? p.outputPixelStride : p.outC;
  const int64_t rowStride = p.outputRowStride != 0 ? p.outputRowStride : p.outW * p.outC;
  const int64_t imageStride = p.outputImageStride != 0 ? p.outputImageStride : p.outH * p.outW * p.outC;
  const int64_t outputPixelStride = p.phaseW * pixelStride;
  const int64_t sourceRowStride = p.strideH * p.sourceW * C;
  const bool wholeRows = p.phaseW == 1 && p.dilationW == 1;
  const int64_t runLength = wholeRows ? p.kernelW * C : C;
  // Shared-source tiles need dense stride-1 rows (source pixels C floats
  // apart) and one block of channels (nb = 1); see sharedSourceKernel.
  const bool sharedSource = wholeRows && !compact && p.strideW == 1;
  int64_t taps[2 * kMaxDirectTaps];
  const int64_t tileRows = p.tileRows > 1 ? p.tileRows : 1;
  const int64_t rowTileCount = (p.outH + tileRows - 1) / tileRows;
  // What the task loop needs per phase is computed once per call, and the
  // task index is decoded once per row tile: with a row per call (the
  // per-image paths) and two phases (stride-2 backward data) the divisions
  // of the tap tests and tile widths took 10-15% of the layer.
  constexpr int64_t kCachedPhases = 4;
  PhaseColumns cached[kCachedPhases];
  for (int64_t phase = 0; phase < kCachedPhases && phase < p.phaseW && phase < p.outW; ++phase) {
    cached[phase] = phaseColumns(p, phase);
  }
  const int64_t dilationResidueH = p.dilationH % p.phaseH;
  // Row tiles share kernel calls (TileRun) where their taps differ only by
  // a whole number of source rows: consecutive row tiles of a spread or
  // padded source, and every phaseH-th row of a compact one (the rows of
  // one phase, a compact row apart).
  const bool batchesRows = p.phaseH == 1 || compact;
  const int64_t runRowStep = compact ? p.phaseH : 1;
  // Computes `runRows` row tiles from `row` on (runRowStep apart, all with
  // the taps of the first) for channel groups [firstGroup, endGroup).
  // Their taps depend on the row, not on the channel group, so they are
  // listed once for all the groups.
  const auto computeRun = [&](int64_t row, int64_t runRows, int64_t firstGroup, int64_t endGroup) {
    const int64_t img = row / rowTileCount, rowTile = row % rowTileCount;
    const int64_t oh = rowTile * tileRows;
    const int64_t rows = p.outH - oh < tileRows ? p.outH - oh : tileRows;
    const float* sourceRow = p.source + (img * p.sourceH + (compact ? 0 : oh * p.strideH)) * p.sourceW * C;
    float* outputRow = p.output + img * imageStride + oh * rowStride;
    for (int64_t phase = 0; phase < p.phaseW && phase < p.outW; ++phase) {
      const PhaseColumns columns = phase < kCachedPhases ? cached[phase] : phaseColumns(p, phase);
      int64_t tapCount = 0;
      // Filter row kh reads spread rows with data iff this residue is zero.
      int64_t rowResidue = p.phaseH == 1 ? 0 : residue(oh * p.strideH - p.offsetH, p.phaseH);
      for (int64_t kh = 0; kh < p.kernelH; ++kh) {
        const bool readsData = rowResidue == 0;
        if (p.phaseH > 1) {
          rowResidue += dilationResidueH;
          if (rowResidue >= p.phaseH) rowResidue -= p.phaseH;
        }
        if (!readsData || readsOnlyZeroRows(p, oh, rows, kh)) continue;
        const int64_t sourceRowOffset =
            compact ? ((oh + kh * p.dilationH - p.offsetH) / p.phaseH + p.marginTop) * p.sourceW * C
                    : kh * p.dilationH * p.sourceW * C;
        if (wholeRows) {
          taps[2 * tapCount] = sourceRowOffset + (compact ? compactColumn(p, phase, 0) * C : 0);
          taps[2 * tapCount + 1] = kh * p.kernelW * C * V::kLanes;
          ++tapCount;
          continue;
        }
        for (int64_t kw = 0; kw < p.kernelW; ++kw) {
          if (kw < 64 ? (columns.readingColumns >> kw & 1) == 0
                      : compact && residue(phase * p.strideW + kw * p.dilationW - p.offsetW, p.phaseW) != 0) {
            continue;
          }
          const int64_t column = compact ? compactColumn(p, phase, kw) : phase * p.strideW + kw * p.dilationW;
          taps[2 * tapCount] = sourceRowOffset + column * C;
          taps[2 * tapCount + 1] = (kh * p.kernelW + kw) * C * V::kLanes;
          ++tapCount;
        }
      }
      for (int64_t group = firstGroup; group < endGroup; ++group) {
        const int64_t firstBlock = group * p.blocksPerGroup;
        const int nb = static_cast<int>(blocks - firstBlock < p.blocksPerGroup ? blocks - firstBlock : p.blocksPerGroup);
        const float* weights = p.packedWeights + firstBlock * blockStride;
        TileRun run{};
        run.sourcePixelStride = sourcePixelStride;
        run.weights = weights;
        run.blockStride = blockStride;
        run.taps = taps;
        run.tapCount = tapCount;
        run.runLength = runLength;
        run.outputPixelStride = outputPixelStride;
        run.firstBlock = firstBlock;
        run.sourceRowStride = sourceRowStride;
        run.outputRowStride = rowStride * runRowStep;
        run.rows = runRows;
        // One call per stretch of equally wide tiles (all but the last two
        // of a row are, see RowTiles).
        for (int64_t tile = 0, first = 0; tile < columns.tiles.tiles;) {
          const int64_t width = columns.tiles.widthAt(tile);
          int64_t count = 1;
          while (tile + count < columns.tiles.tiles && columns.tiles.widthAt(tile + count) == width) ++count;
          CorrelateFn kernel = nullptr;
          if (rows == 2) kernel = correlatePairKernel<V>(nb, static_cast<int>(width));
          else if (sharedSource && nb == 1) kernel = sharedSourceKernel<V>(p.kernelW, C, static_cast<int>(width));
          if (kernel == nullptr) kernel = correlateKernel<V>(nb, static_cast<int>(width), sourcePixelStride);
          run.source = sourceRow + first * sourcePixelStride;
          run.output = outputRow + phase * pixelStride + first * outputPixelStride;
          run.tiles = count;
          kernel(p, run);
          first += width * count;
          tile += count;
        }
      }
    }
  };
  for (int64_t task = firstTask; task < endTask;) {
    const int64_t row = task / p.groups, firstGroup = task % p.groups;
    const int64_t endGroup = endTask - row * p.groups < p.groups ? endTask - row * p.groups : p.groups;
    const int64_t img = row / rowTileCount;
    // The whole row tiles (every channel group) of this image from `row`
    // on in [firstTask, endTask): runs of rows with the same taps.
    const int64_t imageEnd = (img + 1) * rowTileCount, callEnd = endTask / p.groups;
    const int64_t wholeEnd = imageEnd < callEnd ? imageEnd : callEnd;
    if (!batchesRows || firstGroup != 0 || wholeEnd <= row + 1) {
      computeRun(row, 1, firstGroup, endGroup);
      task = row * p.groups + endGroup;
      continue;
    }
    const auto rowsOf = [&](int64_t r) {
      const int64_t oh = (r % rowTileCount) * tileRows;
      return p.outH - oh < tileRows ? p.outH - oh : tileRows;
    };
    for (int64_t first = row; first < row + runRowStep && first < wholeEnd; ++first) {
      for (int64_t start = first; start < wholeEnd;) {
        const int64_t oh = (start % rowTileCount) * tileRows, rows = rowsOf(start);
        int64_t runRows = 1;
        for (int64_t next = start + runRowStep; next < wholeEnd && rowsOf(next) == rows &&
                                                 sameTapRows(p, oh, (next % rowTileCount) * tileRows, rows);
             next += runRowStep) {
          ++runRows;
        }
        computeRun(start, runRows, 0, p.groups);
        start += runRows * runRowStep;
      }
    }
    task = wholeEnd * p.groups;
  }
}

}  // namespace
}  // namespace kiln
