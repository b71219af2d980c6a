// What the A/B scripts (ab-conv.ts, ab-pool.ts) share: their arguments, the
// two builds loaded side by side, alternating timing and the comparison of
// results. Both builds run in this one process, call after call, so the
// drift of a shared guest hits them alike.
import * as path from 'path';

export interface AbArguments {
  oldPath: string;
  newPath: string;
  layers: string;
  passes: string[];
  threads: number;
  rounds: number;
  isa: string;
}

export interface AbBuild {
  setIsa(isa: string): void;
  setNumThreads(threads: number): void;
}

export function abFail(script: string, message: string): never {
  process.stderr.write(`${script}: ${message}\n`);
  process.exit(2);
}

/** --old= --new= [--layers=] [--passes=a,b] [--threads=] [--rounds=] [--isa=], passes from `allowedPasses`. */
export function parseAbArguments(script: string, argv: string[], allowedPasses: string[]): AbArguments {
  const args: AbArguments = { oldPath: '', newPath: '', layers: '', passes: allowedPasses, threads: 2, rounds: 16, isa: 'avx2' };
  for (const argument of argv) {
    const [flag, value = ''] = argument.split('=', 2);
    if (flag === '--old') args.oldPath = value;
    else if (flag === '--new') args.newPath = value;
    else if (flag === '--layers') args.layers = value;
    else if (flag === '--isa') args.isa = value;
    else if (flag === '--passes') {
      const passes = value.split(',');
      for (const pass of passes) {
        if (!allowedPasses.includes(pass)) abFail(script, `expected --passes from ${allowedPasses.join(', ')} but received '${pass}'`);
      }
      args.passes = passes;
    } else if (flag === '--threads' || flag === '--rounds') {
      const count = Number(value);
      if (!Number.isInteger(count) || count < 1 || count > 256) {
        abFail(script, `expected ${flag} as an integer in [1, 256] but received '${value}'`);
      }
      if (flag === '--threads') args.threads = count;
      else args.rounds = count;
    } else {
      abFail(script, `unknown argument '${argument}' (expected --old=, --new=, --layers=, --passes=, --threads=, --rounds=, --isa=)`);
    }
  }
  if (!args.oldPath || !args.newPath) abFail(script, 'both --old=<addon.node> and --new=<addon.node> are required');
  return args;
}

/** The two builds, on the requested ISA and thread count. */
export function loadBuilds<T extends AbBuild>(args: AbArguments): [T, T] {
  const builds = [args.oldPath, args.newPath].map((file) => require(path.resolve(file)) as T);
  for (const build of builds) {
    build.setIsa(args.isa);
    build.setNumThreads(args.threads);
  }
  return [builds[0], builds[1]];
}

// Deterministic values in [-1, 1): both builds see the same inputs.
export function filled(length: number): Float32Array {
  const values = new Float32Array(length);
  for (let i = 0; i < length; i++) values[i] = ((i * 7919) % 1000) / 500 - 1;
  return values;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

/**
 * Before build `index` runs: the other build's thread pool stops its
 * workers (setNumThreads(1) joins them) and this build gets `threads` back
 * (its workers start again at its warm-up call). Each build has its own
 * pool, and a pool's idle workers spin for a while after each job: left
 * running, they took a core from the build being timed, whose caller then
 * ran its own workers' tasks (thread_pool.cpp), and the same build swung
 * 0.75x-1.30x against itself.
 */
export function onlyOnePool(builds: AbBuild[], threads: number): (index: number) => void {
  return (index) => {
    builds.forEach((build, other) => {
      if (other !== index) build.setNumThreads(1);
    });
    builds[index].setNumThreads(threads);
  };
}

/**
 * Seconds per call of run(0) (old) and run(1) (new), one sample a round:
 * `activate(build)` (see onlyOnePool), a warm-up call, then `calls` timed
 * ones. The order flips every round, so neither build always goes first.
 */
export function timeAlternating(
  rounds: number,
  calls: number,
  run: (build: number) => void,
  activate: (build: number) => void = () => {},
): [number[], number[]] {
  const seconds: [number[], number[]] = [[], []];
  for (let round = 0; round < rounds; round++) {
    for (const index of round % 2 === 0 ? [0, 1] : [1, 0]) {
      activate(index);
      run(index); // warm: caches, the pool, the build's own workspace
      const start = process.hrtime.bigint();
      for (let call = 0; call < calls; call++) run(index);
      seconds[index].push(Number(process.hrtime.bigint() - start) / 1e9 / calls);
    }
  }
  return seconds;
}

/** Largest |b - a| relative to the largest |a| (0: bit for bit the same, NaNs aside). */
export function relativeDifference(a: Float32Array, b: Float32Array): number {
  let difference = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    difference = Math.max(difference, Math.abs(b[i] - a[i]));
    scale = Math.max(scale, Math.abs(a[i]));
  }
  return scale > 0 ? difference / scale : difference;
}
