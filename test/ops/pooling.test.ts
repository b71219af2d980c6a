// Public pooling ops: padding resolution, output shapes, finite-difference
// checks of every backward, and argument errors.
import t from 'tap';
import { Tensor } from '../../lib/tensor';
import {
  avgPool2d, avgPool2dBackward, globalAvgPool2d, globalAvgPool2dBackward, maxPool2d, maxPool2dBackward,
  pool2dOutputShape, resolvePool2d,
} from '../../lib/ops/pooling';

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

function randomTensor(shape: number[], random: () => number): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return new Tensor(Float32Array.from({ length: size }, () => random() * 2 - 1), shape);
}

/** Distinct values 0.05 apart in random order: a max never changes hands under a +-0.01 nudge. */
function distinctTensor(shape: number[], random: () => number): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const values = Array.from({ length: size }, (_, i) => (i - size / 2) * 0.05);
  for (let i = size - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [values[i], values[j]] = [values[j], values[i]];
  }
  return new Tensor(Float32Array.from(values), shape);
}

/** max |analytic - numeric| / max(1, max |numeric|) of d(sum(f(x) * weights))/dx by central differences. */
function gradientError(f: (x: Tensor) => Tensor, x: Tensor, weights: Float32Array, analytic: Float32Array, h: number): number {
  const objective = (input: Tensor) => {
    const out = f(input).data;
    let sum = 0;
    for (let i = 0; i < out.length; i++) sum += out[i] * weights[i];
    return sum;
  };
  let worst = 0;
  let scale = 1;
  const numeric = new Float64Array(x.size);
  for (let i = 0; i < x.size; i++) {
    const probe = x.clone();
    probe.data[i] = x.data[i] + h;
    const up = objective(probe);
    probe.data[i] = x.data[i] - h;
    const down = objective(probe);
    numeric[i] = (up - down) / (2 * h);
    scale = Math.max(scale, Math.abs(numeric[i]));
  }
  for (let i = 0; i < x.size; i++) worst = Math.max(worst, Math.abs(analytic[i] - numeric[i]));
  return worst / scale;
}

t.test('padding resolution follows Keras / TensorFlow', async (t) => {
  const same = resolvePool2d(7, 5, { poolSize: 3, strides: 2, padding: 'same' });
  t.same([same.padTop, same.padBottom, same.outH], [1, 1, 4]);
  t.same([same.padLeft, same.padRight, same.outW], [1, 1, 3]);
  const odd = resolvePool2d(5, 6, { poolSize: 2, padding: 'same' });
  t.same([odd.padTop, odd.padBottom, odd.outH], [0, 1, 3], 'the extra pad goes to the bottom');
  t.same([odd.padLeft, odd.padRight, odd.outW], [0, 0, 3]);
  const valid = resolvePool2d(32, 32, { poolSize: 3, strides: 2 });
  t.same([valid.outH, valid.outW, valid.strideH, valid.padTop], [15, 15, 2, 0]);
  const explicit = resolvePool2d(4, 4, { poolSize: [2, 3], strides: [1, 2], padding: [1, 0, 2, 1] });
  t.same([explicit.windowH, explicit.windowW, explicit.outH, explicit.outW], [2, 3, 4, 3]);
  t.same(resolvePool2d(4, 4, { poolSize: 2, padding: 1 }).outH, 3);
});

t.test('pool2dOutputShape keeps the rank and the channels', async (t) => {
  t.same(pool2dOutputShape([28, 28, 6], { poolSize: 2 }), [14, 14, 6]);
  t.same(pool2dOutputShape([64, 32, 32, 64], { poolSize: 3, strides: 2 }), [64, 15, 15, 64]);
  t.same(pool2dOutputShape([3, 3, 256], { poolSize: 3, strides: 2, padding: 'same' }), [2, 2, 256]);
  t.throws(() => pool2dOutputShape([28, 28], { poolSize: 2 }), /expected a shape \[H, W, C\] or \[N, H, W, C\] for 'inputShape'/);
});

t.test('maxPool2d forward values and gradient', async (t) => {
  const x = new Tensor([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], [1, 4, 4, 1]);
  t.same(Array.from(maxPool2d(x, { poolSize: 2 }).data), [6, 8, 14, 16]);
  t.same(Array.from(avgPool2d(x, { poolSize: 2 }).data), [3.5, 5.5, 11.5, 13.5]);
  const random = mulberry32(1);
  for (const [shape, options] of [
    [[2, 5, 6, 3], { poolSize: 3, strides: 2, padding: 'same' }],
    [[1, 4, 5, 2], { poolSize: [2, 3], strides: 1, padding: [1, 0, 0, 1] }],
    [[1, 6, 6, 5], { poolSize: 2 }],
  ] as const) {
    const input = distinctTensor([...shape], random);
    const outShape = pool2dOutputShape(shape, options);
    const weights = randomTensor(outShape, random);
    const analytic = maxPool2dBackward(input, weights, options).data;
    t.ok(gradientError((v) => maxPool2d(v, options), input, weights.data, analytic, 0.01) < 2e-3, `max ${JSON.stringify(options)}`);
  }
});

t.test('avgPool2d and globalAvgPool2d gradients', async (t) => {
  const random = mulberry32(2);
  for (const [shape, options] of [
    [[2, 5, 6, 3], { poolSize: 3, strides: 2, padding: 'same' }],
    [[1, 5, 4, 2], { poolSize: 2, strides: [2, 1], padding: [1, 0, 0, 1] }],
  ] as const) {
    const input = randomTensor([...shape], random);
    const weights = randomTensor(pool2dOutputShape(shape, options), random);
    const analytic = avgPool2dBackward(weights, shape, options).data;
    t.ok(gradientError((v) => avgPool2d(v, options), input, weights.data, analytic, 0.05) < 2e-3, `avg ${JSON.stringify(options)}`);
  }
  const input = randomTensor([2, 3, 3, 4], random);
  const weights = randomTensor([2, 4], random);
  t.same(globalAvgPool2d(input).shape, [2, 4]);
  const analytic = globalAvgPool2dBackward(weights, input.shape).data;
  t.ok(gradientError(globalAvgPool2d, input, weights.data, analytic, 0.05) < 2e-3, 'global average');
});

t.test('bad pooling arguments fail with clear messages', async (t) => {
  const x = Tensor.zeros([1, 4, 4, 2]);
  t.throws(() => maxPool2d(x, { poolSize: 2, strides: 0 }), /kiln.maxPool2d: expected an integer in \[1, \d+\] for 'strides' but received 0/);
  t.throws(() => maxPool2d(x, { poolSize: 5 }), /kiln.maxPool2d: expected a window no larger than the padded input \[4, 4\] \(input \[4, 4\], padding \[0, 0, 0, 0\]\) for 'poolSize' but received \[5, 5\]/);
  t.throws(() => avgPool2d(x, { poolSize: 2, padding: 'full' as never }), /for 'padding' but received 'full'/);
  t.throws(() => avgPool2d(x, { poolSize: 2, padding: -1 }), /for 'padding' but received -1/);
  t.throws(() => maxPool2d(Tensor.zeros([4, 4, 2]), { poolSize: 2 }), /expected a Tensor of rank 4 for 'x' but received shape \[4, 4, 2\]/);
  t.throws(() => maxPool2d({ shape: [1, 4, 4, 2] } as never, { poolSize: 2 }), /expected a Tensor for 'x'/);
  t.throws(() => maxPool2dBackward(x, Tensor.zeros([1, 3, 2, 2]), { poolSize: 2 }), /kiln.maxPool2dBackward: expected a Tensor of shape \[1, 2, 2, 2\] for 'gradOutput' but received shape \[1, 3, 2, 2\]/);
  t.throws(() => avgPool2dBackward(Tensor.zeros([1, 2, 2, 2]), [1, 4, 4], { poolSize: 2 }), /for 'inputShape'/);
  t.throws(() => globalAvgPool2dBackward(Tensor.zeros([1, 3]), [1, 4, 4, 2]), /expected a Tensor of shape \[1, 2\] for 'gradOutput'/);
  t.throws(() => maxPool2d(x, undefined as never), /expected an options object for 'options'/);
});
