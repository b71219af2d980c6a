// End to end through the native plan: learning, whole-graph gradients against
// finite differences, the event loop while fitting, abort, busy guards.
import t from 'tap';
import * as L from '../../lib/layers';
import { model, Model } from '../../lib/model/model';
import { sequential } from '../../lib/model/sequential';
import { lenet5 } from '../../lib/model/zoo';
import { Tensor } from '../../lib/tensor';
import { sgd, adam } from '../../lib/train/optimizers';
import { createRandom } from '../../lib/data/random';

function randomTensor(shape: number[], seed: number, scale = 1): Tensor {
  const random = createRandom(seed);
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = (random.nextFloat() * 2 - 1) * scale;
  return new Tensor(data, shape);
}

function randomLabels(count: number, classes: number, seed: number): Int32Array {
  const random = createRandom(seed);
  return Int32Array.from({ length: count }, () => random.nextInt(classes));
}

/** A small DAG with every kind of op: conv, BN, ReLU, a skip connection, pooling, concatenation, dense. */
function smallDag(seed: number): Model {
  const x = L.input({ shape: [6, 5, 3] });
  const a = L.conv2d({ name: 'a', filters: 4, kernelSize: 3, padding: 'same', activation: 'tanh' }).apply(x);
  const normalized = L.batchNormalization({ name: 'bn' }).apply(L.conv2d({ name: 'b', filters: 4, kernelSize: 3, padding: 'same' }).apply(a));
  // Fused into the batch norm by the lowering.
  const b = L.activation({ name: 'bn_tanh', activation: 'tanh' }).apply(normalized);
  const sum = L.add({ name: 'sum', activation: 'sigmoid' }).apply([a, b]);
  const pooled = L.averagePooling2d({ name: 'avg', poolSize: 2, strides: 1 }).apply(sum);
  const strided = L.conv2d({ name: 'c', filters: 3, kernelSize: 2, strides: 2, padding: 'valid' }).apply(pooled);
  const skip = L.maxPooling2d({ name: 'max', poolSize: 2, strides: 2 }).apply(pooled);
  const joined = L.concatenate({ name: 'cat' }).apply([strided, skip]);
  const flat = L.flatten().apply(joined);
  const hidden = L.dense({ name: 'h', units: 5, activation: 'tanh' }).apply(flat);
  const branch = L.globalAveragePooling2d({ name: 'gap' }).apply(sum);
  const merged = L.concatenate({ name: 'merge' }).apply([hidden, branch]);
  const out = L.dense({ name: 'out', units: 4 }).apply(merged);
  return model({ inputs: x, outputs: out, seed });
}

t.test('whole-graph gradients match central finite differences (skip connection, BN, pooling, concat)', async (t) => {
  const m = smallDag(3);
  m.compile({ optimizer: sgd({ learningRate: 0.1 }), loss: 'softmaxCrossEntropy' });
  const x = randomTensor([3, 6, 5, 3], 11);
  const y = randomLabels(3, 4, 12);
  await m.computeGradients(x, y);
  const grads = m.getGradients();
  const weights = m.weightViews();
  const random = createRandom(5);
  let checked = 0;
  for (const [key, values] of weights) {
    if (key.includes('moving_')) continue;
    const grad = grads.get(key)!;
    for (let trial = 0; trial < 4; trial++) {
      const i = random.nextInt(values.length);
      const original = values[i];
      const h = 2e-3;
      values[i] = original + h;
      const plus = await m.computeGradients(x, y);
      values[i] = original - h;
      const minus = await m.computeGradients(x, y);
      values[i] = original;
      const numeric = (plus - minus) / (2 * h);
      const tolerance = 2e-3 + 0.03 * Math.abs(numeric);
      t.ok(Math.abs(numeric - grad[i]) <= tolerance, `${key}[${i}]: analytic ${grad[i].toExponential(4)} vs numeric ${numeric.toExponential(4)}`);
      checked++;
    }
  }
  t.ok(checked >= 40, `checked ${checked} gradient entries`);
});

t.test('mean squared error trains a regression head', async (t) => {
  const m = sequential([L.dense({ units: 8, activation: 'tanh' }), L.dense({ units: 2 })], { inputShape: [3], seed: 1 });
  m.compile({ optimizer: adam({ learningRate: 0.02 }), loss: 'meanSquaredError' });
  const x = randomTensor([32, 3], 4);
  const targets = new Float32Array(64);
  for (let i = 0; i < 32; i++) {
    targets[2 * i] = x.data[3 * i] - 0.5 * x.data[3 * i + 1];
    targets[2 * i + 1] = x.data[3 * i + 2] * 0.3;
  }
  const y = new Tensor(targets, [32, 2]);
  const before = (await m.evaluate({ x, y })).loss;
  await m.fit({ x, y }, { epochs: 150, batchSize: 32, verbose: 0 });
  const after = (await m.evaluate({ x, y })).loss;
  t.ok(after < before * 0.05, `MSE fell from ${before} to ${after}`);
});

t.test('lenet5 overfits a small batch', async (t) => {
  const m = lenet5({ seed: 2 });
  m.compile({ optimizer: sgd({ learningRate: 0.05, momentum: 0.9 }), loss: 'softmaxCrossEntropy' });
  const x = randomTensor([16, 28, 28, 1], 21, 1);
  const y = randomLabels(16, 10, 22);
  let last = { loss: Infinity, accuracy: 0 } as Record<string, number>;
  for (let step = 0; step < 120; step++) last = await m.trainOnBatch(x, y);
  t.ok(last.loss < 0.05, `loss after 120 steps: ${last.loss}`);
  t.equal(last.accuracy, 1);
  const predictions = await m.predict(x);
  t.same([...predictions.argMax()], [...y]);
});

t.test('the event loop keeps running while a model trains', async (t) => {
  const m = lenet5({ seed: 4 });
  m.compile({ optimizer: 'sgd', loss: 'softmaxCrossEntropy' });
  const x = randomTensor([512, 28, 28, 1], 8);
  const y = randomLabels(512, 10, 9);
  let ticks = 0;
  let fitDone = false;
  const timer = setInterval(() => ticks++, 1);
  const started = Date.now();
  const fitting = m.fit({ x, y }, { epochs: 3, batchSize: 256, verbose: 0 }).then(() => (fitDone = true));
  // A timer must fire while the first step is still running in native code.
  await new Promise((resolve) => setTimeout(resolve, 5));
  const ticksEarly = ticks;
  await fitting;
  clearInterval(timer);
  const elapsed = Date.now() - started;
  t.ok(fitDone);
  t.ok(ticksEarly >= 1, `a 1 ms interval fired ${ticksEarly} times in the first 5 ms of fit`);
  t.ok(ticks >= Math.min(20, elapsed / 10), `the interval fired ${ticks} times during ${elapsed} ms of training`);
});

t.test('a second fit, or a predict during fit, is refused; abort stops between steps', async (t) => {
  const m = lenet5({ seed: 5 });
  m.compile({ optimizer: 'sgd', loss: 'softmaxCrossEntropy' });
  const x = randomTensor([256, 28, 28, 1], 1);
  const y = randomLabels(256, 10, 2);
  const controller = new AbortController();
  const first = m.fit({ x, y }, { epochs: 50, batchSize: 32, verbose: 0, signal: controller.signal, callbacks: [{ onBatchEnd: (step) => { if (step === 3) controller.abort(); } }] });
  await t.rejects(m.fit({ x, y }), /kiln.fit: model 'lenet5' is busy/);
  await t.rejects(m.predict(x), /kiln.predict: model 'lenet5' is busy/);
  const history = await first;
  t.ok(history.stoppedEarly);
  t.equal(history.epoch.length, 0, 'aborted inside the first epoch');
  t.equal(m.updates, 3, 'stopped right after the step that aborted');
  const again = await m.fit({ x, y }, { epochs: 1, batchSize: 64, verbose: 0 });
  t.same(again.epoch, [1]);
});

t.test('history, validation split and callbacks', async (t) => {
  const m = sequential([L.flatten(), L.dense({ units: 10 })], { inputShape: [4, 4, 1], seed: 3 });
  m.compile({ optimizer: sgd({ learningRate: 0.1, momentum: 0.9 }), loss: 'sparseCategoricalCrossentropy' });
  const x = randomTensor([100, 4, 4, 1], 3);
  const y = randomLabels(100, 10, 4);
  const seen: number[] = [];
  const history = await m.fit({ x, y }, { epochs: 3, batchSize: 16, validationSplit: 0.2, verbose: 0, callbacks: [{ onEpochEnd: async (epoch) => { await new Promise((r) => setTimeout(r, 1)); seen.push(epoch); } }] });
  t.same(history.epoch, [1, 2, 3]);
  t.same(seen, [1, 2, 3]);
  t.same(Object.keys(history.history).sort(), ['accuracy', 'loss', 'valAccuracy', 'valLoss']);
  t.equal(m.updates, 3 * Math.ceil(80 / 16));
});

t.test('same seed, same data, same threads: identical weights after training', async (t) => {
  const run = async () => {
    const m = smallDag(9);
    m.compile({ optimizer: sgd({ learningRate: 0.05, momentum: 0.9 }), loss: 'softmaxCrossEntropy' });
    await m.fit({ x: randomTensor([20, 6, 5, 3], 1), y: randomLabels(20, 4, 2) }, { epochs: 2, batchSize: 8, verbose: 0, seed: 4 });
    return m.getWeights();
  };
  const a = await run();
  const b = await run();
  for (const [key, value] of a) t.same([...value], [...b.get(key)!], key);
});

t.test('bad training input gives clear errors', async (t) => {
  const m = lenet5();
  t.throws(() => m.ensurePlan(4), /model 'lenet5' is not compiled/);
  m.compile({ optimizer: 'sgd', loss: 'softmaxCrossEntropy' });
  const x = randomTensor([4, 28, 28, 1], 1);
  await t.rejects(m.fit({ x, y: [0, 1, 2, 10] }, { verbose: 0 }), /label 10 at index 3 is outside \[0, 9\]/);
  await t.rejects(m.fit({ x: randomTensor([4, 32, 32, 3], 1), y: [0, 1, 2, 3] }, { verbose: 0 }), /expected x of shape \[N, 28, 28, 1\] .* but received \[4, 32, 32, 3\]/);
  await t.rejects(m.fit({ x, y: [0, 1, 2, 3] }, { batchSize: 0 }), /expected a positive integer for 'batchSize'/);
  t.throws(() => m.compile({ optimizer: 'sgd', loss: 'hinge' as never }), /expected one of .* for 'loss' but received "hinge"/);
  t.throws(() => m.setWeights({ 'conv1/kernel': new Float32Array(3) }), /weight 'conv1\/kernel' has shape \[5, 5, 1, 6\] \(150 values\) but received 3 values/);
  t.throws(() => m.setWeights({ nope: new Float32Array(3) }), /has no weight 'nope'/);
});
