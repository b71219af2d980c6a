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

#include <cmath>

#include "../runtime/thread_pool.h"

namespace kiln {
namespace {

constexpr int64_t kMinChunk = 16384;

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
  const uint64_t threshold = static_cast<uint64_t>(std::floor(static_cast<double>(rate) * 4294967296.0));
  const float keepScale = static_cast<float>(1.0 / (1.0 - static_cast<double>(rate)));
  const uint64_t key = streamKey(seed, step);
  parallelFor(count, kMinChunk, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float m = bitsFromKey(key, static_cast<uint64_t>(i)) >= threshold ? keepScale : 0.0f;
      mask[i] = m;
      output[i] = input[i] * m;
    }
  });
}

void dropoutBackward(int64_t count, const float* mask, const float* gradOutput, float* gradInput) {
  parallelFor(count, kMinChunk, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) gradInput[i] = gradOutput[i] * mask[i];
  });
}

}  // namespace kiln
