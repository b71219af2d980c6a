// The machine's measured fp32 multiply-add peak: many independent FMA chains
// per thread, no memory traffic, so the rate is what the FMA units sustain.
// Benchmarks report kernel throughput as a fraction of this figure, measured
// in the same run at the same ISA and thread count.
#pragma once

#include <cstdint>

#include "../runtime/cpu_features.h"

namespace kiln {

// One ISA's loop: `iterations` rounds over independent accumulator chains;
// returns a value derived from the accumulators so the work cannot be dropped.
struct FmaPeakLoop {
  const char* name;
  // Floating-point operations per iteration (a multiply-add counts as two).
  int64_t flopsPerIteration;
  float (*run)(int64_t iterations);
};

extern const FmaPeakLoop kFmaPeakLoopScalar;
#if defined(__x86_64__)
extern const FmaPeakLoop kFmaPeakLoopAvx2;
extern const FmaPeakLoop kFmaPeakLoopAvx512;
#endif

// GFLOP/s summed over min(threads, numThreads()) pool tasks, each running the
// ISA's loop for about `milliseconds` of its own CPU time (so the figure is
// what the cores can do, even while other processes share them). The ISA
// must be one the CPU supports.
double measureFmaPeak(Isa isa, int threads, double milliseconds);

}  // namespace kiln
