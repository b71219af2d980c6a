// Where kiln's training step goes, layer by layer: each op of a reference
// model's plan (lowered exactly as Model.ensurePlan lowers it) is re-run
// through the eager kernel bindings at the plan's shapes, forward and
// backward, and timed alone. The per-op times are an estimate (no fusion
// across ops, caches warm with one op's data only); their sum is printed next
// to the real plan's median step time so the gap is visible. GEMM has no eager
// binding, so a dense layer is timed as a one-layer plan (forward by predict;
// weight and bias gradients, a 10-way loss and the update by trainStep minus
// predict) plus its input gradient timed as the equivalent 1x1 convolution.
//
//   node dist/scripts/bench-profile.js [--models lenet5,alexnet-s,resnet20] [--batch 64] [--threads N] [--json FILE]
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { backend, setNumThreads } from '../lib/backend';
import { runKiln } from '../lib/bench/kiln-runner';
import { MODELS, type ModelName } from '../lib/bench/workloads';
import { lowerModel } from '../lib/model/lowering';
import type { PlanOp } from '../lib/model/plan-spec';
import { zoo } from '../lib/model/zoo';
import { model } from '../lib/model/model';
import * as L from '../lib/layers';
import { sgd } from '../lib/train/optimizers';
import { loadAddon } from '../lib/native';
import type { Conv2DNativeOptions } from '../lib/ops/conv';
import type { Pool2dGeometry } from '../lib/ops/pooling';
import { timeMedian } from './bench/common';

interface Kernels {
  conv2dForward(x: Float32Array, w: Float32Array, b: Float32Array | null, y: Float32Array, o: Conv2DNativeOptions): void;
  conv2dBackwardData(dy: Float32Array, w: Float32Array, dx: Float32Array, o: Conv2DNativeOptions): void;
  conv2dBackwardFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, db: Float32Array | null, o: Conv2DNativeOptions): void;
  maxPool2dForward(x: Float32Array, y: Float32Array, shape: Pool2dGeometry): void;
  maxPool2dBackward(x: Float32Array, dy: Float32Array, dx: Float32Array, shape: Pool2dGeometry): void;
  globalAvgPoolForward(x: Float32Array, y: Float32Array, batch: number, spatial: number, channels: number): void;
  globalAvgPoolBackward(dy: Float32Array, dx: Float32Array, batch: number, spatial: number, channels: number): void;
  activationForward(kind: string, x: Float32Array, y: Float32Array): void;
  activationBackward(kind: string, y: Float32Array, dy: Float32Array, dx: Float32Array): void;
  add(a: Float32Array, b: Float32Array, out: Float32Array): void;
  batchNormForwardTraining(
    x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array, mean: Float32Array, invStd: Float32Array,
    runningMean: Float32Array | null, runningVar: Float32Array | null, rows: number, channels: number, epsilon: number, momentum: number,
  ): void;
  batchNormBackward(
    x: Float32Array, dy: Float32Array, gamma: Float32Array, mean: Float32Array, invStd: Float32Array,
    dx: Float32Array, dGamma: Float32Array, dBeta: Float32Array, rows: number, channels: number,
  ): void;
  dropoutForward(x: Float32Array, y: Float32Array, mask: Float32Array, rate: number, seed: number, step: number): void;
  dropoutBackward(mask: Float32Array, dy: Float32Array, dx: Float32Array): void;
  softmaxCrossEntropy(logits: Float32Array, labels: Int32Array, grad: Float32Array | null, rows: number, classes: number): unknown;
  sgdUpdate(param: Float32Array, grad: Float32Array, velocity: Float32Array | null, lr: number, momentum: number, nesterov: boolean, weightDecay: number): void;
}

export interface OpTiming {
  op: string;
  type: string;
  forwardMs: number;
  backwardMs: number;
}

const filled = (n: number, value = 0.5) => new Float32Array(n).fill(value);

async function asyncMedianMs(run: () => Promise<unknown>, repetitions = 7): Promise<number> {
  await run();
  const times: number[] = [];
  for (let i = 0; i < repetitions; i++) {
    const t0 = process.hrtime.bigint();
    await run();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
}

async function timeDense(k: Kernels, op: PlanOp, batch: number, needsData: boolean): Promise<OpTiming> {
  const inF = op.inFeatures!;
  const units = op.units!;
  const x0 = L.input({ shape: [inF] });
  const single = model({ inputs: x0, outputs: L.dense({ units, activation: op.activation === 'relu' ? 'relu' : undefined }).apply(x0) });
  single.compile({ optimizer: sgd({ learningRate: 0.01, momentum: 0.9 }), loss: 'softmaxCrossEntropy' });
  const plan = single.ensurePlan(batch);
  const images = filled(batch * inF);
  const labels = Int32Array.from({ length: batch }, (_, i) => i % Math.min(units, 10));
  const out = new Float32Array(batch * units);
  const forwardMs = await asyncMedianMs(() => plan.predict(images, batch, out));
  const stepMs = await asyncMedianMs(() => plan.trainStep(images, labels, null, batch, 0.01));
  let dataMs = 0;
  if (needsData) {
    const o: Conv2DNativeOptions = { batch, inH: 1, inW: 1, inC: inF, outC: units, kernelH: 1, kernelW: 1, strideH: 1, strideW: 1, padTop: 0, padBottom: 0, padLeft: 0, padRight: 0, dilationH: 1, dilationW: 1 };
    const dy = filled(batch * units, 0.01);
    const w = filled(inF * units, 0.01);
    const dx = new Float32Array(batch * inF);
    dataMs = timeMedian(() => k.conv2dBackwardData(dy, w, dx, o), 0.1, 3) * 1000;
  }
  return { op: op.name, type: 'dense', forwardMs, backwardMs: Math.max(0, stepMs - forwardMs) + dataMs };
}

function timeOp(k: Kernels, op: PlanOp, batch: number, sizes: number[], inputBuffer: number, paramSize: (i: number) => number): OpTiming {
  const ms = (run: () => void) => timeMedian(run, 0.1, 3) * 1000;
  const inSize = batch * sizes[op.inputs[0]];
  const outSize = batch * sizes[op.output];
  const x = filled(inSize);
  const y = new Float32Array(outSize);
  const dy = filled(outSize, 0.01);
  const dx = new Float32Array(inSize);
  let forward: () => void;
  let backward: () => void = () => {};
  const type: string = op.type;
  const relu = op.activation === 'relu';
  switch (op.type) {
    case 'conv2d': {
      const o: Conv2DNativeOptions = { batch, ...op.conv!, relu };
      const w = filled(paramSize(op.params[0]), 0.01);
      const b = op.params.length > 1 ? filled(paramSize(op.params[1]), 0) : null;
      const dw = new Float32Array(w.length);
      const db = b ? new Float32Array(b.length) : null;
      const needsData = op.inputs[0] !== inputBuffer;
      forward = () => k.conv2dForward(x, w, b, y, o);
      backward = () => {
        if (relu) k.activationBackward('relu', y, dy, dy);
        k.conv2dBackwardFilter(x, dy, dw, db, o);
        if (needsData) k.conv2dBackwardData(dy, w, dx, o);
      };
      break;
    }
    case 'maxPool2d': {
      const shape: Pool2dGeometry = { batch, ...op.pool! };
      forward = () => k.maxPool2dForward(x, y, shape);
      backward = () => k.maxPool2dBackward(x, dy, dx, shape);
      break;
    }
    case 'globalAvgPool2d':
      forward = () => k.globalAvgPoolForward(x, y, batch, op.spatial!, op.channels!);
      backward = () => k.globalAvgPoolBackward(dy, dx, batch, op.spatial!, op.channels!);
      break;
    case 'activation':
      forward = () => k.activationForward(op.activation!, x, y);
      backward = () => k.activationBackward(op.activation!, y, dy, dx);
      break;
    case 'add': {
      const other = filled(outSize);
      forward = () => {
        k.add(x, other, y);
        if (relu) k.activationForward('relu', y, y);
      };
      backward = () => {
        if (relu) k.activationBackward('relu', y, dy, dy);
        dx.set(dy);
        other.set(dy);
      };
      break;
    }
    case 'batchNorm': {
      const c = op.channels!;
      const rows = outSize / c;
      const gamma = filled(c, 1);
      const beta = filled(c, 0);
      const mean = new Float32Array(c);
      const invStd = new Float32Array(c);
      const runMean = new Float32Array(c);
      const runVar = filled(c, 1);
      const dGamma = new Float32Array(c);
      const dBeta = new Float32Array(c);
      const normalize = () => k.batchNormForwardTraining(x, gamma, beta, y, mean, invStd, runMean, runVar, rows, c, op.epsilon!, op.momentum!);
      const normalizeBackward = () => k.batchNormBackward(x, dy, gamma, mean, invStd, dx, dGamma, dBeta, rows, c);
      forward = normalize;
      backward = normalizeBackward;
      if (op.inputs.length > 1) {
        // Fused residual add (and its activation): timed as the separate steps.
        const residual = filled(outSize);
        forward = () => {
          normalize();
          k.add(y, residual, y);
          if (relu) k.activationForward('relu', y, y);
        };
        backward = () => {
          if (relu) k.activationBackward('relu', y, dy, dy);
          residual.set(dy);
          normalizeBackward();
        };
      }
      break;
    }
    case 'dropout': {
      const mask = new Float32Array(outSize);
      let step = 0;
      forward = () => k.dropoutForward(x, y, mask, op.rate!, op.seed!, step++);
      backward = () => k.dropoutBackward(mask, dy, dx);
      break;
    }
    default:
      throw new Error(`no eager timing for op type ${op.type}`);
  }
  return { op: op.name, type, forwardMs: ms(forward), backwardMs: ms(backward) };
}

export interface ModelProfile {
  model: ModelName;
  batch: number;
  threads: number;
  isa: string;
  ops: OpTiming[];
  lossMs: number;
  updateMs: number;
  sumMs: number;
  planStepMs: number;
}

export async function profileModel(name: ModelName, batch: number): Promise<ModelProfile> {
  const k = loadAddon<Kernels>();
  const model = zoo[name]({ seed: 0 });
  const { spec } = lowerModel(model.nodes, model.output, [...model.weightEntries], {
    maxBatch: batch,
    loss: 'softmaxCrossEntropy',
    optimizer: { kind: 'sgd', momentum: 0.9, nesterov: false, weightDecay: 0 },
    stripOutputSoftmax: true,
    seed: 0,
  });
  const paramSize = (i: number) => spec.params[i].size;
  const ops: OpTiming[] = [];
  for (const op of spec.ops) {
    ops.push(op.type === 'dense' ? await timeDense(k, op, batch, op.inputs[0] !== spec.inputBuffer) : timeOp(k, op, batch, spec.bufferSampleSizes, spec.inputBuffer, paramSize));
  }
  const classes = spec.bufferSampleSizes[spec.outputBuffer];
  const logits = filled(batch * classes);
  const labels = Int32Array.from({ length: batch }, (_, i) => i % classes);
  const gradLogits = new Float32Array(logits.length);
  const lossMs = timeMedian(() => k.softmaxCrossEntropy(logits, labels, gradLogits, batch, classes), 0.1, 3) * 1000;
  const total = spec.params.filter((p) => p.trainable).reduce((sum, p) => sum + p.size, 0);
  const param = filled(total, 0.1);
  const grad = filled(total, 0.001);
  const velocity = new Float32Array(total);
  const updateMs = timeMedian(() => k.sgdUpdate(param, grad, velocity, 0.01, 0.9, false, 0), 0.1, 3) * 1000;
  const sumMs = ops.reduce((sum, o) => sum + o.forwardMs + o.backwardMs, 0) + lossMs + updateMs;
  const info = backend();
  const plan = await runKiln({ model: name, batch, mode: 'train', threads: info.threads }, { warmup: 2, steps: 6, maxSeconds: 20, seed: 0 });
  return { model: name, batch, threads: info.threads, isa: info.isa, ops, lossMs, updateMs, sumMs, planStepMs: plan.medianStepSeconds * 1000 };
}

export function profileMarkdown(p: ModelProfile): string {
  const pct = (ms: number) => `${((100 * ms) / p.sumMs).toFixed(1)}%`;
  const lines = [
    `#### ${p.model}, batch ${p.batch}, ${p.threads} thread(s), ${p.isa}`,
    '',
    `Sum of eager op times ${p.sumMs.toFixed(1)} ms; the real plan's median training step ${p.planStepMs.toFixed(1)} ms.`,
    '',
    '| op | kind | forward ms | backward ms | share of sum |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const o of p.ops) lines.push(`| ${o.op} | ${o.type} | ${o.forwardMs.toFixed(2)} | ${o.backwardMs.toFixed(2)} | ${pct(o.forwardMs + o.backwardMs)} |`);
  lines.push(`| loss | softmax cross-entropy | ${p.lossMs.toFixed(2)} | | ${pct(p.lossMs)} |`);
  lines.push(`| update | SGD momentum 0.9 | | ${p.updateMs.toFixed(2)} | ${pct(p.updateMs)} |`);
  const byKind = new Map<string, number>();
  for (const o of p.ops) byKind.set(o.type, (byKind.get(o.type) ?? 0) + o.forwardMs + o.backwardMs);
  lines.push('', `By kind: ${[...byKind].sort((a, b) => b[1] - a[1]).map(([kind, ms]) => `${kind} ${pct(ms)}`).join(', ')}.`, '');
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      models: { type: 'string', default: MODELS.join(',') },
      batch: { type: 'string', default: '64' },
      threads: { type: 'string' },
      json: { type: 'string' },
    },
  });
  if (values.threads) setNumThreads(Number(values.threads));
  const profiles: ModelProfile[] = [];
  for (const name of values.models!.split(',') as ModelName[]) {
    if (!MODELS.includes(name)) throw new Error(`unknown model '${name}'`);
    const profile = await profileModel(name, Number(values.batch));
    profiles.push(profile);
    console.log(profileMarkdown(profile));
  }
  if (values.json) fs.writeFileSync(values.json, JSON.stringify(profiles, null, 2) + '\n');
}

if (require.main === module) {
  main().catch((error: Error) => {
    process.stderr.write(`bench-profile: ${error.message}\n`);
    process.exit(1);
  });
}
