// Every reference model learns: each overfits a small fixed batch.
import t from 'tap';
import { alexnetS, lenet5, resnet20 } from '../../lib/model/zoo';
import { Tensor } from '../../lib/tensor';
import { adam, sgd } from '../../lib/train/optimizers';
import { createRandom } from '../../lib/data/random';
import type { Model } from '../../lib/model/model';

function batch(shape: number[], count: number, seed: number): { x: Tensor; y: Int32Array } {
  const random = createRandom(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  const x = new Tensor(Float32Array.from({ length: count * size }, () => random.nextFloat()), [count, ...shape]);
  const y = Int32Array.from({ length: count }, (_, i) => i % 10);
  return { x, y };
}

// Under the sanitizers (npm run test:sanitize, KILN_SANITIZER=1) a step
// costs 5-10x more, and these runs are there to put every layer of the full
// models through ASan and UBSan, which a quarter of the steps does: the
// loss must still fall by a quarter, but the batch need not be learnt to the
// end (npm test checks that). The full runs took 106 s under ASan on a 2-core
// Zen 1, the longest file of the sanitizer pass.
const underSanitizer = process.env.KILN_SANITIZER === '1';

async function overfit(t: { ok(v: boolean, m: string): void; same(a: unknown, b: unknown, m: string): void }, m: Model, shape: number[], steps: number, target: number): Promise<void> {
  const { x, y } = batch(shape, 10, 3);
  const runSteps = underSanitizer ? Math.ceil(steps / 4) : steps;
  const first = await m.trainOnBatch(x, y);
  let last = first;
  for (let step = 1; step < runSteps; step++) last = await m.trainOnBatch(x, y);
  const message = `${m.name}: loss ${first.loss.toFixed(3)} -> ${last.loss.toFixed(4)} after ${runSteps} steps`;
  if (underSanitizer) {
    t.ok(last.loss < 0.75 * first.loss, message);
    return;
  }
  t.ok(last.loss < target, message);
  const predicted = (await m.predict(x)).argMax();
  t.same([...predicted], [...y], `${m.name} predicts every training label`);
}

t.test('lenet5 overfits', async (t) => {
  const m = lenet5({ seed: 1 });
  m.compile({ optimizer: sgd({ learningRate: 0.05, momentum: 0.9 }), loss: 'softmaxCrossEntropy' });
  await overfit(t, m, [28, 28, 1], 100, 0.05);
});

t.test('resnet20 (28x28x1) overfits', async (t) => {
  const m = resnet20({ inputShape: [28, 28, 1], seed: 1 });
  m.compile({ optimizer: adam({ learningRate: 0.01 }), loss: 'softmaxCrossEntropy' });
  await overfit(t, m, [28, 28, 1], 60, 0.1);
});

// Under the sanitizers 60 alexnet-s steps take minutes; its layers run there
// through the ops, fuzz and other model tests, and this test runs in npm test.
t.test('alexnet-s learns a small batch despite its two dropout layers', { skip: underSanitizer && 'too slow under ASan; runs in npm test' }, async (t) => {
  // Dropout 0.5 makes the training loss noisy, so judge in inference mode.
  const m = alexnetS({ seed: 1 });
  m.compile({ optimizer: adam({ learningRate: 1e-4 }), loss: 'softmaxCrossEntropy' });
  const { x, y } = batch([32, 32, 3], 10, 3);
  const before = await m.evaluate({ x, y });
  for (let step = 0; step < 60; step++) await m.trainOnBatch(x, y);
  const after = await m.evaluate({ x, y });
  t.ok(after.loss < before.loss / 3, `inference loss ${before.loss.toFixed(3)} -> ${after.loss.toFixed(3)}`);
  t.ok(after.accuracy >= 0.8, `accuracy on the batch: ${after.accuracy}`);
});
