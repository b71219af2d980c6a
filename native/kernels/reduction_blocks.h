// Internal: the fixed row partition that the column reductions (bias
// gradient, batch-norm statistics and gradients) share. Rows are cut into
// blocks whose size depends only on the channel count, never on the thread
// count; each block's partial sums land in their own slot and the slots are
// added in block order afterwards. So a reduction gives bitwise the same
// result with 1 thread or 64.
#pragma once

#include <algorithm>
#include <cstdint>

namespace kiln {
namespace reduction_detail {

// Enough elements per block to amortise a pool task and stay cache-resident
// for a second pass, few enough that in-block sums stay short.
constexpr int64_t kElementsPerBlock = 16384;
// Blocks are summed in float per channel: cap the rows (terms per sum) so the
// rounding error stays small for narrow tensors too.
constexpr int64_t kMaxRowsPerBlock = 1024;

inline int64_t rowsPerBlock(int64_t channels) {
  return std::min(kMaxRowsPerBlock, std::max<int64_t>(1, kElementsPerBlock / std::max<int64_t>(1, channels)));
}

inline int64_t blockCount(int64_t rows, int64_t channels) {
  const int64_t perBlock = rowsPerBlock(channels);
  return std::max<int64_t>(1, (rows + perBlock - 1) / perBlock);
}

}  // namespace reduction_detail
}  // namespace kiln
