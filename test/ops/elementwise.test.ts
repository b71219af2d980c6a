// Activations, bias and elementwise arithmetic against plain TypeScript,
// finite-difference checks of the activation gradients, thread-count
// independence of biasGradient, and argument errors.
import t from 'tap';
import { Tensor } from '../../lib/tensor';
import { backend, setNumThreads } from '../../lib/backend';
import { loadAddon } from '../../lib/native';
import { activation, activationBackward, add, biasAdd, biasGradient, relu, sigmoid, tanh } from '../../lib/ops/elementwise';
import type { ActivationKind } from '../../lib/ops/elementwise';

interface RawAddon {
  activationForward(kind: string, input: unknown, output: unknown): void;
  biasGradient(gradOutput: Float32Array, gradBias: Float32Array, rows: number, channels: number): void;
  biasAdd(data: Float32Array, bias: Float32Array, rows: number, channels: number): void;
  axpy(alpha: number, x: Float32Array, y: Float32Array): void;
  scale(alpha: number, data: Float32Array): void;
  add(a: Float32Array, b: Float32Array, out: Float32Array): void;
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

function randomArray(length: number, random: () => number, spread = 3): Float32Array {
  return Float32Array.from({ length }, () => (random() * 2 - 1) * spread);
}

function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = a.length === b.length ? 0 : Infinity;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

const references: Record<ActivationKind, (x: number) => number> = {
  relu: (x) => Math.max(x, 0),
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  tanh: Math.tanh,
  linear: (x) => x,
};

t.test('activations match plain references, including extremes', async (t) => {
  const random = mulberry32(1);
  const x = new Tensor(Float32Array.from([...randomArray(37, random, 6), -100, 100, 0, -0, 1e-30]), [42]);
  for (const kind of ['relu', 'sigmoid', 'tanh', 'linear'] as const) {
    const y = activation(kind, x);
    t.ok(maxAbsDifference(y.data, Array.from(x.data, references[kind])) < 2e-7, kind);
    t.ok(y.data.every(Number.isFinite), `${kind} stays finite`);
  }
  t.same(relu(x).data, activation('relu', x).data);
  t.same(sigmoid(x).data, activation('sigmoid', x).data);
  t.same(tanh(x).data, activation('tanh', x).data);
  t.equal(sigmoid(new Tensor([-1000], [1])).data[0], 0);
});

t.test('activation gradients match central differences', async (t) => {
  const random = mulberry32(2);
  // Keep relu inputs away from its kink at 0.
  const x = new Tensor(Float32Array.from(randomArray(50, random), (v) => (Math.abs(v) < 0.1 ? v + 0.3 : v)), [5, 10]);
  const weights = randomArray(50, random, 1);
  const h = 1e-2;
  for (const kind of ['relu', 'sigmoid', 'tanh', 'linear'] as const) {
    const y = activation(kind, x);
    const analytic = activationBackward(kind, y, new Tensor(weights, [5, 10])).data;
    let worst = 0;
    for (let i = 0; i < x.size; i++) {
      const f = references[kind];
      const numeric = (f(x.data[i] + h) - f(x.data[i] - h)) / (2 * h);
      // The fp32 forward op itself, differenced: checks the op and its gradient agree.
      const probe = x.clone();
      probe.data[i] += h;
      const up = activation(kind, probe).data[i];
      probe.data[i] = x.data[i] - h;
      const down = activation(kind, probe).data[i];
      const numericOp = (up - down) / (2 * h);
      worst = Math.max(worst, Math.abs(analytic[i] - weights[i] * numeric), Math.abs(analytic[i] - weights[i] * numericOp));
    }
    t.ok(worst < 1e-3, `${kind}: worst ${worst}`);
  }
});

t.test('activation kernels allow in-place use', async (t) => {
  const data = Float32Array.from([-1, 2, -3, 4]);
  addon.activationForward('relu', data, data);
  t.same(Array.from(data), [0, 2, 0, 4]);
});

t.test('biasAdd, biasGradient, add, axpy and scale', async (t) => {
  const random = mulberry32(3);
  const rows = 13, channels = 7;
  const x = new Tensor(randomArray(rows * channels, random), [1, rows, 1, channels]);
  const bias = new Tensor(randomArray(channels, random), [channels]);
  const y = biasAdd(x, bias);
  t.ok(maxAbsDifference(y.data, Array.from(x.data, (v, i) => v + bias.data[i % channels])) < 1e-6, 'biasAdd');
  const gradBias = biasGradient(x);
  const expected = new Float64Array(channels);
  x.data.forEach((v, i) => (expected[i % channels] += v));
  t.ok(maxAbsDifference(gradBias.data, expected) < 1e-5, 'biasGradient');
  const other = new Tensor(randomArray(rows * channels, random), x.shape);
  t.ok(maxAbsDifference(add(x, other).data, Array.from(x.data, (v, i) => v + other.data[i])) < 1e-6, 'add');
  const yAxpy = x.data.slice();
  addon.axpy(0.5, other.data, yAxpy);
  t.ok(maxAbsDifference(yAxpy, Array.from(x.data, (v, i) => v + 0.5 * other.data[i])) < 1e-6, 'axpy');
  const scaled = x.data.slice();
  addon.scale(-2, scaled);
  t.ok(maxAbsDifference(scaled, Array.from(x.data, (v) => -2 * v)) < 1e-6, 'scale');
});

t.test('biasGradient is bitwise independent of the thread count', async (t) => {
  const threads = backend().threads;
  const random = mulberry32(4);
  for (const [rows, channels] of [[6000, 13], [50000, 6], [300, 257]]) {
    const gradOutput = randomArray(rows * channels, random);
    const results: Float32Array[] = [];
    for (const count of [1, 2]) {
      setNumThreads(count);
      const gradBias = new Float32Array(channels);
      addon.biasGradient(gradOutput, gradBias, rows, channels);
      results.push(gradBias);
    }
    t.same(results[0], results[1], `${rows}x${channels}`);
    const expected = new Float64Array(channels);
    gradOutput.forEach((v, i) => (expected[i % channels] += v));
    t.ok(maxAbsDifference(results[0], expected) < 1e-5 * Math.sqrt(rows) * 3, `${rows}x${channels} accurate`);
  }
  setNumThreads(threads);
});

t.test('bad elementwise arguments fail with clear messages', async (t) => {
  const x = Tensor.zeros([2, 3]);
  t.throws(() => activation('gelu' as never, x), /kiln.activation: expected one of 'relu', 'sigmoid', 'tanh', 'linear' for 'kind' but received 'gelu'/);
  t.throws(() => relu([1, 2] as never), /kiln.relu: expected a Tensor for 'x'/);
  t.throws(() => activationBackward('relu', x, Tensor.zeros([3, 2])), /expected a Tensor of shape \[2, 3\] for 'gradOutput' but received shape \[3, 2\]/);
  t.throws(() => biasAdd(x, Tensor.zeros([2])), /kiln.biasAdd: expected a Tensor of shape \[3\] \(the last axis of x \[2, 3\]\) for 'bias' but received shape \[2\]/);
  t.throws(() => add(x, Tensor.zeros([6])), /kiln.add: expected a Tensor of shape \[2, 3\] for 'b'/);
  t.throws(() => addon.activationForward('relu', new Float32Array(3), new Float32Array(4)), {
    name: 'RangeError',
    message: /kiln.activationForward: expected a Float32Array of length 3 for 'output' but received length 4/,
  });
  t.throws(() => addon.activationForward('relu', [1, 2, 3], new Float32Array(3)), {
    name: 'TypeError',
    message: /expected a Float32Array for 'input' but received an Array/,
  });
  t.throws(() => addon.activationForward('swish', new Float32Array(3), new Float32Array(3)), /for 'kind' but received 'swish'/);
  t.throws(() => addon.biasAdd(new Float32Array(6), new Float32Array(3), 2, 0), /for 'channels' but received 0/);
  t.throws(() => addon.biasGradient(new Float32Array(6), new Float32Array(2), 2, 3), /for 'gradBias' but received length 2/);
  t.throws(() => addon.axpy(NaN, new Float32Array(1), new Float32Array(1)), /expected a finite number for 'alpha' but received NaN/);
  t.throws(() => addon.add(new Float32Array(2), new Float32Array(3), new Float32Array(2)), /for 'b' but received length 3/);
});
