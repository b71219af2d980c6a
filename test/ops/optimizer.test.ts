// SGD and Adam / AdamW updates against plain TypeScript references over a
// few steps (PyTorch semantics), and argument errors.
import t from 'tap';
import { loadAddon } from '../../lib/native';
import { adamUpdate, sgdUpdate } from '../../lib/ops/optimizer';
import type { AdamOptions, SgdOptions } from '../../lib/ops/optimizer';

const addon = loadAddon<{ sgdUpdate(...args: unknown[]): void; adamUpdate(...args: unknown[]): void }>();

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

function randomArray(length: number, random: () => number): Float32Array {
  return Float32Array.from({ length }, () => random() * 2 - 1);
}

function maxRelativeDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return worst;
}

// PyTorch's torch.optim.SGD with dampening 0.
function referenceSgd(param: number[], grad: number[], velocity: number[], o: Required<SgdOptions>): void {
  for (let i = 0; i < param.length; i++) {
    const g = grad[i] + o.weightDecay * param[i];
    if (o.momentum === 0) {
      param[i] -= o.learningRate * g;
      continue;
    }
    velocity[i] = o.momentum * velocity[i] + g;
    param[i] -= o.learningRate * (o.nesterov ? g + o.momentum * velocity[i] : velocity[i]);
  }
}

// torch.optim.Adam (L2 coupled) / AdamW (decoupled).
function referenceAdam(param: number[], grad: number[], m: number[], v: number[], o: Required<AdamOptions>): void {
  const c1 = 1 - o.beta1 ** o.step;
  const c2 = 1 - o.beta2 ** o.step;
  for (let i = 0; i < param.length; i++) {
    let g = grad[i];
    if (o.decoupled) param[i] *= 1 - o.learningRate * o.weightDecay;
    else g += o.weightDecay * param[i];
    m[i] = o.beta1 * m[i] + (1 - o.beta1) * g;
    v[i] = o.beta2 * v[i] + (1 - o.beta2) * g * g;
    param[i] -= (o.learningRate * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + o.epsilon);
  }
}

const length = 37;

t.test('SGD variants match the reference over five steps', async (t) => {
  const variants: Required<SgdOptions>[] = [
    { learningRate: 0.1, momentum: 0, nesterov: false, weightDecay: 0 },
    { learningRate: 0.05, momentum: 0.9, nesterov: false, weightDecay: 0 },
    { learningRate: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0 },
    { learningRate: 0.05, momentum: 0.8, nesterov: true, weightDecay: 1e-2 },
    { learningRate: 0.1, momentum: 0, nesterov: false, weightDecay: 5e-4 },
  ];
  for (const options of variants) {
    const random = mulberry32(1);
    const param = randomArray(length, random);
    const velocity = options.momentum > 0 ? new Float32Array(length) : null;
    const refParam = Array.from(param);
    const refVelocity = new Array<number>(length).fill(0);
    for (let step = 0; step < 5; step++) {
      const grad = randomArray(length, random);
      sgdUpdate(param, grad, velocity, options);
      referenceSgd(refParam, Array.from(grad), refVelocity, options);
    }
    t.ok(maxRelativeDifference(param, refParam) < 1e-5, JSON.stringify(options));
    if (velocity) t.ok(maxRelativeDifference(velocity, refVelocity) < 1e-5, `velocity ${JSON.stringify(options)}`);
  }
});

t.test('Adam and AdamW match the reference over five steps', async (t) => {
  const variants: Omit<Required<AdamOptions>, 'step'>[] = [
    { learningRate: 1e-2, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0, decoupled: false },
    { learningRate: 1e-2, beta1: 0.8, beta2: 0.99, epsilon: 1e-6, weightDecay: 0.1, decoupled: false },
    { learningRate: 1e-2, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.1, decoupled: true },
  ];
  for (const options of variants) {
    const random = mulberry32(2);
    const param = randomArray(length, random);
    const m = new Float32Array(length);
    const v = new Float32Array(length);
    const ref = { param: Array.from(param), m: new Array<number>(length).fill(0), v: new Array<number>(length).fill(0) };
    for (let step = 1; step <= 5; step++) {
      const grad = randomArray(length, random);
      adamUpdate(param, grad, m, v, { ...options, step });
      referenceAdam(ref.param, Array.from(grad), ref.m, ref.v, { ...options, step });
    }
    t.ok(maxRelativeDifference(param, ref.param) < 1e-5, JSON.stringify(options));
    t.ok(maxRelativeDifference(m, ref.m) < 1e-5 && maxRelativeDifference(v, ref.v) < 1e-5, `moments ${JSON.stringify(options)}`);
  }
  // The first bias-corrected Adam step moves each parameter by about lr * sign(grad).
  const param = new Float32Array([1, 1]);
  adamUpdate(param, new Float32Array([3, -0.001]), new Float32Array(2), new Float32Array(2), { learningRate: 0.1, step: 1 });
  t.ok(Math.abs(param[0] - 0.9) < 1e-5 && Math.abs(param[1] - 1.1) < 1e-4, `first step ${Array.from(param)}`);
});

t.test('bad optimizer arguments fail with clear messages', async (t) => {
  const p = new Float32Array(3);
  t.throws(() => sgdUpdate(p, new Float32Array(2), null, { learningRate: 0.1 }), /kiln.sgdUpdate: expected a Float32Array of length 3 for 'grad' but received length 2/);
  t.throws(() => sgdUpdate(p, p.slice(), null, { learningRate: 0.1, momentum: 0.9 }), /expected a Float32Array for 'velocity' but received null/);
  t.throws(() => sgdUpdate(p, p.slice(), null, { learningRate: 0.1, nesterov: true }), /expected a momentum > 0 with nesterov for 'momentum'/);
  t.throws(() => sgdUpdate(p, p.slice(), null, { learningRate: -1 }), /for 'learningRate' but received -1/);
  t.throws(() => sgdUpdate([1, 2, 3] as never, p, null, { learningRate: 0.1 }), /expected a Float32Array for 'param'/);
  t.throws(() => adamUpdate(p, p.slice(), p.slice(), p.slice(), { learningRate: 0.1, step: 0 }), /kiln.adamUpdate: expected an integer in \[1, \d+\] for 'step' but received 0/);
  t.throws(() => adamUpdate(p, p.slice(), p.slice(), p.slice(), { learningRate: 0.1, step: 1, beta2: 1 }), /for 'beta2' but received 1/);
  t.throws(() => adamUpdate(p, p.slice(), p.slice(), new Float32Array(4), { learningRate: 0.1, step: 1 }), /for 'secondMoment' but received length 4/);
  // Native checks.
  t.throws(() => addon.sgdUpdate(p, p.slice(), null, 0.1, 0.9, false, 0), /kiln.sgdUpdate: expected a Float32Array for 'velocity' but received null/);
  t.throws(() => addon.sgdUpdate(p, p.slice(), null, 0.1, 0, true, 0), /expected a momentum > 0 with nesterov for 'momentum' but received 0/);
  t.throws(() => addon.adamUpdate(p, p.slice(), p.slice(), p.slice(), 0.1, 0.9, 0.999, 0, 0, false, 1), {
    name: 'RangeError',
    message: /expected a finite number in \(0, 1e\+300\] for 'epsilon' but received 0/,
  });
  t.throws(() => addon.adamUpdate(p, p.slice(), p.slice(), p.slice(), 0.1, 0.9, 0.999, 1e-8, 0, 'yes', 1), /expected a boolean for 'decoupled' but received a string/);
});
