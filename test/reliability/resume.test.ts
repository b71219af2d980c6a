// Resuming is exact: N epochs straight, and N/2 epochs + save + loadModel +
// the last N/2 epochs (fit's initialEpoch), give bit-identical weights and
// optimizer state with the same seed and thread count. Also: a non-finite
// loss stops fit with the epoch and step named.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as L from '../../lib/layers';
import { setNumThreads, backend } from '../../lib/backend';
import { createRandom } from '../../lib/data/random';
import { loadModel } from '../../lib/model/serialization';
import { model, Model } from '../../lib/model/model';
import { Tensor } from '../../lib/tensor';
import { adam, sgd } from '../../lib/train/optimizers';
import { stepDecay } from '../../lib/train/schedules';

const threadsBefore = backend().threads;
setNumThreads(2);
t.teardown(() => setNumThreads(threadsBefore));

function data(count: number, seed: number) {
  const random = createRandom(seed);
  const x = new Tensor(Float32Array.from({ length: count * 6 * 6 * 2 }, () => random.nextFloat() * 2 - 1), [count, 6, 6, 2]);
  const y = Int32Array.from({ length: count }, () => random.nextInt(3));
  return { x, y };
}

function build(kind: 'plain' | 'batchNorm' | 'dropout', optimizer: 'adam' | 'sgd'): Model {
  const input = L.input({ shape: [6, 6, 2] });
  let h = L.conv2d({ name: 'conv', filters: 4, kernelSize: 3, padding: 'same', activation: kind === 'batchNorm' ? undefined : 'relu' }).apply(input);
  if (kind === 'batchNorm') h = L.activation({ name: 'relu', activation: 'relu' }).apply(L.batchNormalization({ name: 'bn' }).apply(h));
  h = L.flatten({ name: 'flat' }).apply(L.maxPooling2d({ name: 'pool', poolSize: 2 }).apply(h));
  if (kind === 'dropout') h = L.dropout({ name: 'drop', rate: 0.3 }).apply(h);
  const out = L.dense({ name: 'out', units: 3, activation: 'softmax' }).apply(h);
  const m = model({ inputs: input, outputs: out, seed: 11 });
  m.compile({
    optimizer: optimizer === 'adam' ? adam({ learningRate: 0.01 }) : sgd({ learningRate: stepDecay({ initial: 0.1, stepSize: 7, gamma: 0.5 }), momentum: 0.9 }),
    loss: 'softmaxCrossEntropy',
  });
  return m;
}

function bits(weights: Map<string, Float32Array>): Record<string, number[]> {
  return Object.fromEntries([...weights].map(([key, value]) => [key, Array.from(new Uint32Array(value.buffer, value.byteOffset, value.length))]));
}

const EPOCHS = 4;
const options = { batchSize: 8, seed: 5, verbose: 0, shuffle: true };

async function straightAndResumed(t: { teardown(fn: () => void): void }, kind: 'plain' | 'batchNorm' | 'dropout', optimizer: 'adam' | 'sgd') {
  const { x, y } = data(37, 3); // 37: the last batch of each epoch is short
  const straight = build(kind, optimizer);
  await straight.fit({ x, y }, { ...options, epochs: EPOCHS });

  const first = build(kind, optimizer);
  await first.fit({ x, y }, { ...options, epochs: EPOCHS / 2 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-resume-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  await first.save(dir);
  const resumed = await loadModel(dir);
  await resumed.fit({ x, y }, { ...options, epochs: EPOCHS, initialEpoch: EPOCHS / 2 });
  return { straight, resumed, x, y, dir };
}

t.test('N epochs straight == N/2 + save + load + N/2 (adam; sgd with momentum and a step schedule; batch norm)', async (t) => {
  for (const [kind, optimizer] of [['plain', 'adam'], ['plain', 'sgd'], ['batchNorm', 'adam']] as const) {
    const { straight, resumed } = await straightAndResumed(t, kind, optimizer);
    t.same(bits(resumed.getWeights()), bits(straight.getWeights()), `${kind}/${optimizer}: identical weights, bit for bit`);
    t.same(Array.from(resumed.optimizerStateSnapshot()!.state), Array.from(straight.optimizerStateSnapshot()!.state), `${kind}/${optimizer}: identical optimizer state`);
    t.equal(resumed.updates, straight.updates, `${kind}/${optimizer}: same update count`);
  }
});

t.test('without initialEpoch the resumed run reshuffles like epoch 1 and diverges (the option matters)', async (t) => {
  const { x, y } = data(37, 3);
  const straight = build('plain', 'adam');
  await straight.fit({ x, y }, { ...options, epochs: EPOCHS });
  const first = build('plain', 'adam');
  await first.fit({ x, y }, { ...options, epochs: EPOCHS / 2 });
  await first.fit({ x, y }, { ...options, epochs: EPOCHS / 2 });
  t.notSame(bits(first.getWeights()), bits(straight.getWeights()));
  const exact = build('plain', 'adam');
  await exact.fit({ x, y }, { ...options, epochs: EPOCHS / 2 });
  const history = await exact.fit({ x, y }, { ...options, epochs: EPOCHS, initialEpoch: EPOCHS / 2 });
  t.same(history.epoch, [3, 4], 'history numbers the resumed epochs');
  t.same(bits(exact.getWeights()), bits(straight.getWeights()), 'in-process continuation with initialEpoch is exact too');
  await t.rejects(exact.fit({ x, y }, { ...options, epochs: 2, initialEpoch: -1 }), /kiln.fit: expected a non-negative integer for 'initialEpoch'/);
  const none = await exact.fit({ x, y }, { ...options, epochs: 2, initialEpoch: 2 });
  t.same(none.epoch, [], 'initialEpoch >= epochs trains nothing (as in Keras)');
});

t.test('dropout models resume exactly', async (t) => {
  const { straight, resumed } = await straightAndResumed(t, 'dropout', 'adam');
  // Masks are drawn from (seed, update count), which a checkpoint restores.
  t.same(bits(resumed.getWeights()), bits(straight.getWeights()), 'identical weights with dropout');
});

t.test('a non-finite loss stops fit naming the epoch and step', async (t) => {
  const { x, y } = data(16, 4);
  const poisoned = new Tensor(x.data.slice(), x.shape);
  poisoned.data[9 * 72 + 5] = NaN; // sample 9: in the second batch of 8 when not shuffled
  // No ReLU between the input and the loss, so the NaN reaches it.
  const linear = () => {
    const input = L.input({ shape: [6, 6, 2] });
    const out = L.dense({ name: 'out', units: 3, activation: 'softmax' }).apply(L.flatten({ name: 'flat' }).apply(input));
    const m = model({ inputs: input, outputs: out, seed: 1 });
    m.compile({ optimizer: 'adam', loss: 'softmaxCrossEntropy' });
    return m;
  };
  await t.rejects(linear().fit({ x: poisoned, y }, { ...options, shuffle: false, epochs: 2 }), /kiln.fit: the loss became NaN at epoch 1, step 2 \(learning rate [\d.e-]+, first non-finite gradient: 'out\/kernel'\); the update was not applied/);
  const history = await linear().fit({ x: poisoned, y }, { ...options, shuffle: false, epochs: 3, onNonFinite: 'stop' });
  t.ok(history.stoppedEarly, "onNonFinite: 'stop' ends training quietly");
  t.ok(history.epoch.length <= 1, 'training stopped in the poisoned epoch');
  // 'skip' drops the poisoned batch (its update is never applied) and goes on.
  const skipping = linear();
  const skippedHistory = await skipping.fit({ x: poisoned, y }, { ...options, shuffle: false, epochs: 3, onNonFinite: 'skip' });
  t.same(skippedHistory.epoch, [1, 2, 3], "onNonFinite: 'skip' trains every epoch");
  t.equal(skipping.updates, 3, 'one update per epoch: the poisoned batch of 8 was skipped each time');
  t.ok([...skipping.getWeights().values()].every((w) => w.every(Number.isFinite)), 'the weights stay finite');

  // A huge learning rate: the loss or the weights overflow within a few steps.
  const wild = build('plain', 'sgd');
  wild.compile({ optimizer: sgd({ learningRate: 1e30 }), loss: 'softmaxCrossEntropy' });
  await t.rejects(wild.fit({ x, y }, { ...options, epochs: 5 }), /kiln.fit: (the loss became (NaN|-?Infinity)|weight '[\w/]+' became NaN or infinite) at epoch \d+, step \d+ /);
});

t.test('blown-up weights behind a ReLU (finite loss) are caught after the step', async (t) => {
  const { x, y } = data(16, 4);
  const m = build('plain', 'adam');
  const kernel = m.getWeights().get('conv/kernel')!;
  kernel[0] = NaN; // the conv output goes NaN for channel 0; the ReLU maps NaN to 0 and hides it from the loss
  m.setWeights(new Map([['conv/kernel', kernel]]));
  const loss = await m.computeGradients(x, y);
  t.ok(Number.isFinite(loss), `the loss alone looks fine (${loss})`);
  await t.rejects(m.fit({ x, y }, { ...options, shuffle: false, epochs: 1 }), /kiln.fit: weight 'conv\/kernel' became NaN or infinite at epoch 1, step 1 \(loss [\d.]+/);
  const healthy = build('plain', 'adam');
  const history = await healthy.fit({ x, y }, { ...options, epochs: 2 });
  t.same(history.epoch, [1, 2], 'finite weights pass the check');
});
