// Elementwise kernels over flat fp32 arrays; biasAdd / biasGradient see the
// data as row-major [rows, channels] (NHWC with rows = N*H*W), so their inner
// loop runs over contiguous channels and vectorises.
// Flat loops split across threads in contiguous chunks of at least
// kMinChunk elements. biasGradient reduces over rows with the fixed block
// partition of reduction_blocks.h, so it does not depend on the thread count.
#include "elementwise.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "../runtime/thread_pool.h"
#include "reduction_blocks.h"

namespace kiln {
namespace {

constexpr int64_t kMinChunk = 16384;

void copyChunks(int64_t count, const float* from, float* to) {
  if (from == to) return;
  parallelFor(count, kMinChunk, [&](int64_t b, int64_t e) { std::memmove(to + b, from + b, sizeof(float) * (e - b)); });
}

template <typename Body>
void forChunks(int64_t count, const Body& body) {
  parallelFor(count, kMinChunk, [&](int64_t begin, int64_t end) { body(begin, end); });
}

}  // namespace

void activationForward(Activation activation, int64_t count, const float* input, float* output) {
  switch (activation) {
    case Activation::Linear:
      copyChunks(count, input, output);
      return;
    case Activation::Relu:
      // NaN inputs become 0 (the comparison is false), as in most frameworks' CPU paths.
      forChunks(count, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) output[i] = input[i] > 0.0f ? input[i] : 0.0f;
      });
      return;
    case Activation::Sigmoid:
      // exp(-x) overflows to inf for x < -88, giving exactly 0: no NaN.
      forChunks(count, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) output[i] = 1.0f / (1.0f + std::exp(-input[i]));
      });
      return;
    case Activation::Tanh:
      forChunks(count, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) output[i] = std::tanh(input[i]);
      });
      return;
  }
}

void activationBackward(Activation activation, int64_t count, const float* output, const float* gradOutput,
                        float* gradInput) {
  switch (activation) {
    case Activation::Linear:
      copyChunks(count, gradOutput, gradInput);
      return;
    case Activation::Relu:
      forChunks(count, [&](int64_t b, int64_t e) {
        // Both loads unconditional, so the select is branch-free and vectorises.
        for (int64_t i = b; i < e; ++i) {
          const float g = gradOutput[i];
          gradInput[i] = output[i] > 0.0f ? g : 0.0f;
        }
      });
      return;
    case Activation::Sigmoid:
      forChunks(count, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) gradInput[i] = gradOutput[i] * output[i] * (1.0f - output[i]);
      });
      return;
    case Activation::Tanh:
      forChunks(count, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) gradInput[i] = gradOutput[i] * (1.0f - output[i] * output[i]);
      });
      return;
  }
}

void biasAdd(int64_t rows, int64_t channels, const float* bias, float* data) {
  parallelFor(rows, std::max<int64_t>(1, kMinChunk / std::max<int64_t>(1, channels)), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      float* row = data + r * channels;
      for (int64_t c = 0; c < channels; ++c) row[c] += bias[c];
    }
  });
}

void biasGradient(int64_t rows, int64_t channels, const float* gradOutput, float* gradBias) {
  using namespace reduction_detail;
  const int64_t perBlock = rowsPerBlock(channels);
  const int64_t blocks = blockCount(rows, channels);
  std::vector<float> partial(static_cast<size_t>(blocks * channels), 0.0f);
  parallelFor(blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t block = b0; block < b1; ++block) {
      float* sum = partial.data() + block * channels;
      const int64_t end = std::min(rows, (block + 1) * perBlock);
      for (int64_t r = block * perBlock; r < end; ++r) {
        const float* row = gradOutput + r * channels;
        for (int64_t c = 0; c < channels; ++c) sum[c] += row[c];
      }
    }
  });
  std::memcpy(gradBias, partial.data(), sizeof(float) * channels);
  for (int64_t block = 1; block < blocks; ++block) {
    const float* sum = partial.data() + block * channels;
    for (int64_t c = 0; c < channels; ++c) gradBias[c] += sum[c];
  }
}

void add(int64_t count, const float* a, const float* b, float* out) {
  forChunks(count, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = a[i] + b[i];
  });
}

void axpy(int64_t count, float alpha, const float* x, float* y) {
  forChunks(count, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) y[i] += alpha * x[i];
  });
}

void scale(int64_t count, float alpha, float* data) {
  forChunks(count, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) data[i] *= alpha;
  });
}

}  // namespace kiln
