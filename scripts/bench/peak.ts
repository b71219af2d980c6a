// The machine's measured fp32 FMA peak per ISA and thread count: the
// denominator of every kernel's "fraction of peak". A native loop of
// independent FMA chains (no memory traffic) runs on each thread, timed in
// that thread's CPU time, so the figure is what the cores can do even while
// other processes share them (kernels are timed on the wall clock, so on a
// busy machine their fraction comes out low, never above 1). The best of a
// few short runs counts.
import { setNumThreads } from '../../lib/backend';
import { measureFmaPeak } from '../../lib/ops/gemm';
import { BenchContext, BenchRecord } from './common';

export type PeakTable = Map<string, number>;

export function peakKey(isa: string, threads: number): string {
  return `${isa}/${threads}`;
}

export function measurePeak(isa: string, threads: number, quick: boolean): number {
  setNumThreads(threads);
  let best = 0;
  for (let run = 0; run < (quick ? 4 : 12); run++) best = Math.max(best, measureFmaPeak(isa, threads, 25));
  return best;
}

export function runPeakBenchmarks(context: BenchContext, peaks: PeakTable): BenchRecord[] {
  const records: BenchRecord[] = [];
  for (const isa of context.isas) {
    for (const threads of context.threads) {
      const gflops = measurePeak(isa, threads, context.quick);
      peaks.set(peakKey(isa, threads), gflops);
      records.push({ kind: 'peak', name: 'fma', threads, isa, gflops, fractionOfPeak: 1 });
    }
  }
  return records;
}
