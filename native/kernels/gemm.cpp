// Packed, cache-blocked fp32 GEMM (the five loops of the BLIS design).
//
// Layout: row-major A, B, C with leading dimensions; op(A) is M x K, op(B) is
// K x N (see gemm.h). Loop order, outermost first:
//   thread grid   C is cut into one block per task along whole MR x NR tiles
//                 (a split by rows with enough rows deals them in chunks
//                 instead, see multiplyRowsDealt)
//   jc (NC)       columns of the block
//   pc (KC)       steps of K; B[pc.., jc..] is packed into NR-column micro-panels
//   ic (MC)       rows; A[ic.., pc..] is packed into MR-row micro-panels
//                 (blocks wider than NC swap jc and pc and pack A once per pc)
//   ir (MR)       one packed A micro-panel, kept in L1 across the jr loop
//   jr (NR)       the microkernel: one MR x NR tile of C over kc steps
// Packing pads edge panels with zeros, so the microkernel never branches on
// edges; partial tiles go through a temporary tile. Each task packs what its
// block needs into thread-local buffers that persist across calls, so threads
// share no packed data (the guest's two vCPUs sit on different L3s), and
// every element of C sees the same sequence of operations whatever the
// thread count (the tile grid and the KC steps do not depend on it).
#include "gemm.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "../runtime/aligned_buffer.h"
#include "../runtime/cpu_features.h"
#include "../runtime/thread_pool.h"
#include "../runtime/work_dealer.h"
#include "gemm_microkernels.h"

namespace kiln {

const GemmMicrokernel& gemmMicrokernelFor(Isa isa) {
#if defined(__x86_64__)
  if (isa == Isa::Avx512) return kGemmMicrokernelAvx512;
  if (isa == Isa::Avx2) return kGemmMicrokernelAvx2;
#endif
  (void)isa;
  return kGemmMicrokernelScalar;
}

namespace {

// Columns of B per packed block (NC): 1 MiB of B at KC 256, half the L2 of
// the Xeon this was first tuned on.
constexpr int64_t kBlockColumns = 1024;
// Problems with fewer multiply-adds than this run on one thread: waking the
// pool costs more than the work.
constexpr int64_t kMinParallelWork = 80 * 80 * 80;

}  // namespace

// The A micro-panel (MR x KC) is reused across the jr loop while B
// micro-panels stream past it from the packed B block (KC x NC); the packed A
// block (MC x KC) lives in L2/L3 and only needs to be big enough to amortise
// packing B. Each pass over K reads and writes the C block once more, so a
// deeper KC saves passes over C, as long as the caches keep streaming A and B
// panels at the kernel's rate. Measured (n = 512..2048, interleaved runs):
//  - the Xeon (first session, 1 core): KC 256, NC 1024, MC about 480 best;
//    NC 2048 (a 2 MiB B block) lost 10-15%.
//  - the Zen 5 (tenth session), AVX-512: KC 1024 beat 256 by 3-9% on 1 and
//    2 cores at n = 1024..2048 and by 1-3% at 512, even though its 48 KiB A
//    panel then fills L1 (KC 512 sat in between); AVX2 on the same cores was
//    within 1% either way, so only AMD's AVX-512 path goes deeper.
GemmBlocking gemmBlockingFor(const GemmMicrokernel& kernel) {
  GemmBlocking blocking;
#if defined(__x86_64__)
  const bool deepPasses = &kernel == &kGemmMicrokernelAvx512 && cpuIsAmd();
#else
  const bool deepPasses = false;
#endif
  blocking.kc = deepPasses ? 1024 : 256;
  blocking.nc = std::max<int64_t>(kernel.nr, kBlockColumns / kernel.nr * kernel.nr);
  blocking.mc = std::max<int64_t>(kernel.mr, 480 / kernel.mr * kernel.mr);
  return blocking;
}

namespace {

struct Problem {
  bool transA, transB;
  int64_t M, N, K;
  float alpha;
  const float* A;
  int64_t lda;
  const float* B;
  int64_t ldb;
  float beta;
  float* C;
  int64_t ldc;

  // Address of op(A)(i, k) and op(B)(k, j).
  const float* a(int64_t i, int64_t k) const { return transA ? A + k * lda + i : A + i * lda + k; }
  const float* b(int64_t k, int64_t j) const { return transB ? B + j * ldb + k : B + k * ldb + j; }
};

thread_local AlignedBuffer<float> packedABuffer;
thread_local AlignedBuffer<float> packedBBuffer;

// C = alpha * tile + beta * C on the valid rows x columns of a partial tile.
void mergeTile(const float* tile, int64_t tileStride, int64_t rows, int64_t columns, float alpha, float beta,
               float* C, int64_t ldc) {
  for (int64_t i = 0; i < rows; ++i) {
    float* row = C + i * ldc;
    const float* source = tile + i * tileStride;
    if (beta == 0.0f) {
      for (int64_t j = 0; j < columns; ++j) row[j] = alpha * source[j];
    } else {
      for (int64_t j = 0; j < columns; ++j) row[j] = alpha * source[j] + beta * row[j];
    }
  }
}

// Packed A a block may keep for all of its column blocks (rows x KC floats,
// 8 MiB): with more columns than NC, packing A once per K step instead of
// once per column block saves a transposing pass over A for every extra
// column block.
constexpr int64_t kMaxPackedAFloats = 2048 * 1024;

// Steps of K per pass: K split into the fewest passes of at most kcMax
// steps, all about the same depth, so no pass is a short tail whose C
// load and store cost more than its arithmetic (K = 600 runs as 300 + 300,
// not 512 + 88). It depends on K alone, so results stay independent of
// the thread count.
int64_t depthPerPass(int64_t K, int64_t kcMax) {
  const int64_t passes = (K + kcMax - 1) / kcMax;
  return (K + passes - 1) / passes;
}

// The ir and jr loops over one packed A block (mc rows from ic) and one
// packed B block (nc columns from jc), kc steps deep.
void multiplyBlocks(const Problem& p, const GemmMicrokernel& kernel, const float* blockA, const float* packedB,
                    int64_t ic, int64_t mc, int64_t jc, int64_t nc, int64_t kc, float beta) {
  const int64_t mr = kernel.mr;
  const int64_t nr = kernel.nr;
  alignas(64) float tile[kGemmMaxTileFloats];
  const int64_t rowPanels = (mc + mr - 1) / mr;
  const int64_t columnPanels = (nc + nr - 1) / nr;
  for (int64_t r = 0; r < rowPanels; ++r) {
    const int64_t tileRows = std::min(mr, mc - r * mr);
    const float* panelA = blockA + r * mr * kc;
    for (int64_t q = 0; q < columnPanels; ++q) {
      const int64_t tileColumns = std::min(nr, nc - q * nr);
      const float* panelB = packedB + q * nr * kc;
      float* tileC = p.C + (ic + r * mr) * p.ldc + jc + q * nr;
      if (tileRows == mr && tileColumns == nr) {
        kernel.kernel(kc, panelA, panelB, tileC, p.ldc, p.alpha, beta);
      } else {
        // A partial tile goes through `tile`; only its valid part reaches C.
        kernel.kernel(kc, panelA, panelB, tile, nr, 1.0f, 0.0f);
        mergeTile(tile, nr, tileRows, tileColumns, p.alpha, beta, tileC, p.ldc);
      }
    }
  }
}

void computeBlock(const Problem& p, const GemmMicrokernel& kernel, const GemmBlocking& blocking, int64_t rowBegin,
                  int64_t rowEnd, int64_t columnBegin, int64_t columnEnd) {
  const int64_t mr = kernel.mr;
  const int64_t nr = kernel.nr;
  const int64_t depth = depthPerPass(p.K, blocking.kc);
  const int64_t ncMax = std::min(blocking.nc, columnEnd - columnBegin);
  const int64_t rows = rowEnd - rowBegin;
  const bool packAOnce = columnEnd - columnBegin > blocking.nc && rows * depth <= kMaxPackedAFloats;
  const int64_t packedRows = packAOnce ? rows : std::min(blocking.mc, rows);
  packedBBuffer.reserve(static_cast<size_t>((ncMax + nr - 1) / nr * nr * depth));
  packedABuffer.reserve(static_cast<size_t>((packedRows + mr - 1) / mr * mr * depth));
  float* packedB = packedBBuffer.data();
  float* packedA = packedABuffer.data();

  // Both orders give every element of C the same operations in the same
  // order (K steps ascending, the same tiles), so results do not depend on
  // which one runs. Later K steps add to what the first one stored.
  if (packAOnce) {
    for (int64_t pc = 0; pc < p.K; pc += depth) {
      const int64_t kc = std::min(depth, p.K - pc);
      const float beta = pc == 0 ? p.beta : 1.0f;
      kernel.packA(p.transA, p.a(rowBegin, pc), p.lda, rows, kc, packedA);
      for (int64_t jc = columnBegin; jc < columnEnd; jc += blocking.nc) {
        const int64_t nc = std::min(blocking.nc, columnEnd - jc);
        kernel.packB(p.transB, p.b(pc, jc), p.ldb, nc, kc, packedB);
        for (int64_t ic = rowBegin; ic < rowEnd; ic += blocking.mc) {
          const int64_t mc = std::min(blocking.mc, rowEnd - ic);
          multiplyBlocks(p, kernel, packedA + (ic - rowBegin) * kc, packedB, ic, mc, jc, nc, kc, beta);
        }
      }
    }
    return;
  }
  for (int64_t jc = columnBegin; jc < columnEnd; jc += blocking.nc) {
    const int64_t nc = std::min(blocking.nc, columnEnd - jc);
    for (int64_t pc = 0; pc < p.K; pc += depth) {
      const int64_t kc = std::min(depth, p.K - pc);
      const float beta = pc == 0 ? p.beta : 1.0f;
      kernel.packB(p.transB, p.b(pc, jc), p.ldb, nc, kc, packedB);
      for (int64_t ic = rowBegin; ic < rowEnd; ic += blocking.mc) {
        const int64_t mc = std::min(blocking.mc, rowEnd - ic);
        kernel.packA(p.transA, p.a(ic, pc), p.lda, mc, kc, packedA);
        multiplyBlocks(p, kernel, packedA, packedB, ic, mc, jc, nc, kc, beta);
      }
    }
  }
}

// Least multiply-adds per dealt chunk of rows (about 10 us of one core).
constexpr double kMinChunkMacs = 1 << 20;
// Rows are dealt only when each thread's share holds this many chunks;
// with fewer there is little to balance (128 and 256 ran 0.96-0.98x).
constexpr int64_t kMinChunksPerThread = 4;

int64_t panelsPerRowChunk(const Problem& p, const GemmMicrokernel& kernel) {
  const double panelMacs = static_cast<double>(kernel.mr) * static_cast<double>(p.N) * static_cast<double>(p.K);
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(kMinChunkMacs / panelMacs)));
}

bool dealsRows(const Problem& p, const GemmMicrokernel& kernel, int tasks) {
  const int64_t rowPanels = (p.M + kernel.mr - 1) / kernel.mr;
  return rowPanels / panelsPerRowChunk(p, kernel) >= kMinChunksPerThread * tasks;
}

// The row split of several threads with the rows dealt in chunks instead of
// one fixed block per thread. Per (column block, K pass), every thread packs
// that block of B (as the fixed split did) and then takes chunks of rows
// from a WorkDealer, its own contiguous share first, packing each chunk's A
// just before its panels run; one parallel job per (jc, pc), so a later K
// pass never adds to rows whose earlier pass another thread has not
// finished. Each C tile sees the same operations in the same order whichever
// thread runs it, so results do not depend on the thread count.
// Why, measured at 1024 on 2 threads (alternating builds): A packed a chunk
// at a time instead of 480 rows ahead (1.9 MiB at KC 1024, past L2): 1.03x;
// then the dealing itself, so that the thread on the busier of the guest's
// two L3s does fewer rows: another 1.02x. 512 and 2048 stayed within 1%.
void multiplyRowsDealt(const Problem& p, const GemmMicrokernel& kernel, const GemmBlocking& blocking, int tasks) {
  const int64_t mr = kernel.mr;
  const int64_t nr = kernel.nr;
  // Chunks of whole MR-row panels, as small as kMinChunkMacs allows: the
  // last chunk is what a thread that finishes first can take over, so the
  // finer the better (10-panel chunks ran 1024 at 0.96x of the fixed split,
  // single panels at 1.03-1.04x), but a small problem's per-chunk packing
  // and dealing cost more than they balance (AVX2 128 at 0.89x in panels).
  const int64_t rowPanels = (p.M + mr - 1) / mr;
  const int64_t chunkPanels = panelsPerRowChunk(p, kernel);
  const int64_t chunks = (rowPanels + chunkPanels - 1) / chunkPanels;
  // Chunk c covers panels [c * rowPanels / chunks, (c + 1) * rowPanels / chunks).
  const auto chunkRow = [&](int64_t chunk) { return std::min(p.M, chunk * rowPanels / chunks * mr); };
  const int64_t depth = depthPerPass(p.K, blocking.kc);
  for (int64_t jc = 0; jc < p.N; jc += blocking.nc) {
    const int64_t nc = std::min(blocking.nc, p.N - jc);
    for (int64_t pc = 0; pc < p.K; pc += depth) {
      const int64_t kc = std::min(depth, p.K - pc);
      const float beta = pc == 0 ? p.beta : 1.0f;
      WorkDealer dealer(chunks, tasks);
      parallelTasks(tasks, [&](int task, int) {
        packedBBuffer.reserve(static_cast<size_t>((nc + nr - 1) / nr * nr * kc));
        // A chunk is at most chunkPanels panels, packed at most MC rows at a time.
        packedABuffer.reserve(static_cast<size_t>(std::min(blocking.mc, chunkPanels * mr) * kc));
        float* packedB = packedBBuffer.data();
        float* packedA = packedABuffer.data();
        kernel.packB(p.transB, p.b(pc, jc), p.ldb, nc, kc, packedB);
        for (int64_t chunk = dealer.next(task); chunk < chunks; chunk = dealer.next(task)) {
          const int64_t rowEnd = chunkRow(chunk + 1);
          for (int64_t ic = chunkRow(chunk); ic < rowEnd; ic += blocking.mc) {
            const int64_t mc = std::min(blocking.mc, rowEnd - ic);
            kernel.packA(p.transA, p.a(ic, pc), p.lda, mc, kc, packedA);
            multiplyBlocks(p, kernel, packedA, packedB, ic, mc, jc, nc, kc, beta);
          }
        }
      });
    }
  }
}

// C = beta * C, for the cases where op(A) * op(B) contributes nothing.
void scaleC(int64_t M, int64_t N, float beta, float* C, int64_t ldc) {
  if (beta == 1.0f) return;
  for (int64_t i = 0; i < M; ++i) {
    float* row = C + i * ldc;
    if (beta == 0.0f) {
      std::fill(row, row + N, 0.0f);
    } else {
      for (int64_t j = 0; j < N; ++j) row[j] *= beta;
    }
  }
}

struct Grid {
  int rows;
  int columns;
};

// The split of C into rows x columns blocks (whole tiles) with the least
// estimated time on the slowest task: tile arithmetic plus packing, where
// every block packs its own rows of A and columns of B, and a transposing
// pack (a gather) costs more than a contiguous copy.
Grid chooseGrid(const Problem& p, const GemmMicrokernel& kernel, const GemmBlocking& blocking, int tasks) {
  const int64_t rowTiles = (p.M + kernel.mr - 1) / kernel.mr;
  const int64_t columnTiles = (p.N + kernel.nr - 1) / kernel.nr;
  // The kernel does about nr multiply-adds per cycle (two FMA vectors of
  // nr / 2 lanes).
  const double fmaPerCycle = static_cast<double>(kernel.nr);
  // Cycles per packed element, measured roughly with the AVX-512 packers: a
  // 16 x 16 register transpose vs a straight copy.
  const double packACost = p.transA ? 0.2 : 0.5;
  const double packBCost = p.transB ? 0.5 : 0.2;
  Grid best{1, 1};
  double bestCost = -1.0;
  for (int rows = 1; rows <= tasks; ++rows) {
    const int columns = tasks / rows;
    if (rows > rowTiles || columns > columnTiles) continue;
    const int64_t blockRowTiles = (rowTiles + rows - 1) / rows;
    const int64_t blockColumnTiles = (columnTiles + columns - 1) / columns;
    const double blockRows = static_cast<double>(std::min(p.M, blockRowTiles * kernel.mr));
    const double blockColumns = static_cast<double>(std::min(p.N, blockColumnTiles * kernel.nr));
    const double columnBlocks = static_cast<double>((blockColumnTiles * kernel.nr + blocking.nc - 1) / blocking.nc);
    const double k = static_cast<double>(p.K);
    const double cost = static_cast<double>(blockRowTiles * kernel.mr) * static_cast<double>(blockColumnTiles * kernel.nr) *
                            k / fmaPerCycle +
                        blockRows * k * packACost * columnBlocks + blockColumns * k * packBCost;
    if (bestCost < 0.0 || cost < bestCost) {
      bestCost = cost;
      best = Grid{rows, columns};
    }
  }
  return best;
}

}  // namespace

void gemmReference(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                   int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      double sum = 0.0;
      for (int64_t k = 0; k < K; ++k) {
        const float a = transA ? A[k * lda + i] : A[i * lda + k];
        const float b = transB ? B[j * ldb + k] : B[k * ldb + j];
        sum += static_cast<double>(a) * b;
      }
      const float scaled = alpha * static_cast<float>(sum);
      C[i * ldc + j] = beta == 0.0f ? scaled : scaled + beta * C[i * ldc + j];
    }
  }
}

void gemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {
    scaleC(M, N, beta, C, ldc);
    return;
  }
  const GemmMicrokernel& kernel = gemmMicrokernelFor(activeIsa());
  const GemmBlocking blocking = gemmBlockingFor(kernel);
  const Problem problem{transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc};

  const int64_t rowTiles = (M + kernel.mr - 1) / kernel.mr;
  const int64_t columnTiles = (N + kernel.nr - 1) / kernel.nr;
  int tasks = numThreads();
  if (static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K) < kMinParallelWork) tasks = 1;
  tasks = static_cast<int>(std::min<int64_t>(tasks, rowTiles * columnTiles));
  if (tasks <= 1) {
    computeBlock(problem, kernel, blocking, 0, M, 0, N);
    return;
  }
  const Grid grid = chooseGrid(problem, kernel, blocking, tasks);
  if (grid.columns == 1 && dealsRows(problem, kernel, tasks)) {
    multiplyRowsDealt(problem, kernel, blocking, tasks);
    return;
  }
  const int blocks = grid.rows * grid.columns;
  parallelTasks(blocks, [&](int task, int taskCount) {
    // Normally one block per task; loop in case the pool ran fewer tasks.
    for (int block = task; block < blocks; block += taskCount) {
      const int blockRow = block / grid.columns;
      const int blockColumn = block % grid.columns;
      const int64_t rowBegin = std::min(M, rowTiles * blockRow / grid.rows * kernel.mr);
      const int64_t rowEnd = std::min(M, rowTiles * (blockRow + 1) / grid.rows * kernel.mr);
      const int64_t columnBegin = std::min(N, columnTiles * blockColumn / grid.columns * kernel.nr);
      const int64_t columnEnd = std::min(N, columnTiles * (blockColumn + 1) / grid.columns * kernel.nr);
      if (rowBegin < rowEnd && columnBegin < columnEnd) {
        computeBlock(problem, kernel, blocking, rowBegin, rowEnd, columnBegin, columnEnd);
      }
    }
  });
}

}  // namespace kiln
