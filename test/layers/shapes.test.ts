// Shape inference, parameter counts, receptive fields and config errors:
// pure TypeScript, no kernels run.
import t from 'tap';
import * as L from '../../lib/layers';
import { sequential } from '../../lib/model/sequential';
import { model } from '../../lib/model/model';
import { lenet5, alexnetS, resnet20 } from '../../lib/model/zoo';

t.test('textbook conv: 32x32x3, 10 filters 5x5, stride 1, pad 2 -> 32x32x10 with 760 parameters', async (t) => {
  const m = sequential([L.conv2d({ name: 'c', filters: 10, kernelSize: 5, strides: 1, padding: 2 }), L.flatten(), L.dense({ units: 2 })], { inputShape: [32, 32, 3] });
  const row = m.summaryData().layers.find((l) => l.name === 'c')!;
  t.same(row.outputShape, [32, 32, 10]);
  t.equal(row.params, 5 * 5 * 3 * 10 + 10);
  t.equal(row.macs, 32 * 32 * 10 * 5 * 5 * 3);
});

t.test('output size is floor((W - F + 2P) / S) + 1 for many geometries', async (t) => {
  for (const [w, f, p, s] of [[7, 3, 0, 1], [7, 3, 0, 2], [227, 11, 0, 4], [28, 5, 2, 1], [10, 3, 1, 3], [9, 1, 0, 2]]) {
    const conv = L.conv2d({ filters: 4, kernelSize: f, strides: s, padding: p });
    const shape = conv.computeOutputShape([[w, w, 3]]);
    t.same(shape, [Math.floor((w - f + 2 * p) / s) + 1, Math.floor((w - f + 2 * p) / s) + 1, 4], `W=${w} F=${f} P=${p} S=${s}`);
  }
});

t.test("'same' keeps ceil(in / stride), also for even kernels; 'valid' pads nothing", async (t) => {
  t.same(L.conv2d({ filters: 1, kernelSize: 4, padding: 'same' }).computeOutputShape([[9, 9, 1]]), [9, 9, 1]);
  t.same(L.conv2d({ filters: 1, kernelSize: 3, strides: 2, padding: 'same' }).computeOutputShape([[32, 32, 1]]), [16, 16, 1]);
  t.same(L.conv2d({ filters: 1, kernelSize: 3, padding: 'valid' }).computeOutputShape([[32, 32, 1]]), [30, 30, 1]);
  t.same(L.conv2d({ filters: 1, kernelSize: 3, padding: [1, 0, 2, 0] }).computeOutputShape([[5, 5, 1]]), [4, 5, 1]);
  t.same(L.conv2d({ filters: 1, kernelSize: 3, dilationRate: 2 }).computeOutputShape([[9, 9, 1]]), [5, 5, 1]);
});

t.test('receptive field of L stacked stride-1 KxK convs is 1 + L(K-1)', async (t) => {
  for (const [layers, k] of [[1, 3], [3, 3], [4, 5], [2, 7]]) {
    const stack = Array.from({ length: layers }, (_, i) => L.conv2d({ name: `c${i}`, filters: 2, kernelSize: k, padding: 'same' }));
    const m = sequential([...stack, L.flatten(), L.dense({ units: 2 })], { inputShape: [32, 32, 1] });
    const last = m.summaryData().layers.find((l) => l.name === `c${layers - 1}`)!;
    t.same(last.receptiveField, { size: [1 + layers * (k - 1), 1 + layers * (k - 1)], jump: [1, 1] }, `${layers} layers of ${k}x${k}`);
  }
});

t.test('receptive field with strides: size grows by (k-1) * jump, jump multiplies', async (t) => {
  const m = sequential(
    [L.conv2d({ name: 'a', filters: 2, kernelSize: 3, strides: 2 }), L.maxPooling2d({ name: 'p', poolSize: 2 }), L.conv2d({ name: 'b', filters: 2, kernelSize: 3 }), L.flatten(), L.dense({ units: 2 })],
    { inputShape: [64, 64, 1] },
  );
  const rf = Object.fromEntries(m.summaryData().layers.map((l) => [l.name, l.receptiveField]));
  t.same(rf.a, { size: [3, 3], jump: [2, 2] });
  t.same(rf.p, { size: [5, 5], jump: [4, 4] });
  t.same(rf.b, { size: [13, 13], jump: [4, 4] });
});

t.test('zoo models have the documented sizes', async (t) => {
  const lenet = lenet5();
  t.equal(lenet.countParams(), 61706);
  t.same(lenet.summaryData().layers.map((l) => l.outputShape), [[28, 28, 1], [28, 28, 6], [14, 14, 6], [10, 10, 16], [5, 5, 16], [400], [120], [84], [10]]);
  const alex = alexnetS();
  const shapes = Object.fromEntries(alex.summaryData().layers.map((l) => [l.name, l.outputShape]));
  t.same(shapes.conv1, [32, 32, 64]);
  t.same(shapes.pool1, [15, 15, 64]);
  t.same(shapes.conv2, [15, 15, 192]);
  t.same(shapes.pool2, [7, 7, 192]);
  t.same(shapes.conv5, [7, 7, 256]);
  t.same(shapes.pool3, [3, 3, 256]);
  t.same(shapes.flatten, [2304]);
  const resnet = resnet20();
  // 0.27M parameters in He et al.; with projection shortcuts and BN: 272,474 trainable here.
  const summary = resnet.summaryData();
  t.equal(summary.layers.filter((l) => l.className === 'Conv2D').length, 21, '19 3x3 convs + 2 projections');
  t.equal(summary.layers.filter((l) => l.className === 'Add').length, 9);
  t.same(summary.layers.find((l) => l.name === 'global_pool')!.outputShape, [64]);
  const resnetMnist = resnet20({ inputShape: [28, 28, 1] });
  t.same(resnetMnist.summaryData().layers.find((l) => l.name === 'stage3_block1_conv1')!.outputShape, [7, 7, 64]);
});

t.test('summary prints a table with totals', async (t) => {
  const text = lenet5().summary(null);
  t.match(text, /conv1 \(Conv2D\)\s+\[28, 28, 6\]\s+156\s+5x5 \/ 1\s+117,600/);
  t.match(text, /Total params: 61,706/);
});

t.test('bad configs give errors that name the layer', async (t) => {
  t.throws(() => sequential([L.conv2d({ name: 'big', filters: 2, kernelSize: 7 }), L.flatten(), L.dense({ units: 1 })], { inputShape: [5, 5, 1] }), /layer 'big': kernel 7x7 .* larger than the padded input \[5, 5, 1\]/);
  t.throws(() => L.conv2d({ name: 'x', filters: 2, kernelSize: 3, activation: 'swish' as never }), /conv2d\('x'\): expected one of linear, relu, sigmoid, tanh, softmax for 'activation' but received "swish"/);
  t.throws(() => L.conv2d({ name: 'z', filters: 0, kernelSize: 3 }), /conv2d\('z'\): expected a positive integer for 'filters' but received 0/);
  t.throws(() => L.conv2d({ filters: 2, kernelSize: 3, strides: 0 }), /'strides'/);
  t.throws(() => sequential([L.dense({ name: 'd', units: 3 })], { inputShape: [4, 4, 1] }), /layer 'd': expected a flat input \[features\] but received shape \[4, 4, 1\]; add a flatten\(\) layer/);
  t.throws(() => sequential([L.conv2d({ name: 'c', filters: 2, kernelSize: 3 })], { inputShape: [8, 8] }), /layer 'c': expected an input of images \[height, width, channels\] \(rank 3 per sample\) but received shape \[8, 8\]/);
  const a = L.input({ shape: [4, 4, 2] });
  const b = L.conv2d({ filters: 3, kernelSize: 1 }).apply(a);
  t.throws(() => L.add({ name: 'sum' }).apply([a, b]), /layer 'sum': all inputs must have the same shape, but received \[4, 4, 2\] and \[4, 4, 3\]/);
  t.throws(() => L.dropout({ name: 'dr', rate: 1 }), /dropout\('dr'\): expected a number in \[0, 1\) for 'rate'/);
  t.throws(() => L.maxPooling2d({ name: 'mp', poolSize: 5 }).apply(L.input({ shape: [3, 3, 1] })), /layer 'mp': pool window 5x5 is larger than the padded input/);
  t.throws(() => sequential([], {}), /non-empty array of layers/);
});

t.test('functional models: skip connections, concatenation, layer reuse refused', async (t) => {
  const x = L.input({ shape: [8, 8, 4] });
  const y = L.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }).apply(x);
  const z = L.add().apply([x, y]);
  const c = L.concatenate().apply([z, y]);
  t.same(c.shape, [8, 8, 8]);
  const out = L.dense({ units: 3 }).apply(L.globalAveragePooling2d().apply(c));
  const m = model({ inputs: x, outputs: out });
  t.equal(m.layers.length, 6, "input, conv, add, concatenate, pool, dense");
  const shared = L.conv2d({ name: 'shared', filters: 4, kernelSize: 1 });
  const twice = shared.apply(shared.apply(x));
  t.throws(() => model({ inputs: x, outputs: L.dense({ units: 2 }).apply(L.flatten().apply(twice)) }), /layer 'shared' is applied more than once/);
});

t.test('the same seed gives the same initial weights; another seed does not', async (t) => {
  const a = lenet5({ seed: 7 }).getWeights();
  const b = lenet5({ seed: 7 }).getWeights();
  const c = lenet5({ seed: 8 }).getWeights();
  t.same([...a.get('conv1/kernel')!], [...b.get('conv1/kernel')!]);
  t.notSame([...a.get('conv1/kernel')!], [...c.get('conv1/kernel')!]);
  t.ok(a.get('fc1/bias')!.every((v) => v === 0));
  const kernel = a.get('fc1/kernel')!;
  const limit = Math.sqrt(6 / 400);
  t.ok(kernel.every((v) => Math.abs(v) <= limit), 'he uniform stays within its limit');
  const variance = kernel.reduce((s, v) => s + v * v, 0) / kernel.length;
  t.ok(Math.abs(variance - 2 / 400) < 0.2 * (2 / 400), `variance ${variance} is near 2 / fanIn`);
});
