// Kernel benchmarks: the measured FMA peak, square GEMM and convolution, per
// ISA and thread count, as a table and (with --json) one JSON record a line.
//
//   npm run bench:kernels -- [--isa=avx512,avx2,scalar] [--threads=1,2] [--quick] [--json] [--repeat=N]
//
// --repeat=N runs the whole suite N times, one pass after another, and keeps
// each record's best pass (on a shared machine other processes only ever slow
// a run down); `spread` is best / worst, a measure of the drift.
// Every throughput is also given as a fraction of the FMA peak measured in
// this same run at the same ISA and thread count, so numbers taken on a busy
// or throttled machine stay comparable. With --json the table goes to stderr
// and stdout holds only the records.
import { backend, setIsa, setNumThreads, version, Isa } from '../lib/backend';
import { gemmKernelInfo } from '../lib/ops/gemm';
import { runConvBenchmarks } from './bench/conv';
import { BenchContext, BenchRecord, machineDescription } from './bench/common';
import { runGemmBenchmarks } from './bench/gemm';
import { PeakTable, measurePeak, peakKey, runPeakBenchmarks } from './bench/peak';

const isaOrder: Isa[] = ['scalar', 'avx2', 'avx512'];

function fail(message: string): never {
  process.stderr.write(`bench-kernels: ${message}\n`);
  process.exit(2);
}

function parseArguments(argv: string[]): { context: BenchContext; json: boolean; repeat: number } {
  const info = backend();
  const supported = isaOrder.slice(0, isaOrder.indexOf(info.detectedIsa) + 1);
  let isas: string[] = [...supported].reverse();
  let threads = [...new Set([1, info.hardwareThreads])];
  let quick = false;
  let json = false;
  let repeat = 1;
  for (const argument of argv) {
    const [flag, value] = argument.split('=', 2);
    if (flag === '--isa' && value) {
      isas = value.split(',');
      for (const isa of isas) {
        if (!supported.includes(isa as Isa)) fail(`expected --isa from ${supported.join(', ')} but received '${isa}'`);
      }
    } else if (flag === '--threads' && value) {
      threads = value.split(',').map(Number);
      for (const count of threads) {
        if (!Number.isInteger(count) || count < 1 || count > 256) fail(`expected --threads as integers in [1, 256] but received '${value}'`);
      }
    } else if (argument === '--quick') {
      quick = true;
    } else if (argument === '--json') {
      json = true;
    } else if (flag === '--repeat' && value) {
      repeat = Number(value);
      if (!Number.isInteger(repeat) || repeat < 1 || repeat > 100) fail(`expected --repeat as an integer in [1, 100] but received '${value}'`);
    } else {
      fail(`unknown argument '${argument}' (expected --isa=..., --threads=..., --quick, --json, --repeat=N)`);
    }
  }
  return { context: { isas, threads, quick }, json, repeat };
}

function formatTable(records: BenchRecord[]): string {
  const header = ['kind', 'name', 'pass', 'isa', 'threads', 'GFLOP/s', '% peak', 'ms', 'spread'];
  const rows = records.map((r) => [
    r.kind,
    r.name,
    r.pass ?? '',
    r.isa,
    String(r.threads),
    r.gflops.toFixed(1),
    r.fractionOfPeak === undefined ? '' : (100 * r.fractionOfPeak).toFixed(1),
    r.seconds === undefined ? '' : (1000 * r.seconds).toFixed(3),
    typeof r.spread === 'number' ? r.spread.toFixed(2) : '',
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  const line = (cells: string[]) => cells.map((cell, c) => (c < 4 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function main(): void {
  const { context, json, repeat } = parseArguments(process.argv.slice(2));
  const out = json ? process.stderr : process.stdout;
  const before = backend();
  const machine = machineDescription();
  const kernels = context.isas.map((isa) => {
    setIsa(isa as Isa);
    const k = gemmKernelInfo();
    return `${k.name} (KC ${k.kc}, MC ${k.mc}, NC ${k.nc})`;
  });
  setIsa(before.isa);
  out.write(
    [
      `kiln ${version()} kernel benchmarks${context.quick ? ' (quick)' : ''}${repeat > 1 ? `, best of ${repeat} passes` : ''}`,
      `CPU: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.platform}, node ${machine.node}`,
      `ISA: detected ${before.detectedIsa} (flags: ${machine.flags || 'n/a'}); measuring ${context.isas.join(', ')} on ${context.threads.join(', ')} thread(s)`,
      `GEMM microkernels: ${kernels.join('; ')}`,
      // The usual convention (the one PyTorch and oneDNN figures use), said
      // out loud because the direct kernels skip filter rows that read only
      // padding: a padded layer can then show more than 100% of peak.
      'conv2d GFLOP/s count every tap of the dense layer, padding included (2 * N * outH * outW * outC * kH * kW * inC)',
      '',
    ].join('\n'),
  );

  const peaks: PeakTable = new Map();
  const best = new Map<string, BenchRecord>();
  const worst = new Map<string, number>();
  const keyOf = (r: BenchRecord) => [r.kind, r.name, r.pass ?? '', r.isa, r.threads].join('|');
  try {
    for (let pass = 0; pass < repeat; pass++) {
      const passPeaks: PeakTable = new Map();
      const records = [
        ...runPeakBenchmarks(context, passPeaks),
        ...runGemmBenchmarks(context, passPeaks),
        ...runConvBenchmarks(context),
      ];
      // The peak again at the end of the pass: the machine may have got busier
      // or quieter meanwhile, and the better figure is the truer one.
      for (const isa of context.isas) {
        for (const threads of context.threads) {
          passPeaks.set(peakKey(isa, threads), Math.max(passPeaks.get(peakKey(isa, threads)) ?? 0, measurePeak(isa, threads, context.quick)));
        }
      }
      for (const record of records) {
        if (record.kind === 'peak') record.gflops = passPeaks.get(peakKey(record.isa, record.threads)) ?? record.gflops;
        const key = keyOf(record);
        const previous = best.get(key);
        if (!previous || record.gflops > previous.gflops) best.set(key, record);
        worst.set(key, Math.min(worst.get(key) ?? Infinity, record.gflops));
      }
    }
  } finally {
    setIsa(before.isa);
    setNumThreads(before.threads);
  }
  const records = [...best.values()];
  for (const record of records) {
    if (record.kind === 'peak') peaks.set(peakKey(record.isa, record.threads), record.gflops);
  }
  for (const record of records) {
    const peak = peaks.get(peakKey(record.isa, record.threads));
    record.fractionOfPeak = record.kind === 'peak' ? 1 : peak ? record.gflops / peak : undefined;
    if (repeat > 1) record.spread = record.gflops / (worst.get(keyOf(record)) ?? record.gflops);
  }

  out.write(formatTable(records) + '\n');
  if (json) for (const record of records) process.stdout.write(JSON.stringify(record) + '\n');
}

main();
