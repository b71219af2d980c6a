import { BenchContext, BenchRecord } from './common';
export function runConvBenchmarks(context: BenchContext): BenchRecord[] { return []; }
