// Portable GEMM microkernel, 4 x 8 tile, and its packing routines: plain C++
// loops, built without ISA flags, that the compiler vectorises with baseline
// SSE2 on x86-64 (NEON on arm64).
//
// Layout (see gemm_microkernels.h): packed A micro-panels of 4 rows, element
// (i, k) at k * 4 + i; packed B micro-panels of 8 columns, element (k, j) at
// k * 8 + j. C is row-major. Loop order: k outermost, then rows, then columns;
// the 4 x 8 accumulators are 8 SSE registers, so they stay in registers.
#include "gemm_microkernels.h"

namespace kiln {
namespace {

constexpr int kRows = 4;
constexpr int kColumns = 8;

void microkernel(int64_t kc, const float* __restrict packedA, const float* __restrict packedB, float* C,
                 int64_t ldc, float alpha, float beta) {
  float acc[kRows][kColumns] = {};
  for (int64_t k = 0; k < kc; ++k) {
    for (int i = 0; i < kRows; ++i) {
      const float a = packedA[i];
      for (int j = 0; j < kColumns; ++j) acc[i][j] += a * packedB[j];
    }
    packedA += kRows;
    packedB += kColumns;
  }
  for (int i = 0; i < kRows; ++i) {
    float* row = C + i * ldc;
    if (beta == 0.0f) {
      for (int j = 0; j < kColumns; ++j) row[j] = alpha * acc[i][j];
    } else {
      for (int j = 0; j < kColumns; ++j) row[j] = alpha * acc[i][j] + beta * row[j];
    }
  }
}

void packA(bool transA, const float* source, int64_t lda, int64_t rows, int64_t kc, float* packed) {
  if (transA) {
    for (int64_t k = 0; k < kc; ++k) {
      const float* step = source + k * lda;
      float* out = packed + k * kRows;
      for (int64_t i = 0; i < rows; ++i) out[i] = step[i];
      for (int64_t i = rows; i < kRows; ++i) out[i] = 0.0f;
    }
    return;
  }
  for (int64_t i = 0; i < rows; ++i) {
    const float* row = source + i * lda;
    for (int64_t k = 0; k < kc; ++k) packed[k * kRows + i] = row[k];
  }
  for (int64_t i = rows; i < kRows; ++i) {
    for (int64_t k = 0; k < kc; ++k) packed[k * kRows + i] = 0.0f;
  }
}

void packB(bool transB, const float* source, int64_t ldb, int64_t columns, int64_t kc, float* packed) {
  if (!transB) {
    for (int64_t k = 0; k < kc; ++k) {
      const float* row = source + k * ldb;
      float* out = packed + k * kColumns;
      for (int64_t j = 0; j < columns; ++j) out[j] = row[j];
      for (int64_t j = columns; j < kColumns; ++j) out[j] = 0.0f;
    }
    return;
  }
  for (int64_t j = 0; j < columns; ++j) {
    const float* column = source + j * ldb;
    for (int64_t k = 0; k < kc; ++k) packed[k * kColumns + j] = column[k];
  }
  for (int64_t j = columns; j < kColumns; ++j) {
    for (int64_t k = 0; k < kc; ++k) packed[k * kColumns + j] = 0.0f;
  }
}

}  // namespace

extern const GemmMicrokernel kGemmMicrokernelScalar = {"scalar 4x8", kRows, kColumns, microkernel, packA, packB};

}  // namespace kiln
