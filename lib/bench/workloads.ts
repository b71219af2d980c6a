// What one benchmark measurement is: a model, a batch size, a mode and a
// thread count, plus the step budget; and what every framework reports back.
import * as os from 'node:os';
import { createRandom } from '../data/random';

export const MODELS = ['lenet5', 'alexnet-s', 'resnet20'] as const;
export type ModelName = (typeof MODELS)[number];
export type Mode = 'train' | 'infer';

/** Input shape per sample, channels-last (NHWC); NCHW peers transpose it. */
export const INPUT_SHAPES: Record<ModelName, [number, number, number]> = {
  lenet5: [28, 28, 1],
  'alexnet-s': [32, 32, 3],
  resnet20: [32, 32, 3],
};

export const CLASSES = 10;

export interface Workload {
  model: ModelName;
  batch: number;
  mode: Mode;
  /** Kernel threads; 'all' resolves to the machine's available parallelism. */
  threads: number;
}

export interface StepBudget {
  warmup: number;
  steps: number;
  /** Warm-up and timed steps each stop early once they have run this long (at least one timed step runs). */
  maxSeconds: number;
  seed: number;
}

/** The request a peer process receives (one JSON line). */
export type PeerRequest = Workload & StepBudget;

/** The answer of a peer process, and of kiln's own runner. */
export interface StepTimes {
  imagesPerSecond: number;
  medianStepSeconds: number;
  stepSeconds: number[];
  steps: number;
  warmup: number;
  threads: number;
  peakRssMB: number;
  rssMB: number;
  /** Kiln only: RSS change over the timed steps. */
  rssGrowthMB?: number;
  /** Kiln only: event-loop delay while the steps ran, in milliseconds. */
  eventLoopDelayMs?: { p50: number; p99: number; max: number };
}

/** kiln's RSS over a long training run (--soak-steps), one per model. */
export interface SoakResult {
  kind: 'memory';
  framework: 'kiln';
  model: ModelName;
  batch: number;
  threads: number;
  steps: number;
  /** After the warm-up steps and a garbage collection. */
  startRssMB: number;
  maxRssMB: number;
  /** After the last step and a garbage collection. */
  endRssMB: number;
  growthMB: number;
  /** RSS every `sampleEvery` steps. */
  sampleEvery: number;
  samplesMB: number[];
}

/** One measurement, as written to --json. */
export interface BenchResult extends Workload {
  framework: string;
  backend: string;
  imagesPerSecond: number | null;
  medianStepSeconds: number | null;
  steps: number;
  warmup: number;
  rounds: number;
  peakRssMB: number | null;
  rssMB?: number | null;
  rssGrowthMB?: number;
  eventLoopDelayMs?: { p50: number; p99: number; max: number };
  /** Set when the framework is missing or failed; the numbers are then null. */
  error?: string;
  note?: string;
}

export function allThreads(): number {
  return os.availableParallelism();
}

export function resolveThreads(value: string): number {
  if (value === 'all') return allThreads();
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`expected 'all' or a positive integer for a thread count but received '${value}'`);
  return n;
}

/** Seeded uniform inputs in [-1, 1) (NHWC) and labels in [0, 10). */
export function randomBatch(model: ModelName, batch: number, seed: number): { images: Float32Array; labels: Int32Array } {
  const random = createRandom(seed);
  const [h, w, c] = INPUT_SHAPES[model];
  const images = new Float32Array(batch * h * w * c);
  for (let i = 0; i < images.length; i++) images[i] = random.nextFloat() * 2 - 1;
  const labels = Int32Array.from({ length: batch }, () => random.nextInt(CLASSES));
  return { images, labels };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function workloadLabel(w: Workload): string {
  return `${w.model} ${w.mode} b${w.batch} t${w.threads}`;
}
