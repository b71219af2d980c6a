// A/B of two builds of the addon on the conv layers of the benchmark
// (WORKLOADS.md, batch 64), both loaded in this one process and called in
// alternation, round after round:
//
//   node dist/scripts/ab-conv.js --old=a.node --new=b.node [--layers=resnet20/stage1]
//        [--passes=forward,backwardFilter] [--threads=2] [--rounds=16] [--isa=avx2]
//
// Whole benchmark runs minutes apart differ by 10-25% per layer on a shared
// guest; alternating the two builds call by call exposes both to the same
// drift, so their ratio holds where separate runs cannot tell. Prints each
// build's median GFLOP/s, the ratio new / old (above 1: the new build is
// faster), each build's best round (what the code reaches when the host
// leaves it alone) and the largest difference between their results,
// relative to the largest magnitude (0 when the change keeps results bit
// for bit).
import * as path from 'path';
import { CONV_LAYERS } from './bench/conv';
import type { Conv2DNativeOptions } from '../lib/ops/conv';

interface AbAddon {
  setIsa(isa: string): void;
  setNumThreads(threads: number): void;
  conv2dForward(x: Float32Array, w: Float32Array, b: Float32Array | null, y: Float32Array, o: Conv2DNativeOptions): void;
  conv2dBackwardData(dy: Float32Array, w: Float32Array, dx: Float32Array, o: Conv2DNativeOptions): void;
  conv2dBackwardFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, db: Float32Array | null, o: Conv2DNativeOptions): void;
}

type Pass = 'forward' | 'backwardData' | 'backwardFilter';
const PASSES: Pass[] = ['forward', 'backwardData', 'backwardFilter'];

interface Arguments {
  oldPath: string;
  newPath: string;
  layers: string;
  passes: Pass[];
  threads: number;
  rounds: number;
  isa: string;
}

function fail(message: string): never {
  process.stderr.write(`ab-conv: ${message}\n`);
  process.exit(2);
}

function parseArguments(argv: string[]): Arguments {
  const args: Arguments = { oldPath: '', newPath: '', layers: '', passes: PASSES, threads: 2, rounds: 16, isa: 'avx2' };
  for (const argument of argv) {
    const [flag, value = ''] = argument.split('=', 2);
    if (flag === '--old') args.oldPath = value;
    else if (flag === '--new') args.newPath = value;
    else if (flag === '--layers') args.layers = value;
    else if (flag === '--isa') args.isa = value;
    else if (flag === '--passes') {
      const passes = value.split(',');
      for (const pass of passes) if (!PASSES.includes(pass as Pass)) fail(`expected --passes from ${PASSES.join(', ')} but received '${pass}'`);
      args.passes = passes as Pass[];
    } else if (flag === '--threads' || flag === '--rounds') {
      const count = Number(value);
      if (!Number.isInteger(count) || count < 1 || count > 256) fail(`expected ${flag} as an integer in [1, 256] but received '${value}'`);
      if (flag === '--threads') args.threads = count;
      else args.rounds = count;
    } else {
      fail(`unknown argument '${argument}' (expected --old=, --new=, --layers=, --passes=, --threads=, --rounds=, --isa=)`);
    }
  }
  if (!args.oldPath || !args.newPath) fail('both --old=<addon.node> and --new=<addon.node> are required');
  return args;
}

// Deterministic values in [-1, 1): both builds see the same inputs.
function filled(length: number): Float32Array {
  const values = new Float32Array(length);
  for (let i = 0; i < length; i++) values[i] = ((i * 7919) % 1000) / 500 - 1;
  return values;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

function main(): void {
  const args = parseArguments(process.argv.slice(2));
  const builds = [args.oldPath, args.newPath].map((file) => require(path.resolve(file)) as AbAddon);
  for (const build of builds) {
    build.setIsa(args.isa);
    build.setNumThreads(args.threads);
  }
  const batch = 64;
  const layers = CONV_LAYERS.filter((layer) => layer.name.includes(args.layers));
  if (layers.length === 0) fail(`no benchmark layer name contains '${args.layers}'`);
  for (const layer of layers) {
    const [inH, inW, inC] = layer.in;
    const [padTop, padBottom, padLeft, padRight] = layer.pad;
    const k = layer.kernel;
    const options: Conv2DNativeOptions = {
      batch, inH, inW, inC, outC: layer.outC, kernelH: k, kernelW: k, strideH: layer.stride, strideW: layer.stride,
      padTop, padBottom, padLeft, padRight, dilationH: 1, dilationW: 1, relu: layer.relu,
    };
    const outH = Math.floor((inH + padTop + padBottom - k) / layer.stride) + 1;
    const outW = Math.floor((inW + padLeft + padRight - k) / layer.stride) + 1;
    const x = filled(batch * inH * inW * inC);
    const w = filled(k * k * inC * layer.outC);
    const bias = layer.bias ? filled(layer.outC) : null;
    const dy = filled(batch * outH * outW * layer.outC);
    const flops = 2 * batch * outH * outW * layer.outC * k * k * inC;
    for (const pass of args.passes) {
      // Each build writes its own result buffer.
      const results = builds.map(() => new Float32Array(pass === 'forward' ? dy.length : pass === 'backwardData' ? x.length : w.length));
      const gradBias = new Float32Array(layer.outC);
      const run = (index: number): void => {
        const build = builds[index];
        const out = results[index];
        if (pass === 'forward') build.conv2dForward(x, w, bias, out, options);
        else if (pass === 'backwardData') build.conv2dBackwardData(dy, w, out, options);
        else build.conv2dBackwardFilter(x, dy, out, bias ? gradBias : null, options);
      };
      const seconds: number[][] = [[], []];
      for (let round = 0; round < args.rounds; round++) {
        // The order flips every round, so neither build always goes first.
        for (const index of round % 2 === 0 ? [0, 1] : [1, 0]) {
          run(index); // warm: caches, the pool, the build's own workspace
          const start = process.hrtime.bigint();
          run(index);
          run(index);
          seconds[index].push(Number(process.hrtime.bigint() - start) / 2e9);
        }
      }
      let difference = 0;
      let scale = 0;
      for (let i = 0; i < results[0].length; i++) {
        difference = Math.max(difference, Math.abs(results[1][i] - results[0][i]));
        scale = Math.max(scale, Math.abs(results[0][i]));
      }
      const [oldTime, newTime] = seconds.map(median);
      const [oldBest, newBest] = seconds.map((times) => Math.min(...times));
      const gflops = (time: number): string => (flops / time / 1e9).toFixed(1);
      console.log(
        `${layer.name} ${pass} t${args.threads}: old ${gflops(oldTime)} new ${gflops(newTime)} GFLOP/s, ` +
          `new/old ${(oldTime / newTime).toFixed(3)}x (best rounds: old ${gflops(oldBest)} new ${gflops(newBest)}), ` +
          `max difference ${(scale > 0 ? difference / scale : difference).toExponential(1)}`,
      );
    }
  }
}

main();
