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
  for (int64_t first = 0; first < rows; first += kRows) {
    const int64_t count = rows - first < kRows ? rows - first : kRows;
    float* panel = packed + first * kc;
    if (transA) {
      // Step k of the panel is a contiguous run of rows in the source.
      for (int64_t k = 0; k < kc; ++k) {
        const float* step = source + k * lda + first;
        float* out = panel + k * kRows;
        for (int64_t i = 0; i < count; ++i) out[i] = step[i];
        for (int64_t i = count; i < kRows; ++i) out[i] = 0.0f;
      }
    } else {
      // Row i is contiguous in k: read it once, scatter it down the panel.
      for (int64_t i = 0; i < count; ++i) {
        const float* row = source + (first + i) * lda;
        for (int64_t k = 0; k < kc; ++k) panel[k * kRows + i] = row[k];
      }
      for (int64_t i = count; i < kRows; ++i) {
        for (int64_t k = 0; k < kc; ++k) panel[k * kRows + i] = 0.0f;
      }
    }
  }
}

void packB(bool transB, const float* source, int64_t ldb, int64_t columns, int64_t kc, float* packed) {
  for (int64_t first = 0; first < columns; first += kColumns) {
    const int64_t count = columns - first < kColumns ? columns - first : kColumns;
    float* panel = packed + first * kc;
    if (!transB) {
      // Step k of the panel is a contiguous run of columns in the source.
      for (int64_t k = 0; k < kc; ++k) {
        const float* row = source + k * ldb + first;
        float* out = panel + k * kColumns;
        for (int64_t j = 0; j < count; ++j) out[j] = row[j];
        for (int64_t j = count; j < kColumns; ++j) out[j] = 0.0f;
      }
    } else {
      // Column j is contiguous in k: read it once, scatter it down the panel.
      for (int64_t j = 0; j < count; ++j) {
        const float* column = source + (first + j) * ldb;
        for (int64_t k = 0; k < kc; ++k) panel[k * kColumns + j] = column[k];
      }
      for (int64_t j = count; j < kColumns; ++j) {
        for (int64_t k = 0; k < kc; ++k) panel[k * kColumns + j] = 0.0f;
      }
    }
  }
}

}  // namespace

extern const GemmMicrokernel kGemmMicrokernelScalar = {"scalar 4x8", kRows, kColumns, microkernel, packA, packB};

}  // namespace kiln
