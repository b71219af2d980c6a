// Inverted dropout over a flat fp32 array. The keep decision for element i is
// a pure function of (seed, step, i) (a counter-based generator), so the mask
// is the same whatever the thread count or chunking, and a training step can
// be replayed exactly.
//
// Generator: the splitmix64 finaliser (a bijective 64-bit mixer) applied to a
// key derived from (seed, step), then to key + i * an odd constant; the high 32
// bits are the result. Element i is kept iff bits >= floor(rate * 2^32), so
// rate 0 keeps everything and P(keep) = 1 - rate within 2^-32.
#include "dropout.h"

#include <algorithm>
#include <cmath>

#include "../runtime/thread_pool.h"

namespace kiln {
namespace {

constexpr int64_t kMinChunk = 16384;
constexpr int64_t kBitsBlock = 256;

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t streamKey(uint64_t seed, uint64_t step) {
  return mix64(mix64(seed + 0x9E3779B97F4A7C15ull) ^ (step * 0xD6E8FEB86659FD93ull + 0x632BE59BD9B4E019ull));
}

uint32_t bitsFromKey(uint64_t key, uint64_t index) {
  return static_cast<uint32_t>(mix64(key + index * 0x9E3779B97F4A7C15ull) >> 32);
}

}  // namespace

uint32_t randomBits(uint64_t seed, uint64_t step, uint64_t index) {
  return bitsFromKey(streamKey(seed, step), index);
}

void dropoutForward(int64_t count, float rate, uint64_t seed, uint64_t step, const float* input, float* output,
                    float* mask) {
  // rate < 1, so the threshold fits in 32 bits.
  const uint32_t threshold = static_cast<uint32_t>(std::floor(static_cast<double>(rate) * 4294967296.0));
  const float keepScale = static_cast<float>(1.0 / (1.0 - static_cast<double>(rate)));
  const uint64_t key = streamKey(seed, step);
  parallelFor(count, kMinChunk, [=](int64_t begin, int64_t end) {
    // Hash a block of indices into 0/1 keep flags first (64-bit multiplies:
    // scalar, but branch-free; keep decisions are coin flips, so a branch per
    // element would mispredict half the time), then scale in a loop that
    // vectorises.
    int32_t kept[kBitsBlock];
    for (int64_t blockBegin = begin; blockBegin < end; blockBegin += kBitsBlock) {
      const int64_t length = std::min<int64_t>(kBitsBlock, end - blockBegin);
      for (int64_t j = 0; j < length; ++j) {
        // 1 iff bits >= threshold, from the sign of a 64-bit difference:
        // arithmetic the compiler cannot turn back into a branch.
        const int64_t difference = static_cast<int64_t>(bitsFromKey(key, static_cast<uint64_t>(blockBegin + j))) -
                                   static_cast<int64_t>(threshold);
        kept[j] = static_cast<int32_t>(1 - (static_cast<uint64_t>(difference) >> 63));
      }
      const float* x = input + blockBegin;
      float* y = output + blockBegin;
      float* m = mask + blockBegin;
      for (int64_t j = 0; j < length; ++j) {
        const float keep = static_cast<float>(kept[j]) * keepScale;
        m[j] = keep;
        y[j] = x[j] * keep;
      }
    }
  });
}

void dropoutBackward(int64_t count, const float* mask, const float* gradOutput, float* gradInput) {
  parallelFor(count, kMinChunk, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) gradInput[i] = gradOutput[i] * mask[i];
  });
}

}  // namespace kiln
