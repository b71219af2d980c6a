// TensorFlow.js peer of `kiln bench`, run as a child process:
//   node dist/lib/bench/tfjs-worker.js cpu|wasm
// It builds the reference models with tf.layers (channels-last, like kiln),
// trains with tf.train.momentum(0.01, 0.9) and tf.losses.softmaxCrossEntropy
// through model.trainOnBatch, and infers with model.predict. Protocol: see
// peer-process.ts. A child process keeps tfjs's memory and its global backend
// out of kiln's process, so each framework's RSS is its own.
//
// @tensorflow/tfjs is an optional dependency and has no type declarations we
// compile against (the build must not depend on it), hence the loose typing.
import { createInterface } from 'node:readline';
import { peakRssMB, resetPeakRss } from './memory';
import { CLASSES, INPUT_SHAPES, median, randomBatch, type ModelName, type PeerRequest, type StepTimes } from './workloads';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Tf = any;
const MiB = 2 ** 20;

function buildModel(tf: Tf, name: ModelName): Tf {
  const inputShape = INPUT_SHAPES[name];
  if (name === 'lenet5') {
    return tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape, filters: 6, kernelSize: 5, padding: 'same', activation: 'relu' }),
        tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }),
        tf.layers.conv2d({ filters: 16, kernelSize: 5, padding: 'valid', activation: 'relu' }),
        tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 120, activation: 'relu' }),
        tf.layers.dense({ units: 84, activation: 'relu' }),
        tf.layers.dense({ units: CLASSES }),
      ],
    });
  }
  if (name === 'alexnet-s') {
    // Stride-1 "same" with an odd kernel pads (k-1)/2 on every side: the pads of WORKLOADS.md.
    const conv = (filters: number, kernelSize: number, extra: object = {}) =>
      tf.layers.conv2d({ filters, kernelSize, padding: 'same', activation: 'relu', ...extra });
    const pool = () => tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'valid' });
    return tf.sequential({
      layers: [
        conv(64, 5, { inputShape }),
        pool(),
        conv(192, 5),
        pool(),
        conv(384, 3),
        conv(256, 3),
        conv(256, 3),
        pool(),
        tf.layers.flatten(),
        tf.layers.dropout({ rate: 0.5 }),
        tf.layers.dense({ units: 1024, activation: 'relu' }),
        tf.layers.dropout({ rate: 0.5 }),
        tf.layers.dense({ units: 1024, activation: 'relu' }),
        tf.layers.dense({ units: CLASSES }),
      ],
    });
  }
  // resnet20: stride-2 3x3 convs use "same" (TensorFlow pads bottom/right only);
  // the work per step is the same as kiln's symmetric pad 1.
  const input = tf.input({ shape: inputShape });
  const conv = (filters: number, kernelSize: number, strides: number) =>
    tf.layers.conv2d({ filters, kernelSize, strides, padding: 'same', useBias: false });
  const bn = () => tf.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5 });
  const relu = () => tf.layers.activation({ activation: 'relu' });
  let x = relu().apply(bn().apply(conv(16, 3, 1).apply(input)));
  let channels = 16;
  [16, 32, 64].forEach((filters, stage) => {
    for (let block = 0; block < 3; block++) {
      const stride = stage > 0 && block === 0 ? 2 : 1;
      let y = relu().apply(bn().apply(conv(filters, 3, stride).apply(x)));
      y = bn().apply(conv(filters, 3, 1).apply(y));
      const shortcut = stride !== 1 || channels !== filters ? bn().apply(conv(filters, 1, stride).apply(x)) : x;
      x = relu().apply(tf.layers.add().apply([y, shortcut]));
      channels = filters;
    }
  });
  x = tf.layers.globalAveragePooling2d({}).apply(x);
  const logits = tf.layers.dense({ units: CLASSES }).apply(x);
  return tf.model({ inputs: input, outputs: logits });
}

async function measure(tf: Tf, request: PeerRequest): Promise<StepTimes> {
  resetPeakRss();
  const model = buildModel(tf, request.model);
  const [h, w, c] = INPUT_SHAPES[request.model];
  const { images, labels } = randomBatch(request.model, request.batch, request.seed);
  const x = tf.tensor4d(images, [request.batch, h, w, c]);
  const y = tf.oneHot(tf.tensor1d(labels, 'int32'), CLASSES).toFloat();
  let step: () => Promise<void>;
  if (request.mode === 'train') {
    model.compile({
      optimizer: tf.train.momentum(0.01, 0.9),
      // Mean softmax cross-entropy over the batch, on logits.
      loss: (yTrue: Tf, yPred: Tf) => tf.losses.softmaxCrossEntropy(yTrue, yPred),
    });
    step = async () => {
      await model.trainOnBatch(x, y);
    };
  } else {
    step = async () => {
      const out = model.predict(x, { batchSize: request.batch });
      await out.data();
      out.dispose();
    };
  }
  let warmup = 0;
  const warmupStart = performance.now();
  while (warmup < request.warmup) {
    await step();
    warmup++;
    if ((performance.now() - warmupStart) / 1000 > request.maxSeconds) break;
  }
  const times: number[] = [];
  const start = performance.now();
  while (times.length < request.steps) {
    const t0 = performance.now();
    await step();
    const t1 = performance.now();
    times.push((t1 - t0) / 1000);
    if ((t1 - start) / 1000 > request.maxSeconds) break;
  }
  const rssMB = process.memoryUsage.rss() / MiB;
  x.dispose();
  y.dispose();
  model.dispose();
  const seconds = median(times);
  return {
    imagesPerSecond: request.batch / seconds,
    medianStepSeconds: seconds,
    stepSeconds: times,
    steps: times.length,
    warmup,
    threads: currentThreads(),
    peakRssMB: peakRssMB(),
    rssMB,
  };
}

let wasmModule: Tf;
function currentThreads(): number {
  return wasmModule?.getThreadsCount ? wasmModule.getThreadsCount() : 1;
}

async function main(): Promise<void> {
  const backendName = process.argv[2] ?? 'cpu';
  const say = (value: object) => process.stdout.write(`${JSON.stringify(value)}\n`);
  let tf: Tf;
  try {
    tf = require('@tensorflow/tfjs');
    if (backendName === 'wasm') {
      wasmModule = require('@tensorflow/tfjs-backend-wasm');
      const threads = Number(process.env.KILN_BENCH_TFJS_THREADS ?? 0);
      if (threads > 0 && wasmModule.setThreadsCount) wasmModule.setThreadsCount(threads);
    }
    if (!(await tf.setBackend(backendName))) throw new Error(`tf.setBackend('${backendName}') failed`);
    await tf.ready();
  } catch (error) {
    say({ ready: false, error: `cannot load TensorFlow.js ${backendName} backend: ${(error as Error).message}` });
    return;
  }
  const simd = backendName === 'wasm' ? await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT') : undefined;
  const multithread = backendName === 'wasm' ? await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT') : undefined;
  say({
    ready: true,
    version: tf.version.tfjs,
    backend: tf.getBackend(),
    isa: backendName === 'wasm' ? `wasm${simd ? ' simd128' : ''}${multithread ? ' threads' : ''}` : 'js',
    threads: currentThreads(),
  });
  for await (const line of createInterface({ input: process.stdin })) {
    if (!line.trim()) continue;
    try {
      const request = JSON.parse(line) as PeerRequest;
      // The threads request cannot be honoured: the cpu backend is single-threaded
      // JavaScript and the wasm thread count is fixed when the backend starts.
      say({ ok: true, ...(await measure(tf, request)) });
    } catch (error) {
      say({ ok: false, error: (error as Error).message });
    }
  }
}

void main();
