// AVX2 + FMA GEMM microkernel, 6 x 16 tile, and its packing routines.
//
// Layout (see gemm_microkernels.h): packed A micro-panels of 6 rows, element
// (i, k) at k * 6 + i; packed B micro-panels of 16 columns, element (k, j) at
// k * 16 + j (two ymm vectors per step, 32-byte aligned). C is row-major.
// Loop order: k outermost; per step two B vectors are loaded and each of the
// 6 A values is broadcast into two FMAs: 12 accumulators + 2 B vectors + 1
// broadcast fill the 16 ymm registers.
#if defined(__x86_64__)

#include <immintrin.h>

#include "gemm_microkernels.h"

namespace kiln {
namespace {

constexpr int kRows = 6;
constexpr int kColumns = 16;

// The tile's rows, spelled out: named accumulators (rather than an array)
// are what keeps GCC from spilling them to the stack inside the k loop.
#define KILN_GEMM_AVX2_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)

void microkernel(int64_t kc, const float* __restrict packedA, const float* __restrict packedB, float* C,
                 int64_t ldc, float alpha, float beta) {
#define KILN_DECLARE(i) __m256 low##i = _mm256_setzero_ps(), high##i = _mm256_setzero_ps();
  KILN_GEMM_AVX2_ROWS(KILN_DECLARE)
#undef KILN_DECLARE
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(packedB);
    const __m256 b1 = _mm256_load_ps(packedB + 8);
#define KILN_STEP(i)                                  \
  {                                                   \
    const __m256 a = _mm256_broadcast_ss(packedA + i); \
    low##i = _mm256_fmadd_ps(a, b0, low##i);          \
    high##i = _mm256_fmadd_ps(a, b1, high##i);        \
  }
    KILN_GEMM_AVX2_ROWS(KILN_STEP)
#undef KILN_STEP
    packedA += kRows;
    packedB += kColumns;
  }
  const __m256 alphaVector = _mm256_set1_ps(alpha);
  if (beta == 0.0f) {
#define KILN_STORE(i)                                                       \
  _mm256_storeu_ps(C + i * ldc, _mm256_mul_ps(alphaVector, low##i));        \
  _mm256_storeu_ps(C + i * ldc + 8, _mm256_mul_ps(alphaVector, high##i));
    KILN_GEMM_AVX2_ROWS(KILN_STORE)
#undef KILN_STORE
  } else {
    const __m256 betaVector = _mm256_set1_ps(beta);
#define KILN_STORE(i)                                                                                \
  _mm256_storeu_ps(C + i * ldc,                                                                      \
                   _mm256_fmadd_ps(alphaVector, low##i, _mm256_mul_ps(betaVector, _mm256_loadu_ps(C + i * ldc)))); \
  _mm256_storeu_ps(C + i * ldc + 8,                                                                  \
                   _mm256_fmadd_ps(alphaVector, high##i, _mm256_mul_ps(betaVector, _mm256_loadu_ps(C + i * ldc + 8))));
    KILN_GEMM_AVX2_ROWS(KILN_STORE)
#undef KILN_STORE
  }
}

#undef KILN_GEMM_AVX2_ROWS

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

extern const GemmMicrokernel kGemmMicrokernelAvx2 = {"avx2 6x16", kRows, kColumns, microkernel, packA, packB};

}  // namespace kiln

#endif  // defined(__x86_64__)
