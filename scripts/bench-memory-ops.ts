// Memory-bound ops of a resnet20 training step (batch 128, 28x28 input):
// batch norm + ReLU forward and backward, residual add + ReLU forward and
// backward, as separate kernels (how the plan runs them today) and fused.
//
//   node dist/scripts/bench-memory-ops.js [--threads=1,2] [--repeats=30]
//   KILN_BASELINE_ADDON=/path/to/old/kiln.node node dist/scripts/bench-memory-ops.js
//
// With KILN_BASELINE_ADDON the separate-kernel column also runs on that
// (older) build, so one run compares old kernels, new separate kernels and
// new fused kernels. GB/s counts each op's essential traffic once (the fused
// kernel's inputs read and outputs written), the same bytes for every
// column, so the ratio of two columns is the speedup.
import { loadAddon } from '../lib/native';
import { backend, setNumThreads } from '../lib/backend';

type Kind = 'linear' | 'relu' | 'sigmoid' | 'tanh';
type F = Float32Array;
interface Separate {
  batchNormForwardTraining(x: F, g: F, b: F, y: F, m: F, s: F, rm: F | null, rv: F | null, rows: number, channels: number, eps: number, mom: number): void;
  batchNormBackward(x: F, dy: F, g: F, m: F, s: F, dx: F, dg: F, db: F, rows: number, channels: number): void;
  activationForward(kind: Kind, x: F, y: F): void;
  activationBackward(kind: Kind, y: F, dy: F, dx: F): void;
  add(a: F, b: F, out: F): void;
  axpy(alpha: number, x: F, y: F): void;
  setNumThreads(threads: number): void;
}
interface Fused extends Separate {
  batchNormActivationForwardTraining(kind: Kind, x: F, g: F, b: F, y: F, m: F, s: F, rm: F | null, rv: F | null, rows: number, channels: number, eps: number, mom: number): void;
  batchNormActivationBackward(kind: Kind, x: F, y: F, dy: F, g: F, m: F, s: F, dx: F | null, dg: F, db: F, rows: number, channels: number): void;
  addActivationForward(kind: Kind, a: F, b: F, out: F): void;
  activationBackwardTo(kind: Kind, y: F, dy: F, gradA: F | null, accumulateA: boolean, gradB: F | null, accumulateB: boolean): void;
}

const current = loadAddon<Fused>();
// eslint-disable-next-line @typescript-eslint/no-require-imports
const baseline: Separate | undefined = process.env.KILN_BASELINE_ADDON ? require(process.env.KILN_BASELINE_ADDON) : undefined;

let threadList = [1, 2];
let repeats = 30;
for (const argument of process.argv.slice(2)) {
  const [flag, value] = argument.split('=', 2);
  if (flag === '--threads' && value) threadList = value.split(',').map(Number);
  else if (flag === '--repeats' && value) repeats = Number(value);
  else {
    process.stderr.write(`bench-memory-ops: unknown argument '${argument}'\n`);
    process.exit(2);
  }
}

function filled(length: number, seed: number): F {
  const out = new Float32Array(length);
  let s = seed;
  for (let i = 0; i < length; ++i) {
    s = (s * 1103515245 + 12345) >>> 0;
    out[i] = (s / 4294967296) * 2 - 1;
  }
  return out;
}

// Median of `repeats` timings in ms, after two warm-up runs.
function time(body: () => void): number {
  body();
  body();
  const samples: number[] = [];
  for (let i = 0; i < repeats; ++i) {
    const start = process.hrtime.bigint();
    body();
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

interface Op {
  name: string;
  bytes: number;
  separate: (k: Separate) => void;
  fused: () => void;
}

function opsFor(rows: number, channels: number): Op[] {
  const n = rows * channels;
  const x = filled(n, 1), y = new Float32Array(n), dy = filled(n, 2), dx = new Float32Array(n), tmp = new Float32Array(n);
  const other = filled(n, 3), gradA = new Float32Array(n), gradB = filled(n, 4);
  const gamma = filled(channels, 5).map((v) => 1 + 0.5 * v), beta = filled(channels, 6);
  const mean = new Float32Array(channels), invStd = new Float32Array(channels);
  const rm = new Float32Array(channels), rv = new Float32Array(channels).fill(1);
  const dg = new Float32Array(channels), db = new Float32Array(channels);
  current.batchNormActivationForwardTraining('relu', x, gamma, beta, y, mean, invStd, null, null, rows, channels, 1e-5, 0.1);
  return [
    {
      name: 'bn+relu fwd',
      bytes: 8 * n,
      separate: (k) => {
        k.batchNormForwardTraining(x, gamma, beta, tmp, mean, invStd, rm, rv, rows, channels, 1e-5, 0.1);
        k.activationForward('relu', tmp, tmp);
      },
      fused: () => current.batchNormActivationForwardTraining('relu', x, gamma, beta, tmp, mean, invStd, rm, rv, rows, channels, 1e-5, 0.1),
    },
    {
      name: 'bn+relu bwd',
      bytes: 16 * n,
      separate: (k) => {
        k.activationBackward('relu', y, dy, tmp);
        k.batchNormBackward(x, tmp, gamma, mean, invStd, dx, dg, db, rows, channels);
      },
      fused: () => current.batchNormActivationBackward('relu', x, y, dy, gamma, mean, invStd, dx, dg, db, rows, channels),
    },
    {
      name: 'add+relu fwd',
      bytes: 12 * n,
      separate: (k) => {
        k.add(x, other, tmp);
        k.activationForward('relu', tmp, tmp);
      },
      fused: () => current.addActivationForward('relu', x, other, tmp),
    },
    {
      // The plan's Add backward with a ReLU and two consumers, the second
      // already holding a gradient: activation in place, copy, accumulate.
      name: 'add+relu bwd',
      bytes: 20 * n,
      separate: (k) => {
        tmp.set(dy);
        k.activationBackward('relu', y, tmp, tmp);
        gradA.set(tmp);
        k.axpy(1, tmp, gradB);
      },
      fused: () => current.activationBackwardTo('relu', y, dy, gradA, false, gradB, true),
    },
  ];
}

const shapes: [string, number, number][] = [
  ['28x28x16', 128 * 28 * 28, 16],
  ['14x14x32', 128 * 14 * 14, 32],
  ['7x7x64', 128 * 7 * 7, 64],
];
const info = backend();
console.log(`kiln ${info.version}, isa ${info.isa}, ${info.hardwareThreads} hardware threads, median of ${repeats}`);
console.log(`${'op'.padEnd(14)}${'shape'.padEnd(10)}thr  ${baseline ? 'old ms (GB/s)'.padEnd(18) : ''}${'separate ms (GB/s)'.padEnd(20)}${'fused ms (GB/s)'.padEnd(18)}speedup`);
for (const threads of threadList) {
  setNumThreads(threads);
  baseline?.setNumThreads(threads);
  for (const [label, rows, channels] of shapes) {
    for (const op of opsFor(rows, channels)) {
      const cell = (ms: number) => `${ms.toFixed(3)} (${(op.bytes / ms / 1e6).toFixed(1)})`;
      const old = baseline ? time(() => op.separate(baseline)) : undefined;
      const separate = time(() => op.separate(current));
      const fused = time(op.fused);
      const reference = old ?? separate;
      console.log(`${op.name.padEnd(14)}${label.padEnd(10)}${String(threads).padEnd(5)}${old !== undefined ? cell(old).padEnd(18) : ''}${cell(separate).padEnd(20)}${cell(fused).padEnd(18)}${(reference / fused).toFixed(2)}x`);
    }
  }
}
