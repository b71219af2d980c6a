// The FMA peak driver and the portable loop. The portable loop is plain C++
// (a multiply then an add, since baseline x86-64 has no FMA) over 12 chains of
// 4 floats, which the compiler turns into SSE2 vector operations.
#include "fma_peak.h"

#include <time.h>

#include <chrono>
#include <vector>

#include "../runtime/thread_pool.h"

namespace kiln {
namespace {

constexpr int kChains = 12;
constexpr int kLanes = 4;

float runPortable(int64_t iterations) {
  float acc[kChains][kLanes];
  for (int c = 0; c < kChains; ++c) {
    for (int l = 0; l < kLanes; ++l) acc[c][l] = static_cast<float>(c + l);
  }
  const float scale = 0.999999f;
  const float offset = 0.000001f;
  for (int64_t n = 0; n < iterations; ++n) {
    for (int c = 0; c < kChains; ++c) {
      for (int l = 0; l < kLanes; ++l) acc[c][l] = acc[c][l] * scale + offset;
    }
  }
  float total = 0.0f;
  for (int c = 0; c < kChains; ++c) {
    for (int l = 0; l < kLanes; ++l) total += acc[c][l];
  }
  return total;
}

// Seconds of CPU time this thread has run: on a machine shared with other
// processes, time spent descheduled is not the FMA units' slowness. Falls
// back to the wall clock where the thread clock is missing.
double threadSeconds() {
#if defined(CLOCK_THREAD_CPUTIME_ID)
  timespec now;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now) == 0) return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
#endif
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

const FmaPeakLoop& loopFor(Isa isa) {
#if defined(__x86_64__)
  if (isa == Isa::Avx512) return kFmaPeakLoopAvx512;
  if (isa == Isa::Avx2) return kFmaPeakLoopAvx2;
#endif
  (void)isa;
  return kFmaPeakLoopScalar;
}

}  // namespace

extern const FmaPeakLoop kFmaPeakLoopScalar = {"sse2 multiply + add", kChains * kLanes * 2, runPortable};

double measureFmaPeak(Isa isa, int threads, double milliseconds) {
  const FmaPeakLoop& loop = loopFor(isa);
  std::vector<double> rates(static_cast<size_t>(threads > 0 ? threads : 1), 0.0);
  std::vector<float> results(rates.size(), 0.0f);
  parallelTasks(threads, [&](int task, int) {
    // Rounds of a fixed size, repeated until the time is up; each task times
    // itself (in CPU time), so a late start does not count as slowness.
    const int64_t round = 1 << 16;
    int64_t iterations = 0;
    float keep = 0.0f;
    const double start = threadSeconds();
    double seconds = 0.0;
    do {
      keep += loop.run(round);
      iterations += round;
      seconds = threadSeconds() - start;
    } while (seconds * 1000.0 < milliseconds);
    rates[static_cast<size_t>(task)] = static_cast<double>(iterations) * static_cast<double>(loop.flopsPerIteration) / seconds;
    results[static_cast<size_t>(task)] = keep;
  });
  // Published through a volatile so the loops' results count as used.
  volatile float sink = 0.0f;
  for (float result : results) sink = sink + result;
  double total = 0.0;
  for (double rate : rates) total += rate;
  return total / 1e9;
}

}  // namespace kiln
