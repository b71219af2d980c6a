// The contract of the direct convolution tiles and their task loops
// (conv2d_direct_correlate.h, conv2d_direct_filter_gradient.h), written once
// over a vector type and compiled by each ISA's translation units
// (conv2d_direct_avx512.cpp and conv2d_direct_filter_gradient_avx512.cpp,
// likewise for AVX2) with its own target flags. See conv2d_direct.h for the work descriptions; the source is NHWC and
// zero-padded (or compact / unpadded where the work says so), filters HWIO.
//
// Correlation (forward, and backward data as a correlation of gradOutput with
// the flipped filter): a register tile is RW x RH output pixels x NB blocks of
// V::kLanes output channels. Loop order inside a tile: kh, kw, source channel;
// per step NB weight vectors are loaded and each pixel's source value is
// broadcast into NB FMAs. A tile needs RW * RH * NB accumulators + NB weight
// vectors + 1 broadcast, hence V::kMaxTileWidth.
// Filter gradient: a register tile is R consecutive (kw, ci) filter rows x NB
// blocks; the loop runs over the output pixels, loads NB gradOutput vectors
// and broadcasts R source values (R * NB + NB + 1 registers, V::kMaxTileRows).
// With one block of 8 or 16 channels and 32 registers the filter gradient can
// swap the roles instead (DirectFilterGradient::entryTiles): vectors along
// the filter entries, loaded from the source, meet broadcast gradient values.
//
// V supplies the vector type and its operations:
//   Vec, Mask; kLanes; kRegisters (vector registers); kRegistersPerMask (1
//   where a lane mask lives in a vector register, 0 for mask registers);
//   kMaxTileWidth[5], kMaxTileRows[5] (per NB, as the driver's DirectKernelSet);
//   zero(), load(p) (aligned), loadu(p), loadMasked(p, mask), storeu(p, v),
//   storeMasked(p, mask, v), broadcast(p), fmadd(a, b, c), add, max,
//   mask(valid lanes).
//
// Everything here has internal linkage on purpose: a template or inline
// function with external linkage, instantiated by translation units built for
// different ISAs, could be merged by the linker into one copy, and the
// AVX-512 copy could then run on a CPU without AVX-512. Each including file
// gets its own.
#pragma once

#include "conv2d_direct.h"
