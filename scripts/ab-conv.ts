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
import { CONV_LAYERS } from './bench/conv';
import { abFail, filled, loadBuilds, median, parseAbArguments, onlyOnePool, relativeDifference, timeAlternating, type AbBuild } from './bench/ab';
import type { Conv2DNativeOptions } from '../lib/ops/conv';

interface ConvBuild extends AbBuild {
  conv2dForward(x: Float32Array, w: Float32Array, b: Float32Array | null, y: Float32Array, o: Conv2DNativeOptions): void;
  conv2dBackwardData(dy: Float32Array, w: Float32Array, dx: Float32Array, o: Conv2DNativeOptions): void;
  conv2dBackwardFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, db: Float32Array | null, o: Conv2DNativeOptions): void;
}

const PASSES = ['forward', 'backwardData', 'backwardFilter'];

function main(): void {
  const args = parseAbArguments('ab-conv', process.argv.slice(2), PASSES);
  const builds = loadBuilds<ConvBuild>(args);
  const batch = 64;
  const layers = CONV_LAYERS.filter((layer) => layer.name.includes(args.layers));
  if (layers.length === 0) abFail('ab-conv', `no benchmark layer name contains '${args.layers}'`);
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
      // Two calls a sample.
      const seconds = timeAlternating(args.rounds, 2, run, onlyOnePool(builds, args.threads));
      const difference = relativeDifference(results[0], results[1]);
      const [oldTime, newTime] = seconds.map(median);
      const [oldBest, newBest] = seconds.map((times) => Math.min(...times));
      const gflops = (time: number): string => (flops / time / 1e9).toFixed(1);
      console.log(
        `${layer.name} ${pass} t${args.threads}: old ${gflops(oldTime)} new ${gflops(newTime)} GFLOP/s, ` +
          `new/old ${(oldTime / newTime).toFixed(3)}x (best rounds: old ${gflops(oldBest)} new ${gflops(newBest)}), ` +
          `max difference ${difference.toExponential(1)}`,
      );
    }
  }
}

main();
