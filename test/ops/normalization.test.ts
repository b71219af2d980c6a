// Batch normalisation against a double-precision TypeScript reference
// (output, saved statistics, running statistics), finite-difference checks of
// the backward pass, thread-count independence, and argument errors.
import t from 'tap';
import { Tensor } from '../../lib/tensor';
import { backend, setNumThreads } from '../../lib/backend';
import { loadAddon } from '../../lib/native';
import { batchNormBackward, batchNormInference, batchNormTraining } from '../../lib/ops/normalization';

interface RawAddon {
  batchNormForwardTraining(...args: unknown[]): void;
  batchNormForwardInference(...args: unknown[]): void;
  batchNormBackward(...args: unknown[]): void;
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

function randomTensor(shape: number[], random: () => number, spread = 1, offset = 0): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return new Tensor(Float32Array.from({ length: size }, () => offset + (random() * 2 - 1) * spread), shape);
}

function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = a.length === b.length ? 0 : Infinity;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

function referenceStatistics(x: Tensor): { mean: number[]; variance: number[] } {
  const channels = x.shape[x.rank - 1];
  const rows = x.size / channels;
  const mean = new Array<number>(channels).fill(0);
  const variance = new Array<number>(channels).fill(0);
  for (let i = 0; i < x.size; i++) mean[i % channels] += x.data[i] / rows;
  for (let i = 0; i < x.size; i++) variance[i % channels] += (x.data[i] - mean[i % channels]) ** 2 / rows;
  return { mean, variance };
}

t.test('training forward matches the reference, running statistics included', async (t) => {
  const random = mulberry32(1);
  const x = randomTensor([3, 4, 5, 6], random, 2, 0.5);
  const gamma = randomTensor([6], random, 1, 1);
  const beta = randomTensor([6], random);
  const runningMean = randomTensor([6], random);
  const runningVar = randomTensor([6], random, 0.5, 1);
  const before = { mean: Array.from(runningMean.data), variance: Array.from(runningVar.data) };
  const epsilon = 1e-3, momentum = 0.2;
  const result = batchNormTraining(x, gamma, beta, { epsilon, momentum, runningMean, runningVar });
  const { mean, variance } = referenceStatistics(x);
  const rows = 60;
  const expected = Array.from(x.data, (v, i) => {
    const c = i % 6;
    return (gamma.data[c] * (v - mean[c])) / Math.sqrt(variance[c] + epsilon) + beta.data[c];
  });
  t.ok(maxAbsDifference(result.output.data, expected) < 1e-5, 'output');
  t.ok(maxAbsDifference(result.savedMean.data, mean) < 1e-6, 'saved mean');
  t.ok(maxAbsDifference(result.savedInvStd.data, variance.map((v) => 1 / Math.sqrt(v + epsilon))) < 1e-5, 'saved inverse std');
  t.ok(maxAbsDifference(runningMean.data, before.mean.map((m, c) => (1 - momentum) * m + momentum * mean[c])) < 1e-6, 'running mean');
  t.ok(
    maxAbsDifference(runningVar.data, before.variance.map((v, c) => (1 - momentum) * v + momentum * variance[c] * (rows / (rows - 1)))) < 1e-6,
    'running variance uses the unbiased batch variance',
  );
  const inference = batchNormInference(x, gamma, beta, runningMean, runningVar, { epsilon });
  const expectedInference = Array.from(x.data, (v, i) => {
    const c = i % 6;
    return (gamma.data[c] * (v - runningMean.data[c])) / Math.sqrt(runningVar.data[c] + epsilon) + beta.data[c];
  });
  t.ok(maxAbsDifference(inference.data, expectedInference) < 1e-5, 'inference');
  const noRunning = batchNormTraining(x, gamma, beta, { epsilon, momentum });
  t.same(noRunning.output.data, result.output.data, 'running statistics are optional');
});

t.test('a large mean does not cost precision', async (t) => {
  const random = mulberry32(2);
  const x = randomTensor([500, 3], random, 0.01, 1000);
  const result = batchNormTraining(x, Tensor.fill([3], 1), Tensor.zeros([3]), { epsilon: 1e-8 });
  const { mean, variance } = referenceStatistics(x);
  const expected = Array.from(x.data, (v, i) => (v - mean[i % 3]) / Math.sqrt(variance[i % 3] + 1e-8));
  t.ok(maxAbsDifference(result.output.data, expected) < 2e-3, `worst ${maxAbsDifference(result.output.data, expected)}`);
});

t.test('backward matches central differences for x, gamma and beta', async (t) => {
  const random = mulberry32(3);
  const x = randomTensor([2, 3, 2, 5], random, 2);
  const gamma = randomTensor([5], random, 0.5, 1);
  const beta = randomTensor([5], random);
  const weights = randomTensor([2, 3, 2, 5], random);
  const epsilon = 1e-3;
  const forward = (input: Tensor, g: Tensor, b: Tensor) =>
    batchNormTraining(input, g, b, { epsilon }).output.data.reduce((s, y, i) => s + y * weights.data[i], 0);
  const saved = batchNormTraining(x, gamma, beta, { epsilon });
  const { gradInput, gradGamma, gradBeta } = batchNormBackward(x, weights, gamma, saved.savedMean, saved.savedInvStd);
  const h = 1e-2;
  const numeric = (which: 0 | 1 | 2, target: Tensor) =>
    Array.from(target.data, (_, i) => {
      const probe = target.clone();
      const args = (p: Tensor): [Tensor, Tensor, Tensor] => (which === 0 ? [p, gamma, beta] : which === 1 ? [x, p, beta] : [x, gamma, p]);
      probe.data[i] = target.data[i] + h;
      const up = forward(...args(probe));
      probe.data[i] = target.data[i] - h;
      return (up - forward(...args(probe))) / (2 * h);
    });
  t.ok(maxAbsDifference(gradInput.data, numeric(0, x)) < 2e-3, 'x');
  t.ok(maxAbsDifference(gradGamma.data, numeric(1, gamma)) < 2e-3, 'gamma');
  t.ok(maxAbsDifference(gradBeta.data, numeric(2, beta)) < 2e-3, 'beta');
});

t.test('statistics and gradients are bitwise independent of the thread count', async (t) => {
  const threads = backend().threads;
  const random = mulberry32(4);
  for (const shape of [[20000, 7], [8, 16, 16, 64]]) {
    const channels = shape[shape.length - 1];
    const x = randomTensor(shape, random, 1, 0.3);
    const gamma = randomTensor([channels], random, 0.5, 1);
    const beta = randomTensor([channels], random);
    const gradOutput = randomTensor(shape, random);
    const runs = [1, 2].map((count) => {
      setNumThreads(count);
      const runningMean = Tensor.zeros([channels]);
      const runningVar = Tensor.fill([channels], 1);
      const forward = batchNormTraining(x, gamma, beta, { runningMean, runningVar });
      const backward = batchNormBackward(x, gradOutput, gamma, forward.savedMean, forward.savedInvStd);
      return [forward.output, forward.savedMean, forward.savedInvStd, runningMean, runningVar, backward.gradInput, backward.gradGamma, backward.gradBeta];
    });
    setNumThreads(threads);
    const names = ['output', 'savedMean', 'savedInvStd', 'runningMean', 'runningVar', 'gradInput', 'gradGamma', 'gradBeta'];
    names.forEach((name, i) => {
      const a = new Uint32Array(runs[0][i].data.buffer);
      const b = new Uint32Array(runs[1][i].data.buffer);
      t.ok(a.length === b.length && a.every((v, k) => v === b[k]), `${name} ${JSON.stringify(shape)}`);
    });
  }
});

t.test('bad batch-norm arguments fail with clear messages', async (t) => {
  const x = Tensor.zeros([4, 3]);
  const c = Tensor.zeros([3]);
  t.throws(() => batchNormTraining(x, Tensor.zeros([4]), c), /kiln.batchNormTraining: expected a Tensor of shape \[3\] \(the channels of x \[4, 3\]\) for 'gamma' but received shape \[4\]/);
  t.throws(() => batchNormTraining(x, c, c, { epsilon: 0 }), /expected a finite number > 0 for 'epsilon' but received 0/);
  t.throws(() => batchNormTraining(x, c, c, { momentum: 1.5 }), /for 'momentum' but received 1.5/);
  t.throws(() => batchNormTraining(x, c, c, { runningVar: Tensor.zeros([2]) }), /for 'runningVar' but received shape \[2\]/);
  t.throws(() => batchNormInference(x, c, c, c, Tensor.zeros([1, 3])), /for 'runningVar' but received shape \[1, 3\]/);
  t.throws(() => batchNormBackward(x, Tensor.zeros([3, 4]), c, c, c), /expected a Tensor of shape \[4, 3\] for 'gradOutput'/);
  const f = (n: number) => new Float32Array(n);
  t.throws(() => addon.batchNormForwardTraining(f(12), f(3), f(3), f(12), f(3), f(3), null, null, 4, 3, -1, 0.1), {
    name: 'RangeError',
    message: /kiln.batchNormForwardTraining: expected a finite number in \(0, 1e\+300\] for 'epsilon' but received -1/,
  });
  t.throws(() => addon.batchNormForwardTraining(f(12), f(3), f(3), f(11), f(3), f(3), null, null, 4, 3, 1e-5, 0.1), /for 'output' but received length 11/);
  t.throws(() => addon.batchNormForwardInference(f(12), f(3), f(3), f(3), [1, 1, 1], f(12), 4, 3, 1e-5), /expected a Float32Array for 'runningVar' but received an Array/);
  t.throws(() => addon.batchNormBackward(f(12), f(12), f(3), f(3), f(3), f(12), f(3), f(2), 4, 3), /for 'gradBeta' but received length 2/);
});
