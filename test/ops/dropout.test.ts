// Dropout: identity at rate 0, determinism in (seed, step) and across thread
// counts, keep fraction, scaling, the backward pass, and argument errors.
import t from 'tap';
import { Tensor } from '../../lib/tensor';
import { backend, setNumThreads } from '../../lib/backend';
import { loadAddon } from '../../lib/native';
import { dropout, dropoutBackward } from '../../lib/ops/dropout';

const addon = loadAddon<{ dropoutForward(...args: unknown[]): void; dropoutBackward(...args: unknown[]): void }>();

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

function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

t.test('rate 0 is the identity', async (t) => {
  const x = randomTensor([3, 5], mulberry32(1));
  const { output, mask } = dropout(x, 0, 7, 3);
  t.same(output.data, x.data);
  t.ok(mask.data.every((m) => m === 1));
});

t.test('the mask depends only on (seed, step, index)', async (t) => {
  const threads = backend().threads;
  const x = Tensor.fill([200, 500], 1);
  const masks = [1, 2].map((count) => {
    setNumThreads(count);
    return dropout(x, 0.5, 42, 9).mask.data;
  });
  setNumThreads(threads);
  t.ok(sameBits(masks[0], masks[1]), '1 vs 2 threads');
  t.ok(sameBits(dropout(x, 0.5, 42, 9).mask.data, masks[0]), 'repeatable');
  t.notOk(sameBits(dropout(x, 0.5, 42, 10).mask.data, masks[0]), 'another step gives another mask');
  t.notOk(sameBits(dropout(x, 0.5, 43, 9).mask.data, masks[0]), 'another seed gives another mask');
  // A prefix of a longer array gets the same decisions.
  const short = dropout(Tensor.fill([1000], 1), 0.5, 42, 9).mask.data;
  t.ok(sameBits(short, masks[0].subarray(0, 1000)), 'independent of the array length');
});

t.test('keep fraction and scaling', async (t) => {
  const count = 100000;
  const x = randomTensor([count], mulberry32(2));
  for (const rate of [0.1, 0.3, 0.5, 0.9]) {
    const { output, mask } = dropout(x, rate, 5, 1);
    // The kernel takes rate as fp32, so the scale is 1 / (1 - fround(rate)).
    const scale = 1 / (1 - rate);
    let kept = 0;
    let wrong = 0;
    mask.data.forEach((m, i) => {
      if (m !== 0) kept++;
      if ((m !== 0 && Math.abs(m - scale) > 1e-6 * scale) || output.data[i] !== Math.fround(x.data[i] * m)) wrong++;
    });
    const sigma = Math.sqrt(count * rate * (1 - rate));
    t.ok(Math.abs(kept - count * (1 - rate)) < 5 * sigma, `rate ${rate}: kept ${kept} of ${count}`);
    t.equal(wrong, 0, `rate ${rate}: mask and output values`);
  }
  // Consecutive indices are not correlated: pairs of neighbours are both kept about (1-rate)^2 of the time.
  const { mask } = dropout(Tensor.fill([count], 1), 0.5, 11, 0);
  let both = 0;
  for (let i = 0; i + 1 < count; i += 2) if (mask.data[i] !== 0 && mask.data[i + 1] !== 0) both++;
  t.ok(Math.abs(both - count / 8) < 5 * Math.sqrt((count / 2) * 0.25 * 0.75), `neighbour pairs kept together: ${both}`);
});

t.test('backward is gradOutput * mask and matches central differences for a fixed mask', async (t) => {
  const random = mulberry32(3);
  const x = randomTensor([4, 6], random);
  const weights = randomTensor([4, 6], random);
  const { mask } = dropout(x, 0.4, 99, 2);
  const analytic = dropoutBackward(weights, mask).data;
  const h = 1e-2;
  let worst = 0;
  for (let i = 0; i < x.size; i++) {
    const probe = x.clone();
    const objective = () => dropout(probe, 0.4, 99, 2).output.data.reduce((s, y, k) => s + y * weights.data[k], 0);
    probe.data[i] = x.data[i] + h;
    const up = objective();
    probe.data[i] = x.data[i] - h;
    worst = Math.max(worst, Math.abs((up - objective()) / (2 * h) - analytic[i]));
  }
  t.ok(worst < 1e-4, `worst ${worst}`);
  t.ok(analytic.some((g) => g === 0) && analytic.some((g) => g !== 0));
});

t.test('bad dropout arguments fail with clear messages', async (t) => {
  const x = Tensor.zeros([2, 2]);
  t.throws(() => dropout(x, 1, 0), /kiln.dropout: expected a number in \[0, 1\) for 'rate' but received 1/);
  t.throws(() => dropout(x, -0.1, 0), /for 'rate' but received -0.1/);
  t.throws(() => dropout(x, 0.5, -1), /for 'seed' but received -1/);
  t.throws(() => dropout(x, 0.5, 1, 0.5), /for 'step' but received 0.5/);
  t.throws(() => dropoutBackward(x, Tensor.zeros([4])), /kiln.dropoutBackward: expected a Tensor of shape \[2, 2\] for 'mask' but received shape \[4\]/);
  const f = (n: number) => new Float32Array(n);
  t.throws(() => addon.dropoutForward(f(4), f(4), f(4), 1, 0, 0), { name: 'RangeError', message: /kiln.dropoutForward: expected a finite number in \[0, 1\) for 'rate' but received 1/ });
  t.throws(() => addon.dropoutForward(f(4), f(4), f(3), 0.5, 0, 0), /for 'mask' but received length 3/);
  t.throws(() => addon.dropoutForward(f(4), f(4), f(4), 0.5, -2, 0), /for 'seed' but received -2/);
  t.throws(() => addon.dropoutBackward(f(4), new Float64Array(4), f(4)), /expected a Float32Array for 'gradOutput' but received a Float64Array/);
});
