// The GEMM microkernels, one per ISA, and the packed layouts they read.
//
// Packed A (one MR-row micro-panel): element (row i, step k) at k * MR + i.
// Packed B (one NR-column micro-panel): element (step k, column j) at k * NR + j.
// Rows or columns past the matrix edge are packed as zeros, so a kernel always
// computes a full MR x NR tile; the driver (gemm.cpp) sends partial tiles to a
// temporary tile and merges only the valid part into C.
//
// A kernel computes acc = sum over k < kc of A(i, k) * B(k, j) for the tile and
// stores C[i * ldc + j] = alpha * acc + beta * C[i * ldc + j]; with beta == 0
// it stores alpha * acc without reading C.
//
// The ISA kernels are constant tables defined in their own translation units
// (gemm_microkernel_<isa>.cpp, built with that ISA's flags); reading a table
// runs no ISA code, so portable code may look at all of them and call only the
// one activeIsa() allows.
#pragma once

#include <cstdint>

#include "../runtime/cpu_features.h"

namespace kiln {

using GemmMicrokernelFunction = void (*)(int64_t kc, const float* packedA, const float* packedB, float* C,
                                         int64_t ldc, float alpha, float beta);

// Packs rows [0, rows) and steps [0, kc) of op(A), starting at `source`
// (already offset to the block's first row and step), into ceil(rows / MR)
// consecutive micro-panels of MR x kc; rows past `rows` in the last panel are
// zero.
using GemmPackAFunction = void (*)(bool transA, const float* source, int64_t lda, int64_t rows, int64_t kc,
                                   float* packed);
// Packs steps [0, kc) and columns [0, columns) of op(B) into ceil(columns /
// NR) consecutive micro-panels of kc x NR; columns past `columns` are zero.
using GemmPackBFunction = void (*)(bool transB, const float* source, int64_t ldb, int64_t columns, int64_t kc,
                                   float* packed);

struct GemmMicrokernel {
  const char* name;
  int mr;
  int nr;
  GemmMicrokernelFunction kernel;
  GemmPackAFunction packA;
  GemmPackBFunction packB;
};

// Largest MR * NR of any kernel: the size of the driver's temporary edge tile.
constexpr int kGemmMaxTileFloats = 16 * 64;

extern const GemmMicrokernel kGemmMicrokernelScalar;
#if defined(__x86_64__)
extern const GemmMicrokernel kGemmMicrokernelAvx2;
extern const GemmMicrokernel kGemmMicrokernelAvx512;
#endif

// Cache blocking for a kernel: KC steps of K, MC rows of A and NC columns of B
// per packed block.
struct GemmBlocking {
  int64_t kc;
  int64_t mc;
  int64_t nc;
};
GemmBlocking gemmBlockingFor(const GemmMicrokernel& kernel);

// The kernel for an ISA (the best one compiled in, at most `isa`).
const GemmMicrokernel& gemmMicrokernelFor(Isa isa);

}  // namespace kiln
