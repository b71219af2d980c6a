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
#include "transpose_avx2.h"

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
  // Start fetching the tile of C now: its rows are ldc apart, which the
  // hardware prefetchers do not follow, and the k loop hides the latency.
#define KILN_PREFETCH(i)                                                  \
  _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc), _MM_HINT_T0); \
  _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc + 15), _MM_HINT_T0);
  KILN_GEMM_AVX2_ROWS(KILN_PREFETCH)
#undef KILN_PREFETCH
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

// Why the packers are vectorised and ordered as they are (measured on a Zen 3
// guest, 2 threads, n = 512..2048): the plain scalar loops, reading one source
// row or column at a time, spent 12-18% of the whole GEMM packing, because
// each pass walked one 4 KiB-strided line after another with no other loads in
// flight. Reading 6 or 8 rows side by side and transposing in registers cut
// that to about 7% and raised the GEMM 10-25%.

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
      continue;
    }
    // Rows are contiguous in k: take 8 steps of all 6 rows at once and
    // transpose them into 8 packed steps (rows 6 and 7 of the block are
    // zero padding that the overlapping stores overwrite).
    const float* row[kRows];
    for (int64_t i = 0; i < kRows; ++i) row[i] = source + (first + (i < count ? i : 0)) * lda;
    int64_t k = 0;
    for (; k + 8 <= kc; k += 8) {
      __m256 block[8];
      for (int64_t i = 0; i < kRows; ++i) block[i] = i < count ? _mm256_loadu_ps(row[i] + k) : _mm256_setzero_ps();
      block[6] = block[7] = _mm256_setzero_ps();
      transpose8x8(block);
      float* out = panel + k * kRows;
      for (int j = 0; j < 7; ++j) _mm256_storeu_ps(out + j * kRows, block[j]);
      // A full store of the last step would run 2 floats past these 8 steps.
      _mm_storeu_ps(out + 7 * kRows, _mm256_castps256_ps128(block[7]));
      _mm_storel_pi(reinterpret_cast<__m64*>(out + 7 * kRows + 4), _mm256_extractf128_ps(block[7], 1));
    }
    for (; k < kc; ++k) {
      for (int64_t i = 0; i < kRows; ++i) panel[k * kRows + i] = i < count ? row[i][k] : 0.0f;
    }
  }
}

// One partial panel (fewer than 16 columns), element by element.
void packBEdgePanel(bool transB, const float* source, int64_t ldb, int64_t count, int64_t kc, float* panel) {
  for (int64_t k = 0; k < kc; ++k) {
    float* out = panel + k * kColumns;
    for (int64_t j = 0; j < count; ++j) out[j] = transB ? source[j * ldb + k] : source[k * ldb + j];
    for (int64_t j = count; j < kColumns; ++j) out[j] = 0.0f;
  }
}

// 8 columns x 8 steps of a transposed B (column j contiguous in k) into a
// packed panel, as 8 half-steps of 8 columns.
inline void packTransposedBlock(const float* source, int64_t ldb, float* out) {
  __m256 block[8];
  for (int j = 0; j < 8; ++j) block[j] = _mm256_loadu_ps(source + j * ldb);
  transpose8x8(block);
  for (int k = 0; k < 8; ++k) _mm256_store_ps(out + k * kColumns, block[k]);
}

void packB(bool transB, const float* source, int64_t ldb, int64_t columns, int64_t kc, float* packed) {
  const int64_t fullColumns = columns / kColumns * kColumns;
  if (!transB) {
    // Rows of B are contiguous: copy 4 steps of every panel before moving
    // on, so the source is read as 4 sequential streams and each panel gets
    // 4 whole lines at a time.
    constexpr int64_t kStepGroup = 4;
    for (int64_t k0 = 0; k0 < kc; k0 += kStepGroup) {
      const int64_t k1 = k0 + kStepGroup < kc ? k0 + kStepGroup : kc;
      for (int64_t first = 0; first < fullColumns; first += kColumns) {
        float* panel = packed + first * kc;
        for (int64_t k = k0; k < k1; ++k) {
          const float* in = source + k * ldb + first;
          _mm256_store_ps(panel + k * kColumns, _mm256_loadu_ps(in));
          _mm256_store_ps(panel + k * kColumns + 8, _mm256_loadu_ps(in + 8));
        }
      }
    }
  } else {
    for (int64_t first = 0; first < fullColumns; first += kColumns) {
      float* panel = packed + first * kc;
      int64_t k = 0;
      for (; k + 8 <= kc; k += 8) {
        packTransposedBlock(source + first * ldb + k, ldb, panel + k * kColumns);
        packTransposedBlock(source + (first + 8) * ldb + k, ldb, panel + k * kColumns + 8);
      }
      for (; k < kc; ++k) {
        for (int64_t j = 0; j < kColumns; ++j) panel[k * kColumns + j] = source[(first + j) * ldb + k];
      }
    }
  }
  if (fullColumns < columns) {
    const float* edge = transB ? source + fullColumns * ldb : source + fullColumns;
    packBEdgePanel(transB, edge, ldb, columns - fullColumns, kc, packed + fullColumns * kc);
  }
}

}  // namespace

extern const GemmMicrokernel kGemmMicrokernelAvx2 = {"avx2 6x16", kRows, kColumns, microkernel, packA, packB};

}  // namespace kiln

#endif  // defined(__x86_64__)
