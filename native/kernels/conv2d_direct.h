// Internal to the conv2d kernels: the plain-data descriptions of work that the
// portable driver (conv2d_direct.cpp: packing, padding, threading) hands to
// each ISA's direct kernels (conv2d_direct_avx512.cpp, conv2d_direct_avx2.cpp)
// and channel-planar kernels (conv2d_planar_avx512.cpp, conv2d_planar_avx2.cpp).
// Only PODs here, so that no code compiled with an ISA's flags is shared with
// portable callers.
#pragma once

#include <cstdint>

namespace kiln {

// output[img, oh, ow, c] = act(bias[c] + sum over kh, kw, s of
//   source[img, oh*strideH + kh*dilationH, ow*strideW + kw*dilationW, s] * weights)
// where source is already zero-padded (no bounds checks in the kernel) and
// packedWeights is [ceil(outC/L)][kH][kW][sourceC][L] (zero beyond outC), L
// the kernel set's lanes (16 for AVX-512, 8 for AVX2).
// Tasks: one per (img, oh, group of blocksPerGroup channel blocks).
// A stride-spread source (backward data) has data only in rows r with
// (r - offsetH) % phaseH == 0 (likewise columns); the kernel then skips the
// taps that read zeros by computing output columns one phase at a time.
// phaseH = phaseW = 1, offsets 0 for a dense source.
constexpr int64_t kMaxDirectTaps = 256;
struct DirectCorrelation {
  const float* source;
  int64_t images, sourceH, sourceW, sourceC;
  const float* packedWeights;
  int64_t kernelH, kernelW, strideH, strideW, dilationH, dilationW;
  float* output;
  int64_t outH, outW, outC;
  const float* bias;
  int relu;
  int64_t phaseH, phaseW, offsetH, offsetW;
  int64_t blocksPerGroup, groups, tileWidth;
  // Where output pixel (img, oh, ow) starts, in floats: img * outputImageStride
  // + oh * outputRowStride + ow * outputPixelStride; zero means dense NHWC.
  int64_t outputImageStride, outputRowStride, outputPixelStride;
  // Output rows per task (1 or 2; 2 only with dense sources, phaseH = phaseW
  // = 1, blocksPerGroup <= 2 and tileWidth <= half the one-row maximum).
  int64_t tileRows;
  // Nonzero: output += the correlation (bias and relu ignored). Only for
  // kernel sets whose `accumulates` is true.
  int accumulate;
  // Each image's source rows outside [liveRowBegin, liveRowEnd) are zero
  // (padding, or the rows around a spread gradient), so a kernel may skip
  // the filter rows whose taps read only those; liveRowEnd = 0: all rows live.
  int64_t liveRowBegin, liveRowEnd;
  // Nonzero (only for kernel sets whose `compactsPhases` is true, and with
  // strideH = strideW = 1): the source is the gradient not spread out but
  // compact, zero-padded by marginTop rows and marginLeft columns, and
  // sourceH x sourceW is its size. Spread row q (one with data: (q -
  // offsetH) % phaseH == 0) is compact row (q - offsetH) / phaseH +
  // marginTop, likewise for columns; the live rows above stay in spread
  // rows. A stride-2 gradient is a quarter the size of its spread form.
  int compactPhases;
  int64_t marginTop, marginLeft;
  // Nonzero: each tile requests its output lines before its sums (kernel
  // sets that do; see conv2d_direct_avx2.cpp). Set for images whose output
  // outgrows L2, where the stores otherwise wait for each line.
  int prefetchOutput;
};

// gradFilter[kh, kw, ci, co] (+)= sum over img, oh, ow of
//   source[img, oh*strideH + kh*dilationH, ow*strideW + kw*dilationW, ci] * gradOutput[img, oh, ow, co]
// A filter row kh is cut into `segments` runs of segmentLength consecutive
// (kw, ci) entries that are also consecutive in the source (all of kW*C when
// dilationW == 1, else one kw per segment), and each run into tiles of
// tileRows entries. Tasks: one per (kh, segment, tile, group of channel blocks).
struct DirectFilterGradient {
  const float* source;
  int64_t images, sourceH, sourceW, sourceC;
  const float* gradOutput;
  int64_t outH, outW, outC;
  int64_t kernelH, kernelW, strideH, strideW, dilationH, dilationW;
  float* gradFilter;
  int accumulate;
  int64_t segmentLength, segments, tileRows, tilesPerSegment, blocksPerGroup, groups;
  // The source is zero outside rows [liveRowBegin, liveRowEnd) and columns
  // [liveColumnBegin, liveColumnEnd) (its padding), so a kernel may skip the
  // output pixels whose taps read only zeros; liveRowEnd = 0: all live.
  int64_t liveRowBegin, liveRowEnd, liveColumnBegin, liveColumnEnd;
  // Nonzero (only for kernel sets whose `readsUnpadded` is true; liveRowEnd
  // set): the padding is not stored. `source` holds only the live rows and
  // columns (the layer's input itself, (liveRowEnd - liveRowBegin) x
  // (liveColumnEnd - liveColumnBegin) pixels per image), and the kernel
  // reads no pixel outside them.
  int unpadded;
  // Floats from one source pixel to the next (0: sourceC). Only for kernel
  // sets whose `stridesSourcePixels` is true, and with one filter column per
  // segment (segmentLength = sourceC): a padded copy can space its pixels
  // out so that they do not all fall in the same few L1 sets.
  int64_t sourcePixelStride;
  // Floats from one gradOutput pixel to the next (0: outC), under the same
  // condition: a copy of the gradient can be spaced out likewise.
  int64_t gradPixelStride;
  // Only output rows [rowBegin, rowEnd) contribute (rowEnd = 0: all). Only
  // for kernel sets whose `chunksRows` is true: an image whose gradient
  // outgrows L2 is summed a band of rows at a time, every tile over one
  // band before the next, instead of every tile streaming the whole image.
  int64_t rowBegin, rowEnd;
  // Nonzero (only where the kernel set's spansFilterRows says so): each
  // tile holds the whole filter, kernelH filter rows of segmentLength
  // entries (segments = tilesPerSegment = 1, tileRows = kernelH *
  // segmentLength), so each gradient vector is loaded once per pixel
  // instead of once per filter row; tasks are the channel groups. The
  // source is padded (not unpadded): the tiles run over every output pixel.
  int wholeFilterTiles;
  // Nonzero (only for kernel sets with maxEntryTileRows > 0, one channel
  // group whose outC is a multiple of 8 and at most lanes): the tiles hold
  // their sums with the lanes along the filter entries instead of the
  // channels (see filterGradientEntryTile), tileRows <= maxEntryTileRows.
  int entryTiles;
  // Non-null (only with wholeFilterTiles where the kernel set's
  // wholeFilterEntries says so): the tiles also sum gradOutput over their
  // pixels per channel into biasSums[0, outC), overwriting or adding as
  // they do gradFilter.
  float* biasSums;
};

// Backward data of a layer with a 3-wide filter, column stride 2 and no
// dilation (ResNet's downsampling 3x3 convolutions), the gradient read in
// place (AVX-512; see conv2d_column_pairs_avx512.cpp). A tile is W pairs
// of gradInput pixels (2j, 2j + 1) of one row and one block of 16 channels;
// each gradient value is broadcast once and meets the three filter
// columns' weight vectors, one FMA into each pixel it reaches:
// gradInput[img, y, x, c] (+)= sum over kh, kw, o of
//   gradOutput[img, oy, ox, o] * filter[kh, kw, c, o]
// where y + padTop - kh = oy * strideH and x + padLeft - kw = 2 * ox, over
// the gradient pixels that exist. packedWeights: [c / 16][kernelH][3][gradC][16]
// (zero past inC). `zeros`: gradC zero floats, read in place of gradient
// pixels outside the image. Tasks: one per (img, y).
constexpr int64_t kMaxColumnPairsPadLeft = 2;
constexpr int64_t kMaxColumnPairsTile = 12;  // pixel pairs: 24 accumulators + 3 weights + 1 broadcast
struct ColumnPairsCorrelation {
  const float* gradOutput;
  int64_t images, gradH, gradW, gradC;
  const float* packedWeights;
  int64_t kernelH, strideH, padTop, padLeft;
  float* gradInput;
  int64_t inH, inW, inC;
  const float* zeros;
  int64_t tilePairs;
  int accumulate;
};

// Backward data of a strided 1x1 layer (ResNet's projections), AVX-512
// (see conv2d_pointwise_pairs_avx512.cpp): with the gradient's channels
// taken two at a time, one broadcast of a channel pair feeds the FMAs of
// 8 gradInput channels x 2 gradient channels per vector:
// gradInput[img, y * strideH, x * strideW, c] (+)= sum over o of
//   gradOutput[img, y, x, o] * filter[c, o]
// and (unless accumulate) every other gradInput pixel is zeroed, row by row
// beside the sums. packedWeights: per block of 16 gradInput channels, per
// pair of gradient channels (o, o + 1), two vectors h = 0, 1 whose lane 2m
// + k holds filter[c, o + k] for c = 16 * block + 4 * (m / 2) + 2h + m % 2
// (zero past inC and gradC): the order in which the pair sums come out of
// the final shuffles is the channels' own. Tasks: one per (img, y).
constexpr int64_t kMaxPointwisePairsBlocks = 2;
struct PointwisePairsCorrelation {
  const float* gradOutput;
  int64_t images, gradH, gradW, gradC;
  const float* packedWeights;
  float* gradInput;
  int64_t inH, inW, inC, strideH, strideW;
  int accumulate;
};

// Channel-planar variants for layers with few output channels (fewer than a
// vector): the lanes run along the output width instead of the channels, in
// groups of 16 columns (one zmm, or two ymm halves on AVX2).
// source is [images][sourceH][sourceC][sourceW] (each channel's row
// contiguous), zero-padded so that every vector the kernels read exists:
// sourceW >= ceil(outW / 16) * 16 + (kernelW - 1) * dilationW. Stride 1 along
// the width only.
//
// output[img, oh, ow, o] (NHWC) = act(bias[o] + sum over kh, kw, c of
//   source[img, oh*strideH + kh*dilationH, c, ow + kw*dilationW] * weights[kh, kw, c, o])
// weights [kH][kW][sourceC][outC] (HWIO), outC <= kMaxPlanarChannels.
// Tasks: one per (img, tile of rowsPerTile output rows, group of
// vectorsPerTile 16-column vectors).
constexpr int64_t kMaxPlanarChannels = 8;
struct PlanarCorrelation {
  const float* source;
  int64_t images, sourceH, sourceC, sourceW;
  const float* weights;
  int64_t kernelH, kernelW, strideH, dilationH, dilationW;
  float* output;
  int64_t outH, outW, outC;
  const float* bias;
  int relu;
  int64_t rowsPerTile, rowTiles, vectorsPerTile, columnGroups;
  // As in DirectCorrelation: source rows outside [liveRowBegin, liveRowEnd)
  // are zero and may be skipped; liveRowEnd = 0: all rows live.
  int64_t liveRowBegin, liveRowEnd;
};

// gradFilter[kh, kw, c, o] (+)= sum over img, oh, ow of
//   source[img, oh*strideH + kh*dilationH, c, ow + kw*dilationW] * gradOutput[img, oh, o, ow]
// with gradOutput planar too: [images][outH][outC][gradOutputW], zero past
// outW (gradOutputW = ceil(outW / 16) * 16), outC <= kMaxPlanarChannels.
// The (kh, kw, c) taps are cut into tiles of tapsPerTile; one task per tile.
struct PlanarFilterGradient {
  const float* source;
  int64_t images, sourceH, sourceC, sourceW;
  const float* gradOutput;
  int64_t outH, outC, gradOutputW;
  int64_t kernelH, kernelW, strideH, dilationH, dilationW;
  float* gradFilter;
  int accumulate;
  int64_t tapsPerTile, tapTiles;
};

// dst[img, q, c, x] = src[img, q - rowOffset, x - columnOffset, c] for an
// NHWC src [images][H][W][C], zero where that is outside src. Tasks: one per
// dst row (images * dstH of them).
struct PlanarCopy {
  const float* src;
  int64_t images, H, W, C;
  float* dst;
  int64_t dstH, dstW, rowOffset, columnOffset;
  // Nonzero: dst's columns outside the image are zero already (a slot
  // zeroed once and reused image after image), so a kernel may write only
  // the image's own columns.
  int bordersZero;
};

// One ISA's direct kernels and the register-tile limits the driver must
// respect: lanes output channels per block (weights are packed in blocks of
// `lanes`), at most maxBlocksPerGroup blocks per tile, and for NB blocks at
// most maxTileWidth[NB] pixels (correlation) or maxTileRows[NB] filter rows
// (filter gradient); two-row correlation tiles are allowed for NB <= 2 up to
// half the one-row width.
struct DirectKernelSet {
  int64_t lanes;
  int64_t maxBlocksPerGroup;
  int64_t maxTileWidth[5];
  int64_t maxTileRows[5];
  void (*correlate)(const DirectCorrelation& work, int64_t firstTask, int64_t endTask);
  void (*filterGradient)(const DirectFilterGradient& work, int64_t firstTask, int64_t endTask);
  // The correlation honours DirectCorrelation::accumulate.
  bool accumulates;
  // The correlation honours DirectCorrelation::compactPhases.
  bool compactsPhases;
  // The filter gradient honours DirectFilterGradient::unpadded.
  bool readsUnpadded;
  // The filter gradient honours DirectFilterGradient::sourcePixelStride and
  // gradPixelStride.
  bool stridesSourcePixels;
  // The filter gradient honours DirectFilterGradient::rowBegin / rowEnd.
  bool chunksRows;
  // Whether the filter gradient has whole-filter tiles
  // (DirectFilterGradient::wholeFilterTiles) for kernelH filter rows of
  // segmentLength entries and nb channel blocks.
  bool (*spansFilterRows)(int64_t kernelH, int64_t segmentLength, int64_t nb, int64_t outC);
  // Whether those whole-filter tiles run along the filter entries (lanes
  // = entries, channels broadcast) for kernelH x segmentLength entries and
  // outC channels: for few channels, where a tile along the channels would
  // leave most lanes idle (and the channel-planar path is slower too).
  bool (*wholeFilterEntries)(int64_t kernelH, int64_t segmentLength, int64_t outC);
  // Most entries per filter-gradient tile with DirectFilterGradient::
  // entryTiles; 0: the filter gradient has no such tiles.
  int64_t maxEntryTileRows;
};

#if defined(__x86_64__)
void conv2dDirectCorrelateAvx2(const DirectCorrelation& work, int64_t firstTask, int64_t endTask);
void conv2dDirectFilterGradientAvx2(const DirectFilterGradient& work, int64_t firstTask, int64_t endTask);
void conv2dToPlanarAvx2(const PlanarCopy& work, int64_t firstTask, int64_t endTask);
void conv2dPlanarCorrelateAvx2(const PlanarCorrelation& work, int64_t firstTask, int64_t endTask);
void conv2dPlanarFilterGradientAvx2(const PlanarFilterGradient& work, int64_t firstTask, int64_t endTask);
void conv2dPlanarCorrelateAvx512(const PlanarCorrelation& work, int64_t firstTask, int64_t endTask);
void conv2dPlanarFilterGradientAvx512(const PlanarFilterGradient& work, int64_t firstTask, int64_t endTask);
void conv2dDirectCorrelateAvx512(const DirectCorrelation& work, int64_t firstTask, int64_t endTask);
void conv2dDirectFilterGradientAvx512(const DirectFilterGradient& work, int64_t firstTask, int64_t endTask);
void conv2dPointwisePairsCorrelateAvx512(const PointwisePairsCorrelation& work, int64_t firstTask, int64_t endTask);
void conv2dColumnPairsCorrelateAvx512(const ColumnPairsCorrelation& work, int64_t firstTask, int64_t endTask);
bool conv2dDirectSpansFilterRowsAvx2(int64_t kernelH, int64_t segmentLength, int64_t nb, int64_t outC);
bool conv2dDirectSpansFilterRowsAvx512(int64_t kernelH, int64_t segmentLength, int64_t nb, int64_t outC);
bool conv2dDirectWholeFilterEntriesAvx2(int64_t kernelH, int64_t segmentLength, int64_t outC);
bool conv2dDirectWholeFilterEntriesAvx512(int64_t kernelH, int64_t segmentLength, int64_t outC);
#endif

}  // namespace kiln
