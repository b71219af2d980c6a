// Softmax and losses against plain TypeScript references (double precision),
// huge logits, finite-difference gradient checks, and argument errors.
import t from 'tap';
import { Tensor } from '../../lib/tensor';
import { loadAddon } from '../../lib/native';
import { meanSquaredError, softmax, softmaxBackward, softmaxCrossEntropy, softmaxCrossEntropySoft } from '../../lib/ops/loss';

interface RawAddon {
  softmaxCrossEntropy(logits: unknown, labels: unknown, gradLogits: unknown, rows: number, classes: number): { loss: number; correct: number };
  meanSquaredError(predictions: unknown, targets: unknown, gradPredictions: unknown, rows: number, classes: number): number;
}
const addon = loadAddon<RawAddon>();

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let z = a;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
}

function randomTensor(shape: number[], random: () => number, spread = 3): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return new Tensor(Float32Array.from({ length: size }, () => (random() * 2 - 1) * spread), shape);
}

function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = a.length === b.length ? 0 : Infinity;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

function referenceSoftmax(row: ArrayLike<number>): number[] {
  const m = Math.max(...Array.from(row));
  const e = Array.from(row, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

function rowsOf(x: Tensor): number[][] {
  const classes = x.shape[x.rank - 1];
  return Array.from({ length: x.size / classes }, (_, r) => Array.from(x.data.subarray(r * classes, (r + 1) * classes)));
}

function firstArgMax(row: number[]): number {
  let best = 0;
  for (let c = 1; c < row.length; c++) if (row[c] > row[best]) best = c;
  return best;
}

/** Central-difference gradient of a scalar function of x's elements. */
function numericGradient(f: (x: Tensor) => number, x: Tensor, h: number): Float64Array {
  const gradient = new Float64Array(x.size);
  for (let i = 0; i < x.size; i++) {
    const probe = x.clone();
    probe.data[i] = x.data[i] + h;
    const up = f(probe);
    probe.data[i] = x.data[i] - h;
    gradient[i] = (up - f(probe)) / (2 * h);
  }
  return gradient;
}

t.test('softmax matches the reference and survives huge logits', async (t) => {
  const random = mulberry32(1);
  const x = randomTensor([3, 2, 11], random);
  const p = softmax(x);
  t.ok(maxAbsDifference(p.data, rowsOf(x).flatMap(referenceSoftmax)) < 1e-6);
  const huge = softmax(new Tensor([1e4, -1e4, 0, 1e4], [1, 4]));
  t.ok(maxAbsDifference(huge.data, [0.5, 0, 0, 0.5]) < 1e-7);
  const one = softmax(new Tensor([42], [1, 1]));
  t.equal(one.data[0], 1);
});

t.test('softmaxBackward matches central differences', async (t) => {
  const random = mulberry32(2);
  const x = randomTensor([4, 7], random);
  const weights = randomTensor([4, 7], random, 1);
  const analytic = softmaxBackward(softmax(x), weights).data;
  const numeric = numericGradient((v) => softmax(v).data.reduce((s, p, i) => s + p * weights.data[i], 0), x, 1e-2);
  t.ok(maxAbsDifference(analytic, numeric) < 1e-3);
});

t.test('softmaxCrossEntropy: loss, gradient and accuracy', async (t) => {
  const random = mulberry32(3);
  const rows = 9, classes = 10;
  const x = randomTensor([rows, classes], random);
  const labels = Int32Array.from({ length: rows }, () => Math.floor(random() * classes));
  labels[0] = firstArgMax(rowsOf(x)[0]); // at least one correct row
  const { loss, gradLogits, correct } = softmaxCrossEntropy(x, labels);
  let expectedLoss = 0;
  let expectedCorrect = 0;
  const expectedGrad: number[] = [];
  rowsOf(x).forEach((row, r) => {
    const p = referenceSoftmax(row);
    expectedLoss -= Math.log(p[labels[r]]) / rows;
    if (firstArgMax(row) === labels[r]) expectedCorrect++;
    expectedGrad.push(...p.map((v, c) => (v - (c === labels[r] ? 1 : 0)) / rows));
  });
  t.ok(Math.abs(loss - expectedLoss) < 1e-6 * Math.max(1, expectedLoss), `loss ${loss} vs ${expectedLoss}`);
  t.equal(correct, expectedCorrect);
  t.ok(expectedCorrect >= 1);
  t.ok(maxAbsDifference(gradLogits.data, expectedGrad) < 1e-7);
  const numeric = numericGradient((v) => softmaxCrossEntropy(v, labels).loss, x, 1e-2);
  t.ok(maxAbsDifference(gradLogits.data, numeric) < 1e-4, 'central differences');
  t.same(softmaxCrossEntropy(x, Array.from(labels)).loss, loss, 'number[] labels');
});

t.test('cross-entropy stays finite for logits of 1e4, and ties count the first maximum', async (t) => {
  const x = new Tensor([1e4, -1e4, 0, -1e4, 1e4, 0], [2, 3]);
  const result = softmaxCrossEntropy(x, [1, 1]);
  t.ok(Number.isFinite(result.loss));
  t.ok(Math.abs(result.loss - 1e4) < 1e-2, `row 0 costs 2e4, row 1 costs 0: mean ${result.loss}`);
  t.ok(result.gradLogits.data.every(Number.isFinite));
  t.ok(maxAbsDifference(result.gradLogits.data, [0.5, -0.5, 0, 0, 0, 0]) < 1e-7);
  t.equal(result.correct, 1);
  const tie = new Tensor([2, 2, 1], [1, 3]);
  t.equal(softmaxCrossEntropy(tie, [0]).correct, 1);
  t.equal(softmaxCrossEntropy(tie, [1]).correct, 0);
});

t.test('soft-target cross-entropy', async (t) => {
  const random = mulberry32(4);
  const x = randomTensor([5, 6], random);
  const raw = randomTensor([5, 6], random, 1);
  const targets = new Tensor(
    rowsOf(new Tensor(raw.data.map(Math.abs), [5, 6])).flatMap((row) => {
      const s = row.reduce((a, b) => a + b, 0);
      return row.map((v) => v / s);
    }),
    [5, 6],
  );
  const result = softmaxCrossEntropySoft(x, targets);
  let expected = 0;
  let expectedCorrect = 0;
  rowsOf(x).forEach((row, r) => {
    const p = referenceSoftmax(row);
    const target = rowsOf(targets)[r];
    expected -= target.reduce((s, tc, c) => s + tc * Math.log(p[c]), 0) / 5;
    if (firstArgMax(row) === firstArgMax(target)) expectedCorrect++;
  });
  t.ok(Math.abs(result.loss - expected) < 1e-6 * Math.max(1, expected));
  t.equal(result.correct, expectedCorrect);
  const numeric = numericGradient((v) => softmaxCrossEntropySoft(v, targets).loss, x, 1e-2);
  t.ok(maxAbsDifference(result.gradLogits.data, numeric) < 1e-4, 'central differences');
  // One-hot targets give the integer-label loss and gradient.
  const labels = [2, 0, 5, 1, 1];
  const oneHot = Tensor.zeros([5, 6]);
  labels.forEach((label, r) => (oneHot.data[r * 6 + label] = 1));
  const hard = softmaxCrossEntropy(x, labels);
  const soft = softmaxCrossEntropySoft(x, oneHot);
  t.ok(Math.abs(hard.loss - soft.loss) < 1e-6);
  t.ok(maxAbsDifference(hard.gradLogits.data, soft.gradLogits.data) < 1e-7);
  t.equal(hard.correct, soft.correct);
});

t.test('mean squared error', async (t) => {
  const random = mulberry32(5);
  const predictions = randomTensor([4, 3], random);
  const targets = randomTensor([4, 3], random);
  const { loss, gradPredictions } = meanSquaredError(predictions, targets);
  const expected = predictions.data.reduce((s, p, i) => s + (p - targets.data[i]) ** 2, 0) / 12;
  t.ok(Math.abs(loss - expected) < 1e-6 * Math.max(1, expected));
  t.ok(maxAbsDifference(gradPredictions.data, Array.from(predictions.data, (p, i) => (2 * (p - targets.data[i])) / 12)) < 1e-7);
  const numeric = numericGradient((v) => meanSquaredError(v, targets).loss, predictions, 1e-2);
  t.ok(maxAbsDifference(gradPredictions.data, numeric) < 1e-4, 'central differences');
  t.equal(addon.meanSquaredError(predictions.data, targets.data, null, 4, 3), loss, 'gradient is optional');
});

t.test('bad loss arguments fail with clear messages', async (t) => {
  const x = Tensor.zeros([3, 4]);
  t.throws(() => softmaxCrossEntropy(x, [0, 4, 1]), {
    name: 'RangeError',
    message: /kiln.softmaxCrossEntropy: expected class indices in \[0, 3\] for 'labels' but received 4 at row 1/,
  });
  t.throws(() => softmaxCrossEntropy(x, [0, 1.5, 1]), /received 1.5 at row 1/);
  t.throws(() => softmaxCrossEntropy(x, [0, 1]), /expected 3 labels \(one per row of logits \[3, 4\]\) for 'labels' but received 2 labels/);
  t.throws(() => softmaxCrossEntropy(x, 'abc' as never), /expected an Int32Array or an array of integers for 'labels'/);
  t.throws(() => softmaxCrossEntropySoft(x, Tensor.zeros([4, 3])), /expected a Tensor of shape \[3, 4\] for 'targets'/);
  t.throws(() => meanSquaredError(x, Tensor.zeros([12])), /for 'targets' but received shape \[12\]/);
  t.throws(() => softmax(null as never), /kiln.softmax: expected a Tensor for 'logits' but received null/);
  // The native side checks again.
  t.throws(() => addon.softmaxCrossEntropy(x.data, Int32Array.from([0, -1, 2]), null, 3, 4), {
    name: 'RangeError',
    message: /kiln.softmaxCrossEntropy: expected class indices in \[0, 3\] for 'labels' but received -1 at row 1/,
  });
  t.throws(() => addon.softmaxCrossEntropy(x.data, new Float32Array(3), null, 3, 4), /expected an Int32Array for 'labels' but received a Float32Array/);
  t.throws(() => addon.softmaxCrossEntropy(x.data, new Int32Array(2), null, 3, 4), /for 'labels' but received length 2/);
  t.throws(() => addon.softmaxCrossEntropy(x.data, new Int32Array(3), new Float32Array(11), 3, 4), /for 'gradLogits' but received length 11/);
  t.throws(() => addon.softmaxCrossEntropy(x.data, new Int32Array(3), null, 3, 0), /for 'classes' but received 0/);
});
