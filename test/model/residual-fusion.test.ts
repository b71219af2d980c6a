// The lowering folds "batch norm -> add(shortcut) -> activation" (a ResNet
// block's tail) into one batch-norm op with a residual input. Its gradients
// are checked by central finite differences in the three cases the plan
// treats differently: the shortcut's gradient is written first by this op,
// added to one written earlier in the backward pass, or not wanted at all
// (the shortcut is the network input); and folded inference must agree with
// the unfolded ops.
import t, { Test } from 'tap';
import * as L from '../../lib/layers';
import { model, Model } from '../../lib/model/model';
import { lowerModel } from '../../lib/model/lowering';
import { Tensor } from '../../lib/tensor';
import { sgd } from '../../lib/train/optimizers';
import { createRandom } from '../../lib/data/random';
import type { SymbolicTensor } from '../../lib/layers/layer';

function randomTensor(shape: number[], seed: number): Tensor {
  const random = createRandom(seed);
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = random.nextFloat() * 2 - 1;
  return new Tensor(data, shape);
}

type Topology = 'fresh shortcut gradient' | 'accumulated shortcut gradient' | 'shortcut is the input';

function residualModel(topology: Topology, seed: number): Model {
  const x = L.input({ shape: [5, 6, 4] });
  const shortcut: SymbolicTensor =
    topology === 'shortcut is the input' ? x : L.conv2d({ name: 'a', filters: 4, kernelSize: 3, padding: 'same', activation: 'tanh' }).apply(x);
  const branch = L.conv2d({ name: 'b', filters: 4, kernelSize: 3, padding: 'same', useBias: false }).apply(shortcut);
  const normalized = L.batchNormalization({ name: 'bn', momentum: 0.5 }).apply(branch);
  const sum = L.add({ name: 'sum', activation: 'relu' }).apply([normalized, shortcut]);
  let features = L.globalAveragePooling2d({ name: 'gap' }).apply(sum);
  if (topology === 'accumulated shortcut gradient') {
    // Comes after the add in the plan's order, so its gradient reaches the
    // shortcut before the fused op's does.
    const other = L.conv2d({ name: 'd', filters: 3, kernelSize: 1, activation: 'tanh' }).apply(shortcut);
    features = L.concatenate({ name: 'cat' }).apply([features, L.globalAveragePooling2d({ name: 'gap2' }).apply(other)]);
  }
  const out = L.dense({ name: 'out', units: 3 }).apply(features);
  return model({ inputs: x, outputs: out, seed });
}

async function checkGradients(t: Test, m: Model, x: Tensor, y: Int32Array): Promise<void> {
  await m.computeGradients(x, y);
  const grads = m.getGradients();
  const random = createRandom(7);
  let checked = 0;
  for (const [key, values] of m.weightViews()) {
    if (key.includes('moving_')) continue;
    const grad = grads.get(key)!;
    for (let trial = 0; trial < 5; trial++) {
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
  t.ok(checked >= 15, `checked ${checked} gradient entries`);
}

for (const topology of ['fresh shortcut gradient', 'accumulated shortcut gradient', 'shortcut is the input'] as Topology[]) {
  t.test(`batch norm + residual add + relu as one op: ${topology}`, async (t) => {
    const m = residualModel(topology, 4);
    const { spec } = lowerModel(m.nodes, m.output, [...m.weightEntries], {
      maxBatch: 4, loss: 'softmaxCrossEntropy', optimizer: { kind: 'sgd' }, stripOutputSoftmax: true, seed: 0,
    });
    const fused = spec.ops.filter((op) => op.type === 'batchNorm');
    t.equal(fused.length, 1);
    t.equal(fused[0].inputs.length, 2, 'the batch norm reads the shortcut as its second input');
    t.equal(fused[0].activation, 'relu');
    t.notOk(spec.ops.some((op) => op.type === 'add'), 'no separate add op is left');

    m.compile({ optimizer: sgd({ learningRate: 0.05, momentum: 0.9 }), loss: 'softmaxCrossEntropy' });
    const x = randomTensor([4, 5, 6, 4], 11);
    const y = Int32Array.from([0, 2, 1, 2]);
    await checkGradients(t, m, x, y);

    for (let step = 0; step < 4; step++) await m.trainOnBatch(x, y);
    const folded = await m.predict(x);
    const exact = (await m.activations(x, ['out'])).get('out')!;
    let worst = 0;
    folded.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - exact.data[i]) / (1 + Math.abs(exact.data[i])))));
    t.ok(worst < 1e-4, `folded vs unfolded inference differ by at most ${worst}`);
    await t.rejects(m.activations(x, ['bn']), /fused with 'sum'/, 'the batch norm\'s own output is not stored');
  });
}
