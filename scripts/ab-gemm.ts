// A/B of two builds of the addon on square GEMM (C = A * B, beta 0), both
// loaded in this one process and called in alternation, round after round:
//
//   node dist/scripts/ab-gemm.js --old=a.node --new=b.node [--sizes=512,1024,2048]
//        [--threads=2] [--rounds=16] [--isa=avx2]   (defaults shown)
//
// GEMM blocking changes move the figure by 1-10%, less than this guest's
// drift between whole benchmark runs; alternating the builds call by call
// exposes both to the same drift. Prints each build's median GFLOP/s, the
// ratio new / old (above 1: the new build is faster), each build's best
// round and the largest difference between their results.
import { abFail, filled, loadBuilds, median, parseAbArguments, onlyOnePool, relativeDifference, timeAlternating, type AbBuild } from './bench/ab';

interface GemmBuild extends AbBuild {
  gemm(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number, A: Float32Array, lda: number,
    B: Float32Array, ldb: number, beta: number, C: Float32Array, ldc: number): void;
}

function main(): void {
  const argv = process.argv.slice(2);
  let sizes = [512, 1024, 2048];
  const sizesFlag = argv.find((argument) => argument.startsWith('--sizes='));
  if (sizesFlag) {
    sizes = sizesFlag.slice('--sizes='.length).split(',').map(Number);
    if (sizes.some((size) => !Number.isInteger(size) || size < 1 || size > 8192)) {
      abFail('ab-gemm', `expected --sizes as integers in [1, 8192] but received '${sizesFlag}'`);
    }
  }
  const args = parseAbArguments('ab-gemm', argv.filter((argument) => argument !== sizesFlag), ['gemm']);
  const builds = loadBuilds<GemmBuild>(args);
  for (const n of sizes) {
    const A = filled(n * n);
    const B = filled(n * n);
    const results = builds.map(() => new Float32Array(n * n));
    const flops = 2 * n ** 3;
    // About 0.1 s of calls a sample at any size.
    const calls = Math.max(1, Math.round(4e10 / flops));
    const seconds = timeAlternating(
      args.rounds,
      calls,
      (index) => builds[index].gemm(false, false, n, n, n, 1, A, n, B, n, 0, results[index], n),
      onlyOnePool(builds, args.threads),
    );
    const [oldTime, newTime] = seconds.map(median);
    const [oldBest, newBest] = seconds.map((times) => Math.min(...times));
    const gflops = (time: number): string => (flops / time / 1e9).toFixed(1);
    console.log(
      `gemm ${n}x${n}x${n} t${args.threads}: old ${gflops(oldTime)} new ${gflops(newTime)} GFLOP/s, ` +
        `new/old ${(oldTime / newTime).toFixed(3)}x (best rounds: old ${gflops(oldBest)} new ${gflops(newBest)}), ` +
        `max difference ${relativeDifference(results[0], results[1]).toExponential(1)}`,
    );
  }
}

main();
