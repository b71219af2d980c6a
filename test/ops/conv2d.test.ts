// The public conv2d ops: shapes, padding rules, gradients by central finite
// differences, and the errors bad arguments produce.
import t, { Test } from 'tap';
import { Tensor } from '../../lib/tensor';
import { conv2d, conv2dBackwardFilter, conv2dBackwardInput, conv2dOutputShape, resolvePadding } from '../../lib/ops/conv';
import type { Conv2DGeometry } from '../../lib/ops/conv';

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let r = Math.imul(a ^ (a >>> 15), 1 | a);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}
const random = mulberry32(7);
const randomTensor = (shape: number[]) => new Tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => random() * 2 - 1), shape);

t.test('output shapes for same, valid and explicit padding', async (t) => {
  const x = randomTensor([1, 32, 32, 3]);
  const w = randomTensor([5, 5, 3, 10]);
  t.same(conv2d(x, w, { padding: 2 }).shape, [1, 32, 32, 10]);
  t.same(conv2d(x, w, { padding: 'same' }).shape, [1, 32, 32, 10]);
  t.same(conv2d(x, w).shape, [1, 28, 28, 10]);
  t.same(conv2d(x, w, { padding: 'valid', strides: 2 }).shape, [1, 14, 14, 10]);
  t.same(conv2d(x, w, { padding: 'same', strides: [2, 3] }).shape, [1, 16, 11, 10]);
  t.same(conv2d(x, w, { padding: [0, 1, 2, 3], dilation: 2 }).shape, [1, 25, 29, 10]);
  t.same(conv2dOutputShape([64, 32, 32, 16], [3, 3, 16, 32], { strides: 2, padding: 'same' }), [64, 16, 16, 32]);
  t.same(conv2dOutputShape([64, 15, 15, 64], [5, 5, 64, 192], { padding: 2 }), [64, 15, 15, 192]);
});

t.test("resolvePadding follows TensorFlow's 'same'", async (t) => {
  t.same(resolvePadding('same', 32, 32, 3, 3, 2, 2, 1, 1), [0, 1, 0, 1]);
  t.same(resolvePadding('same', 28, 28, 5, 5, 1, 1, 1, 1), [2, 2, 2, 2]);
  t.same(resolvePadding('same', 7, 8, 4, 3, 1, 3, 1, 2), [1, 2, 1, 2]);
  t.same(resolvePadding('same', 5, 5, 1, 1, 3, 3, 1, 1), [0, 0, 0, 0]);
  t.same(resolvePadding('valid', 5, 5, 3, 3, 1, 1, 1, 1), [0, 0, 0, 0]);
  t.same(resolvePadding(3, 5, 5, 3, 3, 1, 1, 1, 1), [3, 3, 3, 3]);
  t.same(resolvePadding([1, 2, 3, 4], 5, 5, 3, 3, 1, 1, 1, 1), [1, 2, 3, 4]);
  t.throws(() => resolvePadding('full' as never, 5, 5, 3, 3, 1, 1, 1, 1), /for 'padding'/);
});

t.test('bias and relu are applied', async (t) => {
  const x = randomTensor([2, 5, 6, 3]);
  const w = randomTensor([3, 3, 3, 4]);
  const bias = new Tensor([0.5, -0.25, 1, -2], [4]);
  const plain = conv2d(x, w, { padding: 'same' });
  const biased = conv2d(x, w, { padding: 'same', bias });
  const relu = conv2d(x, w, { padding: 'same', bias, relu: true });
  let worst = 0;
  for (let i = 0; i < plain.size; i++) {
    const expected = plain.data[i] + bias.data[i % 4];
    worst = Math.max(worst, Math.abs(biased.data[i] - expected), Math.abs(relu.data[i] - Math.max(expected, 0)));
  }
  t.ok(worst < 1e-5, 'bias added and relu clamps', { worst });
});

// loss(input, filter, bias) = sum(conv2d(...) * weights), accumulated in float64.
function checkGradients(t: Test, inputShape: number[], filterShape: number[], geometry: Conv2DGeometry): void {
  const x = randomTensor(inputShape);
  const w = randomTensor(filterShape);
  const b = randomTensor([filterShape[3]]);
  const outShape = conv2dOutputShape(inputShape, filterShape, geometry);
  const lossWeights = randomTensor(outShape);
  const loss = () => {
    const y = conv2d(x, w, { ...geometry, bias: b });
    let sum = 0;
    for (let i = 0; i < y.size; i++) sum += y.data[i] * lossWeights.data[i];
    return sum;
  };
  const gradInput = conv2dBackwardInput(lossWeights, w, inputShape, geometry);
  const { gradFilter, gradBias } = conv2dBackwardFilter(x, lossWeights, filterShape, geometry);
  // The loss is linear in each variable, so a large step has no truncation
  // error and keeps fp32 rounding of the outputs small next to it.
  const epsilon = 0.05;
  const numeric = (tensor: Tensor, index: number) => {
    const saved = tensor.data[index];
    tensor.data[index] = saved + epsilon;
    const plus = loss();
    tensor.data[index] = saved - epsilon;
    const minus = loss();
    tensor.data[index] = saved;
    return (plus - minus) / (2 * epsilon);
  };
  for (const [label, variable, gradient] of [
    ['input', x, gradInput],
    ['filter', w, gradFilter],
    ['bias', b, gradBias],
  ] as const) {
    let worst = 0;
    let scale = 1e-3;
    for (let i = 0; i < variable.size; i++) {
      const expected = numeric(variable, i);
      worst = Math.max(worst, Math.abs(gradient.data[i] - expected));
      scale = Math.max(scale, Math.abs(expected));
    }
    t.ok(worst / scale < 2e-3, `d loss / d ${label} matches finite differences`, { worst, scale });
  }
}

t.test('gradients match central finite differences', async (t) => {
  checkGradients(t, [2, 5, 4, 2], [3, 3, 2, 3], { padding: 'same' });
  checkGradients(t, [1, 7, 6, 3], [3, 2, 3, 2], { strides: [2, 1], padding: [1, 0, 2, 1] });
  checkGradients(t, [1, 7, 7, 2], [3, 3, 2, 2], { dilation: 2, padding: 1, strides: 2 });
  checkGradients(t, [2, 4, 3, 5], [1, 1, 5, 3], {});
});

t.test('bad arguments fail with clear errors', async (t) => {
  const x = randomTensor([1, 4, 4, 4]);
  const w = randomTensor([3, 3, 4, 2]);
  t.throws(() => conv2d(x, randomTensor([3, 3, 3, 2])), /kiln.conv2d: expected filter inC 3 to equal input channels 4 .* for 'filter' but received filter \[3, 3, 3, 2\]/);
  t.throws(() => conv2d(x.data as never, w), /kiln.conv2d: expected a Tensor for 'input' but received a Float32Array of length 64/);
  t.throws(() => conv2d(x, { shape: [3, 3, 4, 2], data: new Float64Array(72) } as never), /expected a Tensor for 'filter'/);
  t.throws(() => conv2d(randomTensor([4, 4, 4]), w), /expected a Tensor of rank 4 for 'input' but received shape \[4, 4, 4\]/);
  t.throws(() => conv2d(x, w, { strides: 0 }), /kiln.conv2d: expected a positive integer or a pair of positive integers for 'strides' but received 0/);
  t.throws(() => conv2d(x, w, { strides: -1 }), /for 'strides' but received -1/);
  t.throws(() => conv2d(x, w, { dilation: [1, 0] }), /for 'dilation'/);
  t.throws(() => conv2d(x, w, { padding: -1 }), /for 'padding' but received -1/);
  t.throws(() => conv2d(x, randomTensor([5, 5, 4, 2])), /kiln.conv2d: expected a kernel no larger than the padded input \(input \[1, 4, 4, 4\] padded to 4x4\) for 'filter' but received filter \[5, 5, 4, 2\]/);
  t.throws(() => conv2d(x, w, { dilation: 3, padding: 1 }), /extent 7x7/);
  t.throws(() => conv2d(x, w, { bias: randomTensor([3]) }), /kiln.conv2d: expected shape \[2\] .* for 'bias' but received shape \[3\]/);
  t.throws(() => conv2d(x, w, { relu: 'yes' as never }), /for 'relu'/);
  t.throws(() => conv2dBackwardInput(randomTensor([1, 3, 3, 2]), w, [1, 4, 4, 4]), /kiln.conv2dBackwardInput: expected shape \[1, 2, 2, 2\] .* for 'gradOutput' but received shape \[1, 3, 3, 2\]/);
  t.throws(() => conv2dBackwardInput(randomTensor([1, 2, 2, 2]), w, [1, 4, 0, 4]), /for 'inputShape'/);
  t.throws(() => conv2dBackwardFilter(x, randomTensor([1, 2, 2, 3]), [3, 3, 4, 2]), /kiln.conv2dBackwardFilter: expected shape \[1, 2, 2, 2\]/);
  t.throws(() => conv2dBackwardFilter(x, randomTensor([1, 2, 2, 2]), [3, 3, 5, 2]), /filter inC 5 to equal input channels 4/);
});
