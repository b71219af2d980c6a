// A/B of two builds of the addon on the max-pooling layers of the reference
// models (WORKLOADS.md, batch 64), both loaded in this one process and
// called in alternation, round after round (see ab-conv.ts for why):
//
//   node dist/scripts/ab-pool.js --old=a.node --new=b.node [--layers=lenet5]
//        [--passes=forward,backward] [--threads=2] [--rounds=16] [--isa=avx2]
//
// Pooling is bound by memory, not arithmetic: prints each build's median
// microseconds per call and GB/s (the bytes each pass must read and write
// once), the ratio new / old (above 1: the new build is faster), each
// build's best round, and the largest difference between their results
// (0: bit for bit the same).
import type { Pool2dGeometry } from '../lib/ops/pooling';
import { abFail, filled, loadBuilds, median, parseAbArguments, onlyOnePool, relativeDifference, timeAlternating, type AbBuild } from './bench/ab';

interface PoolBuild extends AbBuild {
  maxPool2dForward(input: Float32Array, output: Float32Array, shape: Pool2dGeometry): void;
  maxPool2dBackward(input: Float32Array, gradOutput: Float32Array, gradInput: Float32Array, shape: Pool2dGeometry): void;
}

// The max pools of lenet5 and alexnet-s: input height, width, channels, window, stride.
const POOL_LAYERS: Array<{ name: string; in: [number, number, number]; window: number; stride: number }> = [
  { name: 'lenet5/pool1', in: [28, 28, 6], window: 2, stride: 2 },
  { name: 'lenet5/pool2', in: [10, 10, 16], window: 2, stride: 2 },
  { name: 'alexnet-s/pool1', in: [32, 32, 64], window: 3, stride: 2 },
  { name: 'alexnet-s/pool2', in: [15, 15, 192], window: 3, stride: 2 },
  { name: 'alexnet-s/pool3', in: [7, 7, 256], window: 3, stride: 2 },
];

function main(): void {
  const args = parseAbArguments('ab-pool', process.argv.slice(2), ['forward', 'backward']);
  const builds = loadBuilds<PoolBuild>(args);
  const batch = 64;
  const layers = POOL_LAYERS.filter((layer) => layer.name.includes(args.layers));
  if (layers.length === 0) abFail('ab-pool', `no pooling layer name contains '${args.layers}'`);
  for (const layer of layers) {
    const [inH, inW, channels] = layer.in;
    const shape: Pool2dGeometry = {
      batch, inH, inW, channels, windowH: layer.window, windowW: layer.window, strideH: layer.stride,
      strideW: layer.stride, padTop: 0, padBottom: 0, padLeft: 0, padRight: 0,
    };
    const outH = Math.floor((inH - layer.window) / layer.stride) + 1;
    const outW = Math.floor((inW - layer.window) / layer.stride) + 1;
    const input = filled(batch * inH * inW * channels);
    const gradOutput = filled(batch * outH * outW * channels);
    for (const pass of args.passes) {
      const results = builds.map(() => new Float32Array(pass === 'forward' ? gradOutput.length : input.length));
      const run = (index: number): void => {
        if (pass === 'forward') builds[index].maxPool2dForward(input, results[index], shape);
        else builds[index].maxPool2dBackward(input, gradOutput, results[index], shape);
      };
      // Forward reads the input and writes the output; backward reads the
      // input and the output gradient and writes the input gradient.
      const bytes = 4 * (pass === 'forward' ? input.length + gradOutput.length : 2 * input.length + gradOutput.length);
      const seconds = timeAlternating(args.rounds, 5, run, onlyOnePool(builds, args.threads));
      const [oldTime, newTime] = seconds.map(median);
      const [oldBest, newBest] = seconds.map((times) => Math.min(...times));
      const rate = (time: number): string => `${(time * 1e6).toFixed(1)} us ${(bytes / time / 1e9).toFixed(1)} GB/s`;
      console.log(
        `${layer.name} ${pass} t${args.threads}: old ${rate(oldTime)}, new ${rate(newTime)}, ` +
          `new/old ${(oldTime / newTime).toFixed(3)}x (best rounds: old ${rate(oldBest)}, new ${rate(newBest)}), ` +
          `max difference ${relativeDifference(results[0], results[1]).toExponential(1)}`,
      );
    }
  }
}

main();
