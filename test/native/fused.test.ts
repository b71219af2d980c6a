// The fused memory-bound kernels (native/kernels/fused.h) against plain
// double-precision TypeScript references on awkward shapes (rows 1 to
// 100353, channels around the vector widths and strips), every activation,
// accumulate on and off, null gradInput; bitwise equality between 1 and 2
// threads; a finite-difference check of the fused batch-norm backward.
import t from 'tap';
import { loadAddon } from '../../lib/native';
import { backend, setNumThreads } from '../../lib/backend';

type Kind = 'linear' | 'relu' | 'sigmoid' | 'tanh';
interface Addon {
  batchNormActivationForwardTraining(kind: Kind, input: Float32Array, gamma: Float32Array, beta: Float32Array,
    output: Float32Array, savedMean: Float32Array, savedInvStd: Float32Array, runningMean: Float32Array | null,
    runningVar: Float32Array | null, rows: number, channels: number, epsilon: number, momentum: number): void;
  batchNormActivationForwardInference(kind: Kind, input: Float32Array, gamma: Float32Array, beta: Float32Array,
    runningMean: Float32Array, runningVar: Float32Array, output: Float32Array, rows: number, channels: number, epsilon: number): void;
  batchNormActivationBackward(kind: Kind, input: Float32Array, output: Float32Array, gradOutput: Float32Array,
    gamma: Float32Array, savedMean: Float32Array, savedInvStd: Float32Array, gradInput: Float32Array | null,
    gradGamma: Float32Array, gradBeta: Float32Array, rows: number, channels: number): void;
  addActivationForward(kind: Kind, a: Float32Array, b: Float32Array, out: Float32Array): void;
  activationBackwardTo(kind: Kind, output: Float32Array, gradOutput: Float32Array, gradA: Float32Array | null,
    accumulateA: boolean, gradB: Float32Array | null, accumulateB: boolean): void;
  batchNormForwardTraining(...args: unknown[]): void;
  activationForward(kind: Kind, input: Float32Array, output: Float32Array): void;
}
const addon = loadAddon<Addon>();
const kinds: Kind[] = ['linear', 'relu', 'sigmoid', 'tanh'];

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

function randomArray(length: number, random: () => number, offset = 0, spread = 1): Float32Array {
  const out = new Float32Array(length);
  for (let i = 0; i < length; ++i) out[i] = offset + spread * (random() * 2 - 1);
  return out;
}

function act(kind: Kind, v: number): number {
  if (kind === 'relu') return v > 0 ? v : 0;
  if (kind === 'sigmoid') return 1 / (1 + Math.exp(-v));
  if (kind === 'tanh') return Math.tanh(v);
  return v;
}

function derivative(kind: Kind, y: number, dy: number): number {
  if (kind === 'relu') return y > 0 ? dy : 0;
  if (kind === 'sigmoid') return dy * y * (1 - y);
  if (kind === 'tanh') return dy * (1 - y * y);
  return dy;
}

// Largest |got - want| over max(1, max |want|).
function relativeError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let worst = 0;
  let scale = 1;
  for (let i = 0; i < want.length; ++i) scale = Math.max(scale, Math.abs(want[i]));
  for (let i = 0; i < want.length; ++i) {
    const d = Math.abs(got[i] - want[i]);
    worst = Math.max(worst, Number.isNaN(d) ? Infinity : d);
  }
  return worst / scale;
}

function statistics(x: Float32Array, rows: number, channels: number) {
  const mean = new Float64Array(channels);
  const variance = new Float64Array(channels);
  for (let i = 0; i < rows * channels; ++i) mean[i % channels] += x[i];
  for (let c = 0; c < channels; ++c) mean[c] /= rows;
  for (let i = 0; i < rows * channels; ++i) variance[i % channels] += (x[i] - mean[i % channels]) ** 2;
  for (let c = 0; c < channels; ++c) variance[c] /= rows;
  return { mean, variance };
}

interface Case {
  rows: number;
  channels: number;
  kinds: Kind[];
}
const cases: Case[] = [
  { rows: 1, channels: 1, kinds },
  { rows: 3, channels: 3, kinds },
  { rows: 17, channels: 16, kinds },
  { rows: 17, channels: 17, kinds },
  { rows: 1000, channels: 64, kinds },
  { rows: 1000, channels: 65, kinds },
  { rows: 3, channels: 130, kinds: ['relu', 'tanh'] },
  { rows: 100353, channels: 1, kinds: ['relu'] },
  { rows: 30001, channels: 3, kinds: ['sigmoid'] },
];

t.test('batch norm + activation forward (training, inference) and backward match the references', async (t) => {
  const random = mulberry32(11);
  const epsilon = 1e-3, momentum = 0.1;
  for (const { rows, channels, kinds: caseKinds } of cases) {
    const count = rows * channels;
    // A large offset next to the spread checks the centered statistics.
    const x = randomArray(count, random, 3, 0.5);
    const gamma = randomArray(channels, random, 1, 0.5);
    const beta = randomArray(channels, random, 0, 0.5);
    const { mean, variance } = statistics(x, rows, channels);
    const invStd = Array.from(variance, (v) => 1 / Math.sqrt(v + epsilon));
    for (const kind of caseKinds) {
      const label = `${rows}x${channels} ${kind}`;
      const output = new Float32Array(count);
      const savedMean = new Float32Array(channels);
      const savedInvStd = new Float32Array(channels);
      const runningMean = randomArray(channels, random);
      const runningVar = randomArray(channels, random, 1, 0.5);
      const before = { mean: Float32Array.from(runningMean), variance: Float32Array.from(runningVar) };
      addon.batchNormActivationForwardTraining(kind, x, gamma, beta, output, savedMean, savedInvStd, runningMean, runningVar,
        rows, channels, epsilon, momentum);
      const expected = Float64Array.from(x, (v, i) => {
        const c = i % channels;
        return act(kind, gamma[c] * (v - mean[c]) * invStd[c] + beta[c]);
      });
      t.ok(relativeError(output, expected) < 2e-5, `${label} training output`);
      t.ok(relativeError(savedMean, mean) < 1e-6, `${label} saved mean`);
      t.ok(relativeError(savedInvStd, invStd) < 1e-5, `${label} saved inverse std`);
      const unbiased = Array.from(variance, (v) => (rows > 1 ? (v * rows) / (rows - 1) : v));
      t.ok(relativeError(runningMean, Array.from(before.mean, (m, c) => (1 - momentum) * m + momentum * mean[c])) < 1e-6, `${label} running mean`);
      t.ok(relativeError(runningVar, Array.from(before.variance, (v, c) => (1 - momentum) * v + momentum * unbiased[c])) < 1e-5, `${label} running var`);

      const inference = new Float32Array(count);
      addon.batchNormActivationForwardInference(kind, x, gamma, beta, runningMean, runningVar, inference, rows, channels, epsilon);
      const expectedInference = Float64Array.from(x, (v, i) => {
        const c = i % channels;
        return act(kind, (gamma[c] * (v - runningMean[c])) / Math.sqrt(runningVar[c] + epsilon) + beta[c]);
      });
      t.ok(relativeError(inference, expectedInference) < 2e-5, `${label} inference`);

      const gradOutput = randomArray(count, random);
      const sumG = new Float64Array(channels);
      const sumGXhat = new Float64Array(channels);
      const g = Float64Array.from(gradOutput, (dy, i) => derivative(kind, output[i], dy));
      for (let i = 0; i < count; ++i) {
        const c = i % channels;
        sumG[c] += g[i];
        sumGXhat[c] += g[i] * (x[i] - savedMean[c]) * savedInvStd[c];
      }
      const expectedGradInput = Float64Array.from(g, (gi, i) => {
        const c = i % channels;
        const xhat = (x[i] - savedMean[c]) * savedInvStd[c];
        return gamma[c] * savedInvStd[c] * (gi - sumG[c] / rows - (xhat * sumGXhat[c]) / rows);
      });
      const gradInput = new Float32Array(count);
      const gradGamma = new Float32Array(channels);
      const gradBeta = new Float32Array(channels);
      addon.batchNormActivationBackward(kind, x, output, gradOutput, gamma, savedMean, savedInvStd, gradInput, gradGamma, gradBeta, rows, channels);
      const sumTolerance = 1e-5 * Math.sqrt(rows);
      t.ok(relativeError(gradInput, expectedGradInput) < 1e-4, `${label} gradInput`);
      t.ok(relativeError(gradGamma, sumGXhat) < sumTolerance, `${label} gradGamma`);
      t.ok(relativeError(gradBeta, sumG) < sumTolerance, `${label} gradBeta`);
      const gradGammaOnly = new Float32Array(channels);
      const gradBetaOnly = new Float32Array(channels);
      addon.batchNormActivationBackward(kind, x, output, gradOutput, gamma, savedMean, savedInvStd, null, gradGammaOnly, gradBetaOnly, rows, channels);
      t.same(gradGammaOnly, gradGamma, `${label} gradGamma without gradInput`);
      t.same(gradBetaOnly, gradBeta, `${label} gradBeta without gradInput`);
    }
  }
});

t.test('fused batch norm equals batch norm then activation', async (t) => {
  const random = mulberry32(5);
  const rows = 300, channels = 17;
  const x = randomArray(rows * channels, random);
  const gamma = randomArray(channels, random, 1, 0.5);
  const beta = randomArray(channels, random);
  for (const kind of kinds) {
    const fused = new Float32Array(x.length);
    const plain = new Float32Array(x.length);
    const stats = () => [new Float32Array(channels), new Float32Array(channels)];
    addon.batchNormActivationForwardTraining(kind, x, gamma, beta, fused, ...(stats() as [Float32Array, Float32Array]), null, null, rows, channels, 1e-5, 0.1);
    addon.batchNormForwardTraining(x, gamma, beta, plain, ...stats(), null, null, rows, channels, 1e-5, 0.1);
    addon.activationForward(kind, plain, plain);
    t.same(fused, plain, kind);
  }
});

t.test('addActivationForward and activationBackwardTo match the references', async (t) => {
  const random = mulberry32(7);
  for (const count of [1, 3, 17, 1000, 100353]) {
    const a = randomArray(count, random, 0, 3);
    const b = randomArray(count, random, 0, 3);
    // The long case covers the multi-task split; one kind is enough there.
    for (const kind of count > 10000 ? (['relu'] as Kind[]) : kinds) {
      const out = new Float32Array(count);
      addon.addActivationForward(kind, a, b, out);
      t.ok(relativeError(out, Float64Array.from(a, (v, i) => act(kind, Math.fround(v + b[i])))) < 1e-6, `add ${count} ${kind}`);
      const inPlace = Float32Array.from(a);
      addon.addActivationForward(kind, inPlace, b, inPlace);
      t.same(inPlace, out, `add ${count} ${kind} in place`);

      const y = Float32Array.from(out);
      const dy = randomArray(count, random);
      const g = Float64Array.from(dy, (d, i) => derivative(kind, y[i], d));
      for (const [accumulateA, accumulateB] of [[false, false], [true, false], [false, true], [true, true]]) {
        const gradA = randomArray(count, random);
        const gradB = randomArray(count, random);
        const wantA = Float64Array.from(g, (v, i) => (accumulateA ? gradA[i] + v : v));
        const wantB = Float64Array.from(g, (v, i) => (accumulateB ? gradB[i] + v : v));
        addon.activationBackwardTo(kind, y, dy, gradA, accumulateA, gradB, accumulateB);
        const tag = `${count} ${kind} accumulate ${accumulateA}/${accumulateB}`;
        t.ok(relativeError(gradA, wantA) < 1e-6, `gradA ${tag}`);
        t.ok(relativeError(gradB, wantB) < 1e-6, `gradB ${tag}`);
      }
      const onlyB = Float32Array.from(dy);
      addon.activationBackwardTo(kind, y, dy, null, false, onlyB, true);
      t.ok(relativeError(onlyB, Float64Array.from(g, (v, i) => dy[i] + v)) < 1e-6, `${count} ${kind} gradB only`);
      // gradA may be gradOutput itself.
      const shared = Float32Array.from(dy);
      const other = new Float32Array(count);
      addon.activationBackwardTo(kind, y, shared, shared, false, other, false);
      t.ok(relativeError(shared, g) < 1e-6 && relativeError(other, g) < 1e-6, `${count} ${kind} gradA aliasing gradOutput`);
    }
  }
});

t.test('results are bitwise the same with 1 and 2 threads', async (t) => {
  const threads = backend().threads;
  const random = mulberry32(9);
  for (const [rows, channels] of [[100353, 16], [6272, 64], [1000, 65]]) {
    const count = rows * channels;
    const x = randomArray(count, random, 1, 0.3);
    const gamma = randomArray(channels, random, 1, 0.5);
    const beta = randomArray(channels, random);
    const dy = randomArray(count, random);
    const other = randomArray(count, random);
    const runs = [1, 2].map((threadCount) => {
      setNumThreads(threadCount);
      const output = new Float32Array(count), mean = new Float32Array(channels), invStd = new Float32Array(channels);
      const runningMean = new Float32Array(channels), runningVar = new Float32Array(channels).fill(1);
      addon.batchNormActivationForwardTraining('relu', x, gamma, beta, output, mean, invStd, runningMean, runningVar, rows, channels, 1e-5, 0.1);
      const gradInput = new Float32Array(count), gradGamma = new Float32Array(channels), gradBeta = new Float32Array(channels);
      addon.batchNormActivationBackward('relu', x, output, dy, gamma, mean, invStd, gradInput, gradGamma, gradBeta, rows, channels);
      const sum = new Float32Array(count);
      addon.addActivationForward('relu', x, other, sum);
      const gradA = Float32Array.from(other), gradB = new Float32Array(count);
      addon.activationBackwardTo('relu', sum, dy, gradA, true, gradB, false);
      return [output, mean, invStd, runningMean, runningVar, gradInput, gradGamma, gradBeta, sum, gradA, gradB];
    });
    setNumThreads(threads);
    const names = ['output', 'mean', 'invStd', 'runningMean', 'runningVar', 'gradInput', 'gradGamma', 'gradBeta', 'sum', 'gradA', 'gradB'];
    names.forEach((name, i) => {
      const a = new Uint32Array(runs[0][i].buffer);
      const b = new Uint32Array(runs[1][i].buffer);
      t.ok(a.length === b.length && a.every((v, k) => v === b[k]), `${name} ${rows}x${channels}`);
    });
  }
});

t.test('batchNormActivationBackward agrees with finite differences', async (t) => {
  const random = mulberry32(3);
  const rows = 7, channels = 3, epsilon = 1e-3;
  for (const kind of ['relu', 'tanh'] as const) {
    const x = randomArray(rows * channels, random);
    const gamma = randomArray(channels, random, 1, 0.5);
    const beta = randomArray(channels, random, 0, 0.5);
    const weights = randomArray(rows * channels, random);
    // Loss = sum weights * act(bn(x)), in double.
    const loss = (xs: ArrayLike<number>, gs: ArrayLike<number>, bs: ArrayLike<number>) => {
      const s = statistics(Float32Array.from(xs), rows, channels);
      let total = 0;
      for (let i = 0; i < rows * channels; ++i) {
        const c = i % channels;
        total += weights[i] * act(kind, (gs[c] * (xs[i] - s.mean[c])) / Math.sqrt(s.variance[c] + epsilon) + bs[c]);
      }
      return total;
    };
    const output = new Float32Array(rows * channels), mean = new Float32Array(channels), invStd = new Float32Array(channels);
    addon.batchNormActivationForwardTraining(kind, x, gamma, beta, output, mean, invStd, null, null, rows, channels, epsilon, 0.1);
    const gradInput = new Float32Array(rows * channels), gradGamma = new Float32Array(channels), gradBeta = new Float32Array(channels);
    addon.batchNormActivationBackward(kind, x, output, weights, gamma, mean, invStd, gradInput, gradGamma, gradBeta, rows, channels);
    // Float32Array inputs perturbed in float would lose h: perturb copies in double.
    const h = 1e-4;
    const numeric = (values: Float32Array, i: number, call: (v: number[]) => number) => {
      const plus = Array.from(values), minus = Array.from(values);
      plus[i] += h;
      minus[i] -= h;
      return (call(plus) - call(minus)) / (2 * h);
    };
    let worst = 0;
    for (let i = 0; i < x.length; ++i) worst = Math.max(worst, Math.abs(numeric(x, i, (v) => loss(v, gamma, beta)) - gradInput[i]));
    for (let c = 0; c < channels; ++c) {
      worst = Math.max(worst, Math.abs(numeric(gamma, c, (v) => loss(x, v, beta)) - gradGamma[c]));
      worst = Math.max(worst, Math.abs(numeric(beta, c, (v) => loss(x, gamma, v)) - gradBeta[c]));
    }
    t.ok(worst < 1e-3, `${kind}: worst ${worst}`);
  }
});

t.test('bad fused-kernel arguments fail with clear messages', async (t) => {
  const f = (n: number) => new Float32Array(n);
  t.throws(() => addon.addActivationForward('gelu' as Kind, f(3), f(3), f(3)),
    /kiln.addActivationForward: expected one of 'relu', 'sigmoid', 'tanh', 'linear' for 'kind' but received 'gelu'/);
  t.throws(() => addon.addActivationForward('relu', f(3), f(2), f(3)), /kiln.addActivationForward: .* for 'b' but received length 2/);
  t.throws(() => addon.activationBackwardTo('relu', f(3), f(3), f(4), false, null, false), /kiln.activationBackwardTo: .* for 'gradA' but received length 4/);
  t.throws(() => addon.batchNormActivationBackward('tanh', f(12), f(12), f(12), f(3), f(3), f(3), f(11), f(3), f(3), 4, 3),
    /kiln.batchNormActivationBackward: .* for 'gradInput' but received length 11/);
  t.throws(() => addon.batchNormActivationForwardTraining('relu', f(12), f(3), f(3), f(12), f(3), f(3), null, null, 4, 3, 0, 0.1),
    /kiln.batchNormActivationForwardTraining: .* for 'epsilon' but received 0/);
  t.throws(() => addon.batchNormActivationForwardInference(3 as unknown as Kind, f(12), f(3), f(3), f(3), f(3), f(12), 4, 3, 1e-5),
    /kiln.batchNormActivationForwardInference: expected one of .* for 'kind'/);
});
