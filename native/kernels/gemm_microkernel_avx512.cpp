// AVX-512 GEMM microkernel, 12 x 32 tile, and its packing routines.
//
// Layout (see gemm_microkernels.h): packed A micro-panels of 12 rows, element
// (i, k) at k * 12 + i; packed B micro-panels of 32 columns, element (k, j) at
// k * 32 + j (two zmm vectors per step, 64-byte aligned). C is row-major.
// Loop order: k outermost; per step two B vectors are loaded and each of the
// 12 A values is broadcast from memory into two FMAs, so 24 zmm registers hold
// the whole tile's accumulators and 26 of the 32 registers are live.
// Measured in L1 on one core (peak 240 GFLOP/s): 12x32, 14x32, 8x48 and 6x64
// all reach about 237 GFLOP/s; 12 rows waste the least on the common sizes
// (128 = 10 x 12 + 8) and keep A panels a quarter of L1 at KC = 256.
#if defined(__x86_64__)

// GCC 12 reports the _mm512_undefined_ps() inside several AVX-512 shuffle
// intrinsics as uninitialized, a false positive; silence it for the header.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

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
  } else {
    // All of the tile's loads come before any of its stores: when ldc is a
    // multiple of 4 KiB, a load issued after the store to the row above looks
    // like it depends on that store (4K aliasing) and waits for it.
    if (beta == 1.0f) {
#define KILN_LOAD(i)                                                                   \
  low##i = _mm512_fmadd_ps(alphaVector, low##i, _mm512_loadu_ps(C + i * ldc));        \
  high##i = _mm512_fmadd_ps(alphaVector, high##i, _mm512_loadu_ps(C + i * ldc + 16));
      KILN_GEMM_AVX512_ROWS(KILN_LOAD)
#undef KILN_LOAD
    } else {
      const __m512 betaVector = _mm512_set1_ps(beta);
#define KILN_LOAD(i)                                                                                       \
  low##i = _mm512_fmadd_ps(alphaVector, low##i, _mm512_mul_ps(betaVector, _mm512_loadu_ps(C + i * ldc)));  \
  high##i = _mm512_fmadd_ps(alphaVector, high##i, _mm512_mul_ps(betaVector, _mm512_loadu_ps(C + i * ldc + 16)));
      KILN_GEMM_AVX512_ROWS(KILN_LOAD)
#undef KILN_LOAD
    }
#define KILN_STORE(i)                           \
  _mm512_storeu_ps(C + i * ldc, low##i);        \
  _mm512_storeu_ps(C + i * ldc + 16, high##i);
    KILN_GEMM_AVX512_ROWS(KILN_STORE)
#undef KILN_STORE
  }
}

#undef KILN_GEMM_AVX512_ROWS

// Transposes a 16 x 16 block held in 16 registers, in place: afterwards
// rows[t] holds what was column t. Four rounds of 16 shuffles: pairs of
// floats, pairs of doubles, then 128-bit lanes twice.
inline __attribute__((always_inline)) void transpose16(__m512* rows) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(rows[i], rows[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(rows[i], rows[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    for (int j = 0; j < 2; ++j) {
      rows[i + 2 * j] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + j]), _mm512_castps_pd(t[i + j + 2])));
      rows[i + 2 * j + 1] =
          _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + j]), _mm512_castps_pd(t[i + j + 2])));
    }
  }
  for (int i = 0; i < 16; i += 8) {
    for (int j = 0; j < 4; ++j) {
      t[i + j] = _mm512_shuffle_f32x4(rows[i + j], rows[i + j + 4], 0x88);
      t[i + j + 4] = _mm512_shuffle_f32x4(rows[i + j], rows[i + j + 4], 0xdd);
    }
  }
  for (int j = 0; j < 8; ++j) {
    rows[j] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88);
    rows[j + 8] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0xdd);
  }
}

__mmask16 firstLanes(int64_t count) { return static_cast<__mmask16>((1u << count) - 1); }

// One A micro-panel from row-major rows (op(A) = A): 16 steps at a time, the
// panel's rows are loaded as 16-float vectors and transposed, so each step
// comes out as one 12-float store. Rows past `count` load nothing (an empty
// mask, from a valid address), which keeps the block in registers.
void packARowsTransposed(const float* source, int64_t lda, int64_t count, int64_t kc, float* panel) {
  const __mmask16 panelMask = firstLanes(kRows);
  const float* rows[kRows];
  __mmask16 rowMasks[kRows];
  for (int i = 0; i < kRows; ++i) {
    rows[i] = source + (i < count ? i : count - 1) * lda;
    rowMasks[i] = i < count ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>(0);
  }
  for (int64_t k0 = 0; k0 < kc; k0 += 16) {
    const int64_t steps = kc - k0 < 16 ? kc - k0 : 16;
    const __mmask16 stepMask = firstLanes(steps);
    __m512 block[16];
    for (int i = 0; i < kRows; ++i) {
      // The hardware prefetcher does not ramp up on these short row runs.
      _mm_prefetch(reinterpret_cast<const char*>(rows[i] + k0 + 64), _MM_HINT_T0);
      block[i] = _mm512_maskz_loadu_ps(rowMasks[i] & stepMask, rows[i] + k0);
    }
    for (int i = kRows; i < 16; ++i) block[i] = _mm512_setzero_ps();
    transpose16(block);
    if (steps == 16) {
      for (int t = 0; t < 16; ++t) _mm512_mask_storeu_ps(panel + (k0 + t) * kRows, panelMask, block[t]);
    } else {
      for (int64_t t = 0; t < steps; ++t) _mm512_mask_storeu_ps(panel + (k0 + t) * kRows, panelMask, block[t]);
    }
  }
}

void packA(bool transA, const float* source, int64_t lda, int64_t rows, int64_t kc, float* packed) {
  const __mmask16 panelMask = firstLanes(kRows);
  for (int64_t first = 0; first < rows; first += kRows) {
    const int64_t count = rows - first < kRows ? rows - first : kRows;
    float* panel = packed + first * kc;
    if (transA) {
      // Step k of the panel is a contiguous run of rows: one masked copy.
      const __mmask16 rowMask = firstLanes(count);
      for (int64_t k = 0; k < kc; ++k) {
        _mm512_mask_storeu_ps(panel + k * kRows, panelMask, _mm512_maskz_loadu_ps(rowMask, source + k * lda + first));
      }
    } else {
      packARowsTransposed(source + first * lda, lda, count, kc, panel);
    }
  }
}

// One B micro-panel from columns stored contiguously in k (op(B) = B^T):
// two 16 x 16 transposes per 16 steps, each step one aligned 32-float row.
void packBColumnsTransposed(const float* source, int64_t ldb, int64_t count, int64_t kc, float* panel) {
  __m512 block[16];
  for (int64_t k0 = 0; k0 < kc; k0 += 16) {
    const int64_t steps = kc - k0 < 16 ? kc - k0 : 16;
    const __mmask16 stepMask = firstLanes(steps);
    for (int half = 0; half < 2; ++half) {
      for (int j = 0; j < 16; ++j) {
        const int64_t column = half * 16 + j;
        block[j] = column < count ? _mm512_maskz_loadu_ps(stepMask, source + column * ldb + k0) : _mm512_setzero_ps();
      }
      transpose16(block);
      for (int64_t t = 0; t < steps; ++t) _mm512_store_ps(panel + (k0 + t) * kColumns + half * 16, block[t]);
    }
  }
}

void packB(bool transB, const float* source, int64_t ldb, int64_t columns, int64_t kc, float* packed) {
  if (transB) {
    for (int64_t first = 0; first < columns; first += kColumns) {
      const int64_t count = columns - first < kColumns ? columns - first : kColumns;
      packBColumnsTransposed(source + first * ldb, ldb, count, kc, packed + first * kc);
    }
    return;
  }
  // Row k of the block is contiguous: read it once, front to back, and deal
  // it out to every panel (reading panel by panel would jump a whole row of
  // B per step).
  const int64_t fullPanels = columns / kColumns;
  const int64_t rest = columns - fullPanels * kColumns;
  const __mmask16 lowMask = firstLanes(rest < 16 ? rest : 16);
  const __mmask16 highMask = firstLanes(rest < 16 ? 0 : rest - 16);
  // Blocks of kStepBlock rows, panel by panel within a block: each panel
  // gets a run of whole lines (kStepBlock x 128 bytes) at a time. Row by row
  // over every panel, the stores went to lines 128 KiB apart (KC 1024), all
  // in the same few L1 sets.
  constexpr int64_t kStepBlock = 16;
  for (int64_t k0 = 0; k0 < kc; k0 += kStepBlock) {
    const int64_t steps = kc - k0 < kStepBlock ? kc - k0 : kStepBlock;
    for (int64_t q = 0; q < fullPanels; ++q) {
      const float* row = source + k0 * ldb + q * kColumns;
      float* out = packed + q * kColumns * kc + k0 * kColumns;
      for (int64_t k = 0; k < steps; ++k, row += ldb, out += kColumns) {
        _mm512_store_ps(out, _mm512_loadu_ps(row));
        _mm512_store_ps(out + 16, _mm512_loadu_ps(row + 16));
      }
    }
    if (rest > 0) {
      const float* row = source + k0 * ldb + fullPanels * kColumns;
      float* out = packed + fullPanels * kColumns * kc + k0 * kColumns;
      for (int64_t k = 0; k < steps; ++k, row += ldb, out += kColumns) {
        _mm512_store_ps(out, _mm512_maskz_loadu_ps(lowMask, row));
        _mm512_store_ps(out + 16, _mm512_maskz_loadu_ps(highMask, row + 16));
      }
    }
  }
}

}  // namespace

extern const GemmMicrokernel kGemmMicrokernelAvx512 = {"avx512 12x32", kRows, kColumns, microkernel, packA, packB};

}  // namespace kiln

#endif  // defined(__x86_64__)
