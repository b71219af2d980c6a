// Elementwise kernels over flat fp32 arrays; biasAdd / biasGradient see the
// data as row-major [rows, channels] (NHWC with rows = N*H*W), so their inner
// loop runs over contiguous channels and vectorises.
// The activation, add, axpy and bias-add loops are the per-ISA loops of the
// fused kernels (fused_isa.h); flat work splits across threads in contiguous
// chunks of at least kMinTaskElements. biasGradient reduces over rows with the
// fixed block partition of reduction_blocks.h, so it does not depend on the
// thread count.
#include "elementwise.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "../runtime/thread_pool.h"
#include "fused.h"
#include "fused_isa.h"
#include "reduction_blocks.h"

namespace kiln {
namespace {

constexpr int64_t kMinChunk = fused_isa::kMinTaskElements;

template <typename Body>
void forChunks(int64_t count, const Body& body) {
  parallelFor(count, kMinChunk, [&](int64_t begin, int64_t end) { body(begin, end); });
}

}  // namespace

// NaN inputs to ReLU become 0 (the comparison is false), as in most
// frameworks' CPU paths; sigmoid's exp(-x) overflows to inf for x < -88,
// giving exactly 0.
void activationForward(Activation activation, int64_t count, const float* input, float* output) {
  addActivationForward(count, input, nullptr, activation, output);
}

void activationBackward(Activation activation, int64_t count, const float* output, const float* gradOutput,
                        float* gradInput) {
  activationBackwardTo(activation, count, output, gradOutput, gradInput, false, nullptr, false);
}

// (x - 0) * 1 + bias is exactly x + bias, so the batch-norm affine loop serves.
void biasAdd(int64_t rows, int64_t channels, const float* bias, float* data) {
  if (rows <= 0 || channels <= 0) return;
  const std::vector<float> zeros(static_cast<size_t>(channels), 0.0f), ones(static_cast<size_t>(channels), 1.0f);
  const fused_isa::Kernels k = fused_isa::activeKernels();
  parallelFor(rows, std::max<int64_t>(1, kMinChunk / channels), [&](int64_t b, int64_t e) {
    k.applyAffine(e - b, channels, Activation::Linear, data + b * channels, zeros.data(), ones.data(), bias,
                  data + b * channels);
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
  addActivationForward(count, a, b, Activation::Linear, out);
}

void axpy(int64_t count, float alpha, const float* x, float* y) {
  if (count <= 0) return;
  const fused_isa::Kernels k = fused_isa::activeKernels();
  forChunks(count, [&](int64_t begin, int64_t end) { k.axpy(end - begin, alpha, x + begin, y + begin); });
}

void scale(int64_t count, float alpha, float* data) {
  forChunks(count, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) data[i] *= alpha;
  });
}

}  // namespace kiln

namespace kiln {

bool allFinite(int64_t count, const float* data) {
  // x * 0 is 0 for every finite x and NaN otherwise, so the lanes stay 0
  // (never overflow) until a non-finite value arrives. Sixteen independent
  // lanes let the compiler vectorise without reordering any sum.
  constexpr int kLanes = 16;
  float lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= count; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) lanes[j] += data[i + j] * 0.0f;
  }
  for (; i < count; ++i) lanes[0] += data[i] * 0.0f;
  float total = 0.0f;
  for (int j = 0; j < kLanes; ++j) total += lanes[j];
  return total == 0.0f;
}

}  // namespace kiln
