// Portable half of the direct convolution path: weight repacking, zero-padded
// source buffers and threading; the arithmetic is in conv2d_direct_tiles.h,
// compiled per ISA by conv2d_direct_avx512.cpp and conv2d_direct_avx2.cpp.
//
// Workspace: [packed weights][source chunk]. Packed weights are
// [blocks of L output channels][kH][kW][source channels][L] (zero-filled past
// the last channel; L = 16 for AVX-512, 8 for AVX2) so one aligned load gives
// L output channels of one tap.
// The source chunk holds a few whole images, zero-padded so the kernels need
// no bounds checks:
//   forward, backward filter: input padded by padTop/Bottom/Left/Right
//   (the filter gradient reads the input itself, see
//   DirectFilterGradient::unpadded);
//   backward data: gradOutput spread out by the stride ("transposed conv")
//   and padded so that a stride-1 correlation with the flipped filter gives
//   gradInput directly (strided: compact instead of spread, see
//   DirectCorrelation::compactPhases; with AVX-512, 3-wide filters at
//   column stride 2 read the gradient in place instead, see
//   ColumnPairsCorrelation).
#include <algorithm>
#include <atomic>
#include <cstring>

#include "../runtime/cpu_features.h"
#include "../runtime/thread_pool.h"
#include "../runtime/work_dealer.h"
#include "conv2d_direct.h"
#include "conv2d_paths.h"

namespace kiln {
namespace {

constexpr int64_t kSourceChunkFloats = int64_t(1) << 18;  // 1 MiB of padded or spread images per pass
// Source plus gradient output that one filter-gradient pass over the tiles
// reads (256 KiB: half of a Zen 3 L2, a quarter of a Skylake-SP one).
constexpr int64_t kFilterGradientPassFloats = int64_t(1) << 16;
// Multiply-adds per correlation call in the per-image paths (see
// correlatePerImage): with more rows per call the kernels batch more row
// tiles per tile call (TileRun), list their taps and decode task ranges
// less often, and the next image is prefetched in fewer, larger requests.
// 2^18 rather than 2^16 took resnet20's stride-2 3x3 backward data from
// one row a call to seven (1.07-1.15x on Zen 3); 2^22 (a whole image for
// every resnet20 and lenet5 layer and alexnet-s conv1, still a row for
// alexnet-s conv2-5) against 2^18 on Zen 5, two runs of alternating calls
// on 1 and 2 threads: the stride-2 3x3 backward data 1.05-1.13x (stage 2)
// and 1.11-1.20x (stage 3), alexnet-s conv1 forward 1.13x (2 threads); the
// other layers 0.95-1.08x, as far as passes this does not touch (the
// filter gradients) moved in the same runs.
constexpr int64_t kMinCallMacs = int64_t(1) << 22;
// Output floats per image above which correlation tiles prefetch their
// output lines (DirectCorrelation::prefetchOutput): a quarter of a Zen 3 L2.
constexpr int64_t kPrefetchOutputFloats = int64_t(1) << 15;

#if defined(__x86_64__)
// Register-tile limits: 32 zmm registers for AVX-512, 16 ymm for AVX2 (see
// the kernel files).
constexpr DirectKernelSet kDirectKernelsAvx512{
    16, 4, {0, 28, 14, 8, 6}, {0, 24, 12, 8, 6}, conv2dDirectCorrelateAvx512, conv2dDirectFilterGradientAvx512,
    true, true, true, true, true, conv2dDirectSpansFilterRowsAvx512, conv2dDirectWholeFilterEntriesAvx512, 48};
constexpr DirectKernelSet kDirectKernelsAvx2{
    8, 2, {0, 12, 6, 4, 2}, {0, 12, 6, 4, 2}, conv2dDirectCorrelateAvx2, conv2dDirectFilterGradientAvx2, true, true,
    true, true, true, conv2dDirectSpansFilterRowsAvx2, conv2dDirectWholeFilterEntriesAvx2, 0};

const DirectKernelSet& kernels() { return activeIsa() == Isa::Avx512 ? kDirectKernelsAvx512 : kDirectKernelsAvx2; }
int64_t lanes() { return kernels().lanes; }

// One ISA's channel-planar kernels (few channels along the vector) and the
// register budget their tiles must fit: a correlation tile of R rows x V
// 16-column vectors x OC channels holds R * V * registersPerVector * OC
// accumulators, a filter-gradient tile of T taps x OC channels T * OC (one
// 8- or 16-column partial sum each); plus the operand set the kernel keeps
// in registers and one streamed operand (see the kernel files).
struct PlanarKernelSet {
  int64_t registers;
  int64_t registersPerVector;  // one zmm, or two ymm halves
  // Whether the kernels keep the smaller of the two operand sets (source
  // vectors or broadcasts / gradient vectors) in registers; if not, always
  // the source vectors (correlation) and the gradient vectors (filter gradient).
  bool holdsSmaller;
  int64_t maxVectors, maxRows, maxTaps;
  // Most output channels for which the planar filter gradient is used.
  int64_t maxFilterGradientChannels;
  // Whether the filter gradient splits the batch by threads, each
  // transposing its images one at a time (see backwardFilterPlanar),
  // instead of transposing a chunk of images up front and splitting by tiles.
  bool perImageFilterGradient;
  void (*toPlanar)(const PlanarCopy& work, int64_t firstTask, int64_t endTask);
  void (*correlate)(const PlanarCorrelation& work, int64_t firstTask, int64_t endTask);
  void (*filterGradient)(const PlanarFilterGradient& work, int64_t firstTask, int64_t endTask);
};
// The AVX-512 set copies with AVX2's planar copy (see conv2d_planar_avx2.cpp).
constexpr PlanarKernelSet kPlanarKernelsAvx512{32, 1, true, 2, 6, 10, kMaxPlanarChannels, true, conv2dToPlanarAvx2,
                                               conv2dPlanarCorrelateAvx512, conv2dPlanarFilterGradientAvx512};
// One vector per tile: with 16 registers a second vector fits only for 1-3
// channels, and there one vector with more rows holds as many or more
// accumulators.
// Filter gradient for at most 4 channels: with 5-8 the channels-last
// kernels fill 5-8 of their 8 lanes and the transposition of the gradient
// is repaid at best (lenet5 conv1) or not at all. Batch 64, GFLOP/s on 1 / 2
// threads, channels-last vs planar: 16x16x16->6 3x3 34 vs 28 / 63 vs 50,
// 32x32x3->6 3x3 27 vs 21 / 48 vs 36, 16x16x8->8 3x3 44 vs 22 / 80 vs 42,
// lenet5 conv1 (1->6 5x5) 25 vs 26 / 48 vs 50; with fewer channels:
// 28x28x1->3 5x5 13 vs 20 / 21 vs 33, 16x16x16->2 3x3 11 vs 16 / 21 vs 28,
// 32x32x3->4 3x3 19 vs 18 / 36 vs 36.
constexpr PlanarKernelSet kPlanarKernelsAvx2{16, 2, true, 1, 6, 10, 4, true, conv2dToPlanarAvx2,
                                             conv2dPlanarCorrelateAvx2, conv2dPlanarFilterGradientAvx2};

bool planarKernels() { return activeIsa() == Isa::Avx512 || activeIsa() == Isa::Avx2; }
const PlanarKernelSet& planarKernelSet() {
  return activeIsa() == Isa::Avx512 ? kPlanarKernelsAvx512 : kPlanarKernelsAvx2;
}
#endif

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

#if defined(__x86_64__)
// Asks for share `part` of `parts` equal shares of [base, base + floats) in
// L2 ahead of use. Called once per task of the current image for the next
// image's data, the lines stream in behind the arithmetic instead of
// stalling the next image's padding copy and first stores. write: lines to
// be stored to, so they arrive owned instead of being read for ownership at
// the store.
void prefetchShare(const float* base, int64_t floats, int64_t part, int64_t parts, bool write) {
  const int64_t share = ceilDiv(floats, parts * 16) * 16;
  const int64_t first = std::min(part * share, floats), last = std::min(first + share, floats);
  for (int64_t i = first; i < last; i += 16) {
    if (write) __builtin_prefetch(base + i, 1, 2);
    else __builtin_prefetch(base + i, 0, 2);
  }
}

// dst image i, pixel p at dst + i * imageStride + p * pixelStride = the C
// floats of src's pixel p of image i (dense NHWC); the floats between are
// left as they are (never read).
void spacePixels(const float* src, int64_t images, int64_t pixels, int64_t C, int64_t imageStride,
                 int64_t pixelStride, float* dst) {
  parallelFor(images * pixels, 64, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      const int64_t image = k / pixels, pixel = k % pixels;
      std::memcpy(dst + image * imageStride + pixel * pixelStride, src + k * C, static_cast<size_t>(C) * sizeof(float));
    }
  });
}

// gradFilter += each of `partials` (at firstPartial + k * stride), in order:
// the per-thread or per-run partial sums of the image-split filter
// gradients, added in a fixed order so the result is too.
void addPartials(float* gradFilter, int64_t count, const float* firstPartial, int64_t stride, int64_t partials) {
  for (int64_t k = 0; k < partials; ++k) {
    const float* partial = firstPartial + k * stride;
    for (int64_t i = 0; i < count; ++i) gradFilter[i] += partial[i];
  }
}
#endif

int64_t paddedH(const Conv2DShape& s) { return s.inH + s.padTop + s.padBottom; }
int64_t paddedW(const Conv2DShape& s) { return s.inW + s.padLeft + s.padRight; }
int64_t spreadH(const Conv2DShape& s) { return s.inH + (s.kernelH - 1) * s.dilationH; }
int64_t spreadW(const Conv2DShape& s) { return s.inW + (s.kernelW - 1) * s.dilationW; }

int64_t packedWeightFloats(const Conv2DShape& s) {
  const int64_t forward = ceilDiv(s.outC, 16) * s.inC;
  const int64_t backward = ceilDiv(s.inC, 16) * s.outC;
  const int64_t channelPairs = ceilDiv(s.inC, 16) * 2 * ceilDiv(s.outC, 2);  // PointwisePairsCorrelation
  return 16 * std::max(s.kernelH * s.kernelW * std::max(forward, backward), channelPairs);
}

// The gradient of a strided layer for backward data without spreading it
// (DirectCorrelation::compactPhases): gradOutput with `before` zero rows
// (columns) in front and as many after as the correlation reads.
struct CompactAxis {
  int64_t before, size;
};
// Spread rows run over [0, spreadLength); the one at offset + k * stride
// holds gradient row k.
CompactAxis compactAxis(int64_t spreadLength, int64_t offset, int64_t stride) {
  // Compact index of spread row q with data: (q - offset) / stride + before,
  // for q from the first to the last row with data in [0, spreadLength).
  const int64_t before = offset > 0 ? offset / stride : 0;
  // spreadLength - 1 - offset = input length - 1 + padding before >= 0.
  const int64_t last = (spreadLength - 1 - offset) / stride;
  return {before, before + last + 1};
}
CompactAxis compactRows(const Conv2DShape& s) {
  return compactAxis(spreadH(s), (s.kernelH - 1) * s.dilationH - s.padTop, s.strideH);
}
CompactAxis compactColumns(const Conv2DShape& s) {
  return compactAxis(spreadW(s), (s.kernelW - 1) * s.dilationW - s.padLeft, s.strideW);
}

int64_t sourceFloatsPerImage(const Conv2DShape& s) {
  const int64_t compact = compactRows(s).size * compactColumns(s).size * s.outC;
  return std::max({paddedH(s) * paddedW(s) * s.inC, spreadH(s) * spreadW(s) * s.outC, compact});
}

int64_t imagesPerChunk(const Conv2DShape& s) {
  return std::max<int64_t>(1, std::min(s.batch, kSourceChunkFloats / sourceFloatsPerImage(s)));
}

// Rounded to a whole cache line so the source chunk stays 64-byte aligned.
int64_t packedRegionFloats(const Conv2DShape& s) { return ceilDiv(packedWeightFloats(s), 16) * 16; }

// Blocks of L = lanes() output channels (the packed size above is computed
// for 16, which bounds it for every L).
void packForwardWeights(const Conv2DShape& s, const float* filter, float* packed, int64_t L) {
  const int64_t taps = s.kernelH * s.kernelW;
  parallelFor(ceilDiv(s.outC, L), 1, [&](int64_t begin, int64_t end) {
    for (int64_t block = begin; block < end; ++block) {
      float* dst = packed + block * taps * s.inC * L;
      const int64_t valid = std::min<int64_t>(L, s.outC - block * L);
      for (int64_t row = 0; row < taps * s.inC; ++row, dst += L) {
        const float* src = filter + row * s.outC + block * L;
        for (int64_t l = 0; l < L; ++l) dst[l] = l < valid ? src[l] : 0.0f;
      }
    }
  });
}

// Flipped taps, channels swapped: packed[block of ci][kH-1-kh][kW-1-kw][co][ci%L].
void packBackwardDataWeights(const Conv2DShape& s, const float* filter, float* packed, int64_t L) {
  const int64_t taps = s.kernelH * s.kernelW;
  parallelFor(ceilDiv(s.inC, L), 1, [&](int64_t begin, int64_t end) {
    for (int64_t block = begin; block < end; ++block) {
      const int64_t valid = std::min<int64_t>(L, s.inC - block * L);
      for (int64_t tap = 0; tap < taps; ++tap) {
        const int64_t flipped = taps - 1 - tap;
        float* dst = packed + (block * taps + tap) * s.outC * L;
        const float* src = filter + (flipped * s.inC + block * L) * s.outC;
        for (int64_t co = 0; co < s.outC; ++co, dst += L) {
          for (int64_t l = 0; l < L; ++l) dst[l] = l < valid ? src[l * s.outC + co] : 0.0f;
        }
      }
    }
  });
}

bool isUnpadded(const Conv2DShape& s) {
  return s.padTop == 0 && s.padBottom == 0 && s.padLeft == 0 && s.padRight == 0;
}

// An unpadded input is its own padded source: no copy.
const float* paddedSource(const Conv2DShape& s, const float* input, int64_t images, float* dst);

// One image's padded rows [firstRow, endRow) of the Hp x Wp x C source, its
// pixels pixelStride floats apart (0: C, rows copied whole; more: the floats
// past the C channels are zeroed, never read).
void padImageRows(const Conv2DShape& s, const float* image, int64_t firstRow, int64_t endRow, float* dst,
                  int64_t pixelStride = 0) {
  const int64_t Wp = paddedW(s), C = s.inC, P = pixelStride != 0 ? pixelStride : C;
  for (int64_t row = firstRow; row < endRow; ++row) {
    const int64_t ih = row - s.padTop;
    float* out = dst + row * Wp * P;
    if (ih < 0 || ih >= s.inH) {
      std::memset(out, 0, static_cast<size_t>(Wp * P) * sizeof(float));
      continue;
    }
    std::memset(out, 0, static_cast<size_t>(s.padLeft * P) * sizeof(float));
    if (P == C) {
      std::memcpy(out + s.padLeft * C, image + ih * s.inW * C, static_cast<size_t>(s.inW * C) * sizeof(float));
    } else {
      for (int64_t iw = 0; iw < s.inW; ++iw) {
        float* pixel = out + (s.padLeft + iw) * P;
        std::memcpy(pixel, image + (ih * s.inW + iw) * C, static_cast<size_t>(C) * sizeof(float));
        std::memset(pixel + C, 0, static_cast<size_t>(P - C) * sizeof(float));
      }
    }
    std::memset(out + (s.padLeft + s.inW) * P, 0, static_cast<size_t>(s.padRight * P) * sizeof(float));
  }
}

void padInput(const Conv2DShape& s, const float* input, int64_t images, float* dst, int64_t pixelStride = 0) {
  const int64_t Hp = paddedH(s), imageFloats = Hp * paddedW(s) * (pixelStride != 0 ? pixelStride : s.inC);
  parallelFor(images * Hp, 8, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end;) {
      const int64_t img = row / Hp, last = std::min(end, (img + 1) * Hp);
      padImageRows(s, input + img * s.inH * s.inW * s.inC, row - img * Hp, last - img * Hp, dst + img * imageFloats,
                   pixelStride);
      row = last;
    }
  });
}

// spread[img, q, r, :] = gradOutput[img, oh, ow, :] where q = oh*strideH +
// (kH-1)*dilationH - padTop (likewise r), zero elsewhere.
void spreadImage(const Conv2DShape& s, const float* gradOutput, float* dst) {
  const int64_t Hs = spreadH(s), Ws = spreadW(s), C = s.outC, outH = s.outH(), outW = s.outW();
  const int64_t offH = (s.kernelH - 1) * s.dilationH - s.padTop;
  const int64_t offW = (s.kernelW - 1) * s.dilationW - s.padLeft;
  const size_t pixelBytes = static_cast<size_t>(C) * sizeof(float);
  for (int64_t q = 0; q < Hs; ++q) {
    const int64_t th = q - offH;
    float* out = dst + q * Ws * C;
    const int64_t oh = th / s.strideH;
    if (th < 0 || th % s.strideH != 0 || oh >= outH) {
      std::memset(out, 0, pixelBytes * static_cast<size_t>(Ws));
      continue;
    }
    const float* src = gradOutput + oh * outW * C;
    for (int64_t r = 0; r < Ws; ++r) {
      const int64_t tw = r - offW, ow = tw / s.strideW;
      if (tw < 0 || tw % s.strideW != 0 || ow >= outW) std::memset(out + r * C, 0, pixelBytes);
      else std::memcpy(out + r * C, src + ow * C, pixelBytes);
    }
  }
}

// dst[img, r, c, :] = gradOutput[img, r - rows.before, c - columns.before, :],
// zero outside gradOutput; rows.size x columns.size pixels.
void compactImage(const Conv2DShape& s, const float* gradOutput, const CompactAxis& rows, const CompactAxis& columns,
                  float* dst) {
  const int64_t C = s.outC, outH = s.outH(), outW = s.outW();
  const int64_t rowFloats = columns.size * C;
  const int64_t copied = std::max<int64_t>(0, std::min(outW, columns.size - columns.before));
  for (int64_t r = 0; r < rows.size; ++r) {
    const int64_t oh = r - rows.before;
    float* out = dst + r * rowFloats;
    if (oh < 0 || oh >= outH) {
      std::memset(out, 0, static_cast<size_t>(rowFloats) * sizeof(float));
      continue;
    }
    std::memset(out, 0, static_cast<size_t>(columns.before * C) * sizeof(float));
    std::memcpy(out + columns.before * C, gradOutput + oh * outW * C, static_cast<size_t>(copied * C) * sizeof(float));
    const int64_t after = columns.size - columns.before - copied;
    std::memset(out + (columns.before + copied) * C, 0, static_cast<size_t>(after * C) * sizeof(float));
  }
}

const float* paddedSource(const Conv2DShape& s, const float* input, int64_t images, float* dst) {
  if (isUnpadded(s)) return input;
  padInput(s, input, images, dst);
  return dst;
}

#if defined(__x86_64__)
int64_t blocksPerGroup(int64_t channels) {
  return std::min(kernels().maxBlocksPerGroup, ceilDiv(channels, lanes()));
}
#endif

int64_t balancedTile(int64_t length, int64_t maximum) { return ceilDiv(length, ceilDiv(length, maximum)); }

#if defined(__x86_64__)
// Channel blocks per correlation tile for outputs `width` pixels wide. With
// AVX2's 16 registers a tile holds at most 12 accumulators: 6 pixels x 2
// blocks, or 4 x 3. Where the row is too narrow to fill 6 pixels per tile
// anyway (resnet20's 8-wide stage 3 gets 4 + 4), three blocks per tile do
// 12 FMAs per step instead of 8, if the blocks split into groups of 3 and
// 2 (not a lone block).
int64_t correlationBlocksPerGroup(int64_t channels, int64_t width) {
  const DirectKernelSet& set = kernels();
  const int64_t nb = blocksPerGroup(channels), blocks = ceilDiv(channels, set.lanes);
  if (set.lanes == 8 && nb == 2 && blocks >= 3 && blocks % 3 != 1 &&
      balancedTile(width, set.maxTileWidth[2]) <= set.maxTileWidth[3]) {
    return 3;
  }
  return nb;
}
#endif

// Channel-planar path (few output channels): see conv2d_direct.h.
int64_t roundUp16(int64_t n) { return ceilDiv(n, 16) * 16; }
int64_t planarForwardW(const Conv2DShape& s) {
  return std::max(paddedW(s), roundUp16(s.outW()) + (s.kernelW - 1) * s.dilationW);
}
int64_t planarBackwardDataW(const Conv2DShape& s) {
  return std::max(spreadW(s), roundUp16(s.inW) + (s.kernelW - 1) * s.dilationW);
}

#if defined(__x86_64__)
bool usePlanarForward(const Conv2DShape& s) {
  return planarKernels() && s.outC <= kMaxPlanarChannels && s.strideW == 1;
}
bool usePlanarBackwardData(const Conv2DShape& s) {
  return planarKernels() && s.inC <= kMaxPlanarChannels && s.strideH == 1 && s.strideW == 1;
}
// 3-wide filters at column stride 2 (ResNet's downsampling 3x3
// convolutions), AVX-512: see ColumnPairsCorrelation.
bool useColumnPairsBackwardData(const Conv2DShape& s) {
  return activeIsa() == Isa::Avx512 && s.kernelW == 3 && s.strideW == 2 && s.dilationH == 1 && s.dilationW == 1 &&
         s.padLeft <= kMaxColumnPairsPadLeft;
}
// Not where the channels-last path has whole-filter tiles along the filter
// entries (AVX-512, small filters over few channels): lenet5 conv1's planar
// filter gradient spent ~30% of its time transposing the gradient.
bool usePlanarBackwardFilter(const Conv2DShape& s) {
  if (s.dilationW == 1 && kernels().wholeFilterEntries(s.kernelH, s.kernelW * s.inC, s.outC)) return false;
  return usePlanarForward(s) && s.outC <= planarKernelSet().maxFilterGradientChannels;
}
#endif

int64_t planarFloatsPerImage(const Conv2DShape& s) {
  const int64_t forward = paddedH(s) * s.inC * planarForwardW(s);
  const int64_t gradOutput = s.outH() * s.outC * roundUp16(s.outW());
  const int64_t backwardData = spreadH(s) * s.outC * planarBackwardDataW(s);
  return std::max(forward + gradOutput, backwardData);
}

int64_t planarImagesPerChunk(const Conv2DShape& s) {
  return std::max<int64_t>(1, std::min(s.batch, kSourceChunkFloats / planarFloatsPerImage(s)));
}

#if defined(__x86_64__)
void toPlanar(const float* src, int64_t images, int64_t H, int64_t W, int64_t C, float* dst, int64_t dstH,
              int64_t dstW, int64_t rowOffset, int64_t columnOffset) {
  const PlanarCopy work{src, images, H, W, C, dst, dstH, dstW, rowOffset, columnOffset, 0};
  const auto copy = planarKernelSet().toPlanar;
  parallelFor(images * dstH, 4, [&](int64_t begin, int64_t end) { copy(work, begin, end); });
}

// One image, on the calling thread.
void toPlanarHere(const float* src, int64_t H, int64_t W, int64_t C, float* dst, int64_t dstH, int64_t dstW,
                  int64_t rowOffset, int64_t columnOffset) {
  const PlanarCopy work{src, 1, H, W, C, dst, dstH, dstW, rowOffset, columnOffset, 0};
  planarKernelSet().toPlanar(work, 0, dstH);
}

// Whether `vectors` (source vectors or taps) x `channels` accumulators, the
// held operand set and one streamed operand fit; `fixedHeld` is the set
// held when the kernels do not pick the smaller one.
bool planarFits(const PlanarKernelSet& set, int64_t vectors, int64_t channels, int64_t fixedHeld) {
  const int64_t held = set.holdsSmaller ? std::min(vectors, channels) : fixedHeld;
  return vectors * channels + held + 1 <= set.registers;
}

// Largest row tile that fits (at least 1: the AVX2 kernels split a tile
// that does not, see conv2d_planar_avx2.cpp).
int64_t planarRows(const PlanarKernelSet& set, int64_t channels, int64_t vectors) {
  int64_t rows = set.maxRows;
  while (rows > 1) {
    const int64_t sources = rows * vectors * set.registersPerVector;
    if (planarFits(set, sources, channels, sources)) break;
    --rows;
  }
  return rows;
}

// Largest filter-gradient tap tile that fits (at least 1).
int64_t planarTaps(const PlanarKernelSet& set, int64_t channels) {
  int64_t taps = set.maxTaps;
  while (taps > 1 && !planarFits(set, taps, channels, channels)) --taps;
  return taps;
}

void planPlanarTiles(PlanarCorrelation& work) {
  const PlanarKernelSet& set = planarKernelSet();
  const int64_t vectors = ceilDiv(work.outW, 16);
  work.vectorsPerTile = std::min(set.maxVectors, vectors);
  work.columnGroups = ceilDiv(vectors, work.vectorsPerTile);
  work.rowsPerTile = balancedTile(work.outH, planarRows(set, work.outC, work.vectorsPerTile));
  work.rowTiles = ceilDiv(work.outH, work.rowsPerTile);
}

void runPlanarCorrelation(PlanarCorrelation& work) {
  planPlanarTiles(work);
  const auto correlate = planarKernelSet().correlate;
  parallelFor(work.images * work.rowTiles * work.columnGroups, 1, [&](int64_t begin, int64_t end) {
    correlate(work, begin, end);
  });
}

// Where one image of the planar source comes from: `copy` with images = 1
// and src / dst unset, the NHWC image at src + img * imageFloats.
struct PlanarSourceImages {
  const float* src;
  int64_t imageFloats;
  PlanarCopy copy;
};

int64_t planarSlotFloats(const PlanarCopy& copy) { return roundUp16(copy.dstH * copy.C * copy.dstW); }

// Whether each thread can have a slot of the region of regionFloats.
bool planarSlotsFit(const PlanarCopy& copy, int64_t batch, int64_t regionFloats) {
  return std::min<int64_t>(numThreads(), batch) * planarSlotFloats(copy) <= regionFloats;
}

// The whole batch in one parallel pass, split by images: each thread
// transposes its images one at a time into its own slot and runs all of an
// image's tiles while the slot is hot in L1/L2 (lenet5 conv2's spread
// gradient is 23 KiB per image), instead of transposing a chunk of images
// (1 MiB, written to and read back from L3) before a parallel correlation.
// The slot is zeroed once; per image only the rows that hold data are
// rewritten, the padding rows stay zero. Every image gets the same tiles
// whatever the thread count, and whichever thread computes it: the threads
// take the images one at a time from a WorkDealer (each its own share
// first, then the others' leftovers), so one that runs slower (another
// guest on the core, an interrupt) does fewer instead of holding up the
// job's end.
void correlatePlanarPerImage(PlanarCorrelation work, int64_t batch, const PlanarSourceImages& images,
                             int64_t outputImageFloats, float* slots) {
  planPlanarTiles(work);
  work.images = 1;
  const PlanarKernelSet& set = planarKernelSet();
  const PlanarCopy& geometry = images.copy;
  const int64_t slotFloats = planarSlotFloats(geometry);
  const int64_t firstRow = std::max<int64_t>(0, geometry.rowOffset);
  const int64_t endRow = std::min(geometry.dstH, geometry.rowOffset + geometry.H);
  const int64_t tiles = work.rowTiles * work.columnGroups;
  float* const output = work.output;
  const int threads = static_cast<int>(std::min<int64_t>(numThreads(), batch));
  WorkDealer dealer(batch, threads);
  parallelTasks(threads, [&](int task, int) {
    float* slot = slots + task * slotFloats;
    std::memset(slot, 0, static_cast<size_t>(slotFloats) * sizeof(float));
    PlanarCopy copy = geometry;
    copy.dst = slot;
    copy.bordersZero = 1;  // zeroed above, and only the image's pixels are rewritten
    PlanarCorrelation one = work;
    one.source = slot;
    for (int64_t img = dealer.next(task); img < batch;) {
      // The image after this one is taken now, so that its input can be
      // prefetched while this one is computed.
      const int64_t upcoming = dealer.next(task);
      copy.src = images.src + img * images.imageFloats;
      if (firstRow < endRow) set.toPlanar(copy, firstRow, endRow);
      one.output = output + img * outputImageFloats;
      if (upcoming < batch) {
        prefetchShare(images.src + upcoming * images.imageFloats, images.imageFloats, 0, 1, false);
      }
      set.correlate(one, 0, tiles);
      img = upcoming;
    }
  });
}

void forwardPlanar(const Conv2DShape& s, const float* input, const float* filter, const float* bias,
                   FusedActivation activation, float* output, float* source) {
  const int64_t chunk = planarImagesPerChunk(s), outH = s.outH(), outW = s.outW();
  const int64_t Hp = paddedH(s), Wp = planarForwardW(s);
  const PlanarSourceImages perImage{input, s.inH * s.inW * s.inC,
                                    PlanarCopy{nullptr, 1, s.inH, s.inW, s.inC, nullptr, Hp, Wp, s.padTop, s.padLeft, 0}};
  const bool slotsFit = planarSlotsFit(perImage.copy, s.batch, chunk * planarFloatsPerImage(s));
  for (int64_t n0 = 0; n0 < s.batch; n0 += chunk) {
    const int64_t images = std::min(chunk, s.batch - n0);
    if (!slotsFit) {
      toPlanar(input + n0 * s.inH * s.inW * s.inC, images, s.inH, s.inW, s.inC, source, Hp, Wp, s.padTop, s.padLeft);
    }
    PlanarCorrelation work{};
    work.source = source;
    work.images = images;
    work.sourceH = Hp;
    work.sourceC = s.inC;
    work.sourceW = Wp;
    work.weights = filter;
    work.kernelH = s.kernelH;
    work.kernelW = s.kernelW;
    work.strideH = s.strideH;
    work.dilationH = s.dilationH;
    work.dilationW = s.dilationW;
    work.output = output + n0 * outH * outW * s.outC;
    work.outH = outH;
    work.outW = outW;
    work.outC = s.outC;
    work.bias = bias;
    work.relu = activation == FusedActivation::Relu ? 1 : 0;
    work.liveRowBegin = s.padTop;
    work.liveRowEnd = s.padTop + s.inH;
    if (slotsFit) {
      correlatePlanarPerImage(work, s.batch, perImage, outH * outW * s.outC, source);
      return;
    }
    runPlanarCorrelation(work);
  }
}

// Stride 1: gradInput is the correlation of gradOutput, padded by
// (kernel - 1) * dilation - pad, with the flipped, channel-swapped filter.
void backwardDataPlanar(const Conv2DShape& s, const float* gradOutput, const float* filter, float* gradInput,
                        float* packed, float* source) {
  const int64_t taps = s.kernelH * s.kernelW;
  for (int64_t tap = 0; tap < taps; ++tap) {
    const float* src = filter + (taps - 1 - tap) * s.inC * s.outC;
    float* dst = packed + tap * s.outC * s.inC;
    for (int64_t co = 0; co < s.outC; ++co) {
      for (int64_t ci = 0; ci < s.inC; ++ci) dst[co * s.inC + ci] = src[ci * s.outC + co];
    }
  }
  const int64_t chunk = planarImagesPerChunk(s), outH = s.outH(), outW = s.outW();
  const int64_t Hs = spreadH(s), Ws = planarBackwardDataW(s);
  const int64_t offH = (s.kernelH - 1) * s.dilationH - s.padTop;
  const int64_t offW = (s.kernelW - 1) * s.dilationW - s.padLeft;
  const PlanarSourceImages perImage{gradOutput, outH * outW * s.outC,
                                    PlanarCopy{nullptr, 1, outH, outW, s.outC, nullptr, Hs, Ws, offH, offW, 0}};
  const bool slotsFit = planarSlotsFit(perImage.copy, s.batch, chunk * planarFloatsPerImage(s));
  for (int64_t n0 = 0; n0 < s.batch; n0 += chunk) {
    const int64_t images = std::min(chunk, s.batch - n0);
    if (!slotsFit) {
      toPlanar(gradOutput + n0 * outH * outW * s.outC, images, outH, outW, s.outC, source, Hs, Ws, offH, offW);
    }
    PlanarCorrelation work{};
    work.source = source;
    work.images = images;
    work.sourceH = Hs;
    work.sourceC = s.outC;
    work.sourceW = Ws;
    work.weights = packed;
    work.kernelH = s.kernelH;
    work.kernelW = s.kernelW;
    work.strideH = 1;
    work.dilationH = s.dilationH;
    work.dilationW = s.dilationW;
    work.output = gradInput + n0 * s.inH * s.inW * s.inC;
    work.outH = s.inH;
    work.outW = s.inW;
    work.outC = s.inC;
    work.bias = nullptr;
    work.relu = 0;
    work.liveRowBegin = offH;  // stride 1: gradOutput's rows land on [offH, offH + outH)
    work.liveRowEnd = offH + outH;
    if (slotsFit) {
      correlatePlanarPerImage(work, s.batch, perImage, s.inH * s.inW * s.inC, source);
      return;
    }
    runPlanarCorrelation(work);
  }
}

void backwardFilterPlanar(const Conv2DShape& s, const float* input, const float* gradOutput, float* gradFilter,
                          float* source) {
  const int64_t chunk = planarImagesPerChunk(s), outH = s.outH(), outW = s.outW();
  const int64_t Hp = paddedH(s), Wp = planarForwardW(s), G = roundUp16(outW);
  float* planarGrad = source + roundUp16(chunk * Hp * s.inC * Wp);  // aligned rows when G allows
  PlanarFilterGradient work{};
  work.sourceH = Hp;
  work.sourceC = s.inC;
  work.sourceW = Wp;
  work.outH = outH;
  work.outC = s.outC;
  work.gradOutputW = G;
  work.kernelH = s.kernelH;
  work.kernelW = s.kernelW;
  work.strideH = s.strideH;
  work.dilationH = s.dilationH;
  work.dilationW = s.dilationW;
  work.gradFilter = gradFilter;
  const int64_t taps = s.kernelH * s.kernelW * s.inC;
  const PlanarKernelSet& set = planarKernelSet();
  work.tapsPerTile = balancedTile(taps, planarTaps(set, s.outC));
  work.tapTiles = ceilDiv(taps, work.tapsPerTile);
  // AVX2: split by images: each thread transposes its images one at a time
  // into its own slot and walks every tap tile over each while it is in
  // L1/L2, summing into its own partial filter gradient (the first thread's
  // is gradFilter itself); the partials are added in thread order, so the
  // result is fixed for a thread count. With the tiles split between the
  // threads, each walking the whole chunk from L3: 28x28x1->3 5x5, 32x32x3->4
  // 3x3 and 16x16x16->2 3x3 ran 11-29% slower on 2 threads (36 vs 40, 28 vs
  // 35, 23 vs 30 GFLOP/s), 1-16% on 1. Passes of several images (256 KiB,
  // in L2) were no faster than one.
  const int64_t sourceSlot = roundUp16(Hp * s.inC * Wp), gradSlot = roundUp16(outH * s.outC * G);
  const int64_t slotFloats = sourceSlot + gradSlot + roundUp16(taps * s.outC);
  const int64_t threads = std::min<int64_t>(numThreads(), s.batch);
  if (set.perImageFilterGradient && threads * slotFloats <= chunk * planarFloatsPerImage(s)) {
    const int64_t imageFloats = s.inH * s.inW * s.inC, gradFloats = outH * outW * s.outC;
    int used = 1;
    parallelTasks(static_cast<int>(threads), [&](int task, int taskCount) {
      if (task == 0) used = taskCount;
      float* slot = source + task * slotFloats;
      PlanarFilterGradient one = work;
      one.source = slot;
      one.gradOutput = slot + sourceSlot;
      one.images = 1;
      one.gradFilter = task == 0 ? gradFilter : slot + sourceSlot + gradSlot;
      const int64_t first = s.batch * task / taskCount, last = s.batch * (task + 1) / taskCount;
      for (int64_t img = first; img < last; ++img) {
        toPlanarHere(input + img * imageFloats, s.inH, s.inW, s.inC, slot, Hp, Wp, s.padTop, s.padLeft);
        toPlanarHere(gradOutput + img * gradFloats, outH, outW, s.outC, slot + sourceSlot, outH, G, 0, 0);
        one.accumulate = img == first ? 0 : 1;
        if (img + 1 == last) {
          set.filterGradient(one, 0, work.tapTiles);
          continue;
        }
        // One tile at a time, each prefetching its share of the next
        // image's input and gradient.
        for (int64_t tile = 0; tile < work.tapTiles; ++tile) {
          prefetchShare(input + (img + 1) * imageFloats, imageFloats, tile, work.tapTiles, false);
          prefetchShare(gradOutput + (img + 1) * gradFloats, gradFloats, tile, work.tapTiles, false);
          set.filterGradient(one, tile, tile + 1);
        }
      }
    });
    addPartials(gradFilter, taps * s.outC, source + slotFloats + sourceSlot + gradSlot, slotFloats, used - 1);
    return;
  }
  for (int64_t n0 = 0; n0 < s.batch; n0 += chunk) {
    const int64_t images = std::min(chunk, s.batch - n0);
    toPlanar(input + n0 * s.inH * s.inW * s.inC, images, s.inH, s.inW, s.inC, source, Hp, Wp, s.padTop, s.padLeft);
    toPlanar(gradOutput + n0 * outH * outW * s.outC, images, outH, outW, s.outC, planarGrad, outH, G, 0, 0);
    work.source = source;
    work.gradOutput = planarGrad;
    work.images = images;
    work.accumulate = n0 == 0 ? 0 : 1;
    parallelFor(work.tapTiles, 1, [&](int64_t begin, int64_t end) {
      set.filterGradient(work, begin, end);
    });
  }
}
#endif

// 1x1, unpadded, strided (ResNet projections): every gradOutput pixel feeds
// exactly one input pixel, the others get zero; no stride-spread copy.
bool isStridedPointwise(const Conv2DShape& s) {
  return s.kernelH == 1 && s.kernelW == 1 && isUnpadded(s) && (s.strideH > 1 || s.strideW > 1);
}

#if defined(__x86_64__)
// Narrow outputs (AlexNet's 7x7): one row reuses each weight vector for too
// few pixels and the weights stream from L2; two rows of two blocks reuse it
// 2 * outW times.
bool usePairRows(const DirectCorrelation& work) {
  return work.phaseH == 1 && work.phaseW == 1 && work.outH > 1 && blocksPerGroup(work.outC) >= 2 &&
         2 * work.outW <= kernels().maxTileWidth[2];
}

void runCorrelation(DirectCorrelation& work) {
  const DirectKernelSet& set = kernels();
  int64_t nb = correlationBlocksPerGroup(work.outC, ceilDiv(work.outW, work.phaseW));
  work.tileRows = 1;
  if (usePairRows(work)) {
    nb = 2;
    work.tileRows = 2;
  }
  work.blocksPerGroup = nb;
  work.groups = ceilDiv(ceilDiv(work.outC, set.lanes), nb);
  work.tileWidth = balancedTile(ceilDiv(work.outW, work.phaseW), set.maxTileWidth[nb] / work.tileRows);
  work.prefetchOutput = work.outH * work.outW * work.outC >= kPrefetchOutputFloats ? 1 : 0;
  parallelFor(work.images * ceilDiv(work.outH, work.tileRows) * work.groups, 1, [&](int64_t begin, int64_t end) {
    set.correlate(work, begin, end);
  });
}

// Whether correlatePerImage gives each image to one thread (with fewer
// images, threads split an image's tasks, and each prepares it).
bool takesWholeImages(int64_t batch) { return batch >= 2 * static_cast<int64_t>(numThreads()); }

// The whole batch in one parallel pass: each thread takes whole images from
// a WorkDealer (with few images: a fixed contiguous range of (image,
// row tile, channel group) tasks) and prepares the source of each image it
// touches (padding, stride spreading or the compact gradient) into its own
// slot of the workspace just before use, while it is hot in L2, instead of a
// separate parallel copy of a chunk of images followed by a barrier. Every
// output pixel gets the same tile whoever computes it and whatever the
// thread count. sourceImages / sourceImageFloats: the per-image input that
// prepare(img) reads, prefetched (with the output) for the thread's next image.
template <typename Prepare>
void correlatePerImage(DirectCorrelation& work, int64_t batch, int64_t slotFloats, float* slots,
                       int64_t outputImageFloats, const float* sourceImages, int64_t sourceImageFloats,
                       const Prepare& prepare) {
  const DirectKernelSet& set = kernels();
  work.tileRows = 1;
  const int64_t nb = correlationBlocksPerGroup(work.outC, ceilDiv(work.outW, work.phaseW));
  work.blocksPerGroup = nb;
  work.groups = ceilDiv(ceilDiv(work.outC, set.lanes), nb);
  work.tileWidth = balancedTile(ceilDiv(work.outW, work.phaseW), set.maxTileWidth[nb]);
  work.prefetchOutput = outputImageFloats >= kPrefetchOutputFloats ? 1 : 0;
  const int64_t perImage = work.outH * work.groups;
  const int64_t total = batch * perImage;
  float* const output = work.output;
  const int threads = numThreads();
  // Tasks per kernel call: whole rows, at least kMinCallMacs multiply-adds
  // a call. Each call lists its rows' taps and decodes its task range; with
  // short rows (resnet20's stem: 14K multiply-adds a row, 3 input
  // channels) that setup took ~11% of the layer at a row per call.
  const int64_t rowMacs = work.outW * work.outC * work.kernelH * work.kernelW * work.sourceC /
                          (work.phaseH * work.phaseW);
  const int64_t rowsPerCall = std::max<int64_t>(1, std::min(work.outH, kMinCallMacs / std::max<int64_t>(1, rowMacs)));
  const int64_t callTasks = rowsPerCall * work.groups;
  // One image at a time from a WorkDealer where there are enough
  // images (see correlatePlanarPerImage): a thread that runs slower does
  // fewer instead of holding up the job's end.
  if (takesWholeImages(batch)) {
    WorkDealer dealer(batch, threads);
    parallelTasks(threads, [&](int task, int) {
      float* slot = slots + task * slotFloats;
      DirectCorrelation one = work;
      one.images = 1;
      for (int64_t img = dealer.next(task); img < batch;) {
        const int64_t upcoming = dealer.next(task);  // taken now, so its data can be prefetched
        one.source = prepare(img, slot);
        one.output = output + img * outputImageFloats;
        if (upcoming >= batch) {
          set.correlate(one, 0, perImage);
          break;
        }
        const float* nextSource = sourceImages + upcoming * sourceImageFloats;
        const float* nextOutput = output + upcoming * outputImageFloats;
        for (int64_t k = 0; k < perImage; k += callTasks) {
          const int64_t callEnd = std::min(perImage, k + callTasks);
          for (int64_t share = k; share < callEnd; ++share) {
            prefetchShare(nextSource, sourceImageFloats, share, perImage, false);
            prefetchShare(nextOutput, outputImageFloats, share, perImage, true);
          }
          set.correlate(one, k, callEnd);
        }
        img = upcoming;
      }
    });
    return;
  }
  parallelTasks(threads, [&](int task, int taskCount) {
    const int64_t begin = total * task / taskCount, end = total * (task + 1) / taskCount;
    float* slot = slots + task * slotFloats;
    for (int64_t t = begin; t < end;) {
      const int64_t img = t / perImage, last = std::min(end, (img + 1) * perImage);
      DirectCorrelation one = work;
      one.source = prepare(img, slot);
      one.images = 1;
      one.output = output + img * outputImageFloats;
      if (end <= (img + 1) * perImage) {
        set.correlate(one, t - img * perImage, last - img * perImage);
        t = last;
        continue;
      }
      // This thread computes the next image too: one task at a time, each
      // prefetching its share of that image.
      const float* nextSource = sourceImages + (img + 1) * sourceImageFloats;
      const float* nextOutput = output + (img + 1) * outputImageFloats;
      for (; t < last;) {
        // Whole rows' channel groups at a time (they share the row's taps).
        const int64_t k = t - img * perImage;
        const int64_t rowEnd = std::min(last - img * perImage, (k / work.groups + rowsPerCall) * work.groups);
        for (int64_t share = k; share < rowEnd; ++share) {
          prefetchShare(nextSource, sourceImageFloats, share, perImage, false);
          prefetchShare(nextOutput, outputImageFloats, share, perImage, true);
        }
        set.correlate(one, k, rowEnd);
        t += rowEnd - k;
      }
    }
  });
}

// Strided 1x1 gradInput, AVX-512: see PointwisePairsCorrelation (packed:
// its weights). Against the correlation below, alternating calls on Zen 5,
// 1 / 2 threads: resnet20's stage-2 projection 0.96-0.99x / 1.08-1.09x,
// stage 3 1.03-1.09x / 1.10-1.11x. Both are bound by the stores of the
// zeros (3 MiB and 1.5 MiB a batch of 64) as much as by the arithmetic.
void backwardDataPointwisePairs(const Conv2DShape& s, const float* gradOutput, const float* filter, float* gradInput,
                                bool accumulate, float* packed) {
  const int64_t blocks = ceilDiv(s.inC, 16), pairs = ceilDiv(s.outC, 2);
  parallelFor(blocks * pairs, 16, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      const int64_t block = k / pairs, pair = k % pairs;
      float* dst = packed + k * 32;
      for (int64_t h = 0; h < 2; ++h) {
        for (int64_t lane = 0; lane < 16; ++lane) {
          const int64_t m = lane / 2, o = 2 * pair + lane % 2;
          const int64_t c = 16 * block + 4 * (m / 2) + 2 * h + m % 2;
          dst[h * 16 + lane] = c < s.inC && o < s.outC ? filter[c * s.outC + o] : 0.0f;
        }
      }
    }
  });
  PointwisePairsCorrelation work{};
  work.gradOutput = gradOutput;
  work.images = s.batch;
  work.gradH = s.outH();
  work.gradW = s.outW();
  work.gradC = s.outC;
  work.packedWeights = packed;
  work.gradInput = gradInput;
  work.inH = s.inH;
  work.inW = s.inW;
  work.inC = s.inC;
  work.strideH = s.strideH;
  work.strideW = s.strideW;
  work.accumulate = accumulate ? 1 : 0;
  parallelFor(s.batch * work.gradH, work.gradH, [&](int64_t begin, int64_t end) {
    conv2dPointwisePairsCorrelateAvx512(work, begin, end);
  });
}

// Strided 1x1 gradInput, AVX2: the pixels no gradOutput pixel reaches are
// zero. Per image (where correlatePerImage takes whole images, see there)
// the whole image is zeroed, one memset, just before the correlation writes
// the reached pixels over it while its lines are in L1/L2. A separate pass
// over the batch first wrote 4 MiB (the stage-2 projection) out to L3, and
// a memset per unreached pixel (16 or 32 floats) took a quarter of the layer.
// slots: any workspace (unused: the source is gradOutput itself).
void backwardDataStridedPointwise(const Conv2DShape& s, const float* gradOutput, const float* packed,
                                  float* gradInput, bool accumulate, float* slots) {
  const int64_t imageFloats = s.inH * s.inW * s.inC, gradFloats = s.outH() * s.outW() * s.outC;
  const bool zeroPerImage = !accumulate && takesWholeImages(s.batch);  // accumulating: they gain nothing
  const auto zeroImages = [&](int64_t first, int64_t count) {
    std::memset(gradInput + first * imageFloats, 0, static_cast<size_t>(count * imageFloats) * sizeof(float));
  };
  if (!accumulate && !zeroPerImage) zeroImages(0, s.batch);
  DirectCorrelation work{};
  work.accumulate = accumulate ? 1 : 0;
  work.images = s.batch;
  work.sourceH = s.outH();
  work.sourceW = s.outW();
  work.sourceC = s.outC;
  work.packedWeights = packed;
  work.kernelH = work.kernelW = 1;
  work.strideH = work.strideW = 1;
  work.dilationH = work.dilationW = 1;
  work.output = gradInput;
  work.outH = s.outH();
  work.outW = s.outW();
  work.outC = s.inC;
  work.phaseH = work.phaseW = 1;
  work.outputImageStride = imageFloats;
  work.outputRowStride = s.strideH * s.inW * s.inC;
  work.outputPixelStride = s.strideW * s.inC;
  correlatePerImage(work, s.batch, 0, slots, imageFloats, gradOutput, gradFloats,
                    [&](int64_t img, float*) -> const float* {
                      if (zeroPerImage) zeroImages(img, 1);
                      return gradOutput + img * gradFloats;
                    });
}

// Per-thread slots fit in the chunk region (one-row tiles only, see runCorrelation) of the workspace.
bool fitsPerImage(const Conv2DShape& s, const DirectCorrelation& work) {
  return numThreads() <= imagesPerChunk(s) && !usePairRows(work);
}
#endif

}  // namespace

bool conv2dDirectAvailable(const Conv2DShape& s) {
#if defined(__x86_64__)
  return (activeIsa() == Isa::Avx512 || activeIsa() == Isa::Avx2) && s.kernelH * s.kernelW <= kMaxDirectTaps;
#else
  return false;
#endif
}

size_t conv2dDirectWorkspaceFloats(const Conv2DShape& s) {
  const int64_t chunk = std::max(imagesPerChunk(s) * sourceFloatsPerImage(s),
                                 planarImagesPerChunk(s) * planarFloatsPerImage(s) + 16);
  return static_cast<size_t>(packedRegionFloats(s) + chunk);
}

#if defined(__x86_64__)
void conv2dForwardDirect(const Conv2DShape& s, const float* input, const float* filter, const float* bias,
                         FusedActivation activation, float* output, float* workspace) {
  float* packed = workspace;
  float* source = workspace + packedRegionFloats(s);
  if (usePlanarForward(s)) {
    forwardPlanar(s, input, filter, bias, activation, output, source);
    return;
  }
  packForwardWeights(s, filter, packed, lanes());
  const int64_t chunk = imagesPerChunk(s), outH = s.outH(), outW = s.outW();
  for (int64_t n0 = 0; n0 < s.batch; n0 += chunk) {
    const int64_t images = std::min(chunk, s.batch - n0);
    DirectCorrelation work{};
    work.images = images;
    work.sourceH = paddedH(s);
    work.sourceW = paddedW(s);
    work.sourceC = s.inC;
    work.packedWeights = packed;
    work.kernelH = s.kernelH;
    work.kernelW = s.kernelW;
    work.strideH = s.strideH;
    work.strideW = s.strideW;
    work.dilationH = s.dilationH;
    work.dilationW = s.dilationW;
    work.output = output + n0 * outH * outW * s.outC;
    work.outH = outH;
    work.outW = outW;
    work.outC = s.outC;
    work.bias = bias;
    work.relu = activation == FusedActivation::Relu ? 1 : 0;
    work.phaseH = work.phaseW = 1;
    work.liveRowBegin = s.padTop;
    work.liveRowEnd = s.padTop + s.inH;
    if (n0 == 0 && fitsPerImage(s, work)) {
      const int64_t imageFloats = s.inH * s.inW * s.inC;
      const bool unpadded = isUnpadded(s);
      correlatePerImage(work, s.batch, sourceFloatsPerImage(s), source, outH * outW * s.outC, input, imageFloats,
                        [&](int64_t img, float* slot) -> const float* {
                          if (unpadded) return input + img * imageFloats;
                          padImageRows(s, input + img * imageFloats, 0, paddedH(s), slot);
                          return slot;
                        });
      return;
    }
    work.source = paddedSource(s, input + n0 * s.inH * s.inW * s.inC, images, source);
    runCorrelation(work);
  }
}

bool conv2dDirectBackwardDataAccumulates(const Conv2DShape& s) {
  return kernels().accumulates && !usePlanarBackwardData(s);
}

// packed: [ci / 16][kh][kw][co][16] (ColumnPairsCorrelation); zeros: outC floats.
void backwardDataColumnPairs(const Conv2DShape& s, const float* gradOutput, const float* filter, float* gradInput,
                             bool accumulate, float* packed, float* zeros) {
  const int64_t blocks = ceilDiv(s.inC, 16);
  parallelFor(blocks * s.kernelH * 3, 1, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      const int64_t block = k / (s.kernelH * 3), tap = k % (s.kernelH * 3);
      float* dst = packed + k * s.outC * 16;
      for (int64_t co = 0; co < s.outC; ++co, dst += 16) {
        for (int64_t l = 0; l < 16; ++l) {
          const int64_t ci = block * 16 + l;
          dst[l] = ci < s.inC ? filter[(tap * s.inC + ci) * s.outC + co] : 0.0f;
        }
      }
    }
  });
  std::memset(zeros, 0, static_cast<size_t>(s.outC) * sizeof(float));
  ColumnPairsCorrelation work{};
  work.gradOutput = gradOutput;
  work.images = s.batch;
  work.gradH = s.outH();
  work.gradW = s.outW();
  work.gradC = s.outC;
  work.packedWeights = packed;
  work.kernelH = s.kernelH;
  work.strideH = s.strideH;
  work.padTop = s.padTop;
  work.padLeft = s.padLeft;
  work.gradInput = gradInput;
  work.inH = s.inH;
  work.inW = s.inW;
  work.inC = s.inC;
  work.zeros = zeros;
  work.tilePairs = balancedTile(ceilDiv(s.inW, 2), kMaxColumnPairsTile);
  work.accumulate = accumulate ? 1 : 0;
  parallelFor(s.batch * s.inH, s.inH, [&](int64_t begin, int64_t end) {
    conv2dColumnPairsCorrelateAvx512(work, begin, end);
  });
}

void conv2dBackwardDataDirect(const Conv2DShape& s, const float* gradOutput, const float* filter, float* gradInput,
                              float* workspace, bool accumulate) {
  float* packed = workspace;
  float* source = workspace + packedRegionFloats(s);
  if (useColumnPairsBackwardData(s)) {
    backwardDataColumnPairs(s, gradOutput, filter, gradInput, accumulate, packed, source);
    return;
  }
  if (usePlanarBackwardData(s)) {
    backwardDataPlanar(s, gradOutput, filter, gradInput, packed, source);
    return;
  }
  if (isStridedPointwise(s) && activeIsa() == Isa::Avx512) {
    backwardDataPointwisePairs(s, gradOutput, filter, gradInput, accumulate, packed);
    return;
  }
  packBackwardDataWeights(s, filter, packed, lanes());
  if (isStridedPointwise(s)) {
    backwardDataStridedPointwise(s, gradOutput, packed, gradInput, accumulate, source);
    return;
  }
  const int64_t chunk = imagesPerChunk(s), outH = s.outH(), outW = s.outW();
  for (int64_t n0 = 0; n0 < s.batch; n0 += chunk) {
    const int64_t images = std::min(chunk, s.batch - n0);
    DirectCorrelation work{};
    work.images = images;
    work.sourceH = spreadH(s);
    work.sourceW = spreadW(s);
    work.sourceC = s.outC;
    work.packedWeights = packed;
    work.kernelH = s.kernelH;
    work.kernelW = s.kernelW;
    work.strideH = 1;
    work.strideW = 1;
    work.dilationH = s.dilationH;
    work.dilationW = s.dilationW;
    work.output = gradInput + n0 * s.inH * s.inW * s.inC;
    work.outH = s.inH;
    work.outW = s.inW;
    work.outC = s.inC;
    work.bias = nullptr;
    work.relu = 0;
    work.accumulate = accumulate ? 1 : 0;
    work.phaseH = s.strideH;
    work.phaseW = s.strideW;
    work.offsetH = (s.kernelH - 1) * s.dilationH - s.padTop;
    work.offsetW = (s.kernelW - 1) * s.dilationW - s.padLeft;
    // spreadImage puts gradOutput row oh at spread row offsetH + oh * strideH.
    work.liveRowBegin = std::max<int64_t>(0, work.offsetH);
    work.liveRowEnd = work.offsetH + (outH - 1) * s.strideH + 1;
    // Strided: the kernels read the gradient compact instead of spread
    // (a quarter of the copy and of the cache footprint at stride 2).
    const CompactAxis rows = compactRows(s), columns = compactColumns(s);
    const bool compact = kernels().compactsPhases && (s.strideH > 1 || s.strideW > 1);
    if (compact) {
      work.compactPhases = 1;
      work.sourceH = rows.size;
      work.sourceW = columns.size;
      work.marginTop = rows.before;
      work.marginLeft = columns.before;
    }
    const auto prepare = [&](const float* image, float* dst) {
      if (compact) compactImage(s, image, rows, columns, dst);
      else spreadImage(s, image, dst);
    };
    if (n0 == 0 && fitsPerImage(s, work)) {
      correlatePerImage(work, s.batch, sourceFloatsPerImage(s), source, s.inH * s.inW * s.inC, gradOutput,
                        outH * outW * s.outC, [&](int64_t img, float* slot) -> const float* {
                          prepare(gradOutput + img * outH * outW * s.outC, slot);
                          return slot;
                        });
      return;
    }
    parallelFor(images, 1, [&](int64_t begin, int64_t end) {
      for (int64_t img = begin; img < end; ++img) {
        prepare(gradOutput + (n0 + img) * outH * outW * s.outC, source + img * work.sourceH * work.sourceW * s.outC);
      }
    });
    work.source = source;
    runCorrelation(work);
  }
}

#if defined(__x86_64__)
// The bands of output rows that the image-split filter gradient sums one
// after another (see DirectFilterGradient::rowBegin): `count` bands of
// `rows` rows (the last one shorter).
struct ImageBands {
  int64_t count, rows;
};

// Where the output channels make several groups (each tile reads its
// group's lines of every gradient pixel, and the source again), an image
// is summed in bands of about kMinBandPixels output pixels, so that all the
// groups' tiles read a band while it is in L1/L2: A/B against whole images
// (or alexnet-s conv1's kBandFloats bands below), 1 / 2 threads: resnet20
// stage 2 3x3 +5 / +4%, its stride-2 layer +1-2 / +4-10%, its projection
// +2-5 / +10%, alexnet-s conv1 +6 / +7%. With one group (resnet20's stage 1
// and stem) such bands measured 8% slower. Otherwise an image whose
// gradient and source exceed kBandFloats twice is summed in bands of about
// kBandFloats: every tile streams the whole image otherwise, and with the
// next image prefetched beside it (AlexNet's conv1: 256 KiB of gradient an
// image) the two fill a 512 KiB L2. Bands keep at least kMinBandPixels
// output pixels, so that a tile's sums are loaded and stored rarely.
ImageBands filterGradientBands(const Conv2DShape& s, const DirectKernelSet& set, int64_t sourceImageFloats,
                               int64_t sourceRowPixels, int64_t groups) {
  constexpr int64_t kBandFloats = int64_t(1) << 14;
  constexpr int64_t kMinBandPixels = 128;
  const int64_t outH = s.outH(), outW = s.outW();
  const int64_t gradFloats = outH * outW * s.outC;
  if (!set.chunksRows) return {1, outH};
  if (groups > 1) {
    const int64_t rows = ceilDiv(kMinBandPixels, outW);
    if (rows < outH) {
      const int64_t count = ceilDiv(outH, rows);
      return {count, ceilDiv(outH, count)};
    }
  }
  if (sourceImageFloats + gradFloats <= 2 * kBandFloats) return {1, outH};
  const int64_t rowFloats = outW * s.outC + s.strideH * sourceRowPixels * s.inC;
  const int64_t rows = std::max(ceilDiv(kMinBandPixels, outW), kBandFloats / rowFloats);
  const int64_t count = ceilDiv(outH, rows);
  return {count, ceilDiv(outH, count)};
}
#endif

void conv2dBackwardFilterDirect(const Conv2DShape& s, const float* input, const float* gradOutput,
                                float* gradFilter, float* gradBias, float* workspace) {
  float* source = workspace + packedRegionFloats(s);
  if (usePlanarBackwardFilter(s)) {
    backwardFilterPlanar(s, input, gradOutput, gradFilter, source);
    if (gradBias != nullptr) conv2dBiasGradient(s, gradOutput, gradBias, workspace);
    return;
  }
  const int64_t chunk = imagesPerChunk(s), outH = s.outH(), outW = s.outW();
  DirectFilterGradient work{};
  work.sourceH = paddedH(s);
  work.sourceW = paddedW(s);
  work.sourceC = s.inC;
  work.outH = outH;
  work.outW = outW;
  work.outC = s.outC;
  work.kernelH = s.kernelH;
  work.kernelW = s.kernelW;
  work.strideH = s.strideH;
  work.strideW = s.strideW;
  work.dilationH = s.dilationH;
  work.dilationW = s.dilationW;
  work.gradFilter = gradFilter;
  work.liveRowBegin = s.padTop;
  work.liveRowEnd = s.padTop + s.inH;
  work.liveColumnBegin = s.padLeft;
  work.liveColumnEnd = s.padLeft + s.inW;
  work.segmentLength = s.dilationW == 1 ? s.kernelW * s.inC : s.inC;
  work.segments = s.dilationW == 1 ? 1 : s.kernelW;
  const DirectKernelSet& set = kernels();
  work.blocksPerGroup = blocksPerGroup(s.outC);
  work.groups = ceilDiv(ceilDiv(s.outC, set.lanes), work.blocksPerGroup);
  work.tileRows = balancedTile(work.segmentLength, set.maxTileRows[work.blocksPerGroup]);
  work.tilesPerSegment = ceilDiv(work.segmentLength, work.tileRows);
  // Whole-filter tiles where the kernel set has them (one channel block;
  // see DirectFilterGradient::wholeFilterTiles). Their tiles read the
  // padding as it is, so never the unpadded input (below).
  const bool wholeFilter = work.segments == 1 && work.groups == 1 &&
                           set.spansFilterRows(s.kernelH, work.segmentLength, work.blocksPerGroup, s.outC);
  if (wholeFilter) {
    work.wholeFilterTiles = 1;
    work.tileRows = s.kernelH * work.segmentLength;
    work.tilesPerSegment = 1;
  }
  // Whole-filter tiles along the entries sum the bias gradient in passing
  // (DirectFilterGradient::biasSums): lenet5 conv1's separate sums over
  // its 6-channel gradient took 12% of the layer.
  const bool tileBias =
      wholeFilter && gradBias != nullptr && set.wholeFilterEntries(s.kernelH, work.segmentLength, s.outC);
  // One block of 8 or 16 gradient channels: tiles with their lanes along
  // the filter entries where the kernel set has them (see
  // DirectFilterGradient::entryTiles), for segments longer than a vector.
  const bool entryTiles = !wholeFilter && set.maxEntryTileRows > 0 && s.outC % 8 == 0 && s.outC <= set.lanes;
  const auto planSegmentTiles = [&](int64_t segmentLength) {
    work.entryTiles = entryTiles && segmentLength > set.lanes ? 1 : 0;
    work.tileRows = balancedTile(segmentLength, work.entryTiles ? set.maxEntryTileRows
                                                                : set.maxTileRows[work.blocksPerGroup]);
    work.tilesPerSegment = ceilDiv(segmentLength, work.tileRows);
  };
  if (!wholeFilter) planSegmentTiles(work.segmentLength);
  const int64_t tasks = wholeFilter ? work.groups : s.kernelH * work.segments * work.tilesPerSegment * work.groups;
  // Split by images: each thread takes its images one at a time (padding
  // each into its own slot, hot in L2 for every filter tile, unless the
  // kernels read the input as it is) and sums them into a partial filter
  // gradient (see the runs below).
  const int64_t filterFloats = roundUp16(s.kernelH * s.kernelW * s.inC * s.outC);
  const int64_t threads = std::min<int64_t>(numThreads(), s.batch);
  // Each thread's slot holds up to kSlotImages padded images back to back
  // (see imagesPerCall below): as many as fit a pass, and the slots at most
  // half of the chunk region (the rest holds the partial sums).
  constexpr int64_t kSlotImages = 4;
  const int64_t paddedImageFloats = paddedH(s) * paddedW(s) * s.inC;
  const int64_t slotImages = std::max<int64_t>(
      1, std::min({kSlotImages, kFilterGradientPassFloats / (paddedImageFloats + outH * outW * s.outC),
                   chunk / (2 * threads)}));
  const int64_t slotFloats = roundUp16(slotImages * paddedImageFloats);
  // Only for small filters: one image per pass reloads and stores every
  // tile's accumulators per image, which costs more than the copy saves once
  // the filter outgrows L2 (AlexNet's 192- and 384-channel layers).
  constexpr int64_t kMaxPerImageFilterFloats = int64_t(1) << 16;
  // The image split saves only the chunk copy, and passes of several images
  // (below) pay where those images fit in L1 together: on one thread, with
  // lenet5 conv2's 11 KiB images the per-image split was 9% slower, with
  // resnet20 stage 3's 41 KiB ones 9-30% faster (alternating runs). On more
  // threads the passes split the filter's tiles between the threads, which
  // balances only with several tiles a thread: lenet5 conv2 (25 tiles) ran
  // 12% faster in passes on 2 threads, lenet5 conv1 (5 tiles) 17-19% slower.
  constexpr int64_t kMinOneThreadPerImageFloats = int64_t(1) << 13;
  constexpr int64_t kMinPassTasksPerThread = 8;
  const int64_t imagePairFloats = paddedH(s) * paddedW(s) * s.inC + outH * outW * s.outC;
  const bool splitByImages =
      imagePairFloats >= kMinOneThreadPerImageFloats || (threads > 1 && tasks < kMinPassTasksPerThread * threads);
  // The batch is cut into a fixed number of runs of images, each summed
  // into its own partial filter gradient (the first into gradFilter
  // itself), and the threads take the runs from a WorkDealer: a thread
  // that runs slower does fewer runs instead of holding up the job's end.
  // The partials are added in run order, so the result depends on the
  // number of runs (set by the thread count), not on who computed which.
  const int64_t region = chunk * sourceFloatsPerImage(s);
  // The image split sums the bias gradient too (behind each run's partial
  // filter gradient), from each band of the gradient just summed and still
  // hot, instead of a separate pass over the whole gradient from memory
  // (12% of AlexNet conv1's filter gradient).
  const int64_t partialFloats = filterFloats + (gradBias != nullptr ? roundUp16(s.outC) : 0);
  const int64_t partialRoom = (region - threads * slotFloats) / partialFloats;  // besides gradFilter
  // A whole number of runs per thread where there are more runs than
  // threads: resnet20 stage 3's 147 KiB partials leave room for 7, and with
  // 7 runs one of two threads sat out the last seventh of the job.
  int64_t runs = threads == 1 ? 1 : std::min({s.batch, 4 * threads, partialRoom + 1});
  if (runs > threads) runs -= runs % threads;
  // Kernels that read the input unpadded need no padded copy of it. They
  // pay for that with a call per border stretch for each tile that spans
  // two filter columns, which costs about the copy's time on narrow images
  // (2 threads: resnet20 stage 3, 8 wide, 0.97-0.99x) and less on wider
  // ones (stage 2, 16 wide, 1.00-1.02x; stage 1, 32 wide, 1.07-1.10x), and
  // much more where a tile spans more columns than two (lenet5 conv1, one
  // input channel, a tile of 5 columns: 0.79-0.83x). Entry tiles span three
  // columns of 16 channels (resnet20 stage 1) and gain more than that:
  // 1.14x (1 thread) and 1.27x (2 threads) unpadded against padded, Zen 5.
  constexpr int64_t kMinUnpaddedWidth = 16;
  const bool readUnpadded = set.readsUnpadded && !wholeFilter && !isUnpadded(s) && outW >= kMinUnpaddedWidth &&
                            (work.segments > 1 || work.tileRows <= s.inC || work.entryTiles);
  const bool readsInput = isUnpadded(s) || readUnpadded;
  work.unpadded = readUnpadded ? 1 : 0;
  if (splitByImages && filterFloats <= kMaxPerImageFilterFloats && runs >= threads) {
    const int64_t imageFloats = s.inH * s.inW * s.inC;
    const int64_t gradFloats = outH * outW * s.outC;
    const ImageBands bands = filterGradientBands(s, set, readsInput ? imageFloats : paddedH(s) * paddedW(s) * s.inC,
                                                 readsInput ? s.inW : paddedW(s), work.groups);
    // Where an image is one band, a call takes as many images as fit a
    // pass (kFilterGradientPassFloats; padded copies: as many as the slot
    // holds): each filter tile then loads and stores its sums once for them
    // all. One image a call cost resnet20's 8x8 layers ~10% in those loads
    // and stores and the call overheads.
    const int64_t imagesPerCall =
        bands.count > 1 ? 1
        : readsInput    ? std::max<int64_t>(1, kFilterGradientPassFloats / (imageFloats + gradFloats))
                        : slotImages;
    // Run r > 0 sums into partials + (r - 1) * partialFloats: its filter
    // gradient, then its bias gradient.
    float* const partials = source + threads * slotFloats;
    WorkDealer dealer(runs, static_cast<int>(threads));
    parallelTasks(static_cast<int>(threads), [&](int task, int) {
      float* slot = source + task * slotFloats;
      DirectFilterGradient one = work;
      one.images = 1;
      for (int64_t run = dealer.next(task); run < runs;) {
        one.gradFilter = run == 0 ? gradFilter : partials + (run - 1) * partialFloats;
        float* const biasSums = gradBias == nullptr || run == 0 ? gradBias : one.gradFilter + filterFloats;
        one.biasSums = tileBias ? biasSums : nullptr;
        const int64_t first = s.batch * run / runs, last = s.batch * (run + 1) / runs;
        // The next run is taken as this one's last image starts, so that
        // its first image can be prefetched too (AlexNet's conv1 gradient
        // is 256 KiB an image: unprefetched, each run's start cost ~4%).
        int64_t upcoming = runs;
        for (int64_t img = first, count = 1; img < last; img += count) {
          count = std::min(imagesPerCall, last - img);
          one.images = count;
          if (readsInput) {
            one.source = input + img * imageFloats;
          } else {
            for (int64_t i = 0; i < count; ++i) {
              padImageRows(s, input + (img + i) * imageFloats, 0, paddedH(s), slot + i * paddedImageFloats);
            }
            one.source = slot;
          }
          one.gradOutput = gradOutput + img * gradFloats;
          if (img + count == last) upcoming = dealer.next(task);
          const int64_t nextImg =
              img + count < last ? img + count : (upcoming < runs ? s.batch * upcoming / runs : -1);
          for (int64_t band = 0; band < bands.count; ++band) {
            one.rowBegin = band * bands.rows;
            one.rowEnd = bands.count > 1 ? std::min(outH, one.rowBegin + bands.rows) : 0;
            one.accumulate = img == first && band == 0 ? 0 : 1;
            // The gradient rows of the next band (of this image or the
            // next one) and the next image's input, a share per call.
            const bool lastBand = band + 1 == bands.count;
            if (lastBand && nextImg < 0) {
              set.filterGradient(one, 0, tasks);
            } else {
              const float* nextGrad =
                  lastBand ? gradOutput + nextImg * gradFloats : one.gradOutput + one.rowEnd * outW * s.outC;
              const int64_t nextGradFloats = std::min(bands.rows, lastBand ? outH : outH - one.rowEnd) * outW * s.outC;
              const float* nextImage = nextImg >= 0 ? input + nextImg * imageFloats : nullptr;
              // One filter tile (its channel groups) at a time.
              for (int64_t task = 0; task < tasks; task += work.groups) {
                for (int64_t share = task; share < task + work.groups; ++share) {
                  if (nextImage != nullptr) {
                    prefetchShare(nextImage, imageFloats, band * tasks + share, bands.count * tasks, false);
                  }
                  prefetchShare(nextGrad, nextGradFloats, share, tasks, false);
                }
                set.filterGradient(one, task, task + work.groups);
              }
            }
            if (biasSums != nullptr && !tileBias) {  // (several images only with one band)
              const int64_t rowEnd = one.rowEnd > 0 ? one.rowEnd : outH;
              conv2dColumnSums(one.gradOutput + one.rowBegin * outW * s.outC, (rowEnd - one.rowBegin) * outW * count,
                               s.outC, biasSums, one.accumulate != 0);
            }
          }
        }
        run = upcoming;
      }
    });
    addPartials(gradFilter, s.kernelH * s.kernelW * s.inC * s.outC, partials, partialFloats, runs - 1);
    if (gradBias != nullptr) addPartials(gradBias, s.outC, partials + filterFloats, partialFloats, runs - 1);
    return;
  }
  // A padded copy whose pixels are a multiple of 2 lines (32 floats) apart
  // puts every pixel of a tile's pass in the same few L1 sets (1 KiB apart:
  // 4 of the 64), and the gradient's pixels (outC floats apart) often share
  // them: alexnet-s conv5 (256 channels) measured 52 GFLOP/s against 76-83
  // with either stride moved off the power of two (1 thread, C++ harness).
  // Such copies get one more line per pixel, and the tiles one filter
  // column each (their entries are no longer contiguous across columns).
  // The gradient is copied spaced out too where its pixels fall in 16 of
  // the 64 sets or fewer (outC a multiple of 64 floats: AlexNet's 192-,
  // 256- and 384-channel layers; their filter gradients +5-17%), behind the
  // source copy.
  int64_t pixelStride = s.inC, gradStride = s.outC, passTasks = tasks, passChunk = chunk;
  if (set.stridesSourcePixels && !readsInput && !wholeFilter && s.inC % 32 == 0) {
    const int64_t spaced = s.inC + 16;
    const int64_t spacedImage = paddedH(s) * paddedW(s) * spaced;
    const int64_t spacedGrad = s.outC % 64 == 0 ? s.outC + 16 : s.outC;
    const int64_t gradCopy = spacedGrad != s.outC ? roundUp16(outH * outW * spacedGrad) : 0;
    if (spacedImage + gradCopy <= region) {
      pixelStride = spaced;
      gradStride = spacedGrad;
      passChunk = std::min(chunk, region / (spacedImage + gradCopy));
      work.sourcePixelStride = spaced;
      work.gradPixelStride = spacedGrad != s.outC ? spacedGrad : 0;
      work.segments = s.kernelW;
      work.segmentLength = s.inC;
      planSegmentTiles(s.inC);
      passTasks = s.kernelH * work.segments * work.tilesPerSegment * work.groups;
    }
  }
  work.biasSums = tileBias ? gradBias : nullptr;  // one whole-filter task: one tile call at a time
  const int64_t sourceImageFloats = (readsInput ? s.inH * s.inW : paddedH(s) * paddedW(s)) * pixelStride;
  const int64_t gradImageFloats = gradStride != s.outC ? roundUp16(outH * outW * gradStride) : outH * outW * s.outC;
  // Sized by the padded image either way: AlexNet's 7x7 layers measured 5%
  // slower with the two unpadded images per pass that the smaller size allows.
  const int64_t perPass =
      std::max<int64_t>(1, kFilterGradientPassFloats / (paddedH(s) * paddedW(s) * s.inC + gradImageFloats));
  for (int64_t n0 = 0; n0 < s.batch; n0 += passChunk) {
    const int64_t images = std::min(passChunk, s.batch - n0);
    const float* chunkInput = input + n0 * s.inH * s.inW * s.inC;
    if (pixelStride != s.inC) {
      padInput(s, chunkInput, images, source, pixelStride);
      work.source = source;
    } else {
      work.source = readsInput ? chunkInput : paddedSource(s, chunkInput, images, source);
    }
    work.images = images;
    work.gradOutput = gradOutput + n0 * outH * outW * s.outC;
    if (gradStride != s.outC) {
      float* spacedGrad = source + images * sourceImageFloats;
      spacePixels(work.gradOutput, images, outH * outW, s.outC, gradImageFloats, gradStride, spacedGrad);
      work.gradOutput = spacedGrad;
    }
    work.accumulate = n0 == 0 ? 0 : 1;
    // Each thread walks its filter tiles over a few images at a time, so the
    // images' source and gradient stay in L2 while every tile reads them;
    // one pass over the whole chunk per tile streamed them from L3 (27-48%
    // slower on AlexNet's layers, 2 threads; 12-67% on 1 thread). Each
    // tile's accumulators carry over between passes in the same order, so
    // the result is the same.
    parallelFor(passTasks, 1, [&](int64_t begin, int64_t end) {
      DirectFilterGradient part = work;
      for (int64_t i0 = 0; i0 < images; i0 += perPass) {
        part.images = std::min(perPass, images - i0);
        part.source = work.source + i0 * sourceImageFloats;
        part.gradOutput = work.gradOutput + i0 * gradImageFloats;
        part.accumulate = work.accumulate != 0 || i0 > 0 ? 1 : 0;
        set.filterGradient(part, begin, end);
      }
    });
  }
  if (gradBias != nullptr && !tileBias) conv2dBiasGradient(s, gradOutput, gradBias, workspace);
}
#endif

}  // namespace kiln
