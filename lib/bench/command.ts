// `kiln bench`: training and inference throughput of the reference models
// (WORKLOADS.md) in kiln and, in the same run, in peer frameworks. For every
// workload the frameworks take turns (kiln, peers, then the reverse order in
// the next round) so load drift on a shared machine hits all of them.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import { backend, version } from '../backend';
import { runKiln, runKilnSoak } from './kiln-runner';
import { settle } from './settle';
import { TimeoutError } from './peer-process';
import { livePeerProcess, PEER_NAMES, startPeer, type Peer, type PeerName } from './peers';
import { frameworkKey, memoryTable, soakTable, summaryTable, svgChart } from './report';
import { MODELS, median, resolveThreads, workloadLabel, type BenchResult, type Mode, type ModelName, type SoakResult, type StepBudget, type StepTimes, type Workload } from './workloads';

export const benchUsage = `Usage: kiln bench [options]

Training-step and inference throughput (images/s) of lenet5, alexnet-s and
resnet20 in kiln and in peer frameworks, measured alternately in one run.

Options:
  --models LIST        lenet5,alexnet-s,resnet20 (default: all three)
  --batch LIST         batch sizes (default 64,256)
  --modes LIST         train,infer (default both)
  --threads LIST       'all' and/or numbers (default all,1)
  --steps N            timed steps per framework and workload (default 10)
  --warmup N           warm-up steps before each round's timed steps (default 3)
  --rounds N           interleaved rounds the timed steps are split into (default 2)
  --max-seconds X      per round: warm-up and timed steps each stop after X s,
                       keeping at least one timed step (default 20)
  --max-step-seconds X a peer whose median step took longer than X s is
                       not run again for that model and mode at larger (or
                       equal) predicted step times; reported as skipped (default 30)
  --peers LIST         torch,tfjs-cpu,tfjs-wasm or none (default all three)
  --python PATH        interpreter with torch (default /usr/bin/python3)
  --seed N             seed for weights, inputs and labels (default 0)
  --soak-steps N       afterwards, train each model N steps at the smallest
                       batch on all threads and report kiln's RSS over the run
                       (WORKLOADS: no growth across 1,000 steps); 0 = off (default)
  --json FILE          write the measurements as a JSON array
  --plot FILE          write an SVG bar chart of images/s per workload
  --quiet              only the summary
  --help

Peers: PyTorch from Debian's python3-torch (apt-get install python3-torch),
TensorFlow.js from the optional dependencies @tensorflow/tfjs (cpu backend) and
@tensorflow/tfjs-backend-wasm. @tensorflow/tfjs-node is not a peer: it
downloads a native binary at install time. A missing peer is reported as
missing.`;

function fail(message: string): never {
  throw new Error(`bench: ${message}`);
}

function list(name: string, value: string): string[] {
  const items = value.split(',').map((v) => v.trim()).filter(Boolean);
  if (items.length === 0) fail(`expected a comma-separated list for --${name}`);
  return items;
}

function positiveInteger(name: string, value: string, allowZero = false): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1)) fail(`expected a ${allowZero ? 'non-negative' : 'positive'} integer for --${name} but received '${value}'`);
  return n;
}

export interface BenchOptions {
  models: ModelName[];
  batches: number[];
  modes: Mode[];
  threads: number[];
  peers: PeerName[];
  budget: StepBudget;
  rounds: number;
  maxStepSeconds: number;
  python: string;
  json?: string;
  plot?: string;
  quiet: boolean;
  soakSteps: number;
}

export function parseBenchArgs(args: string[]): BenchOptions | 'help' {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      models: { type: 'string', default: MODELS.join(',') },
      batch: { type: 'string', default: '64,256' },
      modes: { type: 'string', default: 'train,infer' },
      threads: { type: 'string', default: 'all,1' },
      steps: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '3' },
      rounds: { type: 'string', default: '2' },
      'max-seconds': { type: 'string', default: '20' },
      'max-step-seconds': { type: 'string', default: '30' },
      peers: { type: 'string', default: PEER_NAMES.join(',') },
      python: { type: 'string', default: '/usr/bin/python3' },
      seed: { type: 'string', default: '0' },
      'soak-steps': { type: 'string', default: '0' },
      json: { type: 'string' },
      plot: { type: 'string' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return 'help';
  if (positionals.length > 0) fail(`unexpected argument '${positionals[0]}'`);
  const models = list('models', values.models!).map((m) => (MODELS.includes(m as ModelName) ? (m as ModelName) : fail(`unknown model '${m}'; expected ${MODELS.join(', ')}`)));
  const modes = list('modes', values.modes!).map((m) => (m === 'train' || m === 'infer' ? m : fail(`unknown mode '${m}'; expected train or infer`)));
  const peerList = list('peers', values.peers!);
  const peers =
    peerList.length === 1 && peerList[0] === 'none'
      ? []
      : peerList.map((p) => (PEER_NAMES.includes(p as PeerName) ? (p as PeerName) : fail(`unknown peer '${p}'; expected ${PEER_NAMES.join(', ')} or none`)));
  const maxSeconds = Number(values['max-seconds']);
  if (!(maxSeconds > 0)) fail(`expected a positive number for --max-seconds but received '${values['max-seconds']}'`);
  const maxStepSeconds = Number(values['max-step-seconds']);
  if (!(maxStepSeconds > 0)) fail(`expected a positive number for --max-step-seconds but received '${values['max-step-seconds']}'`);
  let threads: number[];
  try {
    threads = [...new Set(list('threads', values.threads!).map(resolveThreads))];
  } catch (error) {
    fail((error as Error).message);
  }
  return {
    models,
    // Ascending, so a framework too slow at a small batch is skipped at the larger ones.
    batches: [...new Set(list('batch', values.batch!).map((b) => positiveInteger('batch', b)))].sort((a, b) => a - b),
    modes,
    threads,
    peers: [...new Set(peers)],
    budget: {
      steps: positiveInteger('steps', values.steps!),
      warmup: positiveInteger('warmup', values.warmup!, true),
      maxSeconds,
      seed: positiveInteger('seed', values.seed!, true),
    },
    rounds: positiveInteger('rounds', values.rounds!),
    maxStepSeconds,
    python: values.python!,
    json: values.json,
    plot: values.plot,
    quiet: values.quiet!,
    soakSteps: positiveInteger('soak-steps', values['soak-steps']!, true),
  };
}

export function machineSummary(): { cpu: string; cores: number; memoryGiB: number; isa: string; detectedIsa: string; node: string; kiln: string; load: number[] } {
  const info = backend();
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    isa: info.isa,
    detectedIsa: info.detectedIsa,
    node: process.version,
    kiln: version(),
    load: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

interface Runner {
  key: string;
  framework: string;
  backend: string;
  run(workload: Workload, budget: StepBudget): Promise<StepTimes>;
}

/** Combines a framework's rounds: the median over every timed step of every round. */
function combine(runner: Runner, workload: Workload, rounds: StepTimes[], errors: string[], note?: string): BenchResult {
  const base = { framework: runner.framework, backend: runner.backend, ...workload, rounds: rounds.length };
  if (rounds.length === 0) {
    if (errors.length === 0 && note) return { ...base, imagesPerSecond: null, medianStepSeconds: null, steps: 0, warmup: 0, peakRssMB: null, note };
    return { ...base, imagesPerSecond: null, medianStepSeconds: null, steps: 0, warmup: 0, peakRssMB: null, error: errors[0] ?? 'not run', note };
  }
  const times = rounds.flatMap((r) => r.stepSeconds);
  const seconds = median(times);
  const last = rounds[rounds.length - 1];
  const result: BenchResult = {
    ...base,
    threads: workload.threads,
    imagesPerSecond: workload.batch / seconds,
    medianStepSeconds: seconds,
    steps: times.length,
    warmup: rounds.reduce((sum, r) => sum + r.warmup, 0),
    peakRssMB: Math.max(...rounds.map((r) => r.peakRssMB)),
    rssMB: last.rssMB,
  };
  if (last.threads !== workload.threads) result.note = `ran with ${last.threads} thread${last.threads === 1 ? '' : 's'}`;
  if (rounds.some((r) => r.rssGrowthMB !== undefined)) result.rssGrowthMB = Math.max(...rounds.map((r) => r.rssGrowthMB ?? 0));
  const delays = rounds.map((r) => r.eventLoopDelayMs).filter((d) => d !== undefined);
  if (delays.length > 0) {
    result.eventLoopDelayMs = { p50: median(delays.map((d) => d.p50)), p99: Math.max(...delays.map((d) => d.p99)), max: Math.max(...delays.map((d) => d.max)) };
  }
  if (errors.length > 0) result.error = errors.join('; ');
  if (note) result.note = result.note ? `${result.note}; ${note}` : note;
  return result;
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

/** Runs every workload; the kiln side only when peers is empty. Exported for tests. */
export async function runBench(options: BenchOptions, log: (line: string) => void = () => {}): Promise<{ results: BenchResult[]; peers: Peer[] }> {
  const peers: Peer[] = [];
  for (const name of options.peers) {
    const peer = await startPeer(name, { python: options.python });
    log(peer.missing ? `peer ${name}: missing (${peer.missing})` : `peer ${name}: ${peer.framework} ${peer.hello.version} (${peer.backend}, ${peer.hello.isa ?? '?'}${peer.hello.blas ? `, BLAS ${String(peer.hello.blas)}` : ''})`);
    peers.push(peer);
  }
  const runners: Runner[] = [{ key: 'kiln', framework: 'kiln', backend: backend().isa, run: runKiln }];
  // A peer gets the round's whole budget (warm-up, timed steps, one step past
  // each limit) plus slack for model construction before it is killed.
  const timeoutSeconds = 2 * options.budget.maxSeconds + 2 * options.maxStepSeconds + 30;
  for (const peer of peers) {
    if (!peer.process) continue;
    runners.push({
      key: peer.name,
      framework: peer.framework,
      backend: peer.backend,
      run: async (workload, budget) => {
        const child = await livePeerProcess(peer, { python: options.python });
        try {
          return await child.measure({ ...workload, ...budget }, timeoutSeconds);
        } catch (error) {
          // A failed step can leave the runtime broken (a wasm abort poisons
          // every later call): the next measurement gets a fresh process.
          child.close();
          throw error;
        }
      },
    });
  }
  const peerPids = (): number[] =>
    peers.flatMap((peer) => (peer.process?.alive && peer.process.pid !== undefined ? [peer.process.pid] : []));
  const results: BenchResult[] = [];
  // Slowest step seen per framework, model and mode, as seconds per image: predicts larger batches.
  const slowest = new Map<string, { batch: number; seconds: number }>();
  const tooSlow = (runner: Runner, workload: Workload): string | undefined => {
    if (runner.key === 'kiln') return undefined; // the subject of the benchmark always runs
    const seen = slowest.get(`${runner.key}/${workload.model}/${workload.mode}`);
    if (!seen) return undefined;
    const predicted = (seen.seconds * workload.batch) / seen.batch;
    if (predicted <= options.maxStepSeconds) return undefined;
    return `skipped: a step at batch ${seen.batch} took ${seen.seconds.toFixed(1)} s, so one at batch ${workload.batch} would take about ${predicted.toFixed(0)} s (> --max-step-seconds ${options.maxStepSeconds})`;
  };
  try {
    for (const model of options.models) {
      for (const mode of options.modes) {
        for (const batch of options.batches) {
          for (const threads of options.threads) {
            const workload: Workload = { model, mode, batch, threads };
            const perRound: StepBudget = {
              ...options.budget,
              steps: Math.ceil(options.budget.steps / options.rounds),
              maxSeconds: options.budget.maxSeconds,
            };
            const done = new Map(runners.map((r) => [r.key, [] as StepTimes[]]));
            const errors = new Map(runners.map((r) => [r.key, [] as string[]]));
            const skipped = new Map(runners.map((r) => [r.key, tooSlow(r, workload)]));
            for (let round = 0; round < options.rounds; round++) {
              // Reverse the order every other round: neither side always runs first.
              const order = round % 2 === 0 ? runners : [...runners].reverse();
              for (const runner of order) {
                if (skipped.get(runner.key)) continue;
                try {
                  await settle(peerPids());
                  const times = await runner.run(workload, perRound);
                  done.get(runner.key)!.push(times);
                  const key = `${runner.key}/${workload.model}/${workload.mode}`;
                  const perImage = times.medianStepSeconds / workload.batch;
                  const seen = slowest.get(key);
                  if (!seen || perImage > seen.seconds / seen.batch) slowest.set(key, { batch: workload.batch, seconds: times.medianStepSeconds });
                  // Later rounds of this workload would be as slow: stop here, keep what was measured.
                  if (runner.key !== 'kiln' && times.medianStepSeconds > options.maxStepSeconds) skipped.set(runner.key, 'after round ' + (round + 1));
                  log(`${workloadLabel(workload)} round ${round + 1}: ${runner.key} ${times.imagesPerSecond.toFixed(1)} img/s (${times.steps} steps, median ${(times.medianStepSeconds * 1000).toFixed(1)} ms)`);
                } catch (error) {
                  if (error instanceof TimeoutError) {
                    // As slow as the timeout at least: skip the rest of this workload and larger batches.
                    slowest.set(`${runner.key}/${workload.model}/${workload.mode}`, { batch: workload.batch, seconds: timeoutSeconds });
                    skipped.set(runner.key, `timed out: no result within ${timeoutSeconds} s`);
                  }
                  errors.get(runner.key)!.push((error as Error).message);
                  log(`${workloadLabel(workload)} round ${round + 1}: ${runner.key} failed: ${(error as Error).message}`);
                }
              }
            }
            for (const runner of runners) {
              const skip = skipped.get(runner.key);
              const note = skip?.startsWith('after round') ? `stopped ${skip}: its steps take longer than --max-step-seconds ${options.maxStepSeconds}` : skip;
              results.push(combine(runner, workload, done.get(runner.key)!, errors.get(runner.key)!, note));
            }
            for (const peer of peers) {
              if (!peer.missing) continue;
              const framework = peer.framework;
              results.push({ framework, backend: peer.backend, ...workload, imagesPerSecond: null, medianStepSeconds: null, steps: 0, warmup: 0, rounds: 0, peakRssMB: null, error: `missing: ${peer.missing}` });
            }
          }
        }
      }
    }
  } finally {
    for (const peer of peers) peer.process?.close();
  }
  for (const result of results) {
    for (const key of ['medianStepSeconds', 'imagesPerSecond'] as const) {
      const value = result[key];
      if (value !== null) result[key] = key === 'imagesPerSecond' ? round2(value) : Math.round(value * 1e6) / 1e6;
    }
    if (result.peakRssMB !== null) result.peakRssMB = round2(result.peakRssMB);
    if (typeof result.rssMB === 'number') result.rssMB = round2(result.rssMB);
    if (result.rssGrowthMB !== undefined) result.rssGrowthMB = round2(result.rssGrowthMB);
  }
  return { results, peers };
}

export async function benchCommand(args: string[]): Promise<void> {
  const options = parseBenchArgs(args);
  if (options === 'help') return void console.log(benchUsage);
  const machine = machineSummary();
  console.log(`kiln ${machine.kiln} bench on ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB; kiln ISA ${machine.isa} (detected ${machine.detectedIsa}); Node ${machine.node}`);
  console.log(`load average at start: ${machine.load.join(' ')}`);
  console.log(`budget: ${options.budget.steps} timed steps in ${options.rounds} rounds, ${options.budget.warmup} warm-up steps per round, at most ${options.budget.maxSeconds} s per round`);
  const { results, peers } = await runBench(options, options.quiet ? () => {} : (line) => console.log(line));
  const shown = peers.map((p) => p.name as string);
  console.log('');
  console.log(summaryTable(results, shown));
  console.log('');
  console.log('Peak RSS of each framework\'s process during the measurement (kiln\'s is reset before each one):');
  console.log(memoryTable(results, shown));
  console.log('');
  for (const peer of peers) if (peer.missing) console.log(`${peer.name}: missing (${peer.missing})`);
  const problems = new Set(results.filter((r) => r.imagesPerSecond === null && !r.error?.startsWith('missing')).map((r) => `${frameworkKey(r)} ${r.mode}: ${r.error ?? r.note}`));
  for (const problem of problems) console.log(problem);
  console.log('@tensorflow/tfjs-node is not compared: it downloads a native binary at install time, which this setup does not allow.');
  const kiln = results.filter((r) => r.framework === 'kiln' && r.eventLoopDelayMs);
  if (kiln.length > 0) {
    const worst = Math.max(...kiln.map((r) => r.eventLoopDelayMs!.max));
    const p99 = Math.max(...kiln.map((r) => r.eventLoopDelayMs!.p99));
    console.log(`event-loop delay while kiln stepped: worst p99 ${p99} ms, worst max ${worst} ms; peak RSS ${Math.max(...kiln.map((r) => r.peakRssMB ?? 0)).toFixed(0)} MB`);
  }
  console.log(`load average at end: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const incomplete = results.filter((r) => r.framework !== 'kiln' && r.imagesPerSecond !== null && r.steps < options.budget.steps);
  if (incomplete.length > 0) {
    console.log(`fewer timed steps than asked (time budget): ${incomplete.map((r) => `${frameworkKey(r)} ${workloadLabel(r)}: ${r.steps}`).join(', ')}`);
  }
  const soaks: SoakResult[] = [];
  if (options.soakSteps > 0) {
    const threads = resolveThreads('all');
    for (const model of options.models) {
      if (!options.quiet) console.log(`memory: ${model} training ${options.soakSteps} steps at batch ${options.batches[0]}...`);
      soaks.push(await runKilnSoak(model, options.batches[0], threads, options.soakSteps, options.budget.seed));
    }
    console.log('');
    console.log(`kiln's RSS over ${options.soakSteps} training steps (after 5 warm-up steps; garbage collected at both ends):`);
    console.log(soakTable(soaks));
  }
  if (options.json) {
    fs.writeFileSync(options.json, JSON.stringify([...results, ...soaks], null, 2) + '\n');
    console.log(`wrote ${options.json}`);
  }
  if (options.plot) {
    fs.writeFileSync(options.plot, svgChart(results, `kiln ${machine.kiln} vs peers: images/s (${machine.cpu}, ${machine.cores} cores)`));
    console.log(`wrote ${options.plot}`);
  }
}
