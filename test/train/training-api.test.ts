// Schedules, callbacks (early stopping, checkpoints), non-finite losses and
// feature maps.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as L from '../../lib/layers';
import { sequential } from '../../lib/model/sequential';
import { loadModel } from '../../lib/model/serialization';
import { Tensor } from '../../lib/tensor';
import { earlyStopping, modelCheckpoint } from '../../lib/train/callbacks';
import { sgd, adam, adamw } from '../../lib/train/optimizers';
import { constant, cosineDecay, learningRateAt, stepDecay } from '../../lib/train/schedules';
import { createRandom } from '../../lib/data/random';

function data(count: number, seed: number) {
  const random = createRandom(seed);
  const x = new Tensor(Float32Array.from({ length: count * 16 }, () => random.nextFloat()), [count, 4, 4, 1]);
  const y = Int32Array.from({ length: count }, () => random.nextInt(3));
  return { x, y };
}

const small = (seed = 1) => sequential([L.flatten(), L.dense({ units: 8, activation: 'relu' }), L.dense({ units: 3 })], { inputShape: [4, 4, 1], seed });

t.test('learning-rate schedules', async (t) => {
  t.equal(learningRateAt(0.1, 50), 0.1);
  t.equal(learningRateAt(constant(0.2), 9), 0.2);
  const step = stepDecay({ initial: 1, stepSize: 10, gamma: 0.5 });
  t.same([0, 9, 10, 25].map((s) => learningRateAt(step, s)), [1, 1, 0.5, 0.25]);
  const cosine = cosineDecay({ initial: 1, decaySteps: 100 });
  t.equal(learningRateAt(cosine, 0), 1);
  t.ok(Math.abs(learningRateAt(cosine, 50) - 0.5) < 1e-12);
  t.ok(Math.abs(learningRateAt(cosine, 100)) < 1e-12);
  t.equal(learningRateAt(cosine, 500), 0, 'stays at the floor after decaySteps');
  const warm = cosineDecay({ initial: 1, decaySteps: 110, warmupSteps: 10, alpha: 0.1 });
  t.same([0, 4, 9].map((s) => learningRateAt(warm, s)), [0.1, 0.5, 1]);
  t.ok(Math.abs(learningRateAt(warm, 110) - 0.1) < 1e-12, 'ends at alpha * initial');
  t.throws(() => sgd({ learningRate: -1 }), /expected a positive number or a schedule/);
  t.throws(() => sgd({ momentum: 1.5 }), /expected a number in \[0, 1\) for 'momentum'/);
  t.throws(() => sgd({ nesterov: true }), /'nesterov' needs a positive 'momentum'/);
});

t.test('a schedule drives the native step: a zero-ish learning rate changes nothing', async (t) => {
  const m = small();
  m.compile({ optimizer: sgd({ learningRate: stepDecay({ initial: 0.5, stepSize: 1, gamma: 1e-30 }) }), loss: 'softmaxCrossEntropy' });
  const { x, y } = data(8, 2);
  await m.trainOnBatch(x, y);
  const after1 = m.getWeights();
  await m.trainOnBatch(x, y);
  for (const [key, value] of m.getWeights()) {
    const before = after1.get(key)!;
    t.ok(value.every((v, i) => Math.abs(v - before[i]) < 1e-20), `${key} unchanged at lr 5e-31`);
  }
});

t.test('adam and adamw train', async (t) => {
  for (const optimizer of [adam({ learningRate: 0.05 }), adamw({ learningRate: 0.05, weightDecay: 0.01 }), sgd({ learningRate: 0.2, momentum: 0.9, nesterov: true, weightDecay: 1e-4 })]) {
    const m = small(3);
    m.compile({ optimizer, loss: 'softmaxCrossEntropy' });
    const { x, y } = data(12, 4);
    const before = (await m.evaluate({ x, y })).loss;
    await m.fit({ x, y }, { epochs: 40, batchSize: 12, verbose: 0 });
    const after = (await m.evaluate({ x, y })).loss;
    t.ok(after < before * 0.5, `${optimizer.name}: ${before.toFixed(3)} -> ${after.toFixed(3)}`);
  }
});

t.test('earlyStopping stops when the monitored metric stalls and can restore the best weights', async (t) => {
  const m = small();
  m.compile({ optimizer: sgd({ learningRate: 1e-9 }), loss: 'softmaxCrossEntropy' });
  const { x, y } = data(16, 5);
  const stopper = earlyStopping({ monitor: 'loss', patience: 2, minDelta: 1e-3, restoreBestWeights: true });
  const history = await m.fit({ x, y }, { epochs: 20, batchSize: 16, verbose: 0, callbacks: [stopper] });
  t.equal(history.epoch.length, 4, 'the first epoch sets the best; two more of patience; the fourth stops');
  t.ok(history.stoppedEarly);
  t.equal(stopper.stoppedEpoch, 4);
  await t.rejects(m.fit({ x, y }, { epochs: 1, verbose: 0, callbacks: [earlyStopping({ monitor: 'valLoss' })] }), /metric 'valLoss' is not in the epoch logs/);
});

t.test('modelCheckpoint saves the best epoch', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-ckpt-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const m = small();
  m.compile({ optimizer: sgd({ learningRate: 0.3 }), loss: 'softmaxCrossEntropy' });
  const { x, y } = data(16, 6);
  let bestLoss = Infinity;
  let bestWeights = new Map<string, Float32Array>();
  await m.fit({ x, y }, {
    epochs: 5,
    batchSize: 16,
    verbose: 0,
    validationData: { x, y },
    callbacks: [
      modelCheckpoint({ path: path.join(dir, 'best'), monitor: 'valLoss', saveBestOnly: true }),
      { onEpochEnd: (_epoch, logs) => { if (logs.valLoss < bestLoss) { bestLoss = logs.valLoss; bestWeights = m.getWeights(); } } },
    ],
  });
  const loaded = await loadModel(path.join(dir, 'best'));
  for (const [key, value] of bestWeights) t.same([...loaded.getWeights().get(key)!], [...value], key);
});

t.test('a non-finite loss stops training with the epoch and step', async (t) => {
  const m = small();
  m.compile({ optimizer: sgd({ learningRate: 1e30 }), loss: 'softmaxCrossEntropy' });
  const { x, y } = data(32, 7);
  await t.rejects(m.fit({ x, y }, { epochs: 5, batchSize: 8, verbose: 0 }), /kiln.fit: the loss became (NaN|Infinity) at epoch \d+, step \d+/);
  const quiet = small();
  quiet.compile({ optimizer: sgd({ learningRate: 1e30 }), loss: 'softmaxCrossEntropy' });
  const history = await quiet.fit({ x, y }, { epochs: 5, batchSize: 8, verbose: 0, onNonFinite: 'stop' });
  t.ok(history.stoppedEarly);
});

t.test('activations returns the feature maps of named layers', async (t) => {
  const m = sequential([L.conv2d({ name: 'conv', filters: 2, kernelSize: 3, padding: 'same', activation: 'relu' }), L.flatten({ name: 'flat' }), L.dense({ name: 'out', units: 3 })], { inputShape: [4, 4, 1], seed: 2 });
  const { x } = data(2, 8);
  const maps = await m.activations(x, ['conv', 'out']);
  t.same(maps.get('conv')!.shape, [2, 4, 4, 2]);
  t.ok(maps.get('conv')!.data.every((v) => v >= 0), 'after the fused ReLU');
  t.same([...maps.get('out')!.data], [...(await m.predict(x)).data]);
  await t.rejects(m.activations(x, ['nope']), /has no layer 'nope'/);
  const fused = sequential([L.conv2d({ filters: 2, kernelSize: 3 }), L.batchNormalization({ name: 'bn' }), L.activation({ name: 'act', activation: 'relu' }), L.flatten(), L.dense({ units: 2 })], { inputShape: [4, 4, 1] });
  await t.rejects(fused.activations(x, ['bn']), /layer 'bn' is fused with 'act' in the compiled plan/);
  t.same((await fused.activations(x, ['act'])).get('act')!.shape, [2, 2, 2, 2]);
});

t.test('one-hot targets with categorical cross-entropy train like integer labels', async (t) => {
  const { x, y } = data(24, 9);
  const oneHot = new Float32Array(24 * 3);
  y.forEach((label, i) => (oneHot[i * 3 + label] = 1));
  const sparse = small(4);
  sparse.compile({ optimizer: sgd({ learningRate: 0.3 }), loss: 'sparseCategoricalCrossentropy' });
  const dense = small(4);
  dense.compile({ optimizer: sgd({ learningRate: 0.3 }), loss: 'categoricalCrossentropy' });
  const a = await sparse.fit({ x, y }, { epochs: 5, batchSize: 8, verbose: 0 });
  const b = await dense.fit({ x, y: new Tensor(oneHot, [24, 3]) }, { epochs: 5, batchSize: 8, verbose: 0 });
  for (let epoch = 0; epoch < 5; epoch++) {
    t.ok(Math.abs(a.history.loss[epoch] - b.history.loss[epoch]) < 1e-5, `epoch ${epoch + 1}: same loss ${a.history.loss[epoch]} vs ${b.history.loss[epoch]}`);
    t.equal(a.history.accuracy[epoch], b.history.accuracy[epoch]);
  }
  t.ok(b.history.loss[4] < b.history.loss[0]);
  await t.rejects(dense.fit({ x, y: new Tensor(oneHot.subarray(0, 30), [10, 3]) }, { verbose: 0 }), /expected targets of shape \[24, 3\]/);
});

t.test('inference folds batch norm into the convolution before it, with the same results', async (t) => {
  const input = L.input({ shape: [6, 6, 3] });
  const conv = L.conv2d({ name: 'conv', filters: 5, kernelSize: 3, padding: 'same' }).apply(input);
  const norm = L.batchNormalization({ name: 'bn', momentum: 0.5 }).apply(conv);
  const relu = L.activation({ name: 'relu', activation: 'relu' }).apply(norm);
  const plain = L.conv2d({ name: 'plain', filters: 4, kernelSize: 3, useBias: false }).apply(relu);
  const norm2 = L.batchNormalization({ name: 'bn2', momentum: 0.5 }).apply(plain);
  const out = L.dense({ name: 'out', units: 3 }).apply(L.flatten().apply(norm2));
  const { model: makeModel } = await import('../../lib/model/model');
  const m = makeModel({ inputs: input, outputs: out, seed: 3 });
  m.compile({ optimizer: sgd({ learningRate: 0.05, momentum: 0.9 }), loss: 'softmaxCrossEntropy' });
  const random = createRandom(12);
  const x = new Tensor(Float32Array.from({ length: 10 * 108 }, () => random.nextFloat() * 2 - 1), [10, 6, 6, 3]);
  const y = Int32Array.from({ length: 10 }, (_, i) => i % 3);
  for (let step = 0; step < 5; step++) await m.trainOnBatch(x, y);
  const folded = await m.predict(x);
  const exact = (await m.activations(x, ['out'])).get('out')!;
  let worst = 0;
  folded.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - exact.data[i]) / (1 + Math.abs(exact.data[i])))));
  t.ok(worst < 1e-4, `folded vs unfolded inference differ by at most ${worst}`);
  const maps = await m.activations(x, ['conv', 'bn2']);
  t.ok(maps.get('conv')!.data.some((v) => v !== 0), 'the convolution\'s own output is still there for feature maps');
  t.same(maps.get('bn2')!.shape, [10, 4, 4, 4]);
});
