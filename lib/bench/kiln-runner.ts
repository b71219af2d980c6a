// kiln's side of a measurement: the zoo model, compiled with SGD momentum 0.9,
// stepped through its native plan directly so the timed loop has no JS work
// beyond one await per step. Also samples RSS and the event-loop delay, which
// shows whether training really leaves the main thread free.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { backend, setNumThreads } from '../backend';
import { zoo } from '../model/zoo';
import { sgd } from '../train/optimizers';
import { collectGarbage, peakRssMB, releaseUnreachable, resetPeakRss } from './memory';
import { median, randomBatch, type ModelName, type SoakResult, type StepBudget, type StepTimes, type Workload } from './workloads';

const MiB = 2 ** 20;

export async function runKiln(workload: Workload, budget: StepBudget): Promise<StepTimes> {
  const previousThreads = backend().threads;
  setNumThreads(workload.threads);
  await releaseUnreachable(); // frees the previous measurement's plan
  resetPeakRss();
  try {
    const model = zoo[workload.model]({ seed: budget.seed });
    model.compile({ optimizer: sgd({ learningRate: 0.01, momentum: 0.9 }), loss: 'softmaxCrossEntropy' });
    const plan = model.ensurePlan(workload.batch);
    const { images, labels } = randomBatch(workload.model, workload.batch, budget.seed);
    const output = new Float32Array(workload.batch * model.outputSize);
    const step =
      workload.mode === 'train'
        ? () => plan.trainStep(images, labels, null, workload.batch, 0.01)
        : () => plan.predict(images, workload.batch, output);

    let warmup = 0;
    const warmupStart = process.hrtime.bigint();
    while (warmup < budget.warmup) {
      await step();
      warmup++;
      if (Number(process.hrtime.bigint() - warmupStart) / 1e9 > budget.maxSeconds) break;
    }

    const delay = monitorEventLoopDelay({ resolution: 1 });
    const rssBefore = process.memoryUsage.rss();
    const times: number[] = [];
    delay.enable();
    const start = process.hrtime.bigint();
    while (times.length < budget.steps) {
      const t0 = process.hrtime.bigint();
      await step();
      const t1 = process.hrtime.bigint();
      times.push(Number(t1 - t0) / 1e9);
      if (Number(t1 - start) / 1e9 > budget.maxSeconds) break;
    }
    delay.disable();
    const rssAfter = process.memoryUsage.rss();
    const seconds = median(times);
    const ms = (ns: number) => Math.round(ns / 1e4) / 100;
    return {
      imagesPerSecond: workload.batch / seconds,
      medianStepSeconds: seconds,
      stepSeconds: times,
      steps: times.length,
      warmup,
      threads: backend().threads,
      peakRssMB: peakRssMB(),
      rssMB: rssAfter / MiB,
      rssGrowthMB: (rssAfter - rssBefore) / MiB,
      eventLoopDelayMs: { p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max) },
    };
  } finally {
    setNumThreads(previousThreads);
  }
}

/**
 * Trains `model` for `steps` steps at `batch` after a short warm-up and
 * samples the process's RSS, to show that a long run does not grow: every
 * buffer lives in the plan, allocated once, and a step allocates nothing
 * that outlives it.
 */
export async function runKilnSoak(model: ModelName, batch: number, threads: number, steps: number, seed: number): Promise<SoakResult> {
  const previousThreads = backend().threads;
  setNumThreads(threads);
  await releaseUnreachable();
  try {
    const m = zoo[model]({ seed });
    m.compile({ optimizer: sgd({ learningRate: 0.01, momentum: 0.9 }), loss: 'softmaxCrossEntropy' });
    const plan = m.ensurePlan(batch);
    const { images, labels } = randomBatch(model, batch, seed);
    for (let i = 0; i < 5; i++) await plan.trainStep(images, labels, null, batch, 0.01);
    collectGarbage();
    const start = process.memoryUsage.rss() / MiB;
    const sampleEvery = Math.max(1, Math.round(steps / 20));
    const samples: number[] = [];
    for (let step = 1; step <= steps; step++) {
      await plan.trainStep(images, labels, null, batch, 0.01);
      if (step % sampleEvery === 0) samples.push(Math.round((process.memoryUsage.rss() / MiB) * 10) / 10);
    }
    collectGarbage();
    const end = process.memoryUsage.rss() / MiB;
    const round1 = (v: number) => Math.round(v * 10) / 10;
    return {
      kind: 'memory', framework: 'kiln', model, batch, threads: backend().threads, steps,
      startRssMB: round1(start), maxRssMB: round1(Math.max(start, end, ...samples)), endRssMB: round1(end),
      growthMB: round1(end - start), sampleEvery, samplesMB: samples,
    };
  } finally {
    setNumThreads(previousThreads);
  }
}
