// kiln's side of a measurement: the zoo model, compiled with SGD momentum 0.9,
// stepped through its native plan directly so the timed loop has no JS work
// beyond one await per step. Also samples RSS and the event-loop delay, which
// shows whether training really leaves the main thread free.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { backend, setNumThreads } from '../backend';
import { zoo } from '../model/zoo';
import { sgd } from '../train/optimizers';
import { collectGarbage, peakRssMB, resetPeakRss } from './memory';
import { median, randomBatch, type StepBudget, type StepTimes, type Workload } from './workloads';

const MiB = 2 ** 20;

export async function runKiln(workload: Workload, budget: StepBudget): Promise<StepTimes> {
  const previousThreads = backend().threads;
  setNumThreads(workload.threads);
  collectGarbage(); // frees the previous measurement's plan
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
