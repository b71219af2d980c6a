// General matrix multiply, fp32, row-major.
//
//   C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C[M,N]
//
// op(A) is A (M x K, leading dimension lda) or, with transA, the transpose of
// a K x M matrix. Likewise for B. beta == 0 means C is written without being
// read (so C may hold NaN garbage). As in BLAS, alpha == 0 or K == 0 means A
// and B are not read at all: C = beta * C. Multithreaded with the kiln thread
// pool; microkernels are chosen from activeIsa() on every call. C must not
// overlap A or B.
#pragma once

#include <cstdint>

namespace kiln {

void gemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// The plain triple loop the tests trust; also correct for every shape.
void gemmReference(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                   int64_t ldc);

}  // namespace kiln
