// Prints conv2d GFLOP/s per layer and pass: node dist/scripts/bench-conv.js
//   [--quick] [--isa=avx512,avx2] [--threads=1,2] [--layer=substring] [--json] [--cpu]
// --cpu prints GFLOP per CPU-second of the process (per core: multiply by the
// thread count for what an idle machine would give), which other processes
// on a shared machine disturb much less than the wall-clock figure.
import { backend } from '../lib/backend';
import { runConvBenchmarks, CONV_LAYERS } from './bench/conv';

const args = process.argv.slice(2);
const flag = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const info = backend();
const isas = (flag('isa') ?? info.detectedIsa).split(',');
const threads = (flag('threads') ?? String(info.hardwareThreads)).split(',').map(Number);
const layerFilter = flag('layer');
if (layerFilter) CONV_LAYERS.splice(0, CONV_LAYERS.length, ...CONV_LAYERS.filter((l) => l.name.includes(layerFilter)));

const records = runConvBenchmarks({ isas, threads, quick: args.includes('--quick') });
const rows = new Map<string, Record<string, string>>();
for (const r of records) {
  const key = `${r.name} ${r.isa} t${r.threads}`;
  const row = rows.get(key) ?? { layer: r.name, isa: r.isa, threads: String(r.threads) };
  const value = args.includes('--cpu') ? (r.gflopsPerCpuSecond as number) : r.gflops;
  row[r.pass as string] = value.toFixed(1);
  rows.set(key, row);
}
console.log(args.includes('--cpu') ? 'GFLOP per CPU-second (per core) at batch 64' : 'GFLOP/s at batch 64');
console.table([...rows.values()]);
if (args.includes('--json')) console.log(JSON.stringify(records));
