// Inverted dropout with a counter-based generator: element i of call `step`
// is kept iff hash(seed, step, i) >= rate * 2^32, so the mask depends only on
// (seed, step, i), never on the thread count or on chunking.
#pragma once

#include <cstdint>

namespace kiln {

// output = keep ? input / (1 - rate) : 0; mask[i] = 1 / (1 - rate) or 0.
void dropoutForward(int64_t count, float rate, uint64_t seed, uint64_t step, const float* input, float* output,
                    float* mask);
// gradInput = gradOutput * mask.
void dropoutBackward(int64_t count, const float* mask, const float* gradOutput, float* gradInput);

// The generator itself: 32 well-mixed bits from (seed, step, index).
uint32_t randomBits(uint64_t seed, uint64_t step, uint64_t index);

}  // namespace kiln
