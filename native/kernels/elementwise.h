// Elementwise kernels, fp32. Activation backward passes take the forward
// OUTPUT y (not the input), which is what a training graph keeps anyway:
//   relu' = (y > 0), sigmoid' = y (1 - y), tanh' = 1 - y^2.
// In-place use (output == input, gradInput == gradOutput) is allowed.
#pragma once

#include <cstdint>

namespace kiln {

enum class Activation : int { Linear = 0, Relu = 1, Sigmoid = 2, Tanh = 3 };

void activationForward(Activation activation, int64_t count, const float* input, float* output);
void activationBackward(Activation activation, int64_t count, const float* output, const float* gradOutput,
                        float* gradInput);

// data[r, c] += bias[c] for r in [0, rows).
void biasAdd(int64_t rows, int64_t channels, const float* bias, float* data);
// gradBias[c] = sum over r of gradOutput[r, c] (overwrites).
void biasGradient(int64_t rows, int64_t channels, const float* gradOutput, float* gradBias);

// out = a + b.
void add(int64_t count, const float* a, const float* b, float* out);
// y += alpha * x.
void axpy(int64_t count, float alpha, const float* x, float* y);
// data *= alpha.
void scale(int64_t count, float alpha, float* data);
// True when no value is NaN or infinite.
bool allFinite(int64_t count, const float* data);

}  // namespace kiln
