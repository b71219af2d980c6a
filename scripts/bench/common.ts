// What every kernel benchmark shares: the record format, timing, and the
// machine's description.
import * as os from 'node:os';
import * as fs from 'node:fs';

export interface BenchRecord {
  kind: 'peak' | 'gemm' | 'conv2d' | string;
  name: string;
  pass?: 'forward' | 'backwardData' | 'backwardFilter';
  threads: number;
  isa: string;
  gflops: number;
  /** Fraction of the measured FMA peak at the same ISA and thread count, when known. */
  fractionOfPeak?: number;
  seconds?: number;
  [extra: string]: unknown;
}

export interface BenchContext {
  isas: string[];
  threads: number[];
  /** Fewer sizes and repetitions, for smoke tests. */
  quick: boolean;
}

/** Median seconds of `run` over repetitions lasting at least minSeconds in total, after one warm-up call. */
export function timeMedian(run: () => void, minSeconds = 0.3, minRepetitions = 3): number {
  run();
  const times: number[] = [];
  const start = process.hrtime.bigint();
  while (times.length < minRepetitions || Number(process.hrtime.bigint() - start) / 1e9 < minSeconds) {
    const t0 = process.hrtime.bigint();
    run();
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
    if (times.length >= 1000) break;
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

export function machineDescription(): { cpu: string; cores: number; memoryGiB: number; node: string; platform: string; flags: string } {
  let flags = '';
  try {
    const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
    const line = info.split('\n').find((l) => l.startsWith('flags'));
    if (line) flags = ['avx512f', 'avx2', 'fma'].filter((f) => line.includes(` ${f}`)).join(' ');
  } catch {
    // not Linux
  }
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    flags,
  };
}
