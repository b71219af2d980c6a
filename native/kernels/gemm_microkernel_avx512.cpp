// AVX-512 GEMM microkernel, 12 x 32 tile, and its packing routines.
//
// Layout (see gemm_microkernels.h): packed A micro-panels of 12 rows, element
// (i, k) at k * 12 + i; packed B micro-panels of 32 columns, element (k, j) at
// k * 32 + j (two zmm vectors per step, 64-byte aligned). C is row-major.
// Loop order: k outermost; per step two B vectors are loaded and each of the
// 12 A values is broadcast from memory into two FMAs, so 24 zmm registers hold
// the whole tile's accumulators and 26 of the 32 registers are live.
#if defined(__x86_64__)

#include <immintrin.h>

#include "gemm_microkernels.h"

namespace kiln {
namespace {

constexpr int kRows = 12;
constexpr int kColumns = 32;

// The tile's rows, spelled out: named accumulators (rather than an array)
// are what keeps GCC from spilling them to the stack inside the k loop.
#define KILN_GEMM_AVX512_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

void microkernel(int64_t kc, const float* __restrict packedA, const float* __restrict packedB, float* C,
                 int64_t ldc, float alpha, float beta) {
#define KILN_DECLARE(i) __m512 low##i = _mm512_setzero_ps(), high##i = _mm512_setzero_ps();
  KILN_GEMM_AVX512_ROWS(KILN_DECLARE)
#undef KILN_DECLARE
  // The tile of C is touched only at the end; ask for it early so the stores
  // (and the loads when beta != 0) do not wait on memory.
#define KILN_PREFETCH(i)                                                              \
  _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc), _MM_HINT_T0);             \
  _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc + 16), _MM_HINT_T0);
  KILN_GEMM_AVX512_ROWS(KILN_PREFETCH)
#undef KILN_PREFETCH
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(packedB);
    const __m512 b1 = _mm512_load_ps(packedB + 16);
#define KILN_STEP(i)                                  \
  {                                                   \
    const __m512 a = _mm512_set1_ps(packedA[i]);      \
    low##i = _mm512_fmadd_ps(a, b0, low##i);          \
    high##i = _mm512_fmadd_ps(a, b1, high##i);        \
  }
    KILN_GEMM_AVX512_ROWS(KILN_STEP)
#undef KILN_STEP
    packedA += kRows;
    packedB += kColumns;
  }
  const __m512 alphaVector = _mm512_set1_ps(alpha);
  if (beta == 0.0f) {
#define KILN_STORE(i)                                                       \
  _mm512_storeu_ps(C + i * ldc, _mm512_mul_ps(alphaVector, low##i));        \
  _mm512_storeu_ps(C + i * ldc + 16, _mm512_mul_ps(alphaVector, high##i));
    KILN_GEMM_AVX512_ROWS(KILN_STORE)
#undef KILN_STORE
  } else if (beta == 1.0f) {
#define KILN_STORE(i)                                                                                       \
  _mm512_storeu_ps(C + i * ldc, _mm512_fmadd_ps(alphaVector, low##i, _mm512_loadu_ps(C + i * ldc)));        \
  _mm512_storeu_ps(C + i * ldc + 16, _mm512_fmadd_ps(alphaVector, high##i, _mm512_loadu_ps(C + i * ldc + 16)));
    KILN_GEMM_AVX512_ROWS(KILN_STORE)
#undef KILN_STORE
  } else {
    const __m512 betaVector = _mm512_set1_ps(beta);
#define KILN_STORE(i)                                                                                \
  _mm512_storeu_ps(C + i * ldc,                                                                      \
                   _mm512_fmadd_ps(alphaVector, low##i, _mm512_mul_ps(betaVector, _mm512_loadu_ps(C + i * ldc)))); \
  _mm512_storeu_ps(C + i * ldc + 16,                                                                 \
                   _mm512_fmadd_ps(alphaVector, high##i,                                             \
                                   _mm512_mul_ps(betaVector, _mm512_loadu_ps(C + i * ldc + 16))));
    KILN_GEMM_AVX512_ROWS(KILN_STORE)
#undef KILN_STORE
  }
}

#undef KILN_GEMM_AVX512_ROWS

// op(A) = A: row i of the block is contiguous in k, so each output step
// gathers one value per row. op(A) = A^T: step k is a contiguous run of rows.
void packA(bool transA, const float* source, int64_t lda, int64_t rows, int64_t kc, float* packed) {
  const __mmask16 rowMask = static_cast<__mmask16>((1u << rows) - 1);
  const __mmask16 panelMask = static_cast<__mmask16>((1u << kRows) - 1);
  if (transA) {
    for (int64_t k = 0; k < kc; ++k) {
      _mm512_mask_storeu_ps(packed + k * kRows, panelMask, _mm512_maskz_loadu_ps(rowMask, source + k * lda));
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

// op(B) = B: step k is a contiguous run of columns. op(B) = B^T: column j is
// contiguous in k.
void packB(bool transB, const float* source, int64_t ldb, int64_t columns, int64_t kc, float* packed) {
  if (!transB) {
    const int64_t lowCount = columns < 16 ? columns : 16;
    const int64_t highCount = columns - lowCount;
    const __mmask16 lowMask = static_cast<__mmask16>((1u << lowCount) - 1);
    const __mmask16 highMask = static_cast<__mmask16>((1u << highCount) - 1);
    for (int64_t k = 0; k < kc; ++k) {
      const float* row = source + k * ldb;
      _mm512_store_ps(packed + k * kColumns, _mm512_maskz_loadu_ps(lowMask, row));
      _mm512_store_ps(packed + k * kColumns + 16, _mm512_maskz_loadu_ps(highMask, row + 16));
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

extern const GemmMicrokernel kGemmMicrokernelAvx512 = {"avx512 12x32", kRows, kColumns, microkernel, packA, packB};

}  // namespace kiln

#endif  // defined(__x86_64__)
