// The kiln side of `kiln bench` end to end at a tiny batch: every model and
// mode runs one timed step through the native plan, and the JSON records carry
// every documented field. No timing assertions: the machine is shared.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { benchCommand, parseBenchArgs } from '../../lib/bench/command';
import { memoryTable, summaryTable, svgChart } from '../../lib/bench/report';
import type { BenchResult, SoakResult } from '../../lib/bench/workloads';

function quietly<T>(run: () => Promise<T>): Promise<T> {
  const log = console.log;
  console.log = () => {};
  return run().finally(() => {
    console.log = log;
  });
}

t.test('one step of each model and mode at batch 2, peers none: the JSON records are complete', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-bench-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const json = path.join(dir, 'bench.json');
  const plot = path.join(dir, 'bench.svg');
  await quietly(() =>
    benchCommand(['--models', 'lenet5,alexnet-s,resnet20', '--batch', '2', '--threads', '1', '--steps', '1', '--warmup', '1', '--rounds', '1', '--peers', 'none', '--json', json, '--plot', plot, '--quiet']),
  );
  const results = JSON.parse(fs.readFileSync(json, 'utf8')) as BenchResult[];
  t.equal(results.length, 6, 'three models x two modes');
  const seen = new Set<string>();
  for (const r of results) {
    seen.add(`${r.model}/${r.mode}`);
    t.equal(r.framework, 'kiln');
    t.ok(['scalar', 'avx2', 'avx512'].includes(r.backend), `backend is the ISA in use (${r.backend})`);
    t.equal(r.batch, 2);
    t.equal(r.threads, 1);
    t.equal(r.steps, 1);
    t.equal(r.warmup, 1);
    t.type(r.imagesPerSecond, 'number');
    t.ok(r.imagesPerSecond! > 0 && Number.isFinite(r.imagesPerSecond), 'images/s is a positive number');
    t.ok(r.medianStepSeconds! > 0, 'median step seconds is positive');
    t.ok(Math.abs(r.imagesPerSecond! * r.medianStepSeconds! - 2) < 0.05, 'images/s is batch / median step time');
    t.ok(r.peakRssMB! > 0, 'peak RSS is reported');
    t.type(r.rssGrowthMB, 'number');
    t.ok(r.eventLoopDelayMs && r.eventLoopDelayMs.max >= r.eventLoopDelayMs.p50, 'event-loop delay percentiles are ordered');
    t.notOk(r.error, 'no error');
  }
  t.same([...seen].sort(), ['alexnet-s/infer', 'alexnet-s/train', 'lenet5/infer', 'lenet5/train', 'resnet20/infer', 'resnet20/train']);
  const svg = fs.readFileSync(plot, 'utf8');
  t.match(svg, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  t.equal((svg.match(/fill="#d9480f"/g) ?? []).length, 1 + 6, 'a legend swatch and one kiln bar per workload');
});

t.test('the summary shows kiln/peer ratios and a missing peer as missing', async (t) => {
  const base = { model: 'lenet5' as const, mode: 'train' as const, batch: 64, threads: 2, steps: 4, warmup: 1, rounds: 2, peakRssMB: 50 };
  const results: BenchResult[] = [
    { ...base, framework: 'kiln', backend: 'avx512', imagesPerSecond: 3000, medianStepSeconds: 64 / 3000 },
    { ...base, framework: 'pytorch', backend: 'cpu', imagesPerSecond: 1000, medianStepSeconds: 0.064 },
    { ...base, framework: 'tfjs', backend: 'cpu', imagesPerSecond: null, medianStepSeconds: null, peakRssMB: null, error: 'missing: cannot load' },
  ];
  const table = summaryTable(results, ['torch', 'tfjs-cpu']);
  t.match(table, /\| lenet5 \| train \| 64 \| 2 \| 3000 \| 1000 \| 3\.00x \| missing \| — \| 2\.0x met \|/);
  t.match(svgChart(results, 'x'), /tfjs-cpu: missing/);
});

t.test('bad options fail with the option named', async (t) => {
  t.throws(() => parseBenchArgs(['--models', 'vgg16']), /unknown model 'vgg16'/);
  t.throws(() => parseBenchArgs(['--peers', 'jax']), /unknown peer 'jax'/);
  t.throws(() => parseBenchArgs(['--steps', '0']), /--steps/);
  t.throws(() => parseBenchArgs(['--threads', 'some']), /thread count/);
  const options = parseBenchArgs(['--batch', '256,64', '--peers', 'none']);
  t.not(options, 'help');
  if (options !== 'help') {
    t.same(options.batches, [64, 256], 'batches run in ascending order');
    t.same(options.peers, []);
  }
});

t.test('--soak-steps reports kiln RSS over a training run per model, and peak RSS per framework is tabulated', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-bench-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const json = path.join(dir, 'bench.json');
  await quietly(() =>
    benchCommand(['--models', 'lenet5', '--batch', '2', '--threads', '1', '--modes', 'train', '--steps', '1', '--warmup', '0', '--rounds', '1', '--peers', 'none', '--soak-steps', '40', '--json', json, '--quiet']),
  );
  const records = JSON.parse(fs.readFileSync(json, 'utf8')) as Array<Record<string, unknown>>;
  const soak = records.find((r) => r.kind === 'memory') as unknown as SoakResult;
  t.ok(soak, 'a memory record is written');
  t.equal(soak.model, 'lenet5');
  t.equal(soak.steps, 40);
  t.equal(soak.samplesMB.length, 40 / soak.sampleEvery, 'one RSS sample every sampleEvery steps');
  t.ok(soak.startRssMB > 0 && soak.maxRssMB >= soak.startRssMB && soak.maxRssMB >= soak.endRssMB, 'max covers start and end');
  // growthMB rounds the unrounded difference, so it may differ from the difference of the
  // two rounded ends by one step of the last digit.
  t.ok(Math.abs(soak.growthMB - (soak.endRssMB - soak.startRssMB)) <= 0.1 + 1e-9, 'growth is end minus start, to 0.1 MB');
  const table = memoryTable(records.filter((r) => r.kind === undefined) as unknown as BenchResult[], ['torch']);
  t.match(table, /\| lenet5 \| train \| 2 \| 1 \| \d+ \| — \|/, 'kiln peak RSS beside a missing peer');
});
