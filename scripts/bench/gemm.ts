// Square fp32 GEMM throughput, C = A * B (no transposes, beta = 0), in
// GFLOP/s (2 * n^3 operations per call) and as a fraction of the measured FMA
// peak at the same ISA and thread count.
import { setIsa, setNumThreads, Isa } from '../../lib/backend';
import { gemm, gemmKernelInfo } from '../../lib/ops/gemm';
import { BenchContext, BenchRecord, timeMedian } from './common';
import { PeakTable, peakKey } from './peak';

const fullSizes = [64, 128, 256, 512, 1024, 2048];
const quickSizes = [64, 128, 256, 512];

function randomMatrix(size: number, seed: number): Float32Array {
  const data = new Float32Array(size * size);
  let state = seed;
  for (let i = 0; i < data.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    data[i] = state / 2 ** 32 - 0.5;
  }
  return data;
}

export function runGemmBenchmarks(context: BenchContext, peaks: PeakTable): BenchRecord[] {
  const records: BenchRecord[] = [];
  const sizes = context.quick ? quickSizes : fullSizes;
  for (const isa of context.isas) {
    setIsa(isa as Isa);
    const kernel = gemmKernelInfo();
    for (const size of sizes) {
      const A = randomMatrix(size, 1);
      const B = randomMatrix(size, 2);
      const C = new Float32Array(size * size);
      const flops = 2 * size ** 3;
      for (const threads of context.threads) {
        setNumThreads(threads);
        // Slow paths at big sizes would take minutes; keep the total time bounded.
        const minSeconds = context.quick ? 0.05 : 0.25;
        const seconds = timeMedian(() => gemm({ M: size, N: size, K: size, A, B, C }), minSeconds, 3);
        const gflops = flops / seconds / 1e9;
        const peak = peaks.get(peakKey(isa, threads));
        records.push({
          kind: 'gemm',
          name: `${size}x${size}x${size}`,
          threads,
          isa,
          gflops,
          fractionOfPeak: peak ? gflops / peak : undefined,
          seconds,
          kernel: kernel.name,
        });
      }
    }
  }
  return records;
}
